"""Tests of gridgeo.render: neighbour colouring, grid maps and their HTML."""

from __future__ import annotations

import json
import logging
import re

import folium
import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from gridgeo import datasets
from gridgeo._errors import CRSError, EmptyLayerError, InputError
from gridgeo.render import grid_map, neighbour_colors, save_map
from gridgeo.render import interactive as _interactive
from gridgeo.render._labels import LABELS, label

UTM = "EPSG:32635"
X0, Y0 = 500_000.0, 6_710_000.0  # southern Finland in UTM 35N
HOUSEHOLDS = [300, 450, 150, 280, 310, 0, 295, 305, 600]


@pytest.fixture
def grids() -> gpd.GeoDataFrame:
    """A 3 × 3 lattice of 100 m squares, ids G0001… row by row."""
    cells = [
        shapely.box(X0 + 100 * i, Y0 + 100 * j, X0 + 100 * (i + 1), Y0 + 100 * (j + 1))
        for j in range(3)
        for i in range(3)
    ]
    return gpd.GeoDataFrame(
        {
            "grid_id": [f"G{k + 1:04d}" for k in range(9)],
            "households": np.array(HOUSEHOLDS, dtype=np.int64),
            "buildings": np.full(9, 2, dtype=np.int64),
            "area_m2": np.full(9, 10_000.0),
        },
        geometry=cells,
        crs=UTM,
    )


@pytest.fixture
def buildings(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Two 10 m × 10 m buildings inside each grid, sharing its households."""
    rows = []
    for gid, hh, cell in zip(grids["grid_id"], grids["households"], grids.geometry, strict=True):
        x, y = cell.bounds[:2]
        for k, dx in enumerate((20, 60)):
            rows.append(
                {
                    "grid_id": gid,
                    "households": np.int64(hh // 2 + (hh % 2 if k == 0 else 0)),
                    "name": f"{gid}-{k + 1}",
                    "geometry": shapely.box(x + dx, y + 40, x + dx + 10, y + 50),
                }
            )
    return gpd.GeoDataFrame(rows, crs=UTM)


def _payloads(html: str) -> list[dict]:
    """The GeoJSON FeatureCollections that folium embeds in the page's script."""
    return [json.loads(m) for m in re.findall(r"geo_json_\w+_add\((\{.*\})\);", html)]


def _grid_features(html: str) -> list[dict]:
    return [
        f
        for p in _payloads(html)
        for f in p["features"]
        if "grid_id" in f["properties"] and "area_ha" in f["properties"]
    ]


def _shows(html: str, text: str) -> bool:
    """Whether ``text`` is in the page, as UTF-8 or as a JSON \\u escape in a script."""
    return text in html or json.dumps(text)[1:-1] in html


def _geojson_layers(m: folium.Map) -> list[folium.GeoJson]:
    return [c for c in m._children.values() if isinstance(c, folium.GeoJson)]


def _fill_colors(m: folium.Map) -> dict[str, str]:
    layer = _geojson_layers(m)[0]
    return {
        f["properties"]["grid_id"]: layer.style_function(f)["fillColor"]
        for f in layer.data["features"]
    }


# ------------------------------------------------------------------ neighbour colours


def test_neighbour_colors_differ_for_touching_grids(grids):
    colors = neighbour_colors(grids)
    assert len(colors) == len(grids)
    left, right = grids.sindex.query(grids.geometry, predicate="touches")
    pairs = [(i, j) for i, j in zip(left, right, strict=True) if i < j]
    assert len(pairs) == 20  # 12 edges + 8 diagonal corners in a 3 × 3 lattice
    for i, j in pairs:
        assert colors[i] != colors[j], (i, j)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colors)


def test_neighbour_colors_deterministic(grids):
    first = neighbour_colors(grids)
    again = neighbour_colors(grids.copy())
    assert first.tolist() == again.tolist()
    # the colouring depends on the geometry, not on the CRS it is given in
    assert neighbour_colors(grids.to_crs(4326)).tolist() == first.tolist()


