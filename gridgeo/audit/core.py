"""The audit itself: checks the inputs, then builds every finding (see
:mod:`gridgeo.audit` for the rules)."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._errors import InputError
from .._validate import LINEAR, POLYGONAL, check_column, check_fraction, check_layer, check_positive
from ..blocks import assign_to_polygons
from ..crs import metric_crs, to_metric
from ..datum import check_datum
from ..households import HouseholdOptions, building_households
from ..rules import Rules
from ..streetfront.analysis import check_poi_layer, grid_ids_and_types
from ..streetfront.options import StreetFrontOptions, with_depth
from ._common import _non_negative, _pick, _text_ids
from .buildings import _add_counts, _largest_part
from .findings import (
    _community_of_grids,
    _figures,
    _gaps_layer,
    _grid_load,
    _street_front,
    _uncovered_zones,
)
from .polygons import _merge_duplicates, _overlaps, _pieces, _polygon_parts, _study_area
from .register import _check_register, _double_counting
from .result import Audit

__all__ = ["audit"]

log = logging.getLogger(__name__)


def audit(
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame | None = None,
    *,
    pois: gpd.GeoDataFrame | None = None,
    boundaries: gpd.GeoDataFrame | None = None,
    boundary_id: str | None = None,
    grid_id: str | None = None,
    grid_type: str | None = None,
    building_id: str | None = None,
    households_column: str | None = None,
    household_options: HouseholdOptions | None = None,
    register: pd.DataFrame | None = None,
    register_key: str | None = None,
    register_grid: str | None = None,
    target: float = 300,
    tolerance: float = 0.1,
    frontage_depth: float | None = None,
    street_front: StreetFrontOptions | None = None,
    study_area: str = "filled",
    min_area: float = 1.0,
    sliver_width: float = 1.0,
    split_share: float = 0.05,
    zone_distance: float = 20.0,
    crs: Any = None,
) -> Audit:
    """Audit the coverage of a grid plan (see the module notes for every rule).

    Parameters
    ----------
    grids : GeoDataFrame
        The plan: one polygon per grid (any CRS). Rows sharing a grid id are merged.
    buildings : GeoDataFrame
        Building footprints (any CRS).
    streets : GeoDataFrame, optional
        Street lines; needed for street-front zones (without them those layers are
        empty).
    pois : GeoDataFrame, optional
        Shops and services (points or polygons), e.g. the ``pois`` of
        :func:`gridgeo.read_osm`; commercial buildings count as shops too.
    boundaries : GeoDataFrame, optional
        Community polygons: the area to cover.
    boundary_id : str, optional
        Column of ``boundaries`` identifying the communities (default: row labels).
    grid_id : str, optional
        Column of ``grids`` with the grid id (default ``grid_id`` if present, else
        the row labels).
    grid_type : str, optional
        Column of ``grids`` with the grid type (default ``grid_type`` if present);
        ``street_front``, ``沿街`` … mark street-front micro-grids (see
        :func:`gridgeo.streetfront.is_street_front_type`).
    building_id : str, optional
        Column of ``buildings`` identifying them in the outputs and the register
        (default ``osm_id`` if present, else the row labels).
    households_column : str, optional
        Column of ``buildings`` with households; else estimated with
        :func:`gridgeo.building_households`.
    household_options : HouseholdOptions, optional
        Settings of that estimate.
    register : DataFrame, optional
        Register of buildings or addresses and their grids (see :func:`read_register`).
    register_key, register_grid : str, optional
        Its key and grid columns (default: ``building_id``/``osm_id``/``address``/
        ``地址`` …, and ``grid_id``/``网格编号`` …). The key matches ``building_id``.
    target : float, default 300
        Households per grid.
    tolerance : float, default 0.1
        Accepted relative deviation from ``target``.
    frontage_depth : float, optional
        Depth of the street frontage in metres (default 30, see
        :class:`gridgeo.streetfront.StreetFrontOptions`).
    street_front : StreetFrontOptions, optional
        The other street-front settings.
    study_area : {"filled", "hull"}, default "filled"
        Area to cover when no boundaries are given.
    min_area : float, default 1
        Gaps and overlaps under this many m² are ignored.
    sliver_width : float, default 1
        Gaps and overlaps narrower than this (metres) everywhere are ignored.
    split_share : float, default 0.05
        Parts of a footprint under this share are digitising noise.
    zone_distance : float, default 20
        Uncovered buildings closer than this (metres) are in one zone.
    crs : int, str or pyproj.CRS, optional
        Metric CRS to compute in (default: :func:`gridgeo.crs.metric_crs`).

    Returns
    -------
    Audit

    Raises
    ------
    InputError
        A layer, column or setting is unusable (the message says how to fix it), or
        the grids and buildings do not overlap at all.
    """
    t0 = time.perf_counter()
    rules = Rules.from_keywords(
        target=target,
        tolerance=tolerance,
        households_column=households_column,
        household_options=household_options,
    )
    checks = _check_settings(
        split_share=split_share,
        zone_distance=zone_distance,
        min_area=min_area,
        sliver_width=sliver_width,
        study_area=study_area,
        street_front=street_front,
        frontage_depth=frontage_depth,
    )
    layers = _check_layers(
        grids, buildings, streets, pois, boundaries, boundary_id, [households_column, building_id]
    )
    if register is not None:
        register = _check_register(register, register_key, register_grid)
    ids, dedicated = grid_ids_and_types(layers.grids, grid_id, grid_type, checks.street_front)
    layers = layers.to_metric(crs)
    notes: list[str] = []
    plan = _plan_polygons(
        layers.grids, ids, dedicated, grid_type, layers.boundaries, checks, layers.crs, notes
    )
    hh = building_households(
        layers.buildings, column=rules.households_column, options=rules.household_options
    ).to_numpy(dtype=np.int64)
    band = rules.grid_band()
    bkey = _building_keys(layers.buildings, building_id)
    found = _building_findings(
        layers.buildings, hh, bkey, plan, checks, bounded=layers.bounded, target=band.target
    )
    sf, sf_zones = _street_front_findings(layers, found, plan, checks)
    load = _load(layers, plan, found, hh, sf, band.target, rules.tolerance, boundary_id)
    double, reg_figures = _register_findings(register, found, plan, layers.crs)
    figures = _audit_figures(
        layers, plan, found, sf, load, reg_figures, checks, band.target, rules.tolerance
    )
    figures["notes"] = notes
    figures["seconds"] = round(time.perf_counter() - t0, 3)
    log.info("coverage audit done in %.2f s", figures["seconds"])
    return _result(plan, found, sf, sf_zones, load, double, figures, band.target, rules.tolerance)


@dataclass(frozen=True)
class _Settings:
    """The audit's own settings, checked."""

    split_share: float
    zone_distance: float
    min_area: float
    sliver_width: float
    study_area: str
    street_front: StreetFrontOptions

    def figures(self, has_boundaries: bool) -> dict[str, Any]:
        """The settings as the audit's figures report them."""
        opt = self.street_front
        return {
            "min_area_m2": self.min_area,
            "sliver_width_m": self.sliver_width,
            "split_share": self.split_share,
            "zone_distance_m": self.zone_distance,
            "study_area": "boundaries" if has_boundaries else self.study_area,
            "frontage_depth_m": opt.frontage_depth,
            "zone_gap_m": opt.zone_gap,
            "micro_grid_shops": opt.micro_grid_shops,
            "micro_grid_length_m": opt.micro_grid_length,
        }


