"""Basemaps, the GCJ-02 shift of every layer on Gaode tiles, and the inlined Leaflet."""

from __future__ import annotations

import hashlib
import json
import re
import shutil

import folium
import geopandas as gpd
import numpy as np
import pytest
import shapely
from _render_data import findings, plan, street_front_zones, with_workers

from gridgeo._errors import GridgeoError, InputError
from gridgeo.render import _assets, grid_map, save_map
from gridgeo.render.basemaps import BASEMAPS, basemap_layers, check_basemap

# Published WGS 84 -> GCJ-02 pairs (eviltransform test vectors, coordtransform README),
# the same as in test_crs.py: (wgs lon, wgs lat, gcj lon, gcj lat).
REFERENCE_PAIRS = [
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),
    (116.404, 39.915, 116.41024449916938, 39.91640428150164),
]


def _metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance in metres (haversine, mean Earth radius)."""
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(v, dtype=float)) for v in (lon1, lat1, lon2, lat2)
    )
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * np.arcsin(np.sqrt(a))


def _layers(m: folium.Map) -> list[folium.GeoJson]:
    return [c for c in m._children.values() if isinstance(c, folium.GeoJson)]


def _coords(layer: folium.GeoJson) -> np.ndarray:
    """Every vertex of a GeoJson layer, in order, as an (n, 2) lon/lat array."""
    geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in layer.data["features"]])
    return shapely.get_coordinates(geoms)


def _tiles(m: folium.Map) -> list[folium.TileLayer]:
    return [c for c in m._children.values() if isinstance(c, folium.TileLayer)]


@pytest.fixture(scope="module")
def wangjing():
    p = plan("beijing_wangjing")
    return with_workers(p.grids), p.buildings


# ------------------------------------------------------------------ basemaps


def test_basemap_names():
    assert check_basemap("AMap") == "gaode"
    assert check_basemap(None) == "none"
    for name in BASEMAPS:
        check_basemap(name)
    with pytest.raises(InputError, match="basemap must be one of"):
        check_basemap("baidu")  # BD-09 tiles do not fit Leaflet's grid


def test_osm_and_none(wangjing):
    grids, _ = wangjing
    (osm,) = _tiles(grid_map(grids, basemap="osm"))
    assert "tile.openstreetmap.org" in osm.tiles
    m = grid_map(grids, basemap="none")
    assert _tiles(m) == []
    html = m.get_root().render()
    assert "OpenStreetMap contributors" in html  # data credit without the OSM basemap
    assert "background:#f4f3ef" in html


@pytest.mark.parametrize(
    ("basemap", "base", "names"), [("tianditu-vec", "vec", "cva"), ("tianditu-img", "img", "cia")]
)
def test_tianditu_layers_and_key(wangjing, monkeypatch, basemap, base, names):
    grids, _ = wangjing
    monkeypatch.delenv("TIANDITU_TOKEN", raising=False)
    m = grid_map(grids, basemap=basemap, tk="0123abcd", lang="zh")
    tiles = _tiles(m)
    assert [t.tile_name for t in tiles] == [
        f"天地图 {'矢量' if base == 'vec' else '影像'}",
        "天地图 注记",
    ]
    assert f"https://t{{s}}.tianditu.gov.cn/{base}_w/wmts?" in tiles[0].tiles
    assert f"LAYER={names}&" in tiles[1].tiles and tiles[1].overlay
    for t in tiles:
        assert t.tiles.endswith("&tk=0123abcd")
        assert "TILEMATRIX={z}&TILEROW={y}&TILECOL={x}" in t.tiles
        assert t.options["subdomains"] == "01234567"
    # the key from the environment
    monkeypatch.setenv("TIANDITU_TOKEN", "fromenv42")
    assert all(t.tiles.endswith("tk=fromenv42") for t in basemap_layers(basemap, lang="en"))
    # no key: a gridgeo error naming both ways to give one
    monkeypatch.delenv("TIANDITU_TOKEN")
    with pytest.raises(InputError, match=r"tk=.*TIANDITU_TOKEN"):
        grid_map(grids, basemap=basemap)
    with pytest.raises(InputError, match="characters"):
        grid_map(grids, basemap=basemap, tk="a key")


def test_tianditu_has_no_offset(wangjing):
    grids, _ = wangjing
    plain = _coords(_layers(grid_map(grids, basemap="none"))[0])
    tdt = _coords(_layers(grid_map(grids, basemap="tianditu-vec", tk="k"))[0])
    np.testing.assert_array_equal(plain, tdt)  # CGCS2000 ~ WGS 84: drawn as they are


# ------------------------------------------------------------------ GCJ-02 on Gaode tiles


def test_gaode_shifts_every_layer_100_to_700_m(wangjing):
    grids, buildings = wangjing
    zones = street_front_zones("beijing_wangjing")
    points = findings("beijing_wangjing")
    kw = {"buildings": buildings, "overlays": {"zones": zones, "findings": points}}
    wgs = grid_map(grids, basemap="none", **kw)
    gcj = grid_map(grids, basemap="gaode", lang="zh", **kw)
    (tiles,) = _tiles(gcj)
    assert "autonavi.com" in tiles.tiles
    wgs_layers, gcj_layers = _layers(wgs), _layers(gcj)
    assert [layer.layer_name for layer in gcj_layers] == ["网格", "楼栋", "zones", "findings"]
    for a, b in zip(wgs_layers, gcj_layers, strict=True):
        before, after = _coords(a), _coords(b)
        assert before.shape == after.shape
        shift = _metres(before[:, 0], before[:, 1], after[:, 0], after[:, 1])
        assert shift.min() > 100 and shift.max() < 700, (a.layer_name, shift.min(), shift.max())
        # north-east, as GCJ-02 is around Beijing
        assert (after[:, 0] > before[:, 0]).all() and (after[:, 1] > before[:, 1]).all()
    # labels and the fitted view move with the grids
    label_wgs, label_gcj = (
        np.array([r[:2] for r in c.rows])
        for m in (wgs, gcj)
        for c in m._children.values()
        if type(c).__name__ == "GridLabels"
    )
    moved = _metres(label_wgs[:, 1], label_wgs[:, 0], label_gcj[:, 1], label_gcj[:, 0])
    assert moved.min() > 100 and moved.max() < 700
    assert "GCJ-02" in gcj.get_root().render()  # the legend says so


def test_gaode_overlay_matches_published_reference_points():
    pts = gpd.GeoDataFrame(
        {"name": ["Shanghai", "Shenzhen", "Beijing", "Beijing 2"]},
        geometry=[shapely.Point(r[0], r[1]) for r in REFERENCE_PAIRS],
        crs=4326,
    )
    grids = gpd.GeoDataFrame(
        {"grid_id": ["G1"], "households": [1]},
        geometry=[shapely.box(116.40, 39.91, 116.41, 39.92)],
        crs=4326,
    )
    m = grid_map(grids, basemap="gaode", overlays={"reference": pts})
    got = _coords(_layers(m)[1])
    expected = np.array([(r[2], r[3]) for r in REFERENCE_PAIRS])
    np.testing.assert_allclose(got, expected, atol=1.5e-6)  # coordinates rounded to 1e-6


def test_gaode_leaves_data_outside_china_unshifted():
    grids = plan("kouvola").grids
    a = _coords(_layers(grid_map(grids, basemap="none"))[0])
    b = _coords(_layers(grid_map(grids, basemap="amap"))[0])
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ inlined Leaflet


def test_inline_assets_replace_every_cdn_link(wangjing, tmp_path):
    grids, buildings = wangjing
    class_js = list(folium.Map.default_js)
    class_css = list(folium.Map.default_css)
    m = grid_map(grids, buildings=buildings, basemap="none", lang="zh")
    path = save_map(m, tmp_path / "offline.html")
    html = path.read_text(encoding="utf-8")
    # folium's class-level lists are untouched; the map has its own
    assert folium.Map.default_js == class_js and folium.Map.default_css == class_css
    assert m.default_js == [] and m.default_css == []
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=", html)
    assert not re.search(r"url\((?!data:|#default#VML)", html)  # CSS images are data: URIs
    for host in ("jsdelivr", "jquery", "bootstrap", "cloudflare", "fontawesome"):
        assert host not in html.lower(), host
    assert "Leaflet 1.9.4" in html and "sourceMappingURL" not in html
    assert 150_000 < path.stat().st_size < 1_500_000
    # a second map of the defaults still links folium's CDN assets: nothing leaked
    assert "cdn.jsdelivr.net" in folium.Map(tiles=None).get_root().render()


def test_cdn_option_links_only_leaflet(wangjing):
    grids, _ = wangjing
    html = grid_map(grids, basemap="none", inline_assets=False).get_root().render()
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert scripts == ["https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js"]
    assert "jquery" not in html.lower() and "bootstrap" not in html.lower()


def test_vendored_assets_match_manifest_and_licence():
    manifest = json.loads((_assets.STATIC_DIR / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["version"] == _assets.LEAFLET_VERSION == "1.9.4"
    assert manifest["license"] == "BSD-2-Clause"
    assert manifest["integrity"].startswith("sha512-")
    for name, entry in manifest["files"].items():
        data = (_assets.STATIC_DIR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
    licence = (_assets.STATIC_DIR / "LICENSE-leaflet.txt").read_text(encoding="utf-8")
    assert "BSD 2-Clause" in licence and "Volodymyr Agafonkin" in licence
    total = sum((_assets.STATIC_DIR / n).stat().st_size for n in manifest["files"])
    assert total < 200_000


def test_modified_asset_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "static"
    shutil.copytree(_assets.STATIC_DIR, copy)
    (copy / "leaflet.css").write_text("/* changed */", encoding="utf-8")
    monkeypatch.setattr(_assets, "STATIC_DIR", copy)
    for fn in (_assets._manifest, _assets._read, _assets.leaflet_css, _assets.leaflet_js):
        fn.cache_clear()
    try:
        with pytest.raises(GridgeoError, match="SHA-256"):
            _assets.leaflet_css()
        (copy / "manifest.json").unlink()
        _assets._manifest.cache_clear()
        _assets._read.cache_clear()
        with pytest.raises(GridgeoError, match="vendor_leaflet"):
            _assets.leaflet_js()
    finally:
        for fn in (_assets._manifest, _assets._read, _assets.leaflet_css, _assets.leaflet_js):
            fn.cache_clear()
