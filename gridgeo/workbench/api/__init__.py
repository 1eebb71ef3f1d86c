"""The workbench's HTTP face: a FastAPI router over one :class:`~.bench.Workbench` (a
:class:`~gridgeo.workbench.session.Session` and a
:class:`~gridgeo.workbench.versions.VersionStore`), and the browser page in ``static/``.

``gridgeo edit PLAN`` serves :func:`create_app` on its plan; ``gridgeo serve`` mounts
:func:`service_router` next to its job API, where the page opens a plan from the data
directory (:mod:`~gridgeo.workbench.sources`), an upload, or a new partition job. Edits
the rules refuse answer 422 with the reason in ``detail``; a save from an outdated
version answers 409; any plan route before a plan is open answers 409. Under
``gridgeo serve`` with an API token, every ``/api`` route needs the token as the job
routes do (the page asks for it once); the page itself and its scripts (``/``,
``/static``) hold no data and need none.

The routes, one module per concern: :mod:`.page` (the page, its files, the plan),
:mod:`.opening` (plans to open, uploads), :mod:`.map_layers` (buildings, streets,
basemaps, pieces), :mod:`.editing` (the edits), :mod:`.versioning` (save, versions,
compare), :mod:`.exports` (downloads); what they share is in :mod:`.common`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from ..._errors import GridgeoError
from ..versions import VersionStore
from . import editing, exports, map_layers, opening, page, versioning
from .bench import Workbench

__all__ = ["Workbench", "create_app", "router", "service_router"]

#: The route modules, in the order their routes are matched.
ROUTES = (page, opening, map_layers, editing, versioning, exports)


def router(bench: Workbench) -> APIRouter:
    """The workbench's routes (the page at ``/``, the API under ``/api``).

    A request carrying ``X-Workbench-Plan`` (the page sends the plan it shows, URL
    encoded) is refused with 409 when the server has another plan open (someone opened
    one since), so that no edit lands on a plan the planner is not looking at.
    """
    r = APIRouter()
    for module in ROUTES:
        r.include_router(module.routes(bench))
    return r


def create_app(bench: Workbench) -> FastAPI:
    """The workbench alone as an application (what ``gridgeo edit`` serves)."""
    from ... import __version__

    app = FastAPI(title="gridgeo workbench", version=__version__)
    app.include_router(router(bench))

    @app.exception_handler(GridgeoError)
    async def _error(_request: Any, exc: GridgeoError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 422)

    return app


def service_router(data_dir: str | Path, versions: Any = None) -> APIRouter:
    """The workbench of ``gridgeo serve``: no plan open at first; the page opens one
    from ``data_dir`` (finished partition jobs, ``plans/``, uploads) or starts a
    partition job. Versions are kept in ``versions`` (the service's version store, in
    PostgreSQL with ``--store``), else in ``data_dir``."""
    store = VersionStore(data_dir) if versions is None else versions
    return router(Workbench(None, store, data_dir=data_dir, jobs=True))