@dataclass
class _PlanPolygons:
    """The plan's polygons (duplicate ids merged), the area they must cover, their
    overlaps and the gaps between them."""

    grid_geom: np.ndarray
    ids: np.ndarray
    dedicated: np.ndarray
    type_text: Any
    area: shapely.Geometry
    pair_polys: Any
    overlaps: gpd.GeoDataFrame
    overlap_land: np.ndarray
    ignored_overlaps: int
    gaps_geom: np.ndarray
    ignored_gaps: int


@dataclass
class _BuildingFindings:
    """The buildings audited, the uncovered ones, gaps and uncovered zones."""

    audited: gpd.GeoDataFrame
    uncovered_buildings: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    in_scope: np.ndarray
    grid_of: np.ndarray


@dataclass(frozen=True)
class _Layers:
    """The audit's layers, checked (``crs``: the metric CRS, once reprojected)."""

    grids: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    streets: gpd.GeoDataFrame | None
    pois: gpd.GeoDataFrame | None
    boundaries: gpd.GeoDataFrame | None
    crs: Any = None

    @property
    def bounded(self) -> bool:
        """Whether the area to cover comes from community boundaries."""
        return self.boundaries is not None

    def to_metric(self, crs: Any) -> _Layers:
        """The layers in ``crs``, by default the metric CRS :func:`metric_crs` chooses."""
        layers = (self.grids, self.buildings, self.streets, self.pois, self.boundaries)
        metric = metric_crs(list(layers), crs=crs)
        return _Layers(*(None if g is None else to_metric(g, metric) for g in layers), crs=metric)


