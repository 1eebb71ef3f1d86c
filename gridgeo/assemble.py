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
from scipy import sparse
from scipy.sparse import csgraph

from ._progress import step
from .astride import carve_astride
from .engine.tree import within_groups
from .metrics import boundary_on_streets
from .plan import Plan, dissolve_units
from .reasons import first_reason
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
    multi = grids["parts"].to_numpy() > 1
    if multi.any():
        log.info(
            "%d grids lie in several parts (they took in exclaves of their community): %s",
            int(multi.sum()),
            ", ".join(grids.grid_id[multi][:5]),
        )
    unexplained = grids["reason"].isna().to_numpy() & _off_band(ws, grids)
    if unexplained.any():
        log.warning(
            "%d grids lie outside the band with no reason: %s",
            int(unexplained.sum()),
            ", ".join(grids.grid_id[unexplained][:5]),
        )
    plan = Plan(
        grids=grids,
        buildings=buildings,
        units=units,
        blocks=ws.blocks,
        target=ws.target,
        tolerance=ws.tolerance,
        study_area=ws.area,
        boundary_on_streets=boundary_on_streets(unit_grid, ws.units.block, ws.adjacency),
        seconds=time.perf_counter() - ws.started,
        notes=_notes(ws, unit_grid),
    )
    return plan


def _grids(ws: Workspace, labels: np.ndarray) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Grid polygons with community, households, type (and zone, weight), numbered in
    reading order (``grid_id``); and the grid row of every unit."""
    units = ws.units
    grid_label, grid_geom = _dissolve(ws, labels)
    grid_hh = np.bincount(labels, weights=units.households, minlength=len(grid_label))
    community_of = pd.Series(units.community).groupby(labels).first().to_numpy()
    if ws.buildings is not None:
        lock = ws.lock if ws.lock is not None else np.full(len(labels), -1)
        grid_geom, _ = carve_astride(
            grid_geom,
            ws.buildings.geometry.values,
            np.searchsorted(grid_label, labels[units.building_unit]),
            community=community_of,
            fixed=pd.Series(lock).groupby(labels).max().to_numpy() >= 0,
        )
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


def _dissolve(ws: Workspace, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`gridgeo.plan.dissolve_units`, part by part where a grid's units are in
    several parts (an exclave joined to a grid of its community): a MultiPolygon."""
    coo = ws.full_adjacency.tocoo()
    same = labels[coo.row] == labels[coo.col]
    inner = sparse.coo_matrix(
        (np.ones(int(same.sum())), (coo.row[same], coo.col[same])), shape=ws.full_adjacency.shape
    )
    _, part = csgraph.connected_components(inner, directed=False)
    per_grid = pd.Series(part).groupby(labels).nunique()
    if (per_grid <= 1).all():
        return dissolve_units(ws.units.geometry, labels)
    part_ids, polys = dissolve_units(ws.units.geometry, part)
    part_label = pd.Series(labels).groupby(part).first().reindex(part_ids).to_numpy()
    grid_label = np.unique(labels)
    pieces, of = shapely.get_parts(polys, return_index=True)
    index = np.searchsorted(grid_label, part_label[of])
    order = np.argsort(index, kind="stable")
    geoms = shapely.multipolygons(pieces[order], indices=index[order])
    single = shapely.get_num_geometries(geoms) == 1
    geoms[single] = shapely.get_geometry(geoms[single], 0)
    return grid_label, geoms


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
    """Why a grid may lie outside the band: ``indivisible`` (one building alone exceeds
    it and the rest of the grid could not be a grid of its own), ``constrained`` (its
    land — a community, or a piece of one cut off by barriers — holds a weight no
    number of grids can share inside the band), ``across_barrier`` (it holds households
    on both sides of a barrier), ``parts`` (polygons: more than one when it took in an
    exclave of its community) and ``reason``: for every grid outside the band, the
    first of :data:`gridgeo.reasons.REASONS` that holds (None when none does)."""
    band = ws.band
    weight = grids["weight"].to_numpy() if "weight" in grids else grids["households"].to_numpy()
    weight = weight.astype(float)
    heaviest = np.zeros(len(grids))
    if ws.buildings is not None:
        np.maximum.at(heaviest, unit_grid[ws.units.building_unit], ws.building_households)
    grids["indivisible"] = (heaviest > band.upper) & (weight - heaviest < band.lower)
    _, comp = csgraph.connected_components(within_groups(ws.adjacency, ws.groups), directed=False)
    # what the land holds beside its grids of a single building over the band
    unit_w = np.where(grids["indivisible"].to_numpy()[unit_grid], 0.0, ws.weights)
    comp_w = np.bincount(comp, weights=unit_w)
    small = np.zeros(len(grids), dtype=bool)  # all its land holds less than one grid
    np.logical_or.at(small, unit_grid, (np.bincount(comp, weights=ws.weights) < band.lower)[comp])
    k = np.array([band.parts_for(x) if x > 0 else 1 for x in comp_w])
    stuck = (comp_w > 0) & ((comp_w / k < band.lower - 1e-9) | (comp_w / k > band.upper + 1e-9))
    stuck_grid = np.zeros(len(grids), dtype=bool)
    np.logical_or.at(stuck_grid, unit_grid, stuck[comp])
    off = (weight < band.lower - 1e-9) | (weight > band.upper + 1e-9)
    grids["constrained"] = stuck_grid & off & ~grids["indivisible"].to_numpy()
    land = ws.land if ws.land is not None else comp
    loaded = np.unique(np.c_[unit_grid, land][ws.weights > 0], axis=0)
    grids["across_barrier"] = np.bincount(loaded[:, 0], minlength=len(grids)) > 1
    grids["parts"] = shapely.get_num_geometries(grids.geometry.values)
    # land of the grid: all of its group's (a community's ordinary land), or a piece
    n_pieces = pd.Series(comp).groupby(ws.groups).nunique()
    alone = np.zeros(len(grids), dtype=bool)
    np.logical_or.at(alone, unit_grid, (n_pieces.reindex(ws.groups).to_numpy() == 1))
    gtype = grids["grid_type"].to_numpy()
    tests = {
        "single_building": grids["indivisible"].to_numpy(),
        "locked": grids["locked"].to_numpy(dtype=bool)
        if "locked" in grids
        else np.zeros(len(grids), dtype=bool),
        "dedicated_zone": gtype == "dedicated",
        "rural_village": gtype == "rural",
        "no_households": weight == 0,
        "enclosed_land": grids["constrained"].to_numpy() & ~alone,
        "small_community": grids["constrained"].to_numpy() & alone & small,
        "community_size": grids["constrained"].to_numpy() & alone,
    }
    grids["reason"] = first_reason(off, tests)