def test_neighbour_colors_separated_grids_may_share():
    far = gpd.GeoDataFrame(
        geometry=[shapely.box(0, 0, 10, 10), shapely.box(100, 0, 110, 10)], crs=UTM
    )
    assert neighbour_colors(far).tolist() == [_interactive.DEFAULT_PALETTE[0]] * 2


def test_neighbour_colors_short_palette_warns(grids, caplog):
    with caplog.at_level(logging.WARNING, logger="gridgeo.render.interactive"):
        colors = neighbour_colors(grids, palette=["#000000", "#ffffff"])
    assert set(colors) <= {"#000000", "#ffffff"}
    assert "palette" in caplog.text
    with pytest.raises(InputError, match="palette"):
        neighbour_colors(grids, palette=[])


# ------------------------------------------------------------------ maps and HTML


def test_map_html_has_one_feature_per_grid(grids, buildings, tmp_path):
    m = grid_map(grids, buildings=buildings, target=300, tiles=None)
    path = save_map(m, tmp_path / "out" / "grids.html")
    assert path.exists()
    html = path.read_text(encoding="utf-8")
    feats = _grid_features(html)
    assert sorted(f["properties"]["grid_id"] for f in feats) == list(grids["grid_id"])
    props = {f["properties"]["grid_id"]: f["properties"] for f in feats}
    assert props["G0002"]["households"] == 450
    assert props["G0002"]["area_ha"] == 1.0
    assert props["G0002"]["deviation"] == "+50.0%"
    assert props["G0003"]["deviation"] == "-50.0%"
    # buildings are a second layer, all drawn; coordinates rounded to 6 decimals
    payloads = _payloads(html)
    assert len(payloads) == 2
    assert len(payloads[1]["features"]) == len(buildings)
    coords = np.array(feats[0]["geometry"]["coordinates"][0])
    assert np.allclose(coords, np.round(coords, 6))
    assert "LayerControl" in html or "L.control.layers" in html
    assert "gridgeo-legend" in html


def test_map_languages(grids, tmp_path):
    zh = save_map(grid_map(grids, target=300, lang="zh"), tmp_path / "zh.html")
    en = save_map(grid_map(grids, target=300, lang="en"), tmp_path / "en.html")
    html_zh = zh.read_text(encoding="utf-8")
    html_en = en.read_text(encoding="utf-8")
    for text in ("户数", "网格编号", "楼栋数", "面积(公顷)", "偏离目标", "社区网格"):
        assert _shows(html_zh, text), text
        assert not _shows(html_en, text), text
    for text in ("Households", "Grid ID", "Area (ha)", "Deviation from target"):
        assert _shows(html_en, text), text
        assert not _shows(html_zh, text), text


def test_labels_complete_and_unknown_lang(grids):
    assert set(LABELS["en"]) == set(LABELS["zh"])
    assert label("households", "zh") == "户数"
    with pytest.raises(InputError, match="lang must be 'en' or 'zh'"):
        label("households", "fr")
    with pytest.raises(InputError, match="lang must be 'en' or 'zh'"):
        grid_map(grids, lang="de")


def test_deviation_mode_colours(grids):
    m = grid_map(grids, target=300, color_by="deviation", tiles=None)
    colors = _fill_colors(m)
    at_target, plus_50, minus_50 = colors["G0001"], colors["G0002"], colors["G0003"]
    assert at_target != plus_50
    assert at_target != minus_50
    assert plus_50 != minus_50
    # near 300 households stays close to the colour at target
    assert colors["G0008"] == _interactive.deviation_colors([5 / 300])[0]
    # households above +50 % saturate at the end of the scale
    assert colors["G0009"] == plus_50


def test_deviation_mode_needs_target(grids):
    with pytest.raises(InputError, match="target"):
        grid_map(grids, color_by="deviation")
    with pytest.raises(InputError, match="color_by"):
        grid_map(grids, color_by="households")
    with pytest.raises(InputError, match="target"):
        grid_map(grids, target=0)
    # a deviation column may stand in for the target
    g = grids.assign(deviation=grids["households"] / 300 - 1)
    assert _fill_colors(grid_map(g, color_by="deviation")) == _fill_colors(
        grid_map(grids, target=300, color_by="deviation")
    )


