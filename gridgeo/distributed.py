"""Scale-out on Dask: a district or a whole city partitioned piece by piece.

:func:`partition` draws the same kind of plan as :func:`gridgeo.partition`, but splits
the work into independent **pieces** that run on ``dask.distributed`` workers (a
``LocalCluster`` by default, or any scheduler given by its address):

- one piece per community (more exactly per community × dedicated zone: the groups that
  grids never mix);
- a community (or a study area without communities) holding more than ``tile_grids``
  grids' worth of households is cut into **tiles of whole street blocks** by recursive
  bisection of the block centroids at the weighted median, so tiles hold about equal
  households and their edges follow streets. After the tiles are partitioned, the
  **seams are repaired**: grids left out of the band where a tile edge cut a
  neighbourhood are redrawn together with their neighbours across the seam
  (:func:`gridgeo.engine.recombine`, then :func:`~gridgeo.engine.rebalance` and
  :func:`~gridgeo.engine.refine.smooth` over the whole graph).

Every piece is partitioned by :func:`gridgeo.engine.partition_graph` with a generator
seeded from ``random_state`` and the piece's own key (its community, zone and tile), so
what a piece gets does not depend on which worker runs it, in which order, or how pieces
are batched. ``scheduler=None`` runs the very same pieces one after another in this
process: **the plan on Dask equals the single-process plan**, grid by grid.

The preparation (reprojection, street blocks, households, units: one geometric pass
over the whole area) and the assembly run in the calling process; only the partition,
the costly graph search, runs on the workers.

:func:`audit` runs :func:`gridgeo.audit.audit` with its per-building spatial joins (the
share of each building in each grid, and in overlaps) on dask-geopandas: the buildings
become a spatially shuffled (Hilbert-ordered) dask-geopandas frame whose partitions are
joined with the grids on the workers. The result equals the single-process audit.

Needs the optional dependencies ``dask[distributed]`` and ``dask-geopandas``.
"""

from __future__ import annotations

import contextvars
import hashlib
import inspect
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Unpack

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from ._errors import InputError
from ._progress import step
from .constraints import attach_orphans
from .engine import Band, partition_graph, rebalance, recombine
from .engine.refine import smooth
from .engine.tree import within_groups
from .inputs import PlanKeywords
from .pipeline import Workspace, assemble, prepare
from .plan import Plan
from .rules import Rules

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

    from .audit import Audit

__all__ = [
    "Piece",
    "audit",
    "compare_plans",
    "local_client",
    "partition",
    "partition_workspace",
    "split_workspace",
]

log = logging.getLogger(__name__)

#: Default size of a tile, in grids' worth of households.
TILE_GRIDS = 100

_INSTALL_HINT = (
    "gridgeo.distributed needs dask: pip install 'dask[distributed]' dask-geopandas "
    "(or the gridgeo extra: pip install 'gridgeo[dask]')"
)


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
        from .codes import assign_codes

        plan.grids.insert(1, "code", assign_codes(plan.grids, **codes).to_numpy())
    log.info(plan.describe())
    return plan


# --------------------------------------------------------------------------- clients


def _require_dask() -> None:
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(_INSTALL_HINT) from err


def _check_scheduler(scheduler: Any) -> None:
    """Raise early for a ``scheduler`` that is none of the accepted kinds."""
    if scheduler is None or (isinstance(scheduler, str) and scheduler):
        return
    if hasattr(scheduler, "scheduler_address"):  # a cluster
        return
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - depends on the environment
        Client = ()  # noqa: N806 - nothing is a Client without distributed
    if isinstance(scheduler, Client):
        return
    msg = f"scheduler must be 'local', a scheduler address, a distributed.Client or None, got {scheduler!r}"
    raise InputError(msg)


@contextmanager
def local_client(n_workers: int = 2) -> Iterator[Client]:
    """A ``distributed.Client`` on a new ``LocalCluster`` of ``n_workers`` processes
    (one thread each, everything on 127.0.0.1), both closed afterwards."""
    if not isinstance(n_workers, int) or n_workers < 1:
        msg = f"n_workers must be 1 or more, got {n_workers!r}"
        raise InputError(msg)
    _require_dask()
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",  # HTTP routes on loopback only
            worker_dashboard_address="127.0.0.1:0",
            host="127.0.0.1",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@contextmanager
