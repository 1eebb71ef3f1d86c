"""Reading jobs: ``GET /jobs`` (newest first), ``GET /jobs/{id}`` (status, progress,
stage, error, summary and result links), ``DELETE /jobs/{id}`` (a finished job and its
files), ``GET /jobs/{id}/results/{name}`` (a result file).

404 for an unknown job or result, 409 for a job not finished (or failed, for results).
Result names come from a fixed list and their paths from the store: nothing the request
sends reaches a file path.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, Response

from .deps import NEEDS_TOKEN, app_store, get_job, job_status_of, links
from .models import JobList, JobStatus
from .openapi import AUTH_ERRORS, error_response
from .worker import RESULT_FILES

__all__ = ["router"]

_JOB_ID = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="job id (32 hex digits)")]
_RESULT = Annotated[str, Path(pattern="^(geojson|gpkg|map|summary|csv)$", description="result")]
_RESULT_FILE = {
    "description": "the result file",
    "content": {
        "application/geo+json": {},
        "application/geopackage+sqlite3": {},
        "text/html": {},
        "application/json": {},
        "text/csv": {},
    },
}

router = APIRouter()

# The routes have no docstrings: FastAPI would put them in the OpenAPI schema.


@router.get(
    "/jobs",
    response_model=JobList,
    responses=AUTH_ERRORS,
    dependencies=NEEDS_TOKEN,
    tags=["jobs"],
    summary="List jobs, newest first",
)
def list_jobs(
    request: Request,
    status: Annotated[str | None, Query(pattern="^(queued|running|succeeded|failed)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JobList:
    store = app_store(request)
    jobs = store.list_jobs(status=status, limit=limit, offset=offset)
    link = links(request)
    return JobList(jobs=[job_status_of(j, link) for j in jobs], counts=store.counts())


@router.get(
    "/jobs/{job_id}",
    response_model=JobStatus,
    responses={**AUTH_ERRORS, 404: error_response("no such job")},
    dependencies=NEEDS_TOKEN,
    tags=["jobs"],
    summary="Status, progress and results of a job",
)
def job_status(job_id: _JOB_ID, request: Request) -> JobStatus:
    return job_status_of(get_job(request, job_id), links(request))


@router.delete(
    "/jobs/{job_id}",
    status_code=204,
    responses={
        **AUTH_ERRORS,
        404: error_response("no such job"),
        409: error_response("job not finished"),
    },
    dependencies=NEEDS_TOKEN,
    tags=["jobs"],
    summary="Delete a finished job and its files",
)
def delete_job(job_id: _JOB_ID, request: Request) -> Response:
    job = get_job(request, job_id)
    if job.status in ("queued", "running"):
        raise HTTPException(409, f"job {job_id} is {job.status}; wait until it finishes")
    if not app_store(request).delete(job_id):
        raise HTTPException(404, f"no job {job_id}")
    return Response(status_code=204)


@router.get(
    "/jobs/{job_id}/results/{name}",
    responses={
        **AUTH_ERRORS,
        200: _RESULT_FILE,
        404: error_response("no such job, or no such result for this kind of job"),
        409: error_response("job not finished, or failed"),
    },
    response_class=Response,
    dependencies=NEEDS_TOKEN,
    tags=["jobs"],
    summary="Download a result: geojson, gpkg, map, summary (csv for audits)",
)
def job_result(job_id: _JOB_ID, name: _RESULT, request: Request) -> Response:
    job = get_job(request, job_id)
    if name not in RESULT_FILES[job.kind]:
        raise HTTPException(404, f"{job.kind} jobs have no {name} result")
    if job.status == "failed":
        raise HTTPException(409, f"job {job_id} failed: {job.error}")
    if job.status != "succeeded":
        raise HTTPException(409, f"job {job_id} is {job.status}; poll GET /jobs/{job_id}")
    info = job.results.get(name)
    if info is None:
        raise HTTPException(404, f"job {job_id} has no {name} result (maps are optional)")
    path = app_store(request).result_path(job_id, info)
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
