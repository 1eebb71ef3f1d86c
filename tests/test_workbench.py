"""The workbench's edit session, versions and HTTP API on the bundled Wangjing plan.

Properties (hypothesis): whatever the planner does, households are conserved, every
grid stays one connected set of cells, and locked grids stay exactly as they were.
"""

from __future__ import annotations

import json

import numpy as np
import pyogrio
import pytest
from _workbench_data import boundary_moves, n_grids, write_wangjing
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridgeo._errors import InputError
from gridgeo.workbench import EditRefused, Session
from gridgeo.workbench.api import Workbench, create_app
from gridgeo.workbench.versions import VersionConflict, VersionStore


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_wangjing(tmp_path_factory.mktemp("wangjing"))


@pytest.fixture(scope="module")
def opened(folder):
    return Session.open(folder)


def _fresh(opened: Session, state=None) -> Session:
    """A copy of ``opened`` (its tessellation shared, read-only), with ``state``."""
    return Session(
        footprints=opened.footprints,
        households=opened.households.copy(),
        block=opened.block,
        target=opened.target,
        tolerance=opened.tolerance,
        state=opened.state.copy() if state is None else state,
        source=opened.source,
        plan_reasons=opened.plan_reasons,
    )


@pytest.fixture
def session(opened):
    """A fresh copy of the opened session."""
    return _fresh(opened)


def _connected(s: Session) -> bool:
    from scipy.sparse import csgraph

    st_ = s.state
    for slot in np.flatnonzero(st_.alive):
        nodes = np.flatnonzero(st_.label == slot)
        if len(nodes) > 1:
            n, _ = csgraph.connected_components(st_.adjacency[nodes][:, nodes], directed=False)
            if n != 1:
                return False
    return True


def test_open_reads_the_plan(session, folder):
    t = session.table()
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert len(t) == summary["n_grids"] == n_grids()
    assert int(t["households"].sum()) == summary["households"]
    assert int(t["buildings"].sum()) == summary["buildings"] == session.n_buildings
    assert session.target == 300 and (t["workers"] >= 1).all()
    assert _connected(session)


def test_grids_as_the_plan_drew_them_keep_its_reason(opened, folder):
    """A grid out of band keeps the reason the plan gave (a single tower, a dedicated
    zone) until the planner edits it; then the table says what it holds."""
    grids = pyogrio.read_dataframe(folder / "grids.gpkg", layer="grids")
    off = grids[grids["reason"].notna()]
    assert len(off) >= 1
    t = opened.table().set_index("grid_id")
    assert (t.loc[off["grid_id"], "why"] == "reason_" + off["reason"].to_numpy()).all()
    assert not t.drop(index=off["grid_id"])["why"].str.startswith("reason_").any()
    edited = opened.state.copy()
    edited.edited[:] = True
    why = _fresh(opened, edited).table().set_index("grid_id").loc[off["grid_id"], "why"]
    assert why.isin(
        ["too few households", "too many households", "one building over the band"]
    ).all()


def test_move_a_piece_changes_both_counts_and_undo_restores(session):
    before = session.table().set_index("grid_id")
    done = None
    for piece, to in boundary_moves(session):
        src = session.grid_of(piece[:1])[0]
        try:
            session.move(piece, to)
        except EditRefused:
            continue
        done = (piece, src, to)
        break
    assert done is not None, "no piece of a block can move on Wangjing"
    piece, src, to = done
    hh = int(session.households[piece].sum())
    after = session.table().set_index("grid_id")
    assert after.loc[src, "households"] == before.loc[src, "households"] - hh
    assert after.loc[to, "households"] == before.loc[to, "households"] + hh
    assert after.loc[to, "buildings"] == before.loc[to, "buildings"] + len(piece)
    assert after.loc[[src, to], "edited"].all()
    assert session.grid_of(piece) == [to] * len(piece)
    assert session.grids().set_index("grid_id").geometry[to].area > 0
    assert session.undo()
    assert session.table().equals(before.reset_index())
    assert session.redo() and session.grid_of(piece) == [to] * len(piece)


