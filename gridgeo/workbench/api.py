"""The workbench's HTTP face: a FastAPI router over one :class:`~.session.Session` and
a :class:`~.versions.VersionStore`, and the browser page in ``static/``.

``gridgeo edit PLAN`` serves :func:`create_app`; ``gridgeo serve`` can mount
:func:`router` next to its job API. Edits the rules refuse answer 422 with the reason
in ``detail``; a save from an outdated version answers 409.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, HTTPException
from fastapi.responses import FileResponse, JSONResponse, Response

from .._errors import GridgeoError
from . import export
from .session import EditRefused, Session
from .versions import VersionConflict, VersionStore, compare

__all__ = ["Workbench", "create_app", "router"]

STATIC = Path(__file__).parent / "static"
LEAFLET = Path(__file__).parents[1] / "render" / "static"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".html": "text/html"}


class Workbench:
    """A session, its version store and the version it was opened from.

    Parameters
    ----------
    session : Session
    store : VersionStore
    plan : str, optional
        Key of the plan in the store (default: the session's source path).
    """

    def __init__(self, session: Session, store: VersionStore, *, plan: str | None = None) -> None:
        self.session = session
        self.store = store
        self.plan = plan or session.source or "plan"
        self.base = store.head(self.plan)
        self.lock = threading.Lock()

    @classmethod
    def open(cls, plan: str | Path, data_dir: str | Path) -> Workbench:
        """The plan folder or GeoPackage ``plan``, versions in ``data_dir``."""
        return cls(Session.open(plan), VersionStore(data_dir))

    def state(self) -> dict[str, Any]:
        """What the page draws: figures, the grids (GeoJSON in WGS 84 with the table's
        columns), each building's grid, undo/redo availability, the base version."""
        s = self.session
        grids = s.grids().to_crs(4326)
        band = s.band
        return {
            "target": s.target,
            "tolerance": s.tolerance,
            "band": [band.lower, band.upper],
            "base": self.base,
            "can_undo": bool(s.undo_stack),
            "can_redo": bool(s.redo_stack),
            "households": int(grids["households"].sum()),
            "grids": json.loads(grids.to_json(drop_id=True)),
            "building_grid": s.grid_of(range(s.n_buildings)),
        }


def router(bench: Workbench) -> APIRouter:
    """The workbench's routes (the page at ``/``, the API under ``/api``)."""
    r = APIRouter()

    def edit(fn: Any) -> dict[str, Any]:
        with bench.lock:
            try:
                out = fn()
            except EditRefused as exc:
                raise HTTPException(422, detail=str(exc)) from None
            except GridgeoError as exc:
                raise HTTPException(422, detail=str(exc)) from None
            state = bench.state()
        if out is not None:
            state["result"] = out
        return state

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
    def plan() -> dict[str, Any]:
        with bench.lock:
            return bench.state()

    @r.get("/api/buildings")
    def buildings() -> Response:
        s = bench.session
        b = s.footprints[["geometry"]].copy()
        b["i"] = range(len(b))
        b["households"] = s.households[: s.n_buildings]
        b["block"] = s.block
        return Response(b.to_crs(4326).to_json(drop_id=True), media_type="application/geo+json")

    @r.post("/api/piece")
    def piece(building: Annotated[int, Body(embed=True)]) -> dict[str, Any]:
        s = bench.session
        if not 0 <= building < s.n_buildings:
            raise HTTPException(422, detail=f"no building {building}")
        return {"buildings": s.piece(building).tolist()}

    @r.post("/api/move")
    def move(buildings: Annotated[list[int], Body()], to: Annotated[str, Body()]) -> dict[str, Any]:
        return edit(lambda: bench.session.move(buildings, to))

    @r.post("/api/merge")
    def merge(keep: Annotated[str, Body()], other: Annotated[str, Body()]) -> dict[str, Any]:
        return edit(lambda: bench.session.merge(keep, other))

    @r.post("/api/split")
    def split(grid: Annotated[str, Body(embed=True)]) -> dict[str, Any]:
        return edit(lambda: bench.session.split(grid))

    @r.post("/api/undo")
    def undo() -> dict[str, Any]:
        return edit(bench.session.undo)

    @r.post("/api/redo")
    def redo() -> dict[str, Any]:
        return edit(bench.session.redo)

    @r.post("/api/lock")
    def lock(
        grids: Annotated[list[str], Body()], locked: Annotated[bool, Body()] = True
    ) -> dict[str, Any]:
        return edit(lambda: bench.session.lock(grids, locked=locked))

    @r.post("/api/note")
    def note(grid: Annotated[str, Body()], text: Annotated[str, Body()]) -> dict[str, Any]:
        return edit(lambda: bench.session.set_note(grid, text))

    @r.post("/api/rebalance")
    def rebalance() -> dict[str, Any]:
        return edit(bench.session.rebalance)

    @r.post("/api/save")
    def save(
        base: Annotated[int | None, Body()] = None, message: Annotated[str, Body()] = ""
    ) -> dict[str, Any]:
        with bench.lock:
            try:
                vid = bench.store.save(
                    bench.plan, bench.session.snapshot(), base=base, message=message
                )
            except VersionConflict as exc:
                raise HTTPException(409, detail=str(exc)) from None
            bench.base = vid
            return {"version": vid, "versions": bench.store.list(bench.plan)}

    @r.get("/api/versions")
    def versions() -> dict[str, Any]:
        return {"base": bench.base, "versions": bench.store.list(bench.plan)}

    @r.post("/api/versions/{vid}/open")
    def open_version(vid: int) -> dict[str, Any]:
        def run() -> None:
            bench.session.restore(bench.store.get(bench.plan, vid))
            bench.base = vid

        return edit(run)

    @r.post("/api/versions/{vid}/revert")
    def revert(vid: int) -> dict[str, Any]:
        """Make version ``vid`` the latest again: a new version with its content."""
        with bench.lock:
            try:
                snap = bench.store.get(bench.plan, vid)
                bench.session.restore(snap)
                head = bench.store.head(bench.plan)
                bench.base = bench.store.save(
                    bench.plan, bench.session.snapshot(), base=head, message=f"revert to {vid}"
                )
            except GridgeoError as exc:
                raise HTTPException(422, detail=str(exc)) from None
            return bench.state()

    @r.get("/api/compare")
    def compare_versions(a: int, b: int) -> dict[str, Any]:
        try:
            return compare(bench.store.get(bench.plan, a), bench.store.get(bench.plan, b))
        except GridgeoError as exc:
            raise HTTPException(422, detail=str(exc)) from None

    @r.get("/api/export.geojson")
    def export_geojson() -> Response:
        with bench.lock:
            text = bench.session.grids().to_crs(4326).to_json(drop_id=True)
        return Response(
            text,
            media_type="application/geo+json",
            headers={"Content-Disposition": 'attachment; filename="grids.geojson"'},
        )

    @r.get("/api/export.gpkg")
    def export_gpkg() -> Response:
        with bench.lock:
            data = export.geopackage(bench.session)
        return _download(data, "grids.gpkg", "application/geopackage+sqlite3")

    @r.get("/api/export.shp.zip")
    def export_shapefile() -> Response:
        with bench.lock:
            data = export.shapefile_zip(bench.session)
        return _download(data, "grids.zip", "application/zip")

    @r.get("/api/map.{suffix}")
    def export_map(suffix: str, lang: str = "zh") -> Response:
        if suffix not in ("pdf", "png") or lang not in ("zh", "en"):
            raise HTTPException(404, detail="the print map is map.pdf or map.png, lang zh or en")
        with bench.lock:
            data = export.print_map(bench.session, "." + suffix, lang=lang)
        kind = "application/pdf" if suffix == "pdf" else "image/png"
        return _download(data, f"grids.{suffix}", kind)

    @r.get("/api/staffing.csv")
    def staffing() -> Response:
        with bench.lock:
            table = bench.session.table()
        buf = io.StringIO()
        table.to_csv(buf, index=False)
        return Response(
            "\ufeff" + buf.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="staffing.csv"'},
        )

    return r


def _download(data: bytes, name: str, media_type: str) -> Response:
    return Response(
        data,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def create_app(bench: Workbench) -> FastAPI:
    """The workbench alone as an application (what ``gridgeo edit`` serves)."""
    from .. import __version__

    app = FastAPI(title="gridgeo workbench", version=__version__)
    app.include_router(router(bench))

    @app.exception_handler(GridgeoError)
    async def _error(_request: Any, exc: GridgeoError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 422)

    return app
