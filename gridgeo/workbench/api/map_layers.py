"""The map's layers besides the grids: buildings, streets, basemaps, and the piece of a
block a click selects."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException
from fastapi.responses import Response

from .. import export
from ..session import Session
from .bench import Workbench
from .common import plan_router, read

__all__ = ["routes"]


def routes(bench: Workbench) -> APIRouter:
    """``/api/buildings``, ``/api/streets``, ``/api/basemaps``, ``/api/piece``."""
    r = plan_router(bench)

    @r.get("/api/buildings")
    def buildings_layer() -> Response:
        def run(s: Session) -> str:
            b = s.footprints[["geometry"]].copy()
            b["i"] = range(len(b))
            b["households"] = s.households[: s.n_buildings]
            b["block"] = s.block
            return b.to_crs(4326).to_json(drop_id=True)

        return Response(read(bench, run), media_type="application/geo+json")

    @r.get("/api/streets")
    def streets_layer() -> Response:
        def run(s: Session) -> str:
            if s.streets is None:
                return '{"type": "FeatureCollection", "features": []}'
            return s.streets[["geometry"]].to_crs(4326).to_json(drop_id=True)

        return Response(read(bench, run), media_type="application/geo+json")

    @r.get("/api/basemaps")
    def basemaps() -> dict[str, Any]:
        return {"basemaps": export.basemaps()}

    @r.post("/api/piece")
    def piece(building: Annotated[int, Body(embed=True)]) -> dict[str, Any]:
        def run(s: Session) -> dict[str, Any]:
            if not 0 <= building < s.n_buildings:
                raise HTTPException(422, detail=f"no building {building}")
            return {"buildings": s.piece(building).tolist()}

        return read(bench, run)

    return r
