"""The invariants of a grid plan, on real data (Kouvola, Helsinki, Beijing, Monaco).

A plan is correct when: the grids tile the study area (gaps and pairwise overlaps under
1 m²); every building is in exactly one grid; households of grids add up to those of
buildings; every grid is one polygon; no grid crosses a community boundary.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

import gridgeo


def _plan(name, osm, helsinki_population, **kw):
    layers = osm(name)
    if name == "helsinki":
        kw.setdefault("population", helsinki_population)
    return gridgeo.partition(layers.streets, layers.buildings, target=300, **kw)


@pytest.fixture(scope="module")
def plans(osm, helsinki_population):
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = _plan(name, osm, helsinki_population)
        return cache[name]

    return get


def assert_tiles(grids, area):
    """Grids cover ``area`` exactly: no gap, no overlap (each under 1 m² in total).

    Measured grid by grid and pair by pair (inclusion–exclusion), not on one union of the
    whole city: a single overlay of thousands of polygons is itself the least robust
    operation in the check.
    """
    geoms = grids.geometry.values
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = i < j
    overlap = shapely.area(shapely.intersection(geoms[i[pairs]], geoms[j[pairs]])).sum()
    outside = shapely.area(shapely.difference(geoms, area)).sum()
    covered = shapely.area(geoms).sum() - overlap - outside
    gaps = area.area - covered
    assert abs(gaps) < 1.0, f"gaps of {gaps:.3f} m²"
    assert outside < 1.0, f"{outside:.3f} m² of grids outside the study area"
    assert overlap < 1.0, f"overlaps of {overlap:.3f} m²"


def assert_buildings_conserved(plan, n_input):
    b = plan.buildings
    g = plan.grids
    assert len(b) == n_input, "buildings were lost or added"
    assert b["grid_id"].notna().all()
    assert set(b["grid_id"]) <= set(g["grid_id"])
    # households conserved, grid by grid
    per_grid = b.groupby("grid_id")["households"].sum()
    hh = g.set_index("grid_id")["households"]
    assert int(hh.sum()) == int(b["households"].sum())
    assert (per_grid.reindex(hh.index, fill_value=0) == hh).all()
    counts = b.groupby("grid_id").size().reindex(hh.index, fill_value=0)
    assert (counts == g.set_index("grid_id")["buildings"]).all()
    # the grid a building is in holds (most of) it
    grid_geom = g.set_index("grid_id").geometry
    bg, gg = b.geometry.values, grid_geom.loc[b["grid_id"]].values
    # interiors meet (DE-9IM, no overlay: robust where GEOS intersection is not)
    inside = shapely.relate_pattern(bg, gg, "T********")
    assert inside.all(), f"{int((~inside).sum())} buildings lie outside the grid they were given"
    share = shapely.area(shapely.intersection(bg, gg)) / shapely.area(bg)
    assert (share >= 0.5 - 1e-9).mean() > 0.99


@pytest.mark.parametrize("name", ["kouvola", "helsinki", "beijing_wangjing", "monaco"])
def test_plan_invariants(name, plans, osm):
    plan = plans(name)
    g = plan.grids
    assert len(g) > 0
    # every grid is one polygon but those that took in an exclave (reported as parts)
    one = g.geom_type == "Polygon"
    assert (one | (g["parts"] > 1)).all(), "every grid must be one polygon"
    assert (g["parts"] == shapely.get_num_geometries(g.geometry.values)).all()
    assert g.is_valid.all(), "grids must be valid polygons"
    assert g["grid_id"].is_unique
    assert plan.crs.is_projected
    assert_tiles(g, plan.study_area)
    assert_buildings_conserved(plan, len(osm(name).buildings))
    assert (g["households"] >= 0).all()
    np.testing.assert_allclose(g["area_m2"], g.area)


@pytest.mark.parametrize(
    ("name", "epsg"),
    [("kouvola", 32635), ("helsinki", 32635), ("beijing_wangjing", 4548), ("monaco", 32632)],
)
def test_metric_crs_chosen(name, epsg, plans):
    assert plans(name).crs.to_epsg() == epsg


def test_helsinki_households_come_from_the_population_grid(plans, helsinki_population):
    plan = plans("helsinki")
    area = plan.study_area
    cells = helsinki_population.to_crs(plan.crs)
    share = shapely.area(shapely.intersection(cells.geometry.values, area)) / cells.area
    people = float((cells["population"] * share).sum())
    assert plan.summary()["households"] == round(people / 2.62)


def test_summary_figures(plans):
    plan = plans("kouvola")
    s = plan.summary()
    hh = plan.grids["households"]
    assert s["n_grids"] == len(plan.grids)
    assert s["households"] == hh.sum()
    assert (s["min"], s["max"], s["median"]) == (hh.min(), hh.max(), hh.median())
    within = np.mean(np.abs(hh / 300 - 1) <= 0.1 + 1e-9)
    assert s["within_10pct"] == pytest.approx(within)
    assert 0 <= s["within_10pct"] <= s["within_20pct"] <= 1


@pytest.mark.parametrize("name", ["kouvola", "helsinki", "monaco"])
def test_balance_targets_on_real_data(name, plans):
    """≥ 95 % of grids within ±10 % of the target; every grid within ±25 % but those
    holding one building that alone is over the band (counted, reported apart)."""
    plan = plans(name)
    s = plan.summary()
    assert s["within_10pct"] >= 0.95, s
    g = plan.grids
    far = (g["households"] / 300 - 1).abs() > 0.25 + 1e-9
    assert not (far & ~g["indivisible"]).any(), g[far]
    assert s["within_25pct_basic"] == 1.0
    assert s["median"] == pytest.approx(300, rel=0.1)


@pytest.mark.parametrize(
    ("name", "mean", "p10", "streets"),
    # spopt's best on Kouvola's units: mean 0.499 (AZP, RegionKMeans), p10 0.370 (AZP);
    # on Helsinki's: mean 0.428 (RegionKMeans, with 3 of its 5 regions out of ±10 %),
    # p10 0.208 (AZP; RegionKMeans 0.299 out of band); on Monaco spopt does not finish
    # and METIS reaches 0.379 / 0.228
    [("kouvola", 0.5, 0.37, 0.4), ("helsinki", 0.43, 0.21, 0.6), ("monaco", 0.44, 0.23, 0.45)],
)
def test_compact_grids_on_real_data(name, mean, p10, streets, plans):
    """Polsby–Popper (mean and 10th percentile) at least the alternatives' on the same
    units, with most of the boundary on streets."""
    s = plans(name).summary()
    assert s["polsby_popper_mean"] >= mean, s
    assert s["polsby_popper_p10"] >= p10, s
    assert s["boundary_on_streets"] >= streets, s


def test_deterministic(osm):
    layers = osm("kouvola")
    a = gridgeo.partition(layers.streets, layers.buildings, random_state=7)
    b = gridgeo.partition(layers.streets, layers.buildings, random_state=7)
    assert a.buildings["grid_id"].equals(b.buildings["grid_id"])
    assert all(shapely.equals_exact(a.grids.geometry.values, b.grids.geometry.values, 0))


def test_grids_never_cross_community_boundaries(osm, monaco_quarters):
    layers = osm("monaco")
    plan = gridgeo.partition(
        layers.streets, layers.buildings, boundaries=monaco_quarters, boundary_id="name", target=300
    )
    g = plan.grids
    assert (g.geom_type == "Polygon").all()
    q = monaco_quarters.to_crs(plan.crs).set_index("name").geometry
    inside = shapely.area(shapely.intersection(g.geometry.values, q.loc[g["community_id"]].values))
    np.testing.assert_allclose(inside, g.area, atol=1.0)
    # every quarter is tiled by its own grids
    for name, quarter in q.items():
        mine = g[g["community_id"] == name]
        assert len(mine) >= 1
        assert_tiles(mine, quarter)
    # buildings lying mostly outside every quarter (in France) are left out of the plan,
    # and the notes say how many
    assert plan.buildings["grid_id"].notna().all()
    area = shapely.union_all(q.geometry.values)
    geoms = layers.buildings.to_crs(plan.crs).geometry.values
    inside = shapely.area(shapely.intersection(geoms, area)) >= 0.5 * shapely.area(geoms)
    assert len(plan.buildings) == int(inside.sum()) < len(layers.buildings)
    left = len(layers.buildings) - len(plan.buildings)
    assert any(f"{left} buildings lie mostly outside" in note for note in plan.notes)


def test_streets_only_with_total(osm):
    layers = osm("kouvola")
    plan = gridgeo.partition(layers.streets, total_households=6000, target=300)
    assert plan.summary()["households"] == 6000
    assert (plan.grids.geom_type == "Polygon").all()
    assert_tiles(plan.grids, plan.study_area)
    assert plan.summary()["within_10pct"] >= 0.9


def test_any_input_crs(osm):
    layers = osm("kouvola")
    streets = layers.streets.to_crs(3857)
    buildings = layers.buildings.to_crs(3067)  # ETRS-TM35FIN
    plan = gridgeo.partition(streets, buildings)
    assert plan.crs.to_epsg() == 32635
    assert (
        plan.summary()["households"]
        == gridgeo.partition(layers.streets, layers.buildings).summary()["households"]
    )


def test_describe_counts_exempt_grids_apart(plans):
    """Beijing holds towers that alone exceed the band: both summaries say they are not counted."""
    plan = plans("beijing_wangjing")
    s = plan.summary()
    assert s["indivisible_grids"] >= 1
    big = plan.grids[plan.grids["indivisible"]]
    assert (big["households"] > 330).all()
    en, zh = plan.describe(), plan.describe(lang="zh")
    assert f"{s['indivisible_grids']} grids holding one building" in en and "not counted" in en
    assert f"{s['indivisible_grids']} 个网格含单栋超限楼宇，不计入" in zh
    basic = plan.grids[(plan.grids["grid_type"] == "basic") & ~plan.grids["indivisible"]]
    assert s["basic_max"] == basic["households"].max()
    assert s["within_10pct_basic"] == pytest.approx(
        (abs(basic["households"] / 300 - 1) <= 0.1 + 1e-9).mean()
    )


def test_reading_order_numbers_rows_and_puts_empty_grids_last():
    import geopandas as gpd

    boxes = [shapely.box(x, y, x + 10, y + 10) for y in (10, 0) for x in (0, 10, 20)]
    g = gpd.GeoDataFrame({"community_id": [0] * 7}, geometry=boxes + [shapely.Polygon()], crs=32650)
    # north row west→east, then south row, the empty grid last
    assert gridgeo.pipeline.reading_order(g).tolist() == [0, 1, 2, 3, 4, 5, 6]
    shuffled = g.iloc[[4, 6, 0, 5, 2, 1, 3]].reset_index(drop=True)
    assert gridgeo.pipeline.reading_order(shuffled).tolist() == [4, 6, 0, 5, 2, 1, 3]