def test_neighbours_mode_colours_match_neighbour_colors(grids):
    colors = _fill_colors(grid_map(grids, tiles=None))
    assert list(colors.values()) == neighbour_colors(grids).tolist()


def test_geographic_grids_accepted(grids, buildings):
    g4326 = grids.to_crs(4326).drop(columns=["area_m2"])
    m = grid_map(g4326, buildings=buildings.to_crs(4326), target=300)
    feats = _geojson_layers(m)[0].data["features"]
    assert len(feats) == len(grids)
    # area computed from the geometry when area_m2 is missing
    assert [f["properties"]["area_ha"] for f in feats] == pytest.approx([1.0] * 9, abs=0.01)


def test_empty_and_bad_layers(grids):
    with pytest.raises(EmptyLayerError):
        grid_map(grids.iloc[:0])
    with pytest.raises(CRSError):
        grid_map(grids.set_crs(None, allow_override=True))
    with pytest.raises(InputError):
        grid_map(grids.drop(columns=["households"]))
    with pytest.raises(InputError, match="GeoDataFrame"):
        grid_map(grids, buildings="buildings.gpkg")


def test_buildings_layer_limits(grids, buildings, monkeypatch, caplog):
    with caplog.at_level(logging.WARNING, logger="gridgeo.render.interactive"):
        m = grid_map(grids, buildings=buildings, max_buildings=10)
    assert len(_geojson_layers(m)) == 1
    assert "max_buildings" in caplog.text
    monkeypatch.setattr(_interactive, "_BUILDINGS_SHOWN_MAX", 5)
    layers = _geojson_layers(grid_map(grids, buildings=buildings))
    assert [layer.show for layer in layers] == [True, False]


def test_buildings_layer_is_lenient(grids, buildings):
    """Buildings are drawn for reference: other geometry types are dropped, invalid
    polygons (e.g. slivers at the edge of an OSM extract) drawn as they are."""
    spoilt = buildings.copy()
    spoilt.loc[0, "geometry"] = shapely.Point(X0 + 5, Y0 + 5)
    spoilt.loc[1, "geometry"] = shapely.from_wkt(
        f"POLYGON (({X0} {Y0}, {X0 + 1} {Y0 + 1}, {X0} {Y0}))"
    )
    spoilt.loc[2, "geometry"] = None
    assert not spoilt.geometry.iloc[1].is_valid
    layers = _geojson_layers(grid_map(grids, buildings=spoilt))
    assert len(layers[1].data["features"]) == len(buildings) - 2
    only_points = spoilt.iloc[[0]]
    assert len(_geojson_layers(grid_map(grids, buildings=only_points))) == 1


def test_streets_layer_off_by_default(grids):
    streets = gpd.GeoDataFrame(
        geometry=[shapely.LineString([(X0, Y0 + 100), (X0 + 300, Y0 + 100)])], crs=UTM
    )
    m = grid_map(grids, streets=streets, title="Test <map>")
    layers = _geojson_layers(m)
    assert [layer.show for layer in layers] == [True, False]
    html = m.get_root().render()
    assert "<title>Test &lt;map&gt;</title>" in html


def test_save_map_checks(grids, tmp_path):
    m = grid_map(grids)
    with pytest.raises(InputError, match=r"\.html"):
        save_map(m, tmp_path / "grids.png")
    with pytest.raises(InputError, match="folium.Map"):
        save_map("not a map", tmp_path / "grids.html")


# ------------------------------------------------------------------ real data


