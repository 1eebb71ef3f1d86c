"""Redraw the grids of an existing plan that new household figures put out of band
(see :mod:`gridgeo.adjust` for the method)."""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any, NamedTuple, Unpack

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import csgraph

from .._errors import InputError
from .._validate import POLYGONAL, check_column, check_layer
from ..blocks import assign_to_polygons
from ..constraints import barrier_lines, dedicated_zones, rural_flags
from ..crs import plan_metric_crs, to_metric
from ..datum import check_datum
from ..engine import Band
from ..inputs import (
    Inputs,
    PlanKeywords,
    building_counts,
    check_inputs,
    check_overlap,
    classify_buildings,
    locked_mask,
    split_keywords,
)
from ..rules import Rules
from .regions import UnitStore, cut_edges, excess, grid_adjacency, solve
from .result import Rebalance, assemble

__all__ = ["rebalance"]

log = logging.getLogger(__name__)

#: Grid types exempt from the household band (they are kept as they are).
EXEMPT_TYPES = frozenset({"dedicated", "rural", "street_front"})


def rebalance(
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    *,
    streets: gpd.GeoDataFrame | None = None,
    rules: Rules | None = None,
    grid_id: str | None = None,
    community_column: str | None = None,
    code_column: str | None = "code",
    max_rings: int = 3,
    attempts: int = 4,
    random_state: int = 0,
    codes: dict[str, Any] | None = None,
    **keywords: Unpack[PlanKeywords],
) -> Rebalance:
    """Redraw the grids of an existing plan that new household figures put out of band.

    Every planning rule of :func:`gridgeo.partition` applies (:class:`gridgeo.rules.Rules`):
    households come from the same sources, the band and the weight balanced are the
    same, barriers are not crossed, grids of dedicated zones and villages under the
    rural rule are kept as they are.

    Parameters
    ----------
    grids : GeoDataFrame
        The plan's grid polygons (any CRS): a gridgeo ``grids`` layer or a city's own.
    buildings : GeoDataFrame
        Building footprints (any CRS) with the new households.
    streets : GeoDataFrame, optional
        Street lines: new boundaries then follow streets where they can (街巷定界).
    **keywords
        The layers the rules read (``barriers``, ``population``, ``boundaries``,
        ``dedicated``, ``pois``), as in :func:`gridgeo.partition`, and any field of
        :class:`gridgeo.rules.Rules`, replacing that field of ``rules``. A grid lying
        mostly in a ``dedicated`` zone,
        or in a rural community of ``boundaries`` (``rural_column``) holding no more
        than ``rural_cap`` households, is kept as it is; ``boundaries`` also give the
        grids their community when ``community_column`` is not given.
    rules : Rules, optional
        The planning rules; ``target`` defaults to the one the plan was drawn for
        (from its ``households`` and ``deviation`` columns), else 300; ``crs`` to the
        grids' CRS when it is metric.
    grid_id : str, optional
        Id column of ``grids`` (default: ``grid_id`` when present, else the row index).
    community_column : str, optional
        Community of each grid (default: ``community_id`` when present, else one
        community); regions never cross communities.
    code_column : str or None, default "code"
        Column of existing grid codes, kept for the grids that remain.
    max_rings : int, default 3
        A region takes in grids at most this many rings of neighbours away from the
        grid out of band (and 16 grids at most).
    attempts : int, default 4
        Fresh partitions tried per region (besides adjusting the old grids in place).
    random_state : int, default 0
        Seed: the same input and seed give the same result.
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
    grids, layers, rules = _checked_inputs(
        grids, buildings, streets, rules, keywords, max_rings=max_rings, attempts=attempts
    )
    band = _band(grids, rules)
    ids = _grid_ids(grids, grid_id)
    metric = plan_metric_crs(grids, layers.buildings, rules.crs)
    grids_m = to_metric(grids, metric)
    layers = classify_buildings(layers.to_metric(metric), rules)
    comm = _communities(grids_m, community_column, layers, rules)
    hh, weight = _building_counts(grids_m, layers, rules)
    zone = _barrier_zone(layers, rules)
    counted = _count_grids(grids_m, ids, layers, rules, comm, hh, weight, band)
    ggeom = grids_m.geometry.values
    gadj = cut_edges(ggeom, grid_adjacency(ggeom, comm, ~counted.exempt), zone)
    store = _unit_store(grids_m, layers, counted.bgrid, weight, band, rules, zone)
    labels, regions, widest = solve(
        store,
        gadj,
        counted.bad,
        band=band,
        max_rings=max_rings,
        attempts=attempts,
        seed=random_state,
    )
    balanced = weight if rules.weight is not None else None
    args = (grids_m, ids, comm, layers.buildings, hh, counted.bgrid, store, labels, band)
    land = csgraph.connected_components(gadj, directed=False)[1]
    result = assemble(
        *args, counted.exempt, code_column, codes, weight=balanced, locked=counted.locked, land=land
    )
    result.figures.update(_run_figures(counted, regions, widest, t0))
    if store.n_units:
        result.units = _units_layer(store, ids, hh, metric)
    log.info(result.describe())
    return result


class _Counted(NamedTuple):
    """Each building's grid; the grids locked, exempt, out of band under the new figures."""

    bgrid: np.ndarray
    outside: np.ndarray
    locked: np.ndarray
    exempt: np.ndarray
    bad: np.ndarray