def _client(scheduler: Any, n_workers: int) -> Iterator[Client | None]:
    """A ``distributed.Client`` for ``scheduler`` (None: no Dask), closed afterwards
    when made here."""
    _check_scheduler(scheduler)
    if scheduler is None:
        yield None
        return
    _require_dask()
    from distributed import Client

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if hasattr(scheduler, "scheduler_address"):  # a cluster object
        with Client(scheduler) as client:
            yield client
        return
    if scheduler == "local":
        with local_client(n_workers) as client:
            yield client
        return
    # what _check_scheduler leaves: a scheduler address
    try:
        client = Client(scheduler, timeout="30s")
    except OSError as err:
        msg = f"cannot reach the Dask scheduler at {scheduler!r}: {err}; check the address (tcp://host:8786) and that the scheduler runs"
        raise InputError(msg) from None
    with client:
        yield client


# ------------------------------------------------------------------------------ audit

_RUNNER: contextvars.ContextVar[_DaskJoins | None] = contextvars.ContextVar(
    "gridgeo_dask_joins", default=None
)
_ORIGINALS: dict[str, Callable[..., Any]] = {}
_INSTALL_LOCK = threading.Lock()
_DISPATCHED = ("_building_cover", "_share_in")


def _original(name: str) -> Callable[..., Any]:
    """The audit's own function ``name`` (never the dispatcher installed below)."""
    from . import audit as audit_mod

    return _ORIGINALS.get(name) or getattr(audit_mod, name)


def _install_dispatch() -> None:
    """Route the audit's per-building joins through Dask while a runner is active.

    :func:`gridgeo.audit.audit` has no hook for its joins; this replaces the two private
    per-building functions by dispatchers that call the original unless
    :func:`audit` set a runner in the current context (so other threads and plain
    audits are untouched). Installed once, on first use.
    """
    from . import audit as audit_mod

    with _INSTALL_LOCK:
        for name in _DISPATCHED:
            if name in _ORIGINALS:
                continue
            original = getattr(audit_mod, name)
            _ORIGINALS[name] = original

            def dispatch(*args: Any, _name: str = name, _orig: Callable = original) -> Any:
                runner = _RUNNER.get()
                if runner is None:
                    return _orig(*args)
                return runner.run(_name, *args)

            dispatch.__name__ = name
            dispatch.__doc__ = original.__doc__
            setattr(audit_mod, name, dispatch)


def _cover_part(
    part: gpd.GeoDataFrame, grid_geom: np.ndarray, pair_polys: np.ndarray, split_share: float
) -> pd.DataFrame:
    """Per-building cover of one partition of buildings (runs on a worker).

    Only grids whose envelope meets the partition's envelope are joined; their order is
    kept, so every sum runs in the same order as in the whole-area computation and the
    figures are identical.
    """
    geoms = part.geometry.to_numpy()
    rows = part["row"].to_numpy()
    if len(geoms) == 0:
        return _cover_frame(rows, None)
    box = shapely.box(*shapely.total_bounds(geoms))
    sel = np.sort(shapely.STRtree(grid_geom).query(box))
    cov = _original("_building_cover")(geoms, grid_geom[sel], pair_polys, split_share)
    largest = cov["largest"]
    cov["largest"] = np.where(largest >= 0, sel[np.maximum(largest, 0)], -1)
    return _cover_frame(rows, cov)


def _share_part(part: gpd.GeoDataFrame, polys: np.ndarray) -> pd.DataFrame:
    """Share of each building of one partition inside ``polys`` (runs on a worker)."""
    share = _original("_share_in")(part.geometry.to_numpy(), polys)
    return pd.DataFrame({"row": part["row"].to_numpy(), "share": share}, index=part.index)


_COVER_COLUMNS = {
    "largest": "int64",
    "share": "float64",
    "covered": "float64",
    "n_grids": "int64",
    "split": "bool",
    "uncovered": "bool",
}


def _cover_frame(rows: np.ndarray, cov: dict[str, np.ndarray] | None) -> pd.DataFrame:
    data: dict[str, Any] = {"row": np.asarray(rows, dtype=np.int64)}
    for col, dtype in _COVER_COLUMNS.items():
        data[col] = (
            np.asarray(cov[col]).astype(dtype) if cov is not None else np.empty(0, dtype=dtype)
        )
    return pd.DataFrame(data)


