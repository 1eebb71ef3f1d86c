"""Local repair of parts that fall outside the band after the bisection.

:func:`recombine` redraws an out-of-band part together with all its neighbours: the
region they form is split again by spanning-tree bisection (GerryChain's ReCom move,
widened from a pair to a neighbourhood), and the new parts replace the old ones when
they are closer to the band in total. The deficit or surplus of one part is thereby
spread over several. :func:`rebalance` then moves single units across part boundaries —
from a heavy part to a neighbour, or from a neighbour into a light part — whenever the
total distance of the two parts from the band decreases and both stay connected.
:func:`recom` then makes the plan more compact at equal balance: random regions of two
or three neighbouring parts are redrawn together and kept where their summed
Polsby–Popper rises; :func:`smooth` last slides boundaries toward streets.
Deterministic for a given generator: parts and units are visited in a fixed order.
"""

from __future__ import annotations

import logging
from collections import deque

import numpy as np
from scipy import sparse

from . import tree
from ._kernels import pick_regions, smooth_passes
from .tree import Band, split_component

__all__ = ["off_band", "polsby_popper", "rebalance", "recom", "recombine", "smooth"]

log = logging.getLogger(__name__)


def off_band(weights: np.ndarray, band: Band) -> np.ndarray:
    """Distance of each weight from the band (0 inside it)."""
    w = np.asarray(weights, dtype=float)
    return np.maximum(0.0, np.maximum(band.lower - w, w - band.upper))


def heaviest(labels: np.ndarray, weights: np.ndarray, n_parts: int) -> np.ndarray:
    """Weight of the heaviest node of each part (0 for an empty part)."""
    top = np.zeros(n_parts)
    np.maximum.at(top, labels, weights)
    return top


def _divisible(total: float, band: Band) -> bool:
    """Whether some whole number of parts of ``total`` each lie inside the band."""
    k = band.parts_for(total)
    return band.lower - 1e-9 <= total / k <= band.upper + 1e-9


def recombine(
    labels: np.ndarray,
    weights: np.ndarray,
    adjacency: sparse.csr_matrix,
    *,
    band: Band,
    rng: np.random.Generator,
    attempts: int = 5,
    rounds: int = 3,
    max_rings: int = 3,
    blocks: np.ndarray | None = None,
    beyond: float = 0.0,
) -> np.ndarray:
    """Redraw each out-of-band part together with its neighbouring parts.

    Parameters
    ----------
    labels : ndarray of int
        Connected parts; ``adjacency`` must exclude edges parts may not cross.
    weights : ndarray
    adjacency : sparse matrix
    band : Band
    rng : numpy Generator
    attempts : int, default 5
        Spanning trees drawn per split of a region.
    rounds : int, default 3
        Passes over the parts still out of band.
    max_rings : int, default 3
        The region grows by rings of neighbouring parts (at most this many) until its
        weight can be divided into parts inside the band and redrawing it helps.
    blocks : ndarray, optional
        Block of each node: cuts along streets are preferred when redrawing.
    beyond : float, default 0
        Only parts further than this from the band are redrawn.

    Returns
    -------
    ndarray
        New labels; a region may end with more or fewer parts (ids of vanished parts
        are left unused, new parts take new ids).
    """
    labels = np.asarray(labels).copy()
    w = np.asarray(weights, dtype=float)
    adj = sparse.csr_matrix(adjacency)
    next_id = int(labels.max()) + 1 if len(labels) else 0
    for _ in range(rounds):
        W = np.bincount(labels, weights=w, minlength=next_id)
        off = off_band(W, band)
        order = np.argsort(labels, kind="stable")
        starts = np.searchsorted(labels[order], np.arange(next_id + 1))
        members = {g: order[starts[g] : starts[g + 1]] for g in range(next_id)}
        touched: set[int] = set()
        # parts holding a node heavier than the band are left as they are
        heavy = set(np.flatnonzero(heaviest(labels, w, next_id) > band.upper).tolist())
        improved = 0
        for g in np.argsort(-off, kind="stable"):
            g = int(g)
            if off[g] <= beyond + 1e-9:
                break
            if g in touched or len(members[g]) == 0:
                continue
            if g in heavy:  # one node alone is over the band: nothing to redraw
                continue
            # grow the region ring by ring; redraw it whenever its weight divides into
            # parts in band, and keep growing while the redrawing does not help
            region = [g]
            for _ring in range(max_rings):
                nodes = np.concatenate([members[h] for h in region])
                nb = np.unique(labels[adj[nodes].indices])
                grown = region + [
                    int(h)
                    for h in nb
                    if int(h) not in region and int(h) not in touched and int(h) not in heavy
                ]
                if len(grown) == len(region):
                    break
                region = grown
                if not _divisible(float(W[region].sum()), band):
                    continue
                nodes = np.concatenate([members[h] for h in region])
                before = float(off[region].sum())
                k = band.parts_for(w[nodes].sum())
                sub = adj[nodes][:, nodes].tocsr()
                local = split_component(
                    sub,
                    w[nodes],
                    k,
                    band=band,
                    rng=rng,
                    attempts=attempts,
                    blocks=None if blocks is None else blocks[nodes],
                )
                new_w = np.bincount(local, weights=w[nodes])
                if float(off_band(new_w, band).sum()) >= before - 1e-9:
                    continue
                ids = region[: local.max() + 1]
                ids += list(range(next_id, next_id + local.max() + 1 - len(ids)))
                next_id = max(next_id, ids[-1] + 1)
                labels[nodes] = np.asarray(ids)[local]
                touched.update(region)
                touched.update(ids)
                improved += 1
                break
        log.debug("recombine: %d regions redrawn", improved)
        if improved == 0:
            break
    return labels


