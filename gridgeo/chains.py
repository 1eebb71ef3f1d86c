"""A last repair on arrays for grids the engine left out of band: chains of single-unit
moves, then their neighbourhoods redrawn.

Where units are lumpy (a few buildings of 100–250 households), a grid may end just
outside the band although its land could be shared within it: no single move or
exchange with a neighbour helps, and redrawing regions by random spanning trees does
not find the one cut that does. :func:`chain_repair` searches chains of moves instead:
the grid takes a boundary unit from a neighbour (or gives one to it) so that it enters
the band; if the neighbour then leaves the band, the neighbour is repaired the same
way, up to a few steps. A grid holding one unit over the band may take in what no
other grid can (it stays out of the band for that unit, with too little beside it for
a grid of its own). Every grid stays connected; nothing else changes. Where no
chain helps, :func:`redraw_around` draws the grid and a few rings of its neighbours
again with the whole engine.
"""

from __future__ import annotations

import logging
from collections import deque

import numpy as np
from scipy import sparse

from .engine import Band, partition_graph

__all__ = ["chain_repair", "redraw_around"]

log = logging.getLogger(__name__)


class _Chains:
    def __init__(self, labels, weights, adj, lower, upper, frozen, breadth):
        self.labels = labels
        self.w = weights
        self.adj = adj
        self.lower, self.upper = lower, upper
        self.load = np.bincount(labels, weights=weights)
        self.members = {}
        order = np.argsort(labels, kind="stable")
        bounds = np.searchsorted(labels[order], np.arange(len(self.load) + 1))
        for p in range(len(self.load)):
            self.members[p] = set(order[bounds[p] : bounds[p + 1]].tolist())
        self.frozen = frozen
        self.breadth = breadth
        self.journal: list[tuple[list[int], int, int]] = []

    def off(self, x: float) -> float:
        return max(0.0, self.lower - x, x - self.upper)

    def fine(self, p: int) -> bool:
        """In the band, or one unit over it with too little beside it for a grid of its
        own (a single building: out of the band for a reason)."""
        if self.off(self.load[p]) <= 1e-9:
            return True
        top = max((self.w[v] for v in self.members[p]), default=0.0)
        return top > self.upper and self.load[p] - top < self.lower

    def cost(self, p: int, load: float) -> float:
        """How far part ``p`` would be from the band holding ``load`` (0 if fine)."""
        top = max((self.w[v] for v in self.members[p]), default=0.0)
        if top > self.upper and load - top < self.lower:
            return 0.0
        return self.off(load)

    def nbrs(self, v: int) -> np.ndarray:
        return self.adj.indices[self.adj.indptr[v] : self.adj.indptr[v + 1]]

    def carried(self, part: int, v: int) -> list[int] | None:
        """What leaves ``part`` with ``v``: ``v`` and the pieces of the part it alone
        held on to (all but the heaviest piece left); None if nothing would be left."""
        rest = self.members[part] - {v}
        if not rest:
            return None
        pieces = []
        while rest:
            start = rest.pop()
            seen, queue = [start], deque([start])
            while queue:
                x = queue.popleft()
                for y in self.nbrs(x):
                    y = int(y)
                    if y in rest:
                        rest.discard(y)
                        seen.append(y)
                        queue.append(y)
            pieces.append(seen)
        pieces.sort(key=lambda c: (-self.w[c].sum(), -len(c)))
        return [v] + [x for c in pieces[1:] for x in c]

    def move(self, units: list[int], src: int, dst: int, *, log: bool = True) -> None:
        if log:
            self.journal.append((units, src, dst))
        for v in units:
            self.members[src].discard(v)
            self.members[dst].add(v)
            self.labels[v] = dst
            self.load[src] -= self.w[v]
            self.load[dst] += self.w[v]

    def candidates(self, p: int, busy: set[int]) -> list[tuple[int, int, int]]:
        """Moves (unit, from, to) that bring part ``p`` nearer the band, best first: those
        that leave both parts in band, then by how far the other part ends from it."""
        out = set()
        light = self.load[p] < self.lower
        now = self.off(self.load[p])
        for u in self.members[p]:
            for v in self.nbrs(u):
                v = int(v)
                h = int(self.labels[v])
                if h == p or h in busy or h in self.frozen:
                    continue
                unit, src, dst = (v, h, p) if light else (u, p, h)
                if self.w[unit] <= 0:
                    continue
                delta = self.w[unit] if light else -self.w[unit]
                after = self.off(self.load[p] + delta)
                if after >= now - 1e-9:
                    continue
                other = self.cost(h, self.load[h] - delta)
                out.add((after + other, after, unit, src, dst))
        return [(u, s, d) for *_, u, s, d in sorted(out)[: self.breadth]]

    def fix(self, p: int, depth: int, busy: set[int]) -> bool:
        """Bring ``p`` into the band, and every part a move pushes out of it; on
        failure every move is undone."""
        if self.fine(p):
            return True
        if depth == 0:
            return False
        mark = len(self.journal)
        for unit, src, dst in self.candidates(p, busy):
            units = self.carried(src, unit)
            if units is None:
                continue
            other = dst if src == p else src
            self.move(units, src, dst)
            if self.fix(p, depth - 1, busy | {other}) and self.fix(other, depth - 1, busy | {p}):
                return True
            self.undo(mark)
        return False

    def undo(self, mark: int) -> None:
        while len(self.journal) > mark:
            units, src, dst = self.journal.pop()
            self.move(units, dst, src, log=False)


