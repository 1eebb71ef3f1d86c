"""Recursive spanning-tree bisection.

Each connected component is split in two by cutting one edge of a random spanning tree
(a minimum spanning tree under random edge weights), choosing an edge whose two sides
can each be divided into whole parts inside the target band; each side is split again
until every part is one grid. Every side of a tree cut is connected in the tree, so
every part is connected in the graph. This is the method of GerryChain's
``recursive_tree_part``, run as a bisection (log k levels instead of k peels) on scipy's
sparse graph routines.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from .._errors import InputError

__all__ = ["Band", "check_graph", "split_component", "split_parts", "within_groups"]

log = logging.getLogger(__name__)

#: What a length of grid boundary inside a block (off the streets) costs relative to the
#: same length along a street, in the choice of cuts and in smoothing.
INSIDE_BLOCK = 1.5


@dataclass(frozen=True)
class Band:
    """The accepted weight of one part: ``lower`` ≤ weight ≤ ``upper`` around ``target``.

    Examples
    --------
    >>> Band.around(300, 0.1)
    Band(target=300.0, lower=270.0, upper=330.0)
    """

    target: float
    lower: float
    upper: float

    @classmethod
    def around(cls, target: float, tolerance: float) -> Band:
        """``target`` ± ``tolerance`` (a fraction: 0.1 for ±10 %)."""
        return cls(float(target), target * (1 - tolerance), target * (1 + tolerance))

    def parts_for(self, weight: float) -> int:
        """Number of parts for a component of this weight: in band if possible."""
        lo = max(1, math.ceil(weight / self.upper - 1e-9))
        hi = math.floor(weight / self.lower + 1e-9) if self.lower > 0 else lo
        best = max(1, round(weight / self.target))
        if lo <= hi:
            return min(max(best, lo), hi)
        return best


def check_graph(weights: np.ndarray, adjacency: sparse.spmatrix) -> sparse.csr_matrix:
    n = len(weights)
    if adjacency.shape != (n, n):
        msg = f"adjacency is {adjacency.shape} but there are {n} weights"
        raise InputError(msg)
    if n and (not np.all(np.isfinite(weights)) or weights.min() < 0):
        msg = "weights must be finite and non-negative"
        raise InputError(msg)
    adj = sparse.csr_matrix(adjacency, dtype=float)
    adj = adj.maximum(adj.T).tocsr()
    adj.setdiag(0)
    adj.eliminate_zeros()
    return adj


def within_groups(adjacency: sparse.spmatrix, groups: np.ndarray) -> sparse.csr_matrix:
    """The adjacency without edges between nodes of different groups (communities)."""
    coo = sparse.coo_matrix(adjacency)
    same = groups[coo.row] == groups[coo.col]
    return sparse.csr_matrix(
        (coo.data[same], (coo.row[same], coo.col[same])), shape=adjacency.shape
    )


class _Splitter:
    """Level-synchronous recursive bisection of many parts at once.

    All parts still to be split are handled together, level by level: one random
    spanning forest (a virtual root joined to one node of each part), one depth-first
    order, and vectorised sums over it give, for every tree edge of every part, the
    weights of both sides and the length of the boundary the cut would draw. Python
    loops run over tree levels and bisection levels only, never over parts or nodes.
    """

    def __init__(
        self, adj, weights, band: Band, rng, attempts: int, blocks=None, trees: int = 4
    ) -> None:
        self.w = np.asarray(weights, dtype=float)
        self.band = band
        self.rng = rng
        self.attempts = max(1, attempts)
        self.trees = max(1, trees)
        self.labels = np.full(len(self.w), -1, dtype=np.int64)
        self.next_label = 0
        upper = sparse.triu(adj, k=1).tocoo()
        self.u = upper.row.astype(np.int64)
        self.v = upper.col.astype(np.int64)
        # what an edge costs when it becomes a boundary between parts: its shared length
        # (the adjacency value), more inside a block, where no street runs
        cost = upper.data.astype(float)
        cross = np.ones(len(self.u), dtype=bool)
        if blocks is not None:
            blocks = np.asarray(blocks)
            cross = blocks[self.u] != blocks[self.v]
            cost = np.where(cross, cost, INSIDE_BLOCK * cost)
        self.cost, self.cross = cost, cross

    def split(self, parts: list[tuple[np.ndarray, int]]) -> None:
        """Split each (nodes, k) into about k labelled parts."""
        n = len(self.w)
        part = np.full(n, -1, dtype=np.int64)  # part of each node still to split
        k_of: list[int] = []
        for nodes, k in parts:
            part[nodes] = len(k_of)
            k_of.append(int(k))
        kpart = np.asarray(k_of, dtype=np.int64)
        while True:
            nodes = np.flatnonzero(part >= 0)
            if not len(nodes):
                break
            size = np.bincount(part[nodes], minlength=len(kpart))
            done = (kpart <= 1) | (size <= 1)
            finished = nodes[done[part[nodes]]]
            if len(finished):
                self._finish(finished, part[finished])
                part[finished] = -1
                nodes = np.flatnonzero(part >= 0)
                if not len(nodes):
                    break
            side, ka, kb, ok = self._bisect_level(nodes, part[nodes], kpart)
            # parts with no usable cut stay whole
            stuck = nodes[~ok[part[nodes]]]
            if len(stuck):
                self._finish(stuck, part[stuck])
                part[stuck] = -1
            # the cut-off side of each part becomes a new part
            moving = side & (part >= 0)
            old = np.unique(part[moving])
            new_id = np.full(len(kpart), -1, dtype=np.int64)
            new_id[old] = len(kpart) + np.arange(len(old))
            part[moving] = new_id[part[moving]]
            kpart = np.concatenate([kb, ka[old]])
            kpart[old] = kb[old]

    def _finish(self, nodes: np.ndarray, pids: np.ndarray) -> None:
        _, local = np.unique(pids, return_inverse=True)
        self.labels[nodes] = self.next_label + local
        self.next_label += int(local.max()) + 1

    def _counts(self, x: np.ndarray, want: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Part count nearest ``want`` that keeps weight ``x`` divisible in band, and if ok.

        One part must lie in the band; several parts must average inside the inner band
        (half as wide), which leaves room for the cuts still to come.
        """
        b = self.band
        lo_in = b.target - (b.target - b.lower) / 2
        hi_in = b.target + (b.upper - b.target) / 2
        kmin = np.maximum(2, np.ceil(x / hi_in - 1e-9))
        kmax = np.floor(x / lo_in + 1e-9) if lo_in > 0 else np.full_like(x, np.inf)
        multi = np.clip(want, kmin, np.maximum(kmin, kmax))
        multi_ok = kmin <= kmax
        one_ok = (x >= b.lower - 1e-9) & (x <= b.upper + 1e-9)
        use_one = one_ok & (~multi_ok | (np.abs(want - 1) <= np.abs(want - multi)))
        k = np.where(use_one, 1, multi)
        return k, use_one | multi_ok

    def _feasible(self, sub: np.ndarray, total: np.ndarray, k: np.ndarray):
        """For each subtree weight, part counts (ka, kb) keeping both sides divisible."""
        want = np.clip(np.round(sub / np.maximum(total, 1e-300) * k), 1, k - 1)
        ka, ok_a = self._counts(sub, want)
        kb, ok_b = self._counts(total - sub, k - ka)
        ok = ok_a & ok_b
        # keep the bisection balanced so depth stays logarithmic
        ok &= np.minimum(ka, kb) >= np.maximum(1, k // 4)
        return ok, ka, kb

    def _badness(self, sub: np.ndarray, total: np.ndarray):
        """Part counts and distance from the band of both sides of each cut (lower is better)."""
        b = self.band
        rest = total - sub
        ka = np.maximum(1, np.round(sub / b.target))
        kb = np.maximum(1, np.round(rest / b.target))

        def off(x):
            return np.maximum(0, np.maximum(b.lower - x, x - b.upper)) / b.target

        bad = off(sub / ka) + off(rest / kb)
        bad[(sub <= 0) | (rest <= 0)] = np.inf
        return ka, kb, bad

    def _bisect_level(self, nodes: np.ndarray, pid: np.ndarray, kpart: np.ndarray):
        """One cut per part: both sides divisible in band, the shortest boundary.

        Spanning trees are drawn until each part has had ``trees`` trees with feasible
        cuts, or ``attempts`` trees in all; the feasible cut with the cheapest boundary
        wins. A part without any feasible cut takes its least unbalanced one (a
        fallback). Returns the side mask (over all nodes), the part counts of the side
        and of the rest per part id, and whether each part got a cut.
        """
        n_ids = len(kpart)
        total = np.bincount(pid, weights=self.w[nodes], minlength=n_ids)
        best = np.full(n_ids, np.inf)  # boundary cost of the best feasible cut
        bad_best = np.full(n_ids, np.inf)  # badness of the least bad cut, if none is
        ka = np.ones(n_ids, dtype=np.int64)
        kb = np.ones(n_ids, dtype=np.int64)
        side = np.zeros(len(self.w), dtype=bool)
        found = np.zeros(n_ids, dtype=np.int64)
        active = np.zeros(n_ids, dtype=bool)
        active[pid] = True
        # the edges inside the parts of this level
        part_of = np.full(len(self.w), -1, dtype=np.int64)
        part_of[nodes] = pid
        pu = part_of[self.u]
        inner = (pu >= 0) & (pu == part_of[self.v])
        level_edges = (self.u[inner], self.v[inner], self.cost[inner], self.cross[inner])
        edge_pid = pu[inner]
        for _ in range(self.attempts):
            todo = active & (found < self.trees)
            if not todo.any():
                break
            sel, esel = todo[pid], todo[edge_pid]
            edges = tuple(x[esel] for x in level_edges)
            forest = self._forest(nodes[sel], pid[sel], edges)
            order, size, sub, cut, cand_pid = forest
            s = sub
            ok, fa, fb = self._feasible(s, total[cand_pid], kpart[cand_pid])
            # feasible: cheapest boundary per part
            improved = np.zeros(len(ok), dtype=bool)
            if ok.any():
                idx = np.flatnonzero(ok)
                first = _argmin_by(cut[idx], cand_pid[idx])
                idx = idx[first]
                g = cand_pid[idx]
                found[g] += 1
                better = cut[idx] < best[g]
                idx, g = idx[better], g[better]
                best[g] = cut[idx]
                ka[g], kb[g] = fa[idx], fb[idx]
                improved[idx] = True
            # none feasible yet: the least bad cut
            fresh = ~ok & np.isinf(best[cand_pid])
            if fresh.any():
                ba, bb, bad = self._badness(s, total[cand_pid])
                idx = np.flatnonzero(fresh & np.isfinite(bad))
                if len(idx):
                    idx = idx[_argmin_by(bad[idx], cand_pid[idx])]
                    g = cand_pid[idx]
                    better = bad[idx] < bad_best[g]
                    idx, g = idx[better], g[better]
                    bad_best[g] = bad[idx]
                    ka[g], kb[g] = ba[idx], bb[idx]
                    improved[idx] = True
            if improved.any():
                self._mark(side, order, size, np.flatnonzero(improved), cand_pid, pid, nodes, n_ids)
        got = np.isfinite(best) | np.isfinite(bad_best)
        return side, ka, kb, got

    @staticmethod
    def _mark(side, pre_nodes, size, chosen, cand_pid, pid, nodes, n_ids) -> None:
        """Set ``side`` to the subtrees below the chosen candidates (their parts reset).

        ``pre_nodes`` holds the nodes in preorder (virtual root left out), so the
        subtree below the candidate at index ``c`` is ``pre_nodes[c : c + size[c]]``.
        """
        reset = np.zeros(n_ids, dtype=bool)
        reset[cand_pid[chosen]] = True
        side[nodes[reset[pid]]] = False
        delta = np.zeros(len(pre_nodes) + 1, dtype=np.int64)
        np.add.at(delta, chosen, 1)
        np.add.at(delta, chosen + size[chosen], -1)
        side[pre_nodes[np.cumsum(delta[:-1]) > 0]] = True

    def _forest(self, nodes: np.ndarray, pid: np.ndarray, edges):
        """A random spanning tree of every part, with the sums of every subtree.

        ``nodes`` (ascending global ids) and their part ``pid``; ``edges`` the global
        (u, v, cost, cross) of the edges inside these parts. Returns, for every node in
        preorder (virtual root left out): the global node, its subtree size, the subtree
        weight, the boundary cost of cutting it off (``inf`` for the tops of the parts,
        which cannot be cut off), and its part.
        """
        nb = len(nodes)
        gu, gv, cost, cross = edges
        eu, ev = np.searchsorted(nodes, gu), np.searchsorted(nodes, gv)
        key = self.rng.random(len(eu)) + 1e-9 + cross
        # a virtual root (index nb) joined to the first node of every part
        first = np.full(int(pid.max()) + 1, nb, dtype=np.int64)
        np.minimum.at(first, pid, np.arange(nb))
        heads = first[first < nb]
        root = nb

        def spanning(extra: np.ndarray, extra_key: float):
            graph = sparse.csr_matrix(
                (
                    np.r_[key, np.full(len(heads), 1e-9), np.full(len(extra), extra_key)],
                    (
                        np.r_[eu, np.full(len(heads) + len(extra), root)],
                        np.r_[ev, heads, extra],
                    ),
                ),
                shape=(nb + 1, nb + 1),
            )
            tree = csgraph.minimum_spanning_tree(graph)
            return csgraph.depth_first_order(tree, root, directed=False, return_predecessors=True)

        order, parent = spanning(np.empty(0, dtype=np.int64), 0.0)
        if len(order) < nb + 1:  # a part is not connected: hang its pieces on the root
            reached = np.zeros(nb + 1, dtype=bool)
            reached[order] = True
            order, parent = spanning(np.flatnonzero(~reached), 3.0)
        parent = parent.astype(np.int64)
        parent[root] = root
        pos = np.empty(nb + 1, dtype=np.int64)
        pos[order] = np.arange(nb + 1)
        ends, lca_of = _preorder_tools(order, parent, pos)
        # per preorder position: size, weight, boundary of its edges, boundary inside
        a, b = pos[eu], pos[ev]
        vals = np.zeros((nb + 1, 4))
        vals[1:, 0] = 1.0
        vals[1:, 1] = self.w[nodes[order[1:]]]
        vals[:, 2] = np.bincount(a, weights=cost, minlength=nb + 1) + np.bincount(
            b, weights=cost, minlength=nb + 1
        )
        vals[:, 3] = np.bincount(lca_of(a, b), weights=cost, minlength=nb + 1)
        prefix = np.vstack([np.zeros(4), np.cumsum(vals, axis=0)])
        p = np.arange(1, nb + 1)
        sums = prefix[ends[p]] - prefix[p]
        size = sums[:, 0].astype(np.int64)
        sub = sums[:, 1]
        cut = sums[:, 2] - 2 * sums[:, 3]
        top = parent[order[1:]] == root
        cut[top] = np.inf
        sub[top] = 0.0
        pre = order[1:]
        return nodes[pre], size, sub, cut, pid[pre]


def _argmin_by(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Index (into ``values``) of the smallest value of each group (first on ties)."""
    o = np.lexsort((values, groups))
    g = groups[o]
    return o[np.r_[True, g[1:] != g[:-1]]]


def _preorder_tools(order: np.ndarray, parent: np.ndarray, pos: np.ndarray):
    """Subtree ends and lowest common ancestors of a tree in depth-first preorder.

    The subtree of the node at preorder position ``p`` spans positions ``p`` to
    ``ends[p] - 1``: ``ends[p]`` is the first later position whose depth is not
    greater. Both it and the lowest common ancestor of two positions (the parent of the
    shallowest node between them) come from one sparse table of range minima of
    (depth, position), searched in log n vectorised steps.
    """
    n = len(order)
    depth = (np.arange(n) != order[0]).astype(np.int64)
    jump = parent
    while (jump != order[0]).any():  # pointer jumping: log(depth) passes
        depth = depth + depth[jump]
        jump = jump[jump]
    levels = max(1, int(n).bit_length())
    span = 1 << levels
    key = np.full(n + span + 1, -1, dtype=np.int64)  # -1: beyond the end, shallower than all
    key[:n] = depth[order] * n + np.arange(n)
    table = [key]
    for j in range(1, levels):
        prev, half = table[-1], 1 << (j - 1)
        t = prev.copy()
        t[:-half] = np.minimum(prev[:-half], prev[half:])
        table.append(t)
    table = np.stack(table)
    p = np.arange(n)
    d = depth[order]
    cur = p.copy()
    for j in range(levels - 1, -1, -1):
        inside = table[j, cur + 1] // n > d
        cur = np.where(inside, cur + (1 << j), cur)
    ends = cur + 1

    def lca_of(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        nested = hi < ends[lo]
        length = np.maximum(hi - lo, 1)
        j = np.floor(np.log2(length)).astype(np.int64)
        m = np.minimum(table[j, lo + 1], table[j, hi - (1 << j) + 1])
        shallow = order[np.clip(m % n, 0, n - 1)]
        return np.where(nested, lo, pos[parent[shallow]])

    return ends, lca_of


def split_component(
    adj: sparse.csr_matrix,
    weights: np.ndarray,
    k: int,
    *,
    band: Band,
    rng: np.random.Generator,
    attempts: int = 20,
    blocks: np.ndarray | None = None,
    trees: int = 4,
) -> np.ndarray:
    """Recursive spanning-tree bisection of one connected graph into about ``k`` parts.

    Returns local labels 0…k'−1 (k' may differ from ``k`` when a side cannot be split
    further or is better split into another number of parts). Each split takes, among
    the balanced cuts of ``trees`` random spanning trees, the one whose boundary is
    shortest (the adjacency values are the shared lengths); with ``blocks`` (block of
    each node), boundary inside a block costs 1.5 times more, so cuts follow streets.
    """
    whole = [(np.arange(len(weights)), k)]
    return split_parts(
        adj, weights, whole, band=band, rng=rng, attempts=attempts, blocks=blocks, trees=trees
    )


def split_parts(
    adj: sparse.csr_matrix,
    weights: np.ndarray,
    parts: list[tuple[np.ndarray, int]],
    *,
    band: Band,
    rng: np.random.Generator,
    attempts: int = 20,
    blocks: np.ndarray | None = None,
    trees: int = 4,
) -> np.ndarray:
    """:func:`split_component` for many connected node sets at once: ``(nodes, k)`` each.

    Returns a label for every node of the graph (0…; −1 for nodes in no part); labels
    never span two parts.
    """
    splitter = _Splitter(
        adj, np.asarray(weights, dtype=float), band, rng, attempts, blocks, trees=trees
    )
    splitter.split(parts)
    return splitter.labels
