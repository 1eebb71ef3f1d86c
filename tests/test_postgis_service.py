"""Several ``gridgeo serve`` processes on one PostgreSQL store (the real test cluster, no
mock): jobs shared and run once, plan versions saved once, and the faults — the database
unreachable at start, a connection lost in the middle of a job, a process killed in the
middle of a save — with the credentials never shown."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
import pytest
from _postgres import DATABASE, PASSWORD, USER
from _service import Server, free_port, kouvola, long_body, submit, tiny_body, wait_job
from _workbench_data import write_wangjing

from gridgeo._errors import InputError
from gridgeo.service.config import ServiceConfig
from gridgeo.workbench.versions import open_versions

HERE = Path(__file__).parent
SECRETS = (PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD))


@pytest.fixture(scope="module")
def bodies():
    return {"tiny": tiny_body(kouvola())}


def store(postgres, *, password: bool = True) -> tuple[str, str]:
    """A store URL on a fresh schema, and the application name its connections carry."""
    tag = f"gg-{uuid.uuid4().hex[:8]}"
    return postgres.url(f"?schema=s_{tag[3:]}&application_name={tag}", password=password), tag


def full_log(server: Server) -> str:
    if not server.log.closed:
        server.log.flush()
    return Path(server.log.name).read_text(errors="replace")


def no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def test_two_servers_one_store_list_run_once_and_download(postgres, bodies, tmp_path):
    url, _ = store(postgres)
    a = Server(tmp_path / "a" / "data", "--store", url).start()
    b = Server(tmp_path / "b" / "data", "--store", url).start()
    try:
        a.wait(), b.wait()
        with a.client() as ca, b.client() as cb, ThreadPoolExecutor(4) as pool:
            clients = [ca, cb] * 3
            subs = [pool.submit(submit, c, "/jobs/partition", json=bodies["tiny"]) for c in clients]
            ids = [f.result()["id"] for f in subs]
            for c in (ca, cb):  # a job submitted to either is listed by both
                listed = c.get("/jobs", params={"limit": 100}).json()
                assert {j["id"] for j in listed["jobs"]} == set(ids)
                assert sum(listed["counts"].values()) == len(ids)
            jobs = [wait_job(c, i, timeout=120) for c, i in zip(clients[::-1], ids, strict=True)]
            assert [j["status"] for j in jobs] == ["succeeded"] * len(ids), jobs
            for job in jobs:  # results download from both, the same bytes
                got = [c.get(f"/jobs/{job['id']}/results/gpkg") for c in (ca, cb)]
                assert [r.status_code for r in got] == [200, 200]
                assert got[0].content == got[1].content
                size = {r["name"]: r["bytes"] for r in job["results"]}["gpkg"]
                assert len(got[0].content) == size > 0
            answers = [c.get(p).text for c in (ca, cb) for p in ("/health", "/jobs")]
            answers.append(ca.get("/openapi.json").text)
    finally:
        a.stop(), b.stop()
    logs = [full_log(a), full_log(b)]
    for job_id in ids:  # each ran exactly once, on one of the two
        assert sum(log.count(f"job {job_id} (partition) started") for log in logs) == 1
    schema = url.split("schema=")[1].split("&")[0]
    attempts = postgres.admin(f"SELECT DISTINCT attempts FROM {schema}.jobs")
    assert attempts == "1"
    no_secret(*logs, *answers)


def _serve(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "gridgeo.service", "--port", str(free_port()), *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def test_unreachable_or_refused_database_at_start_exits_2_without_the_password(postgres, tmp_path):
    closed = free_port()
    bad = f"postgresql://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{closed}/registry"
    out = _serve("--data-dir", str(tmp_path / "d1"), "--store", bad)
    assert out.returncode == 2, out.stderr
    line = out.stderr.strip().splitlines()[-1]
    assert line.startswith("gridgeo: error: cannot connect to PostgreSQL")
    assert f"'registry' on 127.0.0.1:{closed}" in line
    # a wrong password from PGPASSWORD: refused, named, never echoed
    wrong = "Wr0ng-" + uuid.uuid4().hex
    url, _ = store(postgres, password=False)
    out = _serve("--data-dir", str(tmp_path / "d2"), "--store", url, env={"PGPASSWORD": wrong})
    assert out.returncode == 2
    assert "password authentication failed" in out.stderr and f"'{DATABASE}' on" in out.stderr
    no_secret(out.stderr + out.stdout)
    assert wrong not in out.stderr + out.stdout and "Traceback" not in out.stderr
    with pytest.raises(InputError, match="--store takes a PostgreSQL URL"):
        ServiceConfig(tmp_path, store="/srv/jobs.sqlite").check()


def pgpass_env(postgres, home: Path) -> dict[str, str]:
    """A home folder whose ~/.pgpass holds the test cluster's password."""
    home.mkdir()
    escaped = PASSWORD.replace("\\", "\\\\").replace(":", "\\:")
    (home / ".pgpass").write_text(f"127.0.0.1:{postgres.port}:*:{USER}:{escaped}\n")
    (home / ".pgpass").chmod(0o600)
    return {"HOME": str(home), "PGPASSFILE": str(home / ".pgpass")}


