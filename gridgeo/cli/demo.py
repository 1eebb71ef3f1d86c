"""The ``gridgeo demo`` subcommand: partition the bundled real data and write the outputs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import add_target_options
from .partition import report

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``demo`` subcommand to ``subparsers`` (``run`` in its defaults)."""
    d = subparsers.add_parser(
        "demo",
        help="partition the bundled real data (Helsinki, and Beijing Wangjing) and write the outputs",
        description="Partition the bundled Helsinki extract with households from the real HSY population grid, and the Beijing Wangjing extract with households estimated from footprints.",
    )
    d.add_argument(
        "--out", metavar="DIR", default="out/demo", help="output folder (default: out/demo)"
    )
    add_target_options(d, tolerance=False)
    d.set_defaults(run=run)
    return d


def run(args: argparse.Namespace) -> int:
    """Run ``gridgeo demo``; returns 0."""
    from .. import datasets
    from ..io import read_layer, read_osm
    from ..pipeline import partition

    out = Path(args.out)
    print("Helsinki centre: OpenStreetMap buildings, households from the HSY 2020 population grid")
    layers = read_osm(datasets.get_path("helsinki"))
    population = read_layer(datasets.get_path("helsinki_population"), name="population grid")
    rules = {"barriers": layers.barriers, "dedicated": layers.landuse, "pois": layers.pois}
    plan = partition(
        layers.streets, layers.buildings, population=population, target=args.target, **rules
    )
    report(plan, plan.to_files(out / "helsinki"))
    print()
    print(
        "北京望京 Beijing Wangjing: OpenStreetMap buildings, households estimated from footprints"
    )
    layers = read_osm(datasets.get_path("beijing_wangjing"))
    rules = {"barriers": layers.barriers, "dedicated": layers.landuse, "pois": layers.pois}
    plan = partition(layers.streets, layers.buildings, target=args.target, **rules)
    report(plan, plan.to_files(out / "beijing_wangjing", lang="zh"), lang="zh")
    print()
    print(
        f"Open {out / 'helsinki' / 'map.html'} and {out / 'beijing_wangjing' / 'map.html'} in a browser."
    )
    return 0
