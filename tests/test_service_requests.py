"""Hostile and careless requests against a real server: malformed bodies, NaN and
deep nesting, unauthenticated uploads, forged Host headers, tokens on the command line;
and the service refusing what the command line refuses, through the same code."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
import shapely.affinity
from _service import (
    BUILDING_COLUMNS,
    TOKEN,
    PeakRSS,
    Server,
    fc,
    kouvola,
    submit,
    tiny_body,
    wait_job,
)

import gridgeo

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def layers():
    return kouvola()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server with a token (from GRIDGEO_TOKEN) and a 64 MiB body limit."""
    root = tmp_path_factory.mktemp("requests")
    s = Server(root / "data", "--max-upload-mb", "64", env={"GRIDGEO_TOKEN": TOKEN}).start()
    try:
        yield s.wait()
    finally:
        s.stop()


@pytest.fixture(scope="module")
def client(server):
    with server.client(Authorization=f"Bearer {TOKEN}") as c:
        yield c


def _post(client: httpx.Client, raw: bytes, path: str = "/jobs/partition") -> httpx.Response:
    return client.post(path, content=raw, headers={"content-type": "application/json"})


# ------------------------------------------------------------------- malformed bodies


def _streets(layers, n: int = 12) -> str:
    return json.dumps(fc(layers.streets.iloc[:n], ["highway"]))


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ('{"streets": S, "options": {"target": NaN}}', "options.target", "NaN and Infinity"),
        ('{"streets": S, "options": {"tolerance": Infinity}}', "options.tolerance", "NaN"),
        ('{"streets": S, "options": {"target": -Infinity}}', "options.target", "NaN"),
        ('{"streets": S, "options": {"target": 1e999}}', "options.target", "out of range"),
        ('{"options": {"target": 300}, "streets": S, "x": 1}', "x", "unknown field"),
        ('{"streets": S, "streets": S}', "streets", "given twice"),
        ('{"streets": S, "options": {"tagret": 3}}', "options.tagret", "Extra inputs"),
        ('{"streets": S, "options": {"lang": "fr"}}', "options.lang", "'en' or 'zh'"),
        ('{"streets": S, "options": {"random_state": 1.5}}', "options.random_state", "integer"),
        ('{"streets": S, "options": [1]}', "options", "must be an object"),
        ('{"streets": {"type": "FeatureCollection"}}', "streets.features", "required"),
        ('{"streets": {"type": "Feature", "features": []}}', "streets.type", "FeatureCollection"),
        (
            '{"streets": {"type": "FeatureCollection", "features": []}}',
            "streets.features",
            "no features",
        ),
        (
            '{"streets": {"type": "FeatureCollection", "features": [1]}}',
            "streets.features[0]",
            "Feature",
        ),
        ('{"streets": {"type": "FeatureCollection", "features": {}}}', "streets.features", "array"),
        ('{"streets": [], "options": {}}', "streets", "FeatureCollection"),
        ('{"buildings": null}', "streets", "required"),
        ("[1, 2]", "body", "JSON object"),
        ('{"streets": S', "body", "ends before"),
        ('{"streets": S} {"streets": S}', "body", "not valid JSON"),
        ("", "body", "ends before"),
        ("{'streets': 1}", "body", "not valid JSON"),
    ],
)
def test_malformed_bodies_answer_422_naming_the_field(client, layers, raw, field, words):
    r = _post(client, raw.replace("S", _streets(layers)).encode())
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == field and body["detail"].startswith(field + ":"), body
    assert words in body["detail"], body


