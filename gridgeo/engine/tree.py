"""Recursive spanning-tree bisection.

Each connected component is split in two by cutting one edge of a random spanning tree
(a minimum spanning tree under random edge weights), choosing an edge whose two sides
can each be divided into whole parts inside the target band; each side is split again
until every part is one grid. Every side of a tree cut is connected in the tree, so
every part is connected in the graph. This is the method of GerryChain's
``recursive_tree_part``, run as a bisection (log k levels instead of k peels) in compiled
code (:mod:`gridgeo.engine._kernels`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse

from .._errors import InputError
from ._kernels import split_parts as _split_kernel

__all__ = ["Band", "Edges", "check_graph", "split_component", "split_parts", "within_groups"]

log = logging.getLogger(__name__)

#: What a length of grid boundary inside a block (off the streets) costs relative to the
#: same length along a street, in the choice of cuts and in smoothing.
INSIDE_BLOCK = 1.75


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
    each node), boundary inside a block costs :data:`INSIDE_BLOCK` (1.75) times more, so
    cuts follow streets.
    """
    whole = [(np.arange(len(weights)), k)]
    return split_parts(
        adj, weights, whole, band=band, rng=rng, attempts=attempts, blocks=blocks, trees=trees
    )


class Edges(NamedTuple):
    """The edges of a graph once (upper triangle), as :func:`split_parts` draws trees on.

    ``cost``: what an edge costs when it becomes a boundary between parts, its shared
    length (the adjacency value), times :data:`INSIDE_BLOCK` inside a block, where no
    street runs; ``cross``: whether it runs across a street (between blocks);
    ``block``: the block of its first node (numbered 0…).
    """

    u: np.ndarray
    v: np.ndarray
    cost: np.ndarray
    cross: np.ndarray
    block: np.ndarray

    @classmethod
    def of(cls, adj: sparse.spmatrix, blocks: np.ndarray | None = None) -> Edges:
        upper = sparse.triu(adj, k=1).tocoo()
        u, v = upper.row.astype(np.int64), upper.col.astype(np.int64)
        cost = upper.data.astype(float)
        if blocks is None:
            return cls(u, v, cost, np.ones(len(u), dtype=bool), np.zeros(len(u), dtype=np.int64))
        block = pd.factorize(np.asarray(blocks))[0]
        cross = block[u] != block[v]
        return cls(u, v, np.where(cross, cost, INSIDE_BLOCK * cost), cross, block[u])


def split_parts(
    adj: sparse.csr_matrix | Edges,
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
    never span two parts. Parts are split one after the other, each side again until
    it is one part, by :func:`gridgeo.engine._kernels.split_parts` (compiled).
    ``adj`` may be given as :class:`Edges` (with the blocks in it) when it serves
    several calls.
    """
    w = np.asarray(weights, dtype=float)
    n = len(w)
    edges = adj if isinstance(adj, Edges) else Edges.of(adj, blocks)
    # the nodes numbered part by part; the edges inside each part, those inside blocks
    # first, block by block
    sizes = np.array([len(nodes) for nodes, _ in parts], dtype=np.int64)
    order = np.concatenate([np.empty(0, np.int64)] + [np.asarray(x, np.int64) for x, _ in parts])
    local = np.full(n, -1, dtype=np.int64)
    local[order] = np.arange(len(order))
    part_at = np.repeat(np.arange(len(parts)), sizes)
    lu, lv = local[edges.u], local[edges.v]
    keep = (lu >= 0) & (lv >= 0)
    keep[keep] = part_at[lu[keep]] == part_at[lv[keep]]
    keep = np.flatnonzero(keep)
    lu, lv = lu[keep], lv[keep]
    group = 2 * part_at[lu] + edges.cross[keep]
    by = np.argsort(
        group * (int(edges.block.max(initial=0)) + 1) + edges.block[keep], kind="stable"
    )
    keep, lu, lv, group = keep[by], lu[by], lv[by], group[by]
    ids = np.arange(len(parts) + 1)
    labels = np.full(n, -1, dtype=np.int64)
    labels[order] = _split_kernel(
        np.r_[0, np.cumsum(sizes)],
        np.array([int(k) for _, k in parts], dtype=np.int64),
        w[order],
        np.searchsorted(group, 2 * ids),
        np.searchsorted(group, 2 * ids[:-1] + 1),
        lu,
        lv,
        edges.cost[keep],
        edges.block[keep],
        float(band.target),
        float(band.lower),
        float(band.upper),
        max(1, int(attempts)),
        max(1, int(trees)),
        int(rng.integers(2**32)),
    )
    return labels
