"""Pieces of land that would make grids nobody can serve, settled before partitioning.

The engine draws grids inside each connected piece of land of a community (barriers
cut pieces apart) and keeps every dedicated zone whole. Left at that, a plan on real
boundaries holds grids a planner would send back: a 400 m² fragment of a school zone
as a grid of its own, an uninhabited exclave of a community or a strip between a
railway and a river as a grid with no households and a grid worker, a few dozen
households across a river as a grid with its own worker, a campus of thousands of
households as one grid. This module settles those pieces on the units' graph:

- :func:`settle_zones` — a piece of a dedicated zone smaller than ``min_zone_area``, or
  holding no building, is ordinary land (it joins the grids around it); so is a zone
  holding buildings but no households when the ``empty_zones`` rule says ``join``.
- :func:`link_stranded` — a piece of land cut off from the rest of its community (or
  zone) by barriers, or lying apart from it (an exclave), that holds no households or
  less than a share of the band's lower bound, is linked to a neighbouring piece of
  its community: across the barrier (the piece it shares most boundary with) or, for
  an exclave, the nearest piece. The engine then draws it into a grid of that piece;
  a grid holding an exclave has several parts.
- :func:`whole_zones` — a zone (piece) holding no more than the band's upper bound is
  one grid; a larger one is divided into grids of the band, all dedicated grids of the
  zone: the zone is managed by its own unit (a campus, a hospital, an industrial
  park), so its housing stays in grids of the zone instead of joining basic grids.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from .engine.tree import within_groups

__all__ = ["group_of", "link_stranded", "pieces", "settle_zones", "whole_zones"]

log = logging.getLogger(__name__)

#: Shared length given to the link between an exclave and the nearest piece of its
#: community (they share no boundary; any positive value keeps the graph connected).
EXCLAVE_LINK = 1e-3


def group_of(community: np.ndarray, zone: np.ndarray) -> np.ndarray:
    """Group of every unit: its community × dedicated zone (parts never mix groups)."""
    key = pd.Series(community).astype(str) + "\x1f" + pd.Series(zone).astype(str)
    return pd.factorize(key)[0]


def pieces(adj: sparse.spmatrix, groups: np.ndarray) -> np.ndarray:
    """Connected piece of land of every unit (units joined by ``adj`` within a group)."""
    return csgraph.connected_components(within_groups(adj, groups), directed=False)[1]


def settle_zones(
    zone: np.ndarray,
    community: np.ndarray,
    adj: sparse.spmatrix,
    *,
    area: np.ndarray,
    buildings: np.ndarray | None,
    weights: np.ndarray,
    min_area: float,
    empty_zones: str = "join",
) -> np.ndarray:
    """Zone of every unit, with the pieces too small to be a grid made ordinary land.

    A piece of a zone (its units connected by ``adj`` within one community) is
    ordinary land (zone −1) when its area is under ``min_area``, when it holds no
    building (``buildings``: buildings per unit; None when the plan has no buildings),
    or when it holds no weight and ``empty_zones`` is ``"join"``.
    """
    zone = np.asarray(zone).copy()
    inside = zone >= 0
    if not inside.any():
        return zone
    piece = pieces(adj, group_of(community, zone))
    n = int(piece.max()) + 1
    p_area = np.bincount(piece, weights=area, minlength=n)
    p_weight = np.bincount(piece, weights=weights, minlength=n)
    drop = p_area < min_area
    if buildings is not None:
        drop |= np.bincount(piece, weights=buildings, minlength=n) == 0
    if empty_zones == "join":
        drop |= p_weight == 0
    gone = inside & drop[piece]
    if gone.any():
        n_pieces = len(np.unique(piece[gone]))
        log.info(
            "%d pieces of dedicated zones (%d units) too small, without buildings or empty: "
            "ordinary land",
            n_pieces,
            int(gone.sum()),
        )
    zone[gone] = -1
    return zone


def link_stranded(
    weights: np.ndarray,
    adj: sparse.csr_matrix,
    full: sparse.csr_matrix,
    groups: np.ndarray,
    geometry: np.ndarray,
    *,
    below: float,
) -> tuple[sparse.csr_matrix, int, int]:
    """Link stranded pieces of land to a neighbouring piece of their group.

    Parameters
    ----------
    weights : ndarray
        Weight of every unit.
    adj : sparse matrix
        Adjacency without the edges across barriers.
    full : sparse matrix
        Adjacency with them.
    groups : ndarray
        Group of every unit (community × zone): links never leave a group.
    geometry : ndarray of Polygons
        The units (to find the nearest piece of an exclave).
    below : float
        A piece holding less than this (or nothing) is stranded.

    Returns
    -------
    adjacency : sparse matrix
        ``adj`` plus, for every stranded piece, the edges across the barrier to the
        piece it joins, or one edge to the nearest unit of the nearest piece.
    across : int
        Pieces joined across a barrier.
    exclaves : int
        Pieces joined to the nearest piece of their group, sharing no boundary.

    Pieces are taken lightest first; a piece that has taken in others counts with
    their weight. A piece whose group has no other piece stays as it is.
    """
    piece = pieces(adj, groups)
    n = int(piece.max()) + 1 if len(piece) else 0
    w = np.bincount(piece, weights=weights, minlength=n)
    group = np.zeros(n, dtype=np.int64)
    group[piece] = groups
    # boundary the pieces share across barriers, within a group
    coo = sparse.triu(full, k=1).tocoo()
    a, b = piece[coo.row], piece[coo.col]
    across = (a != b) & (groups[coo.row] == groups[coo.col])
    shared = sparse.coo_matrix(
        (
            np.r_[coo.data[across], coo.data[across]],
            (np.r_[a[across], b[across]], np.r_[b[across], a[across]]),
        ),
        shape=(n, n),
    ).tocsr()
    root = np.arange(n)
    members = {p: [p] for p in range(n)}
    exclave_edges: list[tuple[int, int]] = []
    n_across = 0

    def stranded(r: int) -> bool:
        return w[r] == 0 or w[r] < below

    def join(r: int, host: int) -> None:
        root[root == r] = host
        members[host] += members.pop(r)
        w[host] += w[r]

    changed = True
    while changed:
        changed = False
        for r in sorted((r for r in members if stranded(r)), key=lambda r: w[r]):
            if r not in members or not stranded(r):
                continue
            row = shared[members[r]]
            hosts = root[row.indices]
            mine = hosts != r
            if mine.any():
                totals = pd.Series(row.data[mine]).groupby(hosts[mine]).sum()
                join(r, int(totals.idxmax()))
                n_across += 1
                changed = True
                continue
            # an exclave: the nearest unit of another piece of its group
            others = np.flatnonzero((group[piece] == group[r]) & (root[piece] != r))
            if not len(others):
                continue
            own = np.flatnonzero(root[piece] == r)
            (src, dst), dist = shapely.STRtree(geometry[others]).query_nearest(
                geometry[own], return_distance=True, all_matches=False
            )
            k = int(np.argmin(dist))
            u, v = int(own[src[k]]), int(others[dst[k]])
            exclave_edges.append((u, v))
            join(r, int(root[piece[v]]))
            changed = True
    if not n_across and not exclave_edges:
        return adj, 0, 0
    # every edge across a barrier between pieces that are now one, and the exclave links
    add = across & (root[a] == root[b])
    ex = np.array(exclave_edges, dtype=np.int64).reshape(-1, 2)
    rows = np.r_[coo.row[add], ex[:, 0]]
    cols = np.r_[coo.col[add], ex[:, 1]]
    vals = np.r_[coo.data[add], np.full(len(ex), EXCLAVE_LINK)]
    extra = sparse.coo_matrix((vals, (rows, cols)), shape=adj.shape).tocsr()
    extra = (extra + extra.T).tocsr()
    out = (adj - adj.multiply(extra > 0) + extra).tocsr()
    log.info(
        "%d pieces of land cut off by barriers joined a neighbour across the barrier, "
        "%d exclaves the nearest piece of their community",
        n_across,
        len(exclave_edges),
    )
    return out, n_across, len(exclave_edges)


def whole_zones(
    zone: np.ndarray, weights: np.ndarray, adj: sparse.spmatrix, groups: np.ndarray, *, upper: float
) -> np.ndarray:
    """Units whose piece of a zone becomes exactly one grid: pieces holding at most
    ``upper``; heavier pieces are divided into grids of the band."""
    inside = np.asarray(zone) >= 0
    if not inside.any():
        return inside
    piece = pieces(adj, groups)
    w = np.bincount(piece, weights=weights)
    big = inside & (w[piece] > upper + 1e-9)
    if big.any():
        log.info(
            "%d dedicated zone pieces hold more than %g: divided into dedicated grids",
            len(np.unique(piece[big])),
            upper,
        )
    return inside & ~big
