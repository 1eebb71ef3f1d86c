"""Helpers shared by the readers, the downloader and the writer of :mod:`gridgeo.io`:
path and bounding-box checks, and short error texts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._errors import InputError, ReadError

PathLike = str | os.PathLike[str]
BBox = tuple[float, float, float, float]

_OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm")
_OSM_FORMATS = "OSM XML (.osm) or OSM PBF (.osm.pbf, .pbf)"


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = text.rstrip(".;")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_file(path: Path, formats: str) -> None:
    if not path.exists():
        msg = f"file not found: {path}; check the path (accepted: {formats})"
        raise ReadError(msg)
    if not path.is_file():
        msg = f"{path} is a directory, not a file; give the path of a {formats} file"
        raise ReadError(msg)


def _check_bbox(bbox: object) -> BBox:
    hint = (
        "bbox must be (west, south, east, north) in degrees of longitude/latitude with "
        "west < east and south < north, e.g. (24.93, 60.16, 24.96, 60.18)"
    )
    try:
        values = tuple(float(v) for v in bbox)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        msg = f"{hint}; got {bbox!r}"
        raise InputError(msg) from None
    if len(values) != 4 or not all(np.isfinite(values)):
        msg = f"{hint}; got {bbox!r}"
        raise InputError(msg)
    west, south, east, north = values
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        msg = f"{hint}; got {bbox!r}"
        raise InputError(msg)
    return values  # type: ignore[return-value]
