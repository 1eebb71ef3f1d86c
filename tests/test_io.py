"""Tests of gridgeo.io: reading OSM extracts and GIS layers, downloading, writing."""

from __future__ import annotations

import logging
import re
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmnx
import pandas as pd
import pyogrio
import pytest
import requests
import shapely

from gridgeo import datasets
from gridgeo._errors import (
    CRSError,
    DownloadError,
    EmptyLayerError,
    InputError,
    ReadError,
)
from gridgeo.building_class import TAG_KEYS
from gridgeo.io import (
    OSM_TAGS,
    OSMLayers,
    download_osm,
    extract_tags,
    parse_other_tags,
    read_layer,
    read_osm,
    write_layers,
)
from gridgeo.io import _parse_count as parse_count
from gridgeo.io import _parse_height as parse_height

FIXTURES = Path(__file__).parent / "fixtures" / "io"
TINY = FIXTURES / "tiny.osm"
COLUMNS = {
    "streets": ["osm_id", "highway", "name", "geometry"],
    "buildings": [
        "osm_id",
        "building",
        "name",
        "building_levels",
        "building_flats",
        "height",
        *TAG_KEYS,  # the tags the building classes read
        "geometry",
    ],
    "pois": ["osm_id", "kind", "value", "name", "geometry"],
    "barriers": ["osm_id", "kind", "value", "name", "tunnel", "geometry"],
    "landuse": ["osm_id", "kind", "value", "name", "geometry"],
}
GEOM_TYPES = {
    "streets": {"LineString"},
    "buildings": {"Polygon", "MultiPolygon"},
    "pois": {"Point", "Polygon", "MultiPolygon"},
    "barriers": {"LineString", "Polygon", "MultiPolygon"},
    "landuse": {"Polygon", "MultiPolygon"},
}
TEXT_COLUMNS = {"osm_id", "highway", "name", "building", "kind", "value"}
OSM_ID = re.compile(r"^(node|way|relation)/\d+$")

# Figures measured on the bundled extracts with GDAL 3.12 (pyogrio 0.13); buildings are
# counted after dropping rings cut by the extract boundary.
EXPECTED = {
    "kouvola": {"streets": 331, "buildings": 2193, "pois": 23, "barriers": 1, "landuse": 37},
    "helsinki": {"streets": 2504, "buildings": 482, "pois": 1827, "barriers": 325, "landuse": 106},
    "monaco": {"streets": 2903, "buildings": 23327, "pois": 665, "barriers": 78, "landuse": 36},
    "beijing_wangjing": {
        "streets": 241,
        "buildings": 226,
        "pois": 107,
        "barriers": 9,
        "landuse": 13,
    },
}
LEVELS = {"kouvola": 10, "helsinki": 160, "monaco": 1, "beijing_wangjing": 17}


@pytest.fixture(scope="module")
def osm() -> dict[str, OSMLayers]:
    """Every bundled extract, read once for the module."""
    return {name: read_osm(datasets.get_path(name)) for name in EXPECTED}


@pytest.fixture(scope="module")
def tiny() -> OSMLayers:
    return read_osm(TINY)


@pytest.fixture
def squares() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"pop": [10, 20], "label": ["a", "b"]},
        geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)],
        crs="EPSG:3067",
    )


# ---------------------------------------------------------------------------- read_osm


