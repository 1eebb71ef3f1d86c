"""The planner's edits over HTTP: move, merge, split, undo, redo, lock, note,
rebalance. Each answers the plan's state with the edit's result; an edit the rules
refuse answers 422 with the reason."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from fastapi.responses import Response

from .bench import Workbench
from .common import edit, plan_router

__all__ = ["routes"]


def routes(bench: Workbench) -> APIRouter:
    """One route per edit of :class:`~gridgeo.workbench.session.Session`."""
    r = plan_router(bench)

    @r.post("/api/move")
    def move(buildings: Annotated[list[int], Body()], to: Annotated[str, Body()]) -> Response:
        return edit(bench, lambda: bench.current().move(buildings, to))

    @r.post("/api/merge")
    def merge(keep: Annotated[str, Body()], other: Annotated[str, Body()]) -> Response:
        return edit(bench, lambda: bench.current().merge(keep, other))

    @r.post("/api/split")
    def split(grid: Annotated[str, Body(embed=True)]) -> Response:
        return edit(bench, lambda: bench.current().split(grid))

    @r.post("/api/undo")
    def undo() -> Response:
        return edit(bench, lambda: bench.current().undo())

    @r.post("/api/redo")
    def redo() -> Response:
        return edit(bench, lambda: bench.current().redo())

    @r.post("/api/lock")
    def lock(
        grids: Annotated[list[str], Body()], locked: Annotated[bool, Body()] = True
    ) -> Response:
        return edit(bench, lambda: bench.current().lock(grids, locked=locked))

    @r.post("/api/note")
    def note(grid: Annotated[str, Body()], text: Annotated[str, Body()]) -> Response:
        return edit(bench, lambda: bench.current().set_note(grid, text))

    @r.post("/api/rebalance")
    def rebalance() -> Response:
        return edit(bench, lambda: bench.current().rebalance())

    return r
