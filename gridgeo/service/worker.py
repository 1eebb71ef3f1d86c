"""The job worker: a pool of processes that runs partition and audit jobs.

Jobs run in worker processes (spawned, reused for several jobs), not in the requests
and not in the server's process: a long partition does not hold the server's
interpreter, and a crash inside a job (even in GEOS) fails that job, not the server. A
job process reads the job's stored inputs, runs :func:`gridgeo.partition` or
:func:`gridgeo.audit.audit`, writes its results into a scratch folder, moves them into
``results/`` and only then marks the job ``succeeded`` in the store (SQLite is shared
by the processes). Progress comes from the pipeline's own steps (the ``gridgeo``
logger's "… " messages), mapped to a fraction. A gridgeo error fails the job with its
message (what to fix); anything else fails it as an internal error, logged with its
traceback. A job process whose server is gone stops within a second.
"""

from __future__ import annotations

import contextvars
import json
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .._errors import GridgeoError
from .inputs import load_inputs
from .security import remove_tree, safe_child
from .store import JobStore

__all__ = ["RESULT_FILES", "QueueFull", "Worker", "run_job"]

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

#: Jobs a worker process runs before it is replaced (returns its memory).
JOBS_PER_PROCESS = 20

# fraction of the job done when a pipeline step starts
_STAGES = {
    "choosing a metric CRS": 0.08,
    "building street blocks": 0.12,
    "estimating households": 0.3,
    "splitting large blocks": 0.35,
    "partitioning": 0.55,
    "dissolving grids": 0.8,
}

_REPORT: contextvars.ContextVar[Callable[[float, str], None] | None] = contextvars.ContextVar(
    "gridgeo_job_progress", default=None
)


class QueueFull(Exception):
    """More jobs are waiting or running than the service accepts."""


class _StepHandler(logging.Handler):
    """Turns the pipeline's step messages into job progress (in the job's own thread)."""

    def emit(self, record: logging.LogRecord) -> None:
        report = _REPORT.get()
        if report is None:
            return
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not fail the job
            return
        if not message.endswith(" …"):
            return
        stage = message[:-2]
        fraction = next((f for key, f in _STAGES.items() if stage.startswith(key)), 0.0)
        report(fraction, stage)


_HANDLER = _StepHandler(level=logging.INFO)
_HANDLER_LOCK = threading.Lock()


def _install_handler() -> None:
    logger = logging.getLogger("gridgeo")
    with _HANDLER_LOCK:
        if _HANDLER not in logger.handlers:
            logger.addHandler(_HANDLER)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)  # step messages are INFO


def _child_init(parent: int) -> None:
    """In each job process: report progress, and stop when the server is gone."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    _install_handler()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:  # the server died: its jobs are failed anyway
                os._exit(1)

    threading.Thread(target=watch, name="gridgeo-watch-parent", daemon=True).start()


def _warm_up() -> None:
    """Import what jobs need, before the first job comes."""
    from .. import pipeline  # noqa: F401
    from ..audit import audit  # noqa: F401


class Worker:
    """Runs jobs in ``processes`` worker processes; at most ``max_queue`` waiting or running.

    Parameters
    ----------
    store : JobStore
    processes : int, default 1
        Jobs that run at the same time.
    max_queue : int, default 64
    warm : bool, default True
        Start a process at once and import the pipeline in it, so that the first job
        does not wait for that.
    """

    def __init__(
        self, store: JobStore, *, processes: int = 1, max_queue: int = 64, warm: bool = True
    ) -> None:
        self.store = store
        self.max_queue = max_queue
        self.processes = processes
        self._lock = threading.Lock()
        self._reserved = 0
        self._closed = False
        self._pool = self._new_pool()
        if warm:
            self._pool.submit(_warm_up)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_child_init,
            initargs=(os.getpid(),),
            max_tasks_per_child=JOBS_PER_PROCESS,
        )

    def reserve(self) -> None:
        """Take a place in the queue before storing a job; raise :class:`QueueFull`."""
        with self._lock:
            if self._closed or self._reserved >= self.max_queue:
                raise QueueFull
            self._reserved += 1

    def release(self) -> None:
        """Give back a place taken by :meth:`reserve`."""
        with self._lock:
            self._reserved = max(0, self._reserved - 1)

    def submit(self, job_id: str) -> None:
        """Queue a stored job (its place reserved)."""
        with self._lock:
            pool = self._pool
        try:
            future = pool.submit(run_job, str(self.store.data_dir), job_id)
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = self._new_pool()
                pool = self._pool
            future = pool.submit(run_job, str(self.store.data_dir), job_id)
        future.add_done_callback(partial(self._done, job_id, pool))

    def _done(self, job_id: str, pool: ProcessPoolExecutor, future: Future) -> None:
        self.release()
        if future.cancelled():  # shutting down: stays queued, failed at the next start
            return
        exc = future.exception()
        if exc is None:
            return
        log.error("job %s: its process ended unexpectedly: %r", job_id, exc)
        self.store.fail(
            job_id,
            "InternalError",
            f"the job's process ended unexpectedly ({type(exc).__name__}); submit it again",
        )
        if isinstance(exc, BrokenProcessPool):
            with self._lock:
                if self._pool is pool and not self._closed:
                    self._pool = self._new_pool()

    def shutdown(self) -> None:
        """Stop taking jobs; jobs not started stay queued (failed at the next start)."""
        with self._lock:
            self._closed = True
            pool = self._pool
        pool.shutdown(wait=False, cancel_futures=True)

    @property
    def pending(self) -> int:
        with self._lock:
            return self._reserved


# ---------------------------------------------------------------------- in a job process


def run_job(data_dir: str, job_id: str) -> None:
    """Run one stored job to its end (in a worker process); the store records the outcome."""
    store = JobStore(Path(data_dir))
    job = store.get(job_id)
    if job is None or job.status != "queued":
        return
    store.start(job_id)
    last = [0.0]

    def report(fraction: float, stage: str) -> None:
        now = time.monotonic()
        if fraction > 0 or now - last[0] > 0.5:
            last[0] = now
            store.progress(job_id, fraction, stage)

    token = _REPORT.set(report)
    job_dir = store.job_dir(job_id)
    started = time.perf_counter()
    try:
        report(0.02, "reading inputs")
        layers = load_inputs(job_dir, job.params["inputs"])
        run = _run_partition if job.kind == "partition" else _run_audit
        scratch = safe_child(job_dir, "scratch")
        remove_tree(scratch)
        scratch.mkdir()
        run(layers, job.params["options"], scratch, report)
        final = safe_child(job_dir, "results")
        remove_tree(final)
        os.replace(scratch, final)
        kind_files = RESULT_FILES[job.kind]
        files = {
            name: (f"results/{file}", media)
            for name, (file, media) in kind_files.items()
            if (final / file).is_file()
        }
        # the summary as written by to_files (a plan's summary() redoes its geometry)
        summary = json.loads((final / kind_files["summary"][0]).read_text(encoding="utf-8"))
        store.succeed(job_id, summary, files)
        log.info("job %s (%s) done in %.1f s", job_id, job.kind, time.perf_counter() - started)
    except GridgeoError as err:
        store.fail(job_id, type(err).__name__, str(err))
        log.info("job %s failed: %s", job_id, err)
    except Exception as err:
        log.exception("job %s failed with an internal error", job_id)
        store.fail(job_id, "InternalError", f"{type(err).__name__}: {err}")
    finally:
        _REPORT.reset(token)
        remove_tree(job_dir / "inputs")
        remove_tree(job_dir / "scratch")


_Report = Callable[[float, str], None]


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
