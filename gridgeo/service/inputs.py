"""Job inputs: uploads checked and stored under fixed names; every kind read back.

A job's inputs are described by a *spec*, stored with the job: for each role
(``streets``, ``buildings`` …) the format, the file inside the job's folder (a name
made by the server) and, for a GeoPackage, the layer. JSON bodies are split into
``inputs/<role>.geojson`` by :mod:`gridgeo.service.body`; the job process reads every
kind back with :func:`load_inputs`. What is checked here is the transport — the file is
what it says, the named layers exist and hold features with a CRS —; whether the layers
make a plan is for :func:`gridgeo.partition` and :func:`gridgeo.audit.audit` to say,
with the command line's messages.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from pathlib import Path
from typing import IO, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError as ProjCRSError

from .._errors import CRSError, EmptyLayerError, GeometryError
from .security import UploadError, extract_shapefiles, safe_child, sniff_format

__all__ = [
    "ROLES",
    "check_layer_names",
    "frame_from_geojson",
    "input_crs",
    "load_inputs",
    "store_upload",
    "unknown_fields",
]

log = logging.getLogger(__name__)

#: Layers of each kind of job.
ROLES = {
    "partition": (
        "streets",
        "buildings",
        "boundaries",
        "population",
        "barriers",
        "dedicated",
        "pois",
    ),
    "audit": ("grids", "buildings", "streets", "pois", "boundaries"),
}
REQUIRED = {"partition": ("streets",), "audit": ("grids", "buildings")}


def input_crs(epsg: int) -> CRS:
    """The CRS of an EPSG code; :class:`~gridgeo.CRSError` when PROJ does not know it."""
    try:
        return CRS.from_epsg(epsg)
    except ProjCRSError:
        raise CRSError(f"EPSG:{epsg} is not a known coordinate reference system") from None


def frame_from_geojson(collection: dict[str, Any], *, name: str, epsg: int) -> gpd.GeoDataFrame:
    """A GeoDataFrame from a GeoJSON FeatureCollection (a dict), checked.

    Parameters
    ----------
    collection : dict
        ``{"type": "FeatureCollection", "features": [...]}``.
    name : str
        Role of the layer, for messages.
    epsg : int
        EPSG code of the coordinates.

    Raises
    ------
    EmptyLayerError, GeometryError, CRSError
        No features; a geometry GEOS cannot read, or with coordinates that are not
        finite numbers; longitudes/latitudes out of range for a geographic CRS.
    """
    features = collection.get("features") or []
    if not features:
        raise EmptyLayerError(f"{name}: the FeatureCollection holds no features")
    crs = input_crs(epsg)
    texts = [
        None
        if f.get("geometry") is None
        else json.dumps(f["geometry"], allow_nan=False)
        if _finite(f["geometry"])
        else ""
        for f in features
    ]
    bad = next((i for i, t in enumerate(texts) if t == ""), None)
    if bad is not None:
        msg = f"{name}: feature {bad} has coordinates that are not finite numbers"
        raise GeometryError(msg)
    geoms = np.full(len(texts), None, dtype=object)
    have = np.array([t is not None for t in texts])
    if have.any():
        try:
            geoms[have] = shapely.from_geojson(np.array(texts, dtype=object)[have])
        except (shapely.errors.GEOSException, ValueError, TypeError):
            geoms[have] = _one_by_one(
                [t for t in texts if t is not None], name, np.flatnonzero(have)
            )
    ok = np.array([g is not None and not shapely.is_empty(g) for g in geoms])
    if ok.any():
        xy = shapely.get_coordinates(geoms[ok])
        if not np.isfinite(xy).all():
            raise GeometryError(f"{name}: some coordinates are not finite numbers")
        if crs.is_geographic and (np.abs(xy[:, 0]).max() > 360 or np.abs(xy[:, 1]).max() > 90):
            msg = (
                f"{name}: coordinates are not longitudes/latitudes (EPSG:{epsg}); "
                "give the EPSG code of your coordinates as options.input_crs"
            )
            raise CRSError(msg)
    props = pd.DataFrame.from_records([f.get("properties") or {} for f in features])
    props = props.drop(columns=[c for c in props.columns if str(c) == "geometry"])
    props.columns = [str(c) for c in props.columns]
    return gpd.GeoDataFrame(props, geometry=gpd.GeoSeries(geoms, crs=crs), crs=crs)


def _finite(geometry: Any) -> bool:
    """Whether every number in a GeoJSON geometry's coordinates is finite."""
    stack = [geometry.get("coordinates")]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float) and not np.isfinite(item):
            return False
    return True