def _check_settings(
    *,
    split_share: float,
    zone_distance: float,
    min_area: float,
    sliver_width: float,
    study_area: str,
    street_front: StreetFrontOptions | None,
    frontage_depth: float | None,
) -> _Settings:
    """The audit's own settings, checked (``frontage_depth`` set in ``street_front``)."""
    return _Settings(
        split_share=check_fraction(split_share, "split_share", upper=0.5),
        zone_distance=check_positive(zone_distance, "zone_distance"),
        min_area=_non_negative(min_area, "min_area"),
        sliver_width=_non_negative(sliver_width, "sliver_width"),
        study_area=_check_study_area(study_area),
        street_front=with_depth(street_front, frontage_depth),
    )


def _check_study_area(study_area: str) -> str:
    """``study_area``, checked."""
    if study_area not in ("filled", "hull"):
        msg = f"study_area must be 'filled' or 'hull', got {study_area!r}"
        raise InputError(msg)
    return study_area


def _check_layers(
    grids, buildings, streets, pois, boundaries, boundary_id, building_columns
) -> _Layers:
    """The layers checked: polygons, lines, shops and the columns named."""
    grids = check_layer(_polygon_parts(grids), "grids", geom_types=POLYGONAL)
    buildings = check_layer(_polygon_parts(buildings), "buildings", geom_types=POLYGONAL)
    streets = None if streets is None else check_layer(streets, "streets", geom_types=LINEAR)
    pois = None if pois is None else check_poi_layer(pois)
    if boundaries is not None:
        boundaries = check_layer(_polygon_parts(boundaries), "boundaries", geom_types=POLYGONAL)
        if boundary_id is not None:
            check_column(boundaries, boundary_id, "boundaries")
    elif boundary_id is not None:
        raise InputError("boundary_id needs a boundaries layer (--boundaries)")
    for col in building_columns:
        if col is not None:
            check_column(buildings, col, "buildings")
    check_datum(grids, buildings, name="grids")
    check_datum(streets, buildings)
    return _Layers(grids, buildings, streets, pois, boundaries)


def _building_keys(buildings: gpd.GeoDataFrame, building_id: str | None) -> np.ndarray:
    """How buildings are named in the outputs: ``building_id``, else ``osm_id``, else
    the row labels."""
    if building_id is not None:
        return _text_ids(buildings[building_id]).to_numpy(dtype=object)
    if "osm_id" in buildings.columns:
        return _text_ids(buildings["osm_id"]).to_numpy(dtype=object)
    return np.asarray([str(v) for v in buildings.index], dtype=object)


def _plan_polygons(
    grids, ids, dedicated, grid_type, boundaries, checks, metric, notes
) -> _PlanPolygons:
    """The grids (rows sharing an id merged), the area to cover, overlaps and gaps."""
    grid_geom, ids, dedicated, type_text, dup = _merge_duplicates(grids, ids, dedicated, grid_type)
    if dup:
        notes.append(
            f"{len(dup)} grid ids appear on several rows and were merged: {', '.join(dup[:5])}"
        )
    shapely.prepare(grid_geom)
    area = _study_area(grid_geom, boundaries, checks.study_area)
    pair_polys, overlaps, overlap_land, ignored_o = _overlaps(
        grid_geom, ids, checks.min_area, checks.sliver_width, metric
    )
    gaps_geom, ignored_g = _pieces(
        shapely.difference(area, shapely.union_all(grid_geom)),
        checks.min_area,
        checks.sliver_width,
    )
    return _PlanPolygons(
        grid_geom,
        ids,
        dedicated,
        type_text,
        area,
        pair_polys,
        overlaps,
        overlap_land,
        ignored_o,
        gaps_geom,
        ignored_g,
    )


