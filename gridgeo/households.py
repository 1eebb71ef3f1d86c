"""Households per building: from a column, OSM tags, floor area, a total or a population grid.

Every path ends in integer households per building. When a total is given (a number of
households, or people from a population grid), it is conserved exactly: fractional
shares are rounded with the largest-remainder method (floor every share, then give one
more household to the buildings with the largest remainders, ties by row order), so the
integers add up to the total.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import HouseholdsError
from ._validate import POINTS, POLYGONAL, check_column, check_counts, check_layer, check_positive
from .building_class import NON_RESIDENTIAL, classify, housing_levels

__all__ = [
    "HouseholdOptions",
    "NON_RESIDENTIAL",
    "building_households",
    "capacity",
    "largest_remainder",
    "spread_over_areas",
    "spread_population",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class HouseholdOptions:
    """Defaults for estimating households from footprints (see ``docs`` in DOMAIN.md).

    Attributes
    ----------
    persons_per_household : float
        People per household, 2.62 (China, 2020 census).
    floor_area_per_household : float
        Gross floor area per household in m², 92 (Chinese cities, 2020 census).
    default_levels : float
        Levels assumed when a building has neither ``building:levels`` nor a height.
    level_height : float
        Metres per level when levels come from a height.
    min_area : float
        Footprints smaller than this (m²) are taken as sheds and hold no households.
    """

    persons_per_household: float = 2.62
    floor_area_per_household: float = 92.0
    default_levels: float = 3.0
    level_height: float = 3.0
    min_area: float = 30.0


def largest_remainder(shares: np.ndarray, total: int) -> np.ndarray:
    """Round non-negative ``shares`` to integers that add up to ``total``.

    Shares are scaled to ``total`` first; the result is floor(share) plus one for the
    entries with the largest remainders (ties broken by position: deterministic).

    Examples
    --------
    >>> largest_remainder(np.array([1.0, 1.0, 1.0]), 10).tolist()
    [4, 3, 3]
    """
    shares = np.asarray(shares, dtype=float)
    total = int(total)
    if total < 0:
        msg = f"a household total must be 0 or more, got {total}"
        raise HouseholdsError(msg)
    if total == 0 or len(shares) == 0:
        return np.zeros(len(shares), dtype=np.int64)
    if (shares < 0).any():
        msg = "cannot spread households over negative shares; sizes and weights must be 0 or more"
        raise HouseholdsError(msg)
    top = shares.max(initial=0.0)
    if not np.isfinite(top):
        msg = "cannot spread households over infinite or undefined shares"
        raise HouseholdsError(msg)
    if not top > 0:
        msg = (
            f"cannot spread {total} households: nothing to spread them over "
            "(no residential building or block with a positive size)"
        )
        raise HouseholdsError(msg)
    unit = shares / top  # in [0, 1]: no overflow, however large or tiny the shares
    scaled = unit * (total / unit.sum())
    base = np.floor(scaled).astype(np.int64)
    rest = total - int(base.sum())
    order = np.argsort(-(scaled - base), kind="stable")
    if rest > 0:
        base[order[:rest]] += 1
    elif rest < 0:  # floating-point excess: take it back from the smallest remainders
        base[order[::-1][base[order[::-1]] > 0][:-rest]] -= 1
    return base


def _numeric(buildings: pd.DataFrame, *names: str) -> np.ndarray:
    for name in names:
        if name in buildings.columns:
            values = buildings[name]
            if values.dtype == object:
                values = values.astype(str).str.extract(r"([-+]?\d*\.?\d+)")[0]
            return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return np.full(len(buildings), np.nan)


def capacity(buildings: gpd.GeoDataFrame, *, options: HouseholdOptions | None = None) -> np.ndarray:
    """Estimated households each building can hold (float, 0 for non-residential).

    ``building:flats`` when tagged; otherwise footprint area × the levels that hold
    households ÷ gross floor area per household, for footprints ≥ ``min_area``. Which
    levels hold households comes from the building's class (its ``building_class``
    column, else :func:`gridgeo.building_class.classify` on its tags): all of a
    residential or unspecified building's, those above the ground floor of a mixed
    one, none of a non-residential one's. Levels come from ``building_levels``, else
    ``height`` ÷ ``level_height``, else ``default_levels``. (``building_levels`` and
    ``building_flats`` may also be spelled with a colon, or ``building_l`` and
    ``building_f`` as a Shapefile's 10-character names cut them.) A point has no footprint
    and holds 0, except in a layer of points only (a building register geocoded to
    points), where every point whose class holds households is one equal share (for a
    total or a population grid to be spread over). ``buildings`` must be in a metric
    CRS.
    """
    opt = options or HouseholdOptions()
    if buildings.crs is not None and not buildings.crs.is_projected:
        msg = "capacity() needs buildings in a metric CRS; reproject with gridgeo.crs.to_metric"
        raise HouseholdsError(msg)
    area = shapely.area(buildings.geometry.values)
    # building_l / building_f: the names a Shapefile (10 characters) gives them
    levels = _numeric(buildings, "building_levels", "building:levels", "levels", "building_l")
    height = _numeric(buildings, "height")
    levels = np.where(np.isfinite(levels) & (levels > 0), levels, height / opt.level_height)
    levels = np.where(np.isfinite(levels) & (levels > 0), np.maximum(levels, 1), opt.default_levels)
    if "building_class" in buildings.columns:
        classes = buildings["building_class"].to_numpy(dtype=object)
    else:
        classes = classify(buildings)
    levels = housing_levels(classes, levels)
    if (area > 0).any():
        est = area * levels / opt.floor_area_per_household
        est = np.where((levels > 0) & (area >= opt.min_area), np.maximum(est, 1.0), 0.0)
    else:  # points only: no footprint to tell buildings apart
        est = (levels > 0).astype(float)
    flats = _numeric(buildings, "building_flats", "building:flats", "flats", "building_f")
    tagged = np.isfinite(flats) & (flats >= 0)
    return np.where(tagged, flats, est)


def spread_population(
    weights: np.ndarray,
    points: np.ndarray,
    population: gpd.GeoDataFrame,
    *,
    column: str = "population",
    study_area: shapely.Geometry | None = None,
) -> tuple[np.ndarray, float]:
    """Spread people of population cells over features in proportion to ``weights``.

    Parameters
    ----------
    weights : ndarray
        Capacity of each feature (≥ 0).
    points : ndarray of shapely Points
        A point inside each feature (same CRS as ``population``).
    population : GeoDataFrame
        Population cells with ``column`` (people), in the same metric CRS.
    column : str
        Column of people per cell.
    study_area : shapely geometry, optional
        Only the share of each cell inside it counts (cells cut by the edge of the
        study area contribute in proportion to the area inside).

    Returns
    -------
    people : ndarray
        People per feature (float); cells holding no weighted feature give their people
        to the nearest feature with weight, so no one is lost.
    total : float
        People counted in the study area.
    """
    check_column(population, column, "population grid")
    people = check_counts(population[column], f"population column {column!r}").to_numpy()
    cells = population.geometry.values
    if study_area is not None:
        cell_area = shapely.area(cells)
        inside = shapely.area(shapely.intersection(cells, study_area))
        with np.errstate(divide="ignore", invalid="ignore"):
            people = np.where(cell_area > 0, people * inside / cell_area, 0.0)
    out = np.zeros(len(weights))
    keep = people > 0
    cells, people = cells[keep], people[keep]
    total = float(people.sum())
    has_weight = weights > 0
    if total == 0:
        return out, 0.0
    if not has_weight.any():
        msg = (
            "the population grid holds people but there is no residential building to put "
            "them in; give buildings with footprints, or use --total-households"
        )
        raise HouseholdsError(msg)
    tree = shapely.STRtree(points)
    pt_idx, cell_idx = tree.query(cells, predicate="contains")[[1, 0]]
    # a point on a shared cell edge would count twice: keep its first cell
    _, first = np.unique(pt_idx, return_index=True)
    pt_idx, cell_idx = pt_idx[first], cell_idx[first]
    w = weights[pt_idx]
    cell_w = np.bincount(cell_idx, weights=w, minlength=len(cells))
    ok = cell_w[cell_idx] > 0
    np.add.at(out, pt_idx[ok], people[cell_idx[ok]] * w[ok] / cell_w[cell_idx[ok]])
    orphan = np.flatnonzero(cell_w == 0)
    if len(orphan):
        weighted = np.flatnonzero(has_weight)
        wtree = shapely.STRtree(points[weighted])
        nearest = weighted[wtree.nearest(shapely.centroid(cells[orphan]))]
        np.add.at(out, nearest, people[orphan])
        log.info(
            "%d population cells (%.0f people) hold no residential building: their people "
            "were given to the nearest residential buildings",
            len(orphan),
            people[orphan].sum(),
        )
    return out, total


def building_households(
    buildings: gpd.GeoDataFrame,
    *,
    column: str | None = None,
    total: int | None = None,
    population: gpd.GeoDataFrame | None = None,
    population_column: str = "population",
    study_area: shapely.Geometry | None = None,
    options: HouseholdOptions | None = None,
) -> pd.Series:
    """Integer households per building, aligned to ``buildings.index``.

    In order of preference: a named ``column``; otherwise the capacity of each building
    (OSM ``building:flats``, else a floor-area estimate, see :func:`capacity`), which is
    used as is, or scaled to a known ``total`` of households, or to the people of a
    ``population`` grid divided by persons per household. Totals are conserved exactly
    (see :func:`largest_remainder`).

    Parameters
    ----------
    buildings : GeoDataFrame
        Building footprints in a metric CRS.
    column : str, optional
        Column holding households per building (non-negative numbers).
    total : int, optional
        Known number of households of the whole area.
    population : GeoDataFrame, optional
        Population cells (people) in the same CRS.
    population_column : str, default "population"
    study_area : shapely geometry, optional
        Limits the population cells to the part inside it.
    options : HouseholdOptions, optional
        Estimation defaults.

    Returns
    -------
    pandas.Series of int64, named ``households``.

    Examples
    --------
    >>> import gridgeo
    >>> layers = gridgeo.read_osm(gridgeo.datasets.get_path("kouvola"))
    >>> b = gridgeo.crs.to_metric(layers.buildings, 32635)
    >>> hh = building_households(b, total=1000)
    >>> int(hh.sum())
    1000
    """
    opt = options or HouseholdOptions()
    buildings = check_layer(buildings, "buildings", geom_types=POLYGONAL | POINTS)
    if sum(x is not None for x in (column, total, population)) > 1:
        msg = "give only one of a households column, a total, or a population grid"
        raise HouseholdsError(msg)
    if column is not None:
        check_column(buildings, column, "buildings")
        values = check_counts(buildings[column], f"households column {column!r}").to_numpy()
        rounded = np.round(values)
        if not np.allclose(values, rounded):
            log.warning("households column %r holds fractions: rounded, total kept", column)
            rounded = largest_remainder(values, round(values.sum()))
        return pd.Series(rounded.astype(np.int64), index=buildings.index, name="households")
    cap = capacity(buildings, options=opt)
    if population is not None:
        check_positive(opt.persons_per_household, "persons per household")
        points = shapely.point_on_surface(buildings.geometry.values)
        people, n_people = spread_population(
            cap, points, population, column=population_column, study_area=study_area
        )
        hh_total = round(n_people / opt.persons_per_household)
        hh = largest_remainder(people, hh_total)
        log.info("population grid: %.0f people → %d households", n_people, hh_total)
    elif total is not None:
        t = check_positive(total, "total households") if total != 0 else 0
        if t != int(t):
            msg = f"total households must be a whole number, got {total!r}"
            raise HouseholdsError(msg)
        hh = largest_remainder(cap, int(t))
    else:
        hh = np.round(cap).astype(np.int64)
    return pd.Series(hh, index=buildings.index, name="households")


def spread_over_areas(
    areas: np.ndarray,
    *,
    total: int | None = None,
    population: gpd.GeoDataFrame | None = None,
    population_column: str = "population",
    persons_per_household: float = 2.62,
) -> np.ndarray:
    """Integer households per polygon (blocks), when there are no buildings.

    With ``total``, households are spread in proportion to area; with ``population``,
    each cell's people are spread over the polygons by the area they share with it
    (areal interpolation), then divided by ``persons_per_household``. Totals are
    conserved exactly (:func:`largest_remainder`).
    """
    areas = np.asarray(areas, dtype=object)
    if population is None:
        if total is None:
            msg = "without buildings, give households as a total or a population grid"
            raise HouseholdsError(msg)
        if total != int(total) or total < 0:
            msg = f"total households must be a whole number of 0 or more, got {total!r}"
            raise HouseholdsError(msg)
        return largest_remainder(shapely.area(areas), int(total))
    check_column(population, population_column, "population grid")
    people = check_counts(population[population_column], f"population column {population_column!r}")
    cells = population.geometry.values
    tree = shapely.STRtree(areas)
    ci, ai = tree.query(cells, predicate="intersects")
    share = shapely.area(shapely.intersection(cells[ci], areas[ai])) / shapely.area(cells[ci])
    per_area = np.bincount(ai, weights=people.to_numpy()[ci] * share, minlength=len(areas))
    n_people = per_area.sum()
    hh_total = round(n_people / check_positive(persons_per_household, "persons per household"))
    log.info("population grid: %.0f people in the study area → %d households", n_people, hh_total)
    return largest_remainder(per_area, hh_total)
