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
from .refine import rebalance

__all__ = ["Band", "partition_graph"]

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


def _check_inputs(weights: np.ndarray, adjacency: sparse.spmatrix) -> sparse.csr_matrix:
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


def partition_graph(
    weights: np.ndarray,
    adjacency: sparse.spmatrix,
    *,
    band: Band,
    groups: np.ndarray | None = None,
    random_state: int | np.random.Generator | None = 0,
    attempts: int = 20,
    refine: bool = True,
) -> np.ndarray:
    """Label nodes so that each label is connected with a weight inside ``band``.

    Parameters
    ----------
    weights : ndarray
        Non-negative weight of each node (households).
    adjacency : sparse matrix
        Symmetric n × n adjacency (non-zero = the two nodes share a boundary; the value,
        e.g. the shared length, guides the local repair toward compact parts).
    band : Band
        Target and accepted range of a part's weight.
    groups : ndarray, optional
        A group per node (community): parts never mix groups.
    random_state : int or numpy Generator, default 0
        Seed of the random spanning trees; same input and seed, same labels.
    attempts : int, default 20
        Spanning trees drawn per split before settling for the most balanced cut.
    refine : bool, default True
        Afterwards, move boundary nodes between neighbouring parts to bring parts that
        are out of band back in (:func:`gridgeo.engine.refine.rebalance`).

    Returns
    -------
    ndarray of int64
        Part label of each node, 0…k−1, numbered in order of first node.

    Examples
    --------
    A path of six nodes of 100 households split into parts of about 200:

    >>> from scipy import sparse
    >>> adj = sparse.diags([1.0, 1.0], [-1, 1], shape=(6, 6))
    >>> partition_graph(np.full(6, 100), adj, band=Band.around(200, 0.1)).tolist()
    [0, 0, 1, 1, 2, 2]
    """
    weights = np.asarray(weights, dtype=float)
    adj = _check_inputs(weights, adjacency)
    rng = np.random.default_rng(random_state)
    n = len(weights)
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (n,):
            msg = f"groups has {len(groups)} entries but there are {n} weights: give one group per node"
            raise InputError(msg)
        coo = adj.tocoo()
        same = groups[coo.row] == groups[coo.col]
        adj = sparse.csr_matrix((coo.data[same], (coo.row[same], coo.col[same])), shape=(n, n))
    n_comp, comp = csgraph.connected_components(adj, directed=False)
    labels = np.full(n, -1, dtype=np.int64)
    splitter = _Splitter(adj, weights, band, rng, attempts)
    order = np.argsort(comp, kind="stable")
    bounds = np.searchsorted(comp[order], np.arange(n_comp + 1))
    for c in range(n_comp):
        nodes = order[bounds[c] : bounds[c + 1]]
        k = band.parts_for(weights[nodes].sum())
        splitter.split(nodes, k)
    labels = splitter.labels
    if refine:
        labels = rebalance(labels, weights, adj, band=band)
    # renumber by first occurrence: stable, readable ids
    _, first = np.unique(labels, return_index=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[np.searchsorted(np.unique(labels), labels)]


class _Splitter:
    """Recursive bisection state: the graph, the band, the generator, the labels."""

    def __init__(self, adj, weights, band: Band, rng, attempts: int) -> None:
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
        w = self.w[nodes]
        total = w.sum()
        best = None
        for _ in range(self.attempts):
            parent, order = self._random_tree(sub_adj)
            sub = w.copy()
            for v in order[:0:-1]:  # leaves first, root excluded
                sub[parent[v]] += sub[v]
            cand = order[1:]
            s = sub[cand]
            ok, ka, kb = self._feasible(s, total, k)
            if ok.any():
                pick = self.rng.choice(np.flatnonzero(ok))
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

    def _random_tree(self, sub_adj):
        coo = sparse.triu(sub_adj, k=1).tocoo()
        rnd = self.rng.random(len(coo.data)) + 1e-9
        m = len(sub_adj.indptr) - 1
        tree = csgraph.minimum_spanning_tree(
            sparse.csr_matrix((rnd, (coo.row, coo.col)), shape=(m, m))
        )
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
