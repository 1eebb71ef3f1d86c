"""Redraw the grids of an existing plan that new household figures put out of band
(see :mod:`gridgeo.adjust` for the method)."""

from __future__ import annotations

import logging
import time
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._errors import InputError
from .._validate import POLYGONAL, check_column, check_fraction, check_layer, check_positive
from ..blocks import NON_CUTTING, assign_to_polygons
from ..constraints import BARRIER_STREETS, barrier_lines
from ..crs import metric_crs, to_metric
from ..engine import Band
from ..households import HouseholdOptions, building_households
from .regions import UnitStore, cut_edges, excess, grid_adjacency, solve
from .result import Rebalance, assemble

__all__ = ["plan_metric_crs", "rebalance"]

log = logging.getLogger(__name__)

#: Grid types exempt from the household band (they are kept as they are).
EXEMPT_TYPES = frozenset({"dedicated", "rural", "street_front"})


def rebalance(
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    *,
    streets: gpd.GeoDataFrame | None = None,
    barriers: gpd.GeoDataFrame | None = None,
    barrier_streets: frozenset[str] | set[str] = BARRIER_STREETS,
    households_column: str | None = None,
    grid_id: str | None = None,
    community_column: str | None = None,
    code_column: str | None = "code",
    target: float | None = None,
    tolerance: float = 0.1,
    band: tuple[float, float] | None = None,
    crs: Any = None,
    max_rings: int = 3,
    attempts: int = 4,
    random_state: int = 0,
    split_above: float | None = None,
    non_cutting: frozenset[str] | set[str] = NON_CUTTING,
    household_options: HouseholdOptions | None = None,
    codes: dict[str, Any] | None = None,
) -> Rebalance:
    """Redraw the grids of an existing plan that new household figures put out of band.

    Parameters
    ----------
    grids : GeoDataFrame
        The plan's grid polygons (any CRS): a gridgeo ``grids`` layer or a city's own.
    buildings : GeoDataFrame
        Building footprints (any CRS) with the new households.
    streets : GeoDataFrame, optional
        Street lines: new boundaries then follow streets where they can (街巷定界).
    barriers : GeoDataFrame, optional
        Hard barriers no redrawn grid may cross (railways, rivers, water: the
        ``barriers`` layer of :func:`gridgeo.read_osm`), as in :func:`gridgeo.partition`.
    barrier_streets : set of str, default none
        Street classes no redrawn grid may cross either.
    households_column : str, optional
        Column of ``buildings`` with households; default: estimated from footprints
        (see :func:`gridgeo.building_households`).
    grid_id : str, optional
        Id column of ``grids`` (default: ``grid_id`` when present, else the row index).
    community_column : str, optional
        Community of each grid (default: ``community_id`` when present, else one
        community); regions never cross communities.
    code_column : str or None, default "code"
        Column of existing grid codes, kept for the grids that remain.
    target, tolerance : float
        Households per grid and accepted relative deviation. Default target: the one
        the plan was drawn for (from its ``households`` and ``deviation`` columns), else
        300.
    band : (float, float), optional
        Accepted households per grid as a range; overrides ``target`` and ``tolerance``.
    crs : int, str or pyproj.CRS, optional
        Metric CRS to compute in; default: the grids' CRS when it is metric, else the
        CGCS2000 zone / UTM zone (see :func:`gridgeo.crs.metric_crs`).
    max_rings : int, default 3
        A region takes in grids at most this many rings of neighbours away from the
        grid out of band (and 16 grids at most).
    attempts : int, default 4
        Fresh partitions tried per region (besides adjusting the old grids in place).
    random_state : int, default 0
        Seed: the same input and seed give the same result.
    split_above : float, optional
        Blocks holding more households than this are cut into one piece per building
        (default: half the target, as :func:`gridgeo.partition`).
    non_cutting : set of str
        Street classes that do not cut blocks.
    household_options : HouseholdOptions, optional
        Defaults for estimating households from footprints.
    codes : dict, optional
        Options of :func:`gridgeo.codes.assign_codes` (``admin_code``, ``street_code``,
        ``community_codes``, ``scheme``, ``object_class``): every grid then gets a
        code; existing codes (``code_column``) are kept and new grids take free
        numbers. Without it, existing codes are carried over and new grids take free
        numbers under their community's prefix when there are existing codes.

    Returns
    -------
    Rebalance

    Raises
    ------
    InputError
        On unusable layers or options (with how to fix them).
    """
    t0 = time.perf_counter()
    grids = check_layer(grids, "grids", geom_types=POLYGONAL)
    buildings = check_layer(buildings, "buildings", geom_types=POLYGONAL)
    if households_column is not None:
        check_column(buildings, households_column, "buildings")
    band_ = _band(grids, target, tolerance, band)
    if max_rings < 0 or attempts < 0:
        raise InputError("max_rings and attempts must be 0 or more")
    ids = _grid_ids(grids, grid_id)
    comm_col = community_column or ("community_id" if "community_id" in grids.columns else None)
    if comm_col is not None:
        check_column(grids, comm_col, "grids")
    comm = grids[comm_col].to_numpy() if comm_col else np.zeros(len(grids), dtype=np.int64)
    metric = plan_metric_crs(grids, buildings, crs)
    grids_m = to_metric(grids, metric)
    buildings_m = to_metric(buildings, metric)
    streets_m = barriers_m = None
    if streets is not None:
        streets_m = to_metric(check_layer(streets, "streets"), metric)
    if barriers is not None and len(barriers):
        barriers_m = to_metric(check_layer(barriers, "barriers"), metric)
    lines = barrier_lines(streets_m, barriers_m, barrier_streets=barrier_streets)
    zone = None
    if len(lines):
        zone = shapely.buffer(shapely.union_all(lines), 1.0, cap_style="flat")
        shapely.prepare(zone)
    hh = building_households(
        buildings_m, column=households_column, options=household_options
    ).to_numpy(dtype=np.int64)

    # 1. buildings into the existing grids, new counts
    ggeom = grids_m.geometry.values
    bgeom = buildings_m.geometry.values
    bgrid = assign_to_polygons(bgeom, ggeom)
    outside = bgrid < 0
    if outside.any():
        bgrid[outside] = shapely.STRtree(ggeom).nearest(bgeom[outside])
        log.warning("%d buildings lie in no grid: each counted in the nearest", int(outside.sum()))
    n = len(grids)
    W = np.bincount(bgrid, weights=hh, minlength=n)
    heaviest = np.zeros(n)
    np.maximum.at(heaviest, bgrid, hh)
    exempt = _exempt(grids_m)
    free = ~exempt
    bad = np.flatnonzero(free & (excess(W, heaviest, band_) > 1e-9))
    log.info("%d of %d grids out of band %g–%g", len(bad), n, band_.lower, band_.upper)

    # 2. a region around each bad grid, grown ring by ring, cut into units on demand
    gadj = cut_edges(ggeom, grid_adjacency(ggeom, comm, free), zone)
    store = UnitStore(
        ggeom,
        bgeom,
        bgrid,
        hh,
        streets_m,
        split_above=band_.target / 2 if split_above is None else split_above,
        piece=(band_.upper - band_.lower) / 2,
        non_cutting=non_cutting,
        zone=zone,
    )
    labels, regions, widest = solve(
        store,
        gadj,
        bad,
        band=band_,
        max_rings=max_rings,
        attempts=attempts,
        seed=random_state,
    )
    units = store.units() if store.n_units else None
    unit_grid = store.grid
    new_bgrid = bgrid.copy()
    if store.n_units:
        new_bgrid[store.b_index] = labels[store.b_unit]
    result = assemble(
        grids_m,
        ids,
        comm,
        buildings_m,
        hh,
        bgrid,
        new_bgrid,
        units,
        unit_grid,
        labels,
        band_,
        exempt,
        code_column,
        codes,
    )
    f = result.figures
    f.update(
        {
            "out_of_band_before": len(bad),
            "exempt_grids": int(exempt.sum()),
            "buildings_outside": int(outside.sum()),
            "regions": regions,
            "rings": widest,
            "seconds": round(time.perf_counter() - t0, 3),
        }
    )
    if units is not None:
        result.units = gpd.GeoDataFrame(
            {"grid_before": ids[unit_grid], "households": units.households},
            geometry=units.geometry,
            crs=metric,
        )
    log.info(result.describe())
    return result