def chain_repair(
    labels: np.ndarray,
    weights: np.ndarray,
    adjacency: sparse.spmatrix,
    *,
    lower: float,
    upper: float,
    frozen: np.ndarray | None = None,
    depth: int = 6,
    breadth: int = 6,
) -> np.ndarray:
    """Bring parts outside ``[lower, upper]`` into it by chains of single-unit moves.

    Parameters
    ----------
    labels : ndarray of int
        Part of each node; parts are connected in ``adjacency``.
    weights : ndarray
        Weight of each node.
    adjacency : sparse matrix
        The edges parts may use (within groups; none across barriers).
    lower, upper : float
        The band.
    frozen : ndarray of bool, optional
        Nodes whose parts must not change (dedicated zones, villages kept whole).
    depth : int, default 6
        Longest chain of moves.
    breadth : int, default 6
        Moves tried at each step of a chain.

    Returns
    -------
    ndarray
        New labels (the same ids); a part is only changed where a whole chain ends
        with every part it touched inside the band.

    Examples
    --------
    A path of units 100, 100, 100, 50 | 60, 100, 100 in two parts, band 300–360: the
    second part takes the 50.

    >>> from scipy import sparse
    >>> adj = sparse.diags([1.0, 1.0], [-1, 1], shape=(7, 7)).tocsr()
    >>> chain_repair(np.array([0, 0, 0, 0, 1, 1, 1]), np.array([100, 100, 100, 50, 60, 100, 100.0]),
    ...              adj, lower=300, upper=360).tolist()
    [0, 0, 0, 1, 1, 1, 1]
    """
    labels = np.asarray(labels).copy()
    w = np.asarray(weights, dtype=float)
    if not len(labels):
        return labels
    adj = sparse.csr_matrix(adjacency)
    load = np.bincount(labels, weights=w)
    stuck = set()
    if frozen is not None:
        stuck = set(np.unique(labels[np.asarray(frozen, dtype=bool)]).tolist())
    off = np.maximum(0.0, np.maximum(lower - load, load - upper))
    todo = [int(p) for p in np.argsort(-off) if off[p] > 1e-9 and int(p) not in stuck]
    if not todo:
        return labels
    chains = _Chains(labels, w, adj, lower, upper, stuck, breadth)
    fixed = 0
    for p in todo:
        if not chains.fine(p) and chains.fix(p, depth, set()):
            fixed += 1
    if fixed:
        log.info("%d grids brought into the band by chains of single-unit moves", fixed)
    return chains.labels


def redraw_around(
    labels: np.ndarray,
    weights: np.ndarray,
    adjacency: sparse.spmatrix,
    *,
    band: Band,
    frozen: np.ndarray | None = None,
    blocks: np.ndarray | None = None,
    random_state: int | None = 0,
    rings: tuple[int, ...] = (2, 3, 4),
) -> np.ndarray:
    """Redraw, with the whole engine, the neighbourhood of each part still out of band.

    For a part outside the band (not one node over it), the parts within ``rings``
    rings of it (fewest first) are drawn again together by
    :func:`gridgeo.engine.partition_graph` — bisection, repair and redrawing — into as
    many parts as their weight divides into; the drawing is kept when fewer of its parts
    lie outside the band, and no farther from it. Parts holding ``frozen`` nodes are
    never redrawn.
    """
    labels = np.asarray(labels).copy()
    w = np.asarray(weights, dtype=float)
    adj = sparse.csr_matrix(adjacency)
    rng = np.random.default_rng(random_state)
    stuck = set() if frozen is None else set(np.unique(labels[np.asarray(frozen, bool)]).tolist())

    def off(load: np.ndarray) -> np.ndarray:
        return np.maximum(0.0, np.maximum(band.lower - load, load - band.upper))

    def heavy_parts(lab: np.ndarray) -> set[int]:
        top = np.zeros(int(lab.max()) + 1)
        np.maximum.at(top, lab, w)
        return set(np.flatnonzero(top > band.upper + 1e-9).tolist())

    load = np.bincount(labels, weights=w)
    todo = [
        int(p)
        for p in np.argsort(-off(load))
        if off(load)[p] > 1e-9 and int(p) not in stuck and int(p) not in heavy_parts(labels)
    ]
    redrawn = 0
    for p in todo:
        load = np.bincount(labels, weights=w)
        if off(load)[p] <= 1e-9:
            continue
        skip = stuck | heavy_parts(labels)
        region = {p}
        for ring in range(1, max(rings) + 1):
            nodes = np.flatnonzero(np.isin(labels, list(region)))
            nb = set(np.unique(labels[adj[nodes].indices]).tolist()) - region - skip
            region |= nb
            if ring not in rings or not nb:
                continue
            nodes = np.flatnonzero(np.isin(labels, list(region)))
            total = w[nodes].sum()
            k = band.parts_for(total)
            if not band.lower * k - 1e-9 <= total <= band.upper * k + 1e-9:
                continue
            local = partition_graph(
                w[nodes],
                adj[nodes][:, nodes],
                band=band,
                random_state=rng,
                blocks=None if blocks is None else blocks[nodes],
            )
            before = off(load[list(region)])
            after = off(np.bincount(local, weights=w[nodes]))
            if (after > 1e-9).sum() < (before > 1e-9).sum() and after.sum() <= before.sum() + 1e-9:
                labels[nodes] = int(labels.max()) + 1 + local
                redrawn += 1
                break
    if redrawn:
        log.info("%d neighbourhoods of grids out of band redrawn", redrawn)
    _, labels = np.unique(labels, return_inverse=True)
    return labels