def test_kouvola_map(tmp_path):
    path = datasets.get_path("kouvola")
    bld = pyogrio.read_dataframe(
        path, layer="multipolygons", where="building IS NOT NULL", on_invalid="ignore"
    )
    bld = bld[bld.geometry.notna()].to_crs(UTM).reset_index(drop=True)
    x0, y0, x1, y1 = bld.total_bounds
    cells = [
        shapely.box(x, y, min(x + 500, x1), min(y + 500, y1))
        for x in np.arange(x0, x1, 500)
        for y in np.arange(y0, y1, 500)
    ]
    grids = gpd.GeoDataFrame(
        {"grid_id": [f"G{i + 1:04d}" for i in range(len(cells))]}, geometry=cells, crs=UTM
    )
    points = gpd.GeoDataFrame(geometry=bld.representative_point(), crs=UTM)
    joined = gpd.sjoin(points, grids, predicate="intersects", how="left")
    bld["grid_id"] = joined.loc[~joined.index.duplicated(), "grid_id"].to_numpy()
    bld["households"] = np.random.default_rng(0).integers(0, 40, len(bld))
    per_grid = bld.groupby("grid_id")["households"].agg(["sum", "size"])
    grids["households"] = grids["grid_id"].map(per_grid["sum"]).fillna(0).astype(int)
    grids["buildings"] = grids["grid_id"].map(per_grid["size"]).fillna(0).astype(int)
    grids["area_m2"] = grids.area
    assert grids["households"].sum() == bld["households"].sum()

    m = grid_map(
        grids,
        buildings=bld[["grid_id", "households", "name", "geometry"]],
        target=300,
        lang="zh",
        title="Kouvola",
    )
    out = save_map(m, tmp_path / "kouvola.html")
    size = out.stat().st_size
    assert 100_000 < size < 5_000_000
    html = out.read_text(encoding="utf-8")
    assert len(_grid_features(html)) == len(grids)
    assert _shows(html, "户数")
    drawn = _payloads(html)[1]["features"]
    assert len(drawn) > 0.95 * len(bld)  # only degenerate slivers at the extract edge go


# ------------------------------------------------------------------ labels, popups, overlays


def _children(m: folium.Map, cls_name: str) -> list:
    return [c for c in m._children.values() if type(c).__name__ == cls_name]


def test_grid_labels_layer(grids):
    m = grid_map(grids, basemap="none")
    (labels,) = _children(m, "GridLabels")
    assert [row[2] for row in labels.rows] == list(grids["grid_id"])
    g4326 = grids.to_crs(4326)
    for (lat, lon, _), cell in zip(labels.rows, g4326.geometry, strict=True):
        assert cell.contains(shapely.Point(lon, lat))  # a point inside its grid
    html = m.get_root().render()
    assert "gridgeo-label" in html
    assert labels.layer_name == "Grid labels"
    assert _children(grid_map(grids, labels=False), "GridLabels") == []
    by_worker = _children(
        grid_map(grids.assign(worker=["<b>王</b>"] + ["李"] * 8), labels="worker"), "GridLabels"
    )[0]
    assert by_worker.rows[0][2] == "&lt;b&gt;王&lt;/b&gt;"  # escaped: labels are HTML
    with pytest.raises(InputError, match="no column"):
        grid_map(grids, labels="nope")


def test_popup_has_worker_and_phone(grids):
    g = grids.assign(worker=["张伟"] * 9, phone=[13800138000 + i for i in range(9)])
    m = grid_map(g, target=300, lang="zh", basemap="none")
    layer = _geojson_layers(m)[0]
    popup = next(c for c in layer._children.values() if type(c).__name__ == "GeoJsonPopup")
    tooltip = next(c for c in layer._children.values() if type(c).__name__ == "GeoJsonTooltip")
    assert popup.fields == [
        "grid_id",
        "households",
        "buildings",
        "area_ha",
        "deviation",
        "worker",
        "phone",
    ]
    assert popup.aliases[-2:] == ["网格员", "联系电话"]
    assert "phone" not in tooltip.fields and "worker" in tooltip.fields
    props = layer.data["features"][0]["properties"]
    assert props["worker"] == "张伟"
    # numbers stored as numbers keep their digits; a tap on a phone calls it
    assert props["phone"] == '<a href="tel:13800138000">13800138000</a>'
    # without worker columns the popup has none
    plain = _geojson_layers(grid_map(grids, basemap="none"))[0]
    assert "worker" not in plain.data["features"][0]["properties"]