class _Rows:
    """Row ``i`` of a CSR matrix's ``indices`` or ``data``, sliced when asked for."""

    def __init__(self, indptr: np.ndarray, values: np.ndarray) -> None:
        self.indptr, self.values = indptr, values

    def __getitem__(self, i: int) -> np.ndarray:
        return self.values[self.indptr[i] : self.indptr[i + 1]]


class _Members(dict):
    """The set of nodes of each part, made from ``labels`` when a part is first asked
    for (and kept up to date by the caller from then on)."""

    def __init__(self, labels: np.ndarray) -> None:
        super().__init__()
        self._order = np.argsort(labels, kind="stable")
        self._starts = np.searchsorted(labels[self._order], np.arange(labels.max(initial=-1) + 2))

    def __missing__(self, g: int) -> set[int]:
        part = set(self._order[self._starts[g] : self._starts[g + 1]].tolist())
        self[g] = part
        return part


def _connected(members: set[int], nbrs: _Rows) -> bool:
    """Whether ``members`` is connected (and not empty)."""
    if not members:
        return False
    start = next(iter(members))
    seen = {start}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for u in nbrs[v]:
            if u in members and u not in seen:
                seen.add(u)
                queue.append(u)
    return len(seen) == len(members)


def rebalance(
    labels: np.ndarray,
    weights: np.ndarray,
    adjacency: sparse.csr_matrix,
    *,
    band: Band,
    max_passes: int = 30,
) -> np.ndarray:
    """Move boundary units so that more parts fall inside ``band``.

    Parameters
    ----------
    labels : ndarray of int
        Part of each node (parts must be connected; adjacency must already exclude
        edges that parts may not cross, e.g. between communities).
    weights : ndarray
        Node weights.
    adjacency : sparse matrix
        Symmetric adjacency; edge values are the shared boundary lengths (larger values
        are preferred when choosing which unit to move, which keeps parts compact).
    band : Band
    max_passes : int, default 30

    Returns
    -------
    ndarray
        New labels (same numbering; no part becomes empty).
    """
    labels = np.asarray(labels).copy()
    w = np.asarray(weights, dtype=float)
    adj = sparse.csr_matrix(adjacency)
    n_parts = int(labels.max()) + 1 if len(labels) else 0
    W = np.bincount(labels, weights=w, minlength=n_parts)
    lo, hi = band.lower, band.upper

    def off(x: float) -> float:
        return max(0.0, lo - x, x - hi)

    nbrs, shared = _Rows(adj.indptr, adj.indices), _Rows(adj.indptr, adj.data)
    members = _Members(labels)
    present = np.bincount(labels, minlength=n_parts) > 0  # no move empties a part

    def pull(u: int, to: int) -> float:
        """Boundary length of ``u`` shared with part ``to`` minus with its own part."""
        own = labels[u]
        s = 0.0
        for v, length in zip(nbrs[u], shared[u], strict=True):
            if labels[v] == to:
                s += length
            elif labels[v] == own:
                s -= length
        return s

    moved = 0
    for _ in range(max_passes):
        bad = np.flatnonzero(present & (off_band(W, band) > 1e-9)).tolist()
        if not bad:
            break
        progress = False
        for g in sorted(bad, key=lambda x: -off(W[x])):
            if off(W[g]) <= 1e-9:
                continue
            cands = []
            if W[g] > hi:  # give a unit of g to a neighbour
                for u in sorted(members[g]):
                    for h in {int(labels[v]) for v in nbrs[u]} - {g}:
                        gain = off(W[g]) + off(W[h]) - off(W[g] - w[u]) - off(W[h] + w[u])
                        if gain > 1e-9:
                            cands.append((gain, pull(u, h), -u, -h, u, g, h))
            else:  # take a unit from a neighbour
                border = {int(v) for u in members[g] for v in nbrs[u] if labels[v] != g}
                for u in sorted(border):
                    h = int(labels[u])
                    gain = off(W[g]) + off(W[h]) - off(W[g] + w[u]) - off(W[h] - w[u])
                    if gain > 1e-9:
                        cands.append((gain, pull(u, g), -u, -h, u, h, g))
            # best first; the first that keeps its donor connected is made
            for *_, u, src, dst in sorted(cands, reverse=True):
                if _connected(members[src] - {u}, nbrs):
                    members[src].discard(u)
                    members[dst].add(u)
                    labels[u] = dst
                    W[src] -= w[u]
                    W[dst] += w[u]
                    moved += 1
                    progress = True
                    break
        if not progress:  # no single move helps: exchange two units across a boundary
            progress = _swap(bad, labels, w, W, members, nbrs, off)
            moved += progress
        if not progress:
            break
    log.debug("rebalance: %d moves", moved)
    return labels


