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
    streets, buildings, population, boundaries, barriers, dedicated, pois : GeoDataFrame
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
        buildings = check_layer(buildings, "buildings", geom_types=POLYGONAL)
        if rules.households_column is not None:
            check_column(buildings, rules.households_column, "buildings")
    if boundaries is not None:
        boundaries = _check_boundaries(boundaries, rules)
    if population is not None:
        population = check_layer(population, "population grid", geom_types=POLYGONAL)
    if barriers is not None:
        barriers = check_layer(barriers, "barriers")
    dedicated, pois = layers.get("dedicated"), layers.get("pois")
    locked = layers.get("locked_grids")
    if locked is not None:
        locked = locked_rows(check_layer(locked, "locked grids", geom_types=POLYGONAL), rules)
    elif (rules.locked or rules.lock_column is not None) and not plan_given:
        msg = (
            "locking grids needs the plan they belong to: pass its grids as locked_grids= "
            "(--locked-grids FILE), or redraw around them with gridgeo rebalance --lock"
        )
        raise InputError(msg)
    return Inputs(streets, buildings, population, boundaries, barriers, dedicated, pois, locked)


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
