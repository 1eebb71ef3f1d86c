"""End-to-end figures of `gridgeo.partition` on the bundled real data.

Usage: python scripts/bench_pipeline.py [--target 300] [--wuhan DIR] [--only-wuhan] [--out DIR]

Prints one row per dataset: buildings, grids, households, share of grids within ±10 %
and ±20 % of the target, min/median/max households, mean Polsby–Popper, share of grid
boundaries on streets, seconds to read, to prepare (blocks, households, units,
adjacency: ``pipeline.prepare``), to label the units (``pipeline.label_units``), to
assemble the plan and to write it (GeoPackage, GeoJSON and summary; the HTML map is left
out of the timing), the total, the total over the preparation, the same two figures in
CPU seconds of the process (on a shared machine, wall-clock seconds also count the
other processes' load), and the peak resident memory. The stages are those ``gridgeo.partition`` runs, timed one by one. With
``--wuhan DIR`` (a folder holding ``wuhan_8989_original.parquet`` and
``wuhan_population_model_500m.gpkg``) the city-scale case runs too: streets only,
households from the population grid.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import warnings
from pathlib import Path

import geopandas as gpd

import gridgeo
from gridgeo import datasets
from gridgeo.pipeline import assemble, label_units, prepare

CASES = {
    "kouvola": {},
    "helsinki": {"population": "helsinki_population"},
    "beijing_wangjing": {},
    "monaco": {},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=300)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument(
        "--wuhan", type=Path, help="folder with the Wuhan streets and population grid"
    )
    parser.add_argument("--only-wuhan", action="store_true", help="run the Wuhan case alone")
    parser.add_argument(
        "--out", type=Path, help="where to write the plans (default: a temporary folder)"
    )
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="gridgeo-bench-"))
    warnings.filterwarnings("ignore")
    cols = ["read s", "prep s", "label s", "asm s", "write s", "total s", "÷ prep"]
    cols += ["cpu prep", "cpu tot", "÷ prep", "peak MB"]
    head = (
        f"{'dataset':18s} {'buildings':>9s} {'grids':>6s} {'households':>10s} {'±10%':>6s} "
        f"{'±20%':>6s} {'min':>5s} {'median':>6s} {'max':>5s} {'PP':>5s} {'street':>6s} "
        + " ".join(f"{c:>7s}" for c in cols)
    )
    print(head)
    print("-" * len(head))
    cases = [] if args.only_wuhan else list(CASES)
    if args.wuhan:
        cases.append("wuhan")
    for name in cases:
        t0, c0 = time.perf_counter(), time.process_time()
        kw = {}
        if name == "wuhan":
            streets = gpd.read_parquet(args.wuhan / "wuhan_8989_original.parquet")
            buildings = None
            kw["population"] = gpd.read_file(args.wuhan / "wuhan_population_model_500m.gpkg")
        else:
            layers = gridgeo.read_osm(datasets.get_path(name))
            streets, buildings = layers.streets, layers.buildings
            if "population" in CASES[name]:
                kw["population"] = gridgeo.read_layer(datasets.get_path(CASES[name]["population"]))
        t1, c1 = time.perf_counter(), time.process_time()
        ws = prepare(streets, buildings, target=args.target, **kw)
        t2, c2 = time.perf_counter(), time.process_time()
        labels = label_units(ws, random_state=args.random_state)
        t3 = time.perf_counter()
        plan = assemble(ws, labels)
        t4 = time.perf_counter()
        plan.to_files(out / name, map_html=False)
        t5, c5 = time.perf_counter(), time.process_time()
        s = plan.summary()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        times = [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0, (t5 - t0) / (t2 - t1)]
        times += [c2 - c1, c5 - c0, (c5 - c0) / (c2 - c1)]
        print(
            f"{name:18s} {s['buildings']:9d} {s['n_grids']:6d} {s['households']:10d} "
            f"{s['within_10pct']:6.1%} {s['within_20pct']:6.1%} {s['min']:5d} {s['median']:6.0f} "
            f"{s['max']:5d} {s['polsby_popper_mean']:5.2f} {s['boundary_on_streets']:6.1%} "
            + " ".join(f"{x:7.2f}" for x in times)
            + f" {peak:7.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
