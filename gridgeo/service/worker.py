"""What runs in a job process: one job, from its stored inputs to its result files.

Each job runs in a process of its own (see :mod:`gridgeo.service.runner`), which
touches neither the store nor anything of another job: it reads the job's inputs, runs
:func:`gridgeo.partition` or :func:`gridgeo.audit.audit` (the functions the CLI runs,
with their own checks), writes the results into a scratch folder of its own and tells its
runner the outcome through a pipe; the runner moves the results into ``results/`` if the
job is still its own. Progress comes from the
pipeline's own steps (the ``gridgeo`` logger's "… " messages), mapped to a fraction. A
gridgeo error ends the job with its message (what to fix); anything else as an internal
error, logged with its traceback. A job process whose runner is gone stops within a
second.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .._errors import GridgeoError
from .config import SCHEDULER_ENV
from .inputs import load_inputs
from .security import remove_tree, safe_child

__all__ = ["RESULT_FILES", "run_job"]

log = logging.getLogger(__name__)

#: Result files of each kind of job: name → (file under results/, media type).
RESULT_FILES: dict[str, dict[str, tuple[str, str]]] = {
    "partition": {
        "geojson": ("grids.geojson", "application/geo+json"),
        "gpkg": ("grids.gpkg", "application/geopackage+sqlite3"),
        "map": ("map.html", "text/html; charset=utf-8"),
        "summary": ("summary.json", "application/json"),
    },
    "audit": {
        "geojson": ("coverage.geojson", "application/geo+json"),
        "gpkg": ("coverage.gpkg", "application/geopackage+sqlite3"),
        "map": ("coverage.html", "text/html; charset=utf-8"),
        "summary": ("coverage.json", "application/json"),
        "csv": ("coverage_findings.csv", "text/csv; charset=utf-8"),
    },
}

# fraction of the job done when a pipeline step starts
_STAGES = {
    "choosing a metric CRS": 0.08,
    "building street blocks": 0.12,
    "estimating households": 0.3,
    "splitting large blocks": 0.35,
    "partitioning": 0.55,
    "dissolving grids": 0.8,
}

_Report = Callable[[float, str], None]


class _StepHandler(logging.Handler):
    """Turns the pipeline's step messages into job progress."""

    def __init__(self, report: _Report) -> None:
        super().__init__(level=logging.INFO)
        self.report = report

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not fail the job
            return
        if not message.endswith(" …"):
            return
        stage = message[:-2]
        fraction = next((f for key, f in _STAGES.items() if stage.startswith(key)), 0.0)
        self.report(fraction, stage)


def _watch_parent() -> None:
    """Stop this process when the process that started it is gone."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:  # the runner died: the job is taken back anyway
                os._exit(1)

    threading.Thread(target=watch, name="gridgeo-watch-parent", daemon=True).start()


def _limit_address_space(extra_bytes: int | None) -> None:
    """A backstop under the runner's memory watch: no more than ``extra_bytes`` of new
    address space (a huge allocation fails with MemoryError instead of taking the
    machine's memory between two looks of the runner)."""
    if extra_bytes is None:
        return
    try:
        import resource

        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        soft = size + extra_bytes
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    except (ImportError, OSError, ValueError):  # not Linux: the runner's watch only
        pass


def run_job(
    conn: Connection,
    job_dir: str,
    kind: str,
    params: dict[str, Any],
    attempt: int = 1,
    address_space: int | None = None,
) -> None:
    """Run one job in this process; the outcome goes to ``conn``.

    Messages sent: ``("progress", fraction, stage)`` while it runs, then one of
    ``("succeeded", summary, files)`` (the results are in ``scratch/attempt-N``; ``files``
    maps result names to (file name, media type)), ``("failed", error_type, message)`` or
    ``("memory", "", "")`` (a MemoryError: the job needs more memory than it may use).

    Parameters
    ----------
    conn : Connection
        The sending end of a pipe to the runner.
    job_dir : str
        The job's folder (its ``inputs/`` are read, ``results/`` written).
    kind : {"partition", "audit"}
    params : dict
        ``{"inputs": spec, "options": options}`` as stored with the job.
    attempt : int, default 1
        The how-manieth run of the job this is (its scratch folder).
    address_space : int, optional
        Bytes of address space the job may add (see :func:`_limit_address_space`).
    """
    # Ctrl-C in the server's terminal, or a service manager stopping the server (SIGTERM
    # to every process of the service), reach this process too: the runner decides, and
    # puts the job back in the queue (SIGKILL still ends it: a job killed that way fails)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _watch_parent()
    handler = logging.StreamHandler()  # the server's stderr: warnings and errors only
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter(f"gridgeo job {Path(job_dir).name}: %(message)s"))
    logging.getLogger().addHandler(handler)
    last = [0.0]

    def report(fraction: float, stage: str) -> None:
        now = time.monotonic()
        if fraction > 0 or now - last[0] > 0.5:
            last[0] = now
            try:
                conn.send(("progress", fraction, stage))
            except OSError:  # the runner is gone: so is the reason to go on
                os._exit(1)

    from tqdm import tqdm

    # progress bars' lock: a thread lock (the default, a semaphore shared between
    # processes, would be left to the server's resource tracker by every job)
    tqdm.set_lock(threading.RLock())
    logger = logging.getLogger("gridgeo")
    logger.addHandler(_StepHandler(report))
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)  # step messages are INFO
    _limit_address_space(address_space)
    folder = Path(job_dir)
    scratch = safe_child(folder, "scratch", f"attempt-{int(attempt)}")
    try:
        report(0.02, "reading inputs")
        outcome: tuple[str, Any, Any] = ("succeeded", *_run(folder, scratch, kind, params, report))
    except GridgeoError as err:
        outcome = ("failed", type(err).__name__, str(err))
    except MemoryError:
        outcome = ("memory", "", "")
    except Exception as err:
        log.exception("job %s failed with an internal error", folder.name)
        outcome = ("failed", "InternalError", f"{type(err).__name__}: {err}")
    if outcome[0] != "succeeded":
        remove_tree(scratch)
    try:
        conn.send(outcome)
        conn.close()
    except OSError:  # the runner is gone: the job is taken back and run again
        os._exit(1)
    # done: leave at once (nothing to clean up), so that the runner sees the end now
    logging.shutdown()
    os._exit(0)


