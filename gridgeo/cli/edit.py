"""``gridgeo edit``: open a plan in the planner's workbench in the browser.

Wired into :mod:`gridgeo.cli` with :func:`add_parser` and :func:`run`.
"""

from __future__ import annotations

import argparse
import logging
import threading
import webbrowser
from pathlib import Path
from typing import Any

from .._errors import InputError
from ._common import add_command

__all__ = ["add_parser", "run"]

log = logging.getLogger(__name__)

_EPILOG = """examples:
  gridgeo edit out/wangjing                      # opens http://127.0.0.1:8765/
  gridgeo edit out/wangjing/grids.gpkg --port 8800 --no-browser
  gridgeo edit city_grids.shp --buildings buildings.gpkg --households-column HH
  gridgeo edit out/wangjing --streets streets.gpkg   # streets drawn, followed by rebalance

Works offline: the page and Leaflet are served from the package. Saved versions go
into DATA_DIR/workbench.sqlite (default: gridgeo-data, as gridgeo serve); the page
can also open the plans of DATA_DIR (partition jobs, plans/, uploads). `gridgeo serve`
serves the same workbench at / with no plan open.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``edit`` subcommand to ``subparsers``."""
    p = add_command(
        subparsers,
        "edit",
        run,
        help="review, edit, lock and rebalance a plan in the browser (workbench)",
        description=(
            "Open a plan (a folder written by gridgeo partition, or its grids.gpkg with "
            "layers grids and buildings) in the workbench: move buildings between grids "
            "with live counts, merge, split, lock, rebalance the rest, save versions."
        ),
        epilog=_EPILOG,
    )
    p.add_argument(
        "plan", metavar="PLAN", help="plan folder or grids.gpkg, or a city's grid polygons"
    )
    p.add_argument(
        "--buildings",
        metavar="FILE",
        help="buildings of a city's own plan (each goes to the grid holding it)",
    )
    p.add_argument(
        "--households-column",
        metavar="COL",
        default="households",
        help="households per building in --buildings (default: households)",
    )
    p.add_argument(
        "--streets",
        metavar="FILE",
        help="street lines: drawn on the map and followed by rebalance (default: the plan's streets layer, if any)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default: 8765)")
    p.add_argument(
        "--data-dir", metavar="DIR", default="gridgeo-data", help="where versions are kept"
    )
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    return p


def run(args: argparse.Namespace) -> int:
    """Serve the workbench on ``args.plan`` until interrupted; returns 0."""
    import uvicorn

    from ..service.config import is_loopback
    from ..workbench import Session
    from ..workbench.api import Workbench, create_app
    from ..workbench.versions import VersionStore

    if not is_loopback(args.host):
        msg = f"gridgeo edit serves on this machine only (127.0.0.1); got --host {args.host}"
        raise InputError(msg)
    from ..io import read_layer
    from ..workbench.sources import grid_id_column

    streets = read_layer(args.streets, name="streets") if args.streets else None
    if args.buildings:
        grids = read_layer(args.plan, name="grids")
        session = Session.from_layers(
            grids,
            read_layer(args.buildings, name="buildings"),
            households=args.households_column,
            grid_id=grid_id_column(grids),
            streets=streets,
        )
        session.source = str(Path(args.plan).resolve())
    else:
        session = Session.open(Path(args.plan))
        if streets is not None:
            session.streets = streets.to_crs(session.footprints.crs)[["geometry"]]
    bench = Workbench(session, VersionStore(args.data_dir), data_dir=args.data_dir)
    url = f"http://{args.host}:{args.port}/"
    print(f"  workbench {url} ({len(session.table())} grids, {session.n_buildings} buildings)")
    if not args.no_browser:
        threading.Timer(1.0, webbrowser.open, (url,)).start()
    uvicorn.run(create_app(bench), host=args.host, port=args.port, log_level="warning")
    return 0
