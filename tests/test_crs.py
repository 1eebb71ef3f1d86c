"""Tests for gridgeo.crs: the China outline, metric CRS choice and GCJ-02."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon

from gridgeo._errors import CRSError, EmptyLayerError, InputError
from gridgeo.crs import (
    CHINA_OUTLINE,
    gcj02_geometries,
    gcj02_to_wgs84,
    gk_zone_epsg,
    in_china,
    metric_crs,
    to_metric,
    wgs84_to_gcj02,
)

GEOD = pyproj.Geod(ellps="WGS84")

# (lon, lat) of city centres, WGS 84
CHINESE_CITIES = {
    "Beijing": (116.407, 39.904),
    "Shanghai": (121.474, 31.230),
    "Guangzhou": (113.264, 23.129),
    "Shenzhen": (114.058, 22.543),
    "Wuhan": (114.305, 30.593),
    "Chengdu": (104.066, 30.573),
    "Kunming": (102.833, 24.880),
    "Urumqi": (87.617, 43.826),
    "Kashgar": (75.990, 39.470),
    "Lhasa": (91.117, 29.653),
    "Harbin": (126.535, 45.803),
    "Hohhot": (111.749, 40.842),
    "Haikou": (110.199, 20.044),
    "Xiamen": (118.089, 24.480),
    "Dalian": (121.615, 38.914),
    "Qingdao": (120.383, 36.067),
    "Dandong": (124.383, 40.124),
    "Hunchun": (130.366, 42.863),
    "Mohe": (122.536, 52.972),
    "Zhuhai": (113.577, 22.271),
    # more border and coastal places
    "Hong Kong": (114.169, 22.319),
    "Macau": (113.543, 22.199),
    "Sanya": (109.512, 18.253),
    "Heihe": (127.489, 50.245),
    "Manzhouli": (117.433, 49.590),
    "Suifenhe": (131.150, 44.400),
    "Fuyuan": (134.290, 48.360),
    "Yining": (81.320, 43.920),
    "Tashkurgan": (75.230, 37.770),
    "Ruili": (97.851, 24.013),
    "Jinghong": (100.800, 22.010),
    "Beihai": (109.120, 21.480),
    "Yingkou": (122.230, 40.670),
    "Weihai": (122.120, 37.510),
}
FOREIGN_CITIES = {
    "Seoul": (126.978, 37.567),
    "Pyongyang": (125.754, 39.039),
    "Tokyo": (139.692, 35.690),
    "Fukuoka": (130.402, 33.590),
    "Ulaanbaatar": (106.906, 47.886),
    "Hanoi": (105.854, 21.029),
    "Vladivostok": (131.886, 43.116),
    "Almaty": (76.889, 43.238),
    "Kathmandu": (85.324, 27.717),
    "Yangon": (96.156, 16.841),
    "Helsinki": (24.938, 60.170),
    "Monaco": (7.424, 43.738),
    # more neighbours
    "Busan": (129.075, 35.180),
    "Blagoveshchensk": (127.533, 50.267),
    "Khabarovsk": (135.070, 48.480),
    "Bishkek": (74.600, 42.870),
    "Thimphu": (89.640, 27.470),
    "Gangtok": (88.610, 27.330),
    "Tawang": (91.860, 27.590),
    "Leh": (77.580, 34.160),
    "Gilgit": (74.310, 35.920),
    "Myitkyina": (97.400, 25.380),
    "Lao Cai": (103.970, 22.480),
    "Mong Cai": (107.960, 21.520),
    "Naha": (127.680, 26.210),
}


def lonlat_layer(lon: float, lat: float, crs: object = 4326, *, frame: bool = True):
    """A small square-ish layer around (lon, lat), in ``crs``."""
    geoms = [Point(lon, lat).buffer(0.01), Point(lon + 0.02, lat + 0.01)]
    series = gpd.GeoSeries(geoms, crs=4326).to_crs(crs)
    return gpd.GeoDataFrame({"v": [1, 2]}, geometry=series) if frame else series


def distance_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


# --------------------------------------------------------------------------------------
# in_china
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CHINESE_CITIES))
def test_in_china_cities(name):
    lon, lat = CHINESE_CITIES[name]
    assert in_china(lon, lat) is True


@pytest.mark.parametrize("name", sorted(FOREIGN_CITIES))
def test_not_in_china_cities(name):
    lon, lat = FOREIGN_CITIES[name]
    assert in_china(lon, lat) is False


def test_taiwan_counts_as_inside():
    assert in_china(121.565, 25.033)  # Taipei
    assert in_china(120.301, 22.627)  # Kaohsiung


def test_in_china_vectorised_shapes_and_nan():
    lon = np.array([[116.4, 126.98], [np.nan, 24.9]])
    lat = np.array([[39.9, 37.57], [30.0, 60.2]])
    out = in_china(lon, lat)
    assert isinstance(out, np.ndarray)
    assert out.dtype == bool
    assert out.tolist() == [[True, False], [False, False]]
    # broadcasting and lists
    assert in_china([116.4, 126.98], 37.57).tolist() == [True, False]


def test_outline_is_a_valid_coarse_polygon():
    assert shapely.is_valid(CHINA_OUTLINE)
    assert 60 <= shapely.get_num_coordinates(CHINA_OUTLINE) <= 300
    minx, miny, maxx, maxy = CHINA_OUTLINE.bounds
    assert 73 < minx < 74 and 17.5 < miny < 18.2 and 134.5 < maxx < 135.5 and 53 < maxy < 54
    # area of China is ~9.6 million km2 (the outline takes in some sea)
    area = gpd.GeoSeries([CHINA_OUTLINE], crs=4326).to_crs("+proj=aea +lat_1=25 +lat_2=47").area
    assert 9.3e12 < area.iloc[0] < 10.2e12


# --------------------------------------------------------------------------------------
# gk_zone_epsg
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lon", "epsg"),
    [
        (116.407, 4548),  # Beijing, CM 117
        (114.305, 4547),  # Wuhan, CM 114
        (87.617, 4538),  # Urumqi, CM 87
        (126.535, 4551),  # Harbin, CM 126
        (75.990, 4534),  # Kashgar, CM 75
        (121.474, 4549),  # Shanghai, CM 120
        (134.290, 4554),  # Fuyuan, CM 135
    ],
)
def test_gk_zone_epsg_cities(lon, epsg):
    assert gk_zone_epsg(lon) == epsg


def central_meridian(epsg: int) -> float:
    params = pyproj.CRS.from_epsg(epsg).coordinate_operation.params
    return next(p.value for p in params if p.name == "Longitude of natural origin")


def test_gk_zone_epsg_matches_proj_database():
    assert central_meridian(4547) == 114
    assert central_meridian(4539) == 90
    assert central_meridian(4542) == 99
    for cm in range(75, 136, 3):
        epsg = gk_zone_epsg(cm + 1.2)
        assert central_meridian(epsg) == cm
        crs = pyproj.CRS.from_epsg(epsg)
        assert "CGCS2000" in crs.name
        params = {p.name: p.value for p in crs.coordinate_operation.params}
        assert params["False easting"] == 500000
        assert params["Scale factor at natural origin"] == 1


def test_gk_zone_epsg_edges_and_clipping(caplog):
    assert gk_zone_epsg(115.5) == 4548  # zone edge goes east
    assert gk_zone_epsg(115.49) == 4547
    assert gk_zone_epsg(73.6) == 4534
    with caplog.at_level(logging.WARNING, logger="gridgeo.crs"):
        assert gk_zone_epsg(10.0) == 4534
        assert gk_zone_epsg(170.0) == 4554
    assert "outside the CGCS2000" in caplog.text


@pytest.mark.parametrize("bad", [np.nan, np.inf, "east", None])
def test_gk_zone_epsg_rejects_non_numbers(bad):
    with pytest.raises(InputError):
        gk_zone_epsg(bad)


# --------------------------------------------------------------------------------------
# metric_crs / to_metric
# --------------------------------------------------------------------------------------


def test_metric_crs_utm_outside_china():
    assert metric_crs(lonlat_layer(*FOREIGN_CITIES["Helsinki"])).to_epsg() == 32635
    assert metric_crs(lonlat_layer(*FOREIGN_CITIES["Monaco"])).to_epsg() == 32632
    # southern hemisphere
    assert metric_crs(lonlat_layer(151.21, -33.87)).to_epsg() == 32756


@pytest.mark.parametrize(
    ("city", "epsg"),
    [("Beijing", 4548), ("Wuhan", 4547), ("Urumqi", 4538), ("Harbin", 4551), ("Shenzhen", 4547)],
)
def test_metric_crs_gauss_kruger_in_china(city, epsg):
    lon, lat = CHINESE_CITIES[city]
    chosen = metric_crs(lonlat_layer(lon, lat, frame=False))
    assert chosen.to_epsg() == epsg
    assert chosen.is_projected


def test_metric_crs_layers_in_different_crs():
    lon, lat = CHINESE_CITIES["Wuhan"]
    layers = [
        lonlat_layer(lon, lat, 4326),
        None,
        lonlat_layer(lon + 0.1, lat, 3857),
        lonlat_layer(lon, lat + 0.1, 4547, frame=False),
        lonlat_layer(lon - 0.1, lat, 4490),  # CGCS2000 geographic
    ]
    assert metric_crs(layers).to_epsg() == 4547
    lon, lat = FOREIGN_CITIES["Helsinki"]
    layers = [lonlat_layer(lon, lat, 3067), lonlat_layer(lon, lat, 3857), None]
    assert metric_crs(layers).to_epsg() == 32635


def test_metric_crs_uses_centre_of_combined_extent():
    # Two layers 4 degrees apart around 113.0 and 117.0: the centre (115.0) is CM 114.
    layers = [lonlat_layer(112.99, 30.0), lonlat_layer(116.99, 30.0)]
    assert metric_crs(layers).to_epsg() == 4547


def test_metric_crs_ignores_empty_layers():
    empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=4326))
    helsinki = lonlat_layer(*FOREIGN_CITIES["Helsinki"])
    assert metric_crs([empty, helsinki]).to_epsg() == 32635
    with pytest.raises(EmptyLayerError, match="no layer has any coordinates"):
        metric_crs([empty, None])
    with pytest.raises(EmptyLayerError):
        metric_crs([])


@pytest.mark.parametrize("given", [4547, "EPSG:4547", "epsg:4547", pyproj.CRS.from_epsg(4547)])
def test_metric_crs_given_crs(given):
    layer = lonlat_layer(*FOREIGN_CITIES["Helsinki"])
    assert metric_crs(layer, crs=given) == pyproj.CRS.from_epsg(4547)
    # crs works without layers too
    assert metric_crs(None, crs=given).to_epsg() == 4547


@pytest.mark.parametrize("given", [4326, "EPSG:4490", pyproj.CRS.from_epsg(4326)])
def test_metric_crs_refuses_geographic_crs(given):
    with pytest.raises(CRSError, match=r"geographic \(degrees\).*EPSG:4547") as exc:
        metric_crs(lonlat_layer(116.4, 39.9), crs=given)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("given", "match"),
    [
        (2263, "not metres"),  # New York Long Island, US survey feet
        ("EPSG:999999", "not a known CRS"),
        ("not a crs", "not a known CRS"),
        (True, "must be an EPSG code"),
        (4978, "not a projected CRS"),  # geocentric
    ],
)
def test_metric_crs_refuses_unusable_crs(given, match):
    with pytest.raises(CRSError, match=match) as exc:
        metric_crs(None, crs=given)
    assert "\n" not in str(exc.value)


def test_metric_crs_refuses_layer_without_crs():
    bare = gpd.GeoDataFrame(geometry=[Point(116.4, 39.9)])
    good = lonlat_layer(116.4, 39.9)
    with pytest.raises(CRSError, match=r"layer 1 has no CRS.*set_crs") as exc:
        metric_crs([good, bare])
    assert "\n" not in str(exc.value)
    with pytest.raises(CRSError, match="no CRS"):
        metric_crs(bare, crs=4547)


def test_metric_crs_refuses_mislabelled_crs():
    # GK metres wrongly labelled as longitude/latitude
    wrong = to_metric(lonlat_layer(114.0, 30.0), 4547).set_crs(4326, allow_override=True)
    with pytest.raises(CRSError, match=r"layer 1 has coordinates .*allow_override") as exc:
        metric_crs([None, wrong])
    assert "\n" not in str(exc.value)


def test_metric_crs_accepts_tuples():
    assert metric_crs((None, lonlat_layer(114.3, 30.6))).to_epsg() == 4547


def test_metric_crs_refuses_non_layers():
    with pytest.raises(InputError, match="not a GeoDataFrame"):
        metric_crs([lonlat_layer(116.4, 39.9), [1, 2]])
    with pytest.raises(InputError, match="must be a GeoDataFrame"):
        metric_crs(42)
    with pytest.raises(InputError):
        metric_crs("buildings.gpkg")


def test_metric_crs_logs_choice(caplog):
    with caplog.at_level(logging.INFO, logger="gridgeo.crs"):
        metric_crs(lonlat_layer(114.3, 30.6))
    assert "EPSG:4547" in caplog.text


def test_to_metric_reprojects():
    layer = lonlat_layer(114.0, 30.0)
    out = to_metric(layer, metric_crs(layer))
    assert isinstance(out, gpd.GeoDataFrame)
    assert out.crs.to_epsg() == 4547
    assert list(out.columns) == list(layer.columns)
    assert layer.crs.to_epsg() == 4326  # input untouched
    centre = out.geometry.iloc[0].centroid
    assert abs(centre.x - 500000) < 1  # on the central meridian
    assert 3.2e6 < centre.y < 3.4e6
    # a 0.01-degree buffer at 30N is an ellipse of semi-axes ~963 m and ~1109 m
    assert 3.2e6 < out.geometry.iloc[0].area < 3.5e6
    series = to_metric(layer.geometry, "EPSG:4547")
    assert isinstance(series, gpd.GeoSeries)
    assert series.crs.to_epsg() == 4547


def test_to_metric_errors():
    with pytest.raises(CRSError, match="no CRS"):
        to_metric(gpd.GeoDataFrame(geometry=[Point(1, 2)]), 4547)
    with pytest.raises(CRSError, match="geographic"):
        to_metric(lonlat_layer(114.0, 30.0), 4326)
    with pytest.raises(InputError):
        to_metric([Point(1, 2)], 4547)


# --------------------------------------------------------------------------------------
# GCJ-02
# --------------------------------------------------------------------------------------

# (wgs lon, wgs lat, gcj lon, gcj lat): test vectors of eviltransform (Shanghai, Shenzhen,
# Beijing) and the coordtransform README example.
REFERENCE_PAIRS = [
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),
    (116.404, 39.915, 116.41024449916938, 39.91640428150164),
]


@pytest.mark.parametrize("pair", REFERENCE_PAIRS)
def test_wgs84_to_gcj02_reference_values(pair):
    lon, lat, glon, glat = pair
    out = wgs84_to_gcj02(lon, lat)
    assert out == pytest.approx((glon, glat), abs=1e-8)


def test_wgs84_to_gcj02_vectorised_matches_reference():
    ref = np.array(REFERENCE_PAIRS)
    glon, glat = wgs84_to_gcj02(ref[:, 0], ref[:, 1])
    np.testing.assert_allclose(glon, ref[:, 2], atol=1e-8, rtol=0)
    np.testing.assert_allclose(glat, ref[:, 3], atol=1e-8, rtol=0)


@pytest.mark.parametrize("pair", REFERENCE_PAIRS)
def test_gcj02_to_wgs84_reference_values(pair):
    lon, lat, glon, glat = pair
    assert gcj02_to_wgs84(glon, glat) == pytest.approx((lon, lat), abs=1e-8)


def test_gcj02_to_wgs84_gcoord_value():
    # gcoord's test: GCJ-02 (123, 45) -> WGS 84 (122.99395597, 44.99804071), to 5 decimals
    assert gcj02_to_wgs84(123.0, 45.0) == pytest.approx((122.99395597, 44.99804071), abs=1e-5)


def test_tiananmen_offset_direction():
    glon, glat = wgs84_to_gcj02(116.397428, 39.90923)
    assert 0.0055 < glon - 116.397428 < 0.0070
    assert 0.0008 < glat - 39.90923 < 0.0020


@pytest.mark.parametrize("name", sorted(CHINESE_CITIES))
def test_offset_is_100_to_700_m_in_chinese_cities(name):
    lon, lat = CHINESE_CITIES[name]
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert 100 < distance_m(lon, lat, glon, glat) < 700


@pytest.mark.parametrize("name", sorted(FOREIGN_CITIES))
def test_no_offset_outside_china(name):
    lon, lat = FOREIGN_CITIES[name]
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)


def random_points_in_china(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lon = rng.uniform(73.0, 135.5, 3 * n)
    lat = rng.uniform(18.0, 54.0, 3 * n)
    keep = in_china(lon, lat)
    return lon[keep][:n], lat[keep][:n]


def test_round_trip_within_half_a_metre():
    lon, lat = random_points_in_china(20000)
    assert lon.size == 20000
    glon, glat = wgs84_to_gcj02(lon, lat)
    offset = distance_m(lon, lat, glon, glat)
    assert offset.min() > 10 and offset.max() < 750
    back_lon, back_lat = gcj02_to_wgs84(glon, glat)
    assert distance_m(lon, lat, back_lon, back_lat).max() < 0.5
    # in fact far better than that
    assert np.abs(back_lon - lon).max() < 1e-8
    assert np.abs(back_lat - lat).max() < 1e-8


def test_gcj02_scalars_arrays_and_nan():
    out = wgs84_to_gcj02(116.404, 39.915)
    assert isinstance(out, tuple) and all(isinstance(v, float) for v in out)
    lon = np.array([[116.404, 24.94], [np.nan, 121.47]])
    lat = np.array([[39.915, 60.17], [31.2, np.nan]])
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert glon.shape == glat.shape == (2, 2)
    assert np.isnan(glon[1, 0]) and np.isnan(glat[1, 1])
    assert (glon[0, 1], glat[0, 1]) == (24.94, 60.17)
    blon, blat = gcj02_to_wgs84(glon, glat)
    assert blon.shape == (2, 2)
    assert np.isnan(blon[1, 0]) and np.isnan(blat[1, 1])
    assert blon[0, 0] == pytest.approx(116.404, abs=1e-9)
    # inputs are not modified, lists and broadcasting work
    assert lon[0, 0] == 116.404
    glon, glat = wgs84_to_gcj02([116.404, 116.5], 39.915)
    assert glon.shape == glat.shape == (2,)
    elon, elat = gcj02_to_wgs84([], [])
    assert elon.shape == elat.shape == (0,)


def test_gcj02_geometries_shifts_every_coordinate():
    s = gpd.GeoSeries(
        [
            Point(116.404, 39.915),
            LineString([(116.0, 39.0), (117.0, 40.0)]),
            Polygon([(114.0, 30.0), (114.1, 30.0), (114.1, 30.1)]),
            None,
            Point(24.94, 60.17),  # Helsinki: unchanged
        ],
        index=list("abcde"),
        crs=4326,
        name="geom",
    )
    out = gcj02_geometries(s)
    assert isinstance(out, gpd.GeoSeries)
    assert out.crs.to_epsg() == 4326
    assert list(out.index) == list("abcde") and out.name == "geom"
    assert (out.iloc[0].x, out.iloc[0].y) == pytest.approx(REFERENCE_PAIRS[3][2:], abs=1e-8)
    coords = shapely.get_coordinates(s.values)
    expected = np.column_stack(wgs84_to_gcj02(coords[:, 0], coords[:, 1]))
    np.testing.assert_allclose(shapely.get_coordinates(out.values), expected, atol=1e-12)
    assert out.iloc[3] is None
    assert out.iloc[4].equals(Point(24.94, 60.17))
    assert s.iloc[0].equals(Point(116.404, 39.915))  # input untouched


def test_gcj02_geometries_keeps_z_columns_and_reprojects():
    s = gpd.GeoSeries([Point(116.404, 39.915, 42.0)], crs=4326)
    out = gcj02_geometries(s)
    assert out.iloc[0].has_z and out.iloc[0].z == 42.0
    frame = gpd.GeoDataFrame({"name": ["x"]}, geometry=s.to_crs(3857))
    out = gcj02_geometries(frame)
    assert isinstance(out, gpd.GeoDataFrame)
    assert list(out.columns) == ["name", "geometry"]
    assert out.crs.to_epsg() == 4326
    assert (out.geometry.x.iloc[0], out.geometry.y.iloc[0]) == pytest.approx(
        REFERENCE_PAIRS[3][2:], abs=1e-7
    )
    assert frame.crs.to_epsg() == 3857  # input untouched


def test_gcj02_geometries_errors():
    with pytest.raises(CRSError, match="no CRS"):
        gcj02_geometries(gpd.GeoSeries([Point(116.4, 39.9)]))
    with pytest.raises(InputError):
        gcj02_geometries([Point(116.4, 39.9)])


def test_utm_zone_without_the_database_matches_pyprojs_query():
    """``_utm_crs`` computes the zone (no 60–70 ms database query); it names the zone
    pyproj's own query names, on a grid of points over the globe."""
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    from gridgeo.crs import _utm_crs

    for lon in (-177.0, -100.5, -3.0, 0.5, 5.9, 6.1, 114.3, 179.5):
        for lat in (-79.0, -30.0, 0.5, 30.6, 60.0, 83.0):
            aoi = AreaOfInterest(lon, lat, lon, lat)
            expected = int(query_utm_crs_info(datum_name="WGS 84", area_of_interest=aoi)[0].code)
            assert _utm_crs(lon, lat).to_epsg() == expected, (lon, lat)
    with pytest.raises(CRSError, match="no UTM zone"):
        _utm_crs(10.0, 86.0)
