"""Scale-out on Dask: the plan on a 2-worker LocalCluster equals the single-process plan.

Real data: Monaco split by its real quarters (communities), Kouvola split into tiles of
blocks with the seams repaired, and the Kouvola audit's joins on dask-geopandas. The
cluster runs in this process (``processes=False``; its HTTP routes listen on 127.0.0.1);
``scripts/bench_distributed.py`` checks worker processes on the Wuhan network.
"""

from __future__ import annotations

import dask_geopandas  # noqa: F401  (the test extra installs it: a missing one must fail)
import distributed  # noqa: F401
import numpy as np
import pandas as pd
import pytest
import shapely
from distributed import Client, LocalCluster, get_task_stream  # noqa: E402

import gridgeo  # noqa: E402
from gridgeo import distributed as gd  # noqa: E402
from gridgeo.audit import audit as plain_audit  # noqa: E402
from gridgeo.pipeline import assemble, prepare  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address="127.0.0.1:0",  # HTTP routes on loopback only
            worker_dashboard_address="127.0.0.1:0",
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def _assert_tiles(grids, area) -> None:
    """No gap, no overlap, nothing outside (each under 1 m², pair by pair)."""
    geoms = grids.geometry.values
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    overlap = shapely.area(shapely.intersection(geoms[i[i < j]], geoms[j[i < j]])).sum()
    outside = shapely.area(shapely.difference(geoms, area)).sum()
    gaps = area.area - (shapely.area(geoms).sum() - overlap - outside)
    assert abs(gaps) < 1.0 and outside < 1.0 and overlap < 1.0, (gaps, outside, overlap)


def _ran_on(stream: list[dict], name: str) -> int:
    return sum(name in str(task.get("key")) for task in stream)


def test_monaco_by_community_same_plan_on_dask(osm, monaco_quarters, client):
    layers = osm("monaco")
    ws = prepare(
        layers.streets,
        layers.buildings,
        boundaries=monaco_quarters,
        boundary_id="name",
        target=300,
    )
    pieces = gd.split_workspace(ws)
    assert not any(p.tiled for p in pieces)
    assert {p.key.split("\x1f")[0] for p in pieces} <= set(monaco_quarters["name"])
    assert np.array_equal(
        np.sort(np.concatenate([p.nodes for p in pieces])), np.arange(len(ws.weights))
    )

    single = assemble(ws, gd.partition_workspace(ws, scheduler=None))
    with get_task_stream(client) as ts:
        labels = gd.partition_workspace(ws, scheduler=client)
    assert _ran_on(ts.data, "gridgeo-pieces") >= 2
    on_dask = assemble(ws, labels)

    same = gd.compare_plans(single, on_dask)
    assert same["equal"], same
    pd.testing.assert_series_equal(single.buildings["grid_id"], on_dask.buildings["grid_id"])
    # grids keep to their quarter and conserve households
    g = on_dask.grids
    assert int(g.households.sum()) == int(on_dask.buildings.households.sum())
    quarter = monaco_quarters.set_index("name").geometry.to_crs(g.crs)
    inside = shapely.area(
        shapely.intersection(g.geometry.values, quarter.loc[g.community_id].values)
    )
    np.testing.assert_allclose(inside, g.area, atol=1.0)


@pytest.fixture(scope="module")
def kouvola_ws(osm):
    layers = osm("kouvola")
    return prepare(layers.streets, layers.buildings, target=300)


