"""Splitting tagged OpenStreetMap features into the layers gridgeo uses.

:func:`_split_features` is shared by :func:`gridgeo.io.read_osm` (GDAL's OSM driver) and
:func:`gridgeo.io.download_osm` (osmnx): both turn their features into one table with an
``osm_id`` column and one column per tag key, which it splits into :class:`OSMLayers`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._clean import _clean_lines, _clean_polygons, _drop_unusable
from .tags import (
    _KEYS,
    _POI_KEYS,
    BUILDING_USE_KEYS,
    _as_text,
    _parse_count,
    _parse_height,
    _parse_numbers,
)

__all__ = ["OSMLayers"]

log = logging.getLogger(__name__)

_RAILWAYS = frozenset(
    {"rail", "light_rail", "subway", "tram", "narrow_gauge", "monorail", "funicular", "preserved"}
)
_WATERWAYS = frozenset({"river", "canal"})
# (key, accepted values) for water areas; a polygon matching any of them is a barrier.
_WATER_AREAS = (("natural", {"water"}), ("waterway", {"riverbank"}), ("landuse", {"reservoir"}))
# (key, accepted values) in priority order: the first matching key names the area.
_LANDUSE = (
    ("amenity", {"school", "university", "college", "hospital", "kindergarten"}),
    ("leisure", {"park"}),
    (
        "landuse",
        # the non-residential values classify buildings (gridgeo.building_class)
        {"residential", "commercial", "retail", "industrial", "education", "institutional"}
        | {"military", "railway", "port", "garages", "depot", "quarry", "landfill"},
    ),
)
_NOT_TUNNEL = frozenset({"no", "false", "0"})

_POLYGON_TYPES = np.array([3, 6])  # shapely type ids of Polygon, MultiPolygon
_LINE_TYPES = np.array([1, 2, 5])  # LineString, LinearRing, MultiLineString
_POINT_TYPES = np.array([0, 4])  # Point, MultiPoint

_COLUMNS = {
    "streets": ["osm_id", "highway", "name"],
    "buildings": [
        "osm_id",
        "building",
        "name",
        "building_levels",
        "building_flats",
        "height",
        *_POI_KEYS,
        "industrial",
        *BUILDING_USE_KEYS,
    ],
    "pois": ["osm_id", "kind", "value", "name"],
    "barriers": ["osm_id", "kind", "value", "name", "tunnel"],
    "landuse": ["osm_id", "kind", "value", "name"],
}


@dataclass(repr=False)
class OSMLayers:
    """OpenStreetMap features split into the layers gridgeo uses.

    Every layer is a GeoDataFrame in EPSG:4326 with a fresh ``RangeIndex``; a layer with
    no features is an empty GeoDataFrame that still has its columns and CRS. ``osm_id``
    is ``"node/<id>"``, ``"way/<id>"`` or ``"relation/<id>"`` (the path of the feature on
    openstreetmap.org), so ids of different element types never collide. Text columns
    hold ``str`` or ``None``.

    Attributes
    ----------
    streets : GeoDataFrame
        ``LineString`` features with a ``highway`` tag (every value, footways included):
        ``osm_id``, ``highway``, ``name``. Multi-part lines are split into parts.
    buildings : GeoDataFrame
        ``Polygon``/``MultiPolygon`` features with a ``building`` tag other than ``no``:
        ``osm_id``, ``building``, ``name``, ``building_levels``, ``building_flats``,
        ``height`` (float, metres; NaN when absent or unparseable) and the ``shop``,
        ``amenity``, ``office``, ``craft``, ``industrial``, ``tourism``, ``historic``,
        ``leisure``, ``military``, ``man_made`` and ``aeroway`` tags.
    pois : GeoDataFrame
        Points and polygons (buildings included) with a ``shop``, ``amenity``, ``office``
        or ``craft`` tag: ``osm_id``, ``kind`` (the first of those keys present),
        ``value`` (its tag value), ``name``.
    barriers : GeoDataFrame
        Railway lines (``rail``, ``light_rail``, ``subway``, ``tram``, ``narrow_gauge``,
        ``monorail``, ``funicular``, ``preserved``), ``river`` and ``canal`` waterways and
        water areas (``natural=water``, ``waterway=riverbank``, ``landuse=reservoir``):
        ``osm_id``, ``kind`` (tag key), ``value``, ``name``, ``tunnel`` (bool: the
        feature is in a tunnel or culvert, so it does not split the surface).
    landuse : GeoDataFrame
        Polygons useful for dedicated grids: ``amenity`` school, university, college,
        hospital, kindergarten; ``leisure=park``; ``landuse`` residential, commercial,
        retail, industrial, education, institutional, military, railway, port, garages,
        depot, quarry, landfill (first matching key in that order): ``osm_id``,
        ``kind``, ``value``, ``name``.
    """

    streets: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    pois: gpd.GeoDataFrame
    barriers: gpd.GeoDataFrame
    landuse: gpd.GeoDataFrame

    def to_dict(self) -> dict[str, gpd.GeoDataFrame]:
        """Return the layers as ``{name: GeoDataFrame}`` (e.g. for :func:`write_layers`)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(v)}" for k, v in self.to_dict().items())
        return f"OSMLayers({counts})"


