"""``gridgeo map``: draw a saved plan as an interactive HTML map or a PNG / PDF print map.

Wired into :mod:`gridgeo.cli` with :func:`add_parser` and :func:`run`; every error is a
:class:`~gridgeo._errors.GridgeoError` that the CLI prints on one line.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio

from .._errors import InputError, ReadError
from ._common import add_command, layer_names, plan_source

__all__ = ["add_parser", "run"]

log = logging.getLogger(__name__)

_EPILOG = """examples:
  gridgeo map out/wangjing/grids.gpkg --out map.html --lang zh --basemap none
  gridgeo map out/wangjing/grids.gpkg --out map.html --basemap tianditu-vec --tk YOUR_KEY
  gridgeo map out/wangjing/grids.gpkg --out map.html --basemap gaode      # shifted to GCJ-02
  gridgeo map out/wangjing/grids.gpkg --out grids.pdf --lang zh --paper A3 --per-community
  gridgeo map out/wangjing/grids.gpkg --out grids.png --title "望京街道网格划分区域图"

basemaps: osm (internet), tianditu-vec / tianditu-img (internet and a key: --tk or
TIANDITU_TOKEN), gaode / amap (internet; layers converted to GCJ-02), none (offline).
The HTML file carries Leaflet inside it: it needs no CDN, and with --basemap none no
network at all. PNG and PDF maps never use a basemap.
"""

_SUFFIXES = (".html", ".htm", ".png", ".pdf")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``map`` subcommand to ``subparsers`` (from ``add_subparsers``); returns its
    parser, whose defaults hold ``run=run``."""
    from ..render.basemaps import BASEMAPS

    p = add_command(
        subparsers,
        "map",
        run,
        help="draw a plan (grids.gpkg) as an HTML, PNG or PDF map",
        description=(
            "Draw a plan written by gridgeo (grids.gpkg, layers grids and buildings) as a "
            "self-contained interactive HTML map, or as a print map (网格划分区域图) in "
            "PNG or PDF, A4 or A3."
        ),
        epilog=_EPILOG,
    )
    p.add_argument(
        "plan",
        metavar="PLAN",
        help="a plan: the folder gridgeo partition (or rebalance) wrote, its grids.gpkg, or a schema it published: postgresql://…?schema=NAME",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        required=True,
        help="output file: .html (interactive), .png or .pdf (print)",
    )
    p.add_argument(
        "--lang", choices=["en", "zh"], default="en", help="language of the map (default: en)"
    )
    p.add_argument("--title", metavar="TEXT", help="map title")
    p.add_argument(
        "--color-by",
        choices=["neighbours", "deviation"],
        default="neighbours",
        help="grid colours: neighbours differ, or deviation from the target (default: neighbours)",
    )
    p.add_argument(
        "--target",
        metavar="N",
        type=float,
        help="households per grid (default: worked out from the plan's deviation column)",
    )
    p.add_argument(
        "--no-buildings", action="store_true", help="leave the plan's buildings off the map"
    )
    p.add_argument(
        "--overlay",
        metavar="NAME=FILE",
        action="append",
        default=[],
        help="extra layer (street-front zones, audit findings …) from a GIS file; repeatable",
    )
    h = p.add_argument_group("HTML maps")
    h.add_argument(
        "--basemap",
        choices=[b for b in BASEMAPS if b != "amap"],
        default="osm",
        help="tiles under the grids (default: osm; none works offline)",
    )
    h.add_argument("--tk", metavar="KEY", help="Tianditu key (default: $TIANDITU_TOKEN)")
    h.add_argument(
        "--cdn",
        action="store_true",
        help="link Leaflet from jsDelivr instead of putting it in the file (blocked in mainland China)",
    )
    pr = p.add_argument_group("print maps (PNG, PDF)")
    pr.add_argument("--paper", choices=["A4", "A3"], default="A4", help="paper (default: A4)")
    pr.add_argument(
        "--orientation",
        choices=["auto", "portrait", "landscape"],
        default="auto",
        help="default auto: the one that prints the map larger",
    )
    pr.add_argument(
        "--per-community",
        action="store_true",
        help="one page per community (a multi-page PDF, or one PNG each)",
    )
    pr.add_argument(
        "--dpi", metavar="N", type=float, default=200, help="PNG resolution (default: 200)"
    )
    return p


