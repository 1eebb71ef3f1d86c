"""The workbench under ``gridgeo serve``: mounted at / next to the job API, the token
guarding its /api, plans opened from the data directory and from uploads (a gridgeo
GeoPackage, a zipped plan folder, a city's own grids with their buildings), rebalance
without streets, compare with the changed buildings, exports (audit included)."""

from __future__ import annotations

import io
import json
import shutil
import zipfile

import geopandas as gpd
import numpy as np
import pytest
from _workbench_data import boundary_moves, n_grids, write_wangjing
from fastapi.testclient import TestClient

from gridgeo.service import ServiceConfig, create_app
from gridgeo.workbench import EditRefused, Session

TOKEN = "workbench-token-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    write_wangjing(root / "plans" / "wangjing", streets=True)
    return root


@pytest.fixture(scope="module")
def client(data_dir):
    with TestClient(create_app(ServiceConfig(data_dir, token=TOKEN))) as c:
        yield c


def _job(data_dir):
    """A finished partition job's results (the Wangjing plan) in the data directory."""
    job = data_dir / "jobs" / ("ab" * 16) / "results"
    job.mkdir(parents=True, exist_ok=True)
    for name in ("grids.gpkg", "summary.json"):
        shutil.copy(data_dir / "plans" / "wangjing" / name, job / name)


def test_serve_mounts_the_workbench_behind_the_token(tmp_path):
    with TestClient(create_app(ServiceConfig(tmp_path, token=TOKEN))) as client:
        _mounted(client)


def _mounted(client):
    page = client.get("/")
    assert page.status_code == 200 and "workbench.js" in page.text
    assert client.get("/static/workbench.js").status_code == 200  # the page needs no token
    assert client.get("/static/leaflet.js").status_code == 200
    assert client.get("/api/plan").status_code == 401
    assert client.post("/api/open", json={"source": "plans/wangjing"}).status_code == 401
    assert client.get("/health").status_code in (200, 503)
    state = client.get("/api/plan", headers=AUTH).json()
    assert state == {"open": False, "jobs": True, "sources": True}
    assert (
        client.post("/api/move", json={"buildings": [0], "to": "G0001"}, headers=AUTH).status_code
        == 409
    )
    assert client.get("/api/export.geojson", headers=AUTH).status_code == 409


def test_open_from_the_data_directory(client, data_dir):
    listed = client.get("/api/sources", headers=AUTH).json()["sources"]
    plans = [s for s in listed if s["kind"] == "plan"]
    assert plans[0]["source"] == "plans/wangjing" and plans[0]["grids"] == n_grids()
    for bad in ("../etc", "plans/..", "plans/none", "/etc/passwd", "jobs/0000"):
        r = client.post("/api/open", json={"source": bad}, headers=AUTH)
        assert r.status_code == 422 and "GET /api/sources" in r.json()["detail"], bad
    state = client.post("/api/open", json={"source": "plans/wangjing"}, headers=AUTH).json()
    assert state["open"] and state["plan"] == "plans/wangjing" and state["streets"]
    assert len(state["grids"]["features"]) == n_grids()
    props = state["grids"]["features"][0]["properties"]
    assert props["neighbours"] and all(isinstance(g, str) for g in props["neighbours"])
    streets = client.get("/api/streets", headers=AUTH).json()
    assert len(streets["features"]) > 100
    assert {f["geometry"]["type"] for f in streets["features"]} <= {"LineString", "MultiLineString"}
    # a finished partition job's plan is a source too
    _job(data_dir)
    listed = client.get("/api/sources", headers=AUTH).json()["sources"]
    assert listed[0] == {
        "source": "jobs/" + "ab" * 16,
        "kind": "job",
        "name": "abababab",
        "grids": n_grids(),
        "households": state["households"],
    }
    assert client.post("/api/open", json={"source": listed[0]["source"]}, headers=AUTH).json()[
        "open"
    ]


