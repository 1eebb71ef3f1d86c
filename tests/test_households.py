"""Tests of gridgeo.households: rounding, capacity, households per building and per area."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

import gridgeo
from gridgeo._errors import HouseholdsError, MissingColumnError
from gridgeo._validate import POLYGONAL, check_layer
from gridgeo.crs import to_metric
from gridgeo.households import (
    NON_RESIDENTIAL,
    HouseholdOptions,
    building_households,
    capacity,
    largest_remainder,
    spread_over_areas,
)

METRIC = 32635  # UTM 35N: Helsinki and Kouvola

# Shares of realistic size (people, m², households); extreme magnitudes have their own test.
shares_st = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=1e6)),
    min_size=1,
    max_size=50,
).filter(lambda xs: sum(xs) > 0)


def square(x: float, y: float, side: float = 10.0) -> shapely.Polygon:
    return box(x, y, x + side, y + side)


def layer(geoms, crs=METRIC, **columns) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns, geometry=list(geoms), crs=crs)


# ------------------------------------------------------------------ largest_remainder


any_shares_st = st.lists(st.floats(min_value=0, max_value=1e300), min_size=1, max_size=50).filter(
    lambda xs: max(xs) > 0
)


@settings(max_examples=200, deadline=None)
@given(shares=st.one_of(shares_st, any_shares_st), total=st.integers(0, 1_000_000))
def test_largest_remainder_sums_exactly_to_total(shares, total):
    out = largest_remainder(np.array(shares), total)
    assert out.dtype == np.int64
    assert len(out) == len(shares)
    assert int(out.sum()) == total
    assert (out >= 0).all()


@settings(max_examples=100, deadline=None)
@given(shares=shares_st, total=st.integers(min_value=0, max_value=100_000))
def test_largest_remainder_stays_within_one_of_the_exact_share(shares, total):
    shares = np.array(shares)
    out = largest_remainder(shares, total)
    exact = shares / shares.sum() * total
    assert np.all(np.abs(out - exact) < 1 + 1e-6)


@settings(max_examples=50, deadline=None)
@given(shares=shares_st, total=st.integers(min_value=0, max_value=10_000))
def test_largest_remainder_is_deterministic(shares, total):
    a = largest_remainder(np.array(shares), total)
    b = largest_remainder(np.array(list(shares)), total)
    np.testing.assert_array_equal(a, b)


def test_largest_remainder_breaks_ties_by_position():
    assert largest_remainder(np.array([1.0, 1.0, 1.0]), 10).tolist() == [4, 3, 3]
    assert largest_remainder(np.array([1.0, 1.0, 1.0]), 2).tolist() == [1, 1, 0]
    assert largest_remainder(np.array([1.0, 3.0]), 4).tolist() == [1, 3]


def test_largest_remainder_zero_total_gives_zeros():
    out = largest_remainder(np.array([0.5, 2.0, 7.0]), 0)
    assert out.tolist() == [0, 0, 0]
    assert largest_remainder(np.array([0.0, 0.0]), 0).tolist() == [0, 0]
    assert largest_remainder(np.array([]), 5).tolist() == []


def test_largest_remainder_negative_total_raises():
    with pytest.raises(HouseholdsError, match="0 or more"):
        largest_remainder(np.array([1.0, 2.0]), -1)


def test_largest_remainder_all_zero_shares_with_positive_total_raises():
    with pytest.raises(HouseholdsError, match="cannot spread 7 households"):
        largest_remainder(np.array([0.0, 0.0, 0.0]), 7)


@pytest.mark.parametrize("shares", [[1e-320], [5e-324, 5e-324], [1e308, 1e308]])
def test_largest_remainder_extreme_shares_still_sum_to_total(shares):
    # Valid non-negative finite shares. ``scaled = shares * (total / s)``: a tiny sum
    # makes total / s overflow to inf (the int64 cast then gives -2**63); a sum that
    # overflows to inf makes every share 0 and only len(shares) households are handed out.
    with np.errstate(all="ignore"):
        out = largest_remainder(np.array(shares), 10)
    assert int(out.sum()) == 10, out.tolist()


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_largest_remainder_undefined_shares_raise(bad):
    with pytest.raises(HouseholdsError, match="infinite or undefined"):
        largest_remainder(np.array([1.0, bad]), 10)


# ---------------------------------------------------------------------------- capacity


def test_capacity_non_residential_classes_hold_nothing():
    kinds = ["industrial", "Commercial", "church", "garage", "school", "office"]
    b = layer([square(i * 50, 0, 30) for i in range(len(kinds))], building=kinds)
    assert {k.lower() for k in kinds} <= NON_RESIDENTIAL
    assert capacity(b).tolist() == [0.0] * len(kinds)


def test_capacity_residential_and_untagged_classes_hold_households():
    kinds = ["residential", "apartments", "yes", None]
    b = layer([square(i * 50, 0, 30) for i in range(len(kinds))], building=kinds)
    # 900 m² × 3 default levels ÷ 92 m² per household
    np.testing.assert_allclose(capacity(b), 900 * 3 / 92)


def test_capacity_flats_win_over_the_estimate():
    b = layer(
        [square(0, 0, 40), square(100, 0, 40), square(200, 0, 40)],
        building=["apartments", "apartments", "apartments"],
        building_levels=[10.0, 10.0, 10.0],
        building_flats=[7.0, np.nan, 0.0],
    )
    cap = capacity(b)
    assert cap[0] == 7.0
    np.testing.assert_allclose(cap[1], 1600 * 10 / 92)
    assert cap[2] == 0.0  # tagged 0 flats is a count, not a missing tag


def test_capacity_levels_from_levels_then_height_then_default():
    b = layer(
        [square(i * 100, 0, 46) for i in range(4)],  # 2116 m² = 23 × 92
        building=["residential"] * 4,
        building_levels=[5.0, np.nan, np.nan, 2.0],
        height=[np.nan, 12.0, np.nan, 30.0],
    )
    cap = capacity(b)
    np.testing.assert_allclose(cap, [23 * 5, 23 * 4, 23 * 3, 23 * 2])


def test_capacity_uses_options():
    b = layer([square(0, 0, 46)], building=["residential"], height=[20.0])
    opt = HouseholdOptions(floor_area_per_household=46.0, level_height=4.0, default_levels=1)
    np.testing.assert_allclose(capacity(b, options=opt), [2116 * 5 / 46])
    opt = HouseholdOptions(default_levels=6.0)
    b2 = layer([square(0, 0, 46)], building=["residential"])
    np.testing.assert_allclose(capacity(b2, options=opt), [23 * 6])


def test_capacity_small_footprints_hold_nothing():
    b = layer(
        [square(0, 0, 5), square(100, 0, 5.4), square(200, 0, 5.5)],  # 25, 29.16, 30.25 m²
        building=["residential"] * 3,
    )
    cap = capacity(b)
    assert cap[0] == 0.0 and cap[1] == 0.0
    assert cap[2] == pytest.approx(1.0)  # at least one household once big enough


def test_capacity_needs_a_metric_crs():
    b = layer([square(24.9, 60.1, 0.001)], crs=4326, building=["residential"])
    with pytest.raises(HouseholdsError, match="metric CRS"):
        capacity(b)


# ------------------------------------------------------------- building_households: column


def _buildings(n: int = 4, **columns) -> gpd.GeoDataFrame:
    return layer([square(i * 50, 0, 20) for i in range(n)], **columns)


def test_column_values_are_returned_as_integers():
    b = _buildings(hh=[3, 0, 12, 5])
    b.index = [10, 11, 12, 13]
    hh = building_households(b, column="hh")
    assert hh.name == "households"
    assert hh.dtype == np.int64
    assert hh.index.tolist() == [10, 11, 12, 13]
    assert hh.tolist() == [3, 0, 12, 5]


def test_column_negative_values_raise_naming_column_and_fix():
    b = _buildings(hh=[3, -2, 12, 5])
    with pytest.raises(HouseholdsError) as err:
        building_households(b, column="hh")
    msg = str(err.value)
    assert "'hh'" in msg
    assert "negative" in msg
    assert "0 or more" in msg and "correct" in msg


def test_column_text_values_raise():
    b = _buildings(hh=["3", "three", "12", "5"])
    with pytest.raises(HouseholdsError, match=r"'hh'.*not numbers.*'three'"):
        building_households(b, column="hh")


def test_column_numeric_text_is_accepted():
    b = _buildings(hh=["3", "4", "12", "5"])
    assert building_households(b, column="hh").tolist() == [3, 4, 12, 5]


def test_column_missing_values_raise():
    b = _buildings(hh=[3.0, np.nan, 12.0, 5.0])
    with pytest.raises(HouseholdsError, match=r"'hh'.*missing"):
        building_households(b, column="hh")


def test_column_absent_raises_listing_columns():
    b = _buildings(hh=[1, 2, 3, 4], name=["a", "b", "c", "d"])
    with pytest.raises(MissingColumnError, match=r"no column 'flats'.*hh, name"):
        building_households(b, column="flats")


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(
        st.floats(min_value=0, max_value=500, allow_nan=False, allow_subnormal=False),
        min_size=1,
        max_size=30,
    )
)
def test_column_fractions_conserve_the_rounded_total(values):
    b = _buildings(len(values), hh=values)
    hh = building_households(b, column="hh")
    assert int(hh.sum()) == round(sum(values)) or int(hh.sum()) == round(np.sum(values))
    assert (hh >= 0).all()
    assert np.all(np.abs(hh.to_numpy() - np.array(values)) < 1.5)


def test_column_fractions_example():
    b = _buildings(hh=[0.5, 0.5, 0.5, 0.5])
    hh = building_households(b, column="hh")
    assert hh.tolist() == [1, 1, 0, 0]


def test_only_one_source_of_households():
    b = _buildings(hh=[1, 2, 3, 4])
    with pytest.raises(HouseholdsError, match="only one"):
        building_households(b, column="hh", total=10)


# -------------------------------------------------------------- building_households: total


@settings(max_examples=60, deadline=None)
@given(
    sides=st.lists(st.floats(min_value=2, max_value=80), min_size=1, max_size=20),
    total=st.integers(min_value=0, max_value=50_000),
)
def test_total_is_conserved_exactly(sides, total):
    geoms = [square(i * 100, 0, s) for i, s in enumerate(sides)]
    b = layer(geoms, building=["residential"] * len(sides))
    if (shapely.area(geoms) < 30).all() and total > 0:  # no building big enough to hold anyone
        with pytest.raises(HouseholdsError):
            building_households(b, total=total)
        return
    hh = building_households(b, total=total)
    assert int(hh.sum()) == total
    assert hh.dtype == np.int64


def test_total_goes_to_residential_buildings_only():
    b = layer(
        [square(0, 0, 30), square(100, 0, 30), square(200, 0, 60)],
        building=["industrial", "residential", "apartments"],
    )
    hh = building_households(b, total=1000)
    assert hh.sum() == 1000
    assert hh.iloc[0] == 0
    assert hh.iloc[2] == 800  # 3600 m² against 900 m²


def test_total_without_residential_building_raises():
    b = layer([square(0, 0, 30)], building=["industrial"])
    with pytest.raises(HouseholdsError, match="nothing to spread"):
        building_households(b, total=10)


def test_total_must_not_be_negative():
    with pytest.raises(gridgeo.InputError, match="positive"):
        building_households(_buildings(), total=-5)


def test_total_must_be_whole():
    with pytest.raises(HouseholdsError, match="whole number"):
        building_households(_buildings(), total=10.5)


def test_kouvola_estimate_scaled_to_a_total(osm):
    b = to_metric(osm("kouvola").buildings, METRIC)
    hh = building_households(b, total=12345)
    assert int(hh.sum()) == 12345
    cap = capacity(b)
    assert (hh[cap == 0] == 0).all()


# --------------------------------------------------- building_households: population grid


def _cells(people) -> gpd.GeoDataFrame:
    """100 m cells in a row from (0, 0), with ``people`` in each."""
    return layer(
        [box(100 * i, 0, 100 * (i + 1), 100) for i in range(len(people))], population=people
    )


def test_population_grid_gives_people_over_persons_per_household():
    b = layer([square(10, 10), square(60, 60), square(20, 70, 15)], building=["residential"] * 3)
    hh = building_households(b, population=_cells([262, 0]))
    assert int(hh.sum()) == 100
    # in proportion to floor area: 100, 100 and 225 m²
    assert hh.tolist() == [24, 23, 53]


def test_population_in_a_cell_without_building_goes_to_the_nearest_building():
    b = layer(
        [square(10, 10), square(80, 40, 15), square(220, 40)],  # in cells 0, 0 and 2
        building=["residential"] * 3,
    )
    pop = _cells([262, 131, 0, 0])  # cell 1 holds people but no building
    hh = building_households(b, population=pop)
    assert int(hh.sum()) == round(393 / 2.62) == 150
    # cell 1 (centre 150, 50): nearest building is the one at x = 80–95 (in cell 0);
    # the building in cell 2, whose cell is empty, gets nothing
    assert hh.iloc[2] == 0
    people_of_1 = 262 * 225 / 325 + 131
    assert hh.iloc[1] == pytest.approx(people_of_1 / 2.62, abs=1)


def test_population_grid_non_residential_buildings_get_nothing():
    b = layer([square(10, 10, 30), square(50, 50, 30)], building=["residential", "industrial"])
    hh = building_households(b, population=_cells([262]))
    assert hh.tolist() == [100, 0]


def test_population_grid_study_area_counts_the_share_inside():
    b = layer([square(10, 10)], building=["residential"])
    hh = building_households(b, population=_cells([524]), study_area=box(0, 0, 50, 100))
    assert hh.tolist() == [100]


def test_population_grid_without_residential_building_raises():
    b = layer([square(10, 10)], building=["industrial"])
    with pytest.raises(HouseholdsError, match="no residential building"):
        building_households(b, population=_cells([262]))


def test_population_grid_persons_per_household_option():
    b = layer([square(10, 10)], building=["residential"])
    opt = HouseholdOptions(persons_per_household=2.0)
    assert building_households(b, population=_cells([300]), options=opt).tolist() == [150]


def test_population_grid_missing_column_raises():
    b = layer([square(10, 10)], building=["residential"])
    with pytest.raises(MissingColumnError, match="'people'"):
        building_households(b, population=_cells([300]), population_column="people")


@settings(max_examples=40, deadline=None)
@given(
    people=st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=6),
    xs=st.lists(st.floats(min_value=0, max_value=580), min_size=1, max_size=12),
)
def test_population_grid_total_is_conserved(people, xs):
    b = layer([square(x, 40, 20) for x in xs], building=["residential"] * len(xs))
    hh = building_households(b, population=_cells(people))
    # every building point lies in a cell or nowhere; people of cells without a
    # building go to the nearest building: nobody is lost
    assert int(hh.sum()) == round(sum(people) / 2.62)


# ---------------------------------------------------------- building_households: Helsinki


@pytest.fixture(scope="module")
def helsinki(osm, helsinki_population):
    """Helsinki buildings, streets and population grid in UTM 35N (read via conftest)."""
    layers, population = osm("helsinki"), helsinki_population
    return (
        to_metric(layers.buildings, METRIC),
        to_metric(layers.streets, METRIC),
        to_metric(population, METRIC),
    )


def test_helsinki_households_from_the_population_grid(helsinki):
    buildings, streets, population = helsinki
    coords = np.concatenate(
        [
            shapely.get_coordinates(buildings.geometry.values),
            shapely.get_coordinates(streets.geometry.values),
        ]
    )
    hull = shapely.MultiPoint(coords).convex_hull
    cells = population.geometry.values
    inside = shapely.area(shapely.intersection(cells, hull)) / shapely.area(cells)
    people = float((population["population"].to_numpy() * inside).sum())
    assert people > 1000  # the extract overlaps populated cells
    hh = building_households(buildings, population=population, study_area=hull)
    assert int(hh.sum()) == round(people / 2.62)
    assert hh.index.equals(buildings.index)
    repaired = check_layer(buildings, "buildings", geom_types=POLYGONAL)
    assert (hh[capacity(repaired) == 0] == 0).all()


# ------------------------------------------------------------------- spread_over_areas


@settings(max_examples=60, deadline=None)
@given(
    sides=st.lists(st.floats(min_value=1, max_value=500), min_size=1, max_size=20),
    total=st.integers(min_value=0, max_value=100_000),
)
def test_spread_over_areas_conserves_a_total(sides, total):
    areas = np.array([square(i * 1000, 0, s) for i, s in enumerate(sides)], dtype=object)
    out = spread_over_areas(areas, total=total)
    assert int(out.sum()) == total
    exact = np.array(sides) ** 2 / np.sum(np.array(sides) ** 2) * total
    assert np.all(np.abs(out - exact) < 1 + 1e-6)


def test_spread_over_areas_population_is_interpolated_by_area():
    # two blocks: the left half of cell 0, and cell 1 with the right half of cell 0
    areas = np.array([box(0, 0, 50, 100), box(50, 0, 200, 100)], dtype=object)
    out = spread_over_areas(areas, population=_cells([262, 524]))
    assert out.tolist() == [50, 250]


@settings(max_examples=40, deadline=None)
@given(
    people=st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=5),
    cuts=st.lists(st.floats(min_value=1, max_value=499), max_size=6, unique=True),
)
def test_spread_over_areas_conserves_people_inside(people, cuts):
    edges = [0.0, *sorted(cuts), 500.0]
    areas = np.array(
        [box(a, 0, b, 100) for a, b in zip(edges[:-1], edges[1:], strict=True)], dtype=object
    )
    areas = areas[shapely.area(areas) > 0]
    out = spread_over_areas(areas, population=_cells(people))
    # the areas tile [0, 500] × [0, 100], which holds every cell
    assert int(out.sum()) == round(sum(people) / 2.62)


@pytest.mark.parametrize("total", [10.5, 10.9])
def test_spread_over_areas_refuses_a_fractional_total(total):
    # building_households(total=10.9) raises "whole number"; without buildings the same
    # total must not be truncated to 10 (int(total)) and silently lose a household
    areas = np.array([box(0, 0, 1, 1), box(1, 0, 3, 1)], dtype=object)
    with pytest.raises(HouseholdsError, match="whole number"):
        spread_over_areas(areas, total=total)


def test_spread_over_areas_refuses_a_negative_total():
    areas = np.array([box(0, 0, 1, 1)], dtype=object)
    with pytest.raises(HouseholdsError):
        spread_over_areas(areas, total=-3)


def test_spread_over_areas_needs_a_source():
    with pytest.raises(HouseholdsError, match="total or a population grid"):
        spread_over_areas(np.array([box(0, 0, 1, 1)], dtype=object))


def test_households_series_aligned_with_a_pandas_index():
    b = _buildings(3, hh=[1, 2, 3])
    b.index = pd.Index(["x", "y", "z"])
    assert building_households(b, column="hh").to_dict() == {"x": 1, "y": 2, "z": 3}
