"""Staffing and budget (gridgeo.staffing): workers, liaisons, budget, workload, CSV for Excel."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely import box

import gridgeo
from gridgeo.staffing import (
    HEADERS,
    StaffingRules,
    attach_staffing,
    staffing_table,
    staffing_totals,
    write_staffing_csv,
)


def small_grids() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "grid_id": ["G1", "G2", "G3"],
            "code": ["110105001001001", "110105001001002", "110105001201001"],
            "community_id": ["c1", "c1", "v1"],
            "households": [300, 330, 250],
            "grid_type": ["basic", "basic", "rural"],
        },
        geometry=[box(i, 0, i + 1, 1) for i in range(3)],
        crs=3857,
    )


@pytest.fixture(scope="module")
def kouvola(osm):
    layers = osm("kouvola")
    return gridgeo.partition(layers.streets, layers.buildings)


def test_default_rules():
    t = staffing_table(small_grids())
    assert t["workers"].tolist() == [1, 1, 1]
    # one liaison per 40 households (rounded up), rural rate 20, urban 40 yuan a year
    assert t["liaisons"].tolist() == [8, 9, 7]
    assert t["area_type"].tolist() == ["urban", "urban", "rural"]
    assert t["liaison_rate_yuan"].tolist() == [40.0, 40.0, 20.0]
    assert t["liaison_budget_yuan"].tolist() == [12000.0, 13200.0, 5000.0]
    assert t["workload_index"].tolist() == [1.0, 1.1, 0.83]
    totals = staffing_totals(t)
    assert totals == {
        "grids": 3,
        "households": 880,
        "workers": 3,
        "micro_grids": 24,
        "liaisons": 24,
        "extra_liaisons": 0,
        "liaison_budget_yuan": 30200.0,
        "workload_index_mean": 0.977,
    }


def test_configured_rules_and_rural_flags():
    rules = StaffingRules(
        workers_per_grid=2,
        households_per_worker=150,
        households_per_liaison=50,
        rate_urban=30,
        rate_rural=15,
        target=500,
    )
    t = staffing_table(small_grids(), rules=rules, rural=[True, False, False])
    assert t["workers"].tolist() == [2, 3, 2]  # at least one per 150 households
    assert t["liaisons"].tolist() == [6, 7, 5]
    assert t["liaison_budget_yuan"].tolist() == [300 * 15.0, 330 * 30.0, 250 * 30.0]
    assert t["workload_index"].tolist() == [0.6, 0.66, 0.5]
    g = small_grids().assign(urban_rural=["111", "210", "220"])
    assert staffing_table(g, rural="urban_rural")["area_type"].tolist() == [
        "urban",
        "rural",
        "rural",
    ]


def test_workload_and_extra_liaisons_from_buildings():
    grids = small_grids()
    buildings = pd.DataFrame(
        {
            "grid_id": ["G1", "G1", "G2", "G3"],
            "rentals": [30, 30, 0, 0],
            "special": [10, 0, 0, 1],
            "shop": ["bakery", None, None, None],
        }
    )
    t = staffing_table(grids, buildings=buildings)
    assert t["rentals"].tolist() == [60, 0, 0]
    assert t["special"].tolist() == [10, 0, 1]
    assert t["shops"].tolist() == [1, 0, 0]
    # G1: 300 + 60 rentals + 2 × 10 special + 0.5 × 1 shop = 380.5 household-equivalents
    assert t["workload_index"].iloc[0] == round(380.5 / 300, 2)
    assert t["extra_liaisons"].tolist() == [2, 0, 0]  # 80.5 / 40, to the nearest
    assert t["liaisons"].tolist() == [10, 9, 7]


def test_micro_grids_give_the_liaisons():
    micro = pd.DataFrame(
        {"grid_id": ["G1"] * 7 + ["G2"] * 8 + ["G3"] * 6, "liaisons": [1] * 20 + [4]}
    )
    t = staffing_table(small_grids(), micro_grids=micro)
    assert t["micro_grids"].tolist() == [7, 8, 6]
    assert t["liaisons"].tolist() == [7, 8, 9]


def test_csv_opens_in_excel(tmp_path):
    t = staffing_table(small_grids())
    path = write_staffing_csv(t, tmp_path / "staffing.csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads the Chinese right
    back = pd.read_csv(path, encoding="utf-8-sig")
    assert back.columns[0] == "网格编号 Grid ID" == HEADERS["grid_id"]
    assert "联络员经费(元/年) Liaison budget (yuan/year)" in back.columns
    assert back.iloc[-1, 0] == "合计 Total"
    assert back["联络员经费(元/年) Liaison budget (yuan/year)"].iloc[-1] == 30200.0
    assert back["户数 Households"].iloc[:-1].tolist() == [300, 330, 250]
    no_total = pd.read_csv(
        write_staffing_csv(t, tmp_path / "b.csv", total=False), encoding="utf-8-sig"
    )
    assert len(no_total) == 3


def test_on_real_plan(kouvola):
    t = staffing_table(kouvola.grids, buildings=kouvola.buildings)
    hh = int(kouvola.grids["households"].sum())
    totals = staffing_totals(t)
    assert totals["households"] == hh and totals["workers"] == len(kouvola.grids)
    assert totals["liaison_budget_yuan"] == 40.0 * hh
    assert (t["liaisons"] >= np.ceil(t["households"] / 40)).all()
    joined = attach_staffing(kouvola.grids, t)
    assert (joined["workers"] == 1).all() and len(joined) == len(kouvola.grids)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rate_urban": -1}, "rate_urban must be a number of yuan"),
        ({"workers_per_grid": 1.5}, "workers_per_grid must be a whole number"),
        ({"households_per_liaison": 0}, "households_per_liaison must be a positive number"),
        ({"weights": {"rentals": -2}}, "workload weight of 'rentals'"),
    ],
)
def test_bad_rules(kwargs, match):
    with pytest.raises(gridgeo.InputError, match=match):
        StaffingRules(**kwargs)


def test_bad_inputs():
    g = small_grids().drop(columns="households")
    with pytest.raises(gridgeo.MissingColumnError, match="no column 'households'"):
        staffing_table(g)
    with pytest.raises(gridgeo.InputError, match="give one per grid"):
        staffing_table(small_grids(), rural=[True])