def test_refusals_say_why(session):
    reasons = set()
    for piece, to in boundary_moves(session):
        try:
            session.move(piece, to)
        except EditRefused as exc:
            reasons.add(str(exc).split(";")[0].split(" ", 2)[-1])
        else:
            session.undo()
    assert any("left in two pieces" in r for r in reasons), reasons
    far = session.table()["grid_id"].iloc[-1]
    first = np.flatnonzero(session.state.label[: session.n_buildings] == 0)[:1]
    with pytest.raises(EditRefused, match="does not border|two pieces"):
        session.move(first, far)
    with pytest.raises(EditRefused, match="already"):
        session.move(first, session.grid_of(first)[0])
    assert not session.undo_stack  # nothing refused was recorded


def test_community_boundary_and_locks_refuse(folder):
    import pyogrio

    grids = pyogrio.read_dataframe(folder / "grids.gpkg", layer="grids")
    b = pyogrio.read_dataframe(folder / "grids.gpkg", layer="buildings")
    s0 = Session.from_layers(grids, b)
    piece, to = boundary_moves(s0)[0]
    src = s0.grid_of(piece[:1])[0]
    grids["community_id"] = np.where(grids["grid_id"] == to, "B", "A")
    s = Session.from_layers(grids, b)
    with pytest.raises(EditRefused, match="community boundary"):
        s.move(piece, to)
    s0.lock([src])
    with pytest.raises(EditRefused, match=f"grid {src} is locked"):
        s0.move(piece, to)


def test_merge_and_split_conserve_households(session):
    total = int(session.table()["households"].sum())
    piece, to = boundary_moves(session)[0]
    src = session.grid_of(piece[:1])[0]
    session.merge(to, src)
    t = session.table()
    assert (
        len(t) == n_grids() - 1
        and src not in set(t["grid_id"])
        and int(t["households"].sum()) == total
    )
    big = t[t["buildings"] >= 4].sort_values("households").iloc[-1]["grid_id"]
    a, b = session.split(big)
    t2 = session.table().set_index("grid_id")
    assert len(t2) == n_grids() and int(t2["households"].sum()) == total
    assert t2.loc[a, "households"] > 0 and t2.loc[b, "households"] > 0
    assert _connected(session)
    session.undo()
    session.undo()
    assert len(session.table()) == n_grids() and src in set(session.table()["grid_id"])


def test_rebalance_keeps_locked_grids_exactly(session):
    t = session.table()
    ids = t["grid_id"].tolist()
    keep = ids[:2]
    before = session.grids().set_index("grid_id")
    mine = {
        g: set(np.flatnonzero(np.array(session.grid_of(range(session.n_buildings))) == g))
        for g in keep
    }
    session.lock(keep)
    figures = session.rebalance()
    assert figures["locked_grids"] == 2
    after = session.grids().set_index("grid_id")
    grid_of = np.array(session.grid_of(range(session.n_buildings)))
    for g in keep:
        assert after.geometry[g].equals_exact(before.geometry[g], 0)
        assert after.loc[g, "households"] == before.loc[g, "households"]
        assert set(np.flatnonzero(grid_of == g)) == mine[g]
        assert after.loc[g, "locked"]
    assert int(after["households"].sum()) == int(before["households"].sum())
    assert after["out_of_band"].sum() <= before["out_of_band"].sum()
    assert session.undo() and session.table().equals(t.assign(locked=t["grid_id"].isin(keep)))


