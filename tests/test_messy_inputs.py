"""Messy real inputs (#15): gridgeo uses what is usable, repairs what it can and refuses
what would give a plan nobody should trust — on the corpus of :mod:`_messy`, made from
the bundled data. Every refusal is one line on stderr with exit status 2; every plan
written conserves the households it was given exactly."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from _messy import MIXED_HH, build

import gridgeo
from gridgeo import datasets
from gridgeo.cli import main
from gridgeo.crs import gcj02_geometries, to_metric, wgs84_to_gcj02
from gridgeo.households import building_households
from gridgeo.inputs import check_buildings, check_inputs
from gridgeo.rules import Rules
from gridgeo.workspace import prepare


@pytest.fixture(scope="module")
def kouvola(osm):
    return osm("kouvola")


@pytest.fixture(scope="module")
def corpus(kouvola, tmp_path_factory):
    return build(tmp_path_factory.mktemp("messy"), kouvola)


def run(argv, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("gridgeo: error:")]
    assert len(lines) == 1, err
    return lines[0]


def refused(argv, capsys) -> str:
    code, _, err = run(argv, capsys)
    assert code == 2, err
    return error_line(err)


def summary(folder) -> dict:
    return json.loads((folder / "summary.json").read_text())


def plan_buildings(folder) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(folder / "grids.gpkg", layer="buildings")


def in_own_grid(buildings: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> np.ndarray:
    """Whether each building lies (within 1 mm) in the grid it was counted in."""
    own = grids.set_index("grid_id").geometry.loc[buildings["grid_id"]].to_numpy()
    return shapely.dwithin(buildings.geometry.to_numpy(), own, 1e-3)


# ------------------------------------------------------------------ points and lines


def test_mixed_layer_ignores_points_and_lines_with_a_warning(corpus, capsys, tmp_path):
    out = tmp_path / "plan"
    code, _, err = run(
        ["partition", "--streets", corpus["streets"], "--buildings", corpus["mixed"]]
        + ["--out", out, "--no-map"],
        capsys,
    )
    assert code == 0, err
    warned = [ln for ln in err.splitlines() if "ignored" in ln]
    assert any(ln.startswith("buildings: ignored 731 points") for ln in warned), err
    assert any(ln.startswith("buildings: ignored 220 lines") for ln in warned), err
    kept = plan_buildings(out)
    assert len(kept) == 2193 and set(kept.geom_type) <= {"Polygon", "MultiPolygon"}
    # the footprint estimate of the footprints alone, conserved grid by grid
    grids = pyogrio.read_dataframe(out / "grids.gpkg", layer="grids")
    footprints = gpd.read_file(corpus["mixed"]).iloc[:2193]
    expected = building_households(to_metric(footprints, grids.crs)).sum()
    assert summary(out)["households"] == int(expected) == int(kept["households"].sum())
    assert int(grids["households"].sum()) == int(expected)


def test_mixed_layer_with_a_households_column_counts_the_points(corpus, caplog):
    buildings = gpd.read_file(corpus["mixed"])
    streets = gpd.read_file(corpus["streets"])
    plan = gridgeo.partition(streets, buildings, households_column="hh")
    assert "ignored 220 lines (holding 1,100 households in column 'hh', not counted)" in caplog.text
    assert "ignored 731 points" not in caplog.text
    expected = 2193 * MIXED_HH["footprint"] + 731 * MIXED_HH["point"]
    assert int(plan.grids["households"].sum()) == expected
    counted = plan.buildings
    assert len(counted) == 2193 + 731
    points = counted[counted.geom_type == "Point"]
    assert (points["households"] == MIXED_HH["point"]).all()
    assert in_own_grid(points, plan.grids).all()  # the unit holding a point takes it


def test_register_of_points_is_a_plan(corpus, capsys, tmp_path):
    out = tmp_path / "plan"
    code, _, err = run(
        ["partition", "--streets", corpus["streets"], "--buildings", corpus["points"]]
        + ["--households-column", "hh", "--out", out, "--no-map"],
        capsys,
    )
    assert code == 0, err
    register = gpd.read_file(corpus["points"])
    grids = pyogrio.read_dataframe(out / "grids.gpkg", layer="grids")
    counted = plan_buildings(out)
    assert summary(out)["households"] == int(register["hh"].sum()) == int(grids.households.sum())
    assert len(counted) == len(register) and (counted.geom_type == "Point").all()
    assert counted["grid_id"].notna().all() and in_own_grid(counted, grids).all()
    per_grid = counted.groupby("grid_id")["households"].sum()
    assert (per_grid.reindex(grids["grid_id"]).fillna(0).to_numpy() == grids.households).all()
    off = ~grids.households.between(270, 330)
    assert grids.loc[off, "reason"].notna().all(), grids.loc[off, ["grid_id", "households"]]


def test_points_only_need_a_households_source(corpus, capsys, tmp_path):
    line = refused(
        ["partition", "--streets", corpus["streets"], "--buildings", corpus["points"]]
        + ["--out", tmp_path],
        capsys,
    )
    assert "holds only points (2193)" in line
    assert "--households-column" in line and "--population" in line and "--total-households" in line


def test_points_only_take_a_total(corpus):
    register = gpd.read_file(corpus["points"]).drop(columns="hh")
    plan = gridgeo.partition(gpd.read_file(corpus["streets"]), register, total_households=5000)
    assert int(plan.grids["households"].sum()) == 5000
    assert int(plan.buildings["households"].max()) - int(plan.buildings["households"].min()) <= 1


def test_points_only_take_a_population_grid(osm, helsinki_population):
    helsinki = osm("helsinki")
    points = gpd.GeoDataFrame(
        geometry=shapely.point_on_surface(helsinki.buildings.geometry.values),
        crs=helsinki.buildings.crs,
    )
    ws = prepare(helsinki.streets, points, population=helsinki_population)
    cells = to_metric(helsinki_population, ws.crs)
    inside = shapely.area(shapely.intersection(cells.geometry.values, ws.area))
    people = float((cells["population"] * inside / cells.area).sum())
    assert int(ws.building_households.sum()) == round(people / 2.62) > 1000
    assert int(ws.units.households.sum()) == int(ws.building_households.sum())


def test_rebalance_takes_a_register_of_points(kouvola, corpus):
    plan = gridgeo.partition(kouvola.streets, kouvola.buildings)
    register = gpd.read_file(corpus["points"])
    result = gridgeo.rebalance(plan.grids, register, households_column="hh")
    assert int(result.grids["households"].sum()) == int(register["hh"].sum())
    assert result.figures["buildings"] == len(register)


# --------------------------------------------------------------------- broken rings


def test_degenerate_rings_keep_their_households_as_points(corpus, capsys, tmp_path):
    out = tmp_path / "plan"
    code, _, err = run(
        ["partition", "--streets", corpus["streets"], "--buildings", corpus["degenerate"]]
        + ["--households-column", "hh", "--out", out, "--no-map"],
        capsys,
    )
    assert code == 0, err
    assert "buildings: 22 broken rings collapse to lines or points" in err
    assert summary(out)["households"] == 3 * 2215
    counted = plan_buildings(out)
    assert len(counted) == 2215 and (counted.geom_type == "Point").sum() == 22


def test_degenerate_rings_hold_nothing_without_a_column(corpus, caplog):
    buildings = gridgeo.read_layer(corpus["degenerate"], name="buildings")
    assert "22 broken rings collapse" in caplog.text
    layers = check_inputs(gpd.read_file(corpus["streets"]), buildings, rules=Rules())
    assert len(layers.buildings) == 2215 - 22
    assert "buildings: ignored 22 points" in caplog.text


def test_a_mostly_broken_layer_is_refused(corpus, capsys, tmp_path):
    line = refused(
        ["partition", "--streets", corpus["streets"], "--buildings", corpus["mostly_broken"]]
        + ["--out", tmp_path],
        capsys,
    )
    assert "mostly unusable: 1487 of its 2215 features are broken rings" in line
    assert "Fix geometries" in line


# ---------------------------------------------------------------------- wrong places

PLACES = {
    "far": ["buildings and streets do not overlap", "lon 29.93", "lon 26.93", "0% of the"],
    "touching": ["buildings and streets do not overlap", "% of the buildings lie within"],
    "swapped": ["buildings look swapped", "lon 60.52", "lat 26.93", "Swap X and Y"],
    "population": ["population grid and streets do not overlap", "lon 24.90", "lat 60.15"],
}


@pytest.mark.parametrize("case", sorted(PLACES))
def test_layers_in_different_places_are_refused(corpus, capsys, tmp_path, case):
    layer = "--population" if case == "population" else "--buildings"
    argv = ["partition", "--streets", corpus["streets"], layer, corpus[case], "--out", tmp_path]
    line = refused(argv, capsys)
    for part in PLACES[case]:
        assert part in line, line
    assert "fix" in line or "swap them back" in line


def test_latitudes_beyond_90_degrees_are_swapped_axes(corpus, capsys, tmp_path):
    argv = ["partition", "--streets", corpus["wangjing_swapped_streets"]]
    argv += ["--buildings", corpus["wangjing_swapped_buildings"], "--out", tmp_path]
    line = refused(argv, capsys)
    assert "the coordinates of the streets look swapped" in line
    assert "y 116.4" in line and "cannot pass ±90°" in line and "Swap X and Y" in line


@pytest.fixture(scope="module")
def wangjing_wgs_and_gcj(osm):
    """Wangjing's streets and buildings in WGS 84, and each moved to GCJ-02 (as taken
    from Gaode or Tencent maps) but still labelled EPSG:4326."""
    wj = osm("beijing_wangjing")
    layers = {"streets": wj.streets.to_crs(4326), "buildings": wj.buildings.to_crs(4326)}
    return layers, {k: gcj02_geometries(v) for k, v in layers.items()}


@pytest.mark.parametrize("moved", ["buildings", "streets"])
def test_gcj02_positions_labelled_wgs84_are_refused(wangjing_wgs_and_gcj, tmp_path, capsys, moved):
    wgs, gcj = wangjing_wgs_and_gcj
    layers = {**wgs, moved: gcj[moved]}
    for name, layer in layers.items():
        layer.to_file(tmp_path / f"{name}.gpkg")
    line = refused(
        ["partition", "--streets", tmp_path / "streets.gpkg"]
        + ["--buildings", tmp_path / "buildings.gpkg", "--out", tmp_path / "out"],
        capsys,
    )
    assert "look drawn on different datums" in line
    assert f"the {moved} seem to be GCJ-02 positions labelled WGS 84" in line
    assert "gcj02_geometries(layer, inverse=True)" in line
    # moved back as the message says, the layers are planned
    back = {**layers, moved: gcj02_geometries(layers[moved], inverse=True)}
    plan = gridgeo.partition(back["streets"], back["buildings"], target=300)
    assert plan.summary()["n_grids"] > 20


def test_a_citys_grids_in_gcj02_are_refused_by_audit_rebalance_and_workbench(wangjing_wgs_and_gcj):
    """A city's grid layer drawn over Gaode maps, audited against OSM buildings."""
    from gridgeo.workbench import Session

    wgs, _ = wangjing_wgs_and_gcj
    plan = gridgeo.partition(wgs["streets"], wgs["buildings"], target=300)
    grids, buildings = plan.grids.to_crs(4326), plan.buildings.drop(columns="grid_id")
    assert gridgeo.audit.audit(grids, wgs["buildings"]).summary()["uncovered_buildings"] == 0
    with pytest.raises(gridgeo.CRSError, match="the grids seem to be GCJ-02 positions"):
        gridgeo.audit.audit(gcj02_geometries(grids), wgs["buildings"])
    with pytest.raises(gridgeo.CRSError, match="the grids seem to be GCJ-02 positions"):
        gridgeo.rebalance(gcj02_geometries(grids), buildings)
    # the workbench opening the city's grids with its buildings, likewise
    assert len(Session.from_layers(grids, buildings).table()) == len(grids)
    with pytest.raises(gridgeo.CRSError, match="the grids seem to be GCJ-02 positions"):
        Session.from_layers(gcj02_geometries(grids), buildings)


