"""Reading and writing layers: OpenStreetMap extracts, GIS files and GeoPackage output.

OpenStreetMap data is read with GDAL's OSM driver (through pyogrio) from ``.osm`` XML and
``.osm.pbf`` files, or downloaded with osmnx. Both routes produce the same
:class:`OSMLayers`: they turn their features into one table with an ``osm_id`` column and
one column per OSM tag key, which a single function splits into streets, buildings,
points of interest, barriers and land-use areas.

Examples
--------
>>> from gridgeo import datasets
>>> from gridgeo.io import read_osm
>>> osm = read_osm(datasets.get_path("kouvola"))
>>> osm.streets.crs.to_epsg()
4326
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from ._errors import DownloadError, EmptyLayerError, GridgeoError, InputError, ReadError
from ._progress import step
from ._validate import check_layer, check_positive

__all__ = [
    "OSMLayers",
    "read_osm",
    "read_layer",
    "download_osm",
    "write_layers",
    "parse_other_tags",
    "extract_tags",
    "OSM_TAGS",
]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
BBox = tuple[float, float, float, float]

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

# Tag keys the splitter reads; every other tag is ignored.
_KEYS = (
    "name",
    "highway",
    "building",
    "building:levels",
    "building:flats",
    "height",
    "shop",
    "amenity",
    "office",
    "craft",
    "railway",
    "waterway",
    "natural",
    "landuse",
    "leisure",
    "tunnel",
)
_POI_KEYS = ("shop", "amenity", "office", "craft")
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
    ("landuse", {"residential", "commercial", "retail", "industrial", "education"}),
)
_NOT_TUNNEL = frozenset({"no", "false", "0"})

_OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm")
_OSM_FORMATS = "OSM XML (.osm) or OSM PBF (.osm.pbf, .pbf)"
_LAYER_FORMATS = {
    ".gpkg": "GeoPackage",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "Shapefile",
    ".zip": "zipped Shapefile",
    ".fgb": "FlatGeobuf",
    ".parquet": "GeoParquet",
    ".geoparquet": "GeoParquet",
}
_LAYER_FORMATS_TEXT = (
    "GeoPackage (.gpkg), GeoJSON (.geojson, .json), Shapefile (.shp or zipped .zip), "
    "FlatGeobuf (.fgb) or GeoParquet (.parquet, .geoparquet)"
)

# GDAL's OSM driver warns about every ring cut by the extract boundary; we count the
# affected features ourselves instead.
_GDAL_NOISE = ("Non closed ring detected", "organizePolygons")

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
        "shop",
        "amenity",
        "office",
        "craft",
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
        ``amenity``, ``office``, ``craft`` tags.
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
        retail, industrial, education (first matching key in that order): ``osm_id``,
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


# --------------------------------------------------------------------------- OSM tags


def _tag_pattern(key: str) -> str:
    quoted = key.replace("\\", "\\\\").replace('"', '\\"')
    return rf'(?:^|,)"{re.escape(quoted)}"=>"((?:[^"\\]|\\.)*)"'


_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(.)")


def _unescape(text: str) -> str:
    return _ESCAPE.sub(r"\1", text)


def parse_other_tags(series: Iterable[str | None]) -> list[dict[str, str]]:
    """Parse GDAL ``other_tags`` hstore strings into dictionaries.

    Parameters
    ----------
    series : iterable of str or None
        Values like ``'"building:levels"=>"5","height"=>"12 m"'``. Quotes and
        backslashes inside keys and values are backslash-escaped, as GDAL writes them.
        Missing values give an empty dict.

    Returns
    -------
    list of dict
        One ``{key: value}`` dict per input value, unescaped.

    Examples
    --------
    >>> parse_other_tags(['"height"=>"12 m","note"=>"say \\\\"hi\\\\""', None])
    [{'height': '12 m', 'note': 'say "hi"'}, {}]
    """
    out: list[dict[str, str]] = []
    for text in series:
        if not isinstance(text, str) or not text:
            out.append({})
            continue
        out.append({_unescape(k): _unescape(v) for k, v in _PAIR.findall(text)})
    return out


def extract_tags(series: pd.Series, keys: Iterable[str]) -> pd.DataFrame:
    """Extract the values of some keys from GDAL ``other_tags`` hstore strings.

    Vectorised counterpart of :func:`parse_other_tags` for a few keys.

    Parameters
    ----------
    series : pandas.Series
        ``other_tags`` strings (missing values allowed).
    keys : iterable of str
        Tag keys to extract, e.g. ``["building:levels", "height"]``.

    Returns
    -------
    pandas.DataFrame
        One column per key, same index as ``series``; ``None`` where the key is absent.
    """
    text = series.astype(object).where(series.notna(), "").astype(str)
    out = {}
    for key in keys:
        values = text.str.extract(_tag_pattern(key), expand=False)
        has_escape = values.str.contains("\\", regex=False, na=False)
        if has_escape.any():
            values[has_escape] = values[has_escape].map(_unescape)
        out[key] = _as_text(values)
    return pd.DataFrame(out, index=series.index)


def _as_text(values: pd.Series) -> pd.Series:
    """Object Series holding ``str`` or ``None`` (empty strings count as missing)."""
    text = values.astype(object).map(str, na_action="ignore").astype(object)
    missing = values.isna().to_numpy() | (text == "").to_numpy()
    return text.where(~missing, None)


# ------------------------------------------------------------------ numeric tag values

_NUMBER = r"(\d+(?:[.,]\d+)?|[.,]\d+)"
_LEVELS_RE = re.compile(rf"\s*{_NUMBER}\s*")
_HEIGHT_RE = re.compile(
    rf"\s*{_NUMBER}\s*(m|meters?|metres?|ft|feet|foot|')?\s*", flags=re.IGNORECASE
)
_FEET_INCHES_RE = re.compile(r"""\s*(\d+)\s*'\s*(\d+(?:\.\d+)?)\s*(?:"|'')\s*""")
_FOOT = 0.3048


