"""``GET /health``: what the service is doing, from its store's queue and its runner.

No token needed; the answer is 503 when queued jobs have waited with a worker free and
none was started meanwhile (``stalled``) or the runner is down (``down``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .._version import __version__
from .deps import app_store
from .models import Health
from .runner import RunnerState
from .store import QueueInfo, age_seconds

__all__ = ["STALL_AFTER", "health_report", "router"]

#: Seconds queued jobs may wait, with a worker free and none taken, before /health says
#: the service is stalled.
STALL_AFTER = 60.0

router = APIRouter()


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


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "stalled, or the runner is down"}},
    tags=["service"],
    summary="What the service is doing",
)
def health(request: Request) -> JSONResponse:  # no docstring: it would be in the schema
    report = health_report(app_store(request).queue_info(), request.app.state.runner.state())
    code = 503 if report.status in ("stalled", "down") else 200
    return JSONResponse(report.model_dump(mode="json"), code)
