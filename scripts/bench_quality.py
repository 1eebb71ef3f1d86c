"""Would a planner accept the plan? Quality figures of `gridgeo.partition` on real data.

Usage: python scripts/bench_quality.py [--cases kouvola,helsinki,...] [--markdown]

Each case runs as ``gridgeo partition --osm`` does (the extract's barriers, land use and
points of interest, default rules), plus Monaco with its real quarters (OSM
``admin_level=10``) and its communes (Monaco, Beausoleil, Cap-d'Ail, La Turbie:
``admin_level=8``, two of them with exclaves) as community boundaries, Wangjing with a
300–500 band and Monaco with a 500–1,000 band. Printed per
case: grids, basic grids within ±10 % of the target and within the band (target: at
least 98 %), grids outside the band and how many of them carry
no ``reason``, grids with no households (and how many of them are basic), grids in
several parts, buildings whose grid is not the one holding most of their footprint or
whose point on surface lies in another grid, grid workers for empty grids; then the
grids by reason and the households by building class.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections import Counter

import numpy as np
import pyogrio
import shapely

import gridgeo
from gridgeo import datasets
from gridgeo.staffing import StaffingRules, staffing_table

CASES = {
    "kouvola": ("kouvola", {}),
    "helsinki": ("helsinki", {"population": "helsinki_population"}),
    "wangjing": ("beijing_wangjing", {}),
    "wangjing 300-500": ("beijing_wangjing", {"band": (300, 500)}),
    "monaco": ("monaco", {}),
    "monaco quarters": ("monaco", {"admin_level": "10"}),
    "monaco communes": ("monaco", {"admin_level": "8"}),
    "monaco 500-1000": ("monaco", {"band": (500, 1000)}),
}


def _boundaries(path, level: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = pyogrio.read_dataframe(
            path,
            layer="multipolygons",
            where=f"boundary = 'administrative' AND admin_level = '{level}'",
            on_invalid="ignore",
        )
    return b[["name", "geometry"]].reset_index(drop=True)


def _astride(plan) -> tuple[int, int]:
    """Buildings not in the grid holding most of their footprint; buildings whose point
    on surface lies outside their grid."""
    b, g = plan.buildings, plan.grids
    geoms = b.geometry.values
    gi = g["grid_id"].to_numpy()
    bi, pi = shapely.STRtree(g.geometry.values).query(geoms, predicate="intersects")
    share = shapely.area(shapely.intersection(geoms[bi], g.geometry.values[pi]))
    order = np.lexsort((-share, bi))
    first = order[np.r_[True, bi[order][1:] != bi[order][:-1]]]
    best = np.full(len(b), None, dtype=object)
    best[bi[first]] = gi[pi[first]]
    mine = b["grid_id"].to_numpy()
    wrong_major = int(((best != mine) & (best != None)).sum())  # noqa: E711
    own = g.set_index("grid_id").geometry.reindex(mine).values
    pts = shapely.point_on_surface(geoms)
    wrong_point = int((~shapely.covers(own, pts)).sum())
    return wrong_major, wrong_point


def run_case(name: str, cache: dict) -> dict:
    key, opts = CASES[name]
    if key not in cache:
        cache[key] = gridgeo.read_osm(datasets.get_path(key))
    layers = cache[key]
    kw = {"barriers": layers.barriers, "dedicated": layers.landuse, "pois": layers.pois}
    if "population" in opts:
        kw["population"] = gridgeo.read_layer(datasets.get_path(opts["population"]))
    if "admin_level" in opts:
        kw["boundaries"] = _boundaries(datasets.get_path(key), opts["admin_level"])
    if "band" in opts:
        kw["band"] = opts["band"]
    t0 = time.perf_counter()
    plan = gridgeo.partition(layers.streets, layers.buildings, **kw)
    seconds = time.perf_counter() - t0
    s = plan.summary()
    grids = plan.grids
    band = (s.get("band_lower"), s.get("band_upper"))
    if band[0] is None:
        lo, hi = s["target"] * (1 - s["tolerance"]), s["target"] * (1 + s["tolerance"])
    else:
        lo, hi = band
    hh = grids["households"].to_numpy()
    off = (hh < lo - 1e-9) | (hh > hi + 1e-9)
    reason = grids.get("reason")
    no_reason = int(off.sum()) if reason is None else int((off & reason.isna().to_numpy()).sum())
    basic = (grids["grid_type"] == "basic").to_numpy()
    staff = staffing_table(grids, buildings=plan.buildings, rules=StaffingRules(target=s["target"]))
    empty = hh == 0
    parts = shapely.get_num_geometries(grids.geometry.values)
    wrong_major, wrong_point = _astride(plan)
    return {
        "case": name,
        "grids": len(grids),
        "basic ±10 %": s.get("within_10pct_basic"),
        "basic in band": s.get("within_band_basic"),
        "out of band": int(off.sum()),
        "no reason": no_reason,
        "empty": int(empty.sum()),
        "empty basic": int((empty & basic).sum()),
        "workers on empty": int(staff["workers"].to_numpy()[empty].sum()),
        "multi-part": int((parts > 1).sum()),
        "not in majority grid": wrong_major,
        "point elsewhere": wrong_point,
        "seconds": round(seconds, 1),
        "by reason": dict(Counter(reason.dropna())) if reason is not None else {},
        "by class": s.get("households_by_building_class", {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    cache: dict = {}
    rows = [run_case(name.strip(), cache) for name in args.cases.split(",")]
    cols = [c for c in rows[0] if c not in ("by reason", "by class")]
    if args.markdown:
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in rows:
            cells = [
                f"{r[c]:.1%}" if c.startswith("basic") and r[c] is not None else str(r[c])
                for c in cols
            ]
            print("| " + " | ".join(cells) + " |")
    else:
        for r in rows:
            print({c: r[c] for c in cols})
    print()
    for r in rows:
        print(f"{r['case']}: grids by reason {json.dumps(r['by reason'], ensure_ascii=False)}")
        print(f"{r['case']}: households by class {json.dumps(r['by class'], ensure_ascii=False)}")


if __name__ == "__main__":
    main()