def _to_float(text: str) -> float:
    return float(text.replace(",", "."))


def _parse_count(text: str) -> float:
    """``"5"``, ``"5.5"``, ``"3;4"`` (largest value) → float; anything else → NaN."""
    best = np.nan
    for part in text.split(";"):
        m = _LEVELS_RE.fullmatch(part)
        if m is None:
            return np.nan
        value = _to_float(m.group(1))
        best = value if np.isnan(best) else max(best, value)
    return best


def _parse_height(text: str) -> float:
    """``"12"``, ``"12 m"``, ``"12.5m"``, ``"40'"``, ``"40 ft"``, ``"4'6\""`` → metres."""
    m = _HEIGHT_RE.fullmatch(text)
    if m is not None:
        unit = (m.group(2) or "m").lower()
        factor = _FOOT if unit in {"ft", "feet", "foot", "'"} else 1.0
        return _to_float(m.group(1)) * factor
    m = _FEET_INCHES_RE.fullmatch(text)
    if m is not None:
        return (float(m.group(1)) + float(m.group(2)) / 12) * _FOOT
    return np.nan


def _parse_numbers(values: pd.Series, parse: Callable[[str], float]) -> pd.Series:
    """Parse each distinct text value once; missing or unparseable values become NaN."""
    present = values.dropna()
    lut = {v: parse(str(v)) for v in pd.unique(present)}
    out = pd.Series(np.nan, index=values.index, dtype=float)
    out[present.index] = present.map(lut).astype(float)
    return out


# ----------------------------------------------------------------- geometry cleaning


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry | None:
    """Keep the polygonal parts of a repaired geometry (None when nothing remains)."""
    if geom is None:
        return None
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    polys = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not polys:
        return None
    return polys[0] if len(polys) == 1 else shapely.union_all(polys)


def _clean_polygons(gdf: gpd.GeoDataFrame, label: str) -> gpd.GeoDataFrame:
    """Repair invalid polygons, drop unusable ones, turn one-part MultiPolygons into Polygons."""
    if gdf.empty:
        return gdf
    geom = gdf.geometry.to_numpy().copy()
    invalid = ~shapely.is_valid(geom) & ~shapely.is_missing(geom)
    if invalid.any():
        geom[invalid] = [_polygonal(g) for g in shapely.make_valid(geom[invalid])]
        log.info("%s: repaired %d invalid polygons with make_valid", label, int(invalid.sum()))
    single = (shapely.get_type_id(geom) == 6) & (shapely.get_num_geometries(geom) == 1)
    if single.any():
        geom[single] = shapely.get_geometry(geom[single], 0)
    gdf = gdf.set_geometry(gpd.GeoSeries(geom, index=gdf.index, crs=gdf.crs))
    return _drop_unusable(gdf, label)


