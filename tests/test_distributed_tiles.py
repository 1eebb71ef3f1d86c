"""Every stage on Dask: :func:`gridgeo.distributed.partition_tiles` on the bundled data.

Kouvola (real OSM streets and buildings) is cut into tiles of about 100 street segments;
each tile — blocks, households, units, partition, dissolve — is drawn by
:func:`gridgeo.pipeline.partition` on a worker process, then the seams are redrawn.
The plan on a 2-worker LocalCluster (worker processes, so every tile crosses a process
boundary) equals the plan of the same tiles drawn one after another in this process;
households are conserved, every building is in exactly one grid, grids are single
polygons that tile the study area, and grids cross the tile edges (the seams were
redrawn). Monaco with its real quarters is tiled by whole communities.
"""

from __future__ import annotations

import sys

import dask_geopandas  # noqa: F401  (the test extra installs it: a missing one must fail)
import distributed  # noqa: F401
import geopandas as gpd
import numpy as np
import pytest
import shapely
from distributed import Client, LocalCluster

import gridgeo
from gridgeo import distributed as gd
from gridgeo.blocks import study_area
from gridgeo.distributed import _tiles
from gridgeo.rules import Rules

TILE = 100  # street segments per tile: Kouvola's 331 make 4 tiles


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit="1.5GiB",
            dashboard_address="127.0.0.1:0",  # HTTP routes on loopback only
            worker_dashboard_address="127.0.0.1:0",
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def kouvola(osm):
    return osm("kouvola")


@pytest.fixture(scope="module")
def single(kouvola):
    """The tiles of Kouvola drawn one after another in this process."""
    return gd.partition_tiles(
        kouvola.streets, kouvola.buildings, scheduler=None, tile_streets=TILE, target=300
    )


def _assert_cover(grids: gpd.GeoDataFrame, area) -> None:
    """No gap, no overlap, nothing outside (each under 2 m² over the whole area: the
    seams' outlines are snapped to the blocks' 1 mm grid)."""
    geoms = grids.geometry.values
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    overlap = shapely.area(shapely.intersection(geoms[i[i < j]], geoms[j[i < j]])).sum()
    outside = shapely.area(shapely.difference(geoms, area)).sum()
    gaps = area.area - (shapely.area(geoms).sum() - overlap - outside)
    assert abs(gaps) < 2.0 and outside < 2.0 and overlap < 2.0, (gaps, outside, overlap)


def test_tile_layout_balances_street_counts(kouvola):
    streets = kouvola.streets.to_crs(3067)
    layout = gd.tile_layout(streets, tile_streets=TILE)
    tile = layout.tile_of(shapely.centroid(streets.geometry.values))
    counts = np.bincount(tile, minlength=len(layout.keys))
    assert len(layout.keys) == 4 and (tile >= 0).all()
    assert counts.max() <= TILE and counts.min() >= TILE // 2, counts
    assert len(layout.cuts) == len(layout.keys) - 1
    # the boxes tile the streets' extent
    x0, y0, x1, y1 = streets.total_bounds
    boxes = layout.boxes
    assert np.isclose(
        ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).sum(), (x1 - x0) * (y1 - y0)
    )


def test_tiles_on_dask_equal_the_single_process_plan(kouvola, single, client):
    with distributed.get_task_stream(client) as ts:
        on_dask = gd.partition_tiles(
            kouvola.streets, kouvola.buildings, scheduler=client, tile_streets=TILE, target=300
        )
    ran = [str(t.get("key")) for t in ts.data]
    assert sum("gridgeo-tiles" in k for k in ran) == 4
    assert sum("gridgeo-seams" in k for k in ran) >= 2
    assert len({t["worker"] for t in ts.data}) == 2  # both workers drew tiles
    same = gd.compare_plans(single, on_dask)
    assert same["equal"], same


