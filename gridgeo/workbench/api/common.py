"""What the workbench's routes share: the check that a request is for the plan open
(:func:`same_plan`), the router that applies it, and the answers: the plan's state
after an edit (:func:`answer`, :func:`edit`), a read of the plan (:func:`read`), a file
to download (:func:`download`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from ..._errors import GridgeoError
from ..session import EditRefused, Session
from .bench import Workbench

__all__ = ["answer", "download", "edit", "plan_router", "read", "same_plan"]


def same_plan(bench: Workbench) -> Callable[[Request], None]:
    """The dependency refusing (409) a request whose ``X-Workbench-Plan`` (the plan the
    page shows, URL encoded) is not the plan open: someone opened another since.
    Opening a plan is never refused."""

    def check(request: Request) -> None:
        shown = request.headers.get("x-workbench-plan")
        if shown is None or request.url.path.endswith(("/api/open", "/api/open/upload")):
            return
        if bench.session is not None and unquote(shown) != bench.plan:
            msg = f"the workbench has another plan open now ({bench.plan}); reload the page"
            raise HTTPException(409, detail=msg)

    return check


def plan_router(bench: Workbench) -> APIRouter:
    """A router whose every route checks :func:`same_plan` first."""
    return APIRouter(dependencies=[Depends(same_plan(bench))])


def answer(bench: Workbench, result: Any = None) -> Response:
    """The plan's state (:meth:`Workbench.state_text`) with ``result``, as JSON."""
    return Response(bench.state_text(result), media_type="application/json")


def edit(bench: Workbench, fn: Callable[[], Any]) -> Response:
    """Run the edit ``fn`` on the plan open (409 when none) and answer the state with
    its result; an edit the rules refuse answers 422 with the reason."""
    with bench.lock:
        bench.current()
        try:
            out = fn()
        except (EditRefused, GridgeoError) as exc:
            raise HTTPException(422, detail=str(exc)) from None
        return answer(bench, out)


def read(bench: Workbench, fn: Callable[[Session], Any]) -> Any:
    """``fn`` of the session open (409 when none); a GridgeoError answers 422."""
    with bench.lock:
        session = bench.current()
        try:
            return fn(session)
        except GridgeoError as exc:
            raise HTTPException(422, detail=str(exc)) from None


def download(data: bytes, name: str, media_type: str) -> Response:
    """``data`` as a file ``name`` to download."""
    return Response(
        data,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