def _checked_inputs(
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame | None,
    rules: Rules | None,
    keywords: dict[str, Any],
    *,
    max_rings: int,
    attempts: int,
) -> tuple[gpd.GeoDataFrame, Inputs, Rules]:
    """The checked grids, input layers and rules (``keywords`` replacing their fields)."""
    given, rule_keywords = split_keywords(keywords)
    rules = Rules.from_keywords(rules, **rule_keywords)
    if max_rings < 0 or attempts < 0:
        raise InputError("max_rings and attempts must be 0 or more")
    grids = check_layer(grids, "grids", geom_types=POLYGONAL)
    layers = check_inputs(
        streets, buildings, rules=rules, require_streets=False, plan_given=True, **given
    )
    check_overlap({"grids": grids, **layers.layers()})
    check_datum(grids, layers.buildings, name="grids")  # a city's grids over Gaode maps
    return grids, layers, rules


def _barrier_zone(layers: Inputs, rules: Rules) -> shapely.Geometry | None:
    """A prepared 1 m band around the barrier lines (None without barriers)."""
    lines = barrier_lines(layers.streets, layers.barriers, barrier_streets=rules.barrier_streets)
    zone = None
    if len(lines):
        zone = shapely.buffer(shapely.union_all(lines), 1.0, cap_style="flat")
        shapely.prepare(zone)
    return zone


def _count_grids(
    grids_m: gpd.GeoDataFrame,
    ids: np.ndarray,
    layers: Inputs,
    rules: Rules,
    comm: np.ndarray,
    hh: np.ndarray,
    weight: np.ndarray,
    band: Band,
) -> _Counted:
    """Buildings into the existing grids; the grids the new counts put out of band."""
    bgrid, outside = _buildings_in_grids(grids_m.geometry.values, layers.buildings.geometry.values)
    n = len(grids_m)
    W = np.bincount(bgrid, weights=weight, minlength=n)
    heaviest = np.zeros(n)
    np.maximum.at(heaviest, bgrid, weight)
    locked = locked_mask(grids_m, ids, rules)
    exempt = _exempt(grids_m, layers, rules, comm, np.bincount(bgrid, weights=hh, minlength=n))
    exempt |= locked
    bad = np.flatnonzero(~exempt & (excess(W, heaviest, band) > 1e-9))
    log.info("%d of %d grids out of band %g–%g", len(bad), n, band.lower, band.upper)
    return _Counted(bgrid, outside, locked, exempt, bad)


