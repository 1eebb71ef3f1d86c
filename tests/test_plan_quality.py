"""Plans a planner accepts (issue 14): households only in housing, dedicated zones
divided or joined, no grid nobody lives in, a reason for every grid out of band,
buildings in the grid holding most of them.

Hand-made layouts in EPSG:32650 (Beijing's UTM zone), one per case — a factory in
industrial land use, a campus larger than a grid, a community with an uninhabited
exclave, a pocket of homes across a river, a building astride a community line — and
the bundled real extracts with their barriers, land use and points of interest, as
``gridgeo partition --osm`` reads them.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, box

import gridgeo
from gridgeo._errors import InputError
from gridgeo.building_class import CLASSES, classify
from gridgeo.households import capacity
from gridgeo.land import settle_zones
from gridgeo.reasons import REASONS
from gridgeo.render._labels import LABELS
from gridgeo.staffing import StaffingRules, staffing_table
from tests.test_pipeline import assert_tiles

X0, Y0 = 440_000.0, 4_420_000.0
UTM50 = 32650


def _streets(xs, ys, *, x_to=None, y_to=None):
    """Street lines at offsets ``xs`` (vertical) and ``ys`` (horizontal), in metres."""
    x_to = max(xs) if x_to is None else x_to
    y_to = max(ys) if y_to is None else y_to
    lines = [LineString([(X0 + x, Y0 + min(ys)), (X0 + x, Y0 + y_to)]) for x in xs]
    lines += [LineString([(X0 + min(xs), Y0 + y), (X0 + x_to, Y0 + y)]) for y in ys]
    return gpd.GeoDataFrame({"highway": ["residential"] * len(lines)}, geometry=lines, crs=UTM50)


def _houses(cells, flats, *, size=30.0, **columns):
    """One building of ``size`` m in the middle of each 100 m cell (offsets of its
    lower-left corner), holding ``flats`` households (``building:flats``)."""
    geoms = [
        box(X0 + x + 35, Y0 + y + 35, X0 + x + 35 + size, Y0 + y + 35 + size) for x, y in cells
    ]
    n = len(geoms)
    data = {"building": "apartments", "building_flats": np.broadcast_to(flats, n).astype(float)}
    data.update({k: np.broadcast_to(v, n) for k, v in columns.items()})
    return gpd.GeoDataFrame(data, geometry=geoms, crs=UTM50)


def _cells(x_range, y_range):
    return [(x, y) for x in x_range for y in y_range]


def _off(grids, lower=270, upper=330):
    hh = grids["households"].to_numpy()
    return (hh < lower) | (hh > upper)


def assert_accepted(plan, *, lower=270, upper=330):
    """What a planner checks first: no basic grid without households, no worker for a
    grid without households, a known reason for every grid out of the band, every
    building in the grid holding most of its footprint (and its point on surface)."""
    g = plan.grids
    basic = g["grid_type"] == "basic"
    assert not (basic & (g["households"] == 0)).any(), g[basic & (g["households"] == 0)]
    off = _off(g, lower, upper)
    assert g.loc[off, "reason"].notna().all(), g.loc[off, ["grid_id", "households", "reason"]]
    assert g["reason"].dropna().isin(list(REASONS)).all()
    assert g.loc[~off, "reason"].isna().all()
    assert (g["parts"] == shapely.get_num_geometries(g.geometry.values)).all()
    staff = staffing_table(g, buildings=plan.buildings, rules=StaffingRules(target=plan.target))
    assert (staff.loc[g["households"].to_numpy() == 0, "workers"] == 0).all()
    assert (staff.loc[g["households"].to_numpy() > 0, "workers"] >= 1).all()
    wrong = not_in_largest_grid(plan)
    assert wrong == 0, f"{wrong} buildings lie mostly in a grid other than theirs"
    wrong = point_elsewhere(plan)
    assert wrong == 0, f"{wrong} buildings have their point on surface in another grid"
    s = plan.summary()
    assert s["out_of_band_without_reason"] == 0
    assert sum(s["grids_by_reason"].values()) == int(off.sum())


def point_elsewhere(plan) -> int:
    """Buildings whose point on surface lies in another grid of their own community."""
    b, g = plan.buildings, plan.grids
    pts = shapely.point_on_surface(b.geometry.values)
    own = g.set_index("grid_id").geometry.reindex(b["grid_id"]).values
    off = np.flatnonzero(~shapely.covers(own, pts))
    if not len(off):
        return 0
    pi, gi = shapely.STRtree(g.geometry.values).query(pts[off], predicate="within")
    comm = g.set_index("grid_id")["community_id"].reindex(b["grid_id"]).to_numpy()
    return int((g["community_id"].to_numpy()[gi] == comm[off[pi]]).sum())


def not_in_largest_grid(plan) -> int:
    """Buildings whose grid is not the one holding the largest part of them."""
    b, g = plan.buildings, plan.grids
    geoms = b.geometry.values
    bi, gi = shapely.STRtree(g.geometry.values).query(geoms, predicate="intersects")
    share = shapely.area(shapely.intersection(geoms[bi], g.geometry.values[gi]))
    df = pd.DataFrame({"b": bi, "grid": g["grid_id"].to_numpy()[gi], "share": share})
    best = df.sort_values(["b", "share"], ascending=[True, False]).groupby("b").first()
    mine = b["grid_id"].to_numpy()[best.index]
    # ties (a building split half and half) are not a fault
    own = df.set_index(["b", "grid"])["share"]
    mine_share = own.reindex(list(zip(best.index, mine, strict=True))).to_numpy()
    return int((mine_share < best["share"].to_numpy() - 1e-6).sum())


# ----------------------------------------------------------- a factory in industrial land


@pytest.fixture(scope="module")
def factory():
    """An industrial estate (with a small housing estate inside it) beside homes."""
    landuse = gpd.GeoDataFrame(
        {"kind": ["landuse"] * 2, "value": ["industrial", "residential"]},
        geometry=[box(X0, Y0, X0 + 200, Y0 + 200), box(X0 + 100, Y0 + 100, X0 + 200, Y0 + 200)],
        crs=UTM50,
    )

    def one(x, y, side=40.0, **tags):
        return {"geometry": box(X0 + x, Y0 + y, X0 + x + side, Y0 + y + side), **tags}

    rows = [
        one(10, 10, 60, building="yes", name="factory"),  # 3,600 m² untyped, industrial land
        one(120, 10, building="apartments", name="staff flats"),  # housing, tagged so
        one(10, 120, building="yes", building_flats=12.0, name="flats counted"),
        one(120, 120, building="yes", name="estate house"),  # residential land inside
        one(210, 10, building="warehouse", name="warehouse"),
        one(210, 120, building="yes", office="company", name="offices"),
        one(310, 10, building="yes", shop="bakery", building_levels=3.0, name="shop below"),
        one(310, 120, building="house", shop="hairdresser", name="house with a shop"),
        one(410, 10, building="yes", name="untyped home"),
        one(410, 120, building="yes", amenity="school", name="school"),
        one(410, 210, building="yes", amenity="cafe", building_levels=1.0, name="cafe"),
    ]
    buildings = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=UTM50)
    for col in ("shop", "office", "amenity", "building_flats", "building_levels"):
        if col not in buildings:
            buildings[col] = None
    return buildings, landuse


EXPECTED_CLASS = {
    "factory": "non_residential",
    "staff flats": "residential",
    "flats counted": "non_residential",
    "estate house": "unspecified",
    "warehouse": "non_residential",
    "offices": "non_residential",
    "shop below": "mixed",
    "house with a shop": "mixed",
    "untyped home": "unspecified",
    "school": "non_residential",
    "cafe": "mixed",
}


def test_building_classes(factory):
    buildings, landuse = factory
    got = dict(zip(buildings["name"], classify(buildings, landuse=landuse), strict=True))
    assert got == EXPECTED_CLASS


def test_uses_and_points_of_interest_say_what_a_building_is():
    """Landmarks, hotels and forts as ``building=yes`` (Monaco's Fairmont, Fort de la
    Revère), and the points of interest inside a footprint: a university's makes an
    untyped building non-residential, a bakery's a mixed one; a car park's entrance
    says nothing; flats with a shop inside are mixed, never less than housing."""
    names = ["hotel", "fort", "campus", "bakery", "parking", "flats", "plain"]
    geoms = [box(X0 + 100 * i, Y0, X0 + 100 * i + 50, Y0 + 50) for i in range(len(names))]
    b = gpd.GeoDataFrame(
        {
            "name": names,
            "building": ["yes"] * 5 + ["apartments", "yes"],
            "tourism": ["hotel"] + [None] * 6,
            "historic": [None, "fort"] + [None] * 5,
        },
        geometry=geoms,
        crs=UTM50,
    )
    inside = [shapely.Point(X0 + 100 * i + 25, Y0 + 25) for i in (2, 3, 4, 5)]
    pois = gpd.GeoDataFrame(
        {
            "kind": ["amenity", "shop", "amenity", "shop"],
            "value": ["university", "bakery", "parking", "kiosk"],
        },
        geometry=inside,
        crs=UTM50,
    )
    got = dict(zip(names, classify(b, pois=pois), strict=True))
    assert got == {
        "hotel": "non_residential",
        "fort": "non_residential",
        "campus": "non_residential",
        "bakery": "mixed",
        "parking": "unspecified",
        "flats": "mixed",
        "plain": "unspecified",
    }


def test_households_only_in_housing(factory):
    buildings, landuse = factory
    b = buildings.assign(building_class=classify(buildings, landuse=landuse))
    cap = dict(zip(b["name"], capacity(b), strict=True))
    for name, cls in EXPECTED_CLASS.items():
        if cls == "non_residential" and name != "flats counted":
            assert cap[name] == 0, name
    assert cap["flats counted"] == 12  # tagged so: kept whatever the land use
    area = 40 * 40
    assert cap["staff flats"] == pytest.approx(area * 3 / 92)  # default 3 levels
    assert cap["untyped home"] == pytest.approx(area * 3 / 92)
    assert cap["shop below"] == pytest.approx(area * 2 / 92)  # the ground floor is the shop
    assert cap["cafe"] == 0  # one level, and it is the café


def test_rule_table_is_overridable(factory, tmp_path):
    buildings, landuse = factory
    loose = {"landuse": {"industrial": "unspecified"}, "building": {"warehouse": "residential"}}
    got = dict(
        zip(buildings["name"], classify(buildings, landuse=landuse, table=loose), strict=True)
    )
    assert got["factory"] == "unspecified" and got["warehouse"] == "residential"
    path = tmp_path / "classes.json"
    path.write_text(json.dumps(loose), encoding="utf-8")
    assert (
        gridgeo.Rules(building_classes=str(path)).building_classes
        == gridgeo.Rules(building_classes=loose).building_classes
    )
    with pytest.raises(InputError, match="'home' is not a class"):
        gridgeo.Rules(building_classes={"building": {"yes": "home"}})
    with pytest.raises(InputError, match="unknown section 'roads'"):
        gridgeo.Rules(building_classes={"roads": {}})
    with pytest.raises(InputError, match="cannot read"):
        gridgeo.Rules(building_classes=str(tmp_path / "missing.json"))


def test_planner_classes_win(factory):
    buildings, landuse = factory
    own = buildings.assign(building_class=[None] * (len(buildings) - 1) + ["residential"])
    got = gridgeo.building_class.with_classes(own, landuse)["building_class"].tolist()
    assert got[-1] == "residential" and got[0] == "non_residential"
    with pytest.raises(InputError, match="building_class"):
        gridgeo.building_class.with_classes(own.assign(building_class="house"), landuse)


def test_summary_reports_households_by_class(factory):
    buildings, landuse = factory
    streets = _streets([0, 100, 200, 300, 400, 500], [0, 100, 200, 300])
    plan = gridgeo.partition(streets, buildings, landuse=landuse, target=30, tolerance=0.5)
    s = plan.summary()
    by = s["households_by_building_class"]
    assert list(by) == list(CLASSES)
    assert sum(by.values()) == s["households"]
    assert by["non_residential"] == 12  # the tagged flats, nothing else
    counts = plan.buildings.groupby("building_class").size().to_dict()
    assert {k: v for k, v in s["buildings_by_building_class"].items() if v} == counts
    factory_row = plan.buildings[plan.buildings["name"] == "factory"]
    assert factory_row["households"].iloc[0] == 0


# ----------------------------------------------------------- a campus larger than a grid


@pytest.fixture(scope="module")
def campus():
    """A 6 × 2 block district: a university over the west 3 × 2 blocks holding 1,200
    households in 24 buildings, homes of 150 a block east of it; a railway along the
    north edge with a strip of the campus (no building) beyond it; an industrial yard
    (warehouses, no households) in the south-east block."""
    streets = _streets([0, 100, 200, 300, 400, 500, 600], [0, 100, 200, 240])
    rail = gpd.GeoDataFrame(
        {"kind": ["railway"], "value": ["rail"], "tunnel": [False]},
        geometry=[LineString([(X0 - 10, Y0 + 200), (X0 + 610, Y0 + 200)])],
        crs=UTM50,
    )
    zones = gpd.GeoDataFrame(
        {"kind": ["university", "industrial"], "name": ["Campus", "Yard"]},
        geometry=[box(X0, Y0, X0 + 300, Y0 + 240), box(X0 + 500, Y0, X0 + 600, Y0 + 100)],
        crs=UTM50,
    )
    dorms = []
    for x, y in _cells((0, 100, 200), (0, 100)):
        for dx in (10, 55):
            for dy in (10, 55):
                dorms.append(box(X0 + x + dx, Y0 + y + dy, X0 + x + dx + 35, Y0 + y + dy + 35))
    dorms = gpd.GeoDataFrame(
        {"building": ["dormitory"] * len(dorms), "building_flats": 50.0}, geometry=dorms, crs=UTM50
    )
    homes = _houses(_cells((300, 400), (0, 100)) + [(500, 100)], 150)
    yard = _houses([(500, 0)], 0, building="warehouse").assign(building_flats=np.nan)
    buildings = pd.concat([dorms, homes, yard], ignore_index=True)
    return streets, gpd.GeoDataFrame(buildings, crs=UTM50), rail, zones


def test_campus_larger_than_a_grid_is_divided(campus):
    streets, buildings, rail, zones = campus
    plan = gridgeo.partition(streets, buildings, barriers=rail, dedicated=zones)
    g = plan.grids
    assert_accepted(plan)
    uni = g[g["zone_name"] == "Campus"]
    assert len(uni) == 4, g[["grid_id", "households", "zone_name"]]
    assert (uni["grid_type"] == "dedicated").all()
    assert uni["households"].sum() == 1200
    assert not _off(uni).any()
    assert not g["indivisible"].any()  # no single building is over the band
    # the strip of the campus beyond the railway holds no building: not a grid of it
    north = gpd.GeoSeries([box(X0, Y0 + 205, X0 + 600, Y0 + 240)], crs=UTM50).to_crs(plan.crs)
    north = north.iloc[0]
    assert shapely.area(shapely.intersection(g.union_all(), north)) > 20_000
    for geom in uni.geometry:
        assert shapely.area(shapely.intersection(geom, north)) < 1.0
    assert "dedicated zone" in " ".join(plan.notes)
    assert_tiles(g, plan.study_area)


@pytest.mark.parametrize(("rule", "yard_grid"), [("grid", True), ("join", False)])
def test_empty_zone_rule(campus, rule, yard_grid):
    streets, buildings, rail, zones = campus
    plan = gridgeo.partition(streets, buildings, barriers=rail, dedicated=zones, empty_zones=rule)
    g = plan.grids
    assert_accepted(plan)
    yard = g[g["zone_name"] == "Yard"]
    assert len(yard) == int(yard_grid)
    if yard_grid:
        assert yard["households"].iloc[0] == 0
        assert yard["reason"].iloc[0] == "dedicated_zone"


def test_zone_pieces_too_small_or_without_buildings_are_ordinary_land():
    from scipy import sparse

    # four units in a row; zone 0 holds units 0-1 (a piece) and unit 3 (another piece)
    adj = sparse.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0.0]]))
    zone = np.array([0, 0, -1, 0])
    community = np.zeros(4, dtype=int)
    kw = {"community": community, "weights": np.array([10, 10, 5, 0.0]), "min_area": 100}
    area = np.array([80.0, 80, 50, 500])
    got = settle_zones(
        zone, adj=adj, area=area, buildings=np.array([1, 1, 1, 0]), empty_zones="grid", **kw
    )
    assert got.tolist() == [0, 0, -1, -1]  # unit 3: no building
    got = settle_zones(
        zone, adj=adj, area=np.array([40.0, 40, 50, 500]), buildings=None, empty_zones="grid", **kw
    )
    assert got.tolist() == [-1, -1, -1, 0]  # units 0-1: 80 m² under 100
    got = settle_zones(zone, adj=adj, area=area, buildings=None, empty_zones="join", **kw)
    assert got.tolist() == [0, 0, -1, -1]  # unit 3 holds nothing


def test_bad_empty_zones_rule():
    with pytest.raises(InputError, match="empty_zones must be 'grid' or 'join'"):
        gridgeo.Rules(empty_zones="keep")


# ------------------------------------------- a community with an uninhabited exclave


@pytest.fixture(scope="module")
def exclave():
    """Community A (west 4 × 2 blocks, 600 households) with an exclave of one empty
    block inside community B (east 4 × 2 blocks, 600 households in 6 blocks)."""
    a_main = box(X0, Y0, X0 + 400, Y0 + 200)
    a_ex = box(X0 + 600, Y0, X0 + 700, Y0 + 100)
    b = shapely.difference(box(X0 + 400, Y0, X0 + 800, Y0 + 200), a_ex)
    boundaries = gpd.GeoDataFrame(
        {"name": ["A", "B"]}, geometry=[MultiPolygon([a_main, a_ex]), b], crs=UTM50
    )
    streets = _streets([0, 100, 200, 300, 400, 500, 600, 700, 800], [0, 100, 200])
    homes_a = _houses(_cells((0, 100, 200, 300), (0, 100)), 75)
    homes_b = _houses([(400, 0), (400, 100), (500, 0), (500, 100), (600, 100), (700, 100)], 100)
    buildings = gpd.GeoDataFrame(pd.concat([homes_a, homes_b], ignore_index=True), crs=UTM50)
    return streets, buildings, boundaries


def test_uninhabited_exclave_joins_a_grid_of_its_community(exclave):
    streets, buildings, boundaries = exclave
    plan = gridgeo.partition(streets, buildings, boundaries=boundaries, boundary_id="name")
    g = plan.grids
    assert_accepted(plan)
    assert (g["households"] > 0).all()
    assert g.groupby("community_id").size().to_dict() == {"A": 2, "B": 2}
    two = g[g["parts"] > 1]
    assert len(two) == 1 and two["community_id"].iloc[0] == "A"
    ex = gpd.GeoSeries([box(X0 + 600, Y0, X0 + 700, Y0 + 100)], crs=UTM50).to_crs(plan.crs)
    inter = shapely.area(shapely.intersection(two.geometry.iloc[0], ex.iloc[0]))
    assert inter == pytest.approx(1e4, rel=1e-3)
    assert plan.summary()["multi_part_grids"] == 1
    assert_tiles(g, plan.study_area)
    html = plan.explore().get_root().render()
    assert json.dumps(LABELS["en"]["parts"])[1:-1] in html  # the popup says so


# ----------------------------------------------------------- a pocket across a river


@pytest.fixture(scope="module")
def river():
    """Homes in 4 × 2 blocks south of a river (six blocks of 75 households, two of
    45); beyond it a 40 m strip holding one building of 60 households, reached only
    across the river."""
    streets = _streets([0, 100, 200, 300, 400], [0, 100, 240], y_to=240)
    water = gpd.GeoDataFrame(
        {"kind": ["waterway"], "value": ["river"], "tunnel": [False]},
        geometry=[LineString([(X0 - 10, Y0 + 200), (X0 + 410, Y0 + 200)])],
        crs=UTM50,
    )
    homes = _houses(_cells((0, 100, 200, 300), (0, 100)), [75, 75, 75, 75, 75, 45, 75, 45])
    pocket = gpd.GeoDataFrame(
        {"building": "apartments", "building_flats": [60.0]},
        geometry=[box(X0 + 150, Y0 + 210, X0 + 180, Y0 + 230)],
        crs=UTM50,
    )
    buildings = gpd.GeoDataFrame(pd.concat([homes, pocket], ignore_index=True), crs=UTM50)
    return streets, buildings, water


def test_pocket_across_a_river_joins_a_grid_across(river):
    streets, buildings, water = river
    plan = gridgeo.partition(streets, buildings, barriers=water)
    g = plan.grids
    assert_accepted(plan)
    assert len(g) == 2 and not _off(g).any(), g[["grid_id", "households"]]
    assert g["across_barrier"].sum() == 1
    assert plan.summary()["grids_across_barriers"] == 1


def test_pocket_rule_is_configurable(river):
    streets, buildings, water = river
    plan = gridgeo.partition(streets, buildings, barriers=water, stranded_share=0)
    g = plan.grids
    assert_accepted(plan)
    pocket = g[g["households"] == 60]
    assert len(pocket) == 1
    assert pocket["reason"].iloc[0] == "enclosed_land"


# ------------------------------------------------ a building astride a community line


def test_building_astride_a_community_line():
    boundaries = gpd.GeoDataFrame(
        {"name": ["A", "B"]},
        geometry=[box(X0, Y0, X0 + 200, Y0 + 200), box(X0 + 200, Y0, X0 + 400, Y0 + 200)],
        crs=UTM50,
    )
    streets = _streets([0, 100, 200, 300, 400], [0, 100, 200])
    homes = _houses(_cells((0, 100, 300), (0, 100)) + [(200, 0)], 100)
    astride = gpd.GeoDataFrame(
        {"building": "apartments", "building_flats": [100.0]},
        # 62.5 % in A (x < 200), an L whose widest row lies in B
        geometry=[
            shapely.union(
                box(X0 + 150, Y0 + 140, X0 + 230, Y0 + 160),
                box(X0 + 150, Y0 + 120, X0 + 160, Y0 + 140),
            )
        ],
        crs=UTM50,
    )
    buildings = gpd.GeoDataFrame(pd.concat([homes, astride], ignore_index=True), crs=UTM50)
    plan = gridgeo.partition(streets, buildings, boundaries=boundaries, boundary_id="name")
    assert_accepted(plan)
    b = plan.buildings.iloc[-1]
    grid = plan.grids.set_index("grid_id").loc[b["grid_id"]]
    assert grid["community_id"] == "A"
    assert grid.geometry.covers(shapely.point_on_surface(b.geometry))


def test_building_astride_grids_is_carved_into_its_own():
    """A building over a street corner, mostly in two grids beside its own: the parts
    in grids of its community pass to its grid, the rest stays; grids still tile."""
    from gridgeo.astride import carve_astride

    a, b, c = box(0, 0, 100, 100), box(100, 0, 200, 100), box(0, 100, 200, 200)
    grids = np.array([a, b, c], dtype=object)
    # 800 m² in A (its grid), 1,600 in B, 1,200 in C: its point on surface is in B
    building = box(80, 60, 140, 120)
    small = box(150, 20, 160, 30)  # a building of B, not astride
    geoms = np.array([building, small], dtype=object)
    out, n = carve_astride(grids, geoms, np.array([0, 1]), community=np.array(["x", "x", "x"]))
    assert n == 1
    assert out[0].covers(building) and out[0].covers(shapely.point_on_surface(building))
    assert shapely.get_num_geometries(out).tolist() == [1, 1, 1]
    assert shapely.union_all(out).area == pytest.approx(40_000)
    assert sum(x.area for x in out) == pytest.approx(40_000)
    # C in another community keeps its part; B fixed (locked) keeps its own
    out, _ = carve_astride(grids, geoms, np.array([0, 1]), community=np.array(["x", "x", "y"]))
    assert out[2].equals(c) and out[0].covers(shapely.intersection(building, b))
    out, n = carve_astride(
        grids,
        geoms,
        np.array([0, 1]),
        community=np.array(["x", "x", "x"]),
        fixed=np.array([False, True, False]),
    )
    assert out[1].equals(b) and out[0].covers(shapely.intersection(building, c))


def test_buildings_in_the_grid_holding_most_of_them(osm):
    """Overlapping footprints (Wangjing's towers over their podiums, Monaco's building
    parts): each building is in the grid holding most of it and its point on surface."""
    layers = osm("beijing_wangjing")
    plan = gridgeo.partition(layers.streets, layers.buildings, barriers=layers.barriers)
    assert not_in_largest_grid(plan) == 0
    b, g = plan.buildings, plan.grids.set_index("grid_id")
    inside = shapely.covers(
        g.geometry.reindex(b["grid_id"]).values, shapely.point_on_surface(b.geometry.values)
    )
    assert inside.all(), b[~inside]


# ------------------------------------------------------------------ the bundled data


def _osm_plan(osm, population, name, **kw):
    layers = osm(name)
    if name == "helsinki":
        kw["population"] = population
    return gridgeo.partition(
        layers.streets,
        layers.buildings,
        barriers=layers.barriers,
        dedicated=layers.landuse,
        landuse=layers.landuse,
        pois=layers.pois,
        **kw,
    )


@pytest.fixture(scope="module")
def osm_plans(osm, helsinki_population):
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = _osm_plan(osm, helsinki_population, name)
        return cache[name]

    return get


@pytest.mark.parametrize("name", ["kouvola", "helsinki", "beijing_wangjing", "monaco"])
def test_bundled_plans_are_accepted(name, osm_plans):
    plan = osm_plans(name)
    assert_accepted(plan)
    s = plan.summary()
    assert s["within_10pct_basic"] >= 0.98, s
    assert sum(s["households_by_building_class"].values()) == s["households"]
    assert s["households_by_building_class"]["non_residential"] == int(
        plan.buildings.loc[
            (plan.buildings["building_class"] == "non_residential")
            & plan.buildings["building_flats"].notna(),
            "households",
        ].sum()
    )
    # indivisible means one building over the band, and nothing else beside it
    g = plan.grids
    heaviest = plan.buildings.groupby("grid_id")["households"].max()
    ind = g[g["indivisible"]]
    assert (heaviest.reindex(ind["grid_id"]).to_numpy() > 330).all()
    assert (ind["households"].to_numpy() - heaviest.reindex(ind["grid_id"]).to_numpy() < 270).all()


def test_bundled_non_residential_buildings_hold_no_households(osm_plans):
    plan = osm_plans("kouvola")
    b = plan.buildings
    nonres = b[(b["building_class"] == "non_residential") & b["building_flats"].isna()]
    assert len(nonres) > 50
    assert (nonres["households"] == 0).all()
    industrial = plan.grids[plan.grids["zone_kind"] == "industrial"]
    assert (industrial["households"] < 30).all(), industrial[["grid_id", "households"]]


@pytest.mark.slow
@pytest.mark.parametrize("band", [(500, 1000)])
def test_monaco_communes_with_exclaves(osm, band):
    """Monaco's four communes (two of them in two pieces) as communities."""
    import warnings

    import pyogrio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        communes = pyogrio.read_dataframe(
            gridgeo.datasets.get_path("monaco"),
            layer="multipolygons",
            where="boundary = 'administrative' AND admin_level = '8'",
            on_invalid="ignore",
        )[["name", "geometry"]]
    layers = osm("monaco")
    plan = _osm_plan(osm, None, "monaco", boundaries=communes, boundary_id="name")
    assert_accepted(plan)
    assert plan.summary()["within_10pct_basic"] >= 0.98
    wide = _osm_plan(osm, None, "monaco", band=band)
    assert_accepted(wide, lower=band[0], upper=band[1])
    assert len(layers.buildings) > len(plan.buildings)  # those in France are left out