# --------------------------------------------------------------------------- inputs


def _band(grids, target, tolerance, band) -> Band:
    if band is not None:
        lo, hi = (check_positive(v, "band limit") for v in band)
        if lo >= hi:
            msg = f"band must be (lower, upper) with lower < upper, got {band!r}"
            raise InputError(msg)
        return Band((lo + hi) / 2, lo, hi)
    tolerance = check_fraction(tolerance, "tolerance")
    if target is None:
        target = _plan_target(grids) or 300.0
    return Band.around(check_positive(target, "target"), tolerance)


def _plan_target(grids: gpd.GeoDataFrame) -> float | None:
    """The target a gridgeo plan was drawn for: households ÷ (1 + deviation)."""
    if not {"households", "deviation"} <= set(grids.columns):
        return None
    hh = pd.to_numeric(grids["households"], errors="coerce").to_numpy(dtype=float)
    dev = pd.to_numeric(grids["deviation"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(hh) & np.isfinite(dev) & (hh > 0) & (dev > -1)
    return round(float(np.median(hh[ok] / (1 + dev[ok]))), 6) if ok.any() else None


def _grid_ids(grids: gpd.GeoDataFrame, column: str | None) -> np.ndarray:
    if column is None and "grid_id" in grids.columns:
        column = "grid_id"
    if column is None:
        return np.asarray([str(i) for i in grids.index], dtype=object)
    check_column(grids, column, "grids")
    ids = grids[column]
    if ids.isna().any() or ids.duplicated().any():
        dup = ids[ids.duplicated() | ids.isna()].iloc[0]
        msg = f"grids: id {dup!r} in column {column!r} is missing or repeated; grid ids must be unique (or pick another column with grid_id=)"
        raise InputError(msg)
    return ids.to_numpy(dtype=object)


def plan_metric_crs(grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, crs: Any = None):
    """``crs`` when given, else the grids' own CRS when it is in metres, else
    :func:`gridgeo.crs.metric_crs` of both layers (so a metric plan keeps its polygons)."""
    if crs is None and grids.crs.is_projected:
        unit = grids.crs.axis_info[0].unit_name if grids.crs.axis_info else ""
        if unit in ("metre", "meter"):
            return grids.crs
    return metric_crs([grids, buildings], crs=crs)


def _exempt(grids: gpd.GeoDataFrame) -> np.ndarray:
    """Grids kept whatever their households: dedicated, rural, constrained."""
    out = np.zeros(len(grids), dtype=bool)
    if "grid_type" in grids.columns:
        out |= grids["grid_type"].astype("string").fillna("").isin(list(EXEMPT_TYPES)).to_numpy()
    if "constrained" in grids.columns:
        out |= grids["constrained"].fillna(False).astype(bool).to_numpy()
    return out