def test_database_lost_mid_job_fails_that_job_and_the_service_goes_on(postgres, bodies, tmp_path):
    """The store's database goes away while a job runs (its connections terminated, new
    ones refused) and comes back: that job fails with the reason, requests meanwhile get
    503 saying why, the service keeps serving and runs new jobs once the database is back.
    The password comes from ~/.pgpass here; it is never logged or answered."""
    db = f"store_{uuid.uuid4().hex[:8]}"
    postgres.admin(f"CREATE DATABASE {db} OWNER {USER}", database="postgres")
    postgres.admin("CREATE EXTENSION postgis", database=db)
    url = postgres.url("?schema=gridgeo", password=False, database=db)
    server = Server(tmp_path / "data", "--store", url, env=pgpass_env(postgres, tmp_path / "h"))
    try:
        server.start().wait()
        with server.client() as c:
            job = submit(c, "/jobs/partition", json=long_body())
            end = time.monotonic() + 60
            while c.get(f"/jobs/{job['id']}").json()["status"] != "running":
                assert time.monotonic() < end
                time.sleep(0.05)
            postgres.admin(f"ALTER DATABASE {db} ALLOW_CONNECTIONS false", database="postgres")
            killed = postgres.admin(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                f"WHERE datname = '{db}'",
                database="postgres",
            )
            assert int(killed) >= 1
            down = [c.get("/health"), c.post("/jobs/partition", json=bodies["tiny"])]
            assert [r.status_code for r in down] == [503, 503], [r.text for r in down]
            assert all(f"'{db}' on 127.0.0.1" in r.json()["detail"] for r in down)
            end = time.monotonic() + 30  # at its next write (a lease renewal at the latest)
            while server.job_processes():  # the runner stops the job it cannot record
                assert time.monotonic() < end, full_log(server)
                time.sleep(0.1)
            postgres.admin(f"ALTER DATABASE {db} ALLOW_CONNECTIONS true", database="postgres")
            lost = wait_job(c, job["id"], timeout=60)
            assert c.get("/health").status_code == 200  # serving again
            after = wait_job(c, submit(c, "/jobs/partition", json=bodies["tiny"])["id"])
            answers = [r.text for r in down]
            answers += [c.get(p).text for p in ("/jobs", "/health", f"/jobs/{job['id']}")]
    finally:
        server.stop()
        postgres.admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", database="postgres")
    assert lost["status"] == "failed", (lost, full_log(server))
    assert lost["error"]["type"] == "StoreUnavailable"
    message = lost["error"]["message"]  # with the server's or libpq's reason after the colon
    assert message.startswith("the job was stopped: ")
    assert f"database '{db}' on 127.0.0.1:" in message
    assert message.endswith("; submit it again")
    assert after["status"] == "succeeded", (after, full_log(server))
    no_secret(full_log(server), message, *answers)


@pytest.fixture(scope="module")
def wangjing(tmp_path_factory):
    return write_wangjing(tmp_path_factory.mktemp("wangjing"))