def _swap(bad, labels, w, W, members, nbrs, off) -> bool:
    """Make the best exchange of a unit of an out-of-band part with one of a neighbour.

    Where households come in large lumps (towers), no single move may bring a part into
    the band while an exchange — a tower for a smaller one — does. Candidates are pairs
    of units on both sides of the boundary of an out-of-band part and a neighbour; the
    exchange that most reduces the two parts' distance from the band and keeps both
    connected is made. Returns whether one was.
    """
    cands = []
    for g in bad:
        if off(W[g]) <= 1e-9:
            continue
        facing: dict[int, tuple[set[int], set[int]]] = {}
        for u in members[g]:
            for v in nbrs[u]:
                h = int(labels[v])
                if h != g:
                    mine, theirs = facing.setdefault(h, (set(), set()))
                    mine.add(u)
                    theirs.add(int(v))
        for h, (mine, theirs) in facing.items():
            for u in mine:
                for v in theirs:
                    d = w[u] - w[v]
                    gain = off(W[g]) + off(W[h]) - off(W[g] - d) - off(W[h] + d)
                    if gain > 1e-9:
                        cands.append((gain, -u, -v, g, h))
    for _gain, mu, mv, g, h in sorted(cands, reverse=True):
        u, v = -mu, -mv
        new_g = (members[g] - {u}) | {v}
        new_h = (members[h] - {v}) | {u}
        if _connected(new_g, nbrs) and _connected(new_h, nbrs):
            members[g], members[h] = new_g, new_h
            labels[u], labels[v] = h, g
            d = w[u] - w[v]
            W[g] -= d
            W[h] += d
            return True
    return False


