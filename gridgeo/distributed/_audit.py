"""The coverage audit with its per-building joins on dask-geopandas."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._errors import InputError
from ._client import _INSTALL_HINT, DaskMissingError, _client

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

    from ..audit import Audit

# ------------------------------------------------------------------------------ audit

_RUNNER: contextvars.ContextVar[_DaskJoins | None] = contextvars.ContextVar(
    "gridgeo_dask_joins", default=None
)
_ORIGINALS: dict[str, Callable[..., Any]] = {}
_INSTALL_LOCK = threading.Lock()
_DISPATCHED = ("_building_cover", "_share_in")


def _original(name: str) -> Callable[..., Any]:
    """The audit's own function ``name`` (never the dispatcher installed below)."""
    from .. import audit as audit_mod

    return _ORIGINALS.get(name) or getattr(audit_mod, name)


def _install_dispatch() -> None:
    """Route the audit's per-building joins through Dask while a runner is active.

    :func:`gridgeo.audit.audit` has no hook for its joins; this replaces the two private
    per-building functions by dispatchers that call the original unless
    :func:`audit` set a runner in the current context (so other threads and plain
    audits are untouched). Installed once, on first use.
    """
    from .. import audit as audit_mod

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
    from ..audit import audit as plain_audit

    if npartitions is not None and (not isinstance(npartitions, int) or npartitions < 1):
        msg = f"npartitions must be a whole number, 1 or more, got {npartitions!r}"
        raise InputError(msg)
    with _client(scheduler, n_workers) as client:
        if client is None:
            return plain_audit(grids, buildings, streets, **options)
        try:
            import dask_geopandas  # noqa: F401
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise DaskMissingError(_INSTALL_HINT) from err
        _install_dispatch()
        token = _RUNNER.set(_DaskJoins(client, npartitions))
        try:
            # looked up at call time: the module's functions are the dispatchers now
            from .. import audit as audit_mod

            return audit_mod.audit(grids, buildings, streets, **options)
        finally:
            _RUNNER.reset(token)
