"""A last repair on arrays: chains of single-unit moves for grids the engine left out of band.

Where units are lumpy (a few buildings of 100–250 households), a grid may end just
outside the band although its land could be shared within it: no single move or
exchange with a neighbour helps, and redrawing regions by random spanning trees does
not find the one cut that does. :func:`chain_repair` searches chains of moves instead:
the grid takes a boundary unit from a neighbour (or gives one to it) so that it enters
the band; if the neighbour then leaves the band, the neighbour is repaired the same
way, up to a few steps. Every grid stays connected; nothing else changes.
"""

from __future__ import annotations

import logging
from collections import deque

import numpy as np
from scipy import sparse

__all__ = ["chain_repair"]

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
                other = self.off(self.load[h] - delta)
                out.add((after + other, after, unit, src, dst))
        return [(u, s, d) for *_, u, s, d in sorted(out)[: self.breadth]]

    def fix(self, p: int, depth: int, busy: set[int]) -> bool:
        """Bring ``p`` into the band, and every part a move pushes out of it; on
        failure every move is undone."""
        if self.off(self.load[p]) <= 1e-9:
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
    depth: int = 4,
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
    depth : int, default 4
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
        if chains.off(chains.load[p]) > 1e-9 and chains.fix(p, depth, set()):
            fixed += 1
    if fixed:
        log.info("%d grids brought into the band by chains of single-unit moves", fixed)
    return chains.labels
