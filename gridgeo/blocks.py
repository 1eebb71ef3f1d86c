"""Street blocks: the study area cut by streets and community boundaries.

A block is a face of the planar graph formed by the chosen street classes, the community
boundaries and the edge of the study area (the same construction as momepy's
``enclosures``). Blocks tile the study area: no gaps, no overlaps.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import EmptyLayerError, GeometryError

__all__ = ["NON_CUTTING", "assign_to_polygons", "cutting_streets", "street_blocks", "study_area"]

log = logging.getLogger(__name__)

#: Precision grid (metres) street lines are snapped to before noding.
SNAP = 1e-3
#: Faces smaller than this (m²) are rounding slivers, not blocks.
MIN_FACE = 1e-3

#: Highway classes that do not cut blocks by default: paths inside blocks, service
#: roads, and ways that are not streets.
NON_CUTTING = frozenset(
    {
        "footway",
        "path",
        "cycleway",
        "steps",
        "service",
        "track",
        "bridleway",
        "corridor",
        "elevator",
        "platform",
        "proposed",
        "construction",
        "abandoned",
        "raceway",
        "bus_stop",
        "escape",
        "via_ferrata",
        "rest_area",
        "services",
    }
)


def cutting_streets(
    streets: gpd.GeoDataFrame, *, exclude: frozenset[str] | set[str] = NON_CUTTING
) -> gpd.GeoDataFrame:
    """Streets whose ``highway`` class cuts blocks (all streets if there is no such column).

    Tunnels (``tunnel`` tag other than ``no``) never cut blocks: they run underground.
    """
    keep = np.ones(len(streets), dtype=bool)
    if "highway" in streets.columns:
        keep &= ~streets["highway"].astype("string").fillna("").isin(list(exclude)).to_numpy()
    if "tunnel" in streets.columns:
        tunnel = streets["tunnel"].astype("string").fillna("no").str.lower()
        keep &= tunnel.isin(["no", "false", "0", ""]).to_numpy()
    return streets[keep]


def study_area(
    *layers: gpd.GeoDataFrame | None, boundaries: gpd.GeoDataFrame | None = None
) -> shapely.Geometry:
    """The area to cover: the union of the boundaries, else the convex hull of all layers."""
    if boundaries is not None:
        area = shapely.union_all(boundaries.geometry.values)
    else:
        geoms = [lyr.geometry.values for lyr in layers if lyr is not None and len(lyr)]
        if not geoms:
            msg = "no features to derive a study area from: give streets or boundaries"
            raise EmptyLayerError(msg)
        area = shapely.convex_hull(shapely.geometrycollections(np.concatenate(geoms)))
    if area.is_empty or area.area <= 0:
        msg = "the study area has no area: give streets that span an area, or boundaries"
        raise GeometryError(msg)
    # on the same precision grid as the street lines, so blocks tile it exactly
    return shapely.set_precision(shapely.make_valid(area), SNAP)


def street_blocks(
    streets: gpd.GeoDataFrame,
    area: shapely.Geometry,
    *,
    boundaries: gpd.GeoDataFrame | None = None,
    boundary_id: str | None = None,
    barriers: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Polygonize streets, community boundaries and the study-area edge into blocks.

    Parameters
    ----------
    streets : GeoDataFrame
        Street lines that cut blocks (see :func:`cutting_streets`), metric CRS.
    area : shapely geometry
        The study area (see :func:`study_area`); blocks outside it are dropped.
    boundaries : GeoDataFrame, optional
        Community polygons; their edges cut blocks and each block gets the id of the
        community holding it in ``community_id`` (``boundary_id`` column, else the row
        index).
    barriers : GeoDataFrame, optional
        Extra lines or polygons whose edges cut blocks (rivers, railways).

    Returns
    -------
    GeoDataFrame
        ``block_id`` (0…n−1), ``community_id`` and polygon geometry, in ``streets``' CRS.
    """
    crs = streets.crs
    parts = [shapely.get_parts(streets.geometry.values), [shapely.boundary(area)]]
    if boundaries is not None:
        parts.append(shapely.boundary(boundaries.geometry.values))
    if barriers is not None and len(barriers):
        bg = barriers.geometry.values
        poly = np.isin(shapely.get_type_id(bg), [3, 6])
        parts.append(np.where(poly, shapely.boundary(bg), bg))
    lines = np.concatenate([np.asarray(p, dtype=object) for p in parts])
    lines = lines[~shapely.is_empty(lines)]
    # a 1 mm precision grid snaps ends that miss a crossing street by rounding noise
    # (after reprojection, or in CAD layers), so every street cuts
    merged = shapely.set_precision(shapely.multilinestrings(shapely.get_parts(lines)), SNAP)
    noded = shapely.node(merged)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.area(faces) > MIN_FACE]
    # keep faces inside the study area, clipped to it
    shapely.prepare(area)
    xy = shapely.get_coordinates(shapely.point_on_surface(faces))
    inside = shapely.contains_xy(area, xy[:, 0], xy[:, 1])
    faces = faces[inside]
    crosses = ~shapely.within(faces, area)
    if crosses.any():
        faces[crosses] = shapely.intersection(faces[crosses], area)
        faces = shapely.get_parts(faces)
        faces = faces[(shapely.get_type_id(faces) == 3) & (shapely.area(faces) > 0)]
    blocks = gpd.GeoDataFrame({"block_id": np.arange(len(faces))}, geometry=faces, crs=crs)
    if boundaries is not None:
        ids = boundaries[boundary_id] if boundary_id else pd.Series(boundaries.index)
        idx = assign_to_polygons(blocks.geometry.values, boundaries.geometry.values)
        blocks["community_id"] = ids.to_numpy()[idx]
        outside = idx < 0
        if outside.any():
            blocks = blocks[~outside].reset_index(drop=True)
            blocks["block_id"] = np.arange(len(blocks))
    else:
        blocks["community_id"] = 0
    gaps = area.area - blocks.area.sum()
    log.info("%d blocks (%.1f km²; uncovered %.1f m²)", len(blocks), blocks.area.sum() / 1e6, gaps)
    return blocks