def test_layers_both_in_gcj02_are_one_datum(wangjing_wgs_and_gcj):
    _, gcj = wangjing_wgs_and_gcj
    plan = gridgeo.partition(gcj["streets"], gcj["buildings"], target=300)
    assert int(plan.grids.households.sum()) > 5000


# ------------------------------------------------------------------ repeated buildings


def test_a_footprint_given_twice_counts_once(kouvola, caplog):
    """Two exports merged give some buildings twice: estimated from footprints, each
    counts once; with a households column the planner's counts stand, with a warning."""
    twice = pd.concat([kouvola.buildings, kouvola.buildings.iloc[:300]], ignore_index=True)
    twice = gpd.GeoDataFrame(twice, crs=kouvola.buildings.crs)
    once = check_buildings(to_metric(kouvola.buildings, 32635), Rules())
    with caplog.at_level("WARNING", logger="gridgeo"):
        kept = check_buildings(to_metric(twice, 32635), Rules())
    assert len(kept) == len(once) == len(kouvola.buildings)
    assert "ignored 300 footprints that repeat another exactly" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="gridgeo"):
        counted = check_buildings(
            to_metric(twice.assign(hh=2), 32635), Rules(households_column="hh")
        )
    assert len(counted) == len(twice)
    assert (
        "300 footprints repeat another exactly" in caplog.text and "600 households" in caplog.text
    )