def _one_by_one(texts: list[str], name: str, index: np.ndarray) -> np.ndarray:
    out = np.full(len(texts), None, dtype=object)
    for k, text in enumerate(texts):
        try:
            out[k] = shapely.from_geojson(text)
        except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
            reason = str(exc).splitlines()[0][:200]
            msg = f"{name}: feature {int(index[k])} has a geometry that cannot be read ({reason}); check its coordinates"
            raise GeometryError(msg) from None
    return out


def store_upload(
    job_dir: Path,
    kind: str,
    upload: IO[bytes],
    layer_names: dict[str, str | None],
    *,
    max_unzipped: int,
) -> dict[str, dict[str, Any]]:
    """Store an uploaded GeoPackage or zipped Shapefile and map its layers to roles.

    The format is told from the content; the file is stored as ``inputs/upload.gpkg``
    or unpacked from a zip into ``inputs/zip/layer0.shp`` … A role takes the layer
    named in ``layer_names`` (``{"streets": "roads"}``), else the layer named like the
    role, if any. Each chosen layer must exist, hold features and have a CRS.

    Raises
    ------
    UploadError
        Unknown format (415), unsafe or oversized archive (422, 413), unreadable file,
        missing or unsuitable layer (422).
    """
    head = upload.read(16)
    upload.seek(0)
    fmt = sniff_format(head)
    inputs = safe_child(job_dir, "inputs")
    inputs.mkdir(exist_ok=True)
    if fmt == "gpkg":
        stored = inputs / "upload.gpkg"
        with open(stored, "wb") as out:
            shutil.copyfileobj(upload, out, 1024 * 1024)
        try:
            available = [str(row[0]) for row in pyogrio.list_layers(stored)]
        except Exception as exc:  # pyogrio raises several DataSourceError kinds
            raise UploadError(f"cannot read the GeoPackage: {_first_line(exc)}") from None
        paths = dict.fromkeys(available, "inputs/upload.gpkg")
    else:
        archive = inputs / "upload.zip"
        with open(archive, "wb") as out:
            shutil.copyfileobj(upload, out, 1024 * 1024)
        found = extract_shapefiles(archive, inputs / "zip", max_total=max_unzipped)
        archive.unlink()
        paths = {name: f"inputs/zip/{path.name}" for name, path in found.layers.items()}
    spec = {}
    lower = {name.lower(): name for name in paths}
    for role in ROLES[kind]:
        wanted = layer_names.get(role)
        if wanted is not None:
            if wanted not in paths:
                msg = f"the upload has no layer {wanted!r} for {role}; its layers are: {_names(paths)}"
                raise UploadError(msg)
            name = wanted
        elif role in lower:
            name = lower[role]
        elif role in REQUIRED[kind]:
            msg = f"which layer holds the {role}? name it with {role}_layer; the upload's layers are: {_names(paths)}"
            raise UploadError(msg)
        else:
            continue
        file = paths[name]
        layer = name if fmt == "gpkg" else None
        _check_info(safe_child(job_dir, file), layer, role)
        spec[role] = {"format": fmt if fmt == "gpkg" else "shp", "file": file, "layer": layer}
    return spec


def _names(paths: dict[str, str]) -> str:
    return ", ".join(repr(n) for n in sorted(paths)) or "(none)"


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


def _check_info(path: Path, layer: str | None, role: str) -> None:
    """Cheap checks from the layer's header: readable, features, CRS."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = pyogrio.read_info(path, layer=layer)
    except Exception as exc:  # pyogrio raises several DataSourceError kinds
        raise UploadError(f"cannot read the {role} layer: {_first_line(exc)}") from None
    if info.get("features", 0) == 0:
        raise UploadError(f"the {role} layer holds no features")
    if not info.get("crs"):
        msg = f"the {role} layer has no CRS (for a Shapefile: add its .prj file to the archive)"
        raise UploadError(msg)


def load_inputs(job_dir: Path, spec: dict[str, dict[str, Any]]) -> dict[str, gpd.GeoDataFrame]:
    """Read a job's stored inputs back: role → GeoDataFrame."""
    from ..io import read_layer

    out = {}
    for role, item in spec.items():
        path = safe_child(job_dir, item["file"])
        if item["format"] == "geojson":
            collection = json.loads(path.read_text(encoding="utf-8"))
            out[role] = frame_from_geojson(collection, name=role, epsg=int(item["epsg"]))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[role] = read_layer(path, layer=item["layer"], name=role)
    return out


def check_layer_names(form: dict[str, Any], kind: str) -> dict[str, str | None]:
    """The ``<role>_layer`` fields of an upload form, by role."""
    return {role: form.get(f"{role}_layer") for role in ROLES[kind]}


def unknown_fields(received: list[str], allowed: set[str]) -> list[str]:
    """Form fields that are not options nor layer names (a typo would be ignored)."""
    return sorted(set(received) - allowed)
