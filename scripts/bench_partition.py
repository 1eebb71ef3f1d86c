"""gridgeo's partition engine against spopt, GerryChain and METIS on the same units.

Usage:
    python scripts/bench_partition.py [--datasets kouvola,helsinki,monaco] [--target 300]
        [--cap 120] [--wuhan DIR] [--markdown] [--json PATH]

For each dataset, ``gridgeo.pipeline.prepare`` builds the units once (blocks, and
pieces of the blocks holding more than half a grid) with their households and rook
adjacency; then every method labels the same units and every labelling is scored by the
same code (``gridgeo.pipeline.assemble`` and ``Plan.summary``):

- gridgeo: ``pipeline.label_units`` (what ``partition`` runs: ``engine.partition_graph``
  with the ±10 % band, then weightless pieces cut off by barriers join a neighbour);
- spopt MaxPHeuristic (threshold = target households, top_n = 2, spopt's defaults);
- spopt AZP and RegionKMeansHeuristic with k = round(total ÷ target);
- GerryChain ``recursive_tree_part`` (k parts of total ÷ k, ε = 0.10);
- pymetis k-way ``part_graph`` weighted by households, and the same with METIS's
  contiguity option (``pymetis contig``).

The other methods get the graph gridgeo partitions: edges across hard barriers and
between communities removed; each connected piece of it is partitioned on its own
(k = round(its households ÷ target) ≥ 1), and afterwards weightless pieces are attached
as gridgeo attaches them (``constraints.attach_orphans``). spopt's attributes (whose
within-region dissimilarity it minimises) are the unit centroids, so its objective
rewards compact regions. AZP and RegionKMeans have no balance constraint; GerryChain and
METIS balance to total ÷ k, which is not exactly the target. Units with no households
are passed as they are (weight 0): every method accepts them.

Each method runs in a forked child capped at ``--cap`` seconds and ``--mem-cap`` GiB of
extra address space; "seconds" is the label computation only (not converting the units
to a libpysal W or a networkx graph, logged as setup). gridgeo end to end — read,
prepare, label, assemble, write the files but the map — runs first in a fresh process,
with its preparation time, the ratio of the two and its peak memory.

Columns: units, grids, share of grids within ±10 % and ±25 % of the target,
min/median/max households, mean and 10th-percentile Polsby–Popper, share of the boundary between grids lying on streets or
community lines, share of grids whose units are connected (touching, barriers or not:
one polygon), seconds, ratio to gridgeo, and the same in CPU seconds of the process
(on a shared machine the wall-clock seconds also count other processes' load).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import shapely
from scipy.sparse import csgraph

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench_methods as bm  # noqa: E402

import gridgeo  # noqa: E402
from gridgeo.constraints import attach_orphans  # noqa: E402
from gridgeo.engine.tree import within_groups  # noqa: E402
from gridgeo.metrics import balance, boundary_on_streets  # noqa: E402
from gridgeo.pipeline import assemble, label_units, prepare  # noqa: E402

log = logging.getLogger("bench_partition")

BUNDLED = ("kouvola", "helsinki", "monaco")
COLUMNS = [
    ("dataset", "<"),
    ("method", "<"),
    ("units", ">"),
    ("grids", ">"),
    ("±10 %", ">"),
    ("±25 %", ">"),
    ("min", ">"),
    ("median", ">"),
    ("max", ">"),
    ("mean PP", ">"),
    ("PP p10", ">"),
    ("on streets", ">"),
    ("contiguous", ">"),
    ("seconds", ">"),
    ("× gridgeo", ">"),
    ("CPU s", ">"),
    ("CPU ×", ">"),
    ("note", "<"),
]


def gridgeo_labels(ws, random_state):
    """gridgeo's labels exactly as ``partition`` computes them (engine + orphans)."""
    return label_units(ws, random_state=random_state)


def score(ws, labels: np.ndarray) -> dict:
    """The figures of one labelling, by gridgeo's own assemble and summary.

    Should assemble fail, the figures that need no geometry are computed from the labels
    (and the note says so).
    """
    t0 = time.perf_counter()
    contiguous = bm.contiguous_share(labels, ws.full_adjacency)
    try:
        plan = assemble(ws, labels)
        s = plan.summary()
    except Exception as exc:  # score what can be scored, say why the rest is missing
        log.warning("  assemble failed: %s: %s", type(exc).__name__, exc)
        hh = np.bincount(labels, weights=ws.units.households)
        return {
            "grids": len(hh),
            "within_10pct": balance(hh, ws.target)["within_10pct"],
            "min": int(hh.min()),
            "median": float(np.median(hh)),
            "max": int(hh.max()),
            "boundary_on_streets": boundary_on_streets(labels, ws.units.block, ws.adjacency),
            "contiguous": contiguous,
            "empty": int((hh == 0).sum()),
            "note": f"assemble failed ({type(exc).__name__}): no Polsby–Popper",
        }
    log.info("  assembled %d grids in %.1f s", s["n_grids"], time.perf_counter() - t0)
    return {
        "grids": s["n_grids"],
        "within_10pct": s["within_10pct"],
        "within_25pct": s["within_25pct"],
        "min": s["min"],
        "median": s["median"],
        "max": s["max"],
        "polsby_popper_mean": s["polsby_popper_mean"],
        "polsby_popper_p10": s["polsby_popper_p10"],
        "boundary_on_streets": s["boundary_on_streets"],
        "contiguous": contiguous,
        "empty": s["empty_grids"],
    }


