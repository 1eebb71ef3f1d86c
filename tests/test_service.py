"""The HTTP service, end to end: real uvicorn servers on 127.0.0.1, real Kouvola data.

Servers run as subprocesses (``python -m gridgeo.service``) on free loopback ports with
temporary data directories. No traffic leaves 127.0.0.1.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import urljoin

import fastapi  # noqa: F401  (the test extra installs it: a missing one must fail)
import pyogrio
import pytest
import schemathesis
import shapely
from _service import (
    BUILDING_COLUMNS,
    TOKEN,
    Server,
    fc,
    get,
    kouvola,
    submit,
    wait_job,
)
from hypothesis import HealthCheck, settings

import gridgeo
from gridgeo.service import ServiceConfig
from gridgeo.service.security import UploadError, extract_shapefiles


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """A plain server and a guarded one (token from a file, 1 MiB limit), side by side."""
    root = tmp_path_factory.mktemp("service")
    token_file = root / "token"
    token_file.write_text(TOKEN + "\n")
    plain = Server(root / "plain" / "data").start()
    guarded = Server(
        root / "guarded" / "data",
        "--token-file",
        str(token_file),
        "--max-upload-mb",
        "1",
        "--max-queue",
        "100000",
    ).start()
    try:
        yield {"plain": plain.wait(), "guarded": guarded.wait()}
    finally:
        plain.stop()
        guarded.stop()


@pytest.fixture(scope="module")
def plain(servers):
    with servers["plain"].client() as c:
        yield c


@pytest.fixture(scope="module")
def guarded(servers):
    with servers["guarded"].client(Authorization=f"Bearer {TOKEN}") as c:
        yield c


@pytest.fixture(scope="module", name="kouvola")
def _kouvola():
    return kouvola()


# ------------------------------------------------------------------------ end to end


def test_partition_then_audit_through_http(plain, kouvola, tmp_path):
    body = {
        "streets": fc(kouvola.streets, ["highway"]),
        "buildings": fc(kouvola.buildings, BUILDING_COLUMNS),
        "options": {"target": 300, "random_state": 0},
    }
    job = submit(plain, "/jobs/partition", json=body)
    assert job["status"] in ("queued", "running") and job["kind"] == "partition"
    done = wait_job(plain, job["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["progress"] == 1 and done["stage"] == "done"
    sent = kouvola.buildings[[*BUILDING_COLUMNS, "geometry"]]  # no shop/office … tags
    local = gridgeo.partition(kouvola.streets, sent, target=300, random_state=0)
    assert done["summary"]["n_grids"] == len(local.grids)
    assert done["summary"]["households"] == int(local.grids.households.sum())
    assert {r["name"] for r in done["results"]} == {"geojson", "gpkg", "map", "summary"}
    # links are relative to the request's path: they resolve to the results
    here = f"{str(plain.base_url).rstrip('/')}/jobs/{job['id']}"
    links = {r["name"]: urljoin(here, r["url"]) for r in done["results"]}
    assert links["geojson"] == f"{here}/results/geojson"

    geo = plain.get(links["geojson"])
    assert geo.status_code == 200 and geo.headers["content-type"] == "application/geo+json"
    grids = geo.json()
    assert len(grids["features"]) == done["summary"]["n_grids"]
    gpkg = plain.get(f"/jobs/{job['id']}/results/gpkg")
    (tmp_path / "plan.gpkg").write_bytes(gpkg.content)
    assert {str(row[0]) for row in pyogrio.list_layers(tmp_path / "plan.gpkg")} == {
        "grids",
        "buildings",
    }
    page = plain.get(f"/jobs/{job['id']}/results/map")
    assert page.headers["content-type"].startswith("text/html") and b"leaflet" in page.content
    assert "sandbox" in page.headers["content-security-policy"]
    assert plain.get(f"/jobs/{job['id']}/results/summary").json()["n_grids"] == len(local.grids)
    assert plain.get(f"/jobs/{job['id']}/results/csv").status_code == 404  # audits only

    # audit the plan with its first grid left out: its households are uncovered
    grids["features"] = grids["features"][1:]
    audit_body = {
        "grids": grids,
        "buildings": body["buildings"],
        "streets": body["streets"],
        "options": {"map": False},
    }
    job = submit(plain, "/jobs/audit", json=audit_body)
    done = wait_job(plain, job["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["summary"]["grids"] == len(local.grids) - 1
    assert done["summary"]["uncovered_households"] > 0
    assert {r["name"] for r in done["results"]} == {"geojson", "gpkg", "summary", "csv"}
    csv = plain.get(f"/jobs/{job['id']}/results/csv")
    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
    findings = plain.get(f"/jobs/{job['id']}/results/geojson").json()
    assert "uncovered_zones" in {f["properties"]["layer"] for f in findings["features"]}
    assert plain.get(f"/jobs/{job['id']}/results/map").status_code == 404  # map=False

    listed = plain.get("/jobs", params={"status": "succeeded"}).json()
    assert job["id"] in [j["id"] for j in listed["jobs"]]


def test_uploads_geopackage_and_zipped_shapefile(servers, plain, kouvola, tmp_path):
    gpkg = tmp_path / "in.gpkg"
    kouvola.streets[["highway", "geometry"]].to_file(gpkg, layer="roads", engine="pyogrio")
    kouvola.buildings[[*BUILDING_COLUMNS, "geometry"]].to_file(
        gpkg, layer="buildings", engine="pyogrio"
    )
    with open(gpkg, "rb") as f:
        job = submit(
            plain,
            "/jobs/partition/upload",
            files={"file": ("whatever.bin", f)},
            data={"streets_layer": "roads", "target": "300", "map": "false"},
        )
    gpkg_job = wait_job(plain, job["id"])
    assert gpkg_job["status"] == "succeeded", gpkg_job["error"]
    assert "map" not in {r["name"] for r in gpkg_job["results"]}

    shp = tmp_path / "shp"
    shp.mkdir()
    kouvola.streets[["highway", "geometry"]].to_file(shp / "streets.shp", engine="pyogrio")
    houses = kouvola.buildings.iloc[::3]
    houses[["building", "geometry"]].to_file(shp / "houses.shp", engine="pyogrio")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(shp.iterdir()):
            zf.write(p, f"data/{p.name}")
    job = submit(
        plain,
        "/jobs/partition/upload",
        files={"file": ("x.zip", archive.getvalue())},
        data={"buildings_layer": "houses", "map": "false"},
    )
    zip_job = wait_job(plain, job["id"])
    assert zip_job["status"] == "succeeded", zip_job["error"]
    assert zip_job["summary"]["buildings"] == len(houses)

    # audit upload: the plan's own GeoPackage (layers grids and buildings) covers everything
    plan_gpkg = plain.get(f"/jobs/{gpkg_job['id']}/results/gpkg").content
    audit_job = submit(
        plain,
        "/jobs/audit/upload",
        files={"file": ("plan", plan_gpkg)},
        data={"households_column": "households", "map": "false"},
    )
    audited = wait_job(plain, audit_job["id"])
    assert audited["status"] == "succeeded", audited["error"]
    assert audited["summary"]["uncovered_buildings"] == 0 and audited["summary"]["gaps"] == 0
    assert audited["summary"]["households"] == gpkg_job["summary"]["households"]

    # a layer that is not there: 422 naming the layers
    with open(gpkg, "rb") as f:
        r = plain.post("/jobs/partition/upload", files={"file": ("a.gpkg", f)})
    assert r.status_code == 422 and "'roads'" in r.json()["detail"]
    r = plain.post(
        "/jobs/partition/upload", files={"file": ("a.txt", b"hello")}, data={"target": "300"}
    )
    assert r.status_code == 415
    r = plain.post(
        "/jobs/partition/upload",
        files={"file": ("a.zip", archive.getvalue())},
        data={"tagret": "1"},
    )
    assert r.status_code == 422 and "tagret" in r.json()["detail"]

    # the job's inputs are gone once it finished; its results stay until deleted
    job_dir = servers["plain"].data_dir / "jobs" / job["id"]
    assert not (job_dir / "inputs").exists() and (job_dir / "results" / "grids.gpkg").is_file()
    assert plain.delete(f"/jobs/{job['id']}").status_code == 204
    assert plain.get(f"/jobs/{job['id']}").status_code == 404
    assert not job_dir.exists()


def test_clear_4xx_errors(plain, kouvola):
    streets = fc(kouvola.streets.iloc[:20], ["highway"])
    r = plain.post("/jobs/partition", json={"streets": {"type": "Feature"}})
    assert r.status_code == 422 and r.json()["field"] == "streets.type"
    r = plain.post("/jobs/partition", json={"streets": streets, "options": {"target": -1}})
    assert r.status_code == 422 and r.json()["field"] == "options.target"
    assert "target must be a positive number, got -1" in r.json()["detail"]  # the CLI's words
    r = plain.post("/jobs/partition", json={"streets": streets, "options": {"tagret": 3}})
    assert r.status_code == 422 and r.json()["field"] == "options.tagret"
    bad = json.loads(json.dumps(streets))
    bad["features"][0]["geometry"]["coordinates"] = [[1e9, 1e9], [1e9 + 1, 1e9]]
    r = plain.post("/jobs/partition", json={"streets": bad})
    assert r.status_code == 422 and "input_crs" in r.json()["detail"]
    bad["features"][0]["geometry"]["coordinates"] = [[1]]
    r = plain.post("/jobs/partition", json={"streets": bad})
    assert r.status_code == 422 and r.json()["field"] == "streets.features[0].geometry"
    assert "cannot be read" in r.json()["detail"]
    junk = b"SQLite format 3\x00" + bytes(range(256)) * 8
    r = plain.post("/jobs/audit/upload", files={"file": ("x.gpkg", junk)})
    assert r.status_code == 422 and "GeoPackage" in r.json()["detail"]
    assert plain.get("/jobs/" + "0" * 32).status_code == 404
    assert plain.get("/jobs/../../etc/passwd").status_code == 404
    assert plain.get("/jobs/not-a-job-id").status_code == 422
    assert plain.get("/jobs/" + "0" * 32 + "/results/secret").status_code == 422

    # a job whose error only shows when it runs: failed, with the message
    job = submit(
        plain,
        "/jobs/partition",
        json={"streets": streets, "options": {"households_column": "hh"}},
    )
    done = wait_job(plain, job["id"])
    assert done["status"] == "failed" and done["error"]["type"] == "InputError"
    assert "buildings" in done["error"]["message"]
    r = plain.get(f"/jobs/{job['id']}/results/geojson")
    assert r.status_code == 409 and "failed" in r.json()["detail"]


def test_messy_buildings_through_http(plain, kouvola):
    """The service runs the same first stage as partition (#15): a register of points
    with households is a plan; swapped coordinates fail with the fix."""
    streets = fc(kouvola.streets, ["highway"])
    points = kouvola.buildings.assign(hh=4).set_geometry(
        kouvola.buildings.geometry.representative_point()
    )
    body = {"streets": streets, "buildings": fc(points, ["hh"])}
    job = submit(plain, "/jobs/partition", json={**body, "options": {"households_column": "hh"}})
    done = wait_job(plain, job["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["summary"]["households"] == 4 * len(points)
    swapped = kouvola.buildings.set_geometry(
        shapely.transform(kouvola.buildings.geometry.values, lambda xy: xy[:, ::-1])
    )
    job = submit(plain, "/jobs/partition", json={**body, "buildings": fc(swapped, [])})
    done = wait_job(plain, job["id"])
    assert done["status"] == "failed" and done["error"]["type"] == "InputError"
    assert "look swapped" in done["error"]["message"]


def test_token_required_and_loopback_only_without_one(servers, guarded):
    url = servers["guarded"].url
    assert get(url + "/health").status_code == 200
    assert get(url + "/jobs").status_code == 401
    r = get(url + "/jobs", headers={"Authorization": "Bearer wrong-token-000"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert get(url + "/jobs", headers={"X-API-Token": TOKEN}).status_code == 200
    assert guarded.get("/jobs").status_code == 200
    with pytest.raises(gridgeo.InputError, match="without an API token"):
        ServiceConfig(Path("unused"), host="0.0.0.0", token=None).check()
    ServiceConfig(Path("unused"), host="0.0.0.0", token=TOKEN).check()
    # the command refuses before binding anything
    import argparse

    from gridgeo.cli.serve import add_parser, run

    sub = argparse.ArgumentParser().add_subparsers()
    args = add_parser(sub).parse_args(["--host", "192.0.2.1", "--data-dir", "unused"])
    env = os.environ.pop("GRIDGEO_TOKEN", None)
    try:
        with pytest.raises(gridgeo.InputError, match="refusing to listen on 192.0.2.1"):
            run(args)
    finally:
        if env is not None:
            os.environ["GRIDGEO_TOKEN"] = env


def test_oversize_bodies_get_413(guarded):
    big = b"SQLite format 3\x00" + os.urandom(2 * 1024 * 1024)
    r = guarded.post("/jobs/partition/upload", files={"file": ("big.gpkg", big)})
    assert r.status_code == 413 and "limit is 1 MiB" in r.json()["detail"]
    payload = json.dumps(
        {"streets": {"type": "FeatureCollection", "features": []}, "x": "a" * 2**21}
    )
    r = guarded.post(
        "/jobs/partition", content=payload, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413

    def chunks():  # no Content-Length: counted while streaming
        for _ in range(40):
            yield b"a" * 65536

    r = guarded.post(
        "/jobs/partition", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


def _zip(members: dict[str, bytes], *, attrs: dict[str, int] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if attrs and name in attrs:
                info.external_attr = attrs[name] << 16
            zf.writestr(info, data)
    return buf.getvalue()


def test_zip_traversal_links_and_bombs_refused(plain, tmp_path):
    traversal = _zip({"../../evil.shp": b"x", "../../evil.dbf": b"x"})
    r = plain.post("/jobs/partition/upload", files={"file": ("t.zip", traversal)})
    assert r.status_code == 422 and "path traversal" in r.json()["detail"]
    absolute = _zip({"/tmp/evil.shp": b"x"})
    r = plain.post("/jobs/partition/upload", files={"file": ("t.zip", absolute)})
    assert r.status_code == 422 and "path traversal" in r.json()["detail"]
    link = _zip({"a.shp": b"/etc/passwd"}, attrs={"a.shp": 0o120777})
    r = plain.post("/jobs/partition/upload", files={"file": ("t.zip", link)})
    assert r.status_code == 422 and "symbolic link" in r.json()["detail"]
    bomb = _zip({"a.shp": b"\0" * (64 * 1024 * 1024), "a.dbf": b"", "a.shx": b""})
    assert len(bomb) < 1024 * 1024
    r = plain.post("/jobs/partition/upload", files={"file": ("b.zip", bomb)})
    assert r.status_code == 413 and "zip bomb" in r.json()["detail"]
    # unit level: the total limit, and a header that lies about its size
    many = _zip({f"l{i}.shp": os.urandom(300_000) for i in range(4)})
    with pytest.raises(UploadError, match="unpacks to"):
        extract_shapefiles(_write(tmp_path / "m.zip", many), tmp_path / "out", max_total=10**6)
    liar = bytearray(_zip({"a.shp": os.urandom(5000), "a.dbf": b"", "a.shx": b""}))
    pos = liar.find(b"PK\x01\x02")  # central directory of a.shp: declare 10 bytes
    liar[pos + 24 : pos + 28] = (10).to_bytes(4, "little")
    with pytest.raises(UploadError):
        extract_shapefiles(
            _write(tmp_path / "l.zip", bytes(liar)), tmp_path / "o2", max_total=10**9
        )
    assert not any((tmp_path.parent).glob("evil*"))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# -------------------------------------------------------------------------- fuzzing


def _openapi() -> dict:
    """The schema of the application, as the server builds it (no server needed)."""
    from gridgeo.service import create_app

    with tempfile.TemporaryDirectory() as d:
        return create_app(ServiceConfig(Path(d))).openapi()


OPENAPI = _openapi()
schema = schemathesis.openapi.from_dict(
    OPENAPI,
    config=schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": 20},
            "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        }
    ),
)


def test_served_schema_is_the_fuzzed_one(plain):
    assert plain.get("/openapi.json").json() == json.loads(json.dumps(OPENAPI))


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_openapi_no_server_errors(case, servers):
    """Generated requests for every operation against the real server: never a 5xx."""
    import requests
    from schemathesis.checks import not_a_server_error

    session = requests.Session()
    session.trust_env = False  # straight to 127.0.0.1, whatever proxy the environment names
    case.call_and_validate(
        session=session,
        base_url=servers["guarded"].url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        checks=[not_a_server_error],
        timeout=60,
    )