# ------------------------------------------------------------------ implausible counts


def test_implausible_counts_name_their_rows(corpus, capsys, tmp_path):
    argv = ["partition", "--streets", corpus["streets"], "--buildings", corpus["implausible"]]
    line = refused([*argv, "--households-column", "hh", "--out", tmp_path], capsys)
    assert "2 buildings hold more households than any real building" in line
    assert "rows 5 (50,000), 17 (1,000,000,000,000)" in line
    assert "--max-households-per-building" in line


def test_the_limit_is_a_rule(corpus, kouvola):
    buildings = gpd.read_file(corpus["implausible"]).drop(index=17)
    plan = gridgeo.partition(
        kouvola.streets, buildings, households_column="hh", max_households_per_building=60_000
    )
    assert int(plan.grids["households"].sum()) == 3 * (len(buildings) - 1) + 50_000
    with pytest.raises(gridgeo.GridgeoError, match="once --total-households is spread"):
        gridgeo.partition(kouvola.streets, kouvola.buildings, total_households=10**9)


# ----------------------------------------------------------- layers through other tools


@pytest.mark.filterwarnings("ignore:Column names longer", "ignore:Normalized/laundered")
def test_a_shapefiles_cut_names_keep_their_levels_and_flats(kouvola, tmp_path):
    """A Shapefile cuts column names to 10 characters (building_l, building_f): the
    households estimated from it are those of the same layer read from OSM."""
    metric = to_metric(kouvola.buildings, 32635)
    metric = metric.assign(building_levels=metric["building_levels"].fillna(3) + 1)
    metric.to_file(tmp_path / "b.shp")
    cut = gpd.read_file(tmp_path / "b.shp")
    assert {"building_l", "building_f"} <= set(cut.columns)
    assert "building_levels" not in cut.columns
    direct = building_households(metric)
    through = building_households(cut.to_crs(metric.crs))
    assert (through == direct).all() and direct.sum() > 0