def bench_dataset(name: str, args) -> tuple[list[dict], dict]:
    """All methods on one dataset: rows of the table, and gridgeo end to end."""
    log.info("%s: gridgeo end to end in a fresh process", name)
    e2e = bm.run_end_to_end(name, args.wuhan, args.target, args.random_state)
    if e2e:
        log.info(
            "%s: read %.1f s, prepared %.1f s, end to end %.1f s, peak %.0f MiB",
            name,
            *e2e,
        )

    log.info("%s: reading and preparing units", name)
    streets, buildings, extra = bm.load(name, args.wuhan)
    t0 = time.perf_counter()
    ws = prepare(streets, buildings, target=args.target, **extra)
    del streets, buildings, extra
    weights = np.asarray(ws.weights, dtype=float)
    n = len(weights)
    log.info(
        "%s: %d units, %d households, %d units with none, prepared in %.1f s",
        name,
        n,
        int(ws.units.households.sum()),
        int((weights == 0).sum()),
        time.perf_counter() - t0,
    )
    # the graph gridgeo partitions: barrier edges cut; and no edge between groups
    local = within_groups(ws.adjacency, np.asarray(ws.groups))
    local.sort_indices()
    cent = shapely.centroid(ws.units.geometry)
    xy = np.column_stack([shapely.get_x(cent), shapely.get_y(cent)])
    n_comp = csgraph.connected_components(local, directed=False)[0]
    if n_comp > 1:
        log.info(
            "%s: %d connected pieces (barriers, communities): each is partitioned alone",
            name,
            n_comp,
        )

    runs = [("gridgeo", gridgeo_labels, (ws, args.random_state))]
    for method, fn in bm.METHODS.items():
        if args.methods and method not in args.methods:
            continue
        fn_args = (fn, weights, local, xy, args.target, args.random_state, ws.whole)
        runs.append((method, bm.per_component, fn_args))

    rows = []
    for method, fn, fn_args in runs:
        log.info("%s: %s (cap %g s)", name, method, args.cap)
        out = bm.run_capped(fn, fn_args, args.cap, args.mem_cap)
        row = {"dataset": name, "method": method, "units": n, "note": out.note}
        if out.status == "ok":
            log.info("  labelled in %.2f s (setup %.2f s)", out.seconds, out.setup or 0.0)
            labels = np.unique(out.labels, return_inverse=True)[1].astype(np.int64)
            if method != "gridgeo":  # what label_units does after the engine
                labels = attach_orphans(
                    labels,
                    ws.weights,
                    ws.full_adjacency,
                    ws.adjacency,
                    ws.groups,
                    ws.units.community,
                )
                labels = np.unique(labels, return_inverse=True)[1].astype(np.int64)
            row["seconds"] = out.seconds
            row["cpu_seconds"] = out.cpu
            row.update(score(ws, labels))
            if row["empty"]:
                extra_note = f"{row['empty']} grid(s) with no households"
                row["note"] = "; ".join(x for x in (row["note"], extra_note) if x)
            if row["contiguous"] < 1:
                parts = row["grids"] - round(row["contiguous"] * row["grids"])
                log.info("  %d grids are not connected", parts)
        else:
            log.info("  %s", out.note)
        rows.append(row)
        gc.collect()
    base, base_cpu = rows[0].get("seconds"), rows[0].get("cpu_seconds")
    for row in rows:
        if base and row.get("seconds") is not None:
            row["ratio"] = row["seconds"] / base
        if base_cpu and row.get("cpu_seconds") is not None:
            row["cpu_ratio"] = row["cpu_seconds"] / base_cpu
    info = {
        "dataset": name,
        "units": n,
        "households": int(ws.units.households.sum()),
        "zero_units": int((weights == 0).sum()),
        "pieces": n_comp,
        "read_s": e2e[0] if e2e else None,
        "prepare_s": e2e[1] if e2e else None,
        "end_to_end_s": e2e[2] if e2e else None,
        "peak_mib": e2e[3] if e2e else None,
    }
    del ws, local
    gc.collect()
    return rows, info


def revision() -> str:
    """The commit measured, and whether gridgeo/ had uncommitted changes."""
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
        done.check_returncode()
        return done.stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "gridgeo")
    except (OSError, subprocess.CalledProcessError):
        return "(revision unknown)"
    return f"at {head}" + (" with uncommitted changes in gridgeo/" if dirty else "")


