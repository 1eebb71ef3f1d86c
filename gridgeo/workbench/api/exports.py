"""Downloads of the plan as it stands: grids as GeoJSON, GeoPackage or zipped
shapefile, the print map (PDF, PNG), the staffing table and the coverage audit
(:mod:`~gridgeo.workbench.export`)."""

from __future__ import annotations

import io
import json

import pandas as pd
from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from .. import export
from .bench import Workbench
from .common import download, plan_router, read

__all__ = ["routes"]


def routes(bench: Workbench) -> APIRouter:
    """``/api/export.*``, ``/api/map.*``, ``/api/staffing.csv``, ``/api/audit.*``."""
    r = plan_router(bench)

    @r.get("/api/export.geojson")
    def export_geojson() -> Response:
        text = read(bench, lambda s: s.grids().to_crs(4326).to_json(drop_id=True))
        return download(text.encode("utf-8"), "grids.geojson", "application/geo+json")

    @r.get("/api/export.gpkg")
    def export_gpkg() -> Response:
        data = read(bench, export.geopackage)
        return download(data, "grids.gpkg", "application/geopackage+sqlite3")

    @r.get("/api/export.shp.zip")
    def export_shapefile() -> Response:
        return download(read(bench, export.shapefile_zip), "grids.zip", "application/zip")

    @r.get("/api/map.{suffix}")
    def export_map(suffix: str, lang: str = "zh") -> Response:
        if suffix not in ("pdf", "png") or lang not in ("zh", "en"):
            raise HTTPException(404, detail="the print map is map.pdf or map.png, lang zh or en")
        data = read(bench, lambda s: export.print_map(s, "." + suffix, lang=lang))
        kind = "application/pdf" if suffix == "pdf" else "image/png"
        return download(data, f"grids.{suffix}", kind)

    @r.get("/api/staffing.csv")
    def staffing() -> Response:
        table = read(bench, lambda s: s.table())
        return download(_csv(table), "staffing.csv", "text/csv; charset=utf-8")

    @r.get("/api/audit.{suffix}")
    def audit(suffix: str, lang: str = "zh") -> Response:
        """The coverage audit (:func:`gridgeo.audit`) of the plan as it stands: its
        figures (``audit.json``) or the list of findings (``audit.csv``)."""
        if suffix not in ("json", "csv") or lang not in ("zh", "en"):
            raise HTTPException(404, detail="the audit is audit.json or audit.csv, lang zh or en")
        result = read(bench, export.audit)
        if suffix == "json":
            body = json.dumps(result.summary(), ensure_ascii=False, default=str)
            return download(body.encode("utf-8"), "audit.json", "application/json")
        return download(_csv(result.findings(lang=lang)), "audit.csv", "text/csv; charset=utf-8")

    return r


def _csv(table: pd.DataFrame) -> bytes:
    """``table`` as UTF-8 CSV with a byte order mark (so that Excel reads it)."""
    buf = io.StringIO()
    table.to_csv(buf, index=False)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
