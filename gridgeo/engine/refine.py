"""Local repair: move boundary units between neighbouring parts until parts are in band.

After the spanning-tree bisection a few parts may fall outside the band (a leaf whose
units could not be cut well). :func:`rebalance` moves single units across part
boundaries — from a heavy part to a neighbour, or from a neighbour into a light part —
whenever the total distance of the two parts from the band decreases and both stay
connected. Chains of such moves carry a surplus or a deficit to where there is room.
Deterministic: parts and units are visited in a fixed order.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

if TYPE_CHECKING:
    from .tree import Band

__all__ = ["rebalance"]

log = logging.getLogger(__name__)


def _connected_without(members: set[int], removed: int, nbrs: list[np.ndarray]) -> bool:
    """Whether ``members`` minus ``removed`` is still connected (and not empty)."""
    rest = members - {removed}
    if not rest:
        return False
    start = next(iter(rest))
    seen = {start}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for u in nbrs[v]:
            if u in rest and u not in seen:
                seen.add(u)
                queue.append(u)
    return len(seen) == len(rest)


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

    nbrs = [adj.indices[adj.indptr[i] : adj.indptr[i + 1]] for i in range(len(w))]
    shared = [adj.data[adj.indptr[i] : adj.indptr[i + 1]] for i in range(len(w))]
    members: dict[int, set[int]] = {}
    for i, g in enumerate(labels):
        members.setdefault(int(g), set()).add(i)

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
        bad = [g for g in range(n_parts) if off(W[g]) > 1e-9]
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
                if _connected_without(members[src], u, nbrs):
                    members[src].discard(u)
                    members[dst].add(u)
                    labels[u] = dst
                    W[src] -= w[u]
                    W[dst] += w[u]
                    moved += 1
                    progress = True
                    break
        if not progress:
            break
    log.debug("rebalance: %d moves", moved)
    return labels