def _buildings_in_grids(ggeom: np.ndarray, bgeom: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The grid of each building (the nearest for one in none), and which lie in none."""
    bgrid = assign_to_polygons(bgeom, ggeom)
    outside = bgrid < 0
    if outside.any():
        bgrid[outside] = shapely.STRtree(ggeom).nearest(bgeom[outside])
        log.warning("%d buildings lie in no grid: each counted in the nearest", int(outside.sum()))
    return bgrid, outside


def _unit_store(
    grids_m: gpd.GeoDataFrame,
    layers: Inputs,
    bgrid: np.ndarray,
    weight: np.ndarray,
    band: Band,
    rules: Rules,
    zone: shapely.Geometry | None,
) -> UnitStore:
    """The store cutting the grids a region takes in into units, on demand."""
    return UnitStore(
        grids_m.geometry.values,
        layers.buildings.geometry.values,
        bgrid,
        weight,
        layers.streets,
        split_above=band.target / 2 if rules.split_above is None else rules.split_above,
        piece=(band.upper - band.lower) / 2,
        non_cutting=rules.non_cutting,
        zone=zone,
    )


def _run_figures(counted: _Counted, regions: int, widest: int, t0: float) -> dict[str, Any]:
    """Figures of the run itself: grids out of band, exempt, locked; regions, time."""
    return {
        "out_of_band_before": len(counted.bad),
        "exempt_grids": int(counted.exempt.sum()),
        "locked_grids": int(counted.locked.sum()),
        "buildings_outside": int(counted.outside.sum()),
        "regions": regions,
        "rings": widest,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _units_layer(
    store: UnitStore, ids: np.ndarray, hh: np.ndarray, metric: Any
) -> gpd.GeoDataFrame:
    """The units the grids were cut into, with their grid before and households."""
    unit_hh = np.bincount(store.b_unit, weights=hh[store.b_index], minlength=store.n_units)
    return gpd.GeoDataFrame(
        {"grid_before": ids[store.grid], "households": unit_hh.astype(np.int64)},
        geometry=store.units().geometry,
        crs=metric,
    )


def _building_counts(grids_m, layers: Inputs, rules: Rules) -> tuple[np.ndarray, np.ndarray]:
    """Households of every building under the rules (any source partition takes),
    and the weight balanced (households unless a weight rule is given)."""
    area = shapely.union_all(grids_m.geometry.values) if layers.population is not None else None
    boundary = partial(_boundary_of, layers.buildings.geometry.values, layers.boundaries, rules)
    return building_counts(layers, rules, study_area=area, community=boundary)


# --------------------------------------------------------------------------- inputs


def _band(grids: gpd.GeoDataFrame, rules: Rules) -> Band:
    """The rules' band; without a target, the plan's own (else 300)."""
    if rules.band is None and rules.target is None:
        return rules.grid_band(default_target=_plan_target(grids) or 300.0)
    return rules.grid_band()


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


def _exempt(grids: gpd.GeoDataFrame, layers: Inputs, rules: Rules, comm, households) -> np.ndarray:
    """Grids kept whatever their households: dedicated, rural, constrained (by their
    ``grid_type`` / ``constrained`` columns), lying mostly in a dedicated zone, or in a
    rural community under the rural rule."""
    out = np.zeros(len(grids), dtype=bool)
    if "grid_type" in grids.columns:
        out |= grids["grid_type"].astype("string").fillna("").isin(list(EXEMPT_TYPES)).to_numpy()
    if "constrained" in grids.columns:
        out |= grids["constrained"].fillna(False).astype(bool).to_numpy()
    geoms = grids.geometry.values
    if layers.dedicated is not None:
        kinds = rules.dedicated_kinds if "value" in layers.dedicated.columns else None
        zones = dedicated_zones(layers.dedicated, kinds=kinds, min_area=rules.min_zone_area)
        if len(zones):
            land = shapely.union_all(zones.geometry.values)
            out |= shapely.area(shapely.intersection(geoms, land)) > 0.5 * shapely.area(geoms)
    if rules.rural_column is not None:
        bounds = layers.boundaries
        ids = bounds[rules.boundary_id] if rules.boundary_id else pd.Series(bounds.index)
        rural_ids = set(ids.to_numpy()[rural_flags(bounds, rules.rural_column)])
        community = _boundary_of(geoms, bounds, rules)
        comm_hh = pd.Series(households).groupby(comm).transform("sum").to_numpy()
        out |= pd.Series(community).isin(rural_ids).to_numpy() & (comm_hh <= rules.rural_cap)
    return out


def _communities(grids_m, column: str | None, layers: Inputs, rules: Rules) -> np.ndarray:
    """The community of every grid: ``column``, else ``community_id``, else the
    boundary holding it, else one community for all."""
    column = column or ("community_id" if "community_id" in grids_m.columns else None)
    if column is not None:
        check_column(grids_m, column, "grids")
        return grids_m[column].to_numpy()
    if layers.boundaries is not None:
        return _boundary_of(grids_m.geometry.values, layers.boundaries, rules)
    return np.zeros(len(grids_m), dtype=np.int64)


def _boundary_of(geoms: np.ndarray, boundaries: gpd.GeoDataFrame, rules: Rules) -> np.ndarray:
    """The id of the community boundary holding most of each geometry (the nearest
    when none does)."""
    ids = boundaries[rules.boundary_id] if rules.boundary_id else pd.Series(boundaries.index)
    at = assign_to_polygons(geoms, boundaries.geometry.values, nearest=True)
    return ids.to_numpy()[at]
