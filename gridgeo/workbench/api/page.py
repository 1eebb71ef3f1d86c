"""The browser page (``/``), its scripts and styles (``/static``), and the plan it
draws (``GET /api/plan``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, Response

from .bench import Workbench
from .common import answer, plan_router

__all__ = ["routes"]

STATIC = Path(__file__).parents[1] / "static"
LEAFLET = Path(__file__).parents[2] / "render" / "static"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".html": "text/html"}


def routes(bench: Workbench) -> APIRouter:
    """The page, its files, and the plan open."""
    r = plan_router(bench)

    @r.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @r.get("/static/{name}", include_in_schema=False)
    def asset(name: str) -> FileResponse:
        for folder in (STATIC, LEAFLET):
            path = folder / name
            if "/" not in name and path.is_file():
                return FileResponse(
                    path, media_type=_TYPES.get(path.suffix, "application/octet-stream")
                )
        raise HTTPException(404, detail=f"no file {name}")

    @r.get("/api/plan")
    def plan() -> Response:
        with bench.lock:
            return answer(bench)

    return r
