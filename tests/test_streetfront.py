"""Street-front zones (沿街) on hand-made layers with exact expected counts and lengths.

The layers are drawn in EPSG:4547 (CGCS2000 3° zone, central meridian 114°E) near the
central meridian, which is the metric CRS gridgeo picks there: nothing is reprojected,
so lengths are exact.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely import LineString, Point, box

import gridgeo
from gridgeo import datasets
from gridgeo.streetfront import (
    StreetFrontOptions,
    frontage_runs,
    is_street_front_type,
    shop_points,
    street_front,
)

X0, Y0 = 500_000.0, 3_400_000.0
CRS = 4547


def at(x: float, y: float) -> Point:
    return Point(X0 + x, Y0 + y)


def records(df, columns):
    """Rows as dicts, missing values as None (pandas 3 stores them as NaN)."""
    out = df[columns].astype(object)
    return out.where(out.notna(), None).to_dict("records")


@pytest.fixture(scope="module")
def streets():
    return gpd.GeoDataFrame(
        {"name": ["Main St", "Main St", None], "highway": ["primary", "primary", "service"]},
        geometry=[
            LineString([(X0, Y0), (X0 + 200, Y0)]),
            LineString([(X0 + 200, Y0), (X0 + 400, Y0)]),
            LineString([(X0 + 100, Y0 - 200), (X0 + 100, Y0 - 60)]),  # service: no frontage
        ],
        crs=CRS,
    )


@pytest.fixture(scope="module")
def pois():
    """North side: shops at x 20, 40, 60 (zone A) and 200, 230 (zone B); south side at
    x 100, 130 (zone C); plus a shop too far from the street and a bench."""
    rows = [
        ("shop", "bakery", at(20, 10)),
        ("amenity", "restaurant", at(40, 12)),
        ("office", "insurance", at(60, 8)),
        ("shop", "clothes", at(200, 10)),
        ("craft", "tailor", at(230, 15)),
        ("shop", "hairdresser", at(100, -12)),
        ("amenity", "pharmacy", at(130, -20)),
        ("shop", "kiosk", at(50, 80)),  # 80 m from the street: not street front
        ("amenity", "bench", at(150, 5)),  # street furniture, not a shop
    ]
    kind, value, geom = zip(*rows, strict=True)
    return gpd.GeoDataFrame({"kind": kind, "value": value}, geometry=list(geom), crs=CRS)


@pytest.fixture(scope="module")
def buildings():
    """A retail building with no shop point (one shop, zone D at x≈300) and a
    commercial building holding the bakery (no extra shop)."""
    return gpd.GeoDataFrame(
        {"building": ["retail", "commercial", "residential"], "shop": [None, None, None]},
        geometry=[
            box(X0 + 290, Y0 + 5, X0 + 310, Y0 + 25),
            box(X0 + 15, Y0 + 5, X0 + 25, Y0 + 15),
            box(X0 + 330, Y0 + 5, X0 + 350, Y0 + 25),
        ],
        crs=CRS,
    )


@pytest.fixture(scope="module")
def grids():
    """R1 holds the west of the north side (zone A: mixed); SF is a street-front grid
    along the east of the north side (zones B and D: dedicated); the south side is in no
    grid (zone C: uncovered)."""
    return gpd.GeoDataFrame(
        {"grid_id": ["R1", "SF", "R2"], "grid_type": ["residential", "沿街", "residential"]},
        geometry=[
            box(X0, Y0, X0 + 150, Y0 + 100),
            box(X0 + 150, Y0, X0 + 400, Y0 + 40),
            box(X0 + 150, Y0 + 40, X0 + 400, Y0 + 100),
        ],
        crs=CRS,
    )


@pytest.fixture(scope="module")
def result(streets, pois, buildings, grids):
    return street_front(streets, pois=pois, buildings=buildings, grids=grids)


ZONE_COLUMNS = ["zone_id", "street", "side", "shops", "length_m", "status", "grid_ids"]


def test_zones_statuses_counts_and_lengths(result):
    z = result.zones
    # zones are numbered along the street, west to east
    assert records(z, ZONE_COLUMNS) == [
        # A: x 20–60 (+10 m each end), shops in the residential grid R1
        dict(zip(ZONE_COLUMNS, ["S001", "Main St", "N", 3, 60.0, "mixed", "R1"], strict=True)),
        # C: south side, x 100–130, in no grid
        dict(zip(ZONE_COLUMNS, ["S002", "Main St", "S", 2, 50.0, "uncovered", None], strict=True)),
        # B: x 200–230 in the street-front grid
        dict(zip(ZONE_COLUMNS, ["S003", "Main St", "N", 2, 50.0, "dedicated", "SF"], strict=True)),
        # D: the retail building (x≈300), 70 m after the tailor: a zone of its own
        dict(zip(ZONE_COLUMNS, ["S004", "Main St", "N", 1, 20.0, "dedicated", "SF"], strict=True)),
    ]
    assert z["shops_mixed"].tolist() == [3, 0, 0, 0]
    assert z["shops_uncovered"].tolist() == [0, 2, 0, 0]
    assert z["shops_dedicated"].tolist() == [0, 0, 2, 1]
    # strips: 30 m deep on the shops' side of the street
    assert z.geometry.area.round(6).tolist() == [60 * 30.0, 50 * 30.0, 50 * 30.0, 20 * 30.0]
    north = z["side"] == "N"
    assert (z.geometry.bounds["miny"][north] == Y0).all()
    assert (z.geometry.bounds["maxy"][north] == Y0 + 30).all()
    assert z.geometry.bounds["maxy"][~north].tolist() == [Y0]


def test_shops_found_and_filtered(result):
    s = result.shops
    # 7 street shops + the far kiosk + the retail building; not the bench, not the
    # commercial building holding the bakery
    assert len(s) == 9
    assert (s["source"] == "building").sum() == 1
    assert int(s["frontage"].sum()) == 8
    far = s[~s["frontage"]]
    assert far["value"].tolist() == ["kiosk"]
    assert far["zone_id"].isna().all()
    assert set(s.loc[s["frontage"], "cover"]) == {"mixed", "dedicated", "uncovered"}


def test_micro_grids_default(result):
    m = result.micro_grids
    # zone A (3 shops) gets one; zone C (2 shops) is under micro_grid_min_shops=3;
    # B and D are dedicated already
    assert records(m, ["street", "side", "shops", "length_m", "zone_ids", "grid_ids"]) == [
        {
            "street": "Main St",
            "side": "N",
            "shops": 3,
            "length_m": 60.0,
            "zone_ids": "S001",
            "grid_ids": "R1",
        }
    ]


def test_micro_grids_split_to_target(streets, pois, grids):
    opt = StreetFrontOptions(micro_grid_shops=2, micro_grid_min_shops=2)
    m = street_front(streets, pois=pois, grids=grids, options=opt).micro_grids
    # zone A: shops at 20, 40 | 60, split half-way (50); zone C: 100, 130 → one
    assert m["shops"].tolist() == [2, 1, 2]
    assert m["length_m"].tolist() == [40.0, 20.0, 50.0]
    assert m["side"].tolist() == ["N", "N", "S"]
    assert m["micro_grid_id"].tolist() == ["M001", "M002", "M003"]
    # neighbouring micro-grids abut without overlapping
    a, b = m.geometry.iloc[0], m.geometry.iloc[1]
    assert a.intersection(b).area == pytest.approx(0.0, abs=1e-6)
    assert a.touches(b)


def test_micro_grids_join_zones_across_short_gaps(streets, pois):
    # zones A and C are on different sides; with no grids at all, A, B and D (north)
    # are 140 and 70 m apart: joined into one stretch under micro_grid_gap=150
    m = street_front(streets, pois=pois).micro_grids
    north = m[m["side"] == "N"]
    assert north["shops"].tolist() == [5]
    assert north["zone_ids"].tolist() == ["S001,S003"]
    opt = StreetFrontOptions(micro_grid_gap=100)
    m2 = street_front(streets, pois=pois, options=opt).micro_grids
    assert m2["shops"].tolist() == [3]


@pytest.mark.parametrize(("gap", "zones"), [(45.0, 2), (55.0, 1)])
def test_zone_gap(gap, zones):
    street = gpd.GeoDataFrame(geometry=[LineString([(X0, Y0), (X0 + 300, Y0)])], crs=CRS)
    shops = gpd.GeoDataFrame(geometry=[at(10, 5), at(60, 5)], crs=CRS)
    z = street_front(street, pois=shops, options=StreetFrontOptions(zone_gap=gap)).zones
    assert len(z) == zones
    assert z["street"].isna().all()


def test_frontage_depth():
    street = gpd.GeoDataFrame(geometry=[LineString([(X0, Y0), (X0 + 300, Y0)])], crs=CRS)
    shops = gpd.GeoDataFrame(geometry=[at(10, 25), at(100, 35)], crs=CRS)
    assert street_front(street, pois=shops).zones["shops"].tolist() == [1]
    deep = StreetFrontOptions(frontage_depth=40)
    assert street_front(street, pois=shops, options=deep).zones["shops"].tolist() == [1, 1]


def test_runs_merge_same_name_and_unnamed_chains():
    lines = gpd.GeoDataFrame(
        {
            "name": ["A Rd", "A Rd", "B Rd", None, None, None],
            "highway": ["residential"] * 5 + ["footway"],
        },
        geometry=[
            LineString([(0, 0), (100, 0)]),
            LineString([(100, 0), (200, 0)]),  # joins the first: one run of 200 m
            LineString([(200, 0), (300, 0)]),  # another name: its own run
            LineString([(0, 50), (50, 50)]),
            LineString([(50, 50), (80, 50)]),  # unnamed, end to end: one run of 80 m
            LineString([(0, 90), (10, 90)]),  # footway: no frontage
        ],
        crs=32650,
    )
    runs = frontage_runs(lines)
    got = sorted(zip(runs["street"].fillna("-"), runs["length_m"], strict=True))
    assert got == [("-", 80.0), ("A Rd", 200.0), ("B Rd", 100.0)]


def test_shop_points_from_raw_tags_and_plain_layers():
    raw = gpd.GeoDataFrame(
        {"shop": ["bakery", None, None, "no"], "amenity": [None, "cafe", "parking", None]},
        geometry=[Point(0, 0), Point(1, 1), Point(2, 2), Point(3, 3)],
        crs=32650,
    )
    s = shop_points(raw)
    assert s["kind"].tolist() == ["shop", "amenity"]
    assert s["value"].tolist() == ["bakery", "cafe"]
    plain = gpd.GeoDataFrame(geometry=[Point(0, 0), box(5, 5, 6, 6)], crs=32650)
    s = shop_points(plain)
    assert len(s) == 2
    assert (s.geom_type == "Point").all()


def test_street_front_types():
    values = [
        "street_front",
        "Street Front",
        "沿街",
        "沿街商铺专属微网格",
        "商铺",
        "residential",
        "",
        None,
        3,
    ]
    assert is_street_front_type(values).tolist() == [
        True,
        True,
        True,
        True,
        True,
        False,
        False,
        False,
        False,
    ]


def test_real_osm_layers():
    """Monaco centre: OSM POIs and buildings give zones along named streets."""
    layers = gridgeo.read_osm(datasets.get_path("monaco"), bbox=(7.415, 43.730, 7.435, 43.745))
    sf = street_front(layers.streets, pois=layers.pois, buildings=layers.buildings)
    z = sf.zones
    assert len(z) > 30
    assert z["street"].notna().mean() > 0.8
    assert int(z["shops"].sum()) == int(sf.shops["frontage"].sum())
    assert (z["status"] == "uncovered").all()  # no grids given
    assert (z["length_m"] > 0).all()
    assert z["length_m"].median() == pytest.approx(20.0)  # most zones hold one shop
    assert z.geometry.is_valid.all()


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"frontage_depth": 0}, gridgeo.InputError, "frontage_depth"),
        ({"micro_grid_shops": 0}, gridgeo.InputError, "micro_grid_shops"),
        ({"end_margin": -1}, gridgeo.InputError, "end_margin"),
        ({"zone_gap": float("nan")}, gridgeo.InputError, "zone_gap"),
    ],
)
def test_bad_options(streets, pois, kwargs, error, text):
    with pytest.raises(error, match=text):
        street_front(streets, pois=pois, options=StreetFrontOptions(**kwargs))


def test_bad_inputs(streets, pois):
    with pytest.raises(gridgeo.InputError, match="needs shops"):
        street_front(streets)
    with pytest.raises(gridgeo.GeometryError, match="LineString"):
        street_front(pois, pois=pois)
    lines = streets.copy()
    with pytest.raises(gridgeo.GeometryError, match="points of interest"):
        street_front(streets, pois=lines)
    with pytest.raises(gridgeo.CRSError, match="no CRS"):
        street_front(streets, pois=pois.set_crs(None, allow_override=True))
    grids = gpd.GeoDataFrame({"code": ["a"]}, geometry=[box(X0, Y0, X0 + 1, Y0 + 1)], crs=CRS)
    with pytest.raises(gridgeo.MissingColumnError, match="grid_type"):
        street_front(streets, pois=pois, grids=grids, grid_type="grid_type")
    empty = pois.iloc[:0]
    assert len(street_front(streets, pois=empty, buildings=grids).zones) == 0
    assert np.isin(["S001"], street_front(streets, pois=pois).zones["zone_id"]).all()