def test_reason_in_the_map_popup(river):
    streets, buildings, water = river
    plan = gridgeo.partition(streets, buildings, barriers=water, stranded_share=0)
    for lang in ("en", "zh"):
        html = plan.explore(lang=lang).get_root().render()
        assert '"reason"' in html
        words = LABELS[lang]["reason_enclosed_land"]
        assert json.dumps(words)[1:-1] in html
    assert set(LABELS["en"]) == set(LABELS["zh"])
    assert {f"reason_{r}" for r in REASONS} <= set(LABELS["en"])


# ------------------------------------------------------------------------ rebalance


def test_rebalance_says_why_and_in_how_many_parts(exclave):
    """Rebalance reports ``reason`` and ``parts`` as partition does: community B loses
    most of its households (120 left, less than a grid)."""
    streets, buildings, boundaries = exclave
    plan = gridgeo.partition(streets, buildings, boundaries=boundaries, boundary_id="name")
    b = plan.buildings.copy()
    comm = plan.grids.set_index("grid_id")["community_id"].reindex(b["grid_id"]).to_numpy()
    in_b = np.flatnonzero(comm == "B")
    hh = b["households"].to_numpy().copy()
    hh[in_b] = 0
    hh[in_b[0]] = 120
    b["households"] = hh
    r = gridgeo.rebalance(plan.grids, b, households_column="households", streets=streets)
    g = r.grids
    assert_accepted(r.plan)
    assert (g["parts"] == shapely.get_num_geometries(g.geometry.values)).all()
    assert g.loc[g["community_id"] == "A", "parts"].max() == 2  # the exclave's grid
    in_b_after = g[g["community_id"] == "B"]
    assert len(in_b_after) == 1 and in_b_after["households"].iloc[0] == 120
    assert in_b_after["reason"].iloc[0] == "small_community"
    assert g.loc[g["community_id"] == "A", "reason"].isna().all()
    f = r.summary()
    assert f["out_of_band_without_reason"] == 0 and f["grids_by_reason"] == {"small_community": 1}
    assert f["multi_part_grids"] == 1 and f["empty_grids"] == 0
    html = r.explore().get_root().render()
    assert json.dumps(LABELS["en"]["reason_small_community"])[1:-1] in html