@pytest.mark.parametrize("name", list(EXPECTED))
def test_read_osm_counts(osm, name):
    layers = osm[name]
    for layer, expected in EXPECTED[name].items():
        assert len(getattr(layers, layer)) == pytest.approx(expected, rel=0.01, abs=1), layer
    assert layers.buildings["building_levels"].notna().sum() == pytest.approx(LEVELS[name], abs=2)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_read_osm_schema(osm, name):
    for layer, gdf in osm[name].to_dict().items():
        assert list(gdf.columns) == COLUMNS[layer], layer
        assert gdf.crs.to_epsg() == 4326
        assert gdf.index.equals(pd.RangeIndex(len(gdf)))
        assert set(gdf.geom_type) <= GEOM_TYPES[layer], layer
        assert gdf.is_valid.all() and not gdf.is_empty.any()
        assert gdf["osm_id"].str.fullmatch(OSM_ID).all()
        for col in TEXT_COLUMNS & set(gdf.columns):
            assert all(v is None or (isinstance(v, str) and v) for v in gdf[col]), col
    buildings = osm[name].buildings
    for col in ("building_levels", "building_flats", "height"):
        assert buildings[col].dtype == float
    assert (buildings["building"] != "no").all()
    assert osm[name].barriers["tunnel"].dtype == bool


@pytest.mark.parametrize("name", list(EXPECTED))
def test_read_osm_pois_not_empty(osm, name):
    pois = osm[name].pois
    assert len(pois) > 0
    assert set(pois["kind"]) <= {"shop", "amenity", "office", "craft"}
    assert pois["value"].notna().all()


def test_read_osm_helsinki_details(osm):
    h = osm["helsinki"]
    assert h.buildings["height"].notna().sum() == 17
    assert h.buildings["height"].max() == pytest.approx(70)
    # "12.13 m" is parsed to metres
    assert np.isclose(h.buildings["height"], 12.13).sum() == 1
    assert h.buildings["osm_id"].str.startswith("relation/").sum() > 50
    barriers = h.barriers.groupby(["kind", "value"]).size()
    assert barriers[("railway", "tram")] == 177
    assert barriers[("railway", "rail")] == 138
    assert ("railway", "abandoned") not in barriers.index
    assert h.barriers.loc[h.barriers["value"] == "subway", "tunnel"].all()
    assert {"shop", "amenity", "office", "craft"} == set(h.pois["kind"])
    assert {"park", "university", "commercial"} <= set(h.landuse["value"])


def test_read_osm_beijing_chinese_names(osm):
    b = osm["beijing_wangjing"]
    cjk = re.compile(r"[\u4e00-\u9fff]")
    assert b.streets["name"].dropna().str.contains(cjk).sum() > 30
    assert "阜通东大街" in set(b.streets["name"])
    assert b.buildings["name"].dropna().str.contains(cjk).any()
    assert (b.barriers["value"] == "subway").sum() == 6


def test_read_osm_monaco_is_mostly_polygons(osm):
    m = osm["monaco"]
    assert (m.buildings.geom_type == "Polygon").mean() > 0.99
    assert (m.barriers["value"] == "rail").sum() == 67


def test_read_osm_invalid_rings_are_dropped_quietly(caplog):
    """Helsinki has multipolygons with two-point rings: no crash, no GDAL warning noise."""
    caplog.set_level(logging.INFO, logger="gridgeo.io")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layers = read_osm(datasets.get_path("helsinki"))
    assert len(layers.buildings) == EXPECTED["helsinki"]["buildings"]
    assert "11 multipolygons features have no usable geometry" in caplog.text
    assert "repaired" in caplog.text


def test_read_osm_tiny_buildings(tiny):
    b = tiny.buildings.set_index("osm_id")
    assert set(b.index) == {"relation/300", "way/110", "way/111", "way/112", "way/114"}
    assert "way/113" not in b.index  # building=no
    assert b.loc["way/110", ["building_levels", "building_flats", "height"]].tolist() == [
        5.0,
        20.0,
        15.0,
    ]
    assert b.loc["way/110", "shop"] == "bakery"
    assert b.loc["way/111", "building_levels"] == 4.0  # "3;4" -> largest
    assert b.loc["way/111", "height"] == 12.5  # "12.5m"
    assert np.isnan(b.loc["way/112", "building_levels"])  # "two"
    assert b.loc["way/112", "height"] == pytest.approx(12.192)  # 40'
    assert np.isnan(b.loc["way/114", "height"])  # "approx. 9"
    assert b.loc["relation/300", "building_levels"] == 2.5
    hole = b.loc["relation/300", "geometry"]
    assert hole.geom_type == "Polygon" and len(hole.interiors) == 1
    assert b.loc["way/112", "name"] is None


