"""Locked grids (the planner's "this grid is fine, do not move it") on real data.

Property: whatever grids are locked and however households change, a rebalance keeps
every locked grid exactly — polygon, buildings, households, code — conserves
households, and leaves every other grid one polygon and, where the band allows, in band.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gridgeo
from gridgeo._errors import InputError


@pytest.fixture(scope="module")
def kouvola(kouvola_plan):
    return {
        "streets": kouvola_plan["layers"].streets,
        "grids": kouvola_plan["grids"],
        "buildings": kouvola_plan["plan"].buildings,
    }


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_locked_grids_stay_exactly(kouvola, data):
    grids, b = kouvola["grids"], kouvola["buildings"].copy()
    ids = grids["grid_id"].tolist()
    locked = data.draw(st.sets(st.sampled_from(ids), min_size=1, max_size=8), label="locked")
    grown = data.draw(st.sets(st.sampled_from(ids), min_size=1, max_size=4), label="grown")
    factor = data.draw(st.sampled_from([1.3, 1.6, 2.0]), label="factor")
    hh = b["households"].to_numpy().copy()
    up = b["grid_id"].isin(grown).to_numpy()
    hh[up] = np.round(hh[up] * factor).astype(np.int64)
    b["households"] = hh
    r = gridgeo.rebalance(
        grids, b, households_column="households", streets=kouvola["streets"], locked=locked
    )
    before = grids.set_index("grid_id")
    after = r.grids.set_index("grid_id")
    assert r.figures["locked_grids"] == len(locked)
    for gid in locked:
        assert after.geometry[gid] is before.geometry[gid] or after.geometry[gid].equals_exact(
            before.geometry[gid], 0
        )
        assert after.loc[gid, "code"] == before.loc[gid, "code"]
        assert after.loc[gid, "status"] == "kept"
        mine_before = set(b.index[b["grid_id"] == gid])
        mine_after = set(r.buildings.index[r.buildings["grid_id"] == gid])
        assert mine_before == mine_after
        assert after.loc[gid, "households"] == b.loc[list(mine_before), "households"].sum()
    assert int(r.grids["households"].sum()) == int(hh.sum())
    assert int(r.buildings["households"].sum()) == int(hh.sum())
    free = r.grids[~r.grids["grid_id"].isin(locked)]
    changed = free[free["status"] != "kept"]
    assert (changed.geom_type == "Polygon").all()
    # a free grid out of band is one a redraw could not fix: counted, and only those
    out = r.figures["out_of_band_after"]
    lo, hi = r.figures["band_lower"], r.figures["band_upper"]
    off = ~free["households"].between(lo, hi) & ~free["indivisible"]
    assert off.sum() <= out


def test_lock_column_and_unknown_ids(kouvola):
    grids, b = kouvola["grids"].copy(), kouvola["buildings"].copy()
    grids["keep"] = ["是" if i % 2 else "" for i in range(len(grids))]
    b["households"] = b["households"] * 2  # every grid doubles
    r = gridgeo.rebalance(grids, b, households_column="households", lock_column="keep")
    locked = grids.loc[grids["keep"] == "是", "grid_id"]
    assert r.figures["locked_grids"] == len(locked)
    kept = r.grids.set_index("grid_id").loc[locked, "status"]
    assert (kept == "kept").all()
    assert r.figures["out_of_band_before"] == len(grids) - len(locked)
    with pytest.raises(InputError, match="locked grids not in the plan: NOPE"):
        gridgeo.rebalance(grids, b, households_column="households", locked={"NOPE"})


def test_lock_flag_on_the_command_line(kouvola, tmp_path):
    from gridgeo.cli import main

    plan = tmp_path / "plan.gpkg"
    kouvola["grids"].to_file(plan, layer="grids", driver="GPKG")
    b = kouvola["buildings"].copy()
    b["households"] = b["households"] * 2
    b.to_file(tmp_path / "b.gpkg", driver="GPKG")
    ids = kouvola["grids"]["grid_id"].tolist()[:2]
    out = tmp_path / "out"
    code = main(
        [
            "-q",
            "rebalance",
            "--plan",
            str(plan),
            "--buildings",
            str(tmp_path / "b.gpkg"),
            "--households-column",
            "households",
            "--lock",
            ",".join(ids),
            "--no-map",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    figures = json.loads((out / "rebalance.json").read_text(encoding="utf-8"))
    assert figures["locked_grids"] == 2


def test_partition_around_locked_grids(osm, kouvola):
    """A new partition (another target) keeps the locked grids of the old plan exactly:
    polygon, id, code and buildings; the rest is drawn anew around them and tiles the
    area with them."""
    layers = osm("kouvola")
    old = kouvola["grids"]
    lock = set(old["grid_id"].iloc[[0, 5, 11]])
    plan = gridgeo.partition(
        layers.streets, layers.buildings, target=250, locked_grids=old, locked=lock
    )
    g = plan.grids.set_index("grid_id")
    before = old.set_index("grid_id")
    assert lock <= set(g.index)
    assert int(g["locked"].sum()) == len(lock)
    for gid in lock:
        assert g.geometry[gid].equals_exact(before.geometry[gid], 0)
        assert g.loc[gid, "code"] == before.loc[gid, "code"]
        was = set(kouvola["buildings"].loc[kouvola["buildings"]["grid_id"] == gid, "osm_id"])
        now = set(plan.buildings.loc[plan.buildings["grid_id"] == gid, "osm_id"])
        assert now == was
    free = plan.grids[~plan.grids["locked"]]
    assert free["grid_id"].is_unique and not set(free["grid_id"]) & lock
    assert free["code"].isna().all()  # no scheme asked for: only locked grids have codes
    hh = free["households"]
    assert ((hh >= 225) & (hh <= 275) | free["indivisible"]).mean() >= 0.9
    assert int(plan.grids["households"].sum()) == int(plan.buildings["households"].sum())
    union = shapely.union_all(plan.grids.geometry.values)
    assert union.symmetric_difference(plan.study_area).area < 1.0
    with pytest.raises(InputError, match="locking grids needs the plan they belong to"):
        gridgeo.partition(layers.streets, layers.buildings, locked={"G0001"})
