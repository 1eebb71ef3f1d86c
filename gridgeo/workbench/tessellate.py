"""The plan's area cut into one cell per building (工作台的编辑单元).

A grid is the union of the cells of its buildings: each grid's polygon is divided
among its buildings by a Voronoi diagram of their representative points, clipped to
the polygon. Moving buildings between grids then moves their cells, and two buildings
are neighbours when their cells touch (within :data:`TOUCH` metres), which is what
contiguity is checked on. A grid without buildings is one cell of its own (a *ghost*
node with no building).
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy import sparse

__all__ = ["TOUCH", "adjacency", "cells"]

#: Cells closer than this (metres) are neighbours: bridges the slivers between a
#: city's own grid polygons.
TOUCH = 0.5


def cells(
    grid_geoms: np.ndarray,
    points: np.ndarray,
    label: np.ndarray,
    footprints: np.ndarray,
    *,
    skip: np.ndarray | None = None,
) -> np.ndarray:
    """A cell per point: the Voronoi cell of the point among the points of its grid,
    clipped to the grid's polygon (``label`` indexes ``grid_geoms``).

    A point whose cell comes out empty (its building lies outside its grid's polygon)
    gets its ``footprint`` as its cell. Points of grids marked in ``skip`` get no cell
    (None): the caller has them.
    """
    out = np.empty(len(points), dtype=object)
    order = np.argsort(label, kind="stable")
    starts = np.searchsorted(label[order], np.arange(len(grid_geoms) + 1))
    for g in range(len(grid_geoms)):
        idx = order[starts[g] : starts[g + 1]]
        if len(idx) == 0 or (skip is not None and skip[g]):
            continue
        poly = grid_geoms[g]
        if len(idx) == 1 or poly is None:
            out[idx] = poly if poly is not None else footprints[idx]
            continue
        diagram = shapely.voronoi_polygons(
            shapely.multipoints(points[idx]), extend_to=poly, ordered=True
        )
        parts = shapely.get_parts(diagram)
        if len(parts) == len(idx):
            out[idx] = parts
        else:  # duplicate points share a cell: find each point's cell
            tree = shapely.STRtree(parts)
            pi, ci = tree.query(points[idx], predicate="intersects")
            cell = np.full(len(idx), -1)
            cell[pi[::-1]] = ci[::-1]
            out[idx] = np.where(cell >= 0, parts[np.maximum(cell, 0)], footprints[idx])
        out[idx] = shapely.intersection(out[idx], poly)
    empty = shapely.is_empty(out) | shapely.is_missing(out)
    if skip is not None:
        empty &= ~skip[label]
    out[empty] = footprints[empty]
    return out


def adjacency(
    geoms: np.ndarray,
    *,
    changed: np.ndarray | None = None,
    before: sparse.spmatrix | None = None,
) -> sparse.csr_matrix:
    """Symmetric boolean adjacency of ``geoms``: pairs closer than :data:`TOUCH`.

    With ``changed`` (a mask) and ``before`` (the adjacency of the first
    ``before.shape[0]`` geometries as they were), only changed geometries are queried;
    pairs of unchanged ones are taken from ``before``.
    """
    n = len(geoms)
    tree = shapely.STRtree(geoms)
    if changed is None:
        a, b = tree.query(geoms, predicate="dwithin", distance=TOUCH)
    else:
        idx = np.flatnonzero(changed)
        a, b = tree.query(geoms[idx], predicate="dwithin", distance=TOUCH)
        a = idx[a]
        old = sparse.coo_matrix(before)
        stay = ~changed[old.row] & ~changed[old.col]
        a = np.concatenate([a, old.row[stay]])
        b = np.concatenate([b, old.col[stay]])
    keep = a != b
    a, b = a[keep], b[keep]
    m = sparse.coo_matrix((np.ones(len(a), dtype=bool), (a, b)), shape=(n, n)).tocsr()
    return (m + m.T).astype(bool).tocsr()