def _building_findings(
    buildings, hh, bkey, plan: _PlanPolygons, checks: _Settings, *, bounded: bool, target: float
) -> _BuildingFindings:
    """Every building's cover (its grid, share, overlap, gap, uncovered zone), and the
    overlaps, gaps and uncovered zones counted in buildings and households
    (``bounded``: the area to cover comes from community boundaries)."""
    bgeom = buildings.geometry.to_numpy()
    metric = buildings.crs
    cover = _cover(bgeom, plan, checks.split_share, bounded=bounded)
    overlap_of = _count_overlaps(bgeom, hh, plan)
    gaps, gap_of = _count_gaps(bgeom, hh, cover.uncovered, plan, metric)
    zones, zone_of = _uncovered_zones(
        bgeom,
        np.flatnonzero(cover.uncovered),
        hh,
        checks.zone_distance,
        plan.grid_geom,
        plan.ids,
        gaps,
        target,
        metric,
    )
    audited = gpd.GeoDataFrame(
        {
            "building_id": bkey,
            "households": hh,
            "grid_id": _pick(plan.ids, cover.grid_of),
            "share": np.round(cover.cov["share"], 4),
            "covered_share": np.round(cover.cov["covered"], 4),
            "n_grids": cover.cov["n_grids"],
            "split_by_boundary": cover.cov["split"] & cover.in_scope,
            "uncovered": cover.uncovered,
            "in_scope": cover.in_scope,
            "overlap_id": _pick(plan.overlaps["overlap_id"].to_numpy(dtype=object), overlap_of),
            "zone_id": _pick(zones["zone_id"].to_numpy(dtype=object), zone_of),
        },
        geometry=bgeom,
        crs=metric,
        index=buildings.index,
    )
    uncovered_buildings = _uncovered_buildings(audited, cover, gaps, gap_of, plan.ids)
    return _BuildingFindings(
        audited, uncovered_buildings, gaps, zones, cover.in_scope, cover.grid_of
    )


@dataclass
class _Cover:
    """How the grids cover every building (``cov``: the per-building join's columns)."""

    cov: dict[str, np.ndarray]
    in_scope: np.ndarray
    uncovered: np.ndarray
    grid_of: np.ndarray


def _cover(bgeom: np.ndarray, plan: _PlanPolygons, split_share: float, *, bounded: bool) -> _Cover:
    """Every building's grid, share covered, and whether it is in scope and uncovered."""
    # the per-building joins are looked up on the package at call time:
    # gridgeo.distributed replaces gridgeo.audit._building_cover and ._share_in there
    joins = sys.modules[__package__]
    cov = joins._building_cover(bgeom, plan.grid_geom, plan.pair_polys, split_share)
    area = plan.area
    shapely.prepare(area)
    rep = shapely.point_on_surface(bgeom)
    inside = shapely.contains_xy(area, shapely.get_x(rep), shapely.get_y(rep))
    in_scope = cov["largest"] >= 0 if bounded else np.ones(len(bgeom), dtype=bool)
    in_scope = in_scope | inside
    uncovered = cov["uncovered"] & in_scope
    grid_of = np.where(uncovered | ~in_scope, -1, cov["largest"])
    if len(bgeom) and (cov["largest"] < 0).all():
        msg = (
            f"none of the {len(bgeom)} buildings lies in any of the {len(plan.grid_geom)} grids: "
            "check that both layers cover the same area and that their CRS are right "
            "(e.g. coordinates in metres labelled EPSG:4326)"
        )
        raise InputError(msg)
    return _Cover(cov, in_scope, uncovered, grid_of)


def _count_overlaps(bgeom: np.ndarray, hh: np.ndarray, plan: _PlanPolygons) -> np.ndarray:
    """The overlap of every building (−1: none); the overlaps get counts and severity."""
    # a building is counted in an overlap when half its footprint or more is in one;
    # it goes to the pair of grids holding the largest part of it
    joins = sys.modules[__package__]
    overlaps = plan.overlaps
    in_overlap = joins._share_in(bgeom, plan.overlap_land) >= 0.5
    overlap_of = np.full(len(bgeom), -1, dtype=np.int64)
    hit = np.flatnonzero(in_overlap)
    overlap_of[hit] = _largest_part(bgeom[hit], overlaps.geometry.to_numpy(), at_least=0.0)
    _add_counts(overlaps, overlap_of, hh)
    overlaps["severity"] = np.where(
        overlaps["buildings"] > 0, "high", np.where(overlaps["area_m2"] >= 100, "medium", "low")
    )
    return overlap_of


def _count_gaps(bgeom, hh, uncovered, plan: _PlanPolygons, metric):
    """The gaps layer (with counts and severity), and the gap of every building (−1)."""
    gaps = _gaps_layer(plan.gaps_geom, plan.grid_geom, plan.ids, metric)
    gap_of = np.full(len(bgeom), -1)
    unc = np.flatnonzero(uncovered)
    gap_of[unc] = assign_to_polygons(bgeom[unc], gaps.geometry.to_numpy())
    _add_counts(gaps, np.where(uncovered, gap_of, -1), hh)
    gaps["severity"] = np.where(
        gaps["households"] > 0, "high", np.where(gaps["area_m2"] >= 1000, "medium", "low")
    )
    return gaps, gap_of