def test_compare_shows_the_changed_buildings_and_revert(client):
    client.post("/api/open", json={"source": "plans/wangjing"}, headers=AUTH)
    v1 = client.post(
        "/api/save",
        json={"base": client.get("/api/versions", headers=AUTH).json()["base"]},
        headers=AUTH,
    ).json()["version"]
    s = Session.open(client.app.state.config.data_dir / "plans" / "wangjing")
    for piece, to in boundary_moves(s):
        try:
            s.move(piece, to)
        except EditRefused:
            continue
        break
    r = client.post("/api/move", json={"buildings": piece.tolist(), "to": to}, headers=AUTH)
    assert r.status_code == 200
    d = client.get(f"/api/compare?a={v1}", headers=AUTH).json()  # against the plan as it stands
    assert d["buildings_moved"] == len(piece)
    assert sorted(f["properties"]["i"] for f in d["changed"]["features"]) == sorted(piece.tolist())
    assert {f["properties"]["to"] for f in d["changed"]["features"]} == {to}
    v2 = client.post("/api/save", json={"base": v1}, headers=AUTH).json()["version"]
    assert client.get(f"/api/compare?a={v1}&b={v2}", headers=AUTH).json()["buildings_moved"] == len(
        piece
    )
    back = client.post(f"/api/versions/{v1}/revert", headers=AUTH).json()
    assert back["base"] == v2 + 1
    assert (
        client.get(f"/api/compare?a={v1}&b={v2 + 1}", headers=AUTH).json()["buildings_moved"] == 0
    )


def test_exports_of_the_current_version(client):
    client.post("/api/open", json={"source": "plans/wangjing"}, headers=AUTH)
    audit = client.get("/api/audit.json", headers=AUTH).json()
    assert (
        audit["grids"] == n_grids() and audit["uncovered_buildings"] == 0 and audit["overlaps"] == 0
    )
    csv = client.get("/api/audit.csv?lang=en", headers=AUTH)
    assert csv.status_code == 200 and csv.text.lstrip("\ufeff").startswith("序号 No.")
    gpkg = client.get("/api/export.gpkg", headers=AUTH)
    assert gpkg.content.startswith(b"SQLite format 3\x00")
    shp = zipfile.ZipFile(io.BytesIO(client.get("/api/export.shp.zip", headers=AUTH).content))
    assert {n.rsplit(".", 1)[1] for n in shp.namelist()} >= {"shp", "dbf", "shx", "prj", "cpg"}
    staffing = client.get("/api/staffing.csv", headers=AUTH).text.lstrip("\ufeff")
    assert staffing.splitlines()[0].startswith("grid_id,code,community_id,households")
    assert len(staffing.splitlines()) == n_grids() + 1
    png = client.get("/api/map.png?lang=en", headers=AUTH)
    assert png.content.startswith(b"\x89PNG")
    assert client.get("/api/audit.xml", headers=AUTH).status_code == 404
    names = [b["name"] for b in client.get("/api/basemaps", headers=AUTH).json()["basemaps"]]
    assert names[:2] == ["none", "osm"] and "gaode" not in names


