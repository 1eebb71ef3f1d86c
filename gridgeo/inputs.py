"""The first stage of every plan: the input layers checked against the rules and
brought into one metric CRS.

:func:`check_inputs` is what :func:`gridgeo.partition` (through
:func:`gridgeo.workspace.prepare`), :func:`gridgeo.rebalance` and the service run
before anything else, so that each refuses the same inputs with the same messages.
:func:`building_weights` evaluates the ``weight`` rule over buildings for both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, TypedDict, Unpack

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import GeometryError, HouseholdsError, InputError
from ._validate import LINEAR, POLYGONAL, check_column, check_counts, check_layer, head_rows
from .building_class import with_classes
from .crs import metric_crs, to_metric
from .datum import check_datum
from .households import building_households, capacity, largest_remainder
from .rules import RuleKeywords, Rules

__all__ = [
    "Inputs",
    "LayerKeywords",
    "PlanKeywords",
    "split_keywords",
    "building_counts",
    "building_weights",
    "check_buildings",
    "check_inputs",
    "check_overlap",
    "classify_buildings",
    "community_households",
    "community_totals",
    "locked_mask",
    "locked_rows",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inputs:
    """The data of a plan, checked; every layer but ``streets`` may be None.

    Attributes
    ----------
    streets, buildings, population, boundaries, barriers, dedicated, pois, landuse : GeoDataFrame
        As :func:`gridgeo.partition` takes them.
    locked_grids : GeoDataFrame
        The grids kept exactly as they are (already selected by the ``locked`` rules).
    crs : pyproj.CRS or None
        The metric CRS once :meth:`to_metric` has run (None before).
    """

    streets: gpd.GeoDataFrame | None
    buildings: gpd.GeoDataFrame | None = None
    population: gpd.GeoDataFrame | None = None
    boundaries: gpd.GeoDataFrame | None = None
    barriers: gpd.GeoDataFrame | None = None
    dedicated: gpd.GeoDataFrame | None = None
    pois: gpd.GeoDataFrame | None = None
    landuse: gpd.GeoDataFrame | None = None
    locked_grids: gpd.GeoDataFrame | None = None
    crs: Any = None

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """The layers that are given, by name."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "crs" and getattr(self, f.name) is not None
        }

    def to_metric(self, crs: Any = None, *, among: tuple[str, ...] | None = None) -> Inputs:
        """Every layer in ``crs`` (default: chosen from the layers, see
        :func:`gridgeo.crs.metric_crs`; ``among`` names the layers that choose it)."""
        given = self.layers()
        if crs is None or not _is_crs(crs):
            pick = among or ("streets", "buildings", "boundaries", "population")
            crs = metric_crs([given.get(k) for k in pick], crs=crs)
        log.info("computing in %s", crs.name)
        return replace(self, crs=crs, **{k: to_metric(v, crs) for k, v in given.items()})


class LayerKeywords(TypedDict, total=False):
    """The layers the planning rules read, as keyword arguments (see
    :func:`gridgeo.workspace.prepare` for each)."""

    population: gpd.GeoDataFrame | None
    boundaries: gpd.GeoDataFrame | None
    barriers: gpd.GeoDataFrame | None
    dedicated: gpd.GeoDataFrame | None
    pois: gpd.GeoDataFrame | None
    landuse: gpd.GeoDataFrame | None
    locked_grids: gpd.GeoDataFrame | None


class PlanKeywords(LayerKeywords, RuleKeywords, total=False):
    """The keywords of every face that draws grids: the rules' layers and every field
    of :class:`gridgeo.rules.Rules`."""