def test_read_osm_tiny_other_layers(tiny):
    assert tiny.streets["name"].tolist() == ['Main "Quoted" Street', None, "Kuja"]
    assert tiny.streets["highway"].tolist() == ["residential", "footway", "service"]
    pois = tiny.pois.set_index("osm_id")[["kind", "value"]].apply(tuple, axis=1).to_dict()
    assert pois == {
        "node/50": ("amenity", "cafe"),
        "node/51": ("shop", "supermarket"),
        "node/52": ("office", "company"),
        "node/53": ("craft", "carpenter"),
        "way/110": ("shop", "bakery"),
        "way/114": ("amenity", "school"),
        "relation/300": ("office", "government"),
    }
    barriers = tiny.barriers.set_index("osm_id")
    assert barriers["value"].to_dict() == {
        "way/130": "tram",
        "way/131": "subway",
        "way/132": "river",
        "way/116": "water",
    }
    assert barriers["tunnel"].to_dict() == {
        "way/130": False,
        "way/131": True,
        "way/132": False,
        "way/116": False,
    }
    landuse = tiny.landuse.set_index("osm_id")
    assert landuse[["kind", "value"]].apply(tuple, axis=1).to_dict() == {
        "way/113": ("landuse", "residential"),
        "way/114": ("amenity", "school"),
        "way/115": ("leisure", "park"),
        "way/117": ("landuse", "industrial"),
    }


def test_read_osm_bbox():
    path = datasets.get_path("kouvola")
    bbox = (26.94, 60.525, 26.955, 60.535)
    part = read_osm(path, bbox=bbox)
    assert 0 < len(part.streets) < EXPECTED["kouvola"]["streets"]
    assert part.streets.intersects(shapely.box(*bbox)).all()
    assert part.buildings.intersects(shapely.box(*bbox)).all()


def test_read_osm_bbox_without_streets():
    with pytest.raises(EmptyLayerError, match="no streets.*inside bbox"):
        read_osm(datasets.get_path("kouvola"), bbox=(10.0, 50.0, 10.01, 50.01))


@pytest.mark.parametrize(
    "bbox", [(1, 2, 3), (3, 0, 1, 1), (0, 0, 1, 200), ("a", 0, 1, 1), (0, 0, np.nan, 1)]
)
def test_read_osm_bad_bbox(bbox):
    with pytest.raises(InputError, match=r"\(west, south, east, north\)"):
        read_osm(TINY, bbox=bbox)


def test_read_osm_missing_file(tmp_path):
    with pytest.raises(ReadError, match="file not found.*check the path"):
        read_osm(tmp_path / "nowhere.osm.pbf")


def test_read_osm_wrong_extension(tmp_path):
    with pytest.raises(ReadError, match=r"expected OSM XML.*read_layer"):
        read_osm(tmp_path / "streets.gpkg")


def test_read_osm_garbage(tmp_path):
    bad = tmp_path / "broken.osm.pbf"
    bad.write_bytes(b"\x00garbage" * 64)
    with pytest.raises(ReadError, match=r"cannot read OpenStreetMap file .*re-download"):
        read_osm(bad)


def test_read_osm_without_streets():
    with pytest.raises(EmptyLayerError, match=r"no streets \(ways tagged highway"):
        read_osm(FIXTURES / "no_streets.osm")


# -------------------------------------------------------------------------- tag parsing


def test_parse_other_tags_escapes():
    text = r'"height"=>"12 m","note"=>"say \"hi\", ok \\ bye","a\"b"=>"c"'
    assert parse_other_tags([text, None, ""]) == [
        {"height": "12 m", "note": 'say "hi", ok \\ bye', 'a"b': "c"},
        {},
        {},
    ]


