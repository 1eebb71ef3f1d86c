"""The FastAPI application: submit jobs, poll them, fetch their results.

Endpoints (``/docs`` shows them, ``/openapi.json`` is the schema):

- ``GET /health``: up, version, jobs by status (no token needed);
- ``POST /jobs/partition`` and ``POST /jobs/audit``: a job from GeoJSON layers (JSON);
- ``POST /jobs/partition/upload`` and ``POST /jobs/audit/upload``: a job from an
  uploaded GeoPackage or zipped Shapefile (multipart form: ``file``, the options,
  ``<role>_layer`` fields naming the layers);
- ``GET /jobs``: jobs, newest first; ``GET /jobs/{id}``: status, progress, stage,
  error, summary and result links; ``DELETE /jobs/{id}``: a finished job and its files;
- ``GET /jobs/{id}/results/{name}``: ``geojson``, ``gpkg``, ``map``, ``summary`` (and
  ``csv`` for audits).

Submissions answer ``202`` with the job; the work runs in the worker. Errors are JSON
``{"detail": ...}``: 401 without the token, 404 unknown job, 409 job not finished,
413 body over the limit, 415 unknown upload format, 422 invalid request (gridgeo's own
message for unusable layers), 503 queue full.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Path, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from .._errors import GridgeoError
from .._version import __version__
from .config import ServiceConfig
from .inputs import check_layer_names, store_geojson, store_upload, unknown_fields
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
from .security import BodyLimit, UploadError, remove_tree, safe_child, token_matches
from .store import Job, JobStore
from .worker import RESULT_FILES, QueueFull, Worker

__all__ = ["create_app"]

log = logging.getLogger(__name__)

_JOB_ID = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="job id (32 hex digits)")]
_UPLOAD = Annotated[UploadFile, File(description="a GeoPackage or a zip of Shapefiles")]
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer TOKEN")
_api_key = APIKeyHeader(name="X-API-Token", auto_error=False, description="the API token")


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
    415: _error("upload neither a GeoPackage nor a zip archive"),
    422: _error("invalid request or unusable layer (the message says how to fix it)"),
    503: _error("too many jobs waiting; retry later"),
}


def _status(job: Job, base: str) -> JobStatus:
    error = JobError(type=job.error_type or "Error", message=job.error or "") if job.error else None
    results = [
        ResultLink(
            name=name,  # type: ignore[arg-type]
            url=f"{base}/jobs/{job.id}/results/{name}",
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


def create_app(config: ServiceConfig) -> FastAPI:
    """The gridgeo HTTP API for ``config`` (checked: see :meth:`ServiceConfig.check`).

    Jobs left unfinished by a previous run in the same data directory are marked
    failed when the application starts.

    Parameters
    ----------
    config : ServiceConfig

    Returns
    -------
    fastapi.FastAPI
    """
    config.check()
    store = JobStore(config.data_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store.recover()
        app.state.worker = Worker(store, processes=config.workers, max_queue=config.max_queue)
        log.info("gridgeo service: data in %s", config.data_dir)
        try:
            yield
        finally:
            app.state.worker.shutdown()

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
    app.state.config = config
    app.add_middleware(BodyLimit, max_bytes=config.max_upload_bytes)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(UploadError)
    async def _upload_error(_request: Request, exc: UploadError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, exc.status)

    @app.exception_handler(GridgeoError)
    async def _gridgeo_error(_request: Request, exc: GridgeoError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, 422)

    def require_token(
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        api_key: Annotated[str | None, Depends(_api_key)],
    ) -> None:
        if config.token is None:
            return
        given = api_key or (bearer.credentials if bearer is not None else None)
        if not token_matches(given, config.token):
            raise HTTPException(
                401,
                "missing or wrong API token: send Authorization: Bearer TOKEN or X-API-Token: TOKEN",
                headers={"WWW-Authenticate": "Bearer"},
            )

    auth = [Depends(require_token)]

    def base_url(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def get_job(job_id: str) -> Job:
        job = store.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        return job

    # ---------------------------------------------------------------- submitting

    def submit(kind: str, build_spec: Any, options: dict[str, Any], request: Request) -> Response:
        worker: Worker = request.app.state.worker
        try:
            worker.reserve()
        except QueueFull:
            raise HTTPException(
                503,
                f"{worker.max_queue} jobs are waiting or running; retry later",
                headers={"Retry-After": "30"},
            ) from None
        job_id = store.new_id()
        try:
            spec = build_spec(store.job_dir(job_id))
            store.create(job_id, kind, {"inputs": spec, "options": options})
        except BaseException:
            worker.release()
            remove_tree(store.job_dir(job_id))
            raise
        worker.submit(job_id)
        job = get_job(job_id)
        body = _status(job, base_url(request)).model_dump(mode="json")
        return JSONResponse(body, 202, headers={"Location": f"/jobs/{job_id}"})

    def submit_route(path: str, summary: str) -> Any:
        return app.post(
            path,
            status_code=202,
            response_model=JobStatus,
            responses=_SUBMIT,
            dependencies=auth,
            summary=summary,
            tags=["jobs"],
        )

    def submit_json(kind: str, body: PartitionRequest | AuditRequest, request: Request) -> Response:
        layers = body.model_dump(mode="json", exclude={"options"})
        epsg = body.options.input_crs
        return submit(
            kind,
            lambda d: store_geojson(d, kind, layers, epsg),
            body.options.model_dump(mode="json"),
            request,
        )

    @submit_route("/jobs/partition", "Submit a partition job (GeoJSON layers)")
    def submit_partition(body: PartitionRequest, request: Request) -> Response:
        return submit_json("partition", body, request)

    @submit_route("/jobs/audit", "Submit an audit job (GeoJSON layers)")
    def submit_audit(body: AuditRequest, request: Request) -> Response:
        return submit_json("audit", body, request)

    async def submit_upload(
        kind: str, file: UploadFile, form: Any, options_model: type, request: Request
    ) -> Response:
        received = list((await request.form()).keys())
        allowed = set(type(form).model_fields) | {"file"}
        extra = unknown_fields(received, allowed)
        if extra:
            raise HTTPException(422, f"unknown form fields: {', '.join(extra)}")
        data = form.model_dump(mode="json")
        options = options_model.model_validate(
            {k: v for k, v in data.items() if k in options_model.model_fields}
        ).model_dump(mode="json")
        names = check_layer_names(data, kind)
        return await run_in_threadpool(
            submit,
            kind,
            lambda d: store_upload(
                d, kind, file.file, names, max_unzipped=config.max_unzipped_bytes
            ),
            options,
            request,
        )

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

    @app.get("/health", response_model=Health, tags=["service"], summary="Service status")
    def health() -> Health:
        return Health(status="ok", version=__version__, jobs=store.counts())

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
        base = base_url(request)
        return JobList(jobs=[_status(j, base) for j in jobs], counts=store.counts())

    @app.get(
        "/jobs/{job_id}",
        response_model=JobStatus,
        responses={**_AUTH, 404: _error("no such job")},
        dependencies=auth,
        tags=["jobs"],
        summary="Status, progress and results of a job",
    )
    def job_status(job_id: _JOB_ID, request: Request) -> JobStatus:
        return _status(get_job(job_id), base_url(request))

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
        path = safe_child(store.job_dir(job_id), info["file"])
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