class _DaskJoins:
    """Runs the audit's per-building joins on dask-geopandas partitions of buildings."""

    def __init__(self, client: Client, npartitions: int | None) -> None:
        self.client = client
        threads = max(1, sum(client.nthreads().values()))
        self.npartitions = npartitions or 2 * threads

    def _frame(self, geoms: np.ndarray):
        import dask_geopandas

        gdf = gpd.GeoDataFrame(
            {"row": np.arange(len(geoms), dtype=np.int64)}, geometry=gpd.GeoSeries(geoms)
        )
        k = max(1, min(self.npartitions, len(gdf)))
        ddf = dask_geopandas.from_geopandas(gdf, npartitions=k)
        if k > 1:  # spatially compact partitions: each meets few grids
            ddf = ddf.spatial_shuffle(by="hilbert", npartitions=k)
        return ddf

    def run(self, name: str, *args: Any) -> Any:
        if name == "_building_cover":
            return self.building_cover(*args)
        return self.share_in(*args)

    def building_cover(
        self, bgeom: np.ndarray, grid_geom: np.ndarray, pair_polys: np.ndarray, split: float
    ) -> dict[str, np.ndarray]:
        if len(bgeom) == 0:
            return _original("_building_cover")(bgeom, grid_geom, pair_polys, split)
        ddf = self._frame(bgeom)
        [grids_f, pairs_f] = self.client.scatter(
            [np.asarray(grid_geom), np.asarray(pair_polys)], broadcast=True
        )
        meta = _cover_frame(np.empty(0, dtype=np.int64), None)
        out = ddf.map_partitions(
            _cover_part, grids_f, pairs_f, float(split), meta=meta, align_dataframes=False
        )
        df = self.client.compute(out).result().sort_values("row")
        return {col: df[col].to_numpy() for col in _COVER_COLUMNS}

    def share_in(self, geoms: np.ndarray, polys: np.ndarray) -> np.ndarray:
        if len(polys) == 0 or len(geoms) == 0:
            return _original("_share_in")(geoms, polys)
        ddf = self._frame(geoms)
        [polys_f] = self.client.scatter([np.asarray(polys)], broadcast=True)
        meta = pd.DataFrame({"row": np.empty(0, np.int64), "share": np.empty(0, float)})
        out = ddf.map_partitions(_share_part, polys_f, meta=meta, align_dataframes=False)
        df = self.client.compute(out).result().sort_values("row")
        return df["share"].to_numpy()


def audit(
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame | None = None,
    *,
    scheduler: Any = "local",
    n_workers: int = 2,
    npartitions: int | None = None,
    **options: Any,
) -> Audit:
    """Coverage audit with the per-building spatial joins on dask-geopandas.

    Parameters
    ----------
    grids, buildings, streets
        As in :func:`gridgeo.audit.audit`.
    scheduler : "local", str, distributed.Client or None, default "local"
        As in :func:`partition`; ``None`` runs the plain single-process audit.
    n_workers : int, default 2
        Workers of the local cluster.
    npartitions : int, optional
        Partitions of the buildings (default: twice the worker threads).
    **options
        Every keyword option of :func:`gridgeo.audit.audit`.

    Returns
    -------
    Audit
        Equal to the single-process audit's findings and figures (but ``seconds``).
    """
    from .audit import audit as plain_audit

    if npartitions is not None and (not isinstance(npartitions, int) or npartitions < 1):
        msg = f"npartitions must be a whole number, 1 or more, got {npartitions!r}"
        raise InputError(msg)
    with _client(scheduler, n_workers) as client:
        if client is None:
            return plain_audit(grids, buildings, streets, **options)
        try:
            import dask_geopandas  # noqa: F401
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(_INSTALL_HINT) from err
        _install_dispatch()
        token = _RUNNER.set(_DaskJoins(client, npartitions))
        try:
            # looked up at call time: the module's functions are the dispatchers now
            from . import audit as audit_mod

            return audit_mod.audit(grids, buildings, streets, **options)
        finally:
            _RUNNER.reset(token)


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
