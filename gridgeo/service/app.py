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
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Path, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from .._errors import GridgeoError
from .._version import __version__
from .body import BodyError, read_body, validate_options
from .config import ServiceConfig
from .inputs import check_layer_names, store_upload, unknown_fields
from .models import (
    AuditOptions,
    AuditRequest,
    AuditUploadForm,
    Health,
    JobError,
    JobList,
    JobStatus,
    PartitionOptions,
    PartitionRequest,
    PartitionUploadForm,
    ResultLink,
)
from .runner import Runner, RunnerState
from .security import (
    TOKEN_MESSAGE,
    BodyLimit,
    SafeHeaders,
    TokenGuard,
    UploadError,
    remove_tree,
    token_matches,
)
from .store import Job, QueueFull, QueueInfo, StoreUnavailable, age_seconds, open_store
from .worker import RESULT_FILES

__all__ = ["create_app", "health_report"]

log = logging.getLogger(__name__)

#: Seconds queued jobs may wait, with a worker free and none taken, before /health says
#: the service is stalled.
STALL_AFTER = 60.0

_JOB_ID = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="job id (32 hex digits)")]
_UPLOAD = Annotated[UploadFile, File(description="a GeoPackage or a zip of Shapefiles")]
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer TOKEN")
_api_key = APIKeyHeader(name="X-API-Token", auto_error=False, description="the API token")
_Links = Callable[[str], str]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"detail": {}},
                    "required": ["detail"],
                }
            }
        },
    }


_AUTH = {401: _error("missing or wrong API token")}
_SUBMIT = {
    **_AUTH,
    413: _error("request body over the size limit, or zip archive unpacking too large"),
    415: _error("neither JSON nor, for uploads, a GeoPackage or a zip archive"),
    422: _error("invalid request: the detail names the field and says how to fix it"),
    503: _error("too many jobs waiting; retry later"),
}


def _status(job: Job, link: _Links) -> JobStatus:
    error = JobError(type=job.error_type or "Error", message=job.error or "") if job.error else None
    results = [
        ResultLink(
            name=name,  # type: ignore[arg-type]
            url=link(f"/jobs/{job.id}/results/{name}"),
            media_type=info["media_type"],
            bytes=info["bytes"],
        )
        for name, info in job.results.items()
    ]
    return JobStatus(
        id=job.id,
        kind=job.kind,  # type: ignore[arg-type]
        status=job.status,  # type: ignore[arg-type]
        progress=job.progress,
        stage=job.stage,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        error=error,
        summary=job.summary,
        results=results,
    )


def health_report(
    info: QueueInfo, state: RunnerState, *, stall_after: float = STALL_AFTER
) -> Health:
    """What ``/health`` says, from the store's queue and this server's runner.

    Examples
    --------
    >>> from gridgeo.service.store import QueueInfo
    >>> from gridgeo.service.runner import RunnerState
    >>> counts = {"queued": 3, "running": 0, "succeeded": 0, "failed": 0}
    >>> info = QueueInfo(counts, oldest_queued_at="2020-01-01T00:00:00+00:00", last_claim_at=None)
    >>> health_report(info, RunnerState(alive=True, slots=1, busy=0, pids=())).status
    'stalled'
    """
    queued, running = info.counts["queued"], info.counts["running"]
    waited = age_seconds(info.oldest_queued_at)
    since = age_seconds(info.last_claim_at)
    status, detail = "ok", None
    if not state.alive:
        status, detail = "down", "the job runner is not running: restart the service"
    elif queued and state.busy >= state.slots:
        status = "busy"
        detail = f"every worker is busy; {queued} jobs wait (start the server with more --workers)"
    elif (
        queued
        and waited is not None
        and waited > stall_after
        and (since is None or since > stall_after)
    ):
        status = "stalled"
        detail = (
            f"{queued} jobs have waited {waited:.0f} s and no job was started meanwhile "
            "although a worker is free: restart the service"
        )
    return Health(
        status=status,
        version=__version__,
        jobs=info.counts,
        runner_alive=state.alive,
        workers=state.slots,
        workers_busy=state.busy,
        running=running,
        queued=queued,
        oldest_queued_seconds=None if waited is None else round(waited, 3),
        last_start_seconds=None if since is None else round(since, 3),
        detail=detail,
    )