def test_bad_features_are_named_with_their_index(client, layers):
    streets = json.loads(_streets(layers))
    for change, field, words in [
        ({"type": "Point"}, "streets.features[7].type", '"Feature"'),
        (
            {"geometry": {"type": "Circle", "coordinates": []}},
            "streets.features[7].geometry.type",
            "'Circle'",
        ),
        ({"geometry": {"type": "LineString"}}, "streets.features[7].geometry.coordinates", "array"),
        (
            {"geometry": {"type": "LineString", "coordinates": [[24.7, 60.8]]}},
            "streets.features[7].geometry",
            "cannot be read",
        ),
        ({"properties": [1, 2]}, "streets.features[7].properties", "object or null"),
        ({"id": {"a": 1}}, "streets.features[7].id", "string or a number"),
    ]:
        body = json.loads(json.dumps(streets))
        body["features"][7].update(change)
        if "geometry" in change and "coordinates" not in change["geometry"]:
            body["features"][7]["geometry"].pop("coordinates", None)
        r = _post(client, json.dumps({"streets": body}).encode())
        assert r.status_code == 422 and r.json()["field"] == field, (change, r.text)
        assert words in r.json()["detail"], r.text
    # Infinity inside the coordinates, and coordinates nested 900 deep
    text = _streets(layers)
    first = json.dumps(streets["features"][0]["geometry"]["coordinates"][0][0])
    r = _post(client, ('{"streets": ' + text.replace(first, "-Infinity", 1) + "}").encode())
    assert r.status_code == 422 and "NaN and Infinity" in r.json()["detail"]
    assert r.json()["field"].startswith("streets.features[0].geometry.coordinates[0]")
    deep = "[" * 900 + "1" + "]" * 900
    r = _post(client, ('{"streets": ' + text.replace(first, deep, 1) + "}").encode())
    assert r.status_code == 422 and "nested deeper than 32 levels" in r.json()["detail"]
    assert r.json()["field"].startswith("streets.features[0].geometry.coordinates[0][0][0]")
    r = _post(client, ('{"options": ' + "[" * 900 + "]" * 900 + "}").encode())
    assert r.status_code == 422 and r.json()["field"].startswith("options")


def test_non_finite_form_fields_and_bad_content_types(client, layers, tmp_path):
    gpkg = tmp_path / "in.gpkg"
    layers.streets[["highway", "geometry"]].to_file(gpkg, layer="streets", engine="pyogrio")
    for field, value in [("target", "NaN"), ("tolerance", "inf"), ("target", "-Infinity")]:
        r = client.post(
            "/jobs/partition/upload",
            files={"file": ("x.gpkg", gpkg.read_bytes())},
            data={field: value},
        )
        assert r.status_code == 422 and r.json()["field"] == field, r.text
    r = client.post("/jobs/partition", content=b"streets=1", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["detail"]


# -------------------------------------------------------------------------- the token


def test_unauthenticated_bodies_cost_nothing_and_status_stays_fast(server, client, layers):
    """No token: 401 before the body is read, less than 2x its size in memory. With
    the token: a large body is parsed in a thread, in a fraction of its size, while
    /health keeps answering."""
    big = {
        "streets": fc(layers.streets, ["highway"]),
        "buildings": {
            "type": "FeatureCollection",
            "features": fc(layers.buildings, BUILDING_COLUMNS)["features"] * 8,
        },
        "options": {"map": False, "target": 1_000_000},
    }
    raw = json.dumps(big).encode()
    assert len(raw) > 5 * MiB
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=server.url, trust_env=False, timeout=120) as anonymous:
        anonymous.get("/health")
        for _ in range(3):
            with PeakRSS(server.proc.pid) as rss:
                r = anonymous.post("/jobs/partition", content=raw, headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            assert r.json()["detail"].startswith("missing or wrong API token")
            assert rss.growth < 2 * len(raw), rss.growth / MiB
        r = anonymous.post("/jobs/partition", content=raw, headers={**headers, "X-API-Token": "no"})
        assert r.status_code == 401

    latencies: list[float] = []
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=server.url, trust_env=False, timeout=30) as c:
            while not done.is_set():
                t0 = time.perf_counter()
                assert c.get("/health").status_code == 200
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.02)

    poller = threading.Thread(target=poll)
    with PeakRSS(server.proc.pid) as rss:
        poller.start()
        try:
            job = submit(client, "/jobs/partition", content=raw, headers=headers)
        finally:
            done.set()
            poller.join()
    assert rss.growth < 2 * len(raw), rss.growth / MiB  # streamed, never held whole
    assert len(latencies) >= 5 and statistics.median(latencies) < 0.1, latencies
    assert wait_job(client, job["id"])["status"] == "succeeded"


def test_token_from_the_environment_a_file_or_with_a_warning_the_command_line(server, tmp_path):
    # GRIDGEO_TOKEN (the module's server; test_service's guarded server reads --token-file)
    with server.client() as c:
        assert c.get("/jobs").status_code == 401
        assert c.get("/jobs", headers={"X-API-Token": TOKEN}).status_code == 200
    assert "visible to every user" not in server.log_text()

    def serve(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "gridgeo.service", "--data-dir", str(tmp_path / "d")]
        return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60)

    # --token on the command line: a warning (the settings are refused here: port 0)
    run = serve("--token", TOKEN, "--port", "0")
    assert run.returncode == 2 and "--token is visible to every user" in run.stderr
    assert "port must be between 1 and 65535" in run.stderr
    empty = tmp_path / "empty"
    empty.write_text("\n")
    run = serve("--token-file", str(empty))
    assert run.returncode == 2 and f"the token file {empty} is empty" in run.stderr
    run = serve("--token-file", str(tmp_path / "missing"))
    assert run.returncode == 2 and "cannot read the token file" in run.stderr
    run = serve("--token-file", str(empty), "--token", TOKEN)
    assert run.returncode == 2 and "not both" in run.stderr