def split_keywords(keywords: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``keywords`` of a face as (layers, rules)."""
    layers = {k: keywords[k] for k in LayerKeywords.__annotations__ if k in keywords}
    return layers, {k: v for k, v in keywords.items() if k not in layers}


def check_inputs(
    streets: gpd.GeoDataFrame | None,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    rules: Rules,
    require_streets: bool = True,
    plan_given: bool = False,
    **layers: Unpack[LayerKeywords],
) -> Inputs:
    """Check the layers and that they fit the rules; raise :class:`~gridgeo.InputError`
    saying how to fix what does not (``plan_given``: the grids the ``locked`` rules pick
    from are checked by the caller, as :func:`gridgeo.rebalance` does).

    Examples
    --------
    >>> import gridgeo
    >>> from gridgeo.rules import Rules
    >>> layers = gridgeo.read_osm(gridgeo.datasets.get_path("kouvola"))
    >>> check_inputs(layers.streets, None, rules=Rules(households_column="hh"))
    Traceback (most recent call last):
    ...
    gridgeo._errors.InputError: households_column needs a buildings layer (--buildings)
    """
    population, boundaries = layers.get("population"), layers.get("boundaries")
    barriers = layers.get("barriers")
    _check_sources(rules, buildings, population, boundaries)
    if streets is not None or require_streets:
        streets = check_layer(streets, "streets", geom_types=LINEAR)
    if buildings is not None:
        buildings = check_buildings(buildings, rules, population=population)
    if boundaries is not None:
        boundaries = _check_boundaries(boundaries, rules)
    if population is not None:
        population = check_layer(population, "population grid", geom_types=POLYGONAL)
    if barriers is not None:
        barriers = check_layer(barriers, "barriers")
    dedicated, pois, landuse = layers.get("dedicated"), layers.get("pois"), layers.get("landuse")
    if landuse is not None:
        landuse = check_layer(landuse, "land use", geom_types=POLYGONAL)
    locked = layers.get("locked_grids")
    if locked is not None:
        locked = locked_rows(check_layer(locked, "locked grids", geom_types=POLYGONAL), rules)
    elif (rules.locked or rules.lock_column is not None) and not plan_given:
        msg = (
            "locking grids needs the plan they belong to: pass its grids as locked_grids= "
            "(--locked-grids FILE), or redraw around them with gridgeo rebalance --lock"
        )
        raise InputError(msg)
    checked = Inputs(
        streets, buildings, population, boundaries, barriers, dedicated, pois, landuse, locked
    )
    check_overlap(checked.layers())
    check_datum(checked.streets, checked.buildings)
    return checked


def classify_buildings(layers: Inputs, rules: Rules) -> Inputs:
    """``layers`` with the class of every building (``building_class``: residential,
    mixed, unspecified, non-residential; see :mod:`gridgeo.building_class`), from its
    tags, the points of interest inside it and the land use: the ``landuse`` layer,
    else ``dedicated`` when it is an OSM land-use layer (it has a ``value`` column).
    Layers in one metric CRS."""
    if layers.buildings is None:
        return layers
    landuse = layers.landuse
    if landuse is None and layers.dedicated is not None and "value" in layers.dedicated.columns:
        landuse = layers.dedicated
    buildings = with_classes(
        layers.buildings, landuse, pois=layers.pois, table=rules.building_classes
    )
    untyped = int((buildings["building_class"] == "unspecified").sum())
    if landuse is None and untyped:
        log.warning(
            "buildings: %d of %d have no use tag (building=yes or none) and count as "
            "housing; with no land-use layer, factories, offices and schools among them "
            "cannot be told apart: give land-use polygons (--landuse FILE, landuse=) "
            "or the planner's own building_class column",
            untyped,
            len(buildings),
        )
    return replace(layers, buildings=buildings)


def locked_mask(grids: gpd.GeoDataFrame, ids: np.ndarray, rules: Rules) -> np.ndarray:
    """The grids the planner locked: ids in the ``locked`` rule, or a true
    ``lock_column`` (true, 1, yes, 是); an unknown id is an error."""
    out = np.zeros(len(grids), dtype=bool)
    text = np.asarray([str(i) for i in ids], dtype=object)
    if rules.locked:
        unknown = sorted(rules.locked - set(text))
        if unknown:
            msg = (
                f"locked grids not in the plan: {', '.join(unknown[:5])}; "
                f"its grid ids are like {', '.join(text[:3])}"
            )
            raise InputError(msg)
        out |= np.isin(text, list(rules.locked))
    if rules.lock_column is not None:
        check_column(grids, rules.lock_column, "grids")
        flags = grids[rules.lock_column].astype("string").str.strip().str.lower()
        out |= flags.isin(["true", "1", "1.0", "yes", "y", "是", "locked"]).to_numpy()
    return out


def locked_rows(grids: gpd.GeoDataFrame, rules: Rules) -> gpd.GeoDataFrame:
    """The rows of a plan's grids that the rules lock (all of them when no rule picks
    any), with ``grid_id`` (default: the row labels) and ``lock_id`` 0, 1, …"""
    ids = grids["grid_id"].to_numpy() if "grid_id" in grids.columns else grids.index.to_numpy()
    pick = locked_mask(grids, ids, rules)
    if not rules.locked and rules.lock_column is None:
        pick[:] = True
    out = grids[pick].copy()
    out["grid_id"] = [str(i) for i in ids[pick]]
    out["lock_id"] = np.arange(len(out))
    return out.reset_index(drop=True)


def check_buildings(
    buildings: gpd.GeoDataFrame, rules: Rules, *, population: gpd.GeoDataFrame | None = None
) -> gpd.GeoDataFrame:
    """The buildings layer as the rules can use it: footprints, and points where a
    point can hold households.

    * Broken footprints are repaired with :func:`shapely.make_valid`; those that
      collapse to lines or points become points where they lie (counted in a
      warning); the layer is refused when most of it collapses.
    * Points (a building register geocoded to 楼栋点, entrances and labels of a
      vector-tile export): with a households column, a point is a building and the
      block or unit holding it takes its households. Without one, households are
      estimated from footprints, which a point has not: points are ignored with a
      warning counting them. A layer of points only works with a households column,
      a population grid, a total or community totals (each point one equal share).
    * Lines are not buildings: ignored with a warning.

    Raises :class:`~gridgeo.InputError` naming what is missing when nothing usable
    remains.
    """
    b = check_layer(buildings, "buildings", collapsed="point")
    column = rules.households_column
    if column is not None:
        check_column(b, column, "buildings")
    geom = b.geometry.values
    mixed = shapely.get_type_id(geom) == 7  # a collection: its polygonal parts, if any
    if mixed.any():
        geom = geom.copy()
        geom[mixed] = [_polygonal_or_self(g) for g in geom[mixed]]
        b = b.set_geometry(gpd.GeoSeries(geom, index=b.index, crs=b.crs))
    dim = shapely.get_dimensions(geom)
    lines, points, footprints = dim == 1, dim == 0, dim == 2
    keep = footprints.copy()
    if lines.any():
        held = _held(b, lines, column)
        log.warning(
            "buildings: ignored %d lines%s: a building is a footprint polygon or a point; "
            "give the buildings as polygons (or points with a households column)",
            int(lines.sum()),
            held,
        )
    if points.any():
        spread = population is not None or rules.total_households is not None
        spread |= rules.boundary_households is not None
        if column is not None or (not footprints.any() and spread):
            keep |= points
        elif footprints.any():
            log.warning(
                "buildings: ignored %d points: households are estimated from footprints and "
                "a point has none; give households per building (--households-column COL) "
                "to count each point as a building",
                int(points.sum()),
            )
        else:
            msg = (
                f"buildings layer holds only points ({int(points.sum())}): households cannot be "
                "estimated from footprints; give households per building (--households-column "
                "COL), a population grid (--population FILE) or a total (--total-households N)"
            )
            raise HouseholdsError(msg)
    keep &= ~_repeated_footprints(b, footprints, column)
    if not keep.any():
        found = ", ".join(sorted(set(b.geometry.geom_type)))
        msg = (
            f"buildings layer holds no footprints (polygons) or points but {len(b)} {found}; "
            "check that the right file or layer was given"
        )
        raise GeometryError(msg)
    return b if keep.all() else b[keep]


def _repeated_footprints(
    b: gpd.GeoDataFrame, footprints: np.ndarray, column: str | None
) -> np.ndarray:
    """Footprints that repeat an earlier one exactly (the same building twice: two
    exports merged), to leave out when households are estimated from footprints, so
    that a building counts once; with a households column the counts are the
    planner's and all are kept. Either way a warning counts them."""
    out = np.zeros(len(b), dtype=bool)
    rows = np.flatnonzero(footprints)
    if len(rows) < 2:
        return out
    shapes = pd.Series(shapely.to_wkb(shapely.normalize(b.geometry.values[rows])))
    again = rows[shapes.duplicated().to_numpy()]
    if not len(again):
        return out
    if column is None:
        out[again] = True
        log.warning(
            "buildings: ignored %d footprints that repeat another exactly (rows %s): the "
            "same building twice, as when two exports are merged, counts once",
            len(again),
            head_rows(b.index[again]),
        )
    else:
        log.warning(
            "buildings: %d footprints repeat another exactly (rows %s); their %s households "
            "are counted as given: remove the copies if they are the same building",
            len(again),
            head_rows(b.index[again]),
            f"{pd.to_numeric(b[column].iloc[again], errors='coerce').sum():,.0f}",
        )
    return out


