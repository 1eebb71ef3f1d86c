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
from dataclasses import dataclass
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from ._progress import progress
from .engine.tree import within_groups
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
    built = np.array([len(by_block.get(b, ())) > 0 for b in big], dtype=bool)
    for b in progress(big[built], desc="splitting large blocks", total=int(built.sum())):
        members = by_block[b]
        pieces, hh, owner = _tessellate(
            geoms[b], buildings[members], building_households[members], spacing
        )
        building_unit[members] = n_units + owner
        out_geom.append(pieces)
        out_hh.append(hh)
        out_block.append(np.full(len(pieces), b))
        n_units += len(pieces)
    # blocks without buildings: all lattices at once
    bare = big[~built]
    if len(bare):
        pieces, hh, of = _lattices(geoms[bare], block_households[bare], piece_size)
        out_geom.append(pieces)
        out_hh.append(hh)
        out_block.append(bare[of])
    block_of = np.concatenate(out_block)
    geometry = np.concatenate(out_geom)
    households = np.concatenate(out_hh).astype(np.int64)
    # the pieces in the order of the blocks they come from, after the whole blocks
    rank = np.full(len(geoms), -1, dtype=np.int64)
    rank[big] = np.arange(len(big))
    order = np.argsort(rank[block_of], kind="stable")
    if len(big) and (order != np.arange(len(order))).any():
        new_index = np.empty(len(order), dtype=np.int64)
        new_index[order] = np.arange(len(order))
        geometry, households, block_of = geometry[order], households[order], block_of[order]
        building_unit = np.where(building_unit >= 0, new_index[building_unit], -1)
    units = Units(
        geometry=geometry,
        households=households,
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
    if len(buildings) == 1 or len(coords) < 2:  # one site: the block is its piece
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
    # each building lives in the piece of its own that holds the most of it (a point:
    # the piece holding it)
    owner = np.full(len(buildings), -1, dtype=np.int64)
    n_parts = np.bincount(piece_building, minlength=len(buildings))
    single = n_parts[piece_building] == 1
    owner[piece_building[single]] = np.flatnonzero(single)
    multi = np.flatnonzero(~single)
    if len(multi):
        pb = piece_building[multi]
        overlap = shapely.area(shapely.intersection(pieces[multi], buildings[pb]))
        point = shapely.area(buildings[pb]) == 0  # a point building: the part nearest it
        overlap[point] = -shapely.distance(pieces[multi][point], buildings[pb][point])
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


def _lattices(blocks: np.ndarray, households: np.ndarray, piece_size: float):
    """Square cells over each block, each holding about ``piece_size`` households by area.

    Returns the cells, their households and the index (into ``blocks``) of each cell's
    block. All blocks are cut at once: the cells lying wholly inside their block are
    kept as they are, only those across its edge are clipped.
    """
    blocks = np.asarray(blocks, dtype=object)
    households = np.asarray(households, dtype=np.int64)
    n = np.maximum(2, np.ceil(households / max(piece_size, 1))).astype(np.int64)
    bounds = shapely.bounds(blocks)
    side = np.sqrt(shapely.area(blocks) / n)
    nx = np.ceil((bounds[:, 2] - bounds[:, 0]) / side).astype(np.int64)
    ny = np.ceil((bounds[:, 3] - bounds[:, 1]) / side).astype(np.int64)
    # cell (i, j) of block b spans x[b] + side[b] * (i, i + 1): neighbouring cells share
    # their edges exactly (one product per edge coordinate, as from one array)
    count = nx * ny
    of = np.repeat(np.arange(len(blocks)), count)
    k = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    row, col = k // nx[of], k % nx[of]
    x0 = bounds[of, 0] + side[of] * col
    x1 = bounds[of, 0] + side[of] * (col + 1)
    y0 = bounds[of, 1] + side[of] * row
    y1 = bounds[of, 1] + side[of] * (row + 1)
    boxes = shapely.box(x0, y0, x1, y1)
    shapely.prepare(blocks)
    inside = shapely.contains_properly(blocks[of], boxes)
    clip = np.flatnonzero(~inside)
    clip = clip[shapely.intersects(blocks[of[clip]], boxes[clip])]
    clipped, part_of = shapely.get_parts(
        shapely.intersection(boxes[clip], blocks[of[clip]]), return_index=True
    )
    # the cells in order of block, then box, then part
    cells = np.concatenate([boxes[inside], clipped])
    box = np.r_[np.flatnonzero(inside), clip[part_of]]
    order = np.argsort(box, kind="stable")
    cells, box = cells[order], box[order]
    good = (shapely.get_type_id(cells) == 3) & (shapely.area(cells) > 0)
    cells, cell_of = cells[good], of[box[good]]
    hh = np.zeros(len(cells), dtype=np.int64)
    area = shapely.area(cells)
    starts = np.searchsorted(cell_of, np.arange(len(blocks) + 1))
    for b in range(len(blocks)):
        s, e = starts[b], starts[b + 1]
        hh[s:e] = largest_remainder(area[s:e], int(households[b]))
    return cells, hh, cell_of


#: Distance (m) within which edges of two units count as lying on one line: vertices that
#: an overlay computed lie off the edge they were cut from by rounding noise (1e-10 m).
_ALONG = 1e-6
#: Width (radians) of the direction classes near-collinear edges are sorted into.
_ANGLE_BIN = 1e-4


def adjacency(geometry: np.ndarray, *, min_shared: float = 0.01) -> sparse.csr_matrix:
    """Rook adjacency: units whose boundaries run along each other for more than
    ``min_shared`` metres.

    The matrix holds that length in metres: the sum, over the pairs of edges of the two
    units that lie on one line (within ``_ALONG``), of the length over which they
    overlap. Units that touch only at points share nothing. Only coordinates count, not
    the precision grid a geometry may carry (a round trip through a file drops it).

    Parameters
    ----------
    geometry : ndarray of Polygons
        Units (MultiPolygons are taken part by part; other geometries share nothing).
    min_shared : float, default 0.01
        Pairs sharing this length or less are not adjacent.

    Returns
    -------
    scipy.sparse.csr_matrix
        Symmetric ``(n, n)`` matrix of shared lengths.

    Notes
    -----
    Edges are matched rather than overlaid: an edge (pair of end points) found in exactly
    two units counts whole for that pair; the others (those of a lattice cell cut from a
    block, along the block across the street, whose vertices they lack) are paired by
    :func:`_near_collinear`.
    """
    geometry = np.asarray(geometry, dtype=object)
    n = len(geometry)
    edges = _edges(geometry)
    a, b, owner = edges.a, edges.b, edges.owner
    length = np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1])
    e, f = _identical_edges(edges.vertex, owner)
    rest = np.ones(len(owner), dtype=bool)
    rest[e] = rest[f] = False
    rest = np.flatnonzero(rest)
    s, t = _near_collinear(a[rest], b[rest], length[rest], owner[rest], tol=_ALONG)
    s, t = rest[s], rest[t]
    along = np.maximum(
        _runs_along(a, b, length, s, t, _ALONG), _runs_along(a, b, length, t, s, _ALONG)
    )
    i, j = owner[np.r_[e, s]], owner[np.r_[f, t]]
    shared = np.r_[length[e], along]
    # one entry per pair of units, duplicates summed
    upper = sparse.csr_matrix((shared, (np.minimum(i, j), np.maximum(i, j))), shape=(n, n))
    upper.data[upper.data <= min_shared] = 0.0
    upper.eliminate_zeros()
    return (upper + upper.T).tocsr()


class _Edges(NamedTuple):
    """Every ring edge of every polygon (edges of length zero left out)."""

    a: np.ndarray
    """Start point of each edge, shape (m, 2)."""
    b: np.ndarray
    """End point of each edge, shape (m, 2)."""
    owner: np.ndarray
    """Index of the geometry each edge belongs to."""
    vertex: np.ndarray
    """Ids of the start and end point, shape (m, 2): equal ids, equal coordinates."""
    ring: np.ndarray
    """Ring each edge belongs to (numbered over all rings)."""
    hole: np.ndarray
    """Whether that ring is an interior ring."""
    points: np.ndarray
    """Coordinates of each point id, shape (p, 2)."""


def _edges(geometry: np.ndarray) -> _Edges:
    """Explode polygons (and the polygons of multi-geometries) into their ring edges."""
    types = shapely.get_type_id(geometry)
    if (types == 3).all():
        parts, owner = geometry, np.arange(len(geometry))
    else:
        parts, owner = shapely.get_parts(geometry, return_index=True)
        polygon = shapely.get_type_id(parts) == 3
        parts, owner = parts[polygon], owner[polygon]
    xy, part = shapely.get_coordinates(parts, return_index=True)
    counts = shapely.get_num_coordinates(parts)
    start = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
    ring_start = np.zeros(len(xy) + 1, dtype=bool)
    ring_start[start] = True
    ring_start[-1] = True
    holed = np.flatnonzero(shapely.get_num_interior_rings(parts) > 0)
    if len(holed):
        rings, which = shapely.get_rings(parts[holed], return_index=True)
        size = shapely.get_num_coordinates(rings)
        end = np.cumsum(size)
        first = np.r_[True, which[1:] != which[:-1]]
        base = np.maximum.accumulate(np.where(first, end - size, 0))
        ring_start[start[holed][which] + end - size - base] = True
    ring = np.cumsum(ring_start[: len(xy)]) - 1
    part_start = np.zeros(len(xy) + 1, dtype=bool)
    part_start[start] = True
    ring_hole = ~part_start[np.flatnonzero(ring_start[: len(xy)])]
    # one id per distinct point
    z = xy[:, 0] + 1j * xy[:, 1]
    order = np.argsort(z)
    zs = z[order]
    new = np.ones(len(zs), dtype=bool)
    new[1:] = zs[1:] != zs[:-1]
    point = np.empty(len(z), dtype=np.int64)
    point[order] = np.cumsum(new) - 1
    seg = np.flatnonzero(~ring_start[1 : len(xy)])  # edge k runs from vertex k to k + 1
    seg = seg[point[seg] != point[seg + 1]]  # repeated vertices make no edge
    return _Edges(
        a=xy[seg],
        b=xy[seg + 1],
        owner=owner[part[seg]],
        vertex=np.column_stack([point[seg], point[seg + 1]]),
        ring=ring[seg],
        hole=ring_hole[ring[seg]],
        points=xy[order[new]],
    )