def smooth(
    labels: np.ndarray,
    weights: np.ndarray,
    adjacency: sparse.csr_matrix,
    unit_block: np.ndarray | None = None,
    *,
    band: Band,
    max_passes: int = 10,
) -> np.ndarray:
    """Shorten the boundaries between parts, most of all those that run through blocks.

    The cost of a boundary is its length (the adjacency value), times ``INSIDE_BLOCK``
    (1.75) where it runs inside a block rather than along a street. A unit moves to a neighbouring part when
    that lowers the total cost — when more of its boundary faces that part than its own —
    as long as neither part leaves the band (or gets further from it) and its old part
    stays connected. Every move strictly shortens the boundaries, so grids get more
    compact and their boundaries slide toward streets (街巷定界). The passes run in
    compiled code (:func:`~gridgeo.engine._kernels.smooth_passes`).

    Parameters
    ----------
    labels, weights, adjacency, band
        As for :func:`rebalance`.
    unit_block : ndarray, optional
        Block of each unit: units of different blocks meet along streets. Without it,
        every boundary costs its length.
    max_passes : int, default 10

    Returns
    -------
    ndarray
        New labels (same numbering; no part becomes empty).
    """
    labels = np.asarray(labels).astype(np.int64)
    n = len(labels)
    if n == 0:
        return labels
    w = np.asarray(weights, dtype=float)
    coo = sparse.csr_matrix(adjacency).tocoo()
    blk = np.arange(n) if unit_block is None else np.asarray(unit_block)
    cost = np.where(blk[coo.row] == blk[coo.col], tree.INSIDE_BLOCK, 1.0) * coo.data
    C = sparse.csr_matrix((cost, (coo.row, coo.col)), shape=(n, n))
    C.sort_indices()
    n_parts = int(labels.max()) + 1
    W = np.bincount(labels, weights=w, minlength=n_parts)
    moved = smooth_passes(
        labels,
        w,
        W,
        np.bincount(labels, minlength=n_parts),
        C.indptr.astype(np.int64),
        C.indices.astype(np.int64),
        C.data,
        float(band.lower),
        float(band.upper),
        int(max_passes),
    )
    log.debug("smooth: %d moves", moved)
    return labels


def _regions(labels, edges, W, top, band, rng, size):
    """A random set of disjoint regions of up to ``size`` neighbouring parts.

    Each region's weight divides into as many parts in band as it has. Returns the
    part ids of each region (m × size, padded with -1), its number of parts, and the
    region of each part (-1: none); None when there is no region.
    """
    n_parts = len(W)
    lu, lv = labels[edges.row], labels[edges.col]
    key = np.unique(np.minimum(lu, lv) * n_parts + np.maximum(lu, lv))
    g, h = key // n_parts, key % n_parts
    keep = (g != h) & (np.maximum(top[g], top[h]) <= band.upper)
    g, h = g[keep], h[keep]
    graph = sparse.csr_matrix(
        (np.ones(2 * len(g)), (np.r_[g, h], np.r_[h, g])), shape=(n_parts, n_parts)
    )
    graph.sort_indices()
    ids, owner = pick_regions(
        graph.indptr.astype(np.int64),
        graph.indices.astype(np.int64),
        rng.permutation(n_parts),
        np.asarray(W, dtype=float),
        float(band.lower),
        float(band.upper),
        int(size),
    )
    if not len(ids):
        return None
    k = (ids >= 0).sum(axis=1)
    return ids, k, owner


def polsby_popper(labels, area, perimeter, edges, n_parts: int) -> np.ndarray:
    """Polsby–Popper 4πA/P² of each part, from its nodes' areas and perimeters.

    A part's perimeter is its nodes' perimeters less twice the length they share with
    each other (``edges``: the upper triangle of the adjacency, values the shared
    lengths, as a COO matrix). 0 for an empty part.

    Examples
    --------
    Four unit squares in a row, as one part and as two dominoes:

    >>> edges = sparse.coo_matrix(([1.0, 1.0, 1.0], ([0, 1, 2], [1, 2, 3])), shape=(4, 4))
    >>> ones, fours = np.ones(4), np.full(4, 4.0)
    >>> polsby_popper(np.zeros(4, dtype=int), ones, fours, edges, 1).round(3).tolist()
    [0.503]
    >>> polsby_popper(np.array([0, 0, 1, 1]), ones, fours, edges, 2).round(3).tolist()
    [0.698, 0.698]
    """
    A = np.bincount(labels, weights=area, minlength=n_parts)
    inner = labels[edges.row] == labels[edges.col]
    P = np.bincount(labels, weights=perimeter, minlength=n_parts) - 2 * np.bincount(
        labels[edges.row[inner]], weights=edges.data[inner], minlength=n_parts
    )
    out = np.zeros(n_parts)
    np.divide(4 * np.pi * A, P**2, out=out, where=P > 0)
    return out