def _run(
    job_dir: Path, scratch: Path, kind: str, params: dict[str, Any], report: _Report
) -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:
    """The job itself, its results written to ``scratch``; returns (summary, files)."""
    layers = load_inputs(job_dir, params["inputs"])
    remove_tree(scratch)
    scratch.mkdir(parents=True)
    run = _run_partition if kind == "partition" else _run_audit
    run(layers, params["options"], scratch, report)
    kind_files = RESULT_FILES[kind]
    files = {name: item for name, item in kind_files.items() if (scratch / item[0]).is_file()}
    # the summary as written by to_files (a plan's summary() redoes its geometry)
    summary = json.loads((scratch / kind_files["summary"][0]).read_text(encoding="utf-8"))
    return summary, files


def _split_options(options: dict[str, Any]) -> tuple[dict[str, Any], str, bool]:
    """The keyword options of the job's function, and the map's language and switch."""
    opts = dict(options)
    lang, draw = opts.pop("lang"), opts.pop("map")
    opts.pop("input_crs", None)  # the stored inputs are already read in it
    return opts, lang, draw


def _run_partition(
    layers: dict[str, gpd.GeoDataFrame], options: dict[str, Any], out: Path, report: _Report
) -> None:
    from ..pipeline import partition

    opts, lang, draw = _split_options(options)
    streets = layers.pop("streets")
    buildings = layers.pop("buildings", None)
    scheduler = os.environ.get(SCHEDULER_ENV)
    if scheduler:  # gridgeo serve --scheduler: every stage per tile on that cluster
        from ..distributed import partition_tiles

        plan = partition_tiles(streets, buildings, scheduler=scheduler, **opts, **layers)
    else:
        plan = partition(streets, buildings, **opts, **layers)
    report(0.9, "writing results")
    plan.to_files(out, map_html=draw, lang=lang)


def _run_audit(
    layers: dict[str, gpd.GeoDataFrame], options: dict[str, Any], out: Path, report: _Report
) -> None:
    from ..audit import audit

    opts, lang, draw = _split_options(options)
    report(0.1, "auditing coverage")
    result = audit(
        layers.pop("grids"), layers.pop("buildings"), layers.pop("streets", None), **opts, **layers
    )
    report(0.85, "writing results")
    result.to_files(out, lang=lang, map_html=draw)
    _findings_geojson(result.layers(), out / "coverage.geojson")


def _findings_geojson(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    """Every finding layer in one GeoJSON (EPSG:4326) with a ``layer`` property."""
    frames = []
    for name, gdf in layers.items():
        if gdf is None or len(gdf) == 0:
            continue
        g = gdf[gdf.geometry.notna()].to_crs(4326)
        g = g.assign(layer=name)
        for col in g.columns:
            if col != g.geometry.name and g[col].dtype == object:
                g[col] = g[col].map(lambda v: v if v is None or isinstance(v, str) else str(v))
        frames.append(g)
    if frames:
        out = pd.concat(frames, ignore_index=True)
        out = gpd.GeoDataFrame(out, geometry=out.geometry.name, crs=4326)
    else:
        out = gpd.GeoDataFrame({"layer": pd.Series(dtype=object)}, geometry=[], crs=4326)
    for col in out.columns:
        if col != out.geometry.name and out[col].dtype == bool:
            out[col] = out[col].astype(np.int64)
    out.to_file(path, driver="GeoJSON", engine="pyogrio")
