"""The last stage of a partition: units dissolved into grids with their figures.

:func:`assemble` turns a :class:`~gridgeo.workspace.Workspace` and one grid label per
unit into a :class:`~gridgeo.Plan`: grid polygons numbered in reading order
(:func:`reading_order`), households and buildings per grid, grid types, and the flags
that explain a grid outside the band.
"""

from __future__ import annotations

import logging
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import csgraph

from ._progress import step
from .engine.tree import within_groups
from .metrics import boundary_on_streets
from .plan import Plan, dissolve_units
from .workspace import Workspace

__all__ = ["assemble", "reading_order"]

log = logging.getLogger(__name__)


def assemble(ws: Workspace, labels: np.ndarray) -> Plan:
    """Dissolve units into grids by ``labels`` (one per unit) and attach the figures."""
    with step("dissolving grids"):
        grids, unit_grid = _grids(ws, labels)
        buildings = _count_buildings(ws, grids, unit_grid)
        _flag_out_of_band(ws, grids, unit_grid)
        units = gpd.GeoDataFrame(
            {
                "block_id": ws.units.block,
                "community_id": ws.units.community,
                "households": ws.units.households,
                "grid_id": grids["grid_id"].to_numpy()[unit_grid],
            },
            geometry=ws.units.geometry,
            crs=ws.crs,
        )
    multi = grids.geom_type != "Polygon"
    if multi.any():
        log.warning(
            "%d grids are not a single polygon: %s",
            int(multi.sum()),
            ", ".join(grids.grid_id[multi][:5]),
        )
    return Plan(
        grids=grids,
        buildings=buildings,
        units=units,
        blocks=ws.blocks,
        target=ws.target,
        tolerance=ws.tolerance,
        study_area=ws.area,
        boundary_on_streets=boundary_on_streets(unit_grid, ws.units.block, ws.adjacency),
        seconds=time.perf_counter() - ws.started,
    )


