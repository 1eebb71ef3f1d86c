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

__all__ = ["carve_astride", "fuse_astride", "move_astride"]

log = logging.getLogger(__name__)


def fuse_astride(
    units: Units,
    buildings: np.ndarray,
    adjacencies: tuple[sparse.csr_matrix, ...],
    *,
    most: float,
    zone: np.ndarray | None = None,
) -> tuple[Units, tuple[sparse.csr_matrix, ...]]:
    """Fuse the units a building spreads over, until one holds most of it.

    Parameters
    ----------
    units : Units
        Units with ``building_unit`` (the unit of each building).
    buildings : ndarray of Polygons
        The buildings, in the units' CRS.
    adjacencies : tuple of sparse matrices
        Adjacency matrices of the units (shared lengths): contracted alike. The first
        (without the edges across barriers) says which units of different blocks may
        be fused: neighbours across a street, in one community and zone (``zone``: the
        dedicated zone of every unit).
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
    zone = np.zeros(n, dtype=np.int64) if zone is None else np.asarray(zone)
    may_fuse = _fusion_rule(units, zone, sparse.csr_matrix(adjacencies[0]))
    spread_rows, spread_cols = _spread_links(units, buildings, may_fuse)
    point_rows, point_cols = _point_links(units, buildings, may_fuse)
    rows, cols = np.r_[spread_rows, point_rows], np.r_[spread_cols, point_cols]
    if not len(rows):
        return units, adjacencies
    n_new, new = _fused_groups(rows, cols, units.households, most=most)
    if n_new == n:
        return units, adjacencies
    geometry, n_members, n_fused = _fused_geometry(units.geometry, new, n_new)
    log.info(
        "%d units fused into %d: buildings spread over them would have been cut by grid boundaries",
        n_members,
        n_fused,
    )
    return _fused_units(units, geometry, new, n_new), _contracted(adjacencies, new, n_new)


def _fusion_rule(units: Units, zone: np.ndarray, adj: sparse.csr_matrix):
    """Which pairs of units may be fused: one block, or neighbours in one community and zone."""

    def may_fuse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        near = (units.community[a] == units.community[b]) & (zone[a] == zone[b])
        if len(a):
            near &= np.asarray(adj[a, b]).ravel() > 0
        return (a == b) | (units.block[a] == units.block[b]) | near

    return may_fuse


def _spread_links(units: Units, buildings: np.ndarray, may_fuse) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (building's unit, piece) to fuse until the fused unit holds most of the building."""
    bi, ui = shapely.STRtree(units.geometry).query(buildings, predicate="intersects")
    # a building touching one unit only is in it: nothing to measure
    several = np.bincount(bi, minlength=len(buildings))[bi] > 1
    bi, ui = bi[several], ui[several]
    own = units.building_unit[bi]
    mine = may_fuse(own, ui)
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
    return own[big], ui[big]