def test_overlays_drawn_with_names_styles_and_tooltips(grids, caplog):
    zones = gpd.GeoDataFrame(
        {"zone": ["Z1"], "shops": [12]},
        geometry=[shapely.box(X0, Y0 + 90, X0 + 300, Y0 + 110)],
        crs=UTM,
    )
    points = gpd.GeoDataFrame(
        {"finding": ["<gap>", "overlap"]},
        geometry=[shapely.Point(X0 + 50, Y0 + 50), shapely.Point(X0 + 150, Y0 + 50)],
        crs=UTM,
    ).to_crs(4326)
    line = gpd.GeoSeries([shapely.LineString([(X0, Y0), (X0 + 300, Y0 + 300)])], crs=UTM)
    m = grid_map(
        grids,
        basemap="none",
        overlays={
            "沿街商铺": zones,
            "findings": _interactive.Overlay(points, color="#000000", show=False),
            "line": line,
        },
    )
    layers = _geojson_layers(m)
    assert [layer.layer_name for layer in layers] == ["Grids", "沿街商铺", "findings", "line"]
    zone_layer, point_layer, line_layer = layers[1:]
    f0 = zone_layer.data["features"][0]
    assert f0["properties"] == {"zone": "Z1", "shops": 12}
    style = zone_layer.style_function(f0)
    assert style["color"] == "#d62728" and style["dashArray"] == "6 4"
    assert point_layer.show is False
    assert point_layer.style_function(point_layer.data["features"][0])["fillColor"] == "#000000"
    assert point_layer.data["features"][0]["properties"]["finding"] == "&lt;gap&gt;"
    assert "weight" in line_layer.style_function(line_layer.data["features"][0])
    html = m.get_root().render()
    assert "L.CircleMarker" in html  # points drawn as circle markers
    assert "gridgeo-legend" in html and _shows(html, "沿街商铺")
    with pytest.raises(InputError, match="overlays must be a dict"):
        grid_map(grids, overlays=[zones])
    with pytest.raises(CRSError):
        grid_map(grids, overlays={"x": zones.set_crs(None, allow_override=True)})
    with pytest.raises(InputError, match="GeoDataFrame"):
        grid_map(grids, overlays={"x": "zones.gpkg"})
    with caplog.at_level(logging.WARNING, logger="gridgeo.render"):
        empty = zones.assign(geometry=None).set_crs(UTM, allow_override=True)
        m = grid_map(grids, overlays={"nothing": empty})
    assert [layer.layer_name for layer in _geojson_layers(m)] == ["Grids"]
    assert "nothing to draw" in caplog.text


def test_tiles_keyword_still_works(grids):
    assert _children(grid_map(grids, tiles=None), "TileLayer") == []
    (osm,) = _children(grid_map(grids, tiles="OpenStreetMap"), "TileLayer")
    assert "openstreetmap" in osm.tiles
    (topo,) = _children(grid_map(grids, tiles="OpenTopoMap"), "TileLayer")
    assert "opentopomap" in topo.tiles
    with pytest.raises(InputError, match="not both"):
        grid_map(grids, tiles=None, basemap="osm")
    with pytest.raises(InputError, match="tiles="):
        grid_map(grids, tiles="https://example.org/{z}/{x}/{y}.png")  # no attribution


def test_plan_explore_and_repr(tmp_path):
    from _render_data import plan

    p = plan("beijing_wangjing")
    m = p.explore(basemap="none", lang="zh", color_by="deviation")
    layer = _geojson_layers(m)[0]
    assert len(layer.data["features"]) == len(p.grids)
    assert layer.data["features"][0]["properties"]["deviation"].endswith("%")
    html = p._repr_html_()
    assert "<iframe" in html and len(html) > 100_000  # the map inline, Leaflet inside
    path = save_map(m, tmp_path / "explore.html")
    assert "cdn.jsdelivr.net" not in path.read_text(encoding="utf-8")
