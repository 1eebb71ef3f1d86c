"""What the job routes depend on: the API token, the application's store and settings,
links in answers, a job by its id.

The store, the settings and the runner live in ``request.app.state`` (set by
:func:`gridgeo.service.app.create_app` and its lifespan), so that routers need no
closure over them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from .config import ServiceConfig
from .models import JobError, JobStatus, ResultLink
from .security import TOKEN_MESSAGE, token_matches
from .store import Job, JobStore

__all__ = [
    "NEEDS_TOKEN",
    "Links",
    "app_config",
    "app_store",
    "get_job",
    "job_status_of",
    "links",
    "require_token",
]

#: A link maker: the URL of a service path (``/jobs/ID``) in an answer.
Links = Callable[[str], str]

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer TOKEN")
_api_key = APIKeyHeader(name="X-API-Token", auto_error=False, description="the API token")


def app_store(request: Request) -> JobStore:
    """The job store of the application serving ``request``."""
    return request.app.state.store


def app_config(request: Request) -> ServiceConfig:
    """The settings of the application serving ``request``."""
    return request.app.state.config


async def require_token(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> None:
    """Refuse (401) a request without the API token, in either header.

    :class:`~gridgeo.service.security.TokenGuard` refused requests without the token
    already, before their body was read; this declares the schemes in the OpenAPI
    schema (and checks again).
    """
    given = api_key or (bearer.credentials if bearer is not None else None)
    if not token_matches(given, app_config(request).token):
        raise HTTPException(401, TOKEN_MESSAGE, headers={"WWW-Authenticate": "Bearer"})


#: The dependencies of every route that needs the token.
NEEDS_TOKEN: list[Any] = [Depends(require_token)]


def links(request: Request) -> Links:
    """Links to a path: from --public-url, else relative to the request's path.

    Never from the request's ``Host``.
    """
    public_url = app_config(request).public_url
    if public_url:
        return lambda path: public_url + path
    here = posixpath.dirname(request.url.path) or "/"
    return lambda path: posixpath.relpath(path, here)


def get_job(request: Request, job_id: str) -> Job:
    """The job ``job_id`` of the application's store; 404 when there is none."""
    job = app_store(request).get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    return job


def job_status_of(job: Job, link: Links) -> JobStatus:
    """What ``GET /jobs/{id}`` answers about ``job``, its results linked with ``link``."""
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
