"""Reading OpenStreetMap extracts (``.osm``, ``.osm.pbf``) with GDAL's OSM driver."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from .._errors import EmptyLayerError, ReadError
from .._progress import step
from ._common import (
    _OSM_FORMATS,
    _OSM_SUFFIXES,
    BBox,
    PathLike,
    _check_bbox,
    _check_file,
    _first_line,
)
from .layers import OSMLayers, _split_features
from .tags import _KEYS, extract_tags

__all__ = ["read_osm"]

log = logging.getLogger(__name__)


# GDAL's OSM driver warns about every ring cut by the extract boundary; we count the
# affected features ourselves instead.
_GDAL_NOISE = ("Non closed ring detected", "organizePolygons")


def _read_gdal_layer(path: Path, layer: str, bbox: BBox | None) -> gpd.GeoDataFrame:
    with warnings.catch_warnings():
        for text in _GDAL_NOISE:
            warnings.filterwarnings("ignore", message=f".*{text}", category=RuntimeWarning)
        try:
            return pyogrio.read_dataframe(path, layer=layer, bbox=bbox, on_invalid="ignore")
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
            msg = (
                f"cannot read OpenStreetMap file {path}: {_first_line(exc)}; check that it is "
                f"a complete {_OSM_FORMATS} file (re-download the extract)"
            )
            raise ReadError(msg) from None


def _osm_ids(prefix: str, ids: pd.Series) -> pd.Series:
    return prefix + "/" + ids.astype(object).map(str, na_action="ignore").astype(object)


def _gdal_features(path: Path, bbox: BBox | None) -> gpd.GeoDataFrame:
    """Points, lines and multipolygons of an OSM file as one tagged table."""
    parts = []
    for layer in ("points", "lines", "multipolygons"):
        df = _read_gdal_layer(path, layer, bbox)
        if layer == "multipolygons":
            is_rel = df["osm_id"].notna()
            osm_id = _osm_ids("way", df["osm_way_id"]).where(
                ~is_rel, _osm_ids("relation", df["osm_id"])
            )
        else:
            osm_id = _osm_ids("node" if layer == "points" else "way", df["osm_id"])
        tags = {k: df[k] for k in _KEYS if k in df.columns}
        missing = [k for k in _KEYS if k not in df.columns]
        if missing and "other_tags" in df.columns:
            tags.update(extract_tags(df["other_tags"], missing).to_dict("series"))
        data = pd.DataFrame(tags, index=df.index)
        data.insert(0, "osm_id", osm_id.astype(object))
        parts.append(gpd.GeoDataFrame(data, geometry=df.geometry, crs="EPSG:4326"))
        nulls = int(df.geometry.isna().sum())
        if nulls:
            log.info(
                "%s: %d %s features have no usable geometry (rings cut by the extract "
                "boundary or with fewer than 3 points); they are skipped",
                path.name,
                nulls,
                layer,
            )
    return pd.concat(parts, ignore_index=True)


def read_osm(path: PathLike, *, bbox: BBox | None = None) -> OSMLayers:
    """Read an OpenStreetMap extract into streets, buildings, POIs, barriers and land use.

    Parameters
    ----------
    path : str or path-like
        An OSM XML (``.osm``) or PBF (``.osm.pbf``, ``.pbf``) file.
    bbox : tuple of float, optional
        ``(west, south, east, north)`` in degrees: keep only features intersecting this
        box (they are kept whole, not clipped).

    Returns
    -------
    OSMLayers
        See :class:`OSMLayers`. ``buildings`` (and any layer other than ``streets``) may
        be empty.

    Raises
    ------
    ReadError
        The file is missing, has another extension, or cannot be read.
    InputError
        ``bbox`` is malformed.
    EmptyLayerError
        The extract (or the part inside ``bbox``) holds no streets.

    Notes
    -----
    Features whose geometry GDAL cannot build (e.g. rings cut by the extract boundary)
    are dropped and counted in the log; invalid polygons are repaired with
    :func:`shapely.make_valid`.
    """
    path = Path(path)
    if not path.name.lower().endswith(_OSM_SUFFIXES):
        msg = (
            f"{path} is not an OpenStreetMap extract: expected {_OSM_FORMATS}; for other GIS "
            "files use gridgeo.io.read_layer"
        )
        raise ReadError(msg)
    _check_file(path, _OSM_FORMATS)
    if bbox is not None:
        bbox = _check_bbox(bbox)
    with step(f"reading {path.name}"):
        layers = _split_features(_gdal_features(path, bbox), source=path.name)
    if layers.streets.empty:
        where = f" inside bbox {bbox}" if bbox is not None else ""
        msg = (
            f"{path} holds no streets (ways tagged highway=*){where}; use an extract that "
            "covers the street network of the area (or a larger bbox)"
        )
        raise EmptyLayerError(msg)
    return layers
