"""``partition``: from streets and buildings (any CRS) to a grid plan."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from ._errors import InputError
from ._progress import step
from ._validate import (
    LINEAR,
    POLYGONAL,
    check_column,
    check_counts,
    check_fraction,
    check_layer,
    check_positive,
)
from .blocks import NON_CUTTING, assign_to_polygons, cutting_streets, street_blocks, study_area
from .constraints import (
    BARRIER_STREETS,
    DEDICATED_KINDS,
    attach_orphans,
    barrier_lines,
    cut_barrier_edges,
    dedicated_zones,
    join_pockets,
    rural_flags,
    zone_of,
)
from .crs import metric_crs, to_metric
from .engine import Band, partition_graph
from .engine.tree import within_groups
from .households import (
    HouseholdOptions,
    building_households,
    capacity,
    largest_remainder,
    spread_over_areas,
)
from .metrics import boundary_on_streets
from .plan import Plan, dissolve_units
from .units import Units, adjacency, make_units, merge_isolated

__all__ = ["Workspace", "assemble", "label_units", "partition", "prepare", "reading_order"]

log = logging.getLogger(__name__)


@dataclass
class Workspace:
    """Everything a partition method needs, in the metric CRS (see :func:`prepare`).

    ``units`` are the pieces grids are made of (:class:`gridgeo.units.Units`),
    ``adjacency`` their rook adjacency holding shared lengths (edges across hard
    barriers removed), ``weights`` what each unit counts toward the ``band`` (households
    unless a weight expression was given), ``groups`` the community × dedicated zone
    each unit is in (parts never mix groups), ``whole`` the units whose group becomes
    exactly one grid (dedicated zones, villages under the rural rule).
    """

    crs: Any
    area: shapely.Geometry
    blocks: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame | None
    building_block: np.ndarray | None
    building_households: np.ndarray | None
    units: Units
    adjacency: sparse.csr_matrix
    band: Band
    target: float
    tolerance: float
    full_adjacency: sparse.csr_matrix
    weights: np.ndarray
    groups: np.ndarray
    whole: np.ndarray
    zone: np.ndarray
    zones: gpd.GeoDataFrame | None
    rural: np.ndarray
    weight_expression: str | None = None
    started: float = field(default_factory=time.perf_counter)


def prepare(
    streets: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    target: float = 300,
    tolerance: float = 0.1,
    households_column: str | None = None,
    population: gpd.GeoDataFrame | None = None,
    population_column: str = "population",
    total_households: int | None = None,
    boundaries: gpd.GeoDataFrame | None = None,
    boundary_id: str | None = None,
    boundary_households: str | None = None,
    barriers: gpd.GeoDataFrame | None = None,
    barrier_streets: frozenset[str] | set[str] = BARRIER_STREETS,
    dedicated: gpd.GeoDataFrame | None = None,
    dedicated_kinds: frozenset[str] | set[str] = DEDICATED_KINDS,
    rural_column: str | None = None,
    rural_cap: float = 1000,
    weight: str | None = None,
    pois: gpd.GeoDataFrame | None = None,
    band: tuple[float, float] | None = None,
    crs: Any = None,
    non_cutting: frozenset[str] | set[str] = NON_CUTTING,
    household_options: HouseholdOptions | None = None,
    split_above: float | None = None,
) -> Workspace:
    """Validate, reproject, build blocks, households and units: everything before partitioning.

    Takes the same arguments as :func:`partition` (but ``random_state``) and returns a
    :class:`Workspace` on which any partition method can run (see
    ``scripts/bench_partition.py``) and which :func:`assemble` turns into a plan.

    Parameters
    ----------
    streets : GeoDataFrame
        Street lines (any CRS); a ``highway`` column selects which cut blocks.
    buildings : GeoDataFrame, optional
        Building footprints (any CRS). Without them, households are spread over blocks
        by area from ``total_households`` or ``population``.
    target : float, default 300
        Households per grid.
    tolerance : float, default 0.1
        Accepted relative deviation from ``target`` (0.1 = ±10 %).
    households_column : str, optional
        Column of ``buildings`` with households per building.
    population : GeoDataFrame, optional
        Population grid (people per cell, ``population_column``), any CRS.
    total_households : int, optional
        Known number of households of the whole area.
    boundaries : GeoDataFrame, optional
        Community polygons; grids never cross them, and they define the study area.
    boundary_id : str, optional
        Column of ``boundaries`` identifying each community (default: the row index).
    boundary_households : str, optional
        Column of ``boundaries`` with each community's households, spread over its
        buildings by floor area.
    barriers : GeoDataFrame, optional
        Hard barriers: lines or polygons (railways, rivers, water; the ``barriers``
        layer of :func:`gridgeo.read_osm`) that cut blocks and that no grid crosses.
        Features with a true ``tunnel`` column are ignored.
    barrier_streets : set of str, default none
        Street classes that no grid crosses either, e.g. ``{"motorway"}``.
    dedicated : GeoDataFrame, optional
        Zones that become grids of their own whatever their households (专属网格):
        the ``landuse`` layer of :func:`gridgeo.read_osm` (filtered by
        ``dedicated_kinds``) or a polygon layer of the planner's own (every polygon is
        kept; optional ``kind`` and ``name`` columns). Zones under 1 ha are ignored.
    dedicated_kinds : set of str
        OSM values that make a dedicated zone (university, college, school, hospital,
        industrial, park).
    rural_column : str, optional
        Column of ``boundaries`` marking rural communities (true/false, or the
        urban–rural code: starting with 2 = rural). A rural community becomes one grid
        (one per village) unless it holds more than ``rural_cap`` households.
    rural_cap : float, default 1000
    weight : str, optional
        What grids are balanced on, as an expression over building columns, e.g.
        ``"households + 2 * shops"`` (``shops``: points of interest in the building,
        counted from ``pois``). Default: households.
    pois : GeoDataFrame, optional
        Points of interest (the ``pois`` layer of :func:`gridgeo.read_osm`), counted per
        building as ``shops`` for ``weight``.
    band : (float, float), optional
        Accepted households per grid as a range, e.g. ``(300, 500)``; overrides
        ``target`` and ``tolerance`` (the target is the middle of the band).
    crs : int, str or pyproj.CRS, optional
        Metric CRS to compute in; default: the CGCS2000 3° Gauss–Krüger zone in China,
        UTM elsewhere.
    non_cutting : set of str
        Highway classes that do not cut blocks (footways, paths, service roads …).
    household_options : HouseholdOptions, optional
        Defaults for estimating households from footprints.
    split_above : float, optional
        Blocks holding more households than this are cut into pieces (one per building,
        or a lattice when there are none) so that grids can be balanced; smaller blocks
        stay whole, so their grid boundaries follow streets. Default: half the target
        (a block of more than half a grid rarely combines into a balanced grid).

    Returns
    -------
    Workspace
    """
    t0 = time.perf_counter()
    if band is not None:
        lo, hi = (check_positive(v, "band limit") for v in band)
        if lo >= hi:
            msg = f"band must be (lower, upper) with lower < upper, got {band!r}"
            raise InputError(msg)
        target, tolerance = (lo + hi) / 2, (hi - lo) / (hi + lo)
    target = check_positive(target, "target")
    tolerance = check_fraction(tolerance, "tolerance")
    if weight is not None and buildings is None:
        raise InputError("a weight expression needs buildings (--buildings or --osm)")
    if rural_column is not None and boundaries is None:
        raise InputError("rural_column needs a boundaries layer (--boundaries)")
    streets = check_layer(streets, "streets", geom_types=LINEAR)
    if buildings is not None:
        buildings = check_layer(buildings, "buildings", geom_types=POLYGONAL)
    if boundaries is not None:
        boundaries = check_layer(boundaries, "boundaries", geom_types=POLYGONAL)
        for col in (boundary_id, boundary_households):
            if col is not None:
                check_column(boundaries, col, "boundaries")
        if boundary_id is not None and boundaries[boundary_id].duplicated().any():
            dup = boundaries[boundary_id][boundaries[boundary_id].duplicated()].iloc[0]
            msg = f"boundaries: id {dup!r} appears more than once in column {boundary_id!r}; ids must be unique"
            raise InputError(msg)
    elif boundary_households is not None:
        raise InputError("boundary_households needs a boundaries layer (--boundaries)")
    if population is not None:
        population = check_layer(population, "population grid", geom_types=POLYGONAL)
    if barriers is not None:
        barriers = check_layer(barriers, "barriers")
    given = [households_column, population, total_households, boundary_households]
    if sum(x is not None for x in given) > 1:
        msg = "give only one source of households: a column, a population grid, a total, or community totals"
        raise InputError(msg)
    if buildings is None and households_column is not None:
        raise InputError("households_column needs a buildings layer (--buildings)")
    if (
        buildings is None
        and population is None
        and total_households is None
        and boundary_households is None
    ):
        msg = "without buildings, households must come from a population grid (--population) or a total (--total-households)"
        raise InputError(msg)

    with step("choosing a metric CRS and reprojecting"):
        metric = metric_crs([streets, buildings, boundaries, population], crs=crs)
        streets = to_metric(streets, metric)
        buildings = None if buildings is None else to_metric(buildings, metric)
        boundaries = None if boundaries is None else to_metric(boundaries, metric)
        population = None if population is None else to_metric(population, metric)
        barriers = None if barriers is None else to_metric(barriers, metric)
        dedicated = None if dedicated is None else to_metric(dedicated, metric)
        pois = None if pois is None else to_metric(pois, metric)
        log.info("computing in %s", metric.name)

    with step("building street blocks"):
        area = study_area(streets, buildings, boundaries=boundaries)
        cut = cutting_streets(streets, exclude=non_cutting)
        if cut.empty:
            msg = "no street cuts blocks: every street is of a non-cutting class; pass non_cutting=set() to use them all"
            raise InputError(msg)
        lines = barrier_lines(streets, barriers, barrier_streets=barrier_streets)
        zones = None
        if dedicated is not None:
            kinds = dedicated_kinds if "value" in dedicated.columns else None
            zones = dedicated_zones(dedicated, kinds=kinds)
        extra = [lines] + ([shapely.boundary(zones.geometry.values)] if zones is not None else [])
        extra_cuts = gpd.GeoDataFrame(geometry=np.concatenate(extra), crs=metric)
        blocks = street_blocks(
            cut, area, boundaries=boundaries, boundary_id=boundary_id, barriers=extra_cuts
        )
        blocks["zone_id"] = zone_of(blocks.geometry.values, zones)

    with step("estimating households"):
        if buildings is not None:
            building_block = assign_to_polygons(
                buildings.geometry.values, blocks.geometry.values, nearest=True
            )
            if boundary_households is not None:
                hh = _community_totals(
                    buildings,
                    blocks,
                    building_block,
                    boundaries,
                    boundary_id,
                    boundary_households,
                    household_options,
                )
            else:
                hh = building_households(
                    buildings,
                    column=households_column,
                    total=total_households,
                    population=population,
                    population_column=population_column,
                    study_area=area,
                    options=household_options,
                ).to_numpy()
            block_hh = np.bincount(building_block, weights=hh, minlength=len(blocks)).astype(
                np.int64
            )
        else:
            building_block = None
            hh = None
            if boundary_households is not None:
                raise InputError("community household totals need buildings to spread over")
            block_hh = spread_over_areas(
                blocks.geometry.values,
                total=total_households,
                population=population,
                population_column=population_column,
                persons_per_household=(
                    household_options or HouseholdOptions()
                ).persons_per_household,
            )
        blocks["households"] = block_hh

    band = Band.around(target, tolerance)
    with step("splitting large blocks into units"):
        units = make_units(
            blocks,
            block_hh,
            buildings=None if buildings is None else buildings.geometry.values,
            building_block=building_block,
            building_households=hh,
            split_above=target / 2 if split_above is None else split_above,
            piece_size=(band.upper - band.lower) / 2,
        )
        adj = adjacency(units.geometry)
        units, adj = merge_isolated(units, adj)
        full_adj = adj
        adj, _ = cut_barrier_edges(units.geometry, adj, lines)

    unit_weight = units.households.astype(float)
    if weight is not None:
        bw = _building_weights(buildings, hh, weight, pois)
        unit_weight = np.bincount(units.building_unit, weights=bw, minlength=len(units.geometry))
    zone = blocks["zone_id"].to_numpy()[units.block]
    groups = pd.factorize(
        pd.Series(units.community).astype(str) + "\x1f" + pd.Series(zone).astype(str)
    )[0]
    whole = zone >= 0
    rural = np.zeros(len(zone), dtype=bool)
    if rural_column is not None:
        ids = boundaries[boundary_id] if boundary_id else pd.Series(boundaries.index)
        rural_ids = set(ids.to_numpy()[rural_flags(boundaries, rural_column)])
        rural = pd.Series(units.community).isin(rural_ids).to_numpy() & ~whole
        comm_hh = pd.Series(units.households).groupby(units.community).transform("sum").to_numpy()
        whole |= rural & (comm_hh <= rural_cap)

    return Workspace(
        full_adjacency=full_adj,
        weights=unit_weight,
        groups=groups,
        whole=whole,
        zone=zone,
        zones=zones,
        rural=rural,
        weight_expression=weight,
        crs=metric,
        area=area,
        blocks=blocks,
        buildings=buildings,
        building_block=building_block,
        building_households=hh,
        units=units,
        adjacency=adj,
        band=band,
        target=target,
        tolerance=tolerance,
        started=t0,
    )


def partition(
    streets: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    random_state: int | None = 0,
    codes: dict[str, Any] | None = None,
    **options: Any,
) -> Plan:
    """Draw community grids of about ``target`` households from streets and buildings.

    Parameters
    ----------
    streets, buildings
        As in :func:`prepare`.
    random_state : int, default 0
        Seed; the same input and seed give the same plan.
    codes : dict, optional
        Give every grid a standard code (统一编码): keyword arguments of
        :func:`gridgeo.codes.assign_codes`, e.g. ``{"scheme": "db11", "admin_code":
        "110105", "street_code": "001"}`` for 15-digit DB11/T 2157 codes.
    **options
        Every keyword option of :func:`prepare`: ``target`` (default 300),
        ``tolerance`` (0.1), ``households_column``, ``population``,
        ``population_column``, ``total_households``, ``boundaries``, ``boundary_id``,
        ``boundary_households``, ``barriers``, ``crs``, ``non_cutting``,
        ``household_options``, ``split_above``.

    Returns
    -------
    Plan

    Examples
    --------
    >>> import gridgeo
    >>> layers = gridgeo.read_osm(gridgeo.datasets.get_path("kouvola"))
    >>> plan = gridgeo.partition(layers.streets, layers.buildings, target=300)
    >>> int(plan.grids.households.sum()) == int(plan.buildings.households.sum())
    True
    """
    ws = prepare(streets, buildings, **options)
    with step("partitioning"):
        labels = label_units(ws, random_state=random_state)
    plan = assemble(ws, labels)
    if codes:
        from .codes import assign_codes

        plan.grids.insert(1, "code", assign_codes(plan.grids, **codes).to_numpy())
    log.info(plan.describe())
    return plan


def label_units(ws: Workspace, *, random_state: int | None = 0) -> np.ndarray:
    """The grid label of every unit of a workspace: the engine, then weightless leftovers.

    :func:`gridgeo.engine.partition_graph` on the units (groups, dedicated and rural
    units kept whole, cuts along streets preferred), then pieces without households that
    barriers cut off join a neighbouring grid (:func:`gridgeo.constraints.attach_orphans`).
    """
    labels = partition_graph(
        ws.weights,
        ws.adjacency,
        band=ws.band,
        groups=ws.groups,
        whole=ws.whole,
        blocks=ws.units.block,
        random_state=random_state,
        area=shapely.area(ws.units.geometry),
        perimeter=shapely.length(ws.units.geometry),
    )
    labels = attach_orphans(
        labels, ws.weights, ws.full_adjacency, ws.adjacency, ws.groups, ws.units.community
    )
    return join_pockets(
        labels,
        ws.weights,
        ws.full_adjacency,
        ws.adjacency,
        ws.groups,
        lower=ws.band.lower,
        upper=ws.band.upper,
        most=ws.band.upper - ws.band.target,
    )


def assemble(ws: Workspace, labels: np.ndarray) -> Plan:
    """Dissolve units into grids by ``labels`` (one per unit) and attach the figures."""
    units, buildings, hh, band, target = (
        ws.units,
        ws.buildings,
        ws.building_households,
        ws.band,
        ws.target,
    )
    building_block, metric = ws.building_block, ws.crs
    with step("dissolving grids"):
        grid_label, grid_geom = dissolve_units(units.geometry, labels)
        grid_hh = np.bincount(labels, weights=units.households, minlength=len(grid_label)).astype(
            np.int64
        )
        community_of = pd.Series(units.community).groupby(labels).first().to_numpy()
        grids = gpd.GeoDataFrame(
            {"community_id": community_of, "households": grid_hh[grid_label]},
            geometry=grid_geom,
            crs=metric,
        )
        by_grid = pd.DataFrame({"zone": ws.zone, "rural": ws.rural, "whole": ws.whole}).groupby(
            labels
        )
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
        seq = reading_order(grids)
        grids = grids.iloc[np.argsort(seq, kind="stable")].reset_index(drop=True)
        old_to_new = np.empty(len(seq), dtype=np.int64)
        old_to_new[np.argsort(seq, kind="stable")] = np.arange(len(seq))
        width = max(4, len(str(len(grids))))
        grids.insert(0, "grid_id", [f"G{i + 1:0{width}d}" for i in range(len(grids))])
        unit_grid = old_to_new[np.searchsorted(grid_label, labels)]
        grid_ids = grids["grid_id"].to_numpy()
        if buildings is not None:
            bunit = units.building_unit
            buildings = buildings.assign(
                grid_id=grid_ids[unit_grid[bunit]],
                block_id=building_block,
                households=hh.astype(np.int64),
            )
            grids["buildings"] = np.bincount(unit_grid[bunit], minlength=len(grids))
        else:
            grids["buildings"] = 0
        grids["area_m2"] = grids.area
        grids["deviation"] = grids["households"] / target - 1
        # a grid over the band only because one building (or unit) alone is
        if buildings is not None:
            heaviest = np.zeros(len(grids))
            np.maximum.at(heaviest, unit_grid[units.building_unit], hh)
        else:
            heaviest = np.zeros(len(grids))
            np.maximum.at(heaviest, unit_grid, units.households)
        grids["indivisible"] = heaviest > band.upper
        # grids whose piece of land (cut off by barriers or community lines) holds a
        # weight no number of grids can share inside the band
        _, comp = csgraph.connected_components(
            within_groups(ws.adjacency, ws.groups), directed=False
        )
        comp_w = np.bincount(comp, weights=ws.weights)
        k = np.array([band.parts_for(x) if x > 0 else 1 for x in comp_w])
        stuck = (comp_w > 0) & ((comp_w / k < band.lower - 1e-9) | (comp_w / k > band.upper + 1e-9))
        stuck_grid = np.zeros(len(grids), dtype=bool)
        np.logical_or.at(stuck_grid, unit_grid, stuck[comp])
        weight = grids["weight"].to_numpy() if "weight" in grids else grids["households"].to_numpy()
        off = (weight < band.lower - 1e-9) | (weight > band.upper + 1e-9)
        grids["constrained"] = stuck_grid & off & ~grids["indivisible"].to_numpy()
        # grids holding households on both sides of a barrier (a pocket joined across)
        loaded = np.unique(np.c_[unit_grid, comp][ws.weights > 0], axis=0)
        grids["across_barrier"] = np.bincount(loaded[:, 0], minlength=len(grids)) > 1
        units_gdf = gpd.GeoDataFrame(
            {
                "block_id": units.block,
                "community_id": units.community,
                "households": units.households,
                "grid_id": grid_ids[unit_grid],
            },
            geometry=units.geometry,
            crs=metric,
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
        units=units_gdf,
        blocks=ws.blocks,
        target=target,
        tolerance=ws.tolerance,
        study_area=ws.area,
        boundary_on_streets=boundary_on_streets(unit_grid, units.block, ws.adjacency),
        seconds=time.perf_counter() - ws.started,
    )


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


def _community_totals(buildings, blocks, building_block, boundaries, boundary_id, column, options):
    """Spread each community's household total over its buildings by floor area."""
    ids = (
        boundaries[boundary_id]
        if boundary_id
        else pd.Series(boundaries.index, index=boundaries.index)
    )
    totals = check_counts(boundaries[column], f"boundaries column {column!r}")
    total_of = dict(zip(ids.to_numpy(), totals.to_numpy(), strict=True))
    cap = capacity(buildings, options=options)
    comm = blocks["community_id"].to_numpy()[building_block]
    hh = np.zeros(len(buildings), dtype=np.int64)
    for cid in pd.unique(comm):
        members = np.flatnonzero(comm == cid)
        total = total_of.get(cid, 0)
        if total != int(total):
            raise InputError(f"community {cid!r}: household total {total} is not a whole number")
        hh[members] = largest_remainder(cap[members], int(total)) if total else 0
    return hh


def _building_weights(buildings, hh, expression: str, pois) -> np.ndarray:
    """Evaluate a weight expression over building columns (plus households and shops)."""
    table = pd.DataFrame(buildings.drop(columns=buildings.geometry.name)).copy()
    table["households"] = hh
    shops = np.zeros(len(buildings))
    if pois is not None and len(pois):
        pts = shapely.point_on_surface(pois.geometry.values)
        p, b = shapely.STRtree(buildings.geometry.values).query(pts, predicate="within")
        _, first = np.unique(p, return_index=True)
        shops = np.bincount(b[first], minlength=len(buildings)).astype(float)
    table["shops"] = shops
    try:
        values = pd.to_numeric(pd.Series(table.eval(expression)), errors="raise")
    except Exception as err:  # pandas raises many kinds for a bad expression
        cols = ", ".join(str(c) for c in table.columns)
        msg = f"cannot evaluate weight {expression!r}: {err}; it may use these columns: {cols}"
        raise InputError(msg) from None
    values = np.broadcast_to(values.to_numpy(dtype=float), (len(buildings),)).copy()
    if not np.isfinite(values).all() or (values < 0).any():
        msg = f"weight {expression!r} gives negative or undefined values; weights must be 0 or more"
        raise InputError(msg)
    return values