def test_extract_tags():
    series = pd.Series(
        [
            r'"building:levels"=>"5","height"=>"12 m"',
            r'"note"=>"x,\"height\"=>\"99\"","height"=>"7"',
            None,
            r'"min_height"=>"3"',
        ]
    )
    out = extract_tags(series, ["height", "building:levels"])
    assert out["height"].tolist() == ["12 m", "7", None, None]
    assert out["building:levels"].tolist() == ["5", None, None, None]


@pytest.mark.parametrize(
    ("text", "metres"),
    [
        ("12", 12.0),
        ("12 m", 12.0),
        ("12.5m", 12.5),
        ("12,5", 12.5),
        (" 7 metres", 7.0),
        ("40'", 12.192),
        ("10 ft", 3.048),
        ("4'6\"", 1.3716),
        ("about 9", np.nan),
        ("12-15", np.nan),
        ("", np.nan),
    ],
)
def test_parse_height(text, metres):
    assert parse_height(text) == pytest.approx(metres, nan_ok=True)


@pytest.mark.parametrize(
    ("text", "value"),
    [("5", 5.0), ("2.5", 2.5), ("3;4", 4.0), ("two", np.nan), ("3;x", np.nan), ("-1", np.nan)],
)
def test_parse_count(text, value):
    assert parse_count(text) == pytest.approx(value, nan_ok=True)


# --------------------------------------------------------------------------- read_layer


def test_read_layer_bundled_population():
    pop = read_layer(datasets.get_path("helsinki_population"), name="population")
    assert len(pop) == 92
    assert pop.crs.to_epsg() == 4326
    assert {"id", "population"} <= set(pop.columns)


@pytest.mark.parametrize(
    ("filename", "driver"),
    [
        ("a.gpkg", "GPKG"),
        ("a.geojson", "GeoJSON"),
        ("a.json", "GeoJSON"),
        ("a.shp", "ESRI Shapefile"),
        ("a.fgb", "FlatGeobuf"),
        ("a.parquet", None),
        ("a.geoparquet", None),
    ],
)
def test_read_layer_formats(tmp_path, squares, filename, driver):
    path = tmp_path / filename
    if driver is None:
        squares.to_parquet(path)
    else:
        squares.to_file(path, driver=driver, engine="pyogrio")
    gdf = read_layer(path)
    assert len(gdf) == 2
    assert gdf.crs.equals(squares.crs) or gdf.crs.to_epsg() == 3067
    assert gdf.area.tolist() == pytest.approx([10_000, 10_000])
    assert sorted(gdf["pop"]) == [10, 20]  # FlatGeobuf reorders by its spatial index


def test_read_layer_zipped_shapefile(tmp_path, squares):
    squares.to_file(tmp_path / "sq.shp", engine="pyogrio")
    zpath = tmp_path / "sq.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for part in tmp_path.glob("sq.*"):
            if part.suffix != ".zip":
                z.write(part, part.name)
    gdf = read_layer(zpath)
    assert len(gdf) == 2 and gdf.crs.to_epsg() == 3067


def test_read_layer_repairs_invalid(tmp_path):
    bowtie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    gpd.GeoDataFrame(geometry=[bowtie], crs=3067).to_file(tmp_path / "b.gpkg")
    gdf = read_layer(tmp_path / "b.gpkg")
    assert gdf.is_valid.all()


def test_read_layer_missing(tmp_path):
    with pytest.raises(ReadError, match="file not found.*check the path"):
        read_layer(tmp_path / "missing.gpkg")


@pytest.mark.parametrize("filename", ["table.xlsx", "noext", "grid.kml"])
def test_read_layer_unknown_extension(tmp_path, filename):
    path = tmp_path / filename
    path.write_text("x")
    with pytest.raises(ReadError, match="unsupported file type.*convert it to one of GeoPackage"):
        read_layer(path)


