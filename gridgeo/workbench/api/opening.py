"""Opening a plan under ``gridgeo serve``: the plans of the data directory
(``GET /api/sources``), one of them (``POST /api/open``), or an upload
(``POST /api/open/upload``); see :mod:`~gridgeo.workbench.sources`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ..._errors import GridgeoError
from .. import sources
from ..session import Session
from .bench import Workbench
from .common import answer, plan_router

__all__ = ["routes"]


def routes(bench: Workbench) -> APIRouter:
    """The routes listing and opening plans (404 when the workbench opens one only)."""
    r = plan_router(bench)

    @r.get("/api/sources")
    def list_sources() -> dict[str, Any]:
        return {"sources": sources.list_sources(_data_dir(bench)), "jobs": bench.jobs}

    @r.post("/api/open")
    def open_plan(source: Annotated[str, Body(embed=True)]) -> Response:
        root = _data_dir(bench)
        try:
            session = sources.open_source(root, source)
        except GridgeoError as exc:
            raise HTTPException(422, detail=str(exc)) from None
        with bench.lock:
            bench.load(session, plan=source)
            return answer(bench)

    @r.post("/api/open/upload")
    async def upload_plan(
        plan: Annotated[
            UploadFile,
            File(description="gridgeo GeoPackage, zipped plan folder, or a city's grids"),
        ],
        buildings: Annotated[
            UploadFile | None, File(description="buildings of a city's grids")
        ] = None,
        households_column: Annotated[str, Form()] = "households",
    ) -> Response:
        root = _data_dir(bench)
        data = await plan.read()
        bdata = await buildings.read() if buildings is not None else None

        def run() -> tuple[str, Session]:
            return sources.save_upload(
                root,
                data,
                name=plan.filename or "",
                buildings=bdata or None,
                households_column=households_column,
            )

        try:
            key, session = await run_in_threadpool(run)
        except GridgeoError as exc:
            raise HTTPException(422, detail=str(exc)) from None
        with bench.lock:
            bench.load(session, plan=key)
            return answer(bench)

    return r


def _data_dir(bench: Workbench) -> Path:
    """Where ``bench`` opens plans from; 404 for ``gridgeo edit PLAN``."""
    if bench.data_dir is None:
        raise HTTPException(404, detail="this workbench opens one plan only (gridgeo edit PLAN)")
    return bench.data_dir
