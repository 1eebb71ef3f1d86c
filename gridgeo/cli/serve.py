"""``gridgeo serve``: the HTTP API (partition and audit jobs) on uvicorn.

Wired into :mod:`gridgeo.cli` with :func:`add_parser` and :func:`run`; every error is a
:class:`~gridgeo._errors.GridgeoError` that the CLI prints on one line.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from ._common import add_command

__all__ = ["add_parser", "run"]

log = logging.getLogger(__name__)

_EPILOG = """examples:
  gridgeo serve                                   # the workbench at http://127.0.0.1:8765/, the API at /docs
  gridgeo serve --data-dir /srv/gridgeo --port 8080
  gridgeo serve --host 0.0.0.0 --token-file /etc/gridgeo/token   # other hosts need a token
  gridgeo serve --store postgresql://gridgeo@db/gridgeo --port 8081   # one store, several servers
  gridgeo serve --job-timeout 3600 --job-memory-mb 8000 --public-url https://gis.example.org/gridgeo
  gridgeo serve --scheduler tcp://10.0.0.5:8786   # partition jobs run tile by tile on Dask

endpoints: POST /jobs/partition, /jobs/audit (GeoJSON), /jobs/partition/upload,
/jobs/audit/upload (GeoPackage or zipped Shapefile); GET /jobs/{id} (status, progress),
GET /jobs/{id}/results/{geojson|gpkg|map|summary|csv}; the schema at /openapi.json.
The planner's workbench is at / (open a plan of --data-dir, upload one, or partition
uploaded layers; edit, lock, rebalance, save versions, export); its /api routes need the
token as /jobs do. With a token, send it as "Authorization: Bearer TOKEN" or
"X-API-Token: TOKEN" (the page asks for it once).
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``serve`` subcommand to ``subparsers`` (from ``add_subparsers``); returns its
    parser, whose defaults hold ``run=run``."""
    from ..service.config import DEFAULT_PORT

    p = add_command(
        subparsers,
        "serve",
        run,
        help="start the HTTP API: submit partition and audit jobs, poll them, fetch results",
        description=(
            "Start the gridgeo HTTP API (FastAPI on uvicorn). Jobs run each in a process of "
            "its own, within --job-timeout and --job-memory-mb; jobs and results are kept "
            "under --data-dir (or in PostgreSQL with --store, shared by several servers), "
            "so a restart loses nothing: queued jobs run after it. "
            "Listening on anything but loopback needs an API token."
        ),
        epilog=_EPILOG,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        default="gridgeo-data",
        help="where jobs and results are kept (default: ./gridgeo-data)",
    )
    p.add_argument(
        "--store",
        metavar="URL",
        help="keep jobs, results and plan versions in PostgreSQL, shared by every server "
        "started with the same URL: postgresql://user@host/db[?schema=NAME] (default "
        "schema gridgeo; password from PGPASSWORD or ~/.pgpass rather than the URL, which "
        "every user sees in the process list); default: SQLite under --data-dir",
    )
    p.add_argument(
        "--token-file",
        metavar="FILE",
        help="file holding the API token required on /jobs (default: $GRIDGEO_TOKEN; "
        "a token is required off loopback)",
    )
    p.add_argument(
        "--token",
        metavar="T",
        help="the API token itself (visible to every user in the process list: prefer "
        "--token-file or $GRIDGEO_TOKEN)",
    )
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="address clients reach the service at, for result links (default: links "
        "relative to the request)",
    )
    p.add_argument(
        "--max-upload-mb",
        metavar="N",
        type=float,
        default=100.0,
        help="largest request body in MiB (default: 100)",
    )
    p.add_argument(
        "--workers",
        metavar="N",
        type=int,
        default=1,
        help="jobs run at the same time, each in a worker process (default: 1)",
    )
    p.add_argument(
        "--max-queue",
        metavar="N",
        type=int,
        default=64,
        help="jobs waiting or running at most; more get 503 (default: 64)",
    )
    p.add_argument(
        "--job-timeout",
        metavar="SECONDS",
        type=float,
        default=1800.0,
        help="a job running longer is stopped and fails (default: 1800, 30 min)",
    )
    p.add_argument(
        "--job-memory-mb",
        metavar="N",
        type=float,
        help="a job using more of its own memory is stopped and fails (default: half "
        "the machine's memory, shared by the workers)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run partition jobs on this Dask cluster, every stage per tile "
        "(e.g. tcp://10.0.0.5:8786; needs pip install 'gridgeo[dask]')",
    )
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``gridgeo serve`` with parsed arguments until interrupted; returns 0.

    Raises
    ------
    GridgeoError
        Unusable settings, e.g. a non-loopback ``--host`` without a token.
    """
    from .._errors import InputError
    from ..service import ServiceConfig, serve
    from ..service.config import read_token

    if args.token and args.token_file:
        raise InputError("give the API token once: --token-file FILE or --token T, not both")
    if args.token:
        log.warning(
            "--token is visible to every user of this machine in the process list; "
            "use --token-file FILE or GRIDGEO_TOKEN instead"
        )
    token = args.token or (read_token(args.token_file) if args.token_file else None)
    if args.store:
        from ..io import parse_db_url

        if parse_db_url(args.store).scrub(args.store) != args.store:
            log.warning(
                "the --store URL holds a password, visible to every user of this machine "
                "in the process list; use PGPASSWORD or ~/.pgpass instead"
            )
    config = ServiceConfig(
        data_dir=Path(args.data_dir),
        host=args.host,
        port=args.port,
        token=token or os.environ.get("GRIDGEO_TOKEN") or None,
        max_upload_mb=args.max_upload_mb,
        workers=args.workers,
        max_queue=args.max_queue,
        job_timeout=args.job_timeout,
        job_memory_mb=args.job_memory_mb,
        public_url=args.public_url,
        store=args.store,
        scheduler=args.scheduler,
    ).check()
    if config.scheduler:  # reachable now, and known to the job processes
        from ..distributed import check_scheduler
        from ..service.config import SCHEDULER_ENV

        check_scheduler(config.scheduler)
        os.environ[SCHEDULER_ENV] = config.scheduler
    log.info("starting on http://%s:%d (jobs in %s)", args.host, args.port, config.store_display)
    level = logging.getLogger("gridgeo").getEffectiveLevel()
    serve(config, log_level="warning" if level > logging.INFO else "info")
    return 0
