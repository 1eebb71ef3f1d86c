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

from ._errors import InputError
from ._validate import LINEAR, POLYGONAL, check_column, check_counts, check_layer
from .building_class import with_classes
from .crs import metric_crs, to_metric
from .households import building_households, capacity, largest_remainder
from .rules import RuleKeywords, Rules

__all__ = [
    "Inputs",
    "LayerKeywords",
    "PlanKeywords",
    "split_keywords",
    "building_counts",
    "building_weights",
    "check_inputs",
    "classify_buildings",
    "community_households",
    "community_totals",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inputs:
    """The data of a plan, checked; every layer but ``streets`` may be None.

    Attributes
    ----------
    streets, buildings, population, boundaries, barriers, dedicated, pois, landuse : GeoDataFrame
        As :func:`gridgeo.partition` takes them.
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
    **layers: Unpack[LayerKeywords],
) -> Inputs:
    """Check the layers and that they fit the rules; raise :class:`~gridgeo.InputError`
    saying how to fix what does not.

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
        buildings = check_layer(buildings, "buildings", geom_types=POLYGONAL)
        if rules.households_column is not None:
            check_column(buildings, rules.households_column, "buildings")
    if boundaries is not None:
        boundaries = _check_boundaries(boundaries, rules)
    if population is not None:
        population = check_layer(population, "population grid", geom_types=POLYGONAL)
    if barriers is not None:
        barriers = check_layer(barriers, "barriers")
    dedicated, pois, landuse = layers.get("dedicated"), layers.get("pois"), layers.get("landuse")
    if landuse is not None:
        landuse = check_layer(landuse, "land use", geom_types=POLYGONAL)
    return Inputs(streets, buildings, population, boundaries, barriers, dedicated, pois, landuse)


def classify_buildings(layers: Inputs, rules: Rules) -> Inputs:
    """``layers`` with the class of every building (``building_class``: residential,
    mixed, unspecified, non-residential; see :mod:`gridgeo.building_class`), from its
    tags and the land use: the ``landuse`` layer, else ``dedicated`` when it is an OSM
    land-use layer (it has a ``value`` column). Layers in one metric CRS."""
    if layers.buildings is None:
        return layers
    landuse = layers.landuse
    if landuse is None and layers.dedicated is not None and "value" in layers.dedicated.columns:
        landuse = layers.dedicated
    buildings = with_classes(layers.buildings, landuse, table=rules.building_classes)
    return replace(layers, buildings=buildings)


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
