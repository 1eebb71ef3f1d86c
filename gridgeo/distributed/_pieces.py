"""Pieces of a prepared workspace partitioned on Dask.

:func:`partition` draws the same kind of plan as :func:`gridgeo.partition`, but splits
the work into independent **pieces**: one per community (more exactly per community ×
dedicated zone: the groups that grids never mix); a community (or a study area without
communities) holding more than ``tile_grids`` grids' worth of households is cut into
**tiles of whole street blocks** by recursive bisection of the block centroids at the
weighted median. After the tiles are partitioned, the **seams are repaired**: grids left
out of the band where a tile edge cut a neighbourhood are redrawn together with their
neighbours across the seam (:func:`gridgeo.engine.recombine`, then
:func:`~gridgeo.engine.rebalance` and :func:`~gridgeo.engine.refine.smooth` over the
whole graph). Every piece is partitioned by :func:`gridgeo.engine.partition_graph` with
a generator seeded from ``random_state`` and the piece's key, so ``scheduler=None`` gives
the same labels. The preparation and the assembly run in the calling process; for every
stage on the workers see :func:`gridgeo.distributed.partition_tiles`.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Unpack

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from .._errors import InputError
from .._progress import step
from ..constraints import attach_orphans
from ..engine import Band, partition_graph, rebalance, recombine
from ..engine.refine import smooth
from ..engine.tree import within_groups
from ..inputs import PlanKeywords
from ..pipeline import Workspace, assemble, prepare
from ..plan import Plan
from ..rules import Rules
from ._client import _check_scheduler, _client

log = logging.getLogger(__name__)

#: Default size of a tile, in grids' worth of households.
TILE_GRIDS = 100


# ------------------------------------------------------------------------------ pieces


@dataclass(frozen=True)
class Piece:
    """One independent part of the unit graph, partitioned on its own.

    Attributes
    ----------
    key : str
        Stable name of the piece: its community and zone, and its tile path when the
        group was tiled (e.g. ``"3\\x1f-1|t0110"``). The piece's random generator is
        seeded from ``random_state`` and this key.
    nodes : ndarray of int64
        The units of the piece (indices into the workspace's units), ascending.
    tiled : bool
        Whether the piece is a tile of a larger group (its edges are seams to repair).
    """

    key: str
    nodes: np.ndarray
    tiled: bool = False


def _key_entropy(random_state: int, key: str) -> list[int]:
    """Seed material of a piece: the user's seed and a stable hash of the piece key."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return [int(random_state), *(int.from_bytes(digest[i : i + 4], "little") for i in (0, 4))]


def _tiles(
    nodes: np.ndarray, ws: Workspace, centroid: np.ndarray, tile_weight: float
) -> list[tuple[str, np.ndarray]]:
    """Cut a group's units into tiles of whole blocks, about ``tile_weight`` each.

    Recursive bisection of the block centroids along the longer side of their extent,
    at the weighted median; deterministic (ties broken by block id). Returns
    ``(path, nodes)`` pairs, ``path`` a string of 0/1 naming the tile.
    """
    unit_block = ws.units.block[nodes]
    blocks, inverse = np.unique(unit_block, return_inverse=True)
    block_w = np.bincount(inverse, weights=ws.weights[nodes], minlength=len(blocks))
    xy = centroid[blocks]
    out: list[tuple[str, np.ndarray]] = []
    stack: list[tuple[str, np.ndarray]] = [("", np.arange(len(blocks)))]
    while stack:
        path, members = stack.pop()
        total = block_w[members].sum()
        if total <= tile_weight or len(members) < 2:
            sel = np.isin(inverse, members)
            out.append((path, nodes[sel]))
            continue
        ext = xy[members].max(axis=0) - xy[members].min(axis=0)
        axis = int(np.argmax(ext))
        order = members[np.lexsort((blocks[members], xy[members, axis]))]
        cum = np.cumsum(block_w[order])
        cut = int(np.searchsorted(cum, total / 2))
        cut = min(max(cut + 1, 1), len(order) - 1)
        stack.append((path + "1", np.sort(order[cut:])))
        stack.append((path + "0", np.sort(order[:cut])))
    out.sort(key=lambda t: t[0])
    return out


def split_workspace(ws: Workspace, *, tile_grids: float | None = TILE_GRIDS) -> list[Piece]:
    """Split a workspace into independent pieces: communities, and tiles of large ones.

    Parameters
    ----------
    ws : Workspace
        From :func:`gridgeo.pipeline.prepare`.
    tile_grids : float or None, default 100
        A group (community × dedicated zone) holding more than this many grids' worth of
        households (``tile_grids × target``) is cut into tiles of whole blocks of about
        that size; ``None`` never cuts. Groups that become one grid by rule (dedicated
        zones, small villages) are never cut.

    Returns
    -------
    list of Piece
        In a fixed order: by group, then by tile path. Every unit is in one piece.

    Examples
    --------
    >>> import gridgeo
    >>> from gridgeo.pipeline import prepare
    >>> layers = gridgeo.read_osm(gridgeo.datasets.get_path("kouvola"))
    >>> ws = prepare(layers.streets, layers.buildings, target=300)
    >>> pieces = split_workspace(ws, tile_grids=4)
    >>> len(pieces) > 1, sum(len(p.nodes) for p in pieces) == len(ws.weights)
    (True, True)
    """
    if tile_grids is not None and not tile_grids > 0:
        msg = f"tile_grids must be a positive number of grids or None, got {tile_grids!r}"
        raise InputError(msg)
    n = len(ws.weights)
    groups = np.asarray(ws.groups)
    order = np.argsort(groups, kind="stable")
    bounds = np.searchsorted(groups[order], np.arange(groups.max() + 2 if n else 1))
    comm = pd.Series(ws.units.community).astype(str).to_numpy()
    zone = pd.Series(ws.zone).astype(str).to_numpy()
    centroid = None
    tile_weight = None if tile_grids is None else float(tile_grids) * ws.band.target
    pieces: list[Piece] = []
    for g in range(len(bounds) - 1):
        nodes = np.sort(order[bounds[g] : bounds[g + 1]])
        if len(nodes) == 0:
            continue
        key = f"{comm[nodes[0]]}\x1f{zone[nodes[0]]}"
        big = tile_weight is not None and ws.weights[nodes].sum() > tile_weight
        if not big or ws.whole[nodes].any():
            pieces.append(Piece(key, nodes))
            continue
        if centroid is None:
            pts = shapely.centroid(ws.blocks.geometry.to_numpy())
            centroid = np.column_stack([shapely.get_x(pts), shapely.get_y(pts)])
        for path, tile in _tiles(nodes, ws, centroid, tile_weight):
            pieces.append(Piece(f"{key}|t{path}", tile, tiled=True))
    return pieces


# ------------------------------------------------------------------------- partitioning


def _partition_piece(
    weights: np.ndarray,
    adjacency: sparse.csr_matrix,
    whole: np.ndarray,
    blocks: np.ndarray,
    band: Band,
    entropy: list[int],
    area: np.ndarray | None = None,
    perimeter: np.ndarray | None = None,
) -> np.ndarray:
    """Partition one piece (runs on a worker): local labels 0…k−1."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy))
    return partition_graph(
        weights,
        adjacency,
        band=band,
        whole=whole,
        blocks=blocks,
        random_state=rng,
        area=area,
        perimeter=perimeter,
    )


def _partition_batch(payloads: list[tuple]) -> list[np.ndarray]:
    """Partition several pieces in turn (one Dask task)."""
    return [_partition_piece(*p) for p in payloads]


def _batches(sizes: list[int], n: int) -> list[list[int]]:
    """Indices split into at most ``n`` contiguous batches of about equal total size."""
    if not sizes:
        return []
    n = max(1, min(n, len(sizes)))
    cum = np.cumsum(sizes)
    edges = np.searchsorted(cum, cum[-1] * np.arange(1, n) / n, side="left") + 1
    edges = np.unique(np.clip(edges, 1, len(sizes)))
    return [b.tolist() for b in np.split(np.arange(len(sizes)), edges) if len(b)]


def partition_workspace(
    ws: Workspace,
    *,
    random_state: int = 0,
    scheduler: Any = None,
    tile_grids: float | None = TILE_GRIDS,
    n_workers: int = 2,
) -> np.ndarray:
    """Label every unit of a workspace with its grid, piece by piece.

    Parameters
    ----------
    ws : Workspace
        From :func:`gridgeo.pipeline.prepare`.
    random_state : int, default 0
        Seed; each piece's generator is seeded from it and the piece's key.
    scheduler : None, "local", str or distributed.Client, default None
        Where pieces run: ``None`` in this process, one after another (the
        single-process run); ``"local"`` on a new ``LocalCluster`` of ``n_workers``
        processes; an address such as ``"tcp://10.0.0.5:8786"`` on that scheduler; or
        an existing ``distributed.Client``. The labels are the same whichever is used.
    tile_grids : float or None, default 100
        See :func:`split_workspace`.
    n_workers : int, default 2
        Workers of the ``LocalCluster`` for ``scheduler="local"``.

    Returns
    -------
    ndarray of int64
        Grid label of each unit, for :func:`gridgeo.pipeline.assemble`.
    """
    random_state = _check_seed(random_state)
    pieces = split_workspace(ws, tile_grids=tile_grids)
    adj = within_groups(ws.adjacency, np.asarray(ws.groups))
    area, perimeter = shapely.area(ws.units.geometry), shapely.length(ws.units.geometry)
    payloads = []
    for p in pieces:
        sub = adj[p.nodes][:, p.nodes].tocsr()
        payloads.append(
            (
                ws.weights[p.nodes],
                sub,
                ws.whole[p.nodes],
                ws.units.block[p.nodes],
                ws.band,
                _key_entropy(random_state, p.key),
                area[p.nodes],
                perimeter[p.nodes],
            )
        )
    n_tiles = sum(p.tiled for p in pieces)
    with (
        step(f"partitioning {len(pieces)} pieces ({n_tiles} tiles)"),
        _client(scheduler, n_workers) as client,
    ):
        if client is None:
            local = [_partition_piece(*p) for p in payloads]
        else:
            threads = max(1, sum(client.nthreads().values()))
            batches = _batches([len(p.nodes) for p in pieces], 4 * threads)
            futures = client.map(
                _partition_batch,
                [[payloads[i] for i in b] for b in batches],
                key=[f"gridgeo-pieces-{i}-{uuid.uuid4().hex}" for i in range(len(batches))],
                pure=False,
            )
            local = [labels for result in client.gather(futures) for labels in result]
    labels = np.full(len(ws.weights), -1, dtype=np.int64)
    offset = 0
    for p, lab in zip(pieces, local, strict=True):
        labels[p.nodes] = lab + offset
        offset += int(lab.max()) + 1 if len(lab) else 0
    if n_tiles:
        with step("repairing tile seams"):
            labels = _repair_seams(labels, ws, adj, random_state)
    return attach_orphans(
        labels, ws.weights, ws.full_adjacency, ws.adjacency, ws.groups, ws.units.community
    )


def _repair_seams(
    labels: np.ndarray, ws: Workspace, adj: sparse.csr_matrix, random_state: int
) -> np.ndarray:
    """Redraw grids left out of the band along tile edges, across the seams."""
    band = ws.band
    rng = np.random.default_rng(np.random.SeedSequence(_key_entropy(random_state, "seams")))
    extra = {}
    if "blocks" in inspect.signature(recombine).parameters:  # engine versions differ
        extra["blocks"] = ws.units.block
    before = _off_band_count(labels, ws.weights, band)
    labels = recombine(labels, ws.weights, adj, band=band, rng=rng, **extra)
    labels = rebalance(labels, ws.weights, adj, band=band)
    labels = smooth(labels, ws.weights, adj, ws.units.block, band=band)
    _, labels = np.unique(labels, return_inverse=True)
    log.info(
        "tile seams: %d grids out of the band before repair, %d after",
        before,
        _off_band_count(labels, ws.weights, band),
    )
    return labels.astype(np.int64)


def _off_band_count(labels: np.ndarray, weights: np.ndarray, band: Band) -> int:
    w = np.bincount(labels, weights=weights)[np.bincount(labels) > 0]  # grids in use
    return int(((w < band.lower - 1e-9) | (w > band.upper + 1e-9)).sum())


def _check_seed(random_state: Any) -> int:
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        msg = f"random_state must be a whole number (a seed), got {random_state!r}"
        raise InputError(msg)
    if random_state < 0:
        msg = f"random_state must be 0 or more, got {random_state}"
        raise InputError(msg)
    return int(random_state)


def partition(
    streets: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    scheduler: Any = "local",
    n_workers: int = 2,
    tile_grids: float | None = TILE_GRIDS,
    random_state: int = 0,
    codes: dict[str, Any] | None = None,
    rules: Rules | None = None,
    **keywords: Unpack[PlanKeywords],
) -> Plan:
    """Draw community grids with the partition spread over Dask workers.

    Parameters
    ----------
    streets, buildings
        As in :func:`gridgeo.partition`.
    scheduler : "local", str, distributed.Client or None, default "local"
        ``"local"``: a ``LocalCluster`` of ``n_workers`` processes started for this
        call; an address (``"tcp://host:8786"``): that scheduler; a ``Client``: its
        cluster; ``None``: no Dask, the same pieces in this process (the single-process
        run, which gives the same plan).
    n_workers : int, default 2
        Workers of the local cluster.
    tile_grids : float or None, default 100
        Communities (or a whole area without communities) larger than this many grids
        are cut into tiles of whole blocks (see :func:`split_workspace`).
    random_state : int, default 0
        Seed: the same input, seed and ``tile_grids`` give the same plan on any
        scheduler.
    codes : dict, optional
        Standard grid codes, as in :func:`gridgeo.partition`.
    rules, **keywords
        The planning rules and the layers they read, as in :func:`gridgeo.partition`.

    Returns
    -------
    Plan

    Notes
    -----
    The plan is not the one :func:`gridgeo.partition` draws with the same seed: that
    function partitions the whole graph with one generator, which cannot be split
    between workers. Both obey the same rules and invariants.
    """
    _check_scheduler(scheduler)
    ws = prepare(streets, buildings, rules=rules, **keywords)
    labels = partition_workspace(
        ws,
        random_state=random_state,
        scheduler=scheduler,
        tile_grids=tile_grids,
        n_workers=n_workers,
    )
    plan = assemble(ws, labels)
    if codes:
        from ..codes import assign_codes

        plan.grids.insert(1, "code", assign_codes(plan.grids, **codes).to_numpy())
    log.info(plan.describe())
    return plan


# ------------------------------------------------------------------------- comparing


def compare_plans(a: Plan, b: Plan) -> dict[str, Any]:
    """Compare two plans grid by grid; ``result["equal"]`` tells whether they match.

    Grids are compared by id, community, households and polygon (exact coordinates,
    after normalising ring order); buildings by the grid they are in.

    Returns
    -------
    dict
        ``equal``, ``grids`` (counts of both), ``same_grid_ids``, ``households_differ``
        (grids whose households differ), ``geometry_differ`` (grids whose polygons
        differ), ``buildings_moved`` (buildings in another grid), ``units_moved``.
    """
    ga, gb = a.grids, b.grids
    out: dict[str, Any] = {"grids": [len(ga), len(gb)]}
    same_ids = len(ga) == len(gb) and (ga["grid_id"].to_numpy() == gb["grid_id"].to_numpy()).all()
    out["same_grid_ids"] = bool(same_ids)
    if same_ids:
        out["households_differ"] = int(
            (ga["households"].to_numpy() != gb["households"].to_numpy()).sum()
            + (
                ga["community_id"].astype(str).to_numpy()
                != gb["community_id"].astype(str).to_numpy()
            ).sum()
        )
        geo_a = shapely.normalize(ga.geometry.to_numpy())
        geo_b = shapely.normalize(gb.geometry.to_numpy())
        out["geometry_differ"] = int((~shapely.equals_exact(geo_a, geo_b, tolerance=0)).sum())
    else:
        out["households_differ"] = out["geometry_differ"] = None
    if a.buildings is not None and b.buildings is not None and len(a.buildings) == len(b.buildings):
        out["buildings_moved"] = int(
            (a.buildings["grid_id"].to_numpy() != b.buildings["grid_id"].to_numpy()).sum()
        )
    else:
        out["buildings_moved"] = None if (a.buildings is None) == (b.buildings is None) else -1
    out["units_moved"] = (
        int((a.units["grid_id"].to_numpy() != b.units["grid_id"].to_numpy()).sum())
        if len(a.units) == len(b.units)
        else None
    )
    out["equal"] = bool(
        same_ids
        and out["households_differ"] == 0
        and out["geometry_differ"] == 0
        and out["buildings_moved"] in (0, None)
        and out["units_moved"] == 0
    )
    return out
