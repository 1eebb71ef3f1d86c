"""Reading GIS layers (GeoPackage, GeoJSON, Shapefile, FlatGeobuf, GeoParquet, CSV points) and
writing layers into one GeoPackage."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import pyogrio
import shapely

from .._errors import GridgeoError, InputError, ReadError
from .._validate import check_layer
from ._common import _OSM_SUFFIXES, PathLike, _check_file, _first_line
from ._pgconn import is_db_url, parse_db_url
from .encoding import guess_encoding, has_cpg, misread_text

__all__ = ["read_layer", "storable", "write_layers"]

log = logging.getLogger(__name__)

_LAYER_FORMATS = {
    ".gpkg": "GeoPackage",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "Shapefile",
    ".zip": "zipped Shapefile",
    ".fgb": "FlatGeobuf",
    ".parquet": "GeoParquet",
    ".geoparquet": "GeoParquet",
    ".csv": "CSV",
}
_LAYER_FORMATS_TEXT = (
    "GeoPackage (.gpkg), GeoJSON (.geojson, .json), Shapefile (.shp or zipped .zip), "
    "FlatGeobuf (.fgb), GeoParquet (.parquet, .geoparquet) or, for points, a CSV table "
    "with longitude/latitude columns (.csv)"
)


# ---------------------------------------------------------------------------- reading


def read_layer(
    path: PathLike, *, layer: str | None = None, name: str = "layer"
) -> gpd.GeoDataFrame:
    """Read a GIS layer and validate it.

    Parameters
    ----------
    path : str or path-like
        A GeoPackage (``.gpkg``), GeoJSON (``.geojson``, ``.json``), Shapefile (``.shp``
        or zipped ``.zip``), FlatGeobuf (``.fgb``) or GeoParquet (``.parquet``,
        ``.geoparquet``) file, a CSV table of points with longitude and latitude
        columns (``.csv``: see :mod:`gridgeo.io.table`), or a PostgreSQL/PostGIS table, view or query:
        ``postgresql://user@host/db?table=schema.name`` or ``…?query=SELECT …`` (see
        :mod:`gridgeo.io.postgis`; needs ``pip install 'gridgeo[postgis]'``).
    layer : str, optional
        Layer to read; required when the file holds several layers. For a database
        URL naming no table: the ``[schema.]table``.
    name : str, default "layer"
        How the layer is called in messages (``"buildings"``, ``"population"``).

    Returns
    -------
    GeoDataFrame
        Checked by :func:`gridgeo._validate.check_layer`: it has a CRS, no missing
        geometries, and invalid geometries are repaired (a broken ring that collapses
        to a line or a point becomes a point where it lies, counted in a warning).

    Raises
    ------
    ReadError
        The file is missing, has an unsupported extension, or cannot be read.
    DatabaseError
        The database cannot be reached, or the table or query cannot be read.
    InputError
        The file holds several layers and ``layer`` is not given, or ``layer`` is not in
        the file; :class:`~gridgeo._errors.CRSError`,
        :class:`~gridgeo._errors.EmptyLayerError` or
        :class:`~gridgeo._errors.GeometryError` from the checks.
    """
    what = "file"
    if is_db_url(path):
        from .postgis import read_db_layer

        gdf = read_db_layer(str(path), layer=layer, name=name)
        path, what = parse_db_url(str(path)).display, "layer"
    else:
        gdf = _read_file(Path(path), layer)
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = (
            f"{name} {what} {path} has no geometry column (it is a plain table); give a "
            "layer with geometries"
        )
        raise InputError(msg)
    return check_layer(gdf, name, collapsed="point")


def _read_file(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    suffix = path.suffix.lower()
    if path.name.lower().endswith(_OSM_SUFFIXES):
        msg = f"{path} is an OpenStreetMap extract; read it with gridgeo.io.read_osm instead"
        raise ReadError(msg)
    if suffix not in _LAYER_FORMATS:
        msg = (
            f"cannot read {path}: unsupported file type {suffix or '(no extension)'!r}; "
            f"convert it to one of {_LAYER_FORMATS_TEXT}"
        )
        raise ReadError(msg)
    _check_file(path, _LAYER_FORMATS_TEXT)
    kind = _LAYER_FORMATS[suffix]
    if kind == "GeoParquet":
        if layer is not None:
            log.warning("%s: GeoParquet files hold one layer; ignoring layer=%r", path, layer)
        return _read_parquet(path)
    if kind == "CSV":
        from .table import read_point_table

        return read_point_table(path)
    return _read_ogr(path, layer, kind)


def _read_parquet(path: Path) -> gpd.GeoDataFrame:
    try:
        return gpd.read_parquet(path)
    except (OSError, ValueError, TypeError, ImportError) as exc:
        msg = (
            f"cannot read {path}: {_first_line(exc)}; check that it is a GeoParquet file "
            "(written with GeoDataFrame.to_parquet, which stores the geometry metadata)"
        )
        raise ReadError(msg) from None


def _read_ogr(path: Path, layer: str | None, kind: str) -> gpd.GeoDataFrame:
    hint = f"check that it is a valid {kind} file (re-export it, e.g. with QGIS or ogr2ogr)"
    try:
        names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        msg = f"cannot read {path}: {_first_line(exc)}; {hint}"
        raise ReadError(msg) from None
    if not names:
        msg = f"{path} holds no layers; {hint}"
        raise ReadError(msg)
    if layer is None and len(names) > 1:
        msg = (
            f"{path} holds {len(names)} layers ({', '.join(names)}); choose one with "
            f"layer=NAME (--layer NAME on the command line)"
        )
        raise InputError(msg)
    if layer is not None and layer not in names:
        msg = f"{path} has no layer {layer!r}; available layers: {', '.join(names)}"
        raise InputError(msg)
    try:
        gdf = pyogrio.read_dataframe(path, layer=layer or names[0], on_invalid="fix")
        if "Shapefile" in kind and not has_cpg(path):
            encoding = guess_encoding(misread_text(gdf))
            if encoding is not None:
                gdf = pyogrio.read_dataframe(
                    path, layer=layer or names[0], on_invalid="fix", encoding=encoding
                )
                log.warning(
                    "%s has no .cpg file naming its text encoding: read as %s (columns %s); "
                    "put a .cpg file holding %s beside it to say so",
                    path.name,
                    encoding,
                    ", ".join(str(c) for c in gdf.columns[:4]),
                    "GBK" if encoding == "GB18030" else encoding,
                )
        return gdf
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        msg = f"cannot read {path}: {_first_line(exc)}; {hint}"
        raise ReadError(msg) from None
    except shapely.errors.GEOSException as exc:
        msg = f"cannot read the geometries of {path}: {_first_line(exc)}; {hint}"
        raise ReadError(msg) from None


# ---------------------------------------------------------------------------- writing


def write_layers(path: PathLike, layers: Mapping[str, gpd.GeoDataFrame]) -> Path:
    """Write layers into one GeoPackage, one layer per key.

    Parameters
    ----------
    path : str or path-like
        Output ``.gpkg`` file; parent folders are created and an existing file is
        replaced.
    layers : mapping of str to GeoDataFrame
        Layer name → layer. Empty layers are written too (with their columns).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    InputError
        ``layers`` is empty or holds something other than GeoDataFrames.
    ReadError
        The file cannot be written (permissions, disk full, path is a directory).
    """
    path = Path(path)
    if not isinstance(layers, Mapping) or not layers:
        msg = "layers must be a non-empty dict of {layer name: GeoDataFrame}; nothing to write"
        raise InputError(msg)
    for key, gdf in layers.items():
        if not isinstance(key, str) or not key:
            msg = f"layer names must be non-empty strings, got {key!r}; rename the dict keys"
            raise InputError(msg)
        if not isinstance(gdf, gpd.GeoDataFrame):
            msg = (
                f"layer {key!r} must be a GeoDataFrame, got {type(gdf).__name__}; wrap it "
                "with geopandas.GeoDataFrame(df, geometry=..., crs=...)"
            )
            raise InputError(msg)
    if path.suffix.lower() != ".gpkg":
        log.warning("%s: writing a GeoPackage although the name does not end in .gpkg", path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.unlink()
        for key, gdf in layers.items():
            _write_one(path, key, gdf)
    except (OSError, pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        if isinstance(exc, GridgeoError):
            raise
        msg = (
            f"cannot write {path}: {_first_line(exc)}; check that the folder is writable "
            "and the path is not an open or existing directory"
        )
        raise ReadError(msg) from None
    log.info("wrote %d layers to %s", len(layers), path)
    return path


def _write_one(path: Path, key: str, gdf: gpd.GeoDataFrame) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*'crs' was not provided", category=UserWarning)
        storable(gdf).to_file(path, layer=key, driver="GPKG", engine="pyogrio")


def storable(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` with columns a GeoPackage or GeoJSON can store: values of object columns
    that are not strings (lists, ids of mixed types) become strings.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> g = gpd.GeoDataFrame({"ids": [[1, 2], "a"]}, geometry=[Point(0, 0)] * 2, crs=3857)
    >>> storable(g)["ids"].tolist()
    ['[1, 2]', 'a']
    """
    out = gdf.copy()
    for col in out.columns:
        if col != out.geometry.name and out[col].dtype == object:
            out[col] = out[col].map(lambda v: v if v is None or isinstance(v, str) else str(v))
    return out
