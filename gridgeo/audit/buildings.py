"""Where each building lies: its shares of the grids and of other polygons."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely


def _building_cover(
    bgeom: np.ndarray, grid_geom: np.ndarray, pair_polys: np.ndarray, split_share: float
) -> dict[str, np.ndarray]:
    """Share of each building in its largest grid and in any grid; flags."""
    n = len(bgeom)
    barea = shapely.area(bgeom)
    g, b = shapely.STRtree(bgeom).query(grid_geom, predicate="intersects")  # grids prepared
    contained = shapely.contains(grid_geom[g], bgeom[b])
    inter = np.where(contained, barea[b], 0.0)
    part = np.flatnonzero(~contained)
    inter[part] = shapely.area(shapely.intersection(bgeom[b[part]], grid_geom[g[part]]))
    covered = np.bincount(b, weights=inter, minlength=n)
    if len(pair_polys):  # land in two grids was counted twice
        pb, _, twice = _overlap_areas(bgeom, pair_polys)
        covered -= np.bincount(pb, weights=twice, minlength=n)
    covered = np.clip(covered / barea, 0.0, 1.0)
    share = inter / barea[b]
    largest = np.full(n, -1, dtype=np.int64)
    best = np.zeros(n)
    first = _best_of_each(b, share)
    largest[b[first]] = g[first]
    best[b[first]] = share[first]
    largest[best <= 0] = -1
    return {
        "largest": largest,
        "share": best,
        "covered": covered,
        "n_grids": np.bincount(b[share > split_share], minlength=n).astype(np.int64),
        "split": (best > split_share) & (best < 1 - split_share),
        "uncovered": (1.0 - covered) > best,
    }


def _share_in(geoms: np.ndarray, polys: np.ndarray) -> np.ndarray:
    """Share of each geometry's area inside disjoint ``polys``."""
    out = np.zeros(len(geoms))
    if len(polys) == 0 or len(geoms) == 0:
        return out
    gi, _, inter = _overlap_areas(geoms, polys)
    return np.bincount(gi, weights=inter, minlength=len(geoms)) / shapely.area(geoms)


def _largest_part(geoms: np.ndarray, polys: np.ndarray, *, at_least: float) -> np.ndarray:
    """Polygon holding the largest part of each geometry if it holds ``at_least`` of it."""
    out = np.full(len(geoms), -1, dtype=np.int64)
    if len(polys) == 0 or len(geoms) == 0:
        return out
    gi, pi, inter = _overlap_areas(geoms, polys)
    if len(gi) == 0:
        return out
    share = inter / shapely.area(geoms[gi])
    first = _best_of_each(gi, share)
    ok = share[first] >= at_least
    out[gi[first][ok]] = pi[first][ok]
    return out


def _overlap_areas(
    geoms: np.ndarray, polys: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(geoms[i], polys[j])`` that intersect, and the area each pair shares."""
    gi, pi = shapely.STRtree(polys).query(geoms, predicate="intersects")
    return gi, pi, shapely.area(shapely.intersection(geoms[gi], polys[pi]))


def _best_of_each(group: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Position of the highest ``score`` of each ``group`` value (the first one on ties)."""
    order = np.lexsort((-score, group))
    if len(order) == 0:
        return order
    return order[np.r_[True, group[order][1:] != group[order][:-1]]]


def _add_counts(layer: gpd.GeoDataFrame, idx: np.ndarray, hh: np.ndarray) -> None:
    ok = idx >= 0
    layer["buildings"] = np.bincount(idx[ok], minlength=len(layer)).astype(np.int64)
    layer["households"] = np.bincount(idx[ok], weights=hh[ok], minlength=len(layer)).astype(
        np.int64
    )