def _short(x: float) -> str:
    """Three significant figures at most, never scientific notation."""
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def cells(row: dict, cap: float) -> list[str]:
    def pct(key):
        return f"{row[key]:.1%}" if key in row else ""

    done = "grids" in row
    if "seconds" in row:
        seconds = _short(row["seconds"])
    elif row["note"].startswith("did not finish"):
        seconds = f"> {cap:g}"
    else:
        seconds = ""
    return [
        row["dataset"],
        row["method"],
        str(row["units"]),
        str(row["grids"]) if done else "",
        pct("within_10pct"),
        pct("within_25pct"),
        str(row["min"]) if done else "",
        f"{row['median']:g}" if done else "",
        str(row["max"]) if done else "",
        f"{row['polsby_popper_mean']:.3f}" if "polsby_popper_mean" in row else "",
        f"{row['polsby_popper_p10']:.3f}" if "polsby_popper_p10" in row else "",
        pct("boundary_on_streets"),
        pct("contiguous"),
        seconds,
        _short(row["ratio"]) if "ratio" in row else "",
        _short(row["cpu_seconds"]) if row.get("cpu_seconds") is not None else "",
        _short(row["cpu_ratio"]) if "cpu_ratio" in row else "",
        row["note"],
    ]


def print_table(rows: list[dict], cap: float) -> None:
    body = [cells(r, cap) for r in rows]
    head = [c for c, _ in COLUMNS]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    fmt = "  ".join(f"{{:{a}{w}}}" for (_, a), w in zip(COLUMNS, widths, strict=True))
    print(fmt.format(*head).rstrip())
    print("  ".join("-" * w for w in widths))
    for line in body:
        print(fmt.format(*line).rstrip())


def print_markdown(rows: list[dict], cap: float) -> None:
    head = [c for c, _ in COLUMNS]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(":--" if a == "<" else "--:" for _, a in COLUMNS) + "|")
    for r in rows:
        print("| " + " | ".join(cells(r, cap)) + " |")


def print_end_to_end(infos: list[dict], markdown: bool) -> None:
    head = [
        "dataset",
        "units",
        "households",
        "units with 0",
        "pieces",
        "read s",
        "prepare s",
        "end to end s",
        "÷ prepare",
        "peak MiB",
    ]
    body = [
        [
            i["dataset"],
            str(i["units"]),
            str(i["households"]),
            str(i["zero_units"]),
            str(i["pieces"]),
            "" if i["read_s"] is None else f"{i['read_s']:.1f}",
            "" if i["prepare_s"] is None else f"{i['prepare_s']:.1f}",
            "failed" if i["end_to_end_s"] is None else f"{i['end_to_end_s']:.1f}",
            "" if i["end_to_end_s"] is None else f"{i['end_to_end_s'] / i['prepare_s']:.2f}",
            "" if i["peak_mib"] is None else f"{i['peak_mib']:.0f}",
        ]
        for i in infos
    ]
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|:--|" + "--:|" * (len(head) - 1))
        for line in body:
            print("| " + " | ".join(line) + " |")
        return
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    fmt = "  ".join(f"{{:{'<' if k == 0 else '>'}{w}}}" for k, w in enumerate(widths))
    print(fmt.format(*head))
    print("  ".join("-" * w for w in widths))
    for line in body:
        print(fmt.format(*line))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default=",".join(BUNDLED), help="comma-separated")
    parser.add_argument("--target", type=float, default=300, help="households per grid")
    parser.add_argument("--cap", type=float, default=120, help="seconds per method")
    parser.add_argument(
        "--mem-cap", type=float, default=8, help="GiB a method may map beyond the units"
    )
    parser.add_argument("--wuhan", help="folder with the Wuhan streets and population grid")
    parser.add_argument("--methods", help="comma-separated subset of the other methods")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--markdown", action="store_true", help="also print markdown tables")
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    args = parser.parse_args()
    if args.methods:
        args.methods = [m.strip() for m in args.methods.split(",")]
        unknown = set(args.methods) - set(bm.METHODS)
        if unknown:
            parser.error(f"unknown methods {sorted(unknown)}; choose from {list(bm.METHODS)}")
    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    for name in names:
        if name == "wuhan" and not args.wuhan:
            parser.error("dataset wuhan needs --wuhan DIR")
        if name != "wuhan" and name not in gridgeo.datasets.available():
            parser.error(f"unknown dataset {name!r}")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr
    )
    warnings.filterwarnings("ignore")

    measured = revision()  # before the run: gridgeo/ may change while it runs
    started = time.perf_counter()
    rows, infos = [], []
    for name in names:
        r, info = bench_dataset(name, args)
        rows += r
        infos.append(info)
        if args.json:  # after each dataset, so a long run keeps what it measured
            args.json.write_text(
                json.dumps({"gridgeo": measured, "rows": rows, "datasets": infos}, indent=2)
            )
    log.info("benchmark took %.0f s", time.perf_counter() - started)

    print(
        f"Target {args.target:g} households per grid; methods capped at {args.cap:g} s; "
        f"gridgeo {measured}."
    )
    print()
    print_table(rows, args.cap)
    print()
    print("gridgeo end to end (read, prepare, label, assemble, write files; fresh process):")
    print_end_to_end(infos, markdown=False)
    if args.markdown:
        print()
        print_markdown(rows, args.cap)
        print()
        print_end_to_end(infos, markdown=True)


if __name__ == "__main__":
    main()