def test_kouvola_tiles_with_repaired_seams_same_plan_on_dask(osm, kouvola_ws, client):
    layers = osm("kouvola")
    kw = {"tile_grids": 6, "random_state": 7}
    single = assemble(kouvola_ws, gd.partition_workspace(kouvola_ws, scheduler=None, **kw))
    on_dask = gd.partition(layers.streets, layers.buildings, target=300, scheduler=client, **kw)
    same = gd.compare_plans(single, on_dask)
    assert same["equal"], same
    assert sum(p.tiled for p in gd.split_workspace(kouvola_ws, tile_grids=6)) > 2

    # the invariants hold across the seams
    g = on_dask.grids
    assert (g.geom_type == "Polygon").all()
    assert int(g.households.sum()) == int(on_dask.buildings.households.sum())
    assert on_dask.buildings["grid_id"].notna().all()
    _assert_tiles(g, on_dask.study_area)
    assert on_dask.summary()["within_10pct_basic"] >= 0.9
    # another seed: another plan (seeds do reach the pieces)
    other = gd.partition_workspace(kouvola_ws, scheduler=None, **{**kw, "random_state": 8})
    assert not np.array_equal(other, gd.partition_workspace(kouvola_ws, scheduler=None, **kw))


def test_pieces_are_deterministic_and_seeded_by_key(kouvola_ws):
    ws = kouvola_ws
    a = gd.split_workspace(ws, tile_grids=4)
    b = gd.split_workspace(ws, tile_grids=4)
    assert [p.key for p in a] == [p.key for p in b]
    assert all(np.array_equal(p.nodes, q.nodes) for p, q in zip(a, b, strict=True))
    assert len(a) > 1 and all(p.tiled for p in a)
    assert len(gd.split_workspace(ws, tile_grids=None)) == 1
    # tiles are made of whole blocks
    block_tile = {}
    for i, p in enumerate(a):
        for blk in np.unique(ws.units.block[p.nodes]):
            assert block_tile.setdefault(int(blk), i) == i
    assert gd._key_entropy(0, "x") == gd._key_entropy(0, "x") != gd._key_entropy(1, "x")
    assert gd._batches([5, 1, 1, 1, 5], 2) == [[0, 1, 2], [3, 4]]
    assert gd._batches([1] * 3, 8) == [[0], [1], [2]]


def test_audit_joins_on_dask_geopandas_equal_single(osm, client):
    layers = osm("kouvola")
    plan = gridgeo.partition(layers.streets, layers.buildings, target=300)
    damaged = plan.grids.iloc[1:]  # a grid left out, and one drawn twice: an overlap
    grids = pd.concat([damaged, damaged.iloc[[0]].assign(grid_id="X1")], ignore_index=True)
    kw = {"pois": layers.pois, "households_column": "households"}
    single = plain_audit(grids, plan.buildings, layers.streets, **kw)
    with get_task_stream(client) as ts:
        on_dask = gd.audit(grids, plan.buildings, layers.streets, scheduler=client, **kw)
    assert _ran_on(ts.data, "_cover_part") >= 2 and _ran_on(ts.data, "_share_part") >= 2
    a, b = dict(single.figures), dict(on_dask.figures)
    a.pop("seconds"), b.pop("seconds")
    assert a == b and a["uncovered_buildings"] > 0 and a["overlaps"] > 0
    for name, layer in single.layers().items():
        pd.testing.assert_frame_equal(pd.DataFrame(layer), pd.DataFrame(on_dask.layers()[name]))
    pd.testing.assert_frame_equal(pd.DataFrame(single.buildings), pd.DataFrame(on_dask.buildings))
    # outside gd.audit, the joins run in this process as before
    bgeom = plan.buildings.geometry.to_numpy()[:50]
    with get_task_stream(client) as ts:
        cover = gridgeo.audit._building_cover(bgeom, grids.geometry.to_numpy(), bgeom[:0], 0.05)
    assert not ts.data and len(cover["largest"]) == 50


def test_bad_settings_are_input_errors(osm, kouvola_ws):
    layers = osm("kouvola")
    with pytest.raises(gridgeo.InputError, match="scheduler must be"):
        gd.partition(layers.streets, layers.buildings, scheduler=42)
    ws = kouvola_ws
    with pytest.raises(gridgeo.InputError, match="tile_grids"):
        gd.split_workspace(ws, tile_grids=0)
    with pytest.raises(gridgeo.InputError, match="random_state"):
        gd.partition_workspace(ws, random_state=-1)
    with pytest.raises(gridgeo.InputError, match="npartitions"):
        gd.audit(layers.buildings, layers.buildings, scheduler=None, npartitions=0)