def test_read_layer_refuses_osm():
    with pytest.raises(ReadError, match="read_osm"):
        read_layer(TINY)


@pytest.mark.parametrize(
    ("filename", "hint"),
    [
        ("bad.gpkg", "valid GeoPackage file"),
        ("bad.geojson", "valid GeoJSON file"),
        ("bad.fgb", "valid FlatGeobuf file"),
        ("bad.parquet", "GeoParquet file"),
    ],
)
def test_read_layer_garbage(tmp_path, filename, hint):
    path = tmp_path / filename
    path.write_bytes(b"\x00\x01not a GIS file" * 50)
    with pytest.raises(ReadError, match=f"cannot read .*{hint}"):
        read_layer(path)


def test_read_layer_plain_parquet(tmp_path):
    path = tmp_path / "plain.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(path)
    with pytest.raises(ReadError, match="to_parquet"):
        read_layer(path)


def test_read_layer_multi_layer_gpkg(tmp_path, squares):
    path = write_layers(tmp_path / "two.gpkg", {"first": squares, "second": squares.iloc[:1]})
    with pytest.raises(InputError, match=r"2 layers \(first, second\).*layer=NAME"):
        read_layer(path)
    with pytest.raises(InputError, match="no layer 'third'; available layers: first, second"):
        read_layer(path, layer="third")
    assert len(read_layer(path, layer="second")) == 1


def test_read_layer_without_crs(tmp_path, squares):
    squares.to_file(tmp_path / "nocrs.shp", engine="pyogrio")
    (tmp_path / "nocrs.prj").unlink()
    with pytest.raises(CRSError, match="buildings layer has no CRS.*set_crs"):
        read_layer(tmp_path / "nocrs.shp", name="buildings")


def test_read_layer_empty(tmp_path, squares):
    write_layers(tmp_path / "e.gpkg", {"empty": squares.iloc[:0]})
    with pytest.raises(EmptyLayerError, match="empty"):
        read_layer(tmp_path / "e.gpkg")


def test_read_layer_table_without_geometry(tmp_path):
    path = tmp_path / "table.gpkg"
    pyogrio.write_dataframe(pd.DataFrame({"a": [1, 2]}), path, layer="t")
    with pytest.raises(InputError, match="no geometry column"):
        read_layer(path)


# ------------------------------------------------------------------------- write_layers


def test_write_layers_roundtrip(tmp_path, tiny):
    path = write_layers(tmp_path / "deep" / "er" / "out.gpkg", tiny.to_dict())
    assert path == tmp_path / "deep" / "er" / "out.gpkg"
    assert [str(n) for n in pyogrio.list_layers(path)[:, 0]] == list(COLUMNS)
    back = pyogrio.read_dataframe(path, layer="buildings")
    assert back["height"].tolist() == pytest.approx(tiny.buildings["height"].tolist(), nan_ok=True)
    assert pyogrio.read_dataframe(path, layer="barriers")["tunnel"].tolist() == (
        tiny.barriers["tunnel"].tolist()
    )
    # overwriting replaces the whole file
    write_layers(path, {"only": tiny.streets})
    assert [str(n) for n in pyogrio.list_layers(path)[:, 0]] == ["only"]


def test_write_layers_empty_layer(tmp_path):
    layers = read_osm(TINY, bbox=(26.9295, 60.5195, 26.9405, 60.5215))
    assert layers.barriers.empty
    path = write_layers(tmp_path / "o.gpkg", layers.to_dict())
    assert len(pyogrio.read_dataframe(path, layer="barriers")) == 0


@pytest.mark.parametrize(
    ("layers", "match"),
    [
        ({}, "non-empty dict"),
        ({"a": pd.DataFrame({"x": [1]})}, "must be a GeoDataFrame"),
        ({"": gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs=4326)}, "non-empty strings"),
    ],
)
def test_write_layers_bad_input(tmp_path, layers, match):
    with pytest.raises(InputError, match=match):
        write_layers(tmp_path / "x.gpkg", layers)