def _polygonal_or_self(geom: shapely.Geometry) -> shapely.Geometry:
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in POLYGONAL]
    return shapely.union_all(parts) if parts else geom


def _held(b: gpd.GeoDataFrame, rows: np.ndarray, column: str | None) -> str:
    """`` holding N households`` of the ``rows`` of ``b`` by ``column`` (when there are any)."""
    if column is None:
        return ""
    held = pd.to_numeric(b[column][rows], errors="coerce").fillna(0).sum()
    return f" (holding {held:,.0f} households in column {column!r}, not counted)" if held else ""


def _check_plausible(
    households: np.ndarray, index: pd.Index, rules: Rules, *, source: str, hint: str
) -> None:
    """Raise :class:`~gridgeo.HouseholdsError` naming the buildings (rows of
    ``index``) holding more than the ``max_households_per_building`` rule."""
    limit = rules.max_households_per_building
    over = np.flatnonzero(np.asarray(households, dtype=float) > limit)
    if not len(over):
        return
    values = np.asarray(households, dtype=float)[over]
    rows = ", ".join(f"{index[i]} ({v:,.0f})" for i, v in zip(over[:5], values[:5], strict=False))
    msg = (
        f"{len(over)} buildings hold more households than any real building "
        f"(max_households_per_building = {limit:,.0f}): rows {rows}{', …' if len(over) > 5 else ''} "
        f"{source}; {hint}, or raise the limit (--max-households-per-building N) if the "
        "figures are right"
    )
    raise HouseholdsError(msg)