# --------------------------------------------------------------------------- splitting

_DTYPES = {"building_levels": float, "building_flats": float, "height": float, "tunnel": bool}


def _empty(columns: Sequence[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {c: pd.Series(dtype=_DTYPES.get(c, object)) for c in columns},
        geometry=gpd.GeoSeries([], crs="EPSG:4326"),
        crs="EPSG:4326",
    )


def _finish(gdf: gpd.GeoDataFrame, columns: Sequence[str]) -> gpd.GeoDataFrame:
    if gdf.empty:
        return _empty(columns)
    out = gpd.GeoDataFrame(gdf[list(columns)], geometry=gdf.geometry, crs=gdf.crs)
    out = out.rename_geometry("geometry") if out.geometry.name != "geometry" else out
    return out.reset_index(drop=True)


def _with_kind(
    gdf: gpd.GeoDataFrame, rules: Sequence[tuple[str, frozenset[str] | set[str] | None]]
) -> gpd.GeoDataFrame:
    """Add ``kind``/``value`` from the first rule (key, accepted values or None=any) that
    matches, and keep only the rows some rule matches."""
    kind = pd.Series(None, index=gdf.index, dtype=object)
    value = pd.Series(None, index=gdf.index, dtype=object)
    for key, accepted in rules:
        col = gdf[key]
        hit = (col.notna() if accepted is None else col.isin(accepted)) & kind.isna()
        kind[hit] = key
        value[hit] = col[hit]
    return gdf.assign(kind=kind, value=value)[kind.notna().to_numpy()]


def _split_features(features: gpd.GeoDataFrame, *, source: str) -> OSMLayers:
    """Split tagged OSM features into :class:`OSMLayers`.

    ``features`` has an ``osm_id`` column, a geometry column and one column per tag key
    (missing keys count as absent tags); it may mix points, lines and polygons. This is
    shared by :func:`read_osm` (GDAL's OSM driver) and :func:`download_osm` (osmnx).
    """
    features = features.reset_index(drop=True)
    if features.crs is None:
        features = features.set_crs("EPSG:4326")
    elif features.crs.to_epsg() != 4326:
        features = features.to_crs("EPSG:4326")
    features["osm_id"] = _as_text(features["osm_id"])
    for key in _KEYS:
        if key in features:
            features[key] = _as_text(features[key])
        else:
            features[key] = pd.Series([None] * len(features), index=features.index, dtype=object)
    types = shapely.get_type_id(features.geometry.to_numpy())
    is_point = np.isin(types, _POINT_TYPES)
    is_line = np.isin(types, _LINE_TYPES)
    is_poly = np.isin(types, _POLYGON_TYPES)

    # streets: every highway=* line
    streets = _clean_lines(
        features[is_line & features["highway"].notna().to_numpy()], f"{source} streets"
    )

    # buildings
    building = features["building"]
    is_building = (building.notna() & (building != "no")).to_numpy()
    buildings = _clean_polygons(features[is_poly & is_building], f"{source} buildings")
    buildings = buildings.assign(
        building_levels=_parse_numbers(buildings["building:levels"], _parse_count),
        building_flats=_parse_numbers(buildings["building:flats"], _parse_count),
        height=_parse_numbers(buildings["height"], _parse_height),
    )

    # points of interest: points and polygons
    pois = _with_kind(features[is_point | is_poly], [(k, None) for k in _POI_KEYS])
    poi_types = shapely.get_type_id(pois.geometry.to_numpy())
    pois = pd.concat(
        [
            _drop_unusable(pois[np.isin(poi_types, _POINT_TYPES)], f"{source} POIs"),
            _clean_polygons(pois[np.isin(poi_types, _POLYGON_TYPES)], f"{source} POIs"),
        ]
    )

    # barriers: railway and waterway lines, water areas
    line_barriers = _with_kind(
        features[is_line], [("railway", _RAILWAYS), ("waterway", _WATERWAYS)]
    )
    water = _with_kind(features[is_poly], list(_WATER_AREAS))
    barriers = pd.concat(
        [
            _clean_lines(line_barriers, f"{source} barriers"),
            _clean_polygons(water, f"{source} water areas"),
        ]
    )
    tunnel = barriers["tunnel"]
    barriers = barriers.assign(tunnel=(tunnel.notna() & ~tunnel.isin(_NOT_TUNNEL)).astype(bool))

    # land use
    landuse = _clean_polygons(_with_kind(features[is_poly], list(_LANDUSE)), f"{source} land use")

    layers = OSMLayers(
        streets=_finish(streets, _COLUMNS["streets"]),
        buildings=_finish(buildings, _COLUMNS["buildings"]),
        pois=_finish(pois, _COLUMNS["pois"]),
        barriers=_finish(barriers, _COLUMNS["barriers"]),
        landuse=_finish(landuse, _COLUMNS["landuse"]),
    )
    log.info("%s: %r", source, layers)
    return layers