# ---------------------------------------------------------------------------- links


def test_host_header_does_not_reach_the_links(server, client, layers, tmp_path):
    forged = {"Host": "evil.example"}
    r = client.post("/jobs/partition", json=tiny_body(layers), headers=forged)
    assert r.status_code == 202 and "evil" not in r.headers["location"]
    job = wait_job(client, r.json()["id"])
    for path in (f"/jobs/{job['id']}", "/jobs"):
        answer = client.get(path, headers=forged)
        assert answer.status_code == 200 and "evil" not in answer.text
    here = f"{server.url}/jobs/{job['id']}"
    listed = client.get("/jobs").json()["jobs"][0]
    for status, base in ((job, here), (listed, f"{server.url}/jobs")):
        urls = {link["name"]: urljoin(base, link["url"]) for link in status["results"]}
        assert urls["geojson"] == f"{here}/results/geojson", urls
    assert client.get(urls["summary"]).json()["n_grids"] == job["summary"]["n_grids"]
    # behind a proxy: links from --public-url
    public = Server(tmp_path / "data", "--public-url", "https://gis.example.org/gridgeo/")
    try:
        with public.start().wait().client() as c:
            r = c.post("/jobs/partition", json=tiny_body(layers), headers=forged)
            assert r.headers["location"] == f"https://gis.example.org/gridgeo/jobs/{r.json()['id']}"
            done = wait_job(c, r.json()["id"])
    finally:
        public.stop()
    assert {link["url"] for link in done["results"]} == {
        f"https://gis.example.org/gridgeo/jobs/{done['id']}/results/{name}"
        for name in ("geojson", "gpkg", "summary")
    }


# ------------------------------------------------------------- the same checks as the CLI


def _cli(tmp_path: Path, streets, buildings) -> subprocess.CompletedProcess:
    streets.to_file(tmp_path / "streets.geojson", engine="pyogrio")
    buildings.to_file(tmp_path / "buildings.geojson", engine="pyogrio")
    cmd = [str(Path(sys.executable).with_name("gridgeo")), "partition"]
    cmd += ["--streets", "streets.geojson"]
    cmd += ["--buildings", "buildings.geojson", "--out", "out", "--target", "1000"]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_the_service_refuses_what_the_command_line_refuses(client, layers, tmp_path):
    """Jobs run gridgeo.partition, as the CLI does: its refusals come back as the job's
    error, word for word; what it accepts, the service plans alike."""
    body = tiny_body(layers)
    streets = gridgeo.read_layer(_write(tmp_path / "s.json", body["streets"]), name="streets")
    houses = gridgeo.read_layer(_write(tmp_path / "b.json", body["buildings"]), name="buildings")
    far = houses.copy()  # one building 7,000 km from its streets (moved 63° south)
    far.loc[far.index[0], "geometry"] = shapely.affinity.translate(far.geometry.iloc[0], yoff=-63)
    cases = {
        "polygons as streets": (houses[["geometry"]], houses),
        "a building 7,000 km away": (streets, far),
    }
    for name, (s, b) in cases.items():
        folder = tmp_path / name.replace(" ", "_").replace(",", "")
        folder.mkdir()
        cli = _cli(folder, s, b)
        job = submit(
            client,
            "/jobs/partition",
            json={
                "streets": json.loads(s.to_json(drop_id=True)),
                "buildings": json.loads(b.to_json(drop_id=True)),
                "options": {"target": 1000, "map": False},
            },
        )
        job = wait_job(client, job["id"])
        if name == "polygons as streets":
            assert cli.returncode == 2, cli.stderr
        if cli.returncode == 0:  # accepted by both: the same plan
            summary = json.loads((folder / "out" / "summary.json").read_text())
            assert job["status"] == "succeeded", (name, job["error"])
            assert job["summary"]["households"] == summary["households"]
            assert job["summary"]["n_grids"] == summary["n_grids"]
        else:  # refused by both, with the same message
            assert cli.returncode == 2, cli.stderr
            assert job["status"] == "failed", name
            assert f"gridgeo: error: {job['error']['message']}" in cli.stderr, (name, cli.stderr)


def _write(path: Path, collection: dict) -> Path:
    path.write_text(json.dumps(collection))
    return path