def test_tiled_plan_conserves_households_and_buildings(kouvola, single):
    whole = gridgeo.partition(kouvola.streets, kouvola.buildings, target=300)
    g, b = single.grids, single.buildings
    # households per building do not depend on the tile: all conserved exactly
    assert int(g["households"].sum()) == int(b["households"].sum()) == whole.summary()["households"]
    assert len(b) == len(kouvola.buildings) and b["grid_id"].notna().all()
    assert set(b["grid_id"]) <= set(g["grid_id"])
    counts = b.groupby("grid_id").size().reindex(g["grid_id"], fill_value=0).to_numpy()
    assert (counts == g["buildings"].to_numpy()).all()
    assert (
        b.groupby("grid_id")["households"].sum().reindex(g["grid_id"]).to_numpy()
        == g["households"].to_numpy()
    ).all()
    # every building lies in its grid (its representative point, for all but a handful
    # assigned to the nearest block across a street)
    grid_geom = g.set_index("grid_id").geometry.reindex(b["grid_id"]).values
    inside = shapely.contains(grid_geom, shapely.point_on_surface(b.geometry.values))
    assert inside.mean() > 0.97
    s = single.summary()
    assert s["within_10pct"] >= 0.9 and s["n_grids"] == pytest.approx(
        whole.summary()["n_grids"], abs=2
    )


def test_tiled_grids_tile_the_area_and_cross_the_seams(kouvola, single):
    g = single.grids
    # every grid contiguous across seams too, but for land a barrier cuts off inside a
    # seam, which joins a grid across it (#14's stranded-land rule) and says so
    pieces = shapely.get_num_geometries(g.geometry.values)
    assert (pieces == g["parts"]).all()
    assert (g["across_barrier"] | (pieces == 1)).all()
    assert (pieces == 1).mean() >= 0.95
    _assert_cover(g, single.study_area)
    # the tile edges: at least one grid crosses each (the seams were redrawn) and
    # seams are listed in the plan's notes
    streets = kouvola.streets.to_crs(g.crs)
    cuts = gd.tile_layout(streets, tile_streets=TILE, bounds=single.study_area.bounds).cuts
    for _key, _axis, seg in cuts:
        inside = shapely.buffer(g.geometry.values, -0.5)  # a grid's edge on a cut is no crossing
        assert (shapely.length(shapely.intersection(inside, seg)) > 1.0).any(), _key
    assert any(n.startswith("seam ") and n.endswith("redrawn") for n in single.notes)


def test_without_seam_repair_each_tile_is_the_pipelines_own_plan(kouvola):
    """The tiles are drawn by gridgeo.pipeline.partition itself: with repair_seams off,
    the grids are those of gridgeo.partition run on each tile's data."""
    plan = gd.partition_tiles(
        kouvola.streets,
        kouvola.buildings,
        scheduler=None,
        tile_streets=TILE,
        repair_seams=False,
        target=300,
    )
    crs = plan.crs
    streets = kouvola.streets.to_crs(crs)
    buildings = kouvola.buildings.to_crs(crs).assign(
        **{_tiles._ROW: np.arange(len(kouvola.buildings))}
    )
    area = study_area(streets, buildings)
    layout = gd.tile_layout(streets, tile_streets=TILE, bounds=area.bounds)
    rules = Rules(target=300, crs=crs.to_epsg())
    jobs = _tiles._square_tiles(streets, buildings, area, {}, layout, rules, 0)
    expected = []
    for job in jobs:
        own = gridgeo.partition(
            job["streets"],
            job["buildings"],
            rules=job["rules"],
            random_state=job["seed"],
            **job["layers"],
        )
        expected.extend(shapely.normalize(own.grids.geometry.values))
    got = shapely.normalize(plan.grids.geometry.values)
    assert len(got) == len(expected)
    assert sorted(shapely.to_wkb(got)) == sorted(shapely.to_wkb(np.array(expected)))
    # grids stop at the tile edges: none crosses a cut
    inside = shapely.buffer(plan.grids.geometry.values, -0.5)
    for _key, _axis, seg in layout.cuts:
        assert (shapely.length(shapely.intersection(inside, seg)) < 1e-6).all(), _key


