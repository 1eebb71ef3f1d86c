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

__all__ = ["Band", "check_graph", "split_component"]

log = logging.getLogger(__name__)


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


class _Splitter:
    """Recursive bisection state: the graph, the band, the generator, the labels."""

    # the bisection of one component; see split_component

    def __init__(self, adj, weights, band: Band, rng, attempts: int, blocks=None) -> None:
        self.blocks = None if blocks is None else np.asarray(blocks)
        self.adj = adj
        self.w = weights
        self.band = band
        self.rng = rng
        self.attempts = attempts
        self.labels = np.full(len(weights), -1, dtype=np.int64)
        self.next_label = 0
        self.fallbacks = 0

    def split(self, nodes: np.ndarray, k: int) -> None:
        stack = [(nodes, k)]
        while stack:
            nodes, k = stack.pop()
            if k <= 1 or len(nodes) == 1:
                self.labels[nodes] = self.next_label
                self.next_label += 1
                continue
            cut = self._bisect(nodes, k)
            if cut is None:  # every cut leaves a side without weight: keep it whole
                self.labels[nodes] = self.next_label
                self.next_label += 1
                continue
            side, ka, kb = cut
            stack.append((nodes[~side], kb))
            stack.append((nodes[side], ka))

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

    def _feasible(self, sub: np.ndarray, total: float, k: int):
        """For each subtree weight, part counts (ka, kb) keeping both sides divisible."""
        want = np.clip(np.round(sub / total * k), 1, k - 1)
        ka, ok_a = self._counts(sub, want)
        kb, ok_b = self._counts(total - sub, k - ka)
        ok = ok_a & ok_b
        # keep the bisection balanced so depth stays logarithmic
        ok &= np.minimum(ka, kb) >= max(1, k // 4)
        return ok, ka, kb

    def _bisect(self, nodes: np.ndarray, k: int):
        sub_adj = self.adj[nodes][:, nodes]
        upper = sparse.triu(sub_adj, k=1).tocsr()
        cross = None
        if self.blocks is not None:  # edges between blocks: along streets
            b = self.blocks[nodes]
            rows = np.repeat(np.arange(upper.shape[0]), np.diff(upper.indptr))
            cross = (b[rows] != b[upper.indices]).astype(float)
        w = self.w[nodes]
        total = w.sum()
        best = None
        for _ in range(self.attempts):
            parent, order = self._random_tree(upper, cross)
            sub = w.copy()
            for v in order[:0:-1]:  # leaves first, root excluded
                sub[parent[v]] += sub[v]
            cand = order[1:]
            s = sub[cand]
            ok, ka, kb = self._feasible(s, total, k)
            if ok.any():
                good = np.flatnonzero(ok)
                if self.blocks is not None:  # prefer a cut along streets when there is one
                    along = good[b[cand[good]] != b[parent[cand[good]]]]
                    good = along if len(along) else good
                pick = self.rng.choice(good)
                v = cand[pick]
                return self._side(parent, order, v), int(ka[pick]), int(kb[pick])
            # remember the least bad cut: both sides non-empty, averages nearest the band
            ka_f, kb_f, bad = self._badness(s, total)
            i = int(np.argmin(bad))
            if best is None or bad[i] < best[0]:
                best = (bad[i], parent, order, cand[i], int(ka_f[i]), int(kb_f[i]))
        self.fallbacks += 1
        bad, parent, order, v, ka, kb = best
        if not np.isfinite(bad):
            return None
        return self._side(parent, order, v), ka, kb

    def _badness(self, sub: np.ndarray, total: float):
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

    def _random_tree(self, upper: sparse.csr_matrix, cross: np.ndarray | None = None):
        """A random spanning tree: the minimum spanning tree under random edge weights.

        With ``cross`` (1 for edges between blocks), edges inside blocks weigh less than
        any edge between blocks, so each block's units hang together in the tree and the
        tree's edges between blocks — the cuts that follow streets — join whole blocks.
        """
        upper.data = self.rng.random(upper.nnz) + 1e-9
        if cross is not None:
            upper.data += cross
        tree = csgraph.minimum_spanning_tree(upper)
        order, parent = csgraph.breadth_first_order(
            tree, 0, directed=False, return_predecessors=True
        )
        return parent, order

    @staticmethod
    def _side(parent: np.ndarray, order: np.ndarray, v: int) -> np.ndarray:
        """Boolean mask of the subtree below ``v``."""
        inside = np.zeros(len(parent), dtype=bool)
        inside[v] = True
        pos = np.flatnonzero(order == v)[0]
        for u in order[pos + 1 :]:
            if inside[parent[u]]:
                inside[u] = True
        return inside


def split_component(
    adj: sparse.csr_matrix,
    weights: np.ndarray,
    k: int,
    *,
    band: Band,
    rng: np.random.Generator,
    attempts: int = 20,
    blocks: np.ndarray | None = None,
) -> np.ndarray:
    """Recursive spanning-tree bisection of one connected graph into about ``k`` parts.

    Returns local labels 0…k'−1 (k' may differ from ``k`` when a side cannot be split
    further or is better split into another number of parts). With ``blocks`` (block of
    each node), cuts between blocks — along streets — are preferred.
    """
    splitter = _Splitter(adj, np.asarray(weights, dtype=float), band, rng, attempts, blocks)
    splitter.split(np.arange(len(weights)), k)
    return splitter.labels