def _point_links(units: Units, buildings: np.ndarray, may_fuse) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (building's unit, piece holding its point on surface) to fuse."""
    pb, pu = shapely.STRtree(units.geometry).query(
        shapely.point_on_surface(buildings), predicate="within"
    )
    off = (pu != units.building_unit[pb]) & may_fuse(units.building_unit[pb], pu)
    return units.building_unit[pb[off]], pu[off]


def _fused_groups(
    rows: np.ndarray, cols: np.ndarray, households: np.ndarray, *, most: float
) -> tuple[int, np.ndarray]:
    """Number of units once linked ones are fused (groups over ``most`` kept apart), and
    the new unit of every unit (in order of first appearance: unfused units keep their order)."""
    n = len(households)
    link = sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    n_new, new = csgraph.connected_components(link + link.T, directed=False)
    heavy = np.bincount(new, weights=households, minlength=n_new) > most
    if heavy.any():  # left as they are
        keep = heavy[new]
        new = np.where(keep, n_new + np.arange(n), new)
        _, new = np.unique(new, return_inverse=True)
        n_new = int(new.max()) + 1
    if n_new == n:
        return n_new, new
    _, first = np.unique(new, return_index=True)
    rank = np.empty(n_new, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(n_new)
    return n_new, rank[new]


def _fused_geometry(
    geometry: np.ndarray, new: np.ndarray, n_new: int
) -> tuple[np.ndarray, int, int]:
    """The polygon of every new unit (its members' union), the number of units fused and made."""
    size = np.bincount(new, minlength=n_new)
    out = np.empty(n_new, dtype=object)
    single = size[new] == 1
    out[new[single]] = geometry[single]
    fused = np.flatnonzero(size > 1)
    members = np.flatnonzero(~single)
    order = members[np.argsort(new[members], kind="stable")]
    grid = np.full((len(fused), int(size.max())), None, dtype=object)
    pos = np.searchsorted(fused, new[order])
    col = np.arange(len(order)) - np.searchsorted(new[order], new[order])
    grid[pos, col] = geometry[order]
    merged = shapely.union_all(grid, axis=1)
    out[fused] = [_polygon(g) for g in merged]
    return out, len(members), len(fused)


def _contracted(
    adjacencies: tuple[sparse.csr_matrix, ...], new: np.ndarray, n_new: int
) -> tuple[sparse.csr_matrix, ...]:
    """The adjacency matrices between the new units (shared lengths summed)."""
    n = len(new)
    p = sparse.csr_matrix((np.ones(n), (np.arange(n), new)), shape=(n, n_new))
    out = []
    for adj in adjacencies:
        a = (p.T @ adj @ p).tolil()
        a.setdiag(0)
        a = a.tocsr()
        a.eliminate_zeros()
        out.append(a)
    return tuple(out)


def _fused_units(units: Units, geometry: np.ndarray, new: np.ndarray, n_new: int) -> Units:
    """The new units: households summed, block and community of their members."""
    block = np.zeros(n_new, dtype=np.int64)
    block[new] = units.block
    community = np.empty(n_new, dtype=units.community.dtype)
    community[new] = units.community
    return Units(
        geometry=geometry,
        households=np.bincount(new, weights=units.households, minlength=n_new).astype(np.int64),
        block=block,
        community=community,
        building_unit=new[units.building_unit],
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


def move_astride(
    labels: np.ndarray,
    units: Units,
    buildings: np.ndarray,
    households: np.ndarray,
    weights: np.ndarray,
    building_weights: np.ndarray,
    *,
    band: tuple[float, float],
    fixed: np.ndarray | None = None,
) -> int:
    """Give every building the grid holding most of its footprint, once the grids are
    drawn (``labels``: the grid of every unit).

    A building astride a street or a community line lies in the block holding most of
    it; spread over three blocks, most of it may still lie in another grid. Such a
    building moves to the unit of that grid holding most of it: ``units``
    (``building_unit``, ``households``) and the units' ``weights`` are updated in
    place (with ``building_weights``, each building's weight). A move that would push a
    grid out of ``band`` (lower, upper) is not made: the building then stays in the
    block holding most of it; so is a move from or to a ``fixed`` unit (of a locked
    grid). Returns the number of buildings moved.
    """
    if not len(buildings):
        return 0
    bi, ui = shapely.STRtree(units.geometry).query(buildings, predicate="intersects")
    own = units.building_unit[bi]
    several = np.bincount(bi[labels[ui] != labels[own]], minlength=len(buildings)) > 0
    pick = several[bi]
    bi, ui = bi[pick], ui[pick]
    if not len(bi):
        return 0
    area = shapely.area(shapely.intersection(buildings[bi], units.geometry[ui]))
    grid = labels[ui]
    # area per (building, grid); the grid holding most, then its unit holding most
    key = bi.astype(np.int64) * (int(labels.max()) + 1) + grid
    uniq, inv = np.unique(key, return_inverse=True)
    per_grid = np.bincount(inv, weights=area)
    order = np.lexsort((-per_grid[inv], -area, bi))
    first = order[np.r_[True, bi[order][1:] != bi[order][:-1]]]
    b, best_unit = bi[first], ui[first]
    mine = units.building_unit[b]
    best_area = per_grid[inv[first]]
    own_area = np.zeros(len(b))
    own_key = b.astype(np.int64) * (int(labels.max()) + 1) + labels[mine]
    pos = np.searchsorted(uniq, own_key)
    found = (pos < len(uniq)) & (uniq[np.minimum(pos, len(uniq) - 1)] == own_key)
    own_area[found] = per_grid[pos[found]]
    move = (labels[best_unit] != labels[mine]) & (best_area > own_area + 1e-6)
    if fixed is not None:
        move &= ~fixed[best_unit] & ~fixed[mine]
    b, src, dst = b[move], mine[move], best_unit[move]
    if not len(b):
        return 0
    # a move that would push a grid out of the band is not made (lightest first)
    load = np.bincount(labels, weights=weights)

    def off(x):
        return np.maximum(0.0, np.maximum(band[0] - x, x - band[1]))

    ok = np.zeros(len(b), dtype=bool)
    for i in np.argsort(building_weights[b], kind="stable"):
        s_, d_, wb = labels[src[i]], labels[dst[i]], building_weights[b[i]]
        if off(load[s_] - wb) + off(load[d_] + wb) <= off(load[s_]) + off(load[d_]) + 1e-9:
            ok[i] = True
            load[s_] -= wb
            load[d_] += wb
    b, src, dst = b[ok], src[ok], dst[ok]
    if not len(b):
        return 0
    np.subtract.at(units.households, src, households[b])
    np.add.at(units.households, dst, households[b])
    np.subtract.at(weights, src, building_weights[b])
    np.add.at(weights, dst, building_weights[b])
    units.building_unit[b] = dst
    log.info("%d buildings astride grids moved to the grid holding most of them", len(b))
    return len(b)


def carve_astride(
    grids: np.ndarray,
    buildings: np.ndarray,
    building_grid: np.ndarray,
    *,
    community: np.ndarray,
    fixed: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Grid polygons that hold the buildings astride them.

    A building astride a street or spread over three blocks may lie mostly in a grid
    other than its own, or have its point on surface there, though its own grid holds
    the block holding most of it. For every such building the parts of its footprint in
    other grids of its grid's community pass to its grid (a grid boundary then follows
    the building's outline instead of the street), except the parts of those grids'
    own buildings and of ``fixed`` grids (locked ones). A carve that would leave a grid
    in more parts than before is not made.

    Parameters
    ----------
    grids : ndarray of Polygons
        The grids.
    buildings : ndarray of Polygons
        The buildings (points and other non-areal ones are left as they are).
    building_grid : ndarray of int
        The grid (row of ``grids``) of every building.
    community : ndarray
        The community of every grid: nothing passes a community line.
    fixed : ndarray of bool, optional
        Grids that keep their polygon.

    Returns
    -------
    grids, carved
        The grid polygons, and how many buildings were carved into their grid.
    """
    grids = np.asarray(grids, dtype=object).copy()
    n = len(grids)
    if not len(buildings) or n < 2:
        return grids, 0
    fixed = np.zeros(n, dtype=bool) if fixed is None else np.asarray(fixed, dtype=bool)
    community = np.asarray(community)
    bi, gi, own = _misplaced_parts(grids, buildings, building_grid, community, fixed)
    if not len(bi):
        return grids, 0
    pieces = _pieces_to_pass(grids, buildings, building_grid, bi, gi)
    ok = shapely.area(pieces) > 1e-6
    carve = _carve_whole(grids, pieces, gi, own, ok, buildings, building_grid)
    if carve is None:
        return grids, 0
    out, ok = carve
    carved = len(np.unique(bi[ok]))
    if carved:
        log.info(
            "%d buildings astride grids: the parts of them in other grids passed to their own",
            carved,
        )
    return out, carved


def _misplaced_parts(grids, buildings, building_grid, community, fixed):
    """(building, other grid, its grid) of the parts of buildings mostly in another grid,
    or with their point on surface there, that may pass to their grid."""
    areal = shapely.get_dimensions(buildings) == 2
    bi, gi = shapely.STRtree(grids).query(buildings, predicate="intersects")
    keep = areal[bi]
    bi, gi = bi[keep], gi[keep]
    several = np.bincount(bi, minlength=len(buildings))[bi] > 1
    bi, gi = bi[several], gi[several]
    if not len(bi):
        return bi, gi, building_grid[bi]
    area = shapely.area(shapely.intersection(buildings[bi], grids[gi]))
    own = building_grid[bi]
    best = np.zeros(len(buildings))
    np.maximum.at(best, bi, area)
    own_area = np.bincount(bi[gi == own], weights=area[gi == own], minlength=len(buildings))
    points = shapely.point_on_surface(buildings)
    cand = np.unique(bi)
    held = shapely.covers(grids[building_grid[cand]], points[cand])
    wrong = np.zeros(len(buildings), dtype=bool)
    wrong[cand] = (own_area[cand] < best[cand] - 1e-6) | ~held
    wrong &= ~fixed[building_grid]
    take = wrong[bi] & (gi != own) & ~fixed[gi] & (community[gi] == community[own])
    return bi[take], gi[take], own[take]


def _pieces_to_pass(grids, buildings, building_grid, bi, gi) -> np.ndarray:
    """The parts of the buildings in the other grids, less what its own buildings cover."""
    pieces = shapely.intersection(buildings[bi], grids[gi])
    # the other grid keeps what its own buildings cover
    tree = shapely.STRtree(buildings)
    pi, ci = tree.query(pieces, predicate="intersects")
    mine = (building_grid[ci] == gi[pi]) & (ci != bi[pi])
    if mine.any():
        cover = np.full(len(pieces), None, dtype=object)
        for p in np.unique(pi[mine]):
            cover[p] = shapely.union_all(buildings[ci[mine & (pi == p)]])
        has = np.not_equal(cover, None)
        pieces[has] = shapely.difference(pieces[has], cover[has])
    return pieces


def _carve_whole(grids, pieces, gi, own, ok, buildings, building_grid):
    """The grids carved, dropping the carves that split a grid (and the pieces kept);
    None when no carve leaves every grid whole within four rounds."""
    n = len(grids)
    before = shapely.get_num_geometries(grids)
    for _ in range(4):  # drop the carves that split a grid, then carve again
        out = _carve(grids, pieces[ok], gi[ok], own[ok])
        split = shapely.get_num_geometries(out) > before
        split |= shapely.is_empty(out) & ~shapely.is_empty(grids)
        for g in np.flatnonzero(split & np.isin(np.arange(n), gi[ok])):
            split[g] = not _heal(out, g, own[ok & (gi == g)], buildings, building_grid, before)
        if not split.any():
            return out, ok
        ok &= ~split[gi] & ~split[own]
    return None


def _heal(out, g, takers, buildings, building_grid, before) -> bool:
    """Mend grid ``g``, split by the carves it gave: its pieces apart from the largest
    pass to its one ``takers`` grid when none of ``g``'s own buildings lies in them and
    the taker stays as whole as it was. Returns whether ``g`` was mended (``out`` is
    updated in place)."""
    takers = np.unique(takers)
    if len(takers) != 1 or shapely.is_empty(out[g]):
        return False
    t = int(takers[0])
    parts = shapely.get_parts(out[g])
    big = int(np.argmax(shapely.area(parts)))
    rest = np.delete(parts, big)
    mine = buildings[building_grid == g]
    if len(mine) and shapely.intersects(shapely.union_all(rest), mine).any():
        return False
    merged = shapely.union_all(np.r_[[out[t]], rest])
    if shapely.get_num_geometries(merged) > before[t]:
        return False
    out[g], out[t] = parts[big], merged
    return True


def _carve(grids: np.ndarray, pieces: np.ndarray, donor: np.ndarray, taker: np.ndarray):
    """``grids`` with each piece passed from its ``donor`` grid to its ``taker``."""
    out = grids.copy()
    if not len(pieces):
        return out
    for g in np.unique(np.r_[donor, taker]):
        gain = pieces[taker == g]
        loss = pieces[donor == g]
        geom = out[g]
        if len(gain):
            geom = shapely.union_all(np.r_[[geom], gain])
        if len(loss):
            geom = shapely.difference(geom, shapely.union_all(loss))
        out[g] = geom
    return out