def test_population_grid_seams_keep_the_tiles_households(kouvola):
    """Households from a population grid: each tile estimates its own; redrawing the
    seams moves none (they are redrawn from the households the tiles gave)."""
    streets = kouvola.streets.to_crs(3067)
    x0, y0, x1, y1 = streets.total_bounds
    xs, ys = np.arange(x0, x1, 250.0), np.arange(y0, y1, 250.0)
    cells = [shapely.box(x, y, x + 250, y + 250) for x in xs for y in ys]
    rng = np.random.default_rng(7)
    pop = gpd.GeoDataFrame(
        {"population": rng.integers(0, 400, len(cells))}, geometry=cells, crs=3067
    )
    kw = {"population": pop, "target": 300, "tile_streets": TILE, "scheduler": None}
    drawn = gd.partition_tiles(streets, None, repair_seams=False, **kw)
    repaired = gd.partition_tiles(streets, None, **kw)
    whole = gridgeo.partition(streets, None, population=pop, target=300)
    assert int(repaired.grids["households"].sum()) == int(drawn.grids["households"].sum())
    # each tile rounds its own total: at most a household per tile off the whole's
    assert abs(int(drawn.grids["households"].sum()) - whole.summary()["households"]) <= 4
    assert (repaired.grids.geom_type == "Polygon").all()
    assert repaired.buildings is None and (repaired.grids["buildings"] == 0).all()
    _assert_cover(repaired.grids, repaired.study_area)


@pytest.mark.slow
def test_communities_are_tiled_whole(osm, monaco_quarters, client):
    layers = osm("monaco")
    kw = {"boundaries": monaco_quarters, "boundary_id": "name", "target": 300, "tile_streets": 150}
    single = gd.partition_tiles(layers.streets, layers.buildings, scheduler=None, **kw)
    on_dask = gd.partition_tiles(layers.streets, layers.buildings, scheduler=client, **kw)
    assert gd.compare_plans(single, on_dask)["equal"]
    g = single.grids
    assert set(g["community_id"]) <= set(monaco_quarters["name"])
    quarters = monaco_quarters.to_crs(g.crs).set_index("name").geometry
    own = quarters.reindex(g["community_id"]).values
    inside = shapely.area(shapely.intersection(g.geometry.values, own)) / g.area.to_numpy()
    assert (inside > 0.99).all()  # no grid crosses a quarter
    assert int(g["households"].sum()) == int(single.buildings["households"].sum())
    assert not any(n.startswith("seam ") for n in single.notes)  # whole communities: no seams


def test_bad_settings_are_one_line_errors(kouvola, monkeypatch):
    s, b = kouvola.streets, kouvola.buildings
    with pytest.raises(gridgeo.InputError, match="total_households"):
        gd.partition_tiles(s, None, scheduler=None, total_households=9000)
    with pytest.raises(gridgeo.InputError, match="locked grids"):
        gd.partition_tiles(s, b, scheduler=None, locked_grids=b.iloc[:1])
    with pytest.raises(gridgeo.InputError, match="tile_streets"):
        gd.partition_tiles(s, b, scheduler=None, tile_streets=0)
    from gridgeo.distributed import _client as client_mod

    monkeypatch.setattr(client_mod, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(gridgeo.InputError, match="cannot reach the Dask scheduler"):
        gd.check_scheduler("tcp://127.0.0.1:9")


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(gd.DaskMissingError, match=r"gridgeo\[dask\]"), gd.local_client(1):
        pass
    assert issubclass(gd.DaskMissingError, gridgeo.GridgeoError)


def test_every_building_in_one_grid_when_one_spans_tile_edges(osm, helsinki_population):
    """Helsinki with its population grid in tiles of 800 segments: a 6,454 m² block
    building spans the tiles so that none holds most of it, and the pipeline leaves it
    out of each; it still lands in one grid, and households match one process."""
    layers = osm("helsinki")
    whole = gridgeo.partition(layers.streets, layers.buildings, population=helsinki_population)
    tiled = gd.partition_tiles(
        layers.streets,
        layers.buildings,
        population=helsinki_population,
        scheduler=None,
        tile_streets=800,
    )
    b = tiled.buildings
    assert len(b) == len(whole.buildings) and not b["osm_id"].duplicated().any()
    assert b["grid_id"].isin(tiled.grids["grid_id"]).all()
    assert int(tiled.grids["households"].sum()) == int(b["households"].sum())
    assert int(b["households"].sum()) == int(whole.buildings["households"].sum())
    assert any("placed in the grid holding most of them" in n for n in tiled.notes)