def test_rebalance_keeps_the_cells_of_unchanged_grids(session):
    """After a rebalance that redraws some grids, the cells kept from before and the
    adjacency patched around the new ones are what a fresh tessellation gives."""

    heavy = session.table()["grid_id"].iloc[5]
    up = np.array(session.grid_of(range(session.n_buildings))) == heavy
    session.households[: session.n_buildings][up] *= 2
    session._recount()
    old = session.state
    figures = session.rebalance()
    assert figures["kept"] > 0 and figures["reshaped"] + figures["split"] > 0
    st_ = session.state
    reused = [i for i in range(session.n_buildings) if st_.cells[i] is old.cells[i]]
    assert len(reused) > session.n_buildings // 2
    fresh = session.state.copy()
    session._tessellate()
    assert all(
        a.equals_exact(b, 1e-6) for a, b in zip(fresh.cells, session.state.cells, strict=True)
    )
    assert (fresh.adjacency != session.state.adjacency).nnz == 0


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_edits_conserve_households_and_keep_grids_whole(opened, data):
    s = Session(
        footprints=opened.footprints,
        households=opened.households.copy(),
        block=opened.block,
        target=opened.target,
        tolerance=opened.tolerance,
        state=opened.state.copy(),
    )
    total = int(s.table()["households"].sum())
    locked = data.draw(st.sets(st.sampled_from(s.table()["grid_id"].tolist()), max_size=3))
    s.lock(locked)
    s.undo_stack.clear()  # an undo would unlock them
    frozen = {g: s.grids().set_index("grid_id").geometry[g] for g in locked}
    for _ in range(data.draw(st.integers(1, 12))):
        kind = data.draw(st.sampled_from(["move", "move", "move", "merge", "split", "undo"]))
        moves = boundary_moves(s)
        try:
            if kind == "move" and moves:
                piece, to = data.draw(st.sampled_from(moves))
                s.move(piece, to)
            elif kind == "merge" and moves:
                piece, to = data.draw(st.sampled_from(moves))
                s.merge(to, s.grid_of(piece[:1])[0])
            elif kind == "split":
                s.split(data.draw(st.sampled_from(s.table()["grid_id"].tolist())))
            else:
                s.undo()
        except EditRefused:
            pass
        t = s.table()
        assert int(t["households"].sum()) == total
        assert int(t["buildings"].sum()) == s.n_buildings
    assert _connected(s)
    now = s.grids().set_index("grid_id")
    for g, geom in frozen.items():
        assert now.geometry[g].equals_exact(geom, 0)


def test_versions_conflict_compare(tmp_path, session):
    store = VersionStore(tmp_path)
    v1 = store.save("p", session.snapshot(), base=None, message="first")
    piece, to = next((p, t) for p, t in boundary_moves(session) if _try(session, p, t))
    v2 = store.save("p", session.snapshot(), base=v1)
    with pytest.raises(VersionConflict, match=f"version {v2} was saved after version {v1}"):
        store.save("p", session.snapshot(), base=v1)
    assert [v["id"] for v in store.list("p")] == [v1, v2]
    diff = store_compare(store, v1, v2)
    assert diff["buildings_moved"] == len(piece)
    assert diff["households_moved"] == int(session.households[piece].sum())
    session.restore(store.get("p", v1))
    assert session.grid_of(piece) != [to] * len(piece)


def store_compare(store, a, b):
    from gridgeo.workbench.versions import compare

    return compare(store.get("p", a), store.get("p", b))


def _try(s, piece, to) -> bool:
    try:
        s.move(piece, to)
    except EditRefused:
        return False
    return True


def test_http_api(tmp_path, session):
    bench = Workbench(session, VersionStore(tmp_path), plan="wangjing")
    client = TestClient(create_app(bench))
    state = client.get("/api/plan").json()
    assert len(state["grids"]["features"]) == n_grids() and state["base"] is None
    assert client.get("/").status_code == 200
    assert client.get("/static/leaflet.js").status_code == 200
    piece, to = next((p, t) for p, t in boundary_moves(session) if _try(session, p, t))
    session.undo()
    r = client.post("/api/move", json={"buildings": piece.tolist(), "to": to})
    assert r.status_code == 200 and r.json()["can_undo"]
    r = client.post("/api/move", json={"buildings": piece.tolist(), "to": to})
    assert r.status_code == 422 and "already" in r.json()["detail"]
    v = client.post("/api/save", json={"base": None, "message": "a"}).json()["version"]
    again = client.post("/api/save", json={"base": None, "message": "b"})
    assert again.status_code == 409 and "saved after" in again.json()["detail"]
    client.post("/api/note", json={"grid": to, "text": "王大姐 负责"})
    geo = client.get("/api/export.geojson").json()
    props = {f["properties"]["grid_id"]: f["properties"] for f in geo["features"]}
    assert props[to]["note"] == "王大姐 负责"
    assert sum(p["households"] for p in props.values()) == state["households"]
    assert client.get("/api/export.gpkg").content[:15] == b"SQLite format 3"
    import io
    import zipfile

    shp = zipfile.ZipFile(io.BytesIO(client.get("/api/export.shp.zip").content))
    assert {"grids.shp", "grids.dbf", "grids.shx", "grids.prj", "grids.cpg"} <= set(shp.namelist())
    assert client.get("/api/map.pdf").content[:5] == b"%PDF-"
    assert client.get("/api/map.png?lang=en").content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/api/map.svg").status_code == 404
    assert client.get("/api/versions").json()["versions"][0]["id"] == v


