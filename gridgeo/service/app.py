"""The FastAPI application: submit jobs, poll them, fetch their results.

Endpoints (``/docs`` shows them, ``/openapi.json`` is the schema):

- ``GET /health``: what the service is doing (no token needed; 503 when stalled);
- ``POST /jobs/partition`` and ``POST /jobs/audit``: a job from GeoJSON layers (JSON);
- ``POST /jobs/partition/upload`` and ``POST /jobs/audit/upload``: a job from an
  uploaded GeoPackage or zipped Shapefile (multipart form: ``file``, the options,
  ``<role>_layer`` fields naming the layers);
- ``GET /jobs``: jobs, newest first; ``GET /jobs/{id}``: status, progress, stage,
  error, summary and result links; ``DELETE /jobs/{id}``: a finished job and its files;
- ``GET /jobs/{id}/results/{name}``: ``geojson``, ``gpkg``, ``map``, ``summary`` (and
  ``csv`` for audits).

Submissions answer ``202`` with the job; the work runs in a job process (see
:mod:`gridgeo.service.runner`). Errors are JSON ``{"detail": ...}``, the detail naming
the field at fault: 401 without the token (checked before the body is read), 404
unknown job, 409 job not finished, 413 body over the limit, 415 unknown upload format,
422 invalid request, 503 queue full. Links in answers are relative to the request's
path, or absolute from ``--public-url``: never built from the request's ``Host``.

The parts: :mod:`~gridgeo.service.submit_api` (submitting),
:mod:`~gridgeo.service.jobs_api` (listing, status, deleting, results) and
:mod:`~gridgeo.service.health` route the requests, with what they share in
:mod:`~gridgeo.service.deps` (the token, the store, links);
:mod:`~gridgeo.service.errors` answers errors and :mod:`~gridgeo.service.openapi`
completes the schema. The guards (token, body size, headers) are
:mod:`~gridgeo.service.security`'s middlewares.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from .._version import __version__
from . import health, jobs_api, submit_api
from .config import ServiceConfig
from .errors import install_error_handlers
from .health import STALL_AFTER, health_report
from .openapi import install_openapi
from .runner import Runner
from .security import BodyLimit, SafeHeaders, TokenGuard
from .store import JobStore, open_store

__all__ = ["STALL_AFTER", "create_app", "health_report"]

log = logging.getLogger(__name__)

_DESCRIPTION = (
    "Draw community grids (社区网格) from streets and buildings, and audit existing "
    "grid plans. Submit a job, poll it, fetch its results."
)


def create_app(config: ServiceConfig) -> FastAPI:
    """The gridgeo HTTP API for ``config`` (checked: see :meth:`ServiceConfig.check`).

    Its job runner starts with the application: jobs queued by a previous run in the
    same data directory run, and jobs it was running are taken back (see
    :mod:`gridgeo.service.runner`).

    Parameters
    ----------
    config : ServiceConfig

    Returns
    -------
    fastapi.FastAPI
    """
    config.check()
    store, versions = _open_stores(config)
    app = FastAPI(
        title="gridgeo", version=__version__, description=_DESCRIPTION, lifespan=_lifespan
    )
    app.state.store = store
    app.state.versions = versions
    app.state.config = config
    _add_guards(app, config)
    install_openapi(app)
    install_error_handlers(app)
    _include_routers(app)
    return app


def _open_stores(config: ServiceConfig) -> tuple[JobStore, Any]:
    """The job store and the workbench's version store of ``config``."""
    from ..workbench.versions import open_versions  # the workbench's, when mounted

    store = open_store(config.data_dir, config.store)
    return store, open_versions(config.data_dir, config.store)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the job runner while the application runs (``app.state.runner``)."""
    config = app.state.config
    app.state.runner = Runner(
        app.state.store,
        slots=config.workers,
        job_timeout=config.job_timeout,
        job_memory_mb=config.job_memory_limit_mb,
    ).start()
    log.info(
        "gridgeo service: jobs in %s; %d worker(s), at most %g s and %.0f MiB a job",
        config.store_display,
        config.workers,
        config.job_timeout,
        config.job_memory_limit_mb,
    )
    try:
        yield
    finally:
        app.state.runner.shutdown()


def _add_guards(app: FastAPI, config: ServiceConfig) -> None:
    """The middlewares: body limit, safe headers, the token guards of /jobs and /api."""
    # the last added runs first: the token guards are outermost, so that the token is
    # checked before anything reads the body (the workbench's /api needs it too; its
    # page at / holds no data)
    limit = config.max_upload_bytes
    app.add_middleware(BodyLimit, max_bytes=limit)
    app.add_middleware(SafeHeaders)
    app.add_middleware(TokenGuard, token=config.token, prefix="/jobs", max_bytes=limit)
    app.add_middleware(TokenGuard, token=config.token, prefix="/api", max_bytes=limit)


def _include_routers(app: FastAPI) -> None:
    """The workbench, then submission, health and job routes (the schema's order)."""
    from ..workbench.api import service_router  # the planner's workbench at /

    app.include_router(service_router(app.state.config.data_dir, app.state.versions))
    app.include_router(submit_api.router)
    app.include_router(health.router)
    app.include_router(jobs_api.router)