def _uncovered_buildings(audited, cover: _Cover, gaps, gap_of, ids) -> gpd.GeoDataFrame:
    """The uncovered buildings with their zone, gap and the grid holding most of them."""
    uncovered = cover.uncovered
    ub = audited[uncovered]
    return gpd.GeoDataFrame(
        {
            "building_id": ub["building_id"].to_numpy(dtype=object),
            "households": ub["households"].to_numpy(),
            "zone_id": ub["zone_id"].to_numpy(dtype=object),
            "gap_id": _pick(gaps["gap_id"].to_numpy(dtype=object), gap_of[uncovered]),
            "covered_share": ub["covered_share"].to_numpy(),
            "largest_grid": _pick(ids, cover.cov["largest"][uncovered]),
        },
        geometry=ub.geometry.to_numpy(),
        crs=audited.crs,
    )


def _street_front_findings(
    layers: _Layers, found: _BuildingFindings, plan: _PlanPolygons, checks: _Settings
):
    """Street-front zones (with their severity), shops and proposed micro-grids."""
    sf = _street_front(
        layers.streets,
        layers.pois,
        layers.buildings[found.in_scope],
        plan.grid_geom,
        plan.ids,
        plan.dedicated,
        plan.area,
        layers.boundaries,
        checks.street_front,
    )
    sf_zones = sf.zones.copy()
    sf_zones["severity"] = sf_zones["status"].map(
        {"uncovered": "high", "mixed": "medium", "dedicated": "ok"}
    )
    return sf, sf_zones


def _load(
    layers: _Layers,
    plan: _PlanPolygons,
    found: _BuildingFindings,
    hh: np.ndarray,
    sf,
    target: float,
    tolerance: float,
    boundary_id: str | None,
) -> gpd.GeoDataFrame:
    """Households and shops of every grid against the band (and its community)."""
    load = _grid_load(
        plan.grid_geom,
        plan.ids,
        plan.dedicated,
        plan.type_text,
        found.grid_of,
        hh,
        sf.shops,
        target,
        tolerance,
        layers.crs,
    )
    if layers.bounded:
        _community_of_grids(load, layers.boundaries, boundary_id)
    return load


def _register_findings(register, found: _BuildingFindings, plan: _PlanPolygons, crs: Any):
    """Buildings the register puts in several grids, and the register's figures."""
    if register is None:
        return None, {}
    return _double_counting(*register, found.audited, plan.ids, crs)


def _audit_figures(
    layers: _Layers,
    plan: _PlanPolygons,
    found: _BuildingFindings,
    sf,
    load: gpd.GeoDataFrame,
    register_figures: dict[str, Any],
    checks: _Settings,
    target: float,
    tolerance: float,
) -> dict[str, Any]:
    """The audit's figures: counts, areas and households of every kind of finding."""
    return _figures(
        audited=found.audited,
        dedicated=plan.dedicated,
        zones=found.zones,
        overlaps=plan.overlaps,
        overlap_area=float(shapely.area(plan.overlap_land).sum()),
        ignored_overlaps=plan.ignored_overlaps,
        gaps=found.gaps,
        ignored_gaps=plan.ignored_gaps,
        load=load,
        street_front=sf,
        register=register_figures,
        target=target,
        tolerance=tolerance,
        crs=layers.crs,
        settings=checks.figures(layers.bounded),
    )


def _result(
    plan: _PlanPolygons,
    found: _BuildingFindings,
    sf,
    sf_zones: gpd.GeoDataFrame,
    load: gpd.GeoDataFrame,
    double: gpd.GeoDataFrame | None,
    figures: dict[str, Any],
    target: float,
    tolerance: float,
) -> Audit:
    """The findings gathered into an :class:`Audit`."""
    return Audit(
        buildings=found.audited,
        uncovered_buildings=found.uncovered_buildings,
        uncovered_zones=found.zones,
        overlaps=plan.overlaps,
        gaps=found.gaps,
        street_front_zones=sf_zones,
        proposed_micro_grids=sf.micro_grids,
        grid_load=load,
        shops=sf.shops,
        double_counted=double,
        figures=figures,
        target=target,
        tolerance=tolerance,
        study_area=plan.area,
        notes=figures["notes"],
    )
