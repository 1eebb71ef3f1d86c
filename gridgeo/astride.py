"""Buildings astride units: no grid boundary cuts a building inside a block.

Blocks heavier than half a grid are cut into one piece per building
(:mod:`gridgeo.units`). Where footprints overlap or interlock (a podium mapped apart
from its towers, buildings drawn over each other), a building's footprint spreads over
the pieces of its neighbours; a grid boundary between those pieces would then cut it,
and the building could lie mostly in a grid other than its own. :func:`fuse_astride`
fuses with a building's unit the pieces holding most of the rest of it, until the fused
unit holds more than half of the building (of its part in the block): the grid holding
that unit then holds most of the building; so is the piece holding the building's point
on surface. (Buildings astride a street or a community line keep the
block holding most of them: see :func:`gridgeo.blocks.assign_to_polygons`.)
"""

from __future__ import annotations

import logging

import numpy as np
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from .units import Units

__all__ = ["fuse_astride"]

log = logging.getLogger(__name__)


def fuse_astride(
    units: Units,
    buildings: np.ndarray,
    adjacencies: tuple[sparse.csr_matrix, ...],
    *,
    most: float,
) -> tuple[Units, tuple[sparse.csr_matrix, ...]]:
    """Fuse the units of a block that a building spreads over.

    Parameters
    ----------
    units : Units
        Units with ``building_unit`` (the unit of each building).
    buildings : ndarray of Polygons
        The buildings, in the units' CRS.
    adjacencies : tuple of sparse matrices
        Adjacency matrices of the units (shared lengths): contracted alike.
    most : float
        Units are fused only where the fused unit holds at most this many households
        (blocks up to half a grid are units whole: a heavier lump could not be
        balanced, and would push a grid out of the band for no reason it could give).

    Returns
    -------
    units, adjacencies
        The units with every such group fused into one (households summed, the pieces'
        union as geometry), and the adjacency matrices between the new units (shared
        lengths summed). Unchanged when no building spreads over several units.
    """
    n = len(units.geometry)
    if not len(buildings) or not n:
        return units, adjacencies
    bi, ui = shapely.STRtree(units.geometry).query(buildings, predicate="intersects")
    own = units.building_unit[bi]
    mine = units.block[ui] == units.block[own]
    bi, ui, own = bi[mine], ui[mine], own[mine]
    area = shapely.area(shapely.intersection(buildings[bi], units.geometry[ui]))
    in_block = np.bincount(bi, weights=area, minlength=len(buildings))
    own_area = np.bincount(bi[ui == own], weights=area[ui == own], minlength=len(buildings))
    # a building its own unit holds the most of (within the block) needs nothing; for
    # the others, the pieces holding most of the rest are fused with its unit until the
    # fused unit holds more than half of the building
    need = own_area <= 0.5 * in_block
    other = (ui != own) & need[bi]
    bi, ui, own, area = bi[other], ui[other], own[other], area[other]
    order = np.lexsort((-area, bi))
    bi, ui, own, area = bi[order], ui[order], own[order], area[order]
    start = np.r_[0, np.flatnonzero(bi[1:] != bi[:-1]) + 1] if len(bi) else bi
    before = np.cumsum(area) - area
    before -= np.repeat(before[start], np.diff(np.r_[start, len(bi)]))
    big = own_area[bi] + before <= 0.5 * in_block[bi]
    # and the piece holding the building's point on surface, so that its grid holds it
    pb, pu = shapely.STRtree(units.geometry).query(
        shapely.point_on_surface(buildings), predicate="within"
    )
    off = (pu != units.building_unit[pb]) & (
        units.block[pu] == units.block[units.building_unit[pb]]
    )
    rows = np.r_[own[big], units.building_unit[pb[off]]]
    cols = np.r_[ui[big], pu[off]]
    if not len(rows):
        return units, adjacencies
    link = sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    n_new, new = csgraph.connected_components(link + link.T, directed=False)
    heavy = np.bincount(new, weights=units.households, minlength=n_new) > most
    if heavy.any():  # left as they are
        keep = heavy[new]
        new = np.where(keep, n_new + np.arange(n), new)
        _, new = np.unique(new, return_inverse=True)
        n_new = int(new.max()) + 1
    if n_new == n:
        return units, adjacencies
    # keep the order of first appearance, so that unfused units keep their order
    _, first = np.unique(new, return_index=True)
    rank = np.empty(n_new, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(n_new)
    new = rank[new]
    size = np.bincount(new, minlength=n_new)
    geometry = np.empty(n_new, dtype=object)
    single = size[new] == 1
    geometry[new[single]] = units.geometry[single]
    fused = np.flatnonzero(size > 1)
    members = np.flatnonzero(~single)
    order = members[np.argsort(new[members], kind="stable")]
    grid = np.full((len(fused), int(size.max())), None, dtype=object)
    pos = np.searchsorted(fused, new[order])
    col = np.arange(len(order)) - np.searchsorted(new[order], new[order])
    grid[pos, col] = units.geometry[order]
    merged = shapely.union_all(grid, axis=1)
    geometry[fused] = [_polygon(g) for g in merged]
    p = sparse.csr_matrix((np.ones(n), (np.arange(n), new)), shape=(n, n_new))
    out = []
    for adj in adjacencies:
        a = (p.T @ adj @ p).tolil()
        a.setdiag(0)
        a = a.tocsr()
        a.eliminate_zeros()
        out.append(a)
    block = np.zeros(n_new, dtype=np.int64)
    block[new] = units.block
    community = np.empty(n_new, dtype=units.community.dtype)
    community[new] = units.community
    log.info(
        "%d units fused into %d: buildings spread over them would have been cut by grid boundaries",
        len(members),
        len(fused),
    )
    return (
        Units(
            geometry=geometry,
            households=np.bincount(new, weights=units.households, minlength=n_new).astype(np.int64),
            block=block,
            community=community,
            building_unit=new[units.building_unit],
        ),
        tuple(out),
    )


def _polygon(geom: shapely.Geometry) -> shapely.Geometry:
    """The union of touching pieces as one Polygon (the largest part if the union is
    left in several by rounding)."""
    if geom.geom_type == "Polygon":
        return geom
    parts = shapely.get_parts(geom)
    parts = parts[shapely.get_type_id(parts) == 3]
    if len(parts) == 1:
        return parts[0]
    snapped = shapely.buffer(
        shapely.buffer(geom, 1e-6, join_style="mitre"), -1e-6, join_style="mitre"
    )
    if snapped.geom_type == "Polygon":
        return snapped
    return geom