def assign_to_polygons(
    geoms: np.ndarray, polygons: np.ndarray, *, nearest: bool = False
) -> np.ndarray:
    """Index of the polygon holding the largest part of each geometry (−1 if none).

    Geometries touching one polygon only are assigned without computing any
    intersection; the others by the largest intersection area (length for lines;
    for points, the first polygon). With ``nearest=True`` a geometry outside every
    polygon goes to the nearest one instead of −1.
    """
    geoms = np.asarray(geoms, dtype=object)
    polygons = np.asarray(polygons, dtype=object)
    out = np.full(len(geoms), -1, dtype=np.int64)
    if len(geoms) == 0 or len(polygons) == 0:
        return out
    tree = shapely.STRtree(polygons)
    gi, pi = tree.query(geoms, predicate="intersects")
    if len(gi):
        counts = np.bincount(gi, minlength=len(geoms))
        single = counts[gi] == 1
        out[gi[single]] = pi[single]
        multi = ~single
        if multi.any():
            g, p = gi[multi], pi[multi]
            inter = shapely.intersection(geoms[g], polygons[p])
            size = shapely.area(inter)
            linear = np.isin(shapely.get_type_id(geoms[g]), [1, 2, 5])  # lines: by length
            size[linear] = shapely.length(inter[linear])
            order = np.lexsort((-size, g))  # per geometry, largest first
            g, p = g[order], p[order]
            first = np.r_[True, g[1:] != g[:-1]]
            out[g[first]] = p[first]
    if nearest:
        missing = np.flatnonzero(out < 0)
        if len(missing):
            out[missing] = tree.nearest(geoms[missing])
    return out