def _read_plan(path: Path, *, buildings: bool) -> tuple[Any, Any]:
    """Layers ``grids`` and (optionally) ``buildings`` of a plan file, read as stored.

    The maps check and repair them (a repair keeps the polygonal parts of each grid).
    """
    if not path.is_file():
        msg = f"plan file not found: {path}; write one with `gridgeo partition --out DIR`"
        raise ReadError(msg)
    if path.suffix.lower() != ".gpkg":
        msg = f"PLAN must be the grids.gpkg gridgeo writes, got {path.name}"
        raise ReadError(msg)
    names = layer_names(path)
    if "grids" not in names:
        msg = f"{path} has no layer 'grids' (layers: {', '.join(names)}); is it a gridgeo plan?"
        raise ReadError(msg)
    try:
        grids = pyogrio.read_dataframe(path, layer="grids")
        bld = None
        if buildings and "buildings" in names:
            bld = pyogrio.read_dataframe(path, layer="buildings")
    except Exception as exc:  # pyogrio raises several DataSourceError kinds
        msg = f"cannot read {path}: {exc}"
        raise ReadError(msg) from exc
    log.info("plan %s: %d grids, %s buildings", path, len(grids), "no" if bld is None else len(bld))
    return grids, bld


def _target(grids: Any, given: float | None) -> float | None:
    """The given target, else households ÷ (1 + deviation) from the plan (exact for gridgeo plans)."""
    if given is not None:
        return given
    if "deviation" not in grids.columns or "households" not in grids.columns:
        return None
    hh = pd.to_numeric(grids["households"], errors="coerce").to_numpy(dtype=float)
    dev = pd.to_numeric(grids["deviation"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(hh) & np.isfinite(dev) & (hh > 0) & (dev > -1)
    if not ok.any():
        return None
    target = float(np.median(hh[ok] / (1.0 + dev[ok])))
    return round(target, 6) if math.isfinite(target) and target > 0 else None


def _overlays(specs: list[str]) -> dict[str, Any]:
    from ..io import read_layer

    out: dict[str, Any] = {}
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep or not name.strip() or not file.strip():
            msg = f"--overlay takes NAME=FILE, e.g. --overlay 'street-front zones=zones.gpkg'; got {spec!r}"
            raise InputError(msg)
        out[name.strip()] = read_layer(file.strip(), name=f"overlay {name.strip()!r}")
    return out


def run(args: argparse.Namespace) -> int:
    """Run ``gridgeo map`` with parsed arguments; returns the exit status (0).

    Raises
    ------
    GridgeoError
        Any input problem (missing file or layer, unsupported output, missing Tianditu
        key …), with a message saying how to fix it.
    """
    from ..io import is_db_url
    from ..publish import read_plan_tables

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in _SUFFIXES:
        msg = f"--out must end in .html, .png or .pdf, got {str(out)!r}"
        raise InputError(msg)
    if is_db_url(args.plan):  # a plan published with gridgeo partition --out URL
        grids, buildings = read_plan_tables(args.plan, buildings=not args.no_buildings)
    else:
        path, _ = plan_source(args.plan)
        grids, buildings = _read_plan(Path(path), buildings=not args.no_buildings)
    target = _target(grids, args.target)
    overlays = _overlays(args.overlay) or None
    common = {
        "buildings": buildings,
        "overlays": overlays,
        "target": target,
        "lang": args.lang,
        "color_by": args.color_by,
        "title": args.title,
    }
    if suffix in (".html", ".htm"):
        from ..render import grid_map, save_map

        if args.per_community:
            log.warning("--per-community is for PNG and PDF maps: the HTML map shows all grids")
        m = grid_map(grids, basemap=args.basemap, tk=args.tk, inline_assets=not args.cdn, **common)
        written = [save_map(m, out)]
    else:
        from ..render import save_print_map

        if args.basemap not in ("osm", "none"):
            log.warning("--basemap %s is for HTML maps: print maps have no basemap", args.basemap)
        written = save_print_map(
            grids,
            out,
            per_community=args.per_community,
            paper=args.paper,
            orientation=args.orientation,
            dpi=args.dpi,
            **common,
        )
    for path in written:
        print(f"  map      {path} ({path.stat().st_size / 1024:.0f} kB)")
    return 0
