"""Saved versions over HTTP: save (409 from an outdated base), list, open, revert to,
and compare versions of the plan open (:mod:`~gridgeo.workbench.versions`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException
from fastapi.responses import Response

from .. import export
from ..session import Session
from ..versions import VersionConflict, compare
from .bench import Workbench
from .common import edit, plan_router, read

__all__ = ["routes"]


def routes(bench: Workbench) -> APIRouter:
    """``/api/save``, ``/api/versions`` (and a version's ``open``, ``revert``),
    ``/api/compare``."""
    r = plan_router(bench)

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

        return edit(bench, run)

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

        return edit(bench, run)

    @r.get("/api/compare")
    def compare_versions(a: int, b: int | None = None) -> dict[str, Any]:
        """What changed from version ``a`` to ``b`` (default: the plan as it stands),
        with the buildings that changed grid as GeoJSON (``changed``)."""

        def run(s: Session) -> dict[str, Any]:
            other = s.snapshot() if b is None else bench.store.get(bench.plan, b)
            out = compare(bench.store.get(bench.plan, a), other)
            out["changed"] = json.loads(export.changed_buildings(s, out["moved"]))
            return out

        return read(bench, run)

    return r
