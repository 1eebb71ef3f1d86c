"""A synthetic province of real data on Dask: Wuhan tiled 1×, 2×, 4×, 8× side by side.

Usage::

    python scripts/bench_distributed.py --wuhan /work/shared/data/wuhan_streets
    python scripts/bench_distributed.py --wuhan DIR --scales 1,2,4,8 --single-upto 4 --json out.json

The province is made of real data: the Wuhan street network (``wuhan_8989_original.parquet``,
92,667 edges, UTM 50N) and the modelled 500 m population grid beside it (9.9 million
people, about 3.8 million households), copied ``k`` times side by side, each copy
shifted east by the city's width plus 1 km. Each scale runs in a fresh process (so peak
memory is that scale's own) and is drawn by :func:`gridgeo.distributed.partition_tiles`
— every stage per tile, seams redrawn — twice: on a ``LocalCluster`` of ``--workers``
worker processes (wall time, peak resident memory of each worker and of the calling
process), and with ``scheduler=None`` (the same tiles one after another in one process:
the single-process time, up to ``--single-upto``). Prints one table with the growth of
time and memory against 1× (linear growth: time ×k, memory per worker flat), the plan
figures, and whether the Dask plan equals the single-process plan grid by grid
(:func:`gridgeo.distributed.compare_plans`). The machine may be shared: the load
average is printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

STREETS = "wuhan_8989_original.parquet"
POPULATION = "wuhan_population_model_500m.gpkg"
GAP = 1000.0  # m between two copies of the city


def province(folder: Path, k: int) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """``k`` copies of the Wuhan streets and population grid side by side (UTM 50N)."""
    import gridgeo

    streets = gpd.read_parquet(folder / STREETS)
    population = gridgeo.read_layer(folder / POPULATION, name="population grid")
    population = population.to_crs(streets.crs)
    x0, _, x1, _ = np.r_[streets.total_bounds[:2], streets.total_bounds[2:]]
    width = float(x1 - x0) + GAP
    s_parts, p_parts = [], []
    for i in range(k):
        s_parts.append(
            streets.set_geometry(
                shapely.transform(streets.geometry.values, lambda xy, d=i * width: xy + [d, 0])
            )
        )
        p_parts.append(
            population.set_geometry(
                shapely.transform(population.geometry.values, lambda xy, d=i * width: xy + [d, 0])
            )
        )
    s = gpd.GeoDataFrame(pd.concat(s_parts, ignore_index=True), crs=streets.crs)
    p = gpd.GeoDataFrame(pd.concat(p_parts, ignore_index=True), crs=streets.crs)
    return s, p


def _figures(plan) -> dict:
    s = plan.summary()
    keys = ("n_grids", "households", "within_10pct", "polsby_popper_mean", "boundary_on_streets")
    return {k: s[k] for k in keys}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_one(folder: Path, k: int, workers: int, single: bool, target: float) -> dict:
    """One scale in this process: the Dask run, then (``single``) the one-process run."""
    import distributed  # noqa: F401 - its loggers exist from here on

    from gridgeo import distributed as gd

    for noisy in ("distributed", "tornado", "bokeh"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    t = time.perf_counter()
    streets, population = province(folder, k)
    out: dict = {"scale": k, "streets": len(streets), "read_s": time.perf_counter() - t}
    opts = {"population": population, "target": target, "crs": 32650}
    out["tiles"] = len(gd.tile_layout(streets).keys)
    t = time.perf_counter()
    with gd.local_client(workers) as client:
        out["cluster_start_s"] = time.perf_counter() - t
        t = time.perf_counter()
        plan_n = gd.partition_tiles(streets, None, scheduler=client, **opts)
        out["dask_s"] = time.perf_counter() - t
        peaks = client.run(_peak_mb)
    out["worker_peak_mb"] = sorted(peaks.values())
    out["caller_peak_after_dask_mb"] = _peak_mb()
    out["figures"] = _figures(plan_n)
    seams = [n for n in plan_n.notes if n.startswith("seam ")]
    out["seams_redrawn"] = sum(n.endswith("redrawn") for n in seams)
    out["seams_kept"] = len(seams) - out["seams_redrawn"]
    if single:
        t = time.perf_counter()
        plan_1 = gd.partition_tiles(streets, None, scheduler=None, **opts)
        out["single_s"] = time.perf_counter() - t
        out["single_peak_mb"] = _peak_mb()
        out["same_plan"] = gd.compare_plans(plan_1, plan_n)["equal"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wuhan", metavar="DIR", required=True, help="folder of the Wuhan data")
    parser.add_argument("--scales", default="1,2,4,8", help="copies of Wuhan, e.g. 1,2,4,8")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--single-upto", type=int, default=8, help="largest scale also run in one process"
    )
    parser.add_argument("--target", type=float, default=300)
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON too")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: one scale
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    folder = Path(args.wuhan)
    if not (folder / STREETS).is_file() or not (folder / POPULATION).is_file():
        print(f"{folder} must hold {STREETS} and {POPULATION}", file=sys.stderr)
        return 2
    if args.one is not None:
        res = run_one(folder, args.one, args.workers, args.one <= args.single_upto, args.target)
        print("RESULT " + json.dumps(res))
        return 0

    print(f"load average before: {os.getloadavg()} on {os.cpu_count()} cores", flush=True)
    rows = []
    for k in [int(s) for s in args.scales.split(",")]:
        cmd = [sys.executable, __file__, "--wuhan", str(folder), "--one", str(k)]
        cmd += ["--workers", str(args.workers), "--single-upto", str(args.single_upto)]
        cmd += ["--target", str(args.target)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
        if done.returncode or not line:
            print(f"{k}×: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            return 1
        res = json.loads(line[0][7:])
        res["load"] = os.getloadavg()[0]
        rows.append(res)
        print(json.dumps(res), flush=True)
        _table(rows, args.workers)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0 if all(r.get("same_plan", True) for r in rows) else 1


def _table(rows: list[dict], workers: int) -> None:
    base = rows[0]
    print(
        f"\n| scale | households | grids | Dask, {workers} workers (s) | ÷ k·1× | one process (s) | ÷ k·1× "
        "| peak per worker (MB) | ÷ 1× | caller peak (MB) | same plan | ±10 % | PP | on streets |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        f = r["figures"]
        k = r["scale"] / base["scale"]
        single = r.get("single_s")
        single_txt = (
            f"{single:.1f} | {single / base['single_s'] / k:.2f}"
            if single and base.get("single_s")
            else "– | –"
        )
        wp = max(r["worker_peak_mb"])
        print(
            f"| {r['scale']}× | {f['households']:,} | {f['n_grids']:,} | {r['dask_s']:.1f} | "
            f"{r['dask_s'] / base['dask_s'] / k:.2f} | {single_txt} | {wp:.0f} | "
            f"{wp / max(base['worker_peak_mb']):.2f} | {r.get('single_peak_mb', r['caller_peak_after_dask_mb']):.0f} | "
            f"{r.get('same_plan', '–')} | {f['within_10pct']:.1%} | {f['polsby_popper_mean']:.3f} | "
            f"{f['boundary_on_streets']:.1%} |"
        )
    print(flush=True)


if __name__ == "__main__":
    sys.exit(main())