def test_untyped_buildings_without_land_use_say_so(kouvola, caplog):
    """With no land-use layer, buildings without a use tag count as housing: the plan
    says how many and how to tell factories and offices among them apart."""
    with caplog.at_level("WARNING", logger="gridgeo"):
        prepare(kouvola.streets, kouvola.buildings, target=300)
    line = next(r.message for r in caplog.records if "no use tag" in r.message)
    untyped = int((gridgeo.building_class.classify(kouvola.buildings) == "unspecified").sum())
    assert line.startswith(f"buildings: {untyped} of {len(kouvola.buildings)} have no use tag")
    assert "--landuse" in line and "building_class" in line
    caplog.clear()
    with caplog.at_level("WARNING", logger="gridgeo"):
        prepare(kouvola.streets, kouvola.buildings, target=300, landuse=kouvola.landuse)
    assert not any("no use tag" in r.message for r in caplog.records)


def _register_csv(corpus, path, *, encoding="utf-8", gcj=False, **rename):
    register = gpd.read_file(corpus["points"]).to_crs(4326)
    lon, lat = register.geometry.x.to_numpy(), register.geometry.y.to_numpy()
    if gcj:
        lon, lat = wgs84_to_gcj02(lon, lat)
    table = register.drop(columns="geometry").assign(lon=lon, lat=lat).rename(columns=rename)
    table.to_csv(path, index=False, encoding=encoding)
    return register


