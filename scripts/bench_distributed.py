"""The Wuhan benchmark on Dask: a 2-worker LocalCluster against a single process.

Usage::

    python scripts/bench_distributed.py --wuhan /work/shared/data/wuhan_streets
    python scripts/bench_distributed.py --wuhan DIR --workers 2 --tile-grids 100 --baseline

Reads the real Wuhan street network (``wuhan_8989_original.parquet``, 92,667 edges) and
the modelled 500 m population grid beside it (about 3 million households), prepares the
workspace once, and partitions it with :func:`gridgeo.distributed.partition_workspace`
twice: in this process (``scheduler=None``) and on a ``LocalCluster`` of ``--workers``
worker processes. Prints the time of each stage, the plan figures, and whether the two
plans are the same grid by grid (:func:`gridgeo.distributed.compare_plans`); exits 1
when they differ. ``--baseline`` also runs :func:`gridgeo.partition` (the whole graph
with one generator) for reference. The machine may be shared: the load average is
printed before and after.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd

import gridgeo
from gridgeo import distributed as gd
from gridgeo.pipeline import assemble, prepare

STREETS = "wuhan_8989_original.parquet"
POPULATION = "wuhan_population_model_500m.gpkg"


def _figures(plan: gridgeo.Plan) -> dict:
    s = plan.summary()
    keys = ("n_grids", "households", "min", "median", "max", "within_10pct", "within_20pct")
    keys += ("empty_grids", "constrained_grids", "polsby_popper_mean", "boundary_on_streets")
    return {k: s[k] for k in keys}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wuhan", metavar="DIR", required=True, help="folder of the Wuhan data")
    parser.add_argument("--target", type=float, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tile-grids", type=float, default=gd.TILE_GRIDS)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--baseline", action="store_true", help="also run gridgeo.partition")
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON too")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    folder = Path(args.wuhan)
    if not (folder / STREETS).is_file() or not (folder / POPULATION).is_file():
        print(f"{folder} must hold {STREETS} and {POPULATION}", file=sys.stderr)
        return 2
    import distributed  # noqa: F401 - its loggers exist from here on

    for noisy in ("distributed", "tornado", "bokeh"):  # after distributed set its own
        logging.getLogger(noisy).setLevel(logging.ERROR)

    report: dict = {"load_before": os.getloadavg(), "cores": os.cpu_count()}
    print(f"load average before: {report['load_before']} on {report['cores']} cores")
    t = time.perf_counter()
    streets = gpd.read_parquet(folder / STREETS)
    population = gridgeo.read_layer(folder / POPULATION, name="population grid")
    report["read_s"] = time.perf_counter() - t
    opts = {"population": population, "target": args.target}

    t = time.perf_counter()
    ws = prepare(streets, None, **opts)
    report["prepare_s"] = time.perf_counter() - t
    print(f"prepare (single process): {report['prepare_s']:.1f} s, {len(ws.weights)} units")
    pieces = gd.split_workspace(ws, tile_grids=args.tile_grids)
    report["pieces"] = len(pieces)
    print(f"pieces: {len(pieces)} ({sum(p.tiled for p in pieces)} tiles)")

    kw = {"random_state": args.random_state, "tile_grids": args.tile_grids}
    t = time.perf_counter()
    labels_1 = gd.partition_workspace(ws, scheduler=None, **kw)
    report["partition_single_s"] = time.perf_counter() - t
    t = time.perf_counter()
    plan_1 = assemble(ws, labels_1)
    report["assemble_s"] = time.perf_counter() - t
    print(f"partition, single process: {report['partition_single_s']:.1f} s")

    t = time.perf_counter()
    with gd.local_client(args.workers) as client:
        report["cluster_start_s"] = time.perf_counter() - t
        t = time.perf_counter()
        labels_n = gd.partition_workspace(ws, scheduler=client, **kw)
        report["partition_dask_s"] = time.perf_counter() - t
    print(
        f"partition, LocalCluster of {args.workers} workers: {report['partition_dask_s']:.1f} s "
        f"(cluster start {report['cluster_start_s']:.1f} s)"
    )
    plan_n = assemble(ws, labels_n)
    comparison = gd.compare_plans(plan_1, plan_n)
    report["comparison"] = comparison
    report["figures"] = _figures(plan_n)
    total_1 = report["prepare_s"] + report["partition_single_s"] + report["assemble_s"]
    total_n = report["prepare_s"] + report["partition_dask_s"] + report["assemble_s"]
    report["total_single_s"], report["total_dask_s"] = total_1, total_n
    print(f"end to end: single process {total_1:.1f} s, Dask {total_n:.1f} s")
    print("plan:", json.dumps(report["figures"]))
    print("same plan on Dask as in a single process:", comparison)

    if args.baseline:
        t = time.perf_counter()
        base = gridgeo.partition(streets, None, random_state=args.random_state, **opts)
        report["baseline_s"] = time.perf_counter() - t
        report["baseline_figures"] = _figures(base)
        print(f"gridgeo.partition (whole graph, one generator): {report['baseline_s']:.1f} s")
        print("plan:", json.dumps(report["baseline_figures"]))
    report["load_after"] = os.getloadavg()
    print(f"load average after: {report['load_after']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    return 0 if comparison["equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
