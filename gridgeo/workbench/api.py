"""The workbench's HTTP face: a FastAPI router over one :class:`~.session.Session` and
a :class:`~.versions.VersionStore`, and the browser page in ``static/``.

``gridgeo edit PLAN`` serves :func:`create_app` on its plan; ``gridgeo serve`` mounts
:func:`service_router` next to its job API, where the page opens a plan from the data
directory (:mod:`.sources`), an upload, or a new partition job. Edits the rules refuse
answer 422 with the reason in ``detail``; a save from an outdated version answers 409;
any plan route before a plan is open answers 409. Under ``gridgeo serve`` with an API
token, every ``/api`` route needs the token as the job routes do (the page asks for it
once); the page itself and its scripts (``/``, ``/static``) hold no data and need none.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote

import numpy as np
import shapely
from fastapi import (
    APIRouter,
    Body,
    Depends,
    FastAPI,
    File,
    Form,
    HTTPException,
    Request,
    UploadFile,
)
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response

from .._errors import GridgeoError
from . import export, sources
from .session import EditRefused, Session
from .versions import VersionConflict, VersionStore, compare

__all__ = ["Workbench", "create_app", "router", "service_router"]

STATIC = Path(__file__).parent / "static"
LEAFLET = Path(__file__).parents[1] / "render" / "static"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".html": "text/html"}


class Workbench:
    """The plan open in the workbench, its version store, and where plans come from.

    Parameters
    ----------
    session : Session or None
        The plan open (None: the page asks the planner to open one).
    store : VersionStore
    plan : str, optional
        Key of the plan in the store (default: the session's source).
    data_dir : path, optional
        Where :mod:`.sources` finds plans to open and keeps uploads (default: none
        offered).
    jobs : bool, default False
        Whether the service's job API is next to the workbench (``gridgeo serve``): the
        page then offers a new partition of uploaded layers.
    """

    def __init__(
        self,
        session: Session | None,
        store: VersionStore,
        *,
        plan: str | None = None,
        data_dir: str | Path | None = None,
        jobs: bool = False,
    ) -> None:
        self.store = store
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.jobs = jobs
        self.lock = threading.Lock()
        self.session: Session | None = None
        self.plan = ""
        self.base: int | None = None
        if session is not None:
            self.load(session, plan=plan)

    @classmethod
    def open(cls, plan: str | Path, data_dir: str | Path) -> Workbench:
        """The plan folder or GeoPackage ``plan``, versions in ``data_dir``."""
        return cls(Session.open(plan), VersionStore(data_dir), data_dir=data_dir)

    def load(self, session: Session, *, plan: str | None = None) -> None:
        """Make ``session`` the plan open (its versions under ``plan``)."""
        self.session = session
        if plan is None and self.data_dir is not None and session.source:
            plan = sources.source_name(self.data_dir, session.source)
        self.plan = plan or session.source or "plan"
        self.base = self.store.head(self.plan)

    def current(self) -> Session:
        """The session open; refuses (409) before a plan is open."""
        if self.session is None:
            raise HTTPException(409, detail="no plan is open; open one with POST /api/open")
        return self.session

    def state(self) -> dict[str, Any]:
        """What the page draws: figures, the grids (GeoJSON in WGS 84 with the table's
        columns and each grid's neighbours), each building's grid, undo/redo
        availability, the base version."""
        return json.loads(self.state_text())

    def state_text(self, result: Any = None) -> str:
        """:meth:`state` as JSON text, with ``result`` (an edit's answer) when given.

        Written without a round trip through Python objects, and each grid's GeoJSON
        geometry kept while its polygon is the same object: a move on a plan of
        Monaco's size re-serialises the two grids it changed, not all 250.
        """
        if self.session is None:
            head = {"open": False, "jobs": self.jobs, "sources": self.data_dir is not None}
            return json.dumps(head)
        s = self.session
        st = s.state
        live = np.flatnonzero(st.alive)
        table = s.table()
        table["neighbours"] = s.neighbours()
        rows = json.loads(table.to_json(orient="records", force_ascii=False))
        geoms = [self._geojson(st.geometry[slot]) for slot in live]
        features = ",".join(
            f'{{"type":"Feature","properties":{json.dumps(row, ensure_ascii=False)},"geometry":{g}}}'
            for row, g in zip(rows, geoms, strict=True)
        )
        band = s.band
        head = {
            "open": True,
            "jobs": self.jobs,
            "sources": self.data_dir is not None,
            "plan": self.plan,
            "target": s.target,
            "tolerance": s.tolerance,
            "band": [band.lower, band.upper],
            "base": self.base,
            "can_undo": bool(s.undo_stack),
            "can_redo": bool(s.redo_stack),
            "households": int(table["households"].sum()),
            "streets": s.streets is not None,
            "building_grid": s.grid_of(range(s.n_buildings)),
        }
        if result is not None:
            head["result"] = result
        text = json.dumps(head, ensure_ascii=False, default=_plain)
        return text[:-1] + ',"grids":{"type":"FeatureCollection","features":[' + features + "]}}"

    def _geojson(self, geom: Any) -> str:
        """GeoJSON text of a grid polygon in WGS 84 (kept per polygon object)."""
        cache = self.__dict__.setdefault("_wgs84", {})
        hit = cache.get(id(geom))
        if hit is not None and hit[0] is geom:
            return hit[1]
        if geom is None:
            return "null"
        if len(cache) > 20_000:
            cache.clear()
        from pyproj import Transformer

        crs = self.current().footprints.crs
        if self.__dict__.get("_wgs84_crs") != crs:
            cache.clear()
            self._wgs84_crs = crs
            self._to_wgs84 = Transformer.from_crs(crs, 4326, always_xy=True)
        moved = shapely.transform(
            geom, lambda xy: np.column_stack(self._to_wgs84.transform(xy[:, 0], xy[:, 1]))
        )
        text = shapely.to_geojson(moved)
        cache[id(geom)] = (geom, text)
        return text


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers (for json.dumps)."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")


def router(bench: Workbench) -> APIRouter:
    """The workbench's routes (the page at ``/``, the API under ``/api``).

    A request carrying ``X-Workbench-Plan`` (the page sends the plan it shows, URL
    encoded) is refused with 409 when the server has another plan open (someone opened
    one since), so that no edit lands on a plan the planner is not looking at.
    """

    def same_plan(request: Request) -> None:
        shown = request.headers.get("x-workbench-plan")
        if shown is None or request.url.path.endswith(("/api/open", "/api/open/upload")):
            return
        if bench.session is not None and unquote(shown) != bench.plan:
            msg = f"the workbench has another plan open now ({bench.plan}); reload the page"
            raise HTTPException(409, detail=msg)

    r = APIRouter(dependencies=[Depends(same_plan)])

    def answer(result: Any = None) -> Response:
        return Response(bench.state_text(result), media_type="application/json")

    def edit(fn: Any) -> Response:
        with bench.lock:
            bench.current()
            try:
                out = fn()
            except (EditRefused, GridgeoError) as exc:
                raise HTTPException(422, detail=str(exc)) from None
            return answer(out)

    def read(fn: Any) -> Any:
        with bench.lock:
            session = bench.current()
            try:
                return fn(session)
            except GridgeoError as exc:
                raise HTTPException(422, detail=str(exc)) from None

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
            return answer()

    # -- opening a plan -------------------------------------------------------------

    def data_dir() -> Path:
        if bench.data_dir is None:
            raise HTTPException(
                404, detail="this workbench opens one plan only (gridgeo edit PLAN)"
            )
        return bench.data_dir

    @r.get("/api/sources")
    def list_sources() -> dict[str, Any]:
        return {"sources": sources.list_sources(data_dir()), "jobs": bench.jobs}

    @r.post("/api/open")
    def open_plan(source: Annotated[str, Body(embed=True)]) -> Response:
        root = data_dir()
        try:
            session = sources.open_source(root, source)
        except GridgeoError as exc:
            raise HTTPException(422, detail=str(exc)) from None
        with bench.lock:
            bench.load(session, plan=source)
            return answer()

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
        root = data_dir()
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
            return answer()

    # -- layers ---------------------------------------------------------------------

    @r.get("/api/buildings")
    def buildings_layer() -> Response:
        def run(s: Session) -> str:
            b = s.footprints[["geometry"]].copy()
            b["i"] = range(len(b))
            b["households"] = s.households[: s.n_buildings]
            b["block"] = s.block
            return b.to_crs(4326).to_json(drop_id=True)

        return Response(read(run), media_type="application/geo+json")

    @r.get("/api/streets")
    def streets_layer() -> Response:
        def run(s: Session) -> str:
            if s.streets is None:
                return '{"type": "FeatureCollection", "features": []}'
            return s.streets[["geometry"]].to_crs(4326).to_json(drop_id=True)

        return Response(read(run), media_type="application/geo+json")

    @r.get("/api/basemaps")
    def basemaps() -> dict[str, Any]:
        return {"basemaps": export.basemaps()}

    @r.post("/api/piece")
    def piece(building: Annotated[int, Body(embed=True)]) -> dict[str, Any]:
        def run(s: Session) -> dict[str, Any]:
            if not 0 <= building < s.n_buildings:
                raise HTTPException(422, detail=f"no building {building}")
            return {"buildings": s.piece(building).tolist()}

        return read(run)

    # -- edits ----------------------------------------------------------------------

    @r.post("/api/move")
    def move(buildings: Annotated[list[int], Body()], to: Annotated[str, Body()]) -> Response:
        return edit(lambda: bench.current().move(buildings, to))

    @r.post("/api/merge")
    def merge(keep: Annotated[str, Body()], other: Annotated[str, Body()]) -> Response:
        return edit(lambda: bench.current().merge(keep, other))

    @r.post("/api/split")
    def split(grid: Annotated[str, Body(embed=True)]) -> Response:
        return edit(lambda: bench.current().split(grid))

    @r.post("/api/undo")
    def undo() -> Response:
        return edit(lambda: bench.current().undo())

    @r.post("/api/redo")
    def redo() -> Response:
        return edit(lambda: bench.current().redo())

    @r.post("/api/lock")
    def lock(
        grids: Annotated[list[str], Body()], locked: Annotated[bool, Body()] = True
    ) -> Response:
        return edit(lambda: bench.current().lock(grids, locked=locked))

    @r.post("/api/note")
    def note(grid: Annotated[str, Body()], text: Annotated[str, Body()]) -> Response:
        return edit(lambda: bench.current().set_note(grid, text))

    @r.post("/api/rebalance")
    def rebalance() -> Response:
        return edit(lambda: bench.current().rebalance())

    # -- versions -------------------------------------------------------------------

    @r.post("/api/save")
    def save(
        base: Annotated[int | None, Body()] = None, message: Annotated[str, Body()] = ""
    ) -> dict[str, Any]:
        with bench.lock:
            s = bench.current()
            try:
                vid = bench.store.save(bench.plan, s.snapshot(), base=base, message=message)
            except VersionConflict as exc:
                raise HTTPException(409, detail=str(exc)) from None
            bench.base = vid
            return {"version": vid, "versions": bench.store.list(bench.plan)}

    @r.get("/api/versions")
    def versions() -> dict[str, Any]:
        if bench.session is None:
            return {"base": None, "versions": []}
        return {"base": bench.base, "versions": bench.store.list(bench.plan)}

    @r.post("/api/versions/{vid}/open")
    def open_version(vid: int) -> Response:
        def run() -> None:
            bench.current().restore(bench.store.get(bench.plan, vid))
            bench.base = vid

        return edit(run)

    @r.post("/api/versions/{vid}/revert")
    def revert(vid: int) -> Response:
        """Make version ``vid`` the latest again: a new version with its content."""

        def run() -> None:
            s = bench.current()
            s.restore(bench.store.get(bench.plan, vid))
            head = bench.store.head(bench.plan)
            bench.base = bench.store.save(
                bench.plan, s.snapshot(), base=head, message=f"revert to {vid}"
            )

        return edit(run)

    @r.get("/api/compare")
    def compare_versions(a: int, b: int | None = None) -> dict[str, Any]:
        """What changed from version ``a`` to ``b`` (default: the plan as it stands),
        with the buildings that changed grid as GeoJSON (``changed``)."""

        def run(s: Session) -> dict[str, Any]:
            other = s.snapshot() if b is None else bench.store.get(bench.plan, b)
            out = compare(bench.store.get(bench.plan, a), other)
            out["changed"] = json.loads(export.changed_buildings(s, out["moved"]))
            return out

        return read(run)

    # -- export ---------------------------------------------------------------------

    @r.get("/api/export.geojson")
    def export_geojson() -> Response:
        text = read(lambda s: s.grids().to_crs(4326).to_json(drop_id=True))
        return _download(text.encode("utf-8"), "grids.geojson", "application/geo+json")

    @r.get("/api/export.gpkg")
    def export_gpkg() -> Response:
        return _download(read(export.geopackage), "grids.gpkg", "application/geopackage+sqlite3")

    @r.get("/api/export.shp.zip")
    def export_shapefile() -> Response:
        return _download(read(export.shapefile_zip), "grids.zip", "application/zip")

    @r.get("/api/map.{suffix}")
    def export_map(suffix: str, lang: str = "zh") -> Response:
        if suffix not in ("pdf", "png") or lang not in ("zh", "en"):
            raise HTTPException(404, detail="the print map is map.pdf or map.png, lang zh or en")
        data = read(lambda s: export.print_map(s, "." + suffix, lang=lang))
        kind = "application/pdf" if suffix == "pdf" else "image/png"
        return _download(data, f"grids.{suffix}", kind)

    @r.get("/api/staffing.csv")
    def staffing() -> Response:
        table = read(lambda s: s.table())
        buf = io.StringIO()
        table.to_csv(buf, index=False)
        data = ("\ufeff" + buf.getvalue()).encode("utf-8")
        return _download(data, "staffing.csv", "text/csv; charset=utf-8")

    @r.get("/api/audit.{suffix}")
    def audit(suffix: str, lang: str = "zh") -> Response:
        """The coverage audit (:func:`gridgeo.audit`) of the plan as it stands: its
        figures (``audit.json``) or the list of findings (``audit.csv``)."""
        if suffix not in ("json", "csv") or lang not in ("zh", "en"):
            raise HTTPException(404, detail="the audit is audit.json or audit.csv, lang zh or en")
        result = read(export.audit)
        if suffix == "json":
            body = json.dumps(result.summary(), ensure_ascii=False, default=str)
            return _download(body.encode("utf-8"), "audit.json", "application/json")
        buf = io.StringIO()
        result.findings(lang=lang).to_csv(buf, index=False)
        data = ("\ufeff" + buf.getvalue()).encode("utf-8")
        return _download(data, "audit.csv", "text/csv; charset=utf-8")

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


def service_router(data_dir: str | Path, versions: Any = None) -> APIRouter:
    """The workbench of ``gridgeo serve``: no plan open at first; the page opens one
    from ``data_dir`` (finished partition jobs, ``plans/``, uploads) or starts a
    partition job. Versions are kept in ``versions`` (the service's version store, in
    PostgreSQL with ``--store``), else in ``data_dir``."""
    store = VersionStore(data_dir) if versions is None else versions
    return router(Workbench(None, store, data_dir=data_dir, jobs=True))
