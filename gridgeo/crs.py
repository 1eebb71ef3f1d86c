"""Coordinate reference systems: metric CRS choice, the China test and GCJ-02.

Area and distance work needs a projected CRS in metres. Inside China gridgeo uses the
CGCS2000 3-degree Gauss-Kruger zone that local surveyors expect (EPSG:4534-4554, false
easting 500 000 m, no zone prefix); elsewhere it uses the WGS 84 UTM zone.

Web maps of Gaode/AMap, Tencent and Google China are in GCJ-02 ("Mars coordinates"),
an obfuscated offset of WGS 84 that PROJ does not know. :func:`wgs84_to_gcj02`,
:func:`gcj02_to_wgs84` and :func:`gcj02_geometries` convert between the two.

Examples
--------
>>> from gridgeo.crs import gk_zone_epsg, in_china
>>> bool(in_china(116.40, 39.90)), bool(in_china(126.98, 37.57))  # Beijing, Seoul
(True, False)
>>> gk_zone_epsg(114.3)  # Wuhan: central meridian 114E
4547
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray

from ._errors import CRSError, EmptyLayerError, InputError

__all__ = [
    "plan_metric_crs",
    "CHINA_OUTLINE",
    "in_china",
    "gk_zone_epsg",
    "metric_crs",
    "to_metric",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_geometries",
]

log = logging.getLogger(__name__)

#: Return type of the GCJ-02 functions: float for scalar input, else an array.
FloatOrArray = float | NDArray[np.float64]

# --------------------------------------------------------------------------------------
# Coarse outline of China
# --------------------------------------------------------------------------------------

#: Mainland outline (lon, lat in WGS 84), hand-made to within ~10-30 km. Coasts are
#: drawn a little out to sea so that coastal cities are inside; it includes Hainan and
#: the Qiongzhou Strait, Hong Kong, Macau and nearby islands (also Kinmen). Land borders
#: follow the lines of actual control (Aksai Chin inside, Arunachal Pradesh outside).
_MAINLAND: tuple[tuple[float, float], ...] = (
    # Bohai and Yellow Sea coast, from the Yalu mouth south-west
    (124.25, 39.75), (123.30, 39.55), (122.40, 39.15), (121.55, 38.70), (121.00, 38.70),
    (121.10, 39.60), (121.80, 40.75), (120.80, 40.45), (119.70, 39.75), (119.00, 39.10),
    (118.00, 39.05), (117.85, 38.70), (118.20, 38.00), (118.95, 38.10), (119.00, 37.30),
    (119.70, 37.05), (120.60, 37.95), (121.60, 37.60), (122.75, 37.45), (122.65, 36.85),
    (121.30, 36.55), (120.75, 35.95), (119.70, 35.45), (119.55, 34.75), (120.40, 34.30),
    (120.90, 33.30), (121.50, 32.40),
    # East and South China Sea coast
    (122.10, 31.75), (122.10, 31.00), (122.30, 30.10), (122.20, 29.00), (121.80, 28.10),
    (120.75, 26.95), (119.95, 25.55), (118.90, 24.50), (117.35, 23.45), (116.50, 22.85),
    (115.50, 22.55), (114.55, 22.10), (113.90, 22.00), (113.30, 21.80), (112.00, 21.50),
    (111.00, 21.30), (110.70, 20.50),
    # Hainan, then the Gulf of Tonkin coast to the Vietnamese border
    (111.20, 19.80), (110.65, 18.70), (109.60, 18.05), (108.55, 18.45), (108.50, 19.35),
    (109.20, 20.40), (109.55, 21.20), (109.00, 21.30), (108.05, 21.40),
    # Vietnam, Laos, Myanmar
    (107.95, 21.55), (106.70, 22.00), (106.55, 22.35), (106.75, 22.85), (105.85, 22.95),
    (105.30, 23.35), (104.55, 22.85), (104.00, 22.50), (103.30, 22.80), (102.50, 22.75),
    (102.15, 22.45), (101.70, 22.45), (101.80, 21.15), (101.15, 21.60), (100.40, 21.50),
    (99.25, 22.10), (99.50, 22.95), (98.90, 23.15), (98.70, 24.05), (97.60, 23.90),
    (97.70, 25.05), (98.65, 25.90), (98.70, 27.50), (97.90, 28.35), (97.35, 28.25),
    # India (McMahon line), Bhutan, Sikkim, Nepal
    (96.60, 28.80), (96.10, 29.45), (95.40, 29.05), (94.50, 29.25), (93.40, 28.65),
    (92.50, 27.85), (91.65, 27.75), (90.70, 28.05), (89.50, 28.05), (88.80, 27.30),
    (88.75, 28.10), (88.10, 27.85), (86.90, 27.95), (85.80, 28.20), (85.00, 28.60),
    (84.20, 28.80), (83.90, 29.30), (83.30, 29.45), (82.30, 30.10), (81.50, 30.40),
    (81.10, 30.15),
    # India (western sector), Pakistan, Afghanistan, Tajikistan
    (79.70, 30.90), (78.75, 31.50), (78.45, 32.60), (79.20, 32.50), (79.20, 33.00),
    (78.80, 33.50), (78.90, 34.30), (77.85, 35.50), (76.20, 35.90), (75.90, 36.65),
    (75.15, 37.15), (74.85, 38.00), (74.85, 38.40), (74.25, 38.60), (73.90, 38.50),
    (73.65, 39.45),
    # Kyrgyzstan, Kazakhstan
    (73.95, 39.65), (73.80, 39.90), (74.80, 40.40), (75.50, 40.55), (76.50, 40.40),
    (76.90, 41.05), (78.20, 41.20), (78.55, 41.60), (80.10, 42.10), (80.20, 42.90),
    (80.85, 43.20), (80.00, 44.90), (81.95, 45.30), (82.45, 45.55), (83.20, 47.30),
    (85.15, 47.00), (85.70, 47.45), (85.75, 48.45), (86.60, 48.55), (87.35, 49.20),
    # Mongolia
    (87.80, 49.15), (88.85, 48.05), (90.30, 47.70), (91.00, 46.90), (90.60, 45.70),
    (90.95, 45.30), (93.50, 45.00), (95.30, 44.25), (96.35, 42.75), (99.50, 42.50),
    (101.80, 42.50), (103.30, 41.90), (104.95, 41.60), (106.10, 42.15), (109.25, 42.50),
    (111.10, 43.40), (111.85, 43.75), (111.35, 44.45), (111.90, 45.10), (113.45, 44.80),
    (116.00, 45.75), (116.70, 46.40), (118.90, 46.80), (119.75, 47.05), (118.05, 48.05),
    (117.30, 47.70), (115.50, 48.15), (116.70, 49.85),
    # Russia (Argun, Amur, Ussuri rivers)
    (117.90, 49.50), (119.30, 50.15), (120.20, 51.65), (120.75, 52.50), (120.20, 52.75),
    (121.00, 53.25), (122.25, 53.45), (123.60, 53.50), (125.10, 53.15), (126.55, 51.80),
    (127.30, 50.75), (127.34, 50.40), (127.61, 50.18), (127.65, 49.75), (129.40, 49.45), (130.60, 48.75), (131.00, 47.80),
    (132.50, 47.80), (133.40, 48.25), (134.30, 48.45), (134.75, 48.40), (134.10, 47.20), (133.80, 46.10),
    (133.10, 45.15), (131.90, 45.30), (131.00, 44.95), (131.30, 44.10), (131.15, 42.95),
    (130.65, 42.90), (130.65, 42.40),
    # North Korea (Tumen and Yalu rivers)
    (130.00, 43.00), (129.60, 42.40), (128.05, 42.00), (128.20, 41.45), (127.35, 41.50),
    (126.85, 41.80), (126.20, 41.10), (125.10, 40.55), (124.30, 39.95),
)  # fmt: skip

#: Taiwan, drawn a little out to sea.
_TAIWAN: tuple[tuple[float, float], ...] = (
    (121.05, 25.40), (122.05, 25.10), (121.95, 24.00), (121.00, 21.80), (120.65, 21.85),
    (120.00, 23.00), (120.10, 23.90),
)  # fmt: skip

#: Coarse outline of China (WGS 84 lon/lat) used by :func:`in_china`: mainland with
#: Hainan, Hong Kong and Macau, plus Taiwan. Good to some 10-30 km, i.e. right for
#: cities, not for places right on a border.
CHINA_OUTLINE: shapely.MultiPolygon = shapely.MultiPolygon(
    [shapely.Polygon(_MAINLAND), shapely.Polygon(_TAIWAN)]
)
shapely.prepare(CHINA_OUTLINE)


def in_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_] | bool:
    """Tell whether points lie in China, using a coarse outline.

    The test uses :data:`CHINA_OUTLINE`, a hand-made outline (~200 vertices) of
    mainland China with Hainan, Hong Kong and Macau; **Taiwan counts as inside** too.
    It is right for cities and towns but not for points within some 10-30 km of a
    border or coast.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS 84 (or CGCS2000, or GCJ-02) longitude and latitude in degrees; broadcast
        against each other.

    Returns
    -------
    bool or ndarray of bool
        A bool for scalar input, else an array of the broadcast shape. NaN coordinates
        give False.

    Examples
    --------
    >>> bool(in_china(121.47, 31.23))  # Shanghai
    True
    >>> in_china([114.17, 127.0], [22.32, 37.57]).tolist()  # Hong Kong, Seoul
    [True, False]
    """
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    inside = shapely.contains_xy(CHINA_OUTLINE, x, y)
    if np.ndim(inside) == 0:
        return bool(inside)
    return np.asarray(inside, dtype=bool)


# --------------------------------------------------------------------------------------
# Metric CRS
# --------------------------------------------------------------------------------------

_GK_FIRST_EPSG = 4534  # CGCS2000 / 3-degree Gauss-Kruger CM 75E
_GK_MIN_CM, _GK_MAX_CM = 75, 135


def gk_zone_epsg(lon: float) -> int:
    """EPSG code of the CGCS2000 3-degree Gauss-Kruger zone for a longitude.

    The zones without zone prefix (false easting 500 000 m) are EPSG:4534 (central
    meridian 75E) to EPSG:4554 (135E). The central meridian is ``3 * round(lon / 3)``
    (a longitude on a zone edge, e.g. 115.5, goes to the eastern zone), clipped to
    75-135; a warning is logged for longitudes outside China's 73.5-136.5.

    Parameters
    ----------
    lon : float
        Longitude in degrees east.

    Returns
    -------
    int
        The EPSG code, ``4534 + (central_meridian - 75) / 3``.

    Raises
    ------
    InputError
        If ``lon`` is not a finite number.

    Examples
    --------
    >>> gk_zone_epsg(116.4)  # Beijing: CM 117E
    4548
    >>> gk_zone_epsg(87.6)  # Urumqi: CM 87E
    4538
    """
    try:
        lon_f = float(lon)
    except (TypeError, ValueError):
        raise InputError(
            f"longitude must be a number, got {lon!r}; give degrees east such as 116.4"
        ) from None
    if not np.isfinite(lon_f):
        raise InputError(f"longitude must be finite, got {lon_f}; give degrees east such as 116.4")
    cm = int(np.clip(3 * np.floor(lon_f / 3 + 0.5), _GK_MIN_CM, _GK_MAX_CM))
    if not 73.5 <= lon_f <= 136.5:
        log.warning(
            "longitude %.3f is outside the CGCS2000 3-degree zones (73.5-136.5E); "
            "using the nearest zone, CM %dE",
            lon_f,
            cm,
        )
    return _GK_FIRST_EPSG + (cm - _GK_MIN_CM) // 3


def _crs_label(crs: pyproj.CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg} ({crs.name})" if epsg else repr(crs.name)


def _as_metric_crs(crs: Any) -> pyproj.CRS:
    """Parse ``crs`` and check it is projected with metre units."""
    if isinstance(crs, bool):  # bool is an int: refuse crs=True
        raise CRSError(f"crs must be an EPSG code, 'EPSG:xxxx' or pyproj.CRS, got {crs!r}")
    try:
        parsed = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        raise CRSError(
            f"crs {crs!r} is not a known CRS; give an EPSG code such as 4547 or 'EPSG:4547'"
        ) from None
    if parsed.is_geographic:
        raise CRSError(
            f"crs {_crs_label(parsed)} is geographic (degrees); give a projected CRS in "
            "metres such as EPSG:4547 or leave --crs out to choose one automatically"
        )
    if not parsed.is_projected:
        raise CRSError(
            f"crs {_crs_label(parsed)} is not a projected CRS; give a projected CRS in "
            "metres such as EPSG:4547 or leave --crs out to choose one automatically"
        )
    units = {ax.unit_name for ax in parsed.axis_info[:2]}
    if not units <= {"metre", "meter"}:
        raise CRSError(
            f"crs {_crs_label(parsed)} has units {', '.join(sorted(units))}, not metres; "
            "give a projected CRS in metres such as EPSG:4547 or leave --crs out"
        )
    return parsed


def _as_layer_list(layers: Any) -> list[tuple[int, gpd.GeoDataFrame | gpd.GeoSeries]]:
    """``(position, layer)`` pairs, without the ``None`` entries."""
    if layers is None:
        return []
    if isinstance(layers, gpd.GeoDataFrame | gpd.GeoSeries):
        return [(0, layers)]
    if isinstance(layers, list | tuple):
        out = []
        for i, layer in enumerate(layers):
            if layer is None:
                continue
            if not isinstance(layer, gpd.GeoDataFrame | gpd.GeoSeries):
                raise InputError(
                    f"layer {i} is a {type(layer).__name__}, not a GeoDataFrame or GeoSeries; "
                    "read files with geopandas.read_file(path)"
                )
            out.append((i, layer))
        return out
    raise InputError(
        f"layers must be a GeoDataFrame, a GeoSeries or a list of them, got {type(layers).__name__}"
    )


def _lonlat_bounds(layer: gpd.GeoDataFrame | gpd.GeoSeries, i: int) -> np.ndarray | None:
    """Bounds ``(west, south, east, north)`` of one layer in EPSG:4326, or None if empty."""
    bounds = np.asarray(layer.total_bounds, dtype=float)
    if not np.all(np.isfinite(bounds)):
        return None
    label = _crs_label(pyproj.CRS(layer.crs))
    try:
        transformer = _to_lonlat(pyproj.CRS(layer.crs))
        out = np.asarray(transformer.transform_bounds(*bounds, densify_pts=21), dtype=float)
    except pyproj.exceptions.ProjError:
        out = np.full(4, np.nan)
    if (
        not np.all(np.isfinite(out))
        or np.any(np.abs(out[[0, 2]]) > 180.0 + 1e-9)
        or np.any(np.abs(out[[1, 3]]) > 90.0 + 1e-9)
    ):
        raise CRSError(
            f"layer {i} has coordinates (bounds {', '.join(f'{b:.6g}' for b in bounds)}) that "
            f"are not valid in its CRS {label}; if the CRS label is wrong, fix it with "
            "gdf.set_crs(EPSG, allow_override=True), or give crs= explicitly"
        )
    return out


@functools.lru_cache(maxsize=64)
def _to_lonlat(crs: pyproj.CRS) -> pyproj.Transformer:
    """A transformer from ``crs`` to longitude/latitude (built once per CRS: ~20 ms)."""
    return pyproj.Transformer.from_crs(crs, 4326, always_xy=True)


@functools.lru_cache(maxsize=128)
def _epsg_crs(code: int) -> pyproj.CRS:
    """``pyproj.CRS.from_epsg(code)``, parsed once."""
    return pyproj.CRS.from_epsg(code)


def _utm_crs(lon: float, lat: float) -> pyproj.CRS:
    """The WGS 84 UTM zone of a point: the 6° band of its longitude, north or south
    (the EPSG zones' areas of use: 84°N to 80°S); no database query."""
    if not (-80.0 <= lat <= 84.0 and -180.0 <= lon <= 180.0):
        raise CRSError(
            f"no UTM zone covers lon {lon:.4f}, lat {lat:.4f}; give a projected CRS in "
            "metres with crs= (e.g. a polar stereographic EPSG code)"
        )
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return _epsg_crs((32700 if lat < 0 else 32600) + zone)


def metric_crs(layers: Any, *, crs: Any = None) -> pyproj.CRS:
    """Choose (or check) the projected metric CRS for a set of layers.

    With ``crs`` given, it is parsed and checked to be projected with metre units.
    Otherwise the centre of the layers' combined extent (in longitude/latitude) picks
    the CRS: the CGCS2000 3-degree Gauss-Kruger zone (:func:`gk_zone_epsg`) if the
    centre is in China (:func:`in_china`), else the WGS 84 UTM zone.

    Parameters
    ----------
    layers : GeoDataFrame, GeoSeries, or list or tuple of them
        Layers in any CRS (they may differ); ``None`` entries and empty layers are
        ignored. Every layer must have a CRS. Only the layers' bounding boxes are
        converted, not their geometries. Extents crossing the antimeridian are not
        supported.
    crs : int, str or pyproj.CRS, optional
        A CRS to use instead: an EPSG code (``4547``), ``"EPSG:4547"``, WKT/PROJ
        string or :class:`pyproj.CRS`.

    Returns
    -------
    pyproj.CRS
        A projected CRS in metres.

    Raises
    ------
    CRSError
        If a layer has no CRS, its coordinates do not fit its CRS (e.g. metres labelled
        EPSG:4326), or ``crs`` is unknown, geographic or not in metres.
    EmptyLayerError
        If ``crs`` is not given and no layer has any coordinates.
    InputError
        If ``layers`` holds something other than GeoDataFrames/GeoSeries.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> wuhan = gpd.GeoSeries([Point(114.30, 30.59)], crs=4326)
    >>> metric_crs(wuhan).to_epsg()
    4547
    >>> helsinki = gpd.GeoSeries([Point(24.94, 60.17)], crs=4326)
    >>> metric_crs([helsinki, None]).to_epsg()
    32635
    >>> metric_crs(helsinki, crs="EPSG:3067").to_epsg()
    3067
    """
    items = _as_layer_list(layers)
    for i, layer in items:
        if layer.crs is None:
            raise CRSError(
                f"layer {i} has no CRS; set it with gdf.set_crs(4326) if its coordinates "
                "are longitude/latitude, or with the EPSG code of its projection"
            )
    if crs is not None:
        chosen = _as_metric_crs(crs)
        log.debug("using the given CRS %s", _crs_label(chosen))
        return chosen

    boxes = [b for i, layer in items if (b := _lonlat_bounds(layer, i)) is not None]
    if not boxes:
        raise EmptyLayerError(
            "cannot choose a metric CRS: no layer has any coordinates; give non-empty "
            "layers or a projected CRS in metres with crs= (e.g. EPSG:4547)"
        )
    stacked = np.vstack(boxes)
    lon = float((stacked[:, 0].min() + stacked[:, 2].max()) / 2)
    lat = float((stacked[:, 1].min() + stacked[:, 3].max()) / 2)
    inside = in_china(lon, lat)
    chosen = _epsg_crs(gk_zone_epsg(lon)) if inside else _utm_crs(lon, lat)
    log.info("layers centred at %.4fE %.4fN: using %s", lon, lat, _crs_label(chosen))
    return chosen


def plan_metric_crs(grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, crs: Any = None):
    """The CRS to compute in for an existing plan: ``crs`` when given, else the grids'
    own CRS when it is in metres, else :func:`metric_crs` of both layers (so a metric
    plan keeps its very polygons)."""
    if crs is None and grids.crs.is_projected:
        unit = grids.crs.axis_info[0].unit_name if grids.crs.axis_info else ""
        if unit in ("metre", "meter"):
            return grids.crs
    return metric_crs([grids, buildings], crs=crs)


def to_metric(gdf: gpd.GeoDataFrame | gpd.GeoSeries, crs: Any) -> gpd.GeoDataFrame | gpd.GeoSeries:
    """Reproject a layer to a projected metric CRS.

    Parameters
    ----------
    gdf : GeoDataFrame or GeoSeries
        The layer; it must have a CRS.
    crs : int, str or pyproj.CRS
        Target CRS, usually from :func:`metric_crs`; it must be projected in metres.

    Returns
    -------
    GeoDataFrame or GeoSeries
        A reprojected copy (same type as ``gdf``).

    Raises
    ------
    CRSError
        If ``gdf`` has no CRS or ``crs`` is not a projected CRS in metres.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> pts = gpd.GeoSeries([Point(114.0, 30.0)], crs=4326)
    >>> round(to_metric(pts, 4547).x.iloc[0])  # on the central meridian
    500000
    """
    if not isinstance(gdf, gpd.GeoDataFrame | gpd.GeoSeries):
        raise InputError(
            f"to_metric needs a GeoDataFrame or GeoSeries, got {type(gdf).__name__}; "
            "read files with geopandas.read_file(path)"
        )
    if gdf.crs is None:
        raise CRSError(
            "layer has no CRS; set it with gdf.set_crs(4326) if its coordinates are "
            "longitude/latitude, or with the EPSG code of its projection"
        )
    target = _as_metric_crs(crs)
    return gdf.to_crs(target)


# --------------------------------------------------------------------------------------
# GCJ-02
# --------------------------------------------------------------------------------------

_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_INVERSE_TOL_DEG = 1e-10  # ~0.01 mm
_INVERSE_MAX_ITER = 30


def _transform_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _gcj_delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset (degrees) at WGS 84 points, ignoring the China test."""
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = np.radians(lat)
    magic = 1.0 - _KRASOVSKY_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_KRASOVSKY_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def _as_lonlat(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray, bool]:
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    scalar = x.ndim == 0 and y.ndim == 0
    x, y = np.broadcast_arrays(x, y)
    return x.copy(), y.copy(), scalar


def _ret(x: np.ndarray, y: np.ndarray, scalar: bool) -> tuple[FloatOrArray, FloatOrArray]:
    if scalar:
        return float(x), float(y)
    return x, y


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert WGS 84 longitude/latitude to GCJ-02 ("Mars coordinates").

    Uses the standard public GCJ-02 algorithm (Krasovsky ellipsoid, the usual
    ``transform_lat``/``transform_lon`` polynomials), as in eviltransform, coordtransform
    and gcoord; results agree with those to 1e-9 degrees. The offset is 100-700 m.

    Only points inside China by :func:`in_china` (the coarse outline, **not** the usual
    lon 72.004-137.8347 / lat 0.8293-55.8271 rectangle) are shifted; others, e.g. in
    Korea, Japan or Vietnam, are returned unchanged. Taiwan, Hong Kong and Macau are
    shifted.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS 84 degrees, broadcast against each other.

    Returns
    -------
    (lon, lat) : tuple of ndarray, or of float for scalar input
        GCJ-02 degrees. NaN in, NaN out.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(116.404, 39.915)  # Beijing
    >>> round(lon, 8), round(lat, 8)
    (116.4102445, 39.91640428)
    >>> wgs84_to_gcj02(24.94, 60.17)  # Helsinki: unchanged
    (24.94, 60.17)
    """
    x, y, scalar = _as_lonlat(lon, lat)
    mask = np.asarray(in_china(x, y), dtype=bool)
    if mask.any():
        dx, dy = _gcj_delta(x[mask], y[mask])
        x[mask] += dx
        y[mask] += dy
    return _ret(x, y, scalar)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert GCJ-02 longitude/latitude back to WGS 84.

    Solves ``wgs84_to_gcj02(w) == g`` by fixed-point iteration (to 1e-10 degrees, i.e.
    well under a millimetre, typically in 5-8 steps), so
    ``gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))`` returns the input for points inside
    China. A point is treated as inside China when the WGS 84 solution is inside
    :func:`in_china`; other points are returned unchanged.

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 degrees, broadcast against each other.

    Returns
    -------
    (lon, lat) : tuple of ndarray, or of float for scalar input
        WGS 84 degrees. NaN in, NaN out.

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84(116.41024449916938, 39.91640428150164)
    >>> round(lon, 9), round(lat, 9)
    (116.404, 39.915)
    """
    gx, gy, scalar = _as_lonlat(lon, lat)
    finite = np.isfinite(gx) & np.isfinite(gy)
    wx, wy = gx[finite], gy[finite]
    tx, ty = wx.copy(), wy.copy()
    for _ in range(_INVERSE_MAX_ITER):
        dx, dy = _gcj_delta(wx, wy)
        ex, ey = wx + dx - tx, wy + dy - ty
        wx, wy = wx - ex, wy - ey
        if wx.size == 0 or max(np.abs(ex).max(), np.abs(ey).max()) < _INVERSE_TOL_DEG:
            break
    else:  # pragma: no cover - the map is a small perturbation; this does not happen
        log.warning("GCJ-02 inverse did not converge to %g degrees", _INVERSE_TOL_DEG)
    inside = np.asarray(in_china(wx, wy), dtype=bool)
    idx = np.flatnonzero(finite.ravel())[inside]
    gx.ravel()[idx] = wx[inside]
    gy.ravel()[idx] = wy[inside]
    return _ret(gx, gy, scalar)


def gcj02_geometries(
    geoseries: gpd.GeoSeries | gpd.GeoDataFrame, *, inverse: bool = False
) -> gpd.GeoSeries | gpd.GeoDataFrame:
    """Shift every coordinate of a layer from WGS 84 to GCJ-02 (``inverse``: back).

    For overlaying data on Gaode/AMap, Tencent or Google China tiles, which are offset
    by 100-700 m from WGS 84; ``inverse=True`` brings positions taken from those maps
    (GCJ-02, often labelled EPSG:4326) to WGS 84. Vectorised with
    :func:`shapely.transform`; Z values are kept. Layers in another CRS are first
    reprojected to EPSG:4326.

    Parameters
    ----------
    geoseries : GeoSeries or GeoDataFrame
        The layer; it must have a CRS.
    inverse : bool, default False
        Shift from GCJ-02 to WGS 84 instead.

    Returns
    -------
    GeoSeries or GeoDataFrame
        A copy (same type, same index) in GCJ-02 degrees. Its ``crs`` is still labelled
        EPSG:4326 because PROJ has no GCJ-02: do not reproject the result.

    Raises
    ------
    CRSError
        If the layer has no CRS.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> s = gpd.GeoSeries([Point(116.404, 39.915)], crs=4326)
    >>> round(float(gcj02_geometries(s).x.iloc[0]), 6)
    116.410244
    >>> round(float(gcj02_geometries(gcj02_geometries(s), inverse=True).x.iloc[0]), 6)
    116.404
    """
    if not isinstance(geoseries, gpd.GeoDataFrame | gpd.GeoSeries):
        raise InputError(
            f"gcj02_geometries needs a GeoSeries or GeoDataFrame, got {type(geoseries).__name__}"
        )
    if geoseries.crs is None:
        raise CRSError(
            "layer has no CRS; set it with gdf.set_crs(4326) if its coordinates are "
            "longitude/latitude, or with the EPSG code of its projection"
        )
    if not pyproj.CRS(geoseries.crs).equals(pyproj.CRS.from_epsg(4326), ignore_axis_order=True):
        log.debug("reprojecting layer from %s to EPSG:4326 before GCJ-02", geoseries.crs)
        geoseries = geoseries.to_crs(4326)

    def _shift(coords: np.ndarray) -> np.ndarray:
        out = coords.copy()
        convert = gcj02_to_wgs84 if inverse else wgs84_to_gcj02
        out[:, 0], out[:, 1] = convert(coords[:, 0], coords[:, 1])
        return out

    geoms = shapely.transform(np.asarray(geoseries.geometry.values), _shift, include_z=None)
    if isinstance(geoseries, gpd.GeoDataFrame):
        result = geoseries.copy()
        result[result.geometry.name] = gpd.GeoSeries(geoms, index=result.index, crs=4326)
        return result
    return gpd.GeoSeries(geoms, index=geoseries.index, crs=4326, name=geoseries.name)
