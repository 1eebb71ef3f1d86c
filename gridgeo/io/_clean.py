"""Geometry cleaning of OpenStreetMap features: repair polygons, split lines, drop the
features without usable geometry (each step counted in the log)."""

from __future__ import annotations

import logging

import geopandas as gpd
import shapely

log = logging.getLogger(__name__)


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
