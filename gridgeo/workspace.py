"""Everything before partitioning: from checked inputs to units and their graph.

:func:`prepare` runs the stages of the data flow in order — inputs
(:mod:`gridgeo.inputs`), street blocks (:mod:`gridgeo.blocks`), households
(:mod:`gridgeo.households`), units and adjacency (:mod:`gridgeo.units`), the planning
rules on units (:mod:`gridgeo.constraints`) — and returns a :class:`Workspace` on which
any partition method can run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any, Unpack

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from ._errors import InputError
from ._progress import step
from .astride import fuse_astride
from .blocks import assign_to_polygons, cutting_streets, street_blocks, study_area
from .constraints import barrier_lines, cut_barrier_edges, dedicated_zones, rural_flags, zone_of
from .engine import Band
from .households import spread_over_areas
from .inputs import (
    Inputs,
    PlanKeywords,
    building_counts,
    check_inputs,
    classify_buildings,
    split_keywords,
)
from .land import group_of, link_stranded, pieces, settle_zones, whole_zones
from .rules import Rules
from .units import Units, adjacency, make_units, merge_isolated

__all__ = ["Workspace", "prepare"]

log = logging.getLogger(__name__)


@dataclass
class Workspace:
    """Everything a partition method needs, in the metric CRS (see :func:`prepare`).

    ``units`` are the pieces grids are made of (:class:`gridgeo.units.Units`),
    ``adjacency`` their rook adjacency holding shared lengths (edges across hard
    barriers removed), ``weights`` what each unit counts toward the ``band`` (households
    unless a weight rule was given), ``groups`` the community × dedicated zone each unit
    is in (parts never mix groups), ``whole`` the units whose group becomes exactly one
    grid (dedicated zones, villages under the rural rule), ``lock`` the locked grid each unit is in (−1: none;
    ``locked`` those grids), ``rules`` the planning rules.
    ``adjacency`` also links stranded land to the piece it joins (see
    :func:`gridgeo.land.link_stranded`); ``land`` is the piece of land of every unit
    between barriers (before those links), ``joined`` the number of pieces joined across
    a barrier and of exclaves joined to the nearest piece of their community,
    ``left_out`` the number of buildings lying mostly outside the communities,
    ``building_weights`` what each building counts toward the band.
    """

    crs: Any
    area: shapely.Geometry
    blocks: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame | None
    building_block: np.ndarray | None
    building_households: np.ndarray | None
    units: Units
    adjacency: sparse.csr_matrix
    full_adjacency: sparse.csr_matrix
    weights: np.ndarray
    groups: np.ndarray
    whole: np.ndarray
    zone: np.ndarray
    zones: gpd.GeoDataFrame | None
    rural: np.ndarray
    lock: np.ndarray | None = None
    locked: gpd.GeoDataFrame | None = None
    rules: Rules = field(default_factory=Rules)
    land: np.ndarray | None = None
    joined: tuple[int, int] = (0, 0)
    left_out: int = 0
    building_weights: np.ndarray | None = None
    started: float = field(default_factory=time.perf_counter)

    @property
    def band(self) -> Band:
        """Accepted households (or weight) per grid."""
        return self.rules.grid_band()

    @property
    def target(self) -> float:
        return self.band.target

    @property
    def tolerance(self) -> float:
        b = self.band
        return (
            self.rules.tolerance
            if self.rules.band is None
            else (b.upper - b.lower) / (b.upper + b.lower)
        )

    @property
    def weight_expression(self) -> str | None:
        return self.rules.weight


def prepare(
    streets: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    rules: Rules | None = None,
    **keywords: Unpack[PlanKeywords],
) -> Workspace:
    """Check, reproject, build blocks, households and units: everything before partitioning.

    Parameters
    ----------
    streets : GeoDataFrame
        Street lines (any CRS); a ``highway`` column selects which cut blocks.
    buildings : GeoDataFrame, optional
        Building footprints (any CRS). Without them, households are spread over blocks
        by area from ``total_households`` or ``population``.
    population : GeoDataFrame, optional
        Population grid (people per cell, ``population_column``), any CRS.
    boundaries : GeoDataFrame, optional
        Community polygons; grids never cross them, and they define the study area.
    barriers : GeoDataFrame, optional
        Hard barriers: lines or polygons (railways, rivers, water; the ``barriers``
        layer of :func:`gridgeo.read_osm`) that cut blocks and that no grid crosses.
        Features with a true ``tunnel`` column are ignored.
    dedicated : GeoDataFrame, optional
        Zones that become grids of their own whatever their households (专属网格):
        the ``landuse`` layer of :func:`gridgeo.read_osm` (filtered by the
        ``dedicated_kinds`` rule) or a polygon layer of the planner's own (every
        polygon is kept; optional ``kind`` and ``name`` columns). Zones, and pieces of
        zones, under ``min_zone_area`` (1 ha) or holding no building are ordinary land;
        a zone holding more than the band's upper bound is divided into dedicated grids
        of the band (see :mod:`gridgeo.land`).
    landuse : GeoDataFrame, optional
        Land-use polygons with a ``value`` column (the ``landuse`` layer of
        :func:`gridgeo.read_osm`) that classify buildings
        (:mod:`gridgeo.building_class`); default: ``dedicated`` when it is such a layer.
    pois : GeoDataFrame, optional
        Points of interest (the ``pois`` layer of :func:`gridgeo.read_osm`), counted per
        building as ``shops`` for the ``weight`` rule.
    locked_grids : GeoDataFrame, optional
        Grids of an earlier plan to keep exactly as they are (their polygon, id and
        code): those picked by the ``locked`` / ``lock_column`` rules, or every row when
        no rule picks. The rest of the area is drawn anew around them.
    rules : Rules, optional
        The planning rules (see :class:`gridgeo.rules.Rules`); default: the defaults.
    **keywords
        The layers above, and any field of :class:`gridgeo.rules.Rules` (``target``,
        ``tolerance``, ``band``, ``households_column`` …), replacing that field of
        ``rules``.

    Returns
    -------
    Workspace

    Examples
    --------
    >>> from gridgeo import datasets, read_osm
    >>> kouvola = read_osm(datasets.get_path("kouvola"))
    >>> ws = prepare(kouvola.streets, kouvola.buildings, band=(250, 350))
    >>> ws.band.lower, ws.band.upper, int(ws.weights.sum()) == int(ws.building_households.sum())
    (250.0, 350.0, True)
    """
    t0 = time.perf_counter()
    given, rule_keywords = split_keywords(keywords)
    rules = Rules.from_keywords(rules, **rule_keywords)
    layers = check_inputs(streets, buildings, rules=rules, **given)
    with step("choosing a metric CRS and reprojecting"):
        layers = layers.to_metric(rules.crs)
    layers = classify_buildings(layers, rules)
    with step("building street blocks"):
        area, blocks, zones, lines = _blocks(layers, rules)
    n_buildings = 0 if layers.buildings is None else len(layers.buildings)
    layers = _inside(layers, area)
    with step("estimating households"):
        building_block, hh, bweight = _households(layers, blocks, area, rules)
    with step("splitting large blocks into units"):
        units, adj, full_adj = _units(layers, blocks, building_block, hh, lines, rules)
    weights, groups, whole, zone, rural, lock = _unit_rules(
        layers, blocks, units, bweight, rules, adj
    )
    land = pieces(adj, groups)
    band = rules.grid_band()
    adj, *joined = link_stranded(
        weights,
        adj,
        full_adj,
        groups,
        units.geometry,
        below=rules.stranded_share * band.lower,
    )
    whole |= whole_zones(zone, weights, adj, groups, upper=band.upper)
    return Workspace(
        crs=layers.crs,
        area=area,
        blocks=blocks,
        buildings=layers.buildings,
        building_block=building_block,
        building_households=hh,
        units=units,
        adjacency=adj,
        full_adjacency=full_adj,
        weights=weights,
        groups=groups,
        whole=whole,
        zone=zone,
        zones=zones,
        rural=rural,
        lock=lock,
        locked=layers.locked_grids,
        rules=rules,
        started=t0,
        land=land,
        joined=tuple(joined),
        left_out=n_buildings - (0 if layers.buildings is None else len(layers.buildings)),
        building_weights=bweight,
    )


def _blocks(layers: Inputs, rules: Rules):
    """Street blocks of the study area, cut by streets, barriers and dedicated zones;
    also the zones and the barrier lines."""
    area = study_area(layers.streets, layers.buildings, boundaries=layers.boundaries)
    cut = cutting_streets(layers.streets, exclude=rules.non_cutting)
    if cut.empty:
        msg = "no street cuts blocks: every street is of a non-cutting class; pass non_cutting=set() to use them all"
        raise InputError(msg)
    lines = barrier_lines(layers.streets, layers.barriers, barrier_streets=rules.barrier_streets)
    zones = None
    if layers.dedicated is not None:
        kinds = rules.dedicated_kinds if "value" in layers.dedicated.columns else None
        zones = dedicated_zones(layers.dedicated, kinds=kinds, min_area=rules.min_zone_area)
    extra = [lines] + ([shapely.boundary(zones.geometry.values)] if zones is not None else [])
    if layers.locked_grids is not None:
        extra.append(shapely.boundary(layers.locked_grids.geometry.values))
    extra_cuts = gpd.GeoDataFrame(geometry=np.concatenate(extra), crs=layers.crs)
    blocks = street_blocks(
        cut,
        area,
        boundaries=layers.boundaries,
        boundary_id=rules.boundary_id,
        barriers=extra_cuts,
    )
    blocks["zone_id"] = zone_of(blocks.geometry.values, zones)
    locked = layers.locked_grids
    blocks["lock_id"] = zone_of(
        blocks.geometry.values,
        None if locked is None else locked.rename(columns={"lock_id": "zone_id"}),
    )
    return area, blocks, zones, lines


def _inside(layers: Inputs, area) -> Inputs:
    """``layers`` without the buildings that lie mostly outside the communities (with
    boundaries, the study area is their union: a building beyond it belongs to no
    community of the plan)."""
    if layers.buildings is None or layers.boundaries is None:
        return layers
    shapely.prepare(area)
    geoms = layers.buildings.geometry.values
    inside = shapely.contains(area, geoms)
    edge = np.flatnonzero(~inside & shapely.intersects(area, geoms))
    share = shapely.area(shapely.intersection(geoms[edge], area)) / shapely.area(geoms[edge])
    inside[edge[share >= 0.5]] = True
    if inside.all():
        return layers
    if not inside.any():
        msg = "no building lies inside the community boundaries: check that both layers cover the same area"
        raise InputError(msg)
    log.warning(
        "%d of %d buildings lie mostly outside the community boundaries: left out of the plan",
        int((~inside).sum()),
        len(inside),
    )
    return replace(layers, buildings=layers.buildings[inside])


def _households(layers: Inputs, blocks: gpd.GeoDataFrame, area, rules: Rules):
    """The block of every building, its households and weight (None without
    buildings); sets ``blocks["households"]``."""
    buildings = layers.buildings
    if buildings is None:
        blocks["households"] = spread_over_areas(
            blocks.geometry.values,
            total=rules.total_households,
            population=layers.population,
            population_column=rules.population_column,
            persons_per_household=rules.persons_per_household,
        )
        return None, None, None
    building_block = assign_to_polygons(
        buildings.geometry.values, blocks.geometry.values, nearest=True
    )
    hh, weight = building_counts(
        layers,
        rules,
        study_area=area,
        community=lambda: blocks["community_id"].to_numpy()[building_block],
    )
    blocks["households"] = np.bincount(building_block, weights=hh, minlength=len(blocks)).astype(
        np.int64
    )
    return building_block, hh, weight


def _units(layers: Inputs, blocks, building_block, hh, lines, rules: Rules):
    """Units (blocks, heavy ones split), their adjacency with and without barrier edges."""
    band = rules.grid_band()
    buildings = layers.buildings
    split_above = band.target / 2 if rules.split_above is None else rules.split_above
    units = make_units(
        blocks,
        blocks["households"].to_numpy(),
        buildings=None if buildings is None else buildings.geometry.values,
        building_block=building_block,
        building_households=hh,
        split_above=split_above,
        piece_size=(band.upper - band.lower) / 2,
    )
    adj = adjacency(units.geometry)
    units, full_adj = merge_isolated(units, adj)
    adj, _ = cut_barrier_edges(units.geometry, full_adj, lines)
    if buildings is not None:
        zone_lock = blocks["zone_id"].astype(str) + "\x1f" + blocks["lock_id"].astype(str)
        units, (adj, full_adj) = fuse_astride(
            units,
            buildings.geometry.values,
            (adj, full_adj),
            most=split_above,
            zone=pd.factorize(zone_lock)[0][units.block],
        )
    return units, adj, full_adj


def _unit_rules(layers: Inputs, blocks, units: Units, building_weight, rules: Rules, adj):
    """Per unit: the weight balanced, the group it must stay in (community × zone),
    whether its group is one grid whole (small villages; zones are settled by the
    caller), its zone (pieces too small for a grid made ordinary land), rural."""
    weights = units.households.astype(float)
    n = len(units.geometry)
    if rules.weight is not None:
        weights = np.bincount(units.building_unit, weights=building_weight, minlength=n)
    lock = blocks["lock_id"].to_numpy()[units.block]
    community = group_of(units.community, lock)
    zone = settle_zones(
        blocks["zone_id"].to_numpy()[units.block],
        community,
        adj,
        area=shapely.area(units.geometry),
        buildings=None
        if layers.buildings is None
        else np.bincount(units.building_unit, minlength=n),
        weights=weights,
        min_area=rules.min_zone_area,
        empty_zones=rules.empty_zones,
    )
    groups = group_of(community, zone)
    whole = lock >= 0
    rural = np.zeros(len(zone), dtype=bool)
    if rules.rural_column is not None:
        bounds = layers.boundaries
        ids = bounds[rules.boundary_id] if rules.boundary_id else pd.Series(bounds.index)
        rural_ids = set(ids.to_numpy()[rural_flags(bounds, rules.rural_column)])
        rural = pd.Series(units.community).isin(rural_ids).to_numpy() & (zone < 0) & ~whole
        comm_hh = pd.Series(units.households).groupby(units.community).transform("sum").to_numpy()
        whole |= rural & (comm_hh <= rules.rural_cap)
    return weights, groups, whole, zone, rural, lock