def test_gridgeo_edit_serves_the_plan(folder, tmp_path):
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from gridgeo.cli import main

    assert main(["edit", str(tmp_path / "nope"), "--no-browser"]) == 2
    assert main(["edit", str(folder), "--host", "0.0.0.0", "--no-browser"]) == 2
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    from _workbench_data import wangjing_streets

    wangjing_streets().to_file(tmp_path / "streets.gpkg", driver="GPKG", engine="pyogrio")
    cmd = [sys.executable, "-m", "gridgeo.cli", "edit", str(folder), "--no-browser"]
    cmd += ["--port", str(port), "--data-dir", str(tmp_path / "data")]
    cmd += ["--streets", str(tmp_path / "streets.gpkg")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, state = time.monotonic() + 60, None
        while time.monotonic() < deadline and state is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/plan", timeout=2) as r:
                    state = json.loads(r.read())
            except OSError:
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(0.2)
        assert state is not None and len(state["grids"]["features"]) == n_grids()
        assert state["streets"] and state["sources"]
    finally:
        proc.terminate()
        proc.wait(10)
    assert (tmp_path / "data" / "workbench.sqlite").is_file()


def test_a_city_plan_without_grid_ids_on_buildings(folder):
    """A city's own polygons: buildings go to the grid holding them."""
    import pyogrio

    grids = pyogrio.read_dataframe(folder / "grids.gpkg", layer="grids")
    b = pyogrio.read_dataframe(folder / "grids.gpkg", layer="buildings")
    s = Session.from_layers(grids[["grid_id", "geometry"]], b.drop(columns="grid_id"))
    same = np.array(s.grid_of(range(s.n_buildings))) == b["grid_id"].to_numpy()
    assert same.mean() > 0.95  # gridgeo's buildings lie in their grid (a few straddle)
    assert int(s.table()["households"].sum()) == int(b["households"].sum())
    far = b.copy()
    far["geometry"] = far.geometry.translate(50_000, 0)
    with pytest.raises(InputError, match="lie outside every grid"):
        Session.from_layers(grids, far.drop(columns="grid_id"))


@settings(
    max_examples=2,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_rebalance_around_any_locks(opened, data):
    """Households grown in a few grids, any grids locked: the locked ones stay exactly
    (polygon, buildings, households), households are conserved, every grid is whole."""
    s = Session(
        footprints=opened.footprints,
        households=opened.households.copy(),
        block=opened.block,
        target=opened.target,
        tolerance=opened.tolerance,
        state=opened.state.copy(),
    )
    ids = s.table()["grid_id"].tolist()
    grown = data.draw(st.sets(st.sampled_from(ids), min_size=1, max_size=3), label="grown")
    locked = data.draw(
        st.sets(st.sampled_from(sorted(set(ids) - grown)), min_size=1, max_size=6), label="locked"
    )
    where = np.array(s.grid_of(range(s.n_buildings)))
    up = np.isin(where, list(grown))
    s.households[: s.n_buildings][up] *= 2
    s._recount()
    total = int(s.households.sum())
    s.lock(locked)
    before = s.grids().set_index("grid_id")
    s.rebalance()
    after = s.grids().set_index("grid_id")
    now = np.array(s.grid_of(range(s.n_buildings)))
    for g in locked:
        assert after.geometry[g].equals_exact(before.geometry[g], 0)
        assert after.loc[g, "households"] == before.loc[g, "households"]
        assert set(np.flatnonzero(now == g)) == set(np.flatnonzero(where == g))
    assert int(after["households"].sum()) == total
    assert _connected(s)
