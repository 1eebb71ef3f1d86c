"""Grid codes: format, reading order, stability, free numbers, overflow (gridgeo.codes)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely import box

import gridgeo
from gridgeo.codes import (
    assign_codes,
    check_code,
    code_length,
    community_prefixes,
    parse_code,
    reading_rank,
)


def lattice(nx: int, ny: int, community=None, size: float = 100.0) -> gpd.GeoDataFrame:
    """nx × ny square grids, listed south→north then west→east (not reading order)."""
    geoms = [
        box(x * size, y * size, (x + 1) * size, (y + 1) * size)
        for x in range(nx)
        for y in range(ny)
    ]
    data = {"community_id": community if community is not None else ["c"] * len(geoms)}
    return gpd.GeoDataFrame(data, geometry=geoms, crs=3857)


@pytest.fixture(scope="module")
def kouvola_grids(osm):
    layers = osm("kouvola")
    return gridgeo.partition(layers.streets, layers.buildings).grids


def test_db11_format_and_order():
    grids = lattice(3, 3)
    codes = assign_codes(grids, admin_code="110105", street_code="002")
    assert codes.index.equals(grids.index)
    assert codes.str.fullmatch(r"\d{15}").all()
    assert codes.str.startswith("110105002001").all()
    seq = codes.str.slice(12).astype(int).to_numpy()
    assert sorted(seq) == list(range(1, 10))
    # north→south rows, west→east inside a row
    c = shapely.centroid(grids.geometry.values)
    x, y = shapely.get_x(c), shapely.get_y(c)
    order = np.argsort(seq)
    assert list(y[order]) == [250.0] * 3 + [150.0] * 3 + [50.0] * 3
    assert list(x[order]) == [50.0, 150.0, 250.0] * 3


def test_order_on_real_plan(kouvola_grids):
    codes = assign_codes(kouvola_grids, admin_code="110105")
    seq = codes.str.slice(12).astype(int).to_numpy()
    assert sorted(seq) == list(range(1, len(kouvola_grids) + 1))
    # the same reading order as the plan's own numbering (G0001 …) and reading_rank
    rank = reading_rank(kouvola_grids.geometry.values, kouvola_grids["community_id"])
    assert (seq - 1 == rank).all()
    assert codes.is_unique


def test_cjt349_format_and_unsplit_community():
    grids = lattice(2, 1, community=["a", "a"])
    single = lattice(1, 1, community=["b"]).set_geometry([box(500, 0, 600, 100)], crs=3857)
    both = gpd.GeoDataFrame(
        gpd.pd.concat([grids, single], ignore_index=True), geometry="geometry", crs=3857
    )
    codes = assign_codes(both, admin_code="110105", scheme="cjt349", object_class="010100")
    assert codes.str.fullmatch(r"\d{20}").all()
    assert codes.str.startswith("010100110105001").all()
    assert codes.tolist() == [
        "01010011010500100101",
        "01010011010500100102",
        "01010011010500100200",  # a community not divided: sequence 00
    ]
    assert parse_code(codes[2], "cjt349") == {
        "admin": "110105",
        "street": "001",
        "community": "002",
        "sequence": "00",
        "division": "110105001002",
        "object_class": "010100",
    }


def test_communities_numbered_and_given():
    grids = lattice(2, 2, community=["x", "y", "x", "y"])
    codes = assign_codes(grids, admin_code="110105", community_codes={"y": "201"})
    assert set(codes[grids.community_id == "y"].str.slice(0, 12)) == {"110105001201"}
    assert set(codes[grids.community_id == "x"].str.slice(0, 12)) == {"110105001001"}
    full = assign_codes(grids, community_codes={"x": "110108005003", "y": "110108005004"})
    assert full.str.slice(0, 12).tolist() == ["110108005003", "110108005004"] * 2
    # sequences restart in each community
    assert sorted(full.str.slice(12)) == ["001", "001", "002", "002"]


def test_stable_codes_and_free_numbers():
    grids = lattice(3, 1)
    first = assign_codes(grids, admin_code="110105")
    # grid 1 (middle) disappears, two new grids appear in the west and east
    later = grids.drop(index=1)
    extra = gpd.GeoDataFrame(
        {"community_id": ["c", "c"]},
        geometry=[box(-100, 0, 0, 100), box(300, 0, 400, 100)],
        crs=3857,
    )
    later = gpd.GeoDataFrame(gpd.pd.concat([later, extra]), geometry="geometry", crs=3857)
    later = later.reset_index(drop=True)
    prev = [first[0], first[2], None, None]
    codes = assign_codes(
        later, admin_code="110105", previous=gpd.pd.Series(prev), retired=[first[1]]
    )
    assert codes[0] == first[0] and codes[1] == first[2]  # unchanged grids keep codes
    assert codes[1].endswith("003") and codes[0].endswith("001")
    # new grids take free numbers, in reading order, never the retired one (002)
    assert codes[2].endswith("004") and codes[3].endswith("005")
    # without the retirement, the lowest free number is reused
    again = assign_codes(later, admin_code="110105", previous=gpd.pd.Series(prev))
    assert again[2].endswith("002") and again[3].endswith("004")


def test_previous_codes_column_and_bad_codes(caplog):
    grids = lattice(2, 1)
    grids["code"] = ["110105001001002", "not-a-code"]
    codes = assign_codes(grids, previous="code")
    assert codes[0] == "110105001001002"  # admin, street and community taken from it
    assert codes[1] == "110105001001001"
    assert "not 15-digit" in caplog.text or "are not" in caplog.text


def test_overflow_raises():
    many = lattice(40, 25)  # 1000 grids in one community
    with pytest.raises(gridgeo.InputError, match="at most 999 grids per community"):
        assign_codes(many, admin_code="110105")
    hundred = lattice(10, 10)
    with pytest.raises(gridgeo.InputError, match="at most 99 grids per community"):
        assign_codes(hundred, admin_code="110105", scheme="cjt349", object_class="010100")
    # 999 fit
    assert assign_codes(lattice(27, 37), admin_code="110105").str.slice(12).max() == "999"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"admin_code": "11010"}, "admin code must be 6 digits"),
        ({"admin_code": "110105", "street_code": "1234"}, "street code must be 3 digits"),
        ({}, "give the 6-digit county admin code"),
        ({"admin_code": "110105", "scheme": "cjt349"}, "object class"),
        ({"admin_code": "110105", "scheme": "gb"}, "unknown code scheme"),
        ({"admin_code": "110105", "community_codes": {"c": "12"}}, None),
    ],
)
def test_bad_options(kwargs, match):
    grids = lattice(2, 1)
    if match is None:  # a short community code is zero-padded
        assert assign_codes(grids, **kwargs).str.slice(9, 12).tolist() == ["012", "012"]
        return
    with pytest.raises(gridgeo.InputError, match=match):
        assign_codes(grids, **kwargs)


def test_duplicate_division_codes_raise():
    with pytest.raises(gridgeo.InputError, match="both get division code"):
        community_prefixes(["a", "b"], admin_code="110105", community_codes={"a": "001", "b": "1"})


def test_check_and_parse():
    assert code_length("db11") == 15 and code_length("cjt349") == 20
    assert check_code(" 110105001001001 ") == "110105001001001"
    with pytest.raises(gridgeo.InputError, match="15-digit DB11/T 2157"):
        check_code("1101050010010011")
    assert parse_code("110105001002003")["division"] == "110105001002"
