"""Files of the current plan: GeoPackage, zipped Shapefile, print map (PDF / PNG), its
coverage audit; the changed buildings of a comparison; the basemaps of the page."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np

from .session import Session

__all__ = ["audit", "basemaps", "changed_buildings", "geopackage", "print_map", "shapefile_zip"]

#: Shapefile field names are at most 10 characters.
_SHORT = {"community_id": "community", "out_of_band": "off_band", "households": "househlds"}


def geopackage(session: Session) -> bytes:
    """``grids.gpkg`` with layers ``grids``, ``buildings`` (their current grid) and,
    when the plan has them, ``streets``: the workbench opens it again as it is."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grids.gpkg"
        session.grids().to_file(path, layer="grids", driver="GPKG", engine="pyogrio")
        b = session.buildings()
        for col in b.columns:
            if b[col].dtype == object and col != b.geometry.name:
                b[col] = b[col].map(lambda v: v if v is None or isinstance(v, str) else str(v))
        b.to_file(path, layer="buildings", driver="GPKG", engine="pyogrio")
        if session.streets is not None:
            session.streets.to_file(path, layer="streets", driver="GPKG", engine="pyogrio")
        return path.read_bytes()


def shapefile_zip(session: Session) -> bytes:
    """The grids as a zipped Shapefile (UTF-8, ``.cpg`` included; long names shortened)."""
    grids = session.grids().rename(columns=_SHORT)
    with tempfile.TemporaryDirectory() as tmp:
        shp = Path(tmp) / "grids.shp"
        grids.to_file(shp, driver="ESRI Shapefile", engine="pyogrio", encoding="UTF-8")
        out = Path(tmp) / "grids.zip"
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for part in sorted(Path(tmp).glob("grids.*")):
                if part.suffix != ".zip":
                    z.write(part, part.name)
        return out.read_bytes()


def print_map(session: Session, suffix: str, *, lang: str = "zh") -> bytes:
    """The grid division map (网格划分区域图) as one ``.pdf`` or ``.png`` page."""
    from ..render import save_print_map

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"grids{suffix}"
        written = save_print_map(
            session.grids(), path, buildings=session.buildings(), target=session.target, lang=lang
        )
        return written[0].read_bytes()


def changed_buildings(session: Session, moved: list[dict[str, Any]]) -> str:
    """GeoJSON (WGS 84) of the buildings of :func:`~.versions.compare`'s ``moved``,
    with their grid before (``from``) and after (``to``) and households."""
    idx = np.array([m["building"] for m in moved], dtype=np.int64)
    idx = idx[idx < session.n_buildings]
    frame = gpd.GeoDataFrame(
        {
            "i": idx,
            "from": [m["from"] for m in moved][: len(idx)],
            "to": [m["to"] for m in moved][: len(idx)],
            "households": [m["households"] for m in moved][: len(idx)],
        },
        geometry=session.footprints.geometry.to_numpy()[idx],
        crs=session.footprints.crs,
    )
    return frame.to_crs(4326).to_json(drop_id=True)


def audit(session: Session):
    """The coverage audit (:func:`gridgeo.audit.audit`) of the plan as it stands: gaps,
    overlaps, uncovered buildings, load against the session's band, street-front zones
    (with the session's streets)."""
    from ..audit import audit as run_audit

    return run_audit(
        session.grids()[["grid_id", "households", "geometry"]],
        session.buildings()[["households", "geometry"]],
        session.streets,
        grid_id="grid_id",
        households_column="households",
        target=session.target,
        tolerance=session.tolerance,
    )


def basemaps() -> list[dict[str, Any]]:
    """The basemaps the page offers (gridgeo's, :mod:`gridgeo.render.basemaps`): none
    (offline, the default), OpenStreetMap, and Tianditu vector and imagery when the
    server has a key (``$TIANDITU_TOKEN``). Gaode is left out: its tiles are in GCJ-02
    and the page draws WGS 84."""
    from ..render.basemaps import TIANDITU_TOKEN_ENV, resolve_tianditu_token, tianditu_url

    out: list[dict[str, Any]] = [
        {"name": "none", "layers": []},
        {
            "name": "osm",
            "layers": [
                {
                    "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                    "attribution": "© OpenStreetMap contributors",
                    "max_zoom": 19,
                }
            ],
        },
    ]
    if os.environ.get(TIANDITU_TOKEN_ENV):
        tk = resolve_tianditu_token()
        attr = "© 天地图 Tianditu"
        for name, base, names in (("tianditu-vec", "vec", "cva"), ("tianditu-img", "img", "cia")):
            out.append(
                {
                    "name": name,
                    "layers": [
                        {
                            "url": tianditu_url(layer, tk),
                            "attribution": attr,
                            "max_zoom": 18,
                            "subdomains": "01234567",
                        }
                        for layer in (base, names)
                    ],
                }
            )
    return out