@pytest.mark.parametrize(
    ("encoding", "gcj", "rename"),
    [
        ("utf-8-sig", False, {"lon": "经度", "lat": "纬度", "hh": "户数"}),
        ("gb18030", False, {"lon": "经度 Longitude", "lat": "纬度 Latitude", "hh": "户数"}),
        ("utf-8", True, {"lon": "lng_gcj02", "lat": "lat_gcj02", "hh": "户数"}),
    ],
)
def test_a_register_in_a_csv_table_is_a_layer_of_points(corpus, tmp_path, encoding, gcj, rename):
    """A spreadsheet of buildings (楼栋) with households and a position, as Chinese
    registers are kept: the points read from it are those of the register."""
    register = _register_csv(corpus, tmp_path / "r.csv", encoding=encoding, gcj=gcj, **rename)
    points = gridgeo.read_layer(tmp_path / "r.csv", name="buildings")
    assert points.crs.to_epsg() == 4326 and len(points) == len(register)
    assert (points["户数"].to_numpy() == register["hh"].to_numpy()).all()
    off = to_metric(points, 32635).distance(to_metric(register, 32635), align=False)
    assert off.max() < (0.5 if gcj else 1e-6)  # GCJ-02 back to WGS 84 within half a metre
    plan = gridgeo.partition(
        gpd.read_file(corpus["streets"]), points, households_column="户数", target=300
    )
    assert int(plan.grids.households.sum()) == int(register["hh"].sum())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"missing": 6}, "1 row has no position in lon/lat (line 8)"),
        ({"rename": {"lon": "east", "lat": "north"}}, "has no coordinate columns"),
        ({"metres": True}, "look like projected metres"),
        ({"rename": {"lon": "lat", "lat": "lon"}}, "look swapped"),
    ],
)
def test_a_csv_table_without_usable_positions_is_refused(
    corpus, tmp_path, capsys, change, expected
):
    register = gpd.read_file(corpus["points"]).to_crs(4326)
    xy = to_metric(register, 32635) if change.get("metres") else register
    table = register.drop(columns="geometry").assign(lon=xy.geometry.x, lat=xy.geometry.y)
    if "missing" in change:
        table.loc[change["missing"], "lon"] = None
    table.rename(columns=change.get("rename", {})).to_csv(tmp_path / "r.csv", index=False)
    line = refused(
        ["partition", "--streets", corpus["streets"], "--buildings", tmp_path / "r.csv"]
        + ["--households-column", "hh", "--out", tmp_path / "out"],
        capsys,
    )
    assert expected in line, line