def _grids(ws: Workspace, labels: np.ndarray) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Grid polygons with community, households, type (and zone, weight), numbered in
    reading order (``grid_id``); and the grid row of every unit."""
    units = ws.units
    grid_label, grid_geom = dissolve_units(units.geometry, labels)
    grid_hh = np.bincount(labels, weights=units.households, minlength=len(grid_label))
    community_of = pd.Series(units.community).groupby(labels).first().to_numpy()
    grids = gpd.GeoDataFrame(
        {"community_id": community_of, "households": grid_hh.astype(np.int64)[grid_label]},
        geometry=grid_geom,
        crs=ws.crs,
    )
    by_grid = pd.DataFrame({"zone": ws.zone, "rural": ws.rural}).groupby(labels)
    zone = by_grid["zone"].max().to_numpy()
    grids["grid_type"] = np.where(
        zone >= 0, "dedicated", np.where(by_grid["rural"].any(), "rural", "basic")
    )
    if ws.zones is not None and len(ws.zones):
        info = ws.zones.set_index("zone_id")
        grids["zone_kind"] = np.where(zone >= 0, info["kind"].reindex(zone).to_numpy(), None)
        grids["zone_name"] = np.where(zone >= 0, info["name"].reindex(zone).to_numpy(), None)
    if ws.weight_expression is not None:
        grids["weight"] = np.bincount(labels, weights=ws.weights)[grid_label]
    lock = None
    if ws.lock is not None and (ws.lock >= 0).any():
        lock = pd.Series(ws.lock).groupby(labels).max().to_numpy()
        grids = _keep_locked(grids, lock, ws.locked)
    order = np.argsort(reading_order(grids), kind="stable")
    grids = grids.iloc[order].reset_index(drop=True)
    old_to_new = np.empty(len(order), dtype=np.int64)
    old_to_new[order] = np.arange(len(order))
    grids.insert(0, "grid_id", _grid_ids(grids, None if lock is None else lock[order], ws.locked))
    return grids, old_to_new[np.searchsorted(grid_label, labels)]


def _keep_locked(grids: gpd.GeoDataFrame, lock: np.ndarray, locked: gpd.GeoDataFrame):
    """Locked grids take back their very polygon and their code; ``locked`` says which."""
    mine = lock >= 0
    geoms = grids.geometry.to_numpy().copy()
    geoms[mine] = locked.geometry.to_numpy()[lock[mine]]
    grids = grids.set_geometry(gpd.GeoSeries(geoms, index=grids.index, crs=grids.crs))
    grids["locked"] = mine
    if "code" in locked.columns:
        grids["code"] = np.where(mine, locked["code"].to_numpy(dtype=object)[lock], None)
    return grids


def _grid_ids(grids: gpd.GeoDataFrame, lock: np.ndarray | None, locked) -> list[str]:
    """``G0001``, ``G0002`` … in reading order; a locked grid keeps its id and the
    numbers skip the ids locked grids hold."""
    width = max(4, len(str(len(grids))))
    if lock is None:
        return [f"G{i + 1:0{width}d}" for i in range(len(grids))]
    kept = locked["grid_id"].to_numpy(dtype=object)
    taken = set(kept)
    fresh = (f"G{i:0{width}d}" for i in range(1, 10 * len(grids) + len(taken) + 2))
    fresh = (g for g in fresh if g not in taken)
    return [kept[k] if k >= 0 else next(fresh) for k in lock]


def _count_buildings(ws: Workspace, grids: gpd.GeoDataFrame, unit_grid: np.ndarray):
    """Buildings with their grid, block and households; sets ``buildings``,
    ``area_m2`` and ``deviation`` of the grids."""
    buildings = ws.buildings
    if buildings is not None:
        bgrid = unit_grid[ws.units.building_unit]
        buildings = buildings.assign(
            grid_id=grids["grid_id"].to_numpy()[bgrid],
            block_id=ws.building_block,
            households=ws.building_households.astype(np.int64),
        )
        grids["buildings"] = np.bincount(bgrid, minlength=len(grids))
    else:
        grids["buildings"] = 0
    grids["area_m2"] = grids.area
    grids["deviation"] = grids["households"] / ws.target - 1
    return buildings


def _flag_out_of_band(ws: Workspace, grids: gpd.GeoDataFrame, unit_grid: np.ndarray) -> None:
    """Why a grid may lie outside the band: ``indivisible`` (one building, or unit,
    alone exceeds it), ``constrained`` (its land, cut off by barriers or community
    lines, holds a weight no number of grids can share inside the band),
    ``across_barrier`` (it holds households on both sides of a barrier)."""
    band = ws.band
    heaviest = np.zeros(len(grids))
    if ws.buildings is not None:
        np.maximum.at(heaviest, unit_grid[ws.units.building_unit], ws.building_households)
    else:
        np.maximum.at(heaviest, unit_grid, ws.units.households)
    grids["indivisible"] = heaviest > band.upper
    _, comp = csgraph.connected_components(within_groups(ws.adjacency, ws.groups), directed=False)
    comp_w = np.bincount(comp, weights=ws.weights)
    k = np.array([band.parts_for(x) if x > 0 else 1 for x in comp_w])
    stuck = (comp_w > 0) & ((comp_w / k < band.lower - 1e-9) | (comp_w / k > band.upper + 1e-9))
    stuck_grid = np.zeros(len(grids), dtype=bool)
    np.logical_or.at(stuck_grid, unit_grid, stuck[comp])
    weight = grids["weight"].to_numpy() if "weight" in grids else grids["households"].to_numpy()
    off = (weight < band.lower - 1e-9) | (weight > band.upper + 1e-9)
    grids["constrained"] = stuck_grid & off & ~grids["indivisible"].to_numpy()
    loaded = np.unique(np.c_[unit_grid, comp][ws.weights > 0], axis=0)
    grids["across_barrier"] = np.bincount(loaded[:, 0], minlength=len(grids)) > 1


def reading_order(grids: gpd.GeoDataFrame) -> np.ndarray:
    """Rank of each grid: by community, then north→south rows, west→east within a row.

    Rows are bands as high as a typical grid (square root of the median area), so the
    numbering reads like a page, as grid codes do (DB11/T 2157: west→east, north→south).
    """
    if len(grids) == 0:
        return np.array([], dtype=np.int64)
    geoms = grids.geometry.values
    empty = shapely.is_empty(geoms) | shapely.is_missing(geoms)
    pts = shapely.point_on_surface(np.where(empty, shapely.Point(0, 0), geoms))
    x = np.where(empty, np.inf, shapely.get_x(pts))  # an empty grid is numbered last
    y = np.where(empty, -np.inf, shapely.get_y(pts))
    row_h = max(np.sqrt(np.median(grids.area)), 1.0)
    top = y[~empty].max() if (~empty).any() else 0.0
    row = np.where(empty, np.inf, np.floor((top - y) / row_h))
    comm = pd.factorize(grids["community_id"], sort=True)[0]
    order = np.lexsort((x, row, comm))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank
