"""Units: the pieces grids are made of, and which of them touch.

Blocks that hold no more households than ``split_above`` stay whole. Larger blocks are
cut into one piece per building (a Voronoi tessellation of points on the building
outlines, clipped to the block, as momepy's morphological tessellation) or, when the
block has no buildings, into a square lattice sized so that each cell holds a fraction
of a grid. A piece cut in two by a concave block edge becomes two units; the part
holding the building keeps it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from ._progress import progress
from .households import largest_remainder

__all__ = ["Units", "adjacency", "make_units", "merge_isolated"]

log = logging.getLogger(__name__)


@dataclass
class Units:
    """Units and where each building went.

    Attributes
    ----------
    geometry : ndarray of Polygons
    households : ndarray of int64
    block : ndarray of int64
        Block each unit comes from.
    community : ndarray
        Community of each unit.
    building_unit : ndarray of int64
        Unit of each building (aligned to the buildings passed in).
    """

    geometry: np.ndarray
    households: np.ndarray
    block: np.ndarray
    community: np.ndarray
    building_unit: np.ndarray


def make_units(
    blocks: gpd.GeoDataFrame,
    block_households: np.ndarray,
    *,
    buildings: np.ndarray | None,
    building_block: np.ndarray | None,
    building_households: np.ndarray | None,
    split_above: float,
    piece_size: float,
    spacing: float = 3.0,
) -> Units:
    """Cut blocks above ``split_above`` households into units.

    Parameters
    ----------
    blocks : GeoDataFrame
        Blocks with ``community_id``.
    block_households : ndarray
        Households of each block.
    buildings, building_block, building_households : ndarray, optional
        Building polygons, their block and households (None when there are none).
    split_above : float
        Blocks with more households than this are cut.
    piece_size : float
        Households aimed at per lattice cell when a block without buildings is cut.
    spacing : float, default 3.0
        Metres between points sampled on building outlines for the tessellation.
    """
    geoms = blocks.geometry.values
    community = blocks["community_id"].to_numpy()
    n_b = 0 if buildings is None else len(buildings)
    building_unit = np.full(n_b, -1, dtype=np.int64)
    big = np.flatnonzero(block_households > split_above)
    keep = np.setdiff1d(np.arange(len(geoms)), big)
    out_geom = [geoms[keep]]
    out_hh = [block_households[keep]]
    out_block = [keep]
    # buildings of whole blocks: unit = position of their block in `keep`
    pos = np.full(len(geoms), -1, dtype=np.int64)
    pos[keep] = np.arange(len(keep))
    if n_b:
        building_unit[:] = pos[building_block]
    n_units = len(keep)
    by_block = {}
    if n_b:
        order = np.argsort(building_block, kind="stable")
        starts = np.searchsorted(building_block[order], big)
        ends = np.searchsorted(building_block[order], big, side="right")
        by_block = {b: order[s:e] for b, s, e in zip(big, starts, ends, strict=True)}
    for b in progress(big, desc="splitting large blocks", total=len(big)):
        members = by_block.get(b, np.array([], dtype=np.int64))
        if len(members):
            pieces, hh, owner = _tessellate(
                geoms[b], buildings[members], building_households[members], spacing
            )
            building_unit[members] = n_units + owner
        else:
            pieces, hh = _lattice(geoms[b], int(block_households[b]), piece_size)
        out_geom.append(pieces)
        out_hh.append(hh)
        out_block.append(np.full(len(pieces), b))
        n_units += len(pieces)
    block_of = np.concatenate(out_block)
    geometry = np.concatenate(out_geom)
    units = Units(
        geometry=geometry,
        households=np.concatenate(out_hh).astype(np.int64),
        block=block_of,
        community=community[block_of],
        building_unit=building_unit,
    )
    log.info("%d units (%d blocks kept whole, %d split)", len(units.geometry), len(keep), len(big))
    return units


def _tessellate(block, buildings: np.ndarray, households: np.ndarray, spacing: float):
    """One piece of ``block`` per building; returns pieces, households, owner piece per building."""
    shapely.prepare(block)
    clipped = buildings.copy()
    out = ~shapely.within(buildings, block)
    clipped[out] = shapely.intersection(buildings[out], block)
    outline = shapely.boundary(clipped)
    outline = np.where(shapely.is_empty(outline), shapely.point_on_surface(buildings), outline)
    pts = shapely.get_coordinates(
        shapely.segmentize(outline, spacing) if spacing else outline, return_index=True
    )
    coords, which = pts
    # drop duplicate points (shared walls): Voronoi needs distinct sites
    coords = np.round(coords, 3)
    _, uniq = np.unique(coords, axis=0, return_index=True)
    uniq.sort()
    coords, which = coords[uniq], which[uniq]
    if len(buildings) == 1 or len(coords) < 3:
        return (
            np.array([block], dtype=object),
            np.array([households.sum()]),
            np.zeros(len(buildings), dtype=np.int64),
        )
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(coords), extend_to=block, ordered=True)
    )
    odd = shapely.get_type_id(cells) != 3  # GEOS may return a cell with a zero-length line
    if odd.any():
        cells[odd] = [_polygon_part(c) for c in cells[odd]]
    # dissolve cells by building, clip to the block
    order = np.argsort(which, kind="stable")
    cells, which = cells[order], which[order]
    starts = np.r_[0, np.flatnonzero(np.diff(which)) + 1]
    owners = which[starts]
    merged = np.array(
        [_dissolve(cells[s:e]) for s, e in zip(starts, np.r_[starts[1:], len(cells)], strict=True)],
        dtype=object,
    )
    out = ~shapely.within(merged, block)
    merged[out] = shapely.intersection(merged[out], block)
    pieces, part_of = shapely.get_parts(merged, return_index=True)
    keep = (shapely.get_type_id(pieces) == 3) & (shapely.area(pieces) > 0)
    pieces, part_of = pieces[keep], part_of[keep]
    piece_building = owners[part_of]
    # each building lives in the piece of its own that holds the most of it
    owner = np.full(len(buildings), -1, dtype=np.int64)
    n_parts = np.bincount(piece_building, minlength=len(buildings))
    single = n_parts[piece_building] == 1
    owner[piece_building[single]] = np.flatnonzero(single)
    multi = np.flatnonzero(~single)
    if len(multi):
        pb = piece_building[multi]
        overlap = shapely.area(shapely.intersection(pieces[multi], buildings[pb]))
        best = np.lexsort((-overlap, pb))
        first = best[np.r_[True, pb[best][1:] != pb[best][:-1]]]
        owner[pb[first]] = multi[first]
    # buildings without a piece (their sites were all duplicates of others'): nearest piece
    lost = np.flatnonzero(owner < 0)
    if len(lost):
        owner[lost] = shapely.STRtree(pieces).nearest(shapely.point_on_surface(buildings[lost]))
    hh = np.bincount(owner, weights=households, minlength=len(pieces)).astype(np.int64)
    return pieces, hh, owner


def _polygon_part(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of a geometry collection (an empty polygon if none)."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon"]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _dissolve(cells: np.ndarray) -> shapely.Geometry:
    """Union of Voronoi cells: the fast coverage union, or a full overlay when it refuses."""
    try:
        return shapely.coverage_union_all(cells)
    except shapely.errors.GEOSException:
        return shapely.union_all(cells)


def _lattice(block, households: int, piece_size: float):
    """Square cells over ``block``, each holding about ``piece_size`` households by area."""
    n = max(2, math.ceil(households / max(piece_size, 1)))
    xmin, ymin, xmax, ymax = block.bounds
    side = math.sqrt(block.area / n)
    xs = np.arange(xmin, xmax, side)
    ys = np.arange(ymin, ymax, side)
    gx, gy = np.meshgrid(xs, ys)
    boxes = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + side, gy.ravel() + side)
    cells = shapely.get_parts(shapely.intersection(boxes, block))
    cells = cells[(shapely.get_type_id(cells) == 3) & (shapely.area(cells) > 0)]
    hh = largest_remainder(shapely.area(cells), households)
    return cells, hh


def adjacency(geometry: np.ndarray, *, min_shared: float = 0.01) -> sparse.csr_matrix:
    """Rook adjacency: units sharing a boundary longer than ``min_shared`` metres.

    The matrix holds the shared length in metres.
    """
    n = len(geometry)
    tree = shapely.STRtree(geometry)
    i, j = tree.query(geometry, predicate="intersects")
    upper = i < j
    i, j = i[upper], j[upper]
    shared = shapely.length(
        shapely.intersection(shapely.boundary(geometry[i]), shapely.boundary(geometry[j]))
    )
    keep = shared > min_shared
    i, j, shared = i[keep], j[keep], shared[keep]
    data = np.r_[shared, shared]
    return sparse.csr_matrix((data, (np.r_[i, j], np.r_[j, i])), shape=(n, n))


def merge_isolated(units: Units, adj: sparse.csr_matrix) -> tuple[Units, sparse.csr_matrix]:
    """Fuse pieces cut off from the rest of their community into a unit that touches them.

    A sliver, or a group of units, that touches the rest of its community only at points
    (or overlaps it by rounding noise) would otherwise become a grid of its own — often an
    empty one. Such a group (a connected component of the adjacency other than the
    largest of its community) is fused into the touching unit of the same community with
    which it makes one polygon; if there is none (an island), it stays apart.
    """
    n = len(units.geometry)
    comm = units.community
    coo = adj.tocoo()
    same = comm[coo.row] == comm[coo.col]
    inner = sparse.csr_matrix((coo.data[same], (coo.row[same], coo.col[same])), shape=(n, n))
    n_comp, comp = csgraph.connected_components(inner, directed=False)
    if n_comp == len(np.unique(comm)):
        return units, adj
    size = np.bincount(comp)
    main = {}
    for c in np.argsort(-size, kind="stable"):
        main.setdefault(comm[np.flatnonzero(comp == c)[0]], c)
    main_comps = set(main.values())
    geoms = units.geometry.copy()
    hh = units.households.copy()
    target = np.arange(n)
    tree = shapely.STRtree(geoms)
    order = np.argsort(comp, kind="stable")
    starts = np.searchsorted(comp[order], np.arange(n_comp + 1))
    for c in range(n_comp):
        if c in main_comps:
            continue
        idx = order[starts[c] : starts[c + 1]]
        piece = geoms[idx[0]] if len(idx) == 1 else shapely.union_all(geoms[idx])
        cand = [
            int(j)
            for j in tree.query(piece, predicate="intersects")
            if comp[j] != c and comm[j] == comm[idx[0]]
        ]
        cand.sort(
            key=lambda j: -shapely.length(shapely.intersection(shapely.boundary(piece), geoms[j]))
        )
        for j in cand:
            merged = shapely.union(geoms[j], piece)
            if merged.geom_type == "Polygon":
                geoms[j], hh[j] = merged, hh[j] + hh[idx].sum()
                target[idx] = j
                break
    while (target[target] != target).any():  # a group fused into a group fused later
        target = target[target]
    gone = target != np.arange(n)
    if not gone.any():
        return units, adj
    keep = np.flatnonzero(~gone)
    new_index = np.full(n, -1, dtype=np.int64)
    new_index[keep] = np.arange(len(keep))
    new_index[gone] = new_index[target[gone]]
    log.info("%d cut-off pieces fused into a neighbouring unit", int(gone.sum()))
    merged_units = Units(
        geometry=geoms[keep],
        households=hh[keep],
        block=units.block[keep],
        community=units.community[keep],
        building_unit=new_index[units.building_unit]
        if len(units.building_unit)
        else units.building_unit,
    )
    # fused pieces shared no boundary with their new unit's neighbours' components, but a
    # fused group keeps its own neighbours: carry its edges over to the unit it joined
    remap = sparse.csr_matrix((np.ones(n), (np.arange(n), new_index)), shape=(n, len(keep)))
    new_adj = (remap.T @ adj @ remap).tocsr()
    new_adj.setdiag(0)
    new_adj.eliminate_zeros()
    return merged_units, new_adj
