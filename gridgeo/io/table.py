"""A table of points with coordinates (CSV): a building register geocoded to points.

Community data often come as a spreadsheet, one row per building (楼栋) with its
households and a position: ``lon``/``lat``, ``lng``/``lat``, ``longitude``/``latitude``,
``x``/``y`` or ``经度``/``纬度`` columns in WGS 84 degrees, or the same names marked
``gcj`` (``lon_gcj``, ``经度(GCJ-02 …)``: positions taken from Gaode or Tencent maps),
which are converted to WGS 84. gridgeo's own CSV exports (the coverage findings) read
back as they are. The file is UTF-8 (with or without BOM) or GB 18030 (GBK), as
spreadsheet programs in China save it.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "register.csv"
>>> _ = path.write_text("楼栋,户数,经度,纬度\\n1号楼,120,116.47,39.99\\n2号楼,86,116.48,39.99\\n")
>>> points = read_point_table(path)
>>> points.crs.to_epsg(), len(points), points["户数"].sum()
(4326, 2, np.int64(206))
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .._errors import InputError, ReadError
from ..crs import gcj02_to_wgs84
from ._common import _first_line

__all__ = ["read_point_table", "read_text_table"]

log = logging.getLogger(__name__)

# a name starts with the word (``lon_gcj``, ``x_coord``, ``经度(WGS84) Longitude``)
_LON = re.compile(r"^(?:lon|lng|long|longitude|x)(?![a-z])|^经度")
_LAT = re.compile(r"^(?:lat|latitude|y)(?![a-z])|^纬度")
_ENCODINGS = ("utf-8-sig", "gb18030")
_HINT = (
    "a CSV of points needs two coordinate columns in degrees: lon/lat (lng, longitude/"
    "latitude, x/y or 经度/纬度; named with gcj, e.g. lon_gcj, for Gaode/Tencent positions)"
)


def read_point_table(path: Path) -> gpd.GeoDataFrame:
    """Points from a CSV table with longitude and latitude columns, in WGS 84.

    Raises
    ------
    ReadError
        The file cannot be read as text in UTF-8 or GB 18030, or is not a table.
    InputError
        No coordinate columns, coordinates that are not degrees (projected metres, or
        longitude and latitude swapped), or rows without a position (named).
    """
    table = read_text_table(path, sep=None, engine="python")
    lon_col, lat_col, gcj = _coordinate_columns(table, path)
    lon = pd.to_numeric(table[lon_col], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(table[lat_col], errors="coerce").to_numpy(dtype=float)
    missing = np.flatnonzero(~(np.isfinite(lon) & np.isfinite(lat)))
    if len(missing):
        rows = ", ".join(str(r + 2) for r in missing[:5])  # line numbers, after the header
        msg = (
            f"{path}: {len(missing)} row{'s have' if len(missing) > 1 else ' has'} no "
            f"position in {lon_col}/{lat_col} (line{'s' * (len(missing) > 1)} "
            f"{rows}{' …' if len(missing) > 5 else ''}); fill them in or remove those rows, "
            "so that no household is lost"
        )
        raise InputError(msg)
    _check_degrees(lon, lat, lon_col, lat_col, path)
    if gcj:
        lon, lat = gcj02_to_wgs84(lon, lat)
        log.info("%s: %d positions converted from GCJ-02 to WGS 84", path.name, len(lon))
    rest = table.drop(columns=[lon_col, lat_col])
    return gpd.GeoDataFrame(rest, geometry=gpd.points_from_xy(lon, lat), crs=4326)


def read_text_table(path: Path, *, what: str = "table", **options: Any) -> pd.DataFrame:
    """A CSV table in UTF-8 (with or without BOM) or GB 18030, as spreadsheets in China
    save it; ``options`` go to :func:`pandas.read_csv`. Refused with a
    :class:`~gridgeo.ReadError` saying how to save it when it is neither."""
    for encoding in _ENCODINGS:
        try:
            return pd.read_csv(path, encoding=encoding, **options)
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
            msg = (
                f"cannot read the {what} {path}: {_first_line(exc)}; save it as a "
                "comma-separated CSV with a header row"
            )
            raise ReadError(msg) from None
    msg = f"cannot read the {what} {path}: it is neither UTF-8 nor GB 18030 text; save it as CSV UTF-8"
    raise ReadError(msg)


def _coordinate_columns(table: pd.DataFrame, path: Path) -> tuple[str, str, bool]:
    """The longitude and latitude columns, and whether they are GCJ-02; WGS 84 first."""
    names = {c: str(c).strip().lower() for c in table.columns}
    found: dict[bool, dict[str, str]] = {False: {}, True: {}}
    for col, name in names.items():
        gcj = "gcj" in name
        for axis, pattern in (("lon", _LON), ("lat", _LAT)):
            if pattern.search(name) and axis not in found[gcj]:
                found[gcj][axis] = col
    for gcj in (False, True):
        if len(found[gcj]) == 2:
            return found[gcj]["lon"], found[gcj]["lat"], gcj
    msg = f"{path} has no coordinate columns (its columns: {', '.join(map(str, table.columns))}); {_HINT}"
    raise InputError(msg)


def _check_degrees(lon: np.ndarray, lat: np.ndarray, lon_col: str, lat_col: str, path) -> None:
    if (np.abs(lon) <= 180).all() and (np.abs(lat) <= 90).all():
        return
    if (np.abs(lat) <= 180).all() and (np.abs(lon) <= 90).all():
        fix = f"{lon_col} and {lat_col} look swapped: exchange the two column names"
    else:
        fix = (
            "they look like projected metres: a CSV gives positions in degrees; save "
            "projected coordinates as a GeoPackage with their CRS"
        )
    example = f"{lon[0]:g}, {lat[0]:g}"
    msg = f"{path}: {lon_col}/{lat_col} are not longitude/latitude degrees (e.g. {example}); {fix}"
    raise InputError(msg)
