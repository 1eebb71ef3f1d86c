"""Downloading OpenStreetMap features with osmnx (Overpass API).

osmnx is imported when a download starts and its functions are looked up on the
``osmnx.features`` module at each call, so that tests can replace them.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._errors import DownloadError, EmptyLayerError, InputError
from .._progress import step
from .._validate import check_positive
from ._clean import _polygonal
from ._common import BBox, _check_bbox, _first_line
from .layers import OSMLayers, _split_features
from .tags import _KEYS

__all__ = ["download_osm", "OSM_TAGS"]

#: Tags asked from the Overpass API by :func:`download_osm` (osmnx ``tags`` argument).
OSM_TAGS: dict[str, bool | str | list[str]] = {
    "building": True,
    "highway": True,
    "shop": True,
    "amenity": True,
    "office": True,
    "craft": True,
    "railway": True,
    "waterway": True,
    "natural": "water",
    "landuse": True,
    "leisure": "park",
}


def _osmnx_features(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """osmnx features (index ``element``, ``id``; one column per tag) → tagged table."""
    if isinstance(gdf.index, pd.MultiIndex) and {"element", "id"} <= set(gdf.index.names):
        element = gdf.index.get_level_values("element").astype(str)
        ids = gdf.index.get_level_values("id").astype(str)
    else:  # pragma: no cover - osmnx has indexed features like this since 2.0
        element = gdf.get("element", pd.Series("way", index=gdf.index)).astype(str)
        ids = gdf.get("id", pd.Series(range(len(gdf)), index=gdf.index)).astype(str)
    data = pd.DataFrame({k: gdf[k].to_numpy() for k in _KEYS if k in gdf.columns})
    data.insert(0, "osm_id", (np.asarray(element) + "/" + np.asarray(ids)).astype(object))
    return gpd.GeoDataFrame(data, geometry=gdf.geometry.to_numpy(), crs=gdf.crs or "EPSG:4326")


def _download_target(place: object, bbox: object, polygon: object) -> str:
    given = [
        n for n, v in (("place", place), ("bbox", bbox), ("polygon", polygon)) if v is not None
    ]
    if len(given) != 1:
        got = "none" if not given else " and ".join(given)
        msg = (
            f"give exactly one of place=, bbox= or polygon= to download OSM data (got {got}); "
            "e.g. download_osm(place='Kouvola, Finland')"
        )
        raise InputError(msg)
    return given[0]


def download_osm(
    *,
    place: str | None = None,
    bbox: BBox | None = None,
    polygon: shapely.Polygon | shapely.MultiPolygon | None = None,
    timeout: int = 180,
) -> OSMLayers:
    """Download OpenStreetMap features with osmnx and split them like :func:`read_osm`.

    Parameters
    ----------
    place : str, optional
        A place name that Nominatim geocodes to an area, e.g. ``"Kouvola, Finland"``.
    bbox : tuple of float, optional
        ``(west, south, east, north)`` in degrees.
    polygon : shapely Polygon or MultiPolygon, optional
        Area in EPSG:4326 (longitude, latitude).
    timeout : int, default 180
        Network timeout in seconds for each request (osmnx ``requests_timeout``).

    Returns
    -------
    OSMLayers

    Raises
    ------
    InputError
        Not exactly one of ``place``, ``bbox``, ``polygon`` is given, or it is malformed.
    DownloadError
        The network request failed.
    EmptyLayerError
        OpenStreetMap returned nothing for the area, or no streets.

    Notes
    -----
    The query uses :data:`OSM_TAGS`.
    """
    target = _download_target(place, bbox, polygon)
    timeout = check_positive(timeout, "timeout")
    if target == "place":
        if not isinstance(place, str) or not place.strip():
            msg = f"place must be a non-empty place name such as 'Kouvola, Finland', got {place!r}"
            raise InputError(msg)
        where = f"place {place!r}"
    elif target == "bbox":
        bbox = _check_bbox(bbox)
        where = f"bbox {bbox}"
    else:
        if not isinstance(polygon, shapely.Polygon | shapely.MultiPolygon) or polygon.is_empty:
            msg = (
                "polygon must be a non-empty shapely Polygon or MultiPolygon in EPSG:4326 "
                f"(longitude, latitude), got {type(polygon).__name__}"
            )
            raise InputError(msg)
        if not polygon.is_valid:
            polygon = shapely.make_valid(polygon)
            polygon = _polygonal(polygon)
            if polygon is None:
                msg = "polygon is invalid and cannot be repaired; draw a valid area"
                raise InputError(msg)
        minx, miny, maxx, maxy = polygon.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            msg = (
                f"polygon bounds {polygon.bounds} are not longitude/latitude degrees; "
                "reproject it to EPSG:4326 first (gdf.to_crs(4326))"
            )
            raise InputError(msg)
        where = "the given polygon"

    gdf = _call_osmnx(target, place, bbox, polygon, timeout, where)
    with step(f"splitting OSM data for {where}"):
        layers = _split_features(_osmnx_features(gdf), source=f"OSM download ({where})")
    if layers.streets.empty:
        msg = (
            f"the OSM data downloaded for {where} holds no streets (ways tagged highway=*); "
            "choose a larger or more built-up area"
        )
        raise EmptyLayerError(msg)
    return layers


def _call_osmnx(
    target: str, place: Any, bbox: Any, polygon: Any, timeout: float, where: str
) -> gpd.GeoDataFrame:
    import osmnx as ox
    import requests
    from osmnx._errors import InsufficientResponseError, ResponseStatusCodeError

    def fail(reason: str) -> DownloadError:
        return DownloadError(
            f"could not download OSM data for {where}: {reason}; check the network or use "
            "--osm FILE with a local extract"
        )

    old_timeout = ox.settings.requests_timeout
    ox.settings.requests_timeout = timeout
    try:
        with step(f"downloading OSM data for {where}"):
            if target == "place":
                return ox.features.features_from_place(place, tags=OSM_TAGS)
            if target == "bbox":
                return ox.features.features_from_bbox(bbox, tags=OSM_TAGS)
            return ox.features.features_from_polygon(polygon, tags=OSM_TAGS)
    except InsufficientResponseError as exc:
        msg = (
            f"OpenStreetMap returned no features for {where} ({_first_line(exc)}); check the "
            "place name or area, or use --osm FILE with a local extract"
        )
        raise EmptyLayerError(msg) from None
    except (requests.RequestException, ResponseStatusCodeError, ConnectionError) as exc:
        raise fail(_first_line(exc)) from None
    except TimeoutError:
        raise fail(f"no answer within {timeout:g} s") from None
    except TypeError as exc:
        if target == "place" and "geocode" in str(exc):
            msg = (
                f"Nominatim does not know {place!r} as an area (no boundary polygon); give "
                "bbox=(west, south, east, north) or a polygon instead"
            )
            raise InputError(msg) from None
        raise
    finally:
        ox.settings.requests_timeout = old_timeout