def building_weights(
    buildings: gpd.GeoDataFrame,
    households: np.ndarray,
    expression: str,
    pois: gpd.GeoDataFrame | None = None,
) -> np.ndarray:
    """Evaluate the ``weight`` rule over building columns (plus ``households`` and
    ``shops``, the points of interest inside each building)."""
    table = pd.DataFrame(buildings.drop(columns=buildings.geometry.name)).copy()
    table["households"] = households
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


def building_counts(
    layers: Inputs, rules: Rules, *, study_area=None, community: Callable[[], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Integer households of every building of ``layers`` under the rules, and the
    weight each counts toward the band (its households unless a ``weight`` rule).

    Households are the community totals spread over their buildings (``community()``
    gives the community of every building), else
    :func:`gridgeo.households.building_households` (a column, ``building:flats``, a
    footprint estimate, scaled to a total or a population grid)."""
    hh = _households(layers, rules, study_area, community)
    if rules.weight is None:
        return hh, hh
    return hh, building_weights(layers.buildings, hh, rules.weight, layers.pois)


def _households(layers: Inputs, rules: Rules, study_area, community) -> np.ndarray:
    buildings, column = layers.buildings, rules.households_column
    if column is not None:  # before rounding: 10¹² households would overflow
        values = check_counts(buildings[column], f"households column {column!r}").to_numpy()
        _check_plausible(
            values,
            buildings.index,
            rules,
            source=f"in column {column!r}",
            hint="correct them (a compound's or a district's count put on one building?)",
        )
    hh = _counted(layers, rules, study_area, community)
    source, hint = _SOURCES[
        "total"
        if rules.total_households is not None
        else "population"
        if layers.population is not None
        else "communities"
        if rules.boundary_households is not None
        else "estimate"
    ]
    _check_plausible(hh, buildings.index, rules, source=source, hint=hint)
    return hh


_SOURCES = {
    "total": (
        "once --total-households is spread over the buildings",
        "check the total and that the buildings cover the area it counts",
    ),
    "population": (
        "once the population grid is spread over the buildings",
        "check that the grid counts people (--population-column) and that the buildings cover it",
    ),
    "communities": (
        "once the community totals are spread over their buildings",
        "check the totals and that each community's buildings are given",
    ),
    "estimate": (
        "from building:flats or the footprint estimate",
        "check the building:flats tags and levels of those buildings",
    ),
}


def _counted(layers: Inputs, rules: Rules, study_area, community) -> np.ndarray:
    if rules.boundary_households is not None:
        totals = community_totals(layers.boundaries, rules)
        return community_households(layers.buildings, community(), totals, rules)
    return building_households(
        layers.buildings,
        column=rules.households_column,
        total=rules.total_households,
        population=layers.population,
        population_column=rules.population_column,
        study_area=study_area,
        options=rules.household_options,
    ).to_numpy(dtype=np.int64)


def community_totals(boundaries: gpd.GeoDataFrame, rules: Rules) -> dict[Any, int]:
    """Households of every community: the ``boundary_households`` rule's column, by
    the ``boundary_id`` rule's id (default: the row index)."""
    column = rules.boundary_households
    ids = (
        boundaries[rules.boundary_id]
        if rules.boundary_id
        else pd.Series(boundaries.index, index=boundaries.index)
    )
    totals = check_counts(boundaries[column], f"boundaries column {column!r}")
    return dict(zip(ids.to_numpy(), totals.to_numpy(), strict=True))


def community_households(
    buildings: gpd.GeoDataFrame, community: np.ndarray, totals: dict[Any, int], rules: Rules
) -> np.ndarray:
    """Spread each community's household total over its buildings (``community``: the
    community of every building) by floor area; totals are conserved exactly."""
    cap = capacity(buildings, options=rules.household_options)
    hh = np.zeros(len(buildings), dtype=np.int64)
    for cid in pd.unique(community):
        members = np.flatnonzero(community == cid)
        total = totals.get(cid, 0)
        if total != int(total):
            raise InputError(f"community {cid!r}: household total {total} is not a whole number")
        hh[members] = largest_remainder(cap[members], int(total)) if total else 0
    return hh


def _check_sources(rules: Rules, buildings, population, boundaries) -> None:
    """The rules' layers are given, and households come from exactly one source."""
    if rules.weight is not None and buildings is None:
        raise InputError("a weight expression needs buildings (--buildings or --osm)")
    if rules.rural_column is not None and boundaries is None:
        raise InputError("rural_column needs a boundaries layer (--boundaries)")
    if rules.boundary_households is not None and boundaries is None:
        raise InputError("boundary_households needs a boundaries layer (--boundaries)")
    if population is not None and (
        rules.households_column is not None
        or rules.total_households is not None
        or rules.boundary_households is not None
    ):
        msg = "give only one source of households: a column, a population grid, a total, or community totals"
        raise InputError(msg)
    if buildings is None and rules.households_column is not None:
        raise InputError("households_column needs a buildings layer (--buildings)")
    if buildings is None and rules.boundary_households is not None:
        raise InputError("community household totals need buildings to spread over")
    if buildings is None and population is None and rules.total_households is None:
        msg = "without buildings, households must come from a population grid (--population) or a total (--total-households)"
        raise InputError(msg)


def _check_boundaries(boundaries: gpd.GeoDataFrame, rules: Rules) -> gpd.GeoDataFrame:
    boundaries = check_layer(boundaries, "boundaries", geom_types=POLYGONAL)
    for col in (rules.boundary_id, rules.boundary_households, rules.rural_column):
        if col is not None:
            check_column(boundaries, col, "boundaries")
    bid = rules.boundary_id
    if bid is not None and boundaries[bid].duplicated().any():
        dup = boundaries[bid][boundaries[bid].duplicated()].iloc[0]
        msg = f"boundaries: id {dup!r} appears more than once in column {bid!r}; ids must be unique"
        raise InputError(msg)
    return boundaries


def _is_crs(value: Any) -> bool:
    from pyproj import CRS

    return isinstance(value, CRS)


# --------------------------------------------------------------------------- extents

#: Below this share of the buildings inside the streets' (or grids') extent, the two
#: layers do not describe the same area.
MIN_OVERLAP = 0.5
_FIX_PLACE = (
    "give layers of the same area, or fix the CRS of the one that is off (coordinates "
    "labelled with the wrong CRS land elsewhere: gdf.set_crs(EPSG, allow_override=True))"
)
_FIX_SWAP = (
    "swap them back in the source (QGIS: Swap X and Y coordinates) or with "
    "gdf.set_geometry(shapely.transform(gdf.geometry.values, lambda xy: xy[:, ::-1]))"
)


def check_overlap(layers: dict[str, gpd.GeoDataFrame]) -> None:
    """Refuse layers that do not cover the same area, with both extents in
    longitude/latitude and the likely fix.

    Most buildings (:data:`MIN_OVERLAP`) must lie within the extent of the ``grids``
    (a plan being rebalanced), else of the ``streets``; the population grid, the
    community boundaries and the streets (when the grids lead) must overlap the area of
    those and the buildings. A layer that fits once its x and y are exchanged has its
    coordinates swapped (latitude given as x), which the error says; so does a layer
    whose latitudes lie beyond ±90°.
    """
    named = {k: v for k, v in layers.items() if v is not None and len(v)}
    lead = next((k for k in ("grids", "streets") if k in named), None)
    extents = {k: _Extent(k, v) for k, v in named.items()}
    for e in extents.values():
        if e.box is None and e.fits_swapped(None):
            msg = (
                f"the coordinates of the {e.what} look swapped, latitude given as x and "
                f"longitude as y ({e.what}: x {e.raw}, and a latitude cannot pass ±90°); "
                f"{_FIX_SWAP}"
            )
            raise InputError(msg)
    if lead is None or extents[lead].box is None:
        return
    ref = extents[lead]
    area = ref.box
    if "buildings" in extents:
        b = extents["buildings"]
        share = b.share_in(ref.grown())
        if share < MIN_OVERLAP:
            _refuse(b, ref, f"{share:.0%} of the buildings lie within the {ref.what}' extent")
        area = _union(area, b.box)
    for name in ("population", "boundaries", "streets"):
        if name in extents and name != lead and not extents[name].touches(_grow(area)):
            _refuse(extents[name], ref, f"no part of the {extents[name].what} overlaps them")


def _refuse(layer: _Extent, ref: _Extent, why: str) -> None:
    """Raise: ``layer`` is elsewhere than ``ref`` — swapped when swapping fits."""
    where = f"{layer.what}: {layer.text()}; {ref.what}: {ref.text()}"
    if layer.fits_swapped(ref.grown()):
        msg = (
            f"the coordinates of the {layer.what} look swapped, latitude given as x and "
            f"longitude as y ({where}; exchanged, they would lie on the {ref.what}); {_FIX_SWAP}"
        )
    else:
        msg = f"{layer.what} and {ref.what} do not overlap ({where}; {why}); {_FIX_PLACE}"
    raise InputError(msg)


class _Extent:
    """Where a layer lies in longitude/latitude: per-feature boxes (NaN where not valid
    longitudes/latitudes), and the layer's box around the valid ones (None if none)."""

    _WHAT = {"population": "population grid", "boundaries": "community boundaries"}

    def __init__(self, name: str, gdf: gpd.GeoDataFrame) -> None:
        self.what = self._WHAT.get(name, name)
        self.bounds = shapely.bounds(gdf.geometry.values)
        self.crs = gdf.crs
        self.boxes = self._lonlat(self.bounds)
        self.box = _total(self.boxes)
        xy = self.bounds
        self.raw = (
            f"{np.nanmin(xy[:, 0]):.6g}–{np.nanmax(xy[:, 2]):.6g}, "
            f"y {np.nanmin(xy[:, 1]):.6g}–{np.nanmax(xy[:, 3]):.6g} in {_crs_name(gdf.crs)}"
        )

    def _lonlat(self, bounds: np.ndarray) -> np.ndarray:
        """Feature boxes (west, south, east, north) in EPSG:4326; NaN rows when invalid."""
        from pyproj import Transformer

        t = Transformer.from_crs(self.crs, 4326, always_xy=True)
        with np.errstate(all="ignore"):
            x0, y0 = t.transform(bounds[:, 0], bounds[:, 1], errcheck=False)
            x1, y1 = t.transform(bounds[:, 2], bounds[:, 3], errcheck=False)
        out = np.column_stack(
            [np.fmin(x0, x1), np.fmin(y0, y1), np.fmax(x0, x1), np.fmax(y0, y1)]
        ).astype(float)
        ok = np.isfinite(out).all(axis=1)
        ok &= (np.abs(out[:, [0, 2]]) <= 180).all(axis=1) & (np.abs(out[:, [1, 3]]) <= 90).all(
            axis=1
        )
        out[~ok] = np.nan
        return out

    def grown(self) -> tuple[float, float, float, float]:
        return _grow(self.box)

    def centres(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2

    def share_in(self, box, boxes: np.ndarray | None = None) -> float:
        """Share of the features whose centre lies in ``box``."""
        x, y = self.centres(self.boxes if boxes is None else boxes)
        w, s, e, n = box
        return float(np.mean((x >= w) & (x <= e) & (y >= s) & (y <= n)))

    def touches(self, box) -> bool:
        """Whether any feature's box meets ``box``."""
        w, s, e, n = box
        b = self.boxes
        return bool(np.any((b[:, 0] <= e) & (b[:, 2] >= w) & (b[:, 1] <= n) & (b[:, 3] >= s)))

    def fits_swapped(self, box) -> bool:
        """With x and y exchanged, the features are valid longitudes/latitudes and (with
        ``box``) most of them lie in it."""
        swapped = self._lonlat(self.bounds[:, [1, 0, 3, 2]])
        if not np.isfinite(swapped).all():
            return False
        if box is None:
            return True
        return self.share_in(box, swapped) >= MIN_OVERLAP

    def text(self) -> str:
        if self.box is None:
            return f"x {self.raw}"
        w, s, e, n = self.box
        return f"lon {w:.4f}–{e:.4f}, lat {s:.4f}–{n:.4f}"


def _total(boxes: np.ndarray):
    """The box around the valid feature boxes (None when none is valid)."""
    boxes = boxes[np.isfinite(boxes).all(axis=1)]
    if not len(boxes):
        return None
    return (
        float(boxes[:, 0].min()),
        float(boxes[:, 1].min()),
        float(boxes[:, 2].max()),
        float(boxes[:, 3].max()),
    )


def _union(a, b):
    if b is None:
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _grow(box, share: float = 0.1, degrees: float = 0.002):
    """``box`` grown by ``share`` of its size and ``degrees`` (about 200 m) each way."""
    w, s, e, n = box
    dx, dy = (e - w) * share + degrees, (n - s) * share + degrees
    return (w - dx, s - dy, e + dx, n + dy)


def _crs_name(crs) -> str:
    epsg = crs.to_epsg() if crs is not None else None
    return f"EPSG:{epsg}" if epsg else str(getattr(crs, "name", crs))