def recom(
    labels: np.ndarray,
    weights: np.ndarray,
    adjacency: sparse.csr_matrix,
    area: np.ndarray,
    perimeter: np.ndarray,
    *,
    band: Band,
    rng: np.random.Generator,
    blocks: np.ndarray | None = None,
    rounds: int = 16,
    trees: int = 2,
    sizes: tuple[int, ...] = (2, 3),
) -> np.ndarray:
    """Redraw small groups of neighbouring parts where that makes them more compact.

    GerryChain's ReCom move used as an optimiser: each round groups the parts into
    random disjoint regions of a part and its neighbours (pairs and triples in turn:
    ``sizes``), merges each region and splits it again into as many parts — all regions
    at once, level by level, each cut the shortest balanced cut of ``trees`` random
    spanning trees — and keeps a region's new drawing when its parts are no further
    from the band in total than before and their summed Polsby–Popper
    (:func:`polsby_popper`) is higher. Parts holding a node heavier than the band are
    left as they are.

    Parameters
    ----------
    labels, weights, adjacency, band
        As for :func:`rebalance`; adjacency values are the shared lengths.
    area, perimeter : ndarray
        Area and perimeter (all rings) of each node.
    rng : numpy Generator
    blocks : ndarray, optional
        Block of each node: cuts along streets are preferred.
    rounds : int, default 16
    trees : int, default 2
        Spanning trees drawn per cut.
    sizes : tuple of int, default (2, 3)
        Parts per region, round after round.

    Returns
    -------
    ndarray
        New labels (same numbering; every part keeps its id).
    """
    labels = np.asarray(labels).copy()
    n = len(labels)
    if n == 0:
        return labels
    w = np.asarray(weights, dtype=float)
    a, p = np.asarray(area, dtype=float), np.asarray(perimeter, dtype=float)
    adj = sparse.csr_matrix(adjacency)
    edges = sparse.triu(adj, k=1).tocoo()
    graph = tree.Edges.of(adj, blocks)
    n_parts = int(labels.max()) + 1
    redrawn = 0
    for r in range(rounds):
        W = np.bincount(labels, weights=w, minlength=n_parts)
        top = heaviest(labels, w, n_parts)
        pp = polsby_popper(labels, a, p, edges, n_parts)
        region = _regions(labels, edges, W, top, band, rng, sizes[r % len(sizes)])
        if region is None:
            break
        ids, k, owner = region  # owner: region of each part (-1: none)
        m = len(k)
        node_region = owner[labels]
        nodes = np.flatnonzero(node_region >= 0)
        nodes = nodes[np.argsort(node_region[nodes], kind="stable")]
        bounds = np.searchsorted(node_region[nodes], np.arange(m + 1))
        split = [(nodes[bounds[i] : bounds[i + 1]], int(k[i])) for i in range(m)]
        new = tree.split_parts(graph, w, split, band=band, rng=rng, attempts=2 * trees, trees=trees)
        # each region's new parts take its old ids, in the order of their new labels;
        # a region the splitter could not cut into as many parts is left as it was
        mine, fresh = node_region[nodes], new[nodes]
        span = int(new.max()) + 1
        keys, at = np.unique(mine * span + fresh, return_inverse=True)
        key_region = keys // span
        drawn = np.bincount(key_region, minlength=m) == k
        slot = at - np.searchsorted(key_region, mine)
        trial = labels.copy()
        ok = drawn[mine]
        trial[nodes[ok]] = ids[mine[ok], slot[ok]]
        # keep the regions whose drawing is more compact and no further from the band
        pp_new = polsby_popper(trial, a, p, edges, n_parts)
        W_new = np.bincount(trial, weights=w, minlength=n_parts)
        part_region = owner[owner >= 0]
        parts_in = np.flatnonzero(owner >= 0)
        gain = np.bincount(part_region, weights=pp_new[parts_in] - pp[parts_in], minlength=m)
        worse = (
            np.bincount(
                part_region,
                weights=off_band(W_new[parts_in], band) - off_band(W[parts_in], band),
                minlength=m,
            )
            > 1e-9
        )
        keep = drawn & ~worse & (gain > 1e-12)
        take = nodes[keep[mine]]
        labels[take] = trial[take]
        redrawn += int(keep.sum())
    log.debug("recom: %d regions redrawn", redrawn)
    return labels
