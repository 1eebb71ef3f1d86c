"""Files of the current plan: GeoPackage, zipped Shapefile, print map (PDF / PNG)."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from .session import Session

__all__ = ["geopackage", "print_map", "shapefile_zip"]

#: Shapefile field names are at most 10 characters.
_SHORT = {"community_id": "community", "out_of_band": "off_band", "households": "househlds"}


def geopackage(session: Session) -> bytes:
    """``grids.gpkg`` with layers ``grids`` and ``buildings`` (their current grid)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grids.gpkg"
        session.grids().to_file(path, layer="grids", driver="GPKG", engine="pyogrio")
        b = session.buildings()
        for col in b.columns:
            if b[col].dtype == object and col != b.geometry.name:
                b[col] = b[col].map(lambda v: v if v is None or isinstance(v, str) else str(v))
        b.to_file(path, layer="buildings", driver="GPKG", engine="pyogrio")
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
