"""Benchmark the workbench's edit session: move latency and rebalance around locks.

For each plan (default: gridgeo.partition on the bundled Monaco extract, 250 grids and
23k buildings, and on Wangjing, one community of 31 grids), in its own process:

- open: reading the plan, cutting it into cells, the cells' adjacency;
- move: moving a piece of a block to a neighbouring grid, over up to ``--moves``
  candidate moves (allowed and refused timed apart), p50 / p95, against the
  alternative of recounting and redrawing every grid after each move; and the same
  moves through the HTTP API (``http_move``: the request and the whole answer the page
  redraws from);
- rebalance: households of a few grids raised by 60 %, a fifth of the grids locked,
  then ``Session.rebalance`` (gridgeo.rebalance with ``locked``), new boundaries on the
  plan's streets (the default plans carry a streets layer), against the same without
  streets (a city's own grids and buildings: cut along the buildings' cells);
- peak memory of the process (max RSS).

Usage::

    .venv/bin/python scripts/bench_workbench.py
    .venv/bin/python scripts/bench_workbench.py --plan out/wangjing --moves 300
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _plan(name: str, folder: Path) -> Path:
    import gridgeo
    from gridgeo import datasets

    layers = gridgeo.read_osm(datasets.get_path(name))
    plan = gridgeo.partition(layers.streets, layers.buildings)
    plan.to_files(folder, map_html=False)
    streets = layers.streets[["geometry"]].to_crs(plan.grids.crs)
    streets.to_file(folder / "grids.gpkg", layer="streets", driver="GPKG", engine="pyogrio")
    return folder


def _peak_mb() -> int:
    """Peak resident memory of this process (VmHWM: since its exec, unlike ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _http_moves(session, cands) -> list[float]:
    """Seconds of allowed moves (each undone) through the workbench's HTTP API: the
    request, the edit and the whole answer the page redraws from."""
    import tempfile

    from fastapi.testclient import TestClient

    from gridgeo.workbench.api import Workbench, create_app
    from gridgeo.workbench.versions import VersionStore

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        client = TestClient(create_app(Workbench(session, VersionStore(tmp))))
        client.get("/api/plan")
        for piece, to in cands:
            t = time.perf_counter()
            r = client.post("/api/move", json={"buildings": piece.tolist(), "to": to})
            if r.status_code == 200:
                out.append(time.perf_counter() - t)
                client.post("/api/undo")
    return out


def _one(path: str, moves: int, seed: int) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from _workbench_data import boundary_moves

    from gridgeo.workbench import EditRefused, Session

    t0 = time.perf_counter()
    s = Session.open(path)
    opened = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    cands = boundary_moves(s)
    pick = rng.choice(len(cands), size=min(moves, len(cands)), replace=False)
    done, refused, full = [], [], []
    for k in pick:
        piece, to = cands[k]
        t = time.perf_counter()
        try:
            s.move(piece, to)
        except EditRefused:
            refused.append(time.perf_counter() - t)
            continue
        done.append(time.perf_counter() - t)
        s.undo()
    http = _http_moves(s, [cands[k] for k in pick[:60]])
    live = np.flatnonzero(s.state.alive)
    for _ in range(min(5, len(done))):  # the alternative: recount and redraw every grid
        t = time.perf_counter()
        s._recount()
        s._redraw(live)
        full.append(time.perf_counter() - t)
    ids = s.table()["grid_id"].to_numpy()
    grown = rng.choice(ids, size=max(1, len(ids) // 15), replace=False)
    up = np.isin(np.array(s.grid_of(range(s.n_buildings))), grown)
    s.households[: s.n_buildings][up] = np.round(s.households[: s.n_buildings][up] * 1.6)
    s._recount()
    locked = rng.choice(np.setdiff1d(ids, grown), size=len(ids) // 5, replace=False)
    s.lock(locked.tolist())
    out_before = int(s.table()["out_of_band"].sum())
    streets, s.streets = s.streets, None  # the alternative: a plan without streets
    t = time.perf_counter()
    bare = s.rebalance()
    reb_bare = time.perf_counter() - t
    s.undo()
    s.streets = streets
    t = time.perf_counter()
    figures = s.rebalance()
    reb = time.perf_counter() - t
    ms = lambda xs, q: round(1000 * float(np.percentile(xs, q)), 1) if xs else None  # noqa: E731
    return {
        "plan": Path(path).name,
        "grids": len(ids),
        "buildings": s.n_buildings,
        "open_s": round(opened, 2),
        "moves": len(done),
        "move_p50_ms": ms(done, 50),
        "move_p95_ms": ms(done, 95),
        "http_move_p50_ms": ms(http, 50),
        "http_move_p95_ms": ms(http, 95),
        "refused": len(refused),
        "refused_p95_ms": ms(refused, 95),
        "full_redraw_p50_ms": ms(full, 50),
        "locked": len(locked),
        "out_of_band_before": out_before,
        "out_of_band_after": int(s.table()["out_of_band"].sum()),
        "streets": s.streets is not None,
        "rebalance_s": round(reb, 2),
        "of_it_engine_s": figures["engine_s"],
        "no_streets_rebalance_s": round(reb_bare, 2),
        "no_streets_out_after": bare["out_of_band_after"],
        "locked_kept": figures["locked_grids"],
        "peak_mb": _peak_mb(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plan", action="append", help="plan folder or grids.gpkg (repeatable)")
    ap.add_argument("--moves", type=int, default=200, help="moves tried per plan (default: 200)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.moves, args.seed)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        plans = args.plan or [str(_plan(n, Path(tmp) / n)) for n in ("monaco", "beijing_wangjing")]
        rows = []
        for p in plans:
            cmd = [sys.executable, __file__, "--one", p, "--moves", str(args.moves)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