def test_upload_a_gridgeo_geopackage_and_a_zipped_folder(client, data_dir):
    gpkg = client.get("/api/export.gpkg", headers=AUTH).content  # the plan with its streets
    r = client.post("/api/open/upload", files={"plan": ("mine.gpkg", gpkg)}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["plan"].startswith("uploads/") and r.json()["streets"]
    again = client.post("/api/open/upload", files={"plan": ("mine.gpkg", gpkg)}, headers=AUTH)
    assert again.json()["plan"] == r.json()["plan"]  # same file, same plan: its versions
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for p in (data_dir / "plans" / "wangjing").iterdir():
            z.write(p, f"wangjing/{p.name}")
    r = client.post("/api/open/upload", files={"plan": ("plan.zip", buf.getvalue())}, headers=AUTH)
    assert r.status_code == 200 and len(r.json()["grids"]["features"]) == n_grids()
    listed = {s["source"]: s for s in client.get("/api/sources", headers=AUTH).json()["sources"]}
    assert (
        listed[r.json()["plan"]]["kind"] == "upload"
        and listed[r.json()["plan"]]["name"] == "plan.zip"
    )
    assert listed[again.json()["plan"]]["name"] == "mine.gpkg"
    for data, why in ((b"garbage", "neither"), (b"PK\x03\x04broken", "")):
        bad = client.post("/api/open/upload", files={"plan": ("x", data)}, headers=AUTH)
        assert bad.status_code == 422 and why in bad.json()["detail"]
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../escape.txt", "x")
    bad = client.post("/api/open/upload", files={"plan": ("e.zip", evil.getvalue())}, headers=AUTH)
    assert bad.status_code == 422 and "outside" in bad.json()["detail"]
    assert not (data_dir / "escape.txt").exists()


def test_city_grids_with_buildings_rebalance_without_streets(client, data_dir, tmp_path):
    """A city's own grid polygons (id column ``id``, nothing else) and its buildings
    (households in ``HH``, no grid): opened, one grid overloaded, rebalanced with no
    streets layer; households conserved, locked grid kept, all grids in band."""
    folder = data_dir / "plans" / "wangjing"
    grids = gpd.read_file(folder / "grids.gpkg", layer="grids")
    grids = grids[["grid_id", "geometry"]].rename(columns={"grid_id": "id"})
    b = gpd.read_file(folder / "grids.gpkg", layer="buildings")
    heavy = b["grid_id"] == grids["id"].iloc[5]
    hh = b["households"].to_numpy().copy()
    hh[heavy.to_numpy()] = np.round(hh[heavy.to_numpy()] * 1.6)
    b = gpd.GeoDataFrame({"HH": hh}, geometry=b.geometry, crs=b.crs)
    grids.to_file(tmp_path / "city.geojson", driver="GeoJSON")
    b.to_file(tmp_path / "b.gpkg", layer="buildings", driver="GPKG")
    files = {
        "plan": ("city.geojson", (tmp_path / "city.geojson").read_bytes()),
        "buildings": ("b.gpkg", (tmp_path / "b.gpkg").read_bytes()),
    }
    r = client.post("/api/open/upload", files=files, data={"households_column": "HH"}, headers=AUTH)
    assert r.status_code == 200, r.text
    state = r.json()
    assert not state["streets"] and state["households"] == int(hh.sum())
    before = {f["properties"]["grid_id"]: f["properties"] for f in state["grids"]["features"]}
    assert before[grids["id"].iloc[5]]["out_of_band"]
    keep = next(g for g, p in before.items() if not p["out_of_band"])
    client.post("/api/lock", json={"grids": [keep]}, headers=AUTH)
    out = client.post("/api/rebalance", headers=AUTH).json()
    after = {f["properties"]["grid_id"]: f["properties"] for f in out["grids"]["features"]}
    assert out["households"] == int(hh.sum())
    assert after[keep]["households"] == before[keep]["households"] and after[keep]["locked"]
    assert out["result"]["out_of_band_after"] == 0
    # what stays out of band is what no redraw can fix: a grid of one building over
    # the band, or grids gridgeo's own plan could not bring into band (the engine
    # counts them as indivisible)
    off = [p for p in after.values() if p["out_of_band"]]
    assert len(off) <= out["result"]["indivisible_grids"]
    assert not any(p["locked"] for p in off)
    assert after[grids["id"].iloc[5]]["households"] < before[grids["id"].iloc[5]]["households"]
    missing = client.post(
        "/api/open/upload",
        files={"plan": files["plan"], "buildings": files["buildings"]},
        data={"households_column": "nope"},
        headers=AUTH,
    )
    assert missing.status_code == 422 and "nope" in missing.json()["detail"]
    geo = json.loads(client.get("/api/export.geojson", headers=AUTH).text)
    assert sum(f["properties"]["households"] for f in geo["features"]) == int(hh.sum())


def test_edit_and_serve_keep_the_same_versions_of_a_plan(data_dir):
    """``gridgeo edit DATA_DIR/plans/NAME`` saves under the source name serve uses."""
    from gridgeo.workbench.api import Workbench
    from gridgeo.workbench.versions import VersionStore

    folder = data_dir / "plans" / "wangjing"
    for path in (folder, folder / "grids.gpkg"):
        bench = Workbench(Session.open(path), VersionStore(data_dir), data_dir=data_dir)
        assert bench.plan == "plans/wangjing"
    elsewhere = Workbench(Session.open(folder), VersionStore(data_dir))
    assert elsewhere.plan == str(folder.resolve())


def test_an_edit_for_a_plan_no_longer_open_is_refused(client, data_dir):
    _job(data_dir)
    client.post("/api/open", json={"source": "plans/wangjing"}, headers=AUTH)
    shown = {**AUTH, "X-Workbench-Plan": "plans/wangjing"}
    assert client.post("/api/undo", headers=shown).status_code == 200
    other = client.get("/api/sources", headers=AUTH).json()["sources"]
    job = next(s["source"] for s in other if s["kind"] == "job")
    client.post("/api/open", json={"source": job}, headers=shown)  # someone opens another
    r = client.post("/api/move", json={"buildings": [0], "to": "G0002"}, headers=shown)
    assert r.status_code == 409 and job in r.json()["detail"]
    assert client.get("/api/plan", headers=shown).status_code == 409
    assert client.get("/api/plan", headers=AUTH).json()["plan"] == job