@pytest.mark.parametrize("encoding", ["GBK", "UTF-8"])
def test_a_shapefile_without_its_cpg_keeps_its_chinese_text(kouvola, tmp_path, caplog, encoding):
    """Chinese Shapefiles often come without the .cpg naming their encoding (GBK, as
    Chinese Windows writes it): read as Latin-1 their columns would be »§Êý, not 户数."""
    b = kouvola.buildings[["geometry"]].assign(
        户数=4, 小区=["望京花园", "一号院"] * 1096 + ["望京花园"]
    )
    b.to_file(tmp_path / "b.shp", encoding=encoding)
    (tmp_path / "b.cpg").unlink()
    with caplog.at_level("WARNING", logger="gridgeo"):
        read = gridgeo.read_layer(tmp_path / "b.shp", name="buildings")
    assert [c for c in read.columns if c != "geometry"] == ["户数", "小区"]
    assert read["小区"].tolist() == b["小区"].tolist()
    assert "has no .cpg file" in caplog.text
    assert ("GB18030" if encoding == "GBK" else "UTF-8") in caplog.text


def test_a_latin1_shapefile_without_its_cpg_is_left_as_it_reads(kouvola, tmp_path, caplog):
    """Finnish street names (Kävelykatu) in Latin-1: not taken for Chinese."""
    streets = kouvola.streets[["geometry", "name"]].dropna()
    streets = streets[streets["name"].str.contains("[äöÄÖ]")]
    assert len(streets) > 5
    streets.to_file(tmp_path / "s.shp", encoding="ISO-8859-1")
    (tmp_path / "s.cpg").unlink()
    with caplog.at_level("WARNING", logger="gridgeo"):
        read = gridgeo.read_layer(tmp_path / "s.shp", name="streets")
    assert read["name"].tolist() == streets["name"].tolist()
    assert "has no .cpg file" not in caplog.text


def test_road_surfaces_for_streets_say_what_to_give(kouvola, tmp_path, capsys):
    surfaces = to_metric(kouvola.streets, 32635).buffer(4)
    gpd.GeoDataFrame(geometry=surfaces).to_file(tmp_path / "roads.gpkg")
    kouvola.buildings.to_file(tmp_path / "b.gpkg")
    line = refused(
        ["partition", "--streets", tmp_path / "roads.gpkg", "--buildings", tmp_path / "b.gpkg"]
        + ["--out", tmp_path / "out"],
        capsys,
    )
    assert "are Polygon" in line and "道路中心线" in line


# ----------------------------------------------------------------------- plan folders


def test_every_subcommand_takes_the_plan_folder(capsys, tmp_path):
    plan = tmp_path / "plan"
    osm = datasets.get_path("kouvola")
    code, _, err = run(["partition", "--osm", osm, "--out", plan, "--no-map"], capsys)
    assert code == 0, err
    households = summary(plan)["households"]
    code, _, err = run(["map", plan, "--out", tmp_path / "map.html", "--basemap", "none"], capsys)
    assert code == 0 and (tmp_path / "map.html").stat().st_size > 10_000, err
    after = tmp_path / "rebalanced"
    code, _, err = run(
        ["rebalance", "--plan", plan, "--osm", osm, "--out", after, "--no-map"], capsys
    )
    assert code == 0, err
    assert json.loads((after / "rebalance.json").read_text())["households"] == households
    audit = tmp_path / "audit"
    code, _, err = run(
        ["coverage", "--grids", plan, "--osm", osm, "--out", audit, "--no-map"], capsys
    )
    assert code == 0, err
    assert (audit / "coverage.gpkg").is_file()
    # a folder that is not a plan, and a plan of another place
    line = refused(["map", tmp_path / "audit", "--out", tmp_path / "x.html"], capsys)
    assert "holds no grids.gpkg" in line and "coverage.gpkg" in line
    helsinki = datasets.get_path("helsinki")
    line = refused(["rebalance", "--plan", plan, "--osm", helsinki, "--out", tmp_path], capsys)
    assert "buildings and grids do not overlap" in line