def test_two_saves_from_one_version_through_two_processes_one_wins(postgres, wangjing, tmp_path):
    """Two ``gridgeo serve`` processes, each with its own data directory holding the same
    plan, one store: the workbench at / of either sees the other's versions; two saves
    from one version at once, exactly one wins, the other gets 409."""
    url, _ = store(postgres)
    servers = []
    for k in "ab":
        data = tmp_path / k / "data"
        shutil.copytree(wangjing, data / "plans" / "wangjing")
        servers.append(Server(data, "--store", url).start())
    try:
        for server in servers:
            server.wait()
        with httpx.Client(trust_env=False, timeout=60) as c:
            a, b = (server.url for server in servers)
            for base in (a, b):  # opened from the page's list of the data directory
                sources = [x["source"] for x in c.get(base + "/api/sources").json()["sources"]]
                assert "plans/wangjing" in sources, sources
                opened = c.post(base + "/api/open", json={"source": "plans/wangjing"})
                assert opened.status_code == 200, opened.text
            assert c.get(a + "/api/versions").json() == {"base": None, "versions": []}
            first = c.post(a + "/api/save", json={"base": None, "message": "a"})
            assert first.status_code == 200, first.text
            v1 = first.json()["version"]
            assert c.get(b + "/api/versions").json()["versions"][0]["id"] == v1  # shared
            # both open v1, edit differently, save from v1 at the same time
            for base in (a, b):
                assert c.post(base + f"/api/versions/{v1}/open").status_code == 200
            state = c.get(a + "/api/plan").json()
            grid = state["grids"]["features"][0]["properties"]["grid_id"]
            assert c.post(a + "/api/note", json={"grid": grid, "text": "from a"}).status_code == 200
            assert c.post(b + "/api/note", json={"grid": grid, "text": "from b"}).status_code == 200
            with ThreadPoolExecutor(2) as pool:
                saves = list(
                    pool.map(
                        lambda base: c.post(base + "/api/save", json={"base": v1, "message": base}),
                        (a, b),
                    )
                )
            codes = sorted(r.status_code for r in saves)
            assert codes == [200, 409], [r.text for r in saves]
            winner = next(r for r in saves if r.status_code == 200).json()["version"]
            loser = next(r for r in saves if r.status_code == 409)
            assert f"version {winner} was saved after version {v1}" in loser.json()["detail"]
            listed = c.get(b + "/api/versions").json()["versions"]
            assert [v["id"] for v in listed] == [v1, winner]
    finally:
        for server in servers:
            server.stop()
    no_secret(*(full_log(server) for server in servers))
    # the versions went to the database, not to either data directory
    assert not any((tmp_path / k / "data" / "workbench.sqlite").exists() for k in "ab")
    versions = open_versions("unused", url)
    notes = [
        {g["note"] for g in versions.get("plans/wangjing", v)["grids"]} - {""} for v in (v1, winner)
    ]
    assert notes[0] == set() and len(notes[1]) == 1 and notes[1] <= {"from a", "from b"}
    # the grids are PostGIS geometry in the plan's own metric CRS
    assert versions.get("plans/wangjing", v1).get("srid", 0) > 0


def test_a_process_killed_in_the_middle_of_a_save_leaves_no_version(postgres, wangjing):
    url, tag = store(postgres)
    versions = open_versions("unused", url)  # creates the schema
    schema = versions.db.schema
    conninfo = postgres.url(password=True)
    with psycopg.connect(conninfo) as hold:  # the save blocks on this lock, half written
        hold.execute(f'LOCK TABLE "{schema}".plan_version_grids IN ACCESS EXCLUSIVE MODE')
        cmd = [sys.executable, str(HERE / "_pg_workbench.py"), "--save", str(wangjing), url]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        end = time.monotonic() + 60
        waiting = "0"
        while waiting == "0":
            assert time.monotonic() < end and proc.poll() is None, proc.stdout.read()
            waiting = postgres.admin(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                f"'{tag}' AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO plan_version_grids%'"
            )
            time.sleep(0.05)
        proc.kill()
        proc.wait(10)
        hold.rollback()
    end = time.monotonic() + 30
    busy = f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{tag}' AND state <> 'idle'"
    while postgres.admin(busy) != "0":  # the killed client's backend has rolled back
        assert time.monotonic() < end
        time.sleep(0.05)
    counts = postgres.admin(
        f"SELECT (SELECT count(*) FROM {schema}.plan_versions), "
        f"(SELECT count(*) FROM {schema}.plan_version_grids), "
        f"(SELECT count(*) FROM {schema}.plans WHERE head IS NOT NULL)"
    )
    assert counts == "0|0|0"
    assert versions.head("wangjing") is None
    # the next save from "no version yet" is not refused: nothing half-saved is in the way
    saved = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert saved.stdout.split() == ["saving", "saved"], saved.stdout + saved.stderr
    assert len(versions.list("wangjing")) == 1
