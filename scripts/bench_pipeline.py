"""End-to-end figures of `gridgeo.partition` on the bundled real data.

Usage: python scripts/bench_pipeline.py [--target 300] [--repeat 1]

Prints one row per dataset: buildings, grids, households, share of grids within ±10 %
and ±20 % of the target, min/median/max households, seconds to read and to partition.
"""

from __future__ import annotations

import argparse
import time
import warnings

import gridgeo
from gridgeo import datasets

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
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    head = f"{'dataset':18s} {'buildings':>9s} {'grids':>6s} {'households':>10s} {'±10%':>6s} {'±20%':>6s} {'min':>5s} {'median':>6s} {'max':>5s} {'PP':>5s} {'street':>6s} {'read s':>7s} {'plan s':>7s}"
    print(head)
    print("-" * len(head))
    for name, extra in CASES.items():
        t0 = time.perf_counter()
        layers = gridgeo.read_osm(datasets.get_path(name))
        kw = {}
        if "population" in extra:
            kw["population"] = gridgeo.read_layer(datasets.get_path(extra["population"]))
        t1 = time.perf_counter()
        plan = gridgeo.partition(
            layers.streets,
            layers.buildings,
            target=args.target,
            random_state=args.random_state,
            **kw,
        )
        t2 = time.perf_counter()
        s = plan.summary()
        print(
            f"{name:18s} {s['buildings']:9d} {s['n_grids']:6d} {s['households']:10d} "
            f"{s['within_10pct']:6.1%} {s['within_20pct']:6.1%} {s['min']:5d} {s['median']:6.0f} {s['max']:5d} "
            f"{s['polsby_popper_mean']:5.2f} {s['boundary_on_streets']:6.1%} {t1 - t0:7.2f} {t2 - t1:7.2f}"
        )


if __name__ == "__main__":
    main()