# ------------------------------------------------------------------------- download_osm

KOUVOLA_BOX = (26.94, 60.525, 26.955, 60.535)


def _osmnx_like(path: Path, bbox) -> gpd.GeoDataFrame:
    """A recorded osmnx answer: features of a real extract in osmnx's layout.

    osmnx indexes features by (element, id), has one column per tag key, builds ways as
    Polygon (not one-part MultiPolygon) and repairs geometries with make_valid.
    """
    frames = []
    for layer in ("points", "lines", "multipolygons"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            df = pyogrio.read_dataframe(path, layer=layer, bbox=bbox, on_invalid="ignore")
        df = df[df.geometry.notna()]
        tags = pd.DataFrame(parse_other_tags(df["other_tags"]), index=df.index)
        keep = [c for c in df.columns if c not in {"osm_id", "osm_way_id", "other_tags", "z_order"}]
        out = pd.concat([df[keep], tags], axis=1)
        if layer == "multipolygons":
            rel = df["osm_id"].notna()
            out["element"] = np.where(rel, "relation", "way")
            out["id"] = df["osm_id"].where(rel, df["osm_way_id"]).astype("int64")
            geom = shapely.make_valid(df.geometry.to_numpy())
            single = shapely.get_num_geometries(geom) == 1
            geom[single] = shapely.get_geometry(geom[single], 0)
            out["geometry"] = geom
        else:
            out["element"] = "node" if layer == "points" else "way"
            out["id"] = df["osm_id"].astype("int64")
        frames.append(out)
    gdf = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=4326)
    return gdf.set_index(["element", "id"]).sort_index()


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Any real osmnx query in this module is a bug: fail loudly."""

    def boom(*_args, **_kwargs):
        raise AssertionError("network access attempted in tests")

    for fn in ("features_from_place", "features_from_bbox", "features_from_polygon"):
        monkeypatch.setattr(osmnx.features, fn, boom)


def test_download_osm_place_recorded(monkeypatch):
    recorded = _osmnx_like(datasets.get_path("kouvola"), KOUVOLA_BOX)
    calls = []

    def fake(query, tags, **_kwargs):
        calls.append((query, tags, osmnx.settings.requests_timeout))
        return recorded

    monkeypatch.setattr(osmnx.features, "features_from_place", fake)
    before = osmnx.settings.requests_timeout
    layers = download_osm(place="Kouvola, Finland", timeout=30)
    assert calls == [("Kouvola, Finland", OSM_TAGS, 30)]
    assert osmnx.settings.requests_timeout == before
    local = read_osm(datasets.get_path("kouvola"), bbox=KOUVOLA_BOX)
    for name, gdf in layers.to_dict().items():
        assert list(gdf.columns) == COLUMNS[name]
        assert gdf.crs.to_epsg() == 4326
        assert set(gdf["osm_id"]) == set(getattr(local, name)["osm_id"]), name
    assert len(layers.streets) > 50 and len(layers.buildings) > 300
    merged = layers.buildings.merge(local.buildings, on="osm_id", suffixes=("", "_local"))
    assert (merged["building"] == merged["building_local"]).all()


def test_download_osm_bbox_matches_read_osm(monkeypatch):
    """osmnx's own parser on the fixture gives exactly what read_osm gives."""
    recorded = osmnx.features.features_from_xml(TINY)
    seen = {}

    def fake(bbox, tags):
        seen["bbox"], seen["tags"] = bbox, tags
        return recorded

    monkeypatch.setattr(osmnx.features, "features_from_bbox", fake)
    layers = download_osm(bbox=(26.9295, 60.5195, 26.9405, 60.5245))
    assert seen == {"bbox": (26.9295, 60.5195, 26.9405, 60.5245), "tags": OSM_TAGS}
    local = read_osm(TINY)
    for name, gdf in layers.to_dict().items():
        a = gdf.sort_values("osm_id").reset_index(drop=True)
        b = getattr(local, name).sort_values("osm_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
        assert a.geometry.normalize().geom_equals_exact(b.geometry.normalize(), 1e-9).all()


def test_download_osm_polygon(monkeypatch):
    area = shapely.box(26.9295, 60.5195, 26.9405, 60.5245)
    got = {}

    def fake(polygon, tags):
        got["polygon"], got["tags"] = polygon, tags
        return osmnx.features.features_from_xml(TINY)

    monkeypatch.setattr(osmnx.features, "features_from_polygon", fake)
    layers = download_osm(polygon=area)
    assert got["polygon"].equals(area) and got["tags"] == OSM_TAGS
    assert len(layers.streets) == 3


def test_download_osm_connection_error(monkeypatch):
    def fail(*_args, **_kwargs):
        raise requests.ConnectionError("Max retries exceeded with url: /api/interpreter")

    monkeypatch.setattr(osmnx.features, "features_from_place", fail)
    with pytest.raises(
        DownloadError,
        match=r"could not download OSM data for place 'Kouvola'.*"
        r"Max retries.*check the network or use --osm FILE",
    ):
        download_osm(place="Kouvola")


def test_download_osm_timeout(monkeypatch):
    def fail(*_args, **_kwargs):
        raise requests.Timeout("read timed out")

    monkeypatch.setattr(osmnx.features, "features_from_bbox", fail)
    with pytest.raises(DownloadError, match="check the network"):
        download_osm(bbox=(26.9, 60.5, 27.0, 60.6), timeout=5)


def test_download_osm_nothing_found(monkeypatch):
    from osmnx._errors import InsufficientResponseError

    def fail(*_args, **_kwargs):
        raise InsufficientResponseError("No matching features. Check query location")

    monkeypatch.setattr(osmnx.features, "features_from_place", fail)
    with pytest.raises(EmptyLayerError, match="no features for place 'Atlantis'"):
        download_osm(place="Atlantis")


def test_download_osm_place_without_polygon(monkeypatch):
    def fail(*_args, **_kwargs):
        raise TypeError("Nominatim did not geocode query 'x' to a geometry of type (Multi)Polygon.")

    monkeypatch.setattr(osmnx.features, "features_from_place", fail)
    with pytest.raises(InputError, match="not know 'Some street' as an area.*bbox="):
        download_osm(place="Some street")


def test_download_osm_without_streets(monkeypatch):
    recorded = osmnx.features.features_from_xml(FIXTURES / "no_streets.osm")
    monkeypatch.setattr(osmnx.features, "features_from_place", lambda *_a, **_k: recorded)
    with pytest.raises(EmptyLayerError, match="holds no streets"):
        download_osm(place="A field")


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"place": "Kouvola", "bbox": (26.9, 60.5, 27.0, 60.6)},
        {"bbox": (26.9, 60.5, 27.0, 60.6), "polygon": shapely.box(26.9, 60.5, 27.0, 60.6)},
    ],
)
def test_download_osm_needs_exactly_one_area(kwargs):
    with pytest.raises(InputError, match="exactly one of place=, bbox= or polygon="):
        download_osm(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"place": "  "}, "non-empty place name"),
        ({"bbox": (27.0, 60.5, 26.9, 60.6)}, "west < east"),
        ({"polygon": shapely.Point(26.9, 60.5)}, "Polygon or MultiPolygon"),
        ({"polygon": shapely.box(500_000, 6_700_000, 501_000, 6_701_000)}, "EPSG:4326"),
        ({"place": "Kouvola", "timeout": 0}, "timeout must be a positive number"),
    ],
)
def test_download_osm_bad_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        download_osm(**kwargs)