def _identical_edges(vertex: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges found (same two end points, either way round) in exactly two different units.

    Returns the indices of the two copies of each such edge.
    """
    m = len(vertex)
    if not m:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    key = vertex.min(axis=1) * (int(vertex.max()) + 1) + vertex.max(axis=1)
    order = np.argsort(key)
    ks = key[order]
    starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    size = np.diff(np.r_[starts, m])
    two = starts[size == 2]
    first, second = order[two], order[two + 1]
    apart = owner[first] != owner[second]
    return first[apart], second[apart]


def _near_collinear(
    a: np.ndarray,
    b: np.ndarray,
    length: np.ndarray,
    owner: np.ndarray,
    tol: float = _ALONG,
    group: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of edges of different units that run within ``tol`` of each other.

    Edges are sorted into classes of direction (``_ANGLE_BIN`` wide) and offset of their
    line, on two grids shifted by half a class each way, so that two edges whose
    directions differ by less than half a class always meet in one class; the edges of
    a class are swept along the line for overlapping extents, and the candidates tested
    exactly: the two ends of one edge within ``tol`` of the other's line, and an overlap
    longer than ``tol``. Edges that run along each other with rounding noise ``e`` are
    found when longer than about ``4 * e / _ANGLE_BIN`` (4e-5 m for noise of 1e-9 m).

    Parameters
    ----------
    a, b : ndarray of shape (m, 2)
        End points of the edges.
    length : ndarray
        Length of each edge (positive).
    owner : ndarray
        Unit of each edge; edges of one unit are never paired.
    tol : float
        Distance (m) within which edges count as running along each other.
    group : ndarray, optional
        Only edges of the same group are paired.

    Returns
    -------
    s, t : ndarray of int64
        Indices of the two edges of each pair.
    """
    empty = np.zeros(0, dtype=np.int64)
    m = len(a)
    if m < 2:
        return empty, empty
    w = _ANGLE_BIN
    mid = (a + b) / 2
    mid = mid - mid.min(axis=0)
    theta = np.arctan2(b[:, 1] - a[:, 1], b[:, 0] - a[:, 0]) % np.pi
    theta = np.where(theta >= np.pi, 0.0, theta)
    # an edge close to the wrap-around of directions joins both ends
    wrap = np.flatnonzero(theta > np.pi - w)
    edge = np.r_[np.arange(m), wrap]
    theta = np.r_[theta, theta[wrap] - np.pi]
    mx, my, half = mid[edge, 0], mid[edge, 1], length[edge] / 2 + tol
    # offsets along a class's normal drift by up to (distance along the line) * w
    w_off = max(1.0, 4 * w * float(length.max()))
    n_cell = int(np.pi / w) + 4
    keys, lows, highs = [], [], []
    for g in (0.0, 0.5):
        cell = np.floor(theta / w + g)
        centre = (cell + 0.5 - g) * w
        ux, uy = np.cos(centre), np.sin(centre)
        off = ux * my - uy * mx
        along = ux * mx + uy * my
        for h in (0.0, 0.5):
            oc = np.floor(off / w_off + h).astype(np.int64)
            keys.append((cell.astype(np.int64) + 2, oc))
            lows.append(along - half)
            highs.append(along + half)
    oc_min = min(int(k[1].min()) for k in keys)
    n_oc = max(int(k[1].max()) for k in keys) - oc_min + 1
    grp = np.zeros(len(edge), dtype=np.int64) if group is None else group[edge].astype(np.int64)
    key = np.concatenate(
        [((grp * 4 + g) * n_cell + c) * n_oc + (o - oc_min) for g, (c, o) in enumerate(keys)]
    )
    low, high = np.concatenate(lows), np.concatenate(highs)
    entry = np.tile(edge, 4)
    order = np.lexsort((low, key))
    key, low, high, entry = key[order], low[order], high[order], entry[order]
    # sweep: entries of one class, sorted by start, overlapping entry k's extent
    # (complex numbers sort by real part, then imaginary: class rank, then position)
    rank = np.cumsum(np.r_[False, key[1:] != key[:-1]]).astype(float)
    ub = np.searchsorted(rank + 1j * low, rank + 1j * high, side="right")
    k = np.arange(len(key))
    count = np.maximum(ub - k - 1, 0)
    s = np.repeat(k, count)
    t = s + 1 + np.arange(len(s)) - np.repeat(np.cumsum(count) - count, count)
    s, t = entry[s], entry[t]
    keep = owner[s] != owner[t]
    pair = _distinct(np.minimum(s[keep], t[keep]) * m + np.maximum(s[keep], t[keep]))
    s, t = pair // m, pair % m
    hit = (_runs_along(a, b, length, s, t, tol) > 0) | (_runs_along(a, b, length, t, s, tol) > 0)
    return s[hit], t[hit]


def _runs_along(
    a: np.ndarray, b: np.ndarray, length: np.ndarray, s: np.ndarray, t: np.ndarray, tol: float
) -> np.ndarray:
    """Length over which edge ``t`` overlaps edge ``s`` (measured along ``s``) where it lies
    within ``tol`` of the line of ``s`` and overlaps it by more than ``tol``; else 0."""
    ax, ay = a[s, 0], a[s, 1]
    ux, uy = (b[s, 0] - ax) / length[s], (b[s, 1] - ay) / length[s]
    cx, cy = a[t, 0] - ax, a[t, 1] - ay
    dx, dy = b[t, 0] - ax, b[t, 1] - ay
    dist = np.maximum(np.abs(cx * uy - cy * ux), np.abs(dx * uy - dy * ux))
    tc, td = cx * ux + cy * uy, dx * ux + dy * uy
    overlap = np.minimum(length[s], np.maximum(tc, td)) - np.maximum(0.0, np.minimum(tc, td))
    return np.where((dist <= tol) & (overlap > tol), overlap, 0.0)


def _distinct(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an integer array (by sorting: ``np.unique`` hashes, slower)."""
    x = np.sort(x)
    keep = np.ones(len(x), dtype=bool)
    keep[1:] = x[1:] != x[:-1]
    return x[keep]


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
    n_comp, comp = csgraph.connected_components(within_groups(adj, comm), directed=False)
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