def _json_body(model: type) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


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
    store = open_store(config.data_dir, config.store)
    from ..workbench.versions import open_versions  # the workbench's, when mounted

    versions = open_versions(config.data_dir, config.store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runner = Runner(
            store,
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

    app = FastAPI(
        title="gridgeo",
        version=__version__,
        description=(
            "Draw community grids (社区网格) from streets and buildings, and audit existing "
            "grid plans. Submit a job, poll it, fetch its results."
        ),
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.versions = versions
    app.state.config = config
    app.add_middleware(BodyLimit, max_bytes=config.max_upload_bytes)

    app.add_middleware(SafeHeaders)
    # outermost: the token is checked before anything reads the body
    app.add_middleware(
        TokenGuard, token=config.token, prefix="/jobs", max_bytes=config.max_upload_bytes
    )
    # the planner's workbench at / (its /api needs the token too; the page holds no data)
    from ..workbench.api import service_router

    app.include_router(service_router(config.data_dir, versions))
    app.add_middleware(
        TokenGuard, token=config.token, prefix="/api", max_bytes=config.max_upload_bytes
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (PartitionRequest, AuditRequest):
                js = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(js.pop("$defs", {}))
                components[model.__name__] = js
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # the errors' inputs are left out: they may hold what JSON cannot carry (NaN)
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg")),
                "type": e.get("type"),
            }
            for e in exc.errors()
        ]
        named = [f"{_field(tuple(e['loc']))}: {e['msg']}" for e in errors] or ["invalid request"]
        field = _field(tuple(errors[0]["loc"])) if errors else "body"
        return JSONResponse({"detail": "; ".join(named), "field": field, "errors": errors}, 422)

    @app.exception_handler(BodyError)
    async def _body_error(_request: Request, exc: BodyError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "field": exc.field, "error": "BodyError"}, 422)

    @app.exception_handler(UploadError)
    async def _upload_error(_request: Request, exc: UploadError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, exc.status)

    @app.exception_handler(StoreUnavailable)
    async def _store_unavailable(_request: Request, exc: StoreUnavailable) -> JSONResponse:
        body = {"detail": f"{exc}; retry later", "error": "StoreUnavailable"}
        return JSONResponse(body, 503, headers={"Retry-After": "5"})

    @app.exception_handler(GridgeoError)
    async def _gridgeo_error(_request: Request, exc: GridgeoError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, 422)

    async def require_token(
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        api_key: Annotated[str | None, Depends(_api_key)],
    ) -> None:
        # TokenGuard refused requests without the token already; this declares the
        # schemes in the OpenAPI schema (and checks again)
        given = api_key or (bearer.credentials if bearer is not None else None)
        if not token_matches(given, config.token):
            raise HTTPException(401, TOKEN_MESSAGE, headers={"WWW-Authenticate": "Bearer"})

    auth = [Depends(require_token)]

    def links(request: Request) -> _Links:
        """Links to ``path``: from --public-url, else relative to the request's path."""
        if config.public_url:
            return lambda path: config.public_url + path
        here = posixpath.dirname(request.url.path) or "/"
        return lambda path: posixpath.relpath(path, here)

    def get_job(job_id: str) -> Job:
        job = store.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        return job

    # ---------------------------------------------------------------- submitting

    def queue_full() -> HTTPException:
        return HTTPException(
            503,
            f"{config.max_queue} jobs are waiting or running; retry later (or start the "
            "server with a larger --max-queue)",
            headers={"Retry-After": "30"},
        )

    def check_queue() -> None:
        """Refuse early, before storing anything, when the queue is full."""
        counts = store.counts()
        if counts["queued"] + counts["running"] >= config.max_queue:
            raise queue_full()

    def accept(job_id: str, kind: str, spec: Any, options: dict[str, Any], request: Request):
        try:
            store.create(
                job_id, kind, {"inputs": spec, "options": options}, max_queue=config.max_queue
            )
        except QueueFull:
            raise queue_full() from None
        request.app.state.runner.wake()
        link = links(request)
        body = _status(get_job(job_id), link).model_dump(mode="json")
        return JSONResponse(body, 202, headers={"Location": link(f"/jobs/{job_id}")})

    def submit_route(path: str, summary: str, **extra: Any) -> Any:
        return app.post(
            path,
            status_code=202,
            response_model=JobStatus,
            responses=_SUBMIT,
            dependencies=auth,
            summary=summary,
            tags=["jobs"],
            **extra,
        )

    async def submit_json(kind: str, request: Request) -> Response:
        media = request.headers.get("content-type", "application/json").split(";")[0].strip()
        if media != "application/json" and not media.endswith("+json"):
            raise HTTPException(415, f"send the job as application/json, not {media}")
        check_queue()
        job_id = store.new_id()
        job_dir = store.job_dir(job_id)
        try:
            (job_dir / "inputs").mkdir()
            body = job_dir / "inputs" / "body.json"
            with open(body, "wb") as out:  # as it arrives: memory holds one chunk
                async for chunk in request.stream():
                    out.write(chunk)
            spec, options = await run_in_threadpool(read_body, body, kind, job_dir)
            body.unlink()
            return await run_in_threadpool(accept, job_id, kind, spec, options, request)
        except BaseException:
            remove_tree(job_dir)
            raise

    @submit_route(
        "/jobs/partition",
        "Submit a partition job (GeoJSON layers)",
        openapi_extra=_json_body(PartitionRequest),
    )
    async def submit_partition(request: Request) -> Response:
        return await submit_json("partition", request)

    @submit_route(
        "/jobs/audit",
        "Submit an audit job (GeoJSON layers)",
        openapi_extra=_json_body(AuditRequest),
    )
    async def submit_audit(request: Request) -> Response:
        return await submit_json("audit", request)

    def submit_file(
        kind: str, file: UploadFile, names: dict[str, str | None], options: dict, request: Request
    ) -> Response:
        check_queue()
        job_id = store.new_id()
        job_dir = store.job_dir(job_id)
        try:
            spec = store_upload(
                job_dir, kind, file.file, names, max_unzipped=config.max_unzipped_bytes
            )
            return accept(job_id, kind, spec, options, request)
        except BaseException:
            remove_tree(job_dir)
            raise

    async def submit_upload(
        kind: str, file: UploadFile, form: Any, options_model: type, request: Request
    ) -> Response:
        received = list((await request.form()).keys())
        allowed = set(type(form).model_fields) | {"file"}
        extra = unknown_fields(received, allowed)
        if extra:
            raise BodyError(
                extra[0], f"unknown form field{'s' * (len(extra) > 1)}: {', '.join(extra)}"
            )
        data = form.model_dump(mode="json")
        options = validate_options(
            options_model,
            {k: v for k, v in data.items() if k in options_model.model_fields},
            prefix="form",
        )
        names = check_layer_names(data, kind)
        return await run_in_threadpool(submit_file, kind, file, names, options, request)

    @submit_route(
        "/jobs/partition/upload", "Submit a partition job (GeoPackage or zipped Shapefile upload)"
    )
    async def upload_partition(
        file: _UPLOAD, form: Annotated[PartitionUploadForm, Form()], request: Request
    ) -> Response:
        return await submit_upload("partition", file, form, PartitionOptions, request)

    @submit_route(
        "/jobs/audit/upload", "Submit an audit job (GeoPackage or zipped Shapefile upload)"
    )
    async def upload_audit(
        file: _UPLOAD, form: Annotated[AuditUploadForm, Form()], request: Request
    ) -> Response:
        return await submit_upload("audit", file, form, AuditOptions, request)

    # ---------------------------------------------------------------- reading

    @app.get(
        "/health",
        response_model=Health,
        responses={503: {"model": Health, "description": "stalled, or the runner is down"}},
        tags=["service"],
        summary="What the service is doing",
    )
    def health(request: Request) -> JSONResponse:
        report = health_report(store.queue_info(), request.app.state.runner.state())
        code = 503 if report.status in ("stalled", "down") else 200
        return JSONResponse(report.model_dump(mode="json"), code)

    @app.get(
        "/jobs",
        response_model=JobList,
        responses=_AUTH,
        dependencies=auth,
        tags=["jobs"],
        summary="List jobs, newest first",
    )
    def list_jobs(
        request: Request,
        status: Annotated[str | None, Query(pattern="^(queued|running|succeeded|failed)$")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> JobList:
        jobs = store.list_jobs(status=status, limit=limit, offset=offset)
        link = links(request)
        return JobList(jobs=[_status(j, link) for j in jobs], counts=store.counts())

    @app.get(
        "/jobs/{job_id}",
        response_model=JobStatus,
        responses={**_AUTH, 404: _error("no such job")},
        dependencies=auth,
        tags=["jobs"],
        summary="Status, progress and results of a job",
    )
    def job_status(job_id: _JOB_ID, request: Request) -> JobStatus:
        return _status(get_job(job_id), links(request))

    @app.delete(
        "/jobs/{job_id}",
        status_code=204,
        responses={**_AUTH, 404: _error("no such job"), 409: _error("job not finished")},
        dependencies=auth,
        tags=["jobs"],
        summary="Delete a finished job and its files",
    )
    def delete_job(job_id: _JOB_ID) -> Response:
        job = get_job(job_id)
        if job.status in ("queued", "running"):
            raise HTTPException(409, f"job {job_id} is {job.status}; wait until it finishes")
        if not store.delete(job_id):
            raise HTTPException(404, f"no job {job_id}")
        return Response(status_code=204)

    @app.get(
        "/jobs/{job_id}/results/{name}",
        responses={
            **_AUTH,
            200: {
                "description": "the result file",
                "content": {
                    "application/geo+json": {},
                    "application/geopackage+sqlite3": {},
                    "text/html": {},
                    "application/json": {},
                    "text/csv": {},
                },
            },
            404: _error("no such job, or no such result for this kind of job"),
            409: _error("job not finished, or failed"),
        },
        response_class=Response,
        dependencies=auth,
        tags=["jobs"],
        summary="Download a result: geojson, gpkg, map, summary (csv for audits)",
    )
    def job_result(
        job_id: _JOB_ID,
        name: Annotated[
            str, Path(pattern="^(geojson|gpkg|map|summary|csv)$", description="result")
        ],
    ) -> Response:
        job = get_job(job_id)
        if name not in RESULT_FILES[job.kind]:
            raise HTTPException(404, f"{job.kind} jobs have no {name} result")
        if job.status == "failed":
            raise HTTPException(409, f"job {job_id} failed: {job.error}")
        if job.status != "succeeded":
            raise HTTPException(409, f"job {job_id} is {job.status}; poll GET /jobs/{job_id}")
        info = job.results.get(name)
        if info is None:
            raise HTTPException(404, f"job {job_id} has no {name} result (maps are optional)")
        path = store.result_path(job_id, info)
        if not path.is_file():
            raise HTTPException(404, f"the {name} result of job {job_id} is missing on disk")
        headers = {}
        if name == "map":  # user data in the page: its own origin, scripts only
            headers["Content-Security-Policy"] = "sandbox allow-scripts allow-popups"
        return FileResponse(
            path,
            media_type=info["media_type"],
            filename=f"{job_id[:8]}-{path.name}",
            headers=headers,
        )

    return app
