"""Submitting jobs: ``POST /jobs/partition`` and ``/jobs/audit`` (GeoJSON layers, JSON),
``/jobs/partition/upload`` and ``/jobs/audit/upload`` (a GeoPackage or zipped
Shapefile, multipart form).

Each answers ``202`` with the job and its ``Location``, or refuses before storing
anything: 415 not JSON, 503 the queue full. A JSON body is written to the job's
directory as it arrives (memory holds one chunk), then read from there
(:func:`~gridgeo.service.body.read_body`); an upload is stored under names chosen from
its content (:func:`~gridgeo.service.inputs.store_upload`). A refused submission leaves
no job directory behind.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from .body import BodyError, read_body, validate_options
from .deps import NEEDS_TOKEN, app_config, app_store, get_job, job_status_of, links
from .inputs import check_layer_names, store_upload, unknown_fields
from .models import (
    AuditOptions,
    AuditRequest,
    AuditUploadForm,
    JobStatus,
    PartitionOptions,
    PartitionRequest,
    PartitionUploadForm,
)
from .openapi import SUBMIT_ERRORS, json_body
from .security import remove_tree
from .store import QueueFull

__all__ = ["router"]

_UPLOAD = Annotated[UploadFile, File(description="a GeoPackage or a zip of Shapefiles")]

router = APIRouter()

# The routes have no docstrings: FastAPI would put them in the OpenAPI schema.


def _submit_route(path: str, summary: str, **extra: Any) -> Any:
    """The decorator of a submission route: 202 with the job, the token needed."""
    return router.post(
        path,
        status_code=202,
        response_model=JobStatus,
        responses=SUBMIT_ERRORS,
        dependencies=NEEDS_TOKEN,
        summary=summary,
        tags=["jobs"],
        **extra,
    )


@_submit_route(
    "/jobs/partition",
    "Submit a partition job (GeoJSON layers)",
    openapi_extra=json_body(PartitionRequest),
)
async def submit_partition(request: Request) -> Response:
    return await _submit_json("partition", request)


@_submit_route(
    "/jobs/audit",
    "Submit an audit job (GeoJSON layers)",
    openapi_extra=json_body(AuditRequest),
)
async def submit_audit(request: Request) -> Response:
    return await _submit_json("audit", request)


@_submit_route(
    "/jobs/partition/upload", "Submit a partition job (GeoPackage or zipped Shapefile upload)"
)
async def upload_partition(
    file: _UPLOAD, form: Annotated[PartitionUploadForm, Form()], request: Request
) -> Response:
    return await _submit_upload("partition", file, form, PartitionOptions, request)


@_submit_route("/jobs/audit/upload", "Submit an audit job (GeoPackage or zipped Shapefile upload)")
async def upload_audit(
    file: _UPLOAD, form: Annotated[AuditUploadForm, Form()], request: Request
) -> Response:
    return await _submit_upload("audit", file, form, AuditOptions, request)


async def _submit_json(kind: str, request: Request) -> Response:
    """Store the JSON body in a new job's directory as it arrives, check it, queue it."""
    media = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if media != "application/json" and not media.endswith("+json"):
        raise HTTPException(415, f"send the job as application/json, not {media}")
    _check_queue(request)
    store = app_store(request)
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
        return await run_in_threadpool(_accept, job_id, kind, spec, options, request)
    except BaseException:
        remove_tree(job_dir)
        raise


async def _submit_upload(
    kind: str, file: UploadFile, form: Any, options_model: type, request: Request
) -> Response:
    """Check an upload's form (no unknown fields, the options, the layer names)."""
    received = list((await request.form()).keys())
    allowed = set(type(form).model_fields) | {"file"}
    extra = unknown_fields(received, allowed)
    if extra:
        raise BodyError(extra[0], f"unknown form field{'s' * (len(extra) > 1)}: {', '.join(extra)}")
    data = form.model_dump(mode="json")
    options = validate_options(
        options_model,
        {k: v for k, v in data.items() if k in options_model.model_fields},
        prefix="form",
    )
    names = check_layer_names(data, kind)
    return await run_in_threadpool(_submit_file, kind, file, names, options, request)


def _submit_file(
    kind: str, file: UploadFile, names: dict[str, str | None], options: dict, request: Request
) -> Response:
    """Store an uploaded file in a new job's directory, then queue the job."""
    _check_queue(request)
    store = app_store(request)
    job_id = store.new_id()
    job_dir = store.job_dir(job_id)
    try:
        max_unzipped = app_config(request).max_unzipped_bytes
        spec = store_upload(job_dir, kind, file.file, names, max_unzipped=max_unzipped)
        return _accept(job_id, kind, spec, options, request)
    except BaseException:
        remove_tree(job_dir)
        raise


def _queue_full(request: Request) -> HTTPException:
    return HTTPException(
        503,
        f"{app_config(request).max_queue} jobs are waiting or running; retry later (or start "
        "the server with a larger --max-queue)",
        headers={"Retry-After": "30"},
    )


def _check_queue(request: Request) -> None:
    """Refuse early, before storing anything, when the queue is full."""
    counts = app_store(request).counts()
    if counts["queued"] + counts["running"] >= app_config(request).max_queue:
        raise _queue_full(request)


def _accept(
    job_id: str, kind: str, spec: Any, options: dict[str, Any], request: Request
) -> JSONResponse:
    """Queue the stored job, wake the runner, answer 202 with the job and its Location."""
    inputs = {"inputs": spec, "options": options}
    try:
        app_store(request).create(job_id, kind, inputs, max_queue=app_config(request).max_queue)
    except QueueFull:
        raise _queue_full(request) from None
    request.app.state.runner.wake()
    link = links(request)
    body = job_status_of(get_job(request, job_id), link).model_dump(mode="json")
    return JSONResponse(body, 202, headers={"Location": link(f"/jobs/{job_id}")})
