"""The service's PostgreSQL store in process, against the real test cluster (no mock):
claims, take-backs, inputs and results in the database, the schema and its version,
hostile schema names, and plan versions with PostGIS geometry."""

from __future__ import annotations

import threading
import time
import uuid
from urllib.parse import quote

import numpy as np
import pytest
import shapely

from gridgeo._errors import DatabaseError, InputError
from gridgeo.service.pgdb import SCHEMA_VERSION, Database
from gridgeo.service.store import MAX_ATTEMPTS, QueueFull, open_store
from gridgeo.workbench.versions import VersionConflict, compare, open_versions


def new_schema() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def store_url(postgres):
    """A store URL of a fresh schema of the test cluster."""
    return postgres.url(f"?schema={new_schema()}")


def _job(store, kind="partition", files=None, **kwargs):
    job_id = store.new_id()
    for rel, data in (files or {}).items():
        path = store.job_dir(job_id) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    store.create(job_id, kind, {"inputs": {}, "options": {}}, **kwargs)
    return job_id


def test_claims_never_take_a_job_twice_and_go_oldest_first(store_url, tmp_path):
    store = open_store(tmp_path / "a", store_url)
    ids = [_job(store) for _ in range(120)]
    taken: dict[str, list[str]] = {f"runner-{k}": [] for k in range(4)}
    start = threading.Barrier(len(taken))

    def claim_all(owner: str, data_dir) -> None:
        other = open_store(data_dir, store_url)  # another server's data directory
        start.wait()
        while (job := other.claim(owner, lease=30)) is not None:
            taken[owner].append(job.id)
            time.sleep(0.001)

    threads = [threading.Thread(target=claim_all, args=(o, tmp_path / o)) for o in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [i for got in taken.values() for i in got]
    assert sorted(claimed) == sorted(ids)
    assert sum(1 for got in taken.values() if got) >= 2
    assert store.counts() == {"queued": 0, "running": 120, "succeeded": 0, "failed": 0}
    listed = store.list_jobs(limit=500)
    assert sorted(j.id for j in listed) == sorted(ids)
    newest = sorted(listed, key=lambda j: j.id)
    newest.sort(key=lambda j: j.created_at, reverse=True)
    assert [j.id for j in listed] == [j.id for j in newest]  # newest first
    page = store.list_jobs(status="running", limit=10, offset=5)
    assert [j.id for j in page] == [j.id for j in newest[5:15]]
    # claims go oldest first
    order = []
    for _ in range(3):
        order.append(_job(store, kind="audit"))
        time.sleep(0.002)
    assert [store.claim("r", lease=30).id for _ in order] == order


def test_inputs_and_results_travel_through_the_database(store_url, tmp_path):
    """A job submitted to one server runs on another (its own data directory) and its
    results download from a third: every file comes out byte for byte."""
    a = open_store(tmp_path / "a", store_url)
    b = open_store(tmp_path / "b", store_url)
    c = open_store(tmp_path / "c", store_url)
    blob = np.random.default_rng(0).bytes(300_000)
    job_id = _job(a, files={"inputs/body.geojson": b'{"x": 1}', "inputs/zip/layer0.shp": blob})
    job = b.claim("host:1:b", lease=30)
    assert job.id == job_id and job.attempts == 1
    assert (b.job_dir(job_id) / "inputs/zip/layer0.shp").read_bytes() == blob
    results = b.job_dir(job_id) / "results"
    results.mkdir()
    (results / "grids.gpkg").write_bytes(blob[::-1])
    (results / "summary.json").write_text('{"grids": 3}')
    files = {"gpkg": ("results/grids.gpkg", "application/geopackage+sqlite3")}
    files["summary"] = ("results/summary.json", "application/json")
    assert not b.succeed(job_id, {"grids": 3}, files, owner="host:9:other")
    assert b.succeed(job_id, {"grids": 3}, files, owner="host:1:b")
    b.drop_inputs(job_id)
    got = c.get(job_id)
    assert got.status == "succeeded" and got.summary == {"grids": 3}
    assert got.results["gpkg"]["bytes"] == len(blob)
    path = c.result_path(job_id, got.results["gpkg"])
    assert path.parent.parent == c.job_dir(job_id) and path.read_bytes() == blob[::-1]
    assert c.result_path(job_id, got.results["summary"]).read_text() == '{"grids": 3}'
    # inputs are gone once the job ended; deleting removes the rows (and local folders)
    assert (
        a.db.run(lambda x: x.execute("SELECT count(*) AS n FROM job_inputs").fetchone())["n"] == 0
    )
    assert c.delete(job_id) and c.get(job_id) is None and a.get(job_id) is None
    assert not c.job_dir(job_id).exists()


def test_take_backs_attempts_and_the_queue_limit(store_url, tmp_path):
    store = open_store(tmp_path / "data", store_url)
    ids = [_job(store, max_queue=3) for _ in range(3)]
    with pytest.raises(QueueFull):
        _job(store, max_queue=3)
    a, b = store.claim("host:1:a", lease=30), store.claim("host:2:b", lease=-1)
    assert (a.id, b.id) == (ids[0], ids[1])
    store.progress(a.id, 0.5, "partitioning")
    store.progress(a.id, 0.2, "later")
    assert store.get(a.id).progress == 0.5 and store.get(a.id).stage == "later"
    assert store.running_owners() == {"host:1:a", "host:2:b"}
    assert sorted(store.reclaim(["host:1:a"])[0]) == sorted(ids[:2])
    again = store.claim("host:3:c", lease=-1)
    assert again.id == ids[0] and again.attempts == 2
    assert not store.succeed(again.id, {}, {}, owner="host:1:a")
    assert not store.fail(again.id, "Killed", "late", owner="host:1:a")
    assert store.reclaim() == ([], [ids[0]])
    failed = store.get(ids[0])
    assert failed.status == "failed" and failed.error_type == "Interrupted"
    assert not store.succeed(ids[0], {}, {})
    job = store.claim("host:4:d", lease=30)
    assert store.release(job.id, "host:4:d") and store.get(job.id).attempts == job.attempts - 1
    assert not store.release(job.id, "host:4:d")
    info = store.queue_info()
    assert info.counts == {"queued": 2, "running": 0, "succeeded": 0, "failed": 1}
    assert info.oldest_queued_at is not None and MAX_ATTEMPTS == 2


def test_schema_version_is_recorded_and_a_newer_one_refused(postgres):
    schema = new_schema()
    url = postgres.url(f"?schema={schema}")
    Database(url)
    Database(url)  # a second start migrates nothing
    version = postgres.admin(f"SELECT value FROM {schema}.meta WHERE key = 'schema_version'")
    assert version == str(SCHEMA_VERSION)
    postgres.admin(f"UPDATE {schema}.meta SET value = '{SCHEMA_VERSION + 1}'")
    with pytest.raises(
        DatabaseError, match=r"schema version 2, newer than this gridgeo knows \(1\)"
    ) as err:
        Database(url)
    assert "upgrade gridgeo" in str(err.value) and schema in str(err.value)
    with pytest.raises(InputError, match="not a table or a query"):
        Database(postgres.url("?table=base.roads"))


def test_hostile_schema_names_are_refused_or_quoted(postgres):
    postgres.admin("CREATE TABLE IF NOT EXISTS canary (x int)")
    hostile = 'x"; DROP TABLE canary; --'
    with pytest.raises(InputError, match="invalid schema name"):
        Database(postgres.url(f"?schema={quote(hostile, safe='')}"))
    odd = f"x; DROP TABLE canary; -- {uuid.uuid4().hex[:6]}"
    db = Database(postgres.url(f"?schema={quote(odd, safe='')}"))
    assert db.schema == odd
    names = postgres.admin(
        f"SELECT count(*) FROM pg_tables WHERE schemaname = '{odd}' AND tablename = 'jobs'"
    )
    assert names == "1"
    assert postgres.admin("SELECT count(*) FROM canary") == "0"  # still there


def _snapshot(n_buildings=50, srid=4547, shift=0.0):
    rng = np.random.default_rng(1)
    grids = []
    for k in range(5):
        poly = shapely.box(k * 100 + shift, 0, k * 100 + 100.123456789, 100)
        grids.append(
            {
                "grid_id": f"G{k:04d}",
                "code": f"110105001001{k:03d}",
                "community_id": "C1",
                "note": "王大妈" if k == 0 else "",
                "locked": k == 1,
                "edited": k == 2,
                "wkb": shapely.to_wkb(poly, hex=True),
            }
        )
    return {
        "target": 300,
        "tolerance": 0.2,
        "srid": srid,
        "grids": grids,
        "building_grid": [f"G{k % 5:04d}" for k in range(n_buildings)],
        "households": rng.integers(0, 40, n_buildings).tolist(),
    }


def test_versions_in_postgis_round_trip_and_conflict(store_url, postgres):
    store = open_versions("unused", store_url)
    snap = _snapshot()
    assert store.head("wangjing") is None
    v1 = store.save("wangjing", snap, base=None, message="first")
    assert store.head("wangjing") == v1
    assert store.get("wangjing", v1) == snap  # every field, the polygons' WKB exactly
    with pytest.raises(VersionConflict):
        store.save("wangjing", snap, base=None)
    moved = _snapshot(shift=1.0)
    moved["building_grid"][:3] = ["G0004"] * 3
    v2 = store.save("wangjing", moved, base=v1, message="moved three")
    with pytest.raises(VersionConflict, match=f"version {v2} was saved after version {v1}"):
        store.save("wangjing", snap, base=v1)
    listed = store.list("wangjing")
    assert [(v["id"], v["parent"], v["message"]) for v in listed] == [
        (v1, None, "first"),
        (v2, v1, "moved three"),
    ]
    assert listed[0]["households"] == sum(snap["households"]) and listed[0]["grids"] == 5
    diff = compare(store.get("wangjing", v1), store.get("wangjing", v2))
    assert diff["buildings_moved"] == sum(
        a != b for a, b in zip(snap["building_grid"], moved["building_grid"], strict=True)
    )
    with pytest.raises(InputError, match="no version"):
        store.get("wangjing", v2 + 100)
    # the grids are PostGIS polygons with the plan's SRID, as QGIS opens them
    schema = store.db.schema
    srid, area = postgres.admin(
        f"SELECT ST_SRID(geom), round(ST_Area(geom)) FROM {schema}.plan_version_grids"
        f" WHERE version = {v1} AND ord = 0"
    ).split("|")
    assert (srid, area) == ("4547", str(round(shapely.from_wkb(snap["grids"][0]["wkb"]).area)))
