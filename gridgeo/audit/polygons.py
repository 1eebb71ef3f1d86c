"""The polygons of the plan: cleaning the layers, merging rows of one grid, the study
area, and the gaps and overlaps between grids (digitising slivers left out)."""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._tables import empty_layer, sequential_ids
from ._common import _text_ids

log = logging.getLogger(__name__)

_INTERIOR_OVERLAP = "2********"  # DE-9IM: the interiors share an area


def _polygon_parts(obj: object) -> object:
    """Keep the polygons of GeometryCollections (what repairing a polygon often gives).

    Other objects are returned as they are, for :func:`check_layer` to judge.
    """
    if not isinstance(obj, gpd.GeoDataFrame) or len(obj) == 0:
        return obj
    geom = obj.geometry.to_numpy()
    mixed = shapely.get_type_id(geom) == 7
    if not mixed.any():
        return obj
    parts, row = shapely.get_parts(geom[mixed], return_index=True)
    poly = np.isin(shapely.get_type_id(parts), [3, 6])
    parts, k = shapely.get_parts(parts[poly], return_index=True)  # MultiPolygons too
    row = row[poly][k]
    fixed = np.full(int(mixed.sum()), None, dtype=object)
    if len(parts):
        found = np.unique(row)
        fixed[found] = shapely.multipolygons(parts, indices=np.searchsorted(found, row))
    fixed[pd.isna(fixed)] = shapely.Polygon()
    one = shapely.get_num_geometries(fixed) == 1
    fixed[one] = shapely.get_geometry(fixed[one], 0)
    geom = geom.copy()
    geom[mixed] = fixed
    log.info("%d geometry collections reduced to their polygons", int(mixed.sum()))
    return obj.set_geometry(gpd.GeoSeries(geom, index=obj.index, crs=obj.crs))


def _merge_duplicates(
    grids: gpd.GeoDataFrame, ids: np.ndarray, dedicated: np.ndarray, grid_type: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Grid polygons, ids, street-front flags and type text, one row per grid id."""
    geom = grids.geometry.to_numpy().copy()
    col = grid_type or ("grid_type" if "grid_type" in grids.columns else None)
    types = (
        _text_ids(grids[col]).to_numpy(dtype=object)
        if col
        else np.full(len(ids), None, dtype=object)
    )
    dup_mask = pd.Series(ids).duplicated().to_numpy()
    if not dup_mask.any():
        return geom, ids, dedicated, types, []
    dup = sorted(set(ids[dup_mask]))
    keep = ~dup_mask
    geom_k, ids_k, ded_k, types_k = geom[keep], ids[keep], dedicated[keep].copy(), types[keep]
    pos = {v: i for i, v in enumerate(ids_k)}
    for d in dup:  # a loop over duplicated ids only
        members = ids == d
        geom_k[pos[d]] = shapely.union_all(geom[members])
        ded_k[pos[d]] = dedicated[members].any()
    log.warning("%d grid ids appear on several rows; their polygons were merged", len(dup))
    return geom_k, ids_k, ded_k, types_k, dup


def _study_area(grid_geom: np.ndarray, boundaries: gpd.GeoDataFrame | None, how: str):
    if boundaries is not None:
        return shapely.make_valid(shapely.union_all(boundaries.geometry.to_numpy()))
    union = shapely.union_all(grid_geom)
    if how == "hull":
        return shapely.convex_hull(union)
    parts = shapely.get_parts(union)
    parts = parts[np.isin(shapely.get_type_id(parts), [3])]
    return shapely.union_all(shapely.polygons(shapely.get_exterior_ring(parts)))


def _pieces(geom, min_area: float, sliver_width: float) -> tuple[np.ndarray, tuple[int, float]]:
    """Polygon parts of ``geom`` that are not slivers; and (count, area) of the slivers."""
    parts = shapely.get_parts(np.atleast_1d(np.asarray(geom, dtype=object)))
    parts = parts[(shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)]
    if len(parts) == 0:
        return parts, (0, 0.0)
    ignored, counted = _slivers(parts, min_area, sliver_width)
    return parts[~ignored], counted


def _slivers(
    parts: np.ndarray, min_area: float, sliver_width: float
) -> tuple[np.ndarray, tuple[int, float]]:
    """Which polygons are slivers (smaller than ``min_area`` or narrower than
    ``sliver_width`` everywhere), and their (count, area)."""
    a = shapely.area(parts)
    sliver = a < min_area
    if sliver_width > 0:
        sliver |= shapely.is_empty(shapely.buffer(parts, -sliver_width / 2, quad_segs=2))
    return sliver, (int(sliver.sum()), round(float(a[sliver].sum()), 3))


def _overlaps(
    grid_geom: np.ndarray, ids: np.ndarray, min_area: float, sliver_width: float, crs: Any
) -> tuple[np.ndarray, gpd.GeoDataFrame, np.ndarray, tuple[int, float]]:
    """Overlaps of pairs of grids.

    Returns every pairwise overlap polygon (for the building shares), the reported
    overlaps (one row per pair of grids, slivers left out), the disjoint polygons of
    the land they cover, and (count, area) of the ignored slivers.
    """
    tree = shapely.STRtree(grid_geom)
    i, j = tree.query(grid_geom, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    inner = shapely.relate_pattern(grid_geom[i], grid_geom[j], _INTERIOR_OVERLAP)
    i, j = i[inner], j[inner]
    parts, pair = shapely.get_parts(
        shapely.intersection(grid_geom[i], grid_geom[j]), return_index=True
    )
    poly = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    parts, pair = parts[poly], pair[poly]
    cols = {"overlap_id": "object", "grid_ids": "object", "area_m2": "float64"}
    if len(parts) == 0:
        return parts, empty_layer(cols, crs), parts, (0, 0.0)
    sliver, ignored = _slivers(parts, min_area, sliver_width)
    kept, kpair = parts[~sliver], pair[~sliver]
    if len(kept) == 0:
        return parts, empty_layer(cols, crs), kept, ignored
    order = np.argsort(kpair, kind="stable")
    pairs, first = np.unique(kpair[order], return_index=True)
    geoms = shapely.multipolygons(kept[order], indices=np.searchsorted(pairs, kpair[order]))
    single = shapely.get_num_geometries(geoms) == 1
    geoms[single] = shapely.get_geometry(geoms[single], 0)
    a, b = ids[i[pairs]], ids[j[pairs]]
    names = np.where(a.astype(str) <= b.astype(str), a + "," + b, b + "," + a)
    rank = np.lexsort((names.astype(str), -shapely.area(geoms)))
    layer = gpd.GeoDataFrame(
        {
            "overlap_id": sequential_ids("O", len(rank)),
            "grid_ids": names[rank].astype(object),
            "area_m2": np.round(shapely.area(geoms[rank]), 3),
        },
        geometry=geoms[rank],
        crs=crs,
    )
    region = shapely.get_parts(shapely.union_all(kept))
    return parts, layer, region, ignored