def _notes(ws: Workspace, unit_grid: np.ndarray) -> list[str]:
    """What the rules did to the plan, in words: zones divided, land joined, buildings
    left out."""
    notes = []
    inside = ws.zone >= 0
    if inside.any() and ws.zones is not None:
        per = pd.DataFrame({"zone": ws.zone[inside], "grid": unit_grid[inside]})
        n_grids = per.groupby("zone")["grid"].nunique()
        info = ws.zones.set_index("zone_id")
        hh = np.bincount(ws.zone[inside], weights=ws.units.households[inside])
        for zid in n_grids.index[n_grids > 1]:
            if hh[zid] <= ws.band.upper:  # pieces apart (barriers, communities), not divided
                continue
            kind, name = info.loc[zid, "kind"], info.loc[zid, "name"]
            label = f"{kind} {name}" if isinstance(name, str) and name else str(kind)
            notes.append(
                f"dedicated zone {label} holds {int(hh[zid])} households, more than a grid: "
                f"divided into {int(n_grids[zid])} dedicated grids of the zone (its unit manages "
                "the zone, so its housing stays in grids of the zone rather than joining basic "
                "grids)"
            )
    across, exclaves = ws.joined
    if across:
        notes.append(
            f"{across} pieces of land cut off by barriers, holding less than "
            f"{ws.rules.stranded_share:g} × the band's lower bound, joined a grid across the barrier"
        )
    if exclaves:
        notes.append(
            f"{exclaves} pieces of land lying apart from their community (exclaves) joined the "
            "nearest grid of their community: those grids have several parts"
        )
    if ws.left_out:
        notes.append(
            f"{ws.left_out} buildings lie mostly outside the community boundaries: left out of the plan"
        )
    return notes


def _off_band(ws: Workspace, grids: gpd.GeoDataFrame) -> np.ndarray:
    weight = grids["weight"] if "weight" in grids else grids["households"]
    w = weight.to_numpy(dtype=float)
    return (w < ws.band.lower - 1e-9) | (w > ws.band.upper + 1e-9)


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