def _drop_unusable(gdf: gpd.GeoDataFrame, label: str) -> gpd.GeoDataFrame:
    geom = gdf.geometry.to_numpy()
    bad = shapely.is_missing(geom) | shapely.is_empty(geom)
    if bad.any():
        log.info(
            "%s: dropped %d features without usable geometry (e.g. rings cut by the "
            "extract boundary)",
            label,
            int(bad.sum()),
        )
        gdf = gdf[~bad]
    return gdf


def _clean_lines(gdf: gpd.GeoDataFrame, label: str) -> gpd.GeoDataFrame:
    """Split MultiLineStrings into LineStrings and drop degenerate lines."""
    if gdf.empty:
        return gdf
    gdf = _drop_unusable(gdf, label)
    if (shapely.get_type_id(gdf.geometry.to_numpy()) != 1).any():
        gdf = gdf.explode(index_parts=False)
    geom = gdf.geometry.to_numpy()
    bad = ~shapely.is_valid(geom) | (shapely.length(geom) == 0)
    if bad.any():
        log.info("%s: dropped %d degenerate lines (fewer than 2 distinct points)", label, bad.sum())
        gdf = gdf[~bad]
    return gdf


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
            features[key] = pd.Series(None, index=features.index, dtype=object)
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


# ------------------------------------------------------------------------ reading OSM


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


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = text.rstrip(".;")
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


def _check_file(path: Path, formats: str) -> None:
    if not path.exists():
        msg = f"file not found: {path}; check the path (accepted: {formats})"
        raise ReadError(msg)
    if not path.is_file():
        msg = f"{path} is a directory, not a file; give the path of a {formats} file"
        raise ReadError(msg)


# ---------------------------------------------------------------------- other layers


def read_layer(
    path: PathLike, *, layer: str | None = None, name: str = "layer"
) -> gpd.GeoDataFrame:
    """Read a GIS layer and validate it.

    Parameters
    ----------
    path : str or path-like
        A GeoPackage (``.gpkg``), GeoJSON (``.geojson``, ``.json``), Shapefile (``.shp``
        or zipped ``.zip``), FlatGeobuf (``.fgb``) or GeoParquet (``.parquet``,
        ``.geoparquet``) file.
    layer : str, optional
        Layer to read; required when the file holds several layers.
    name : str, default "layer"
        How the layer is called in messages (``"buildings"``, ``"population"``).

    Returns
    -------
    GeoDataFrame
        Checked by :func:`gridgeo._validate.check_layer`: it has a CRS, no missing
        geometries, and invalid geometries are repaired.

    Raises
    ------
    ReadError
        The file is missing, has an unsupported extension, or cannot be read.
    InputError
        The file holds several layers and ``layer`` is not given, or ``layer`` is not in
        the file; :class:`~gridgeo._errors.CRSError`,
        :class:`~gridgeo._errors.EmptyLayerError` or
        :class:`~gridgeo._errors.GeometryError` from the checks.
    """
    path = Path(path)
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
        gdf = _read_parquet(path)
    else:
        gdf = _read_ogr(path, layer, kind)
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = (
            f"{name} file {path} has no geometry column (it is a plain table); give a "
            "layer with geometries"
        )
        raise InputError(msg)
    return check_layer(gdf, name)


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
        return pyogrio.read_dataframe(path, layer=layer or names[0], on_invalid="fix")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        msg = f"cannot read {path}: {_first_line(exc)}; {hint}"
        raise ReadError(msg) from None
    except shapely.errors.GEOSException as exc:
        msg = f"cannot read the geometries of {path}: {_first_line(exc)}; {hint}"
        raise ReadError(msg) from None


# --------------------------------------------------------------------------- download


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
        gdf.to_file(path, layer=key, driver="GPKG", engine="pyogrio")
