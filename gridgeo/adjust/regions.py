"""Regions of :func:`gridgeo.adjust.rebalance`: cut grids into units on demand, grow a
region around each grid out of band, redraw it with the fewest households moved.

Private: the public face is :mod:`gridgeo.adjust`.
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csgraph

from ..blocks import assign_to_polygons, cutting_streets, street_blocks
from ..engine import Band, partition_graph
from ..engine import rebalance as move_units
from ..engine.refine import heaviest, off_band
from ..engine.tree import split_component
from ..units import Units, adjacency, make_units, merge_isolated

__all__ = ["UnitStore", "cut_edges", "excess", "grid_adjacency", "match", "solve"]

log = logging.getLogger("gridgeo.adjust")


def excess(weight: np.ndarray, heaviest: np.ndarray, band: Band) -> np.ndarray:
    """Distance of each grid from the band that a redraw could remove: for a grid
    holding a building (or unit) that alone exceeds the band, the households beside it.

    >>> excess(np.array([300.0, 360.0, 400.0]), np.array([50.0, 50.0, 390.0]),
    ...        Band.around(300, 0.1)).tolist()
    [0.0, 30.0, 10.0]
    """
    off = off_band(weight, band)
    heavy = heaviest > band.upper + 1e-9
    off[heavy] = np.asarray(weight, dtype=float)[heavy] - heaviest[heavy]
    return off


def _part_off(lab: np.ndarray, w: np.ndarray, band: Band) -> np.ndarray:
    """:func:`excess` of each part of ``lab`` (labels 0…k−1, all present)."""
    k = int(lab.max()) + 1
    return excess(np.bincount(lab, weights=w, minlength=k), heaviest(lab, w, k), band)


def _on_barrier(
    geoms: np.ndarray, i: np.ndarray, j: np.ndarray, zone: shapely.Geometry
) -> np.ndarray:
    """Whether the boundary shared by ``geoms[i]`` and ``geoms[j]`` runs mostly along a
    barrier (within the prepared ``zone`` around the barrier lines)."""
    out = np.zeros(len(i), dtype=bool)
    near = shapely.intersects(geoms[i], zone) & shapely.intersects(geoms[j], zone)
    if near.any():
        shared = shapely.intersection(
            shapely.boundary(geoms[i[near]]), shapely.boundary(geoms[j[near]])
        )
        length = shapely.length(shared)
        along = shapely.length(shapely.intersection(shared, zone))
        out[near] = (length > 0) & (along > 0.5 * length)
    return out


def cut_edges(
    geoms: np.ndarray, adj: sparse.csr_matrix, zone: shapely.Geometry | None
) -> sparse.csr_matrix:
    """``adj`` without the edges along barriers."""
    if zone is None or adj.nnz == 0:
        return adj
    coo = sparse.triu(adj, k=1).tocoo()
    keep = ~_on_barrier(geoms, coo.row, coo.col, zone)
    r, c, d = coo.row[keep], coo.col[keep], coo.data[keep]
    return sparse.csr_matrix((np.r_[d, d], (np.r_[r, c], np.r_[c, r])), shape=adj.shape)


def _divisible(w: np.ndarray, band: Band) -> bool:
    """Whether units of weights ``w`` can make parts inside the band, each unit that
    alone exceeds it being a part of its own.

    >>> b = Band.around(300, 0.1)
    >>> _divisible(np.full(4, 100.0), b), _divisible(np.full(4, 150.0), b)
    (False, True)
    """
    rest = float(w[w <= band.upper + 1e-9].sum())
    if rest <= 0:
        return True
    k = band.parts_for(rest)
    return band.lower - 1e-9 <= rest / k <= band.upper + 1e-9


def grid_adjacency(geoms: np.ndarray, comm: np.ndarray, free: np.ndarray) -> sparse.csr_matrix:
    """Grids sharing a boundary, in the same community, both free to change."""
    adj = adjacency(geoms).tocoo()
    keep = (comm[adj.row] == comm[adj.col]) & free[adj.row] & free[adj.col]
    return sparse.csr_matrix(
        (adj.data[keep], (adj.row[keep], adj.col[keep])), shape=(len(geoms), len(geoms))
    )


class UnitStore:
    """Units of the grids a region takes in, cut on demand, grid by grid.

    A grid is cut into street blocks (faces of the cutting streets, intersected with
    the grid: noding the streets with the grid boundaries themselves is fragile, as
    those often run along the streets), and blocks heavier than ``split_above`` into
    one piece per building (:func:`gridgeo.units.make_units`). Each unit lies in one
    grid, so a grid's units tile it and a grid left alone keeps its boundary.
    """

    def __init__(
        self,
        ggeom: np.ndarray,
        bgeom: np.ndarray,
        bgrid: np.ndarray,
        hh: np.ndarray,
        streets: gpd.GeoDataFrame | None,
        *,
        split_above: float,
        piece: float,
        non_cutting: frozenset[str] | set[str],
        zone: shapely.Geometry | None = None,
    ) -> None:
        self.ggeom, self.bgeom, self.bgrid, self.hh = ggeom, bgeom, bgrid, hh
        self.zone = zone
        self.split_above, self.piece = split_above, max(piece, 1.0)
        self.faces = None
        if streets is not None and len(streets):
            box = shapely.box(*shapely.total_bounds(ggeom)).buffer(10.0, join_style="mitre")
            cut = cutting_streets(streets, exclude=non_cutting)
            if len(cut):
                near = shapely.STRtree(cut.geometry.values).query(box, predicate="intersects")
                self.faces = street_blocks(cut.iloc[np.sort(near)], box).geometry.values
        self.built = np.zeros(len(ggeom), dtype=bool)
        self._parts: dict[str, list[np.ndarray]] = {
            k: [] for k in ("geometry", "households", "block", "grid", "b_index", "b_unit")
        }
        self.n_units = 0
        self.n_blocks = 0
        self._cache: dict[str, Any] = {}
        self._edges: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def ensure(self, grids: Any) -> None:
        """Cut the grids among ``grids`` not cut yet."""
        grids = np.unique(np.asarray(grids, dtype=np.int64))
        grids = grids[(grids < len(self.built))]
        todo = grids[~self.built[grids]]
        if not len(todo):
            return
        self.built[todo] = True
        blocks = _blocks_in_grids(self.ggeom[todo], todo, self.faces)
        block_grid = blocks["community_id"].to_numpy().astype(np.int64)
        sel = np.flatnonzero(np.isin(self.bgrid, todo))
        bb = assign_to_polygons(self.bgeom[sel], blocks.geometry.values, nearest=True)
        # a building stays in the grid it was counted in: its block must be in that grid
        for i in np.flatnonzero(block_grid[bb] != self.bgrid[sel]):
            own = np.flatnonzero(block_grid == self.bgrid[sel[i]])
            if len(own):
                shapes = blocks.geometry.values[own]
                bb[i] = own[int(np.argmin(shapely.distance(shapes, self.bgeom[sel[i]])))]
        block_hh = np.bincount(bb, weights=self.hh[sel], minlength=len(blocks)).astype(np.int64)
        units = make_units(
            blocks,
            block_hh,
            buildings=self.bgeom[sel],
            building_block=bb,
            building_households=self.hh[sel],
            split_above=self.split_above,
            piece_size=self.piece,
        )
        units, inner = merge_isolated(units, adjacency(units.geometry))
        # edges: among the new units, and between them and the units cut before
        start = self.n_units
        inner = sparse.triu(inner, k=1).tocoo()
        rows, cols, lens = [inner.row + start], [inner.col + start], [inner.data]
        if start:
            old = self.geometry
            i, j = shapely.STRtree(old).query(units.geometry, predicate="intersects")
            shared = shapely.length(
                shapely.intersection(shapely.boundary(units.geometry[i]), shapely.boundary(old[j]))
            )
            ok = shared > 0.01
            rows.append(i[ok] + start)
            cols.append(j[ok])
            lens.append(shared[ok])
        r, c, d = np.concatenate(rows), np.concatenate(cols), np.concatenate(lens)
        if self.zone is not None and len(r):
            geoms = np.concatenate([self.geometry, units.geometry]) if start else units.geometry
            keep = ~_on_barrier(geoms, r, c, self.zone)
            r, c, d = r[keep], c[keep], d[keep]
        self._edges.append((r, c, d))
        parts = self._parts
        parts["geometry"].append(units.geometry)
        parts["households"].append(units.households.astype(np.int64))
        parts["block"].append(units.block + self.n_blocks)
        parts["grid"].append(units.community.astype(np.int64))
        parts["b_index"].append(sel)
        parts["b_unit"].append(units.building_unit + self.n_units)
        self.n_units += len(units.geometry)
        self.n_blocks += len(blocks)
        self._cache = {}
        log.debug("cut %d grids into %d units", len(todo), len(units.geometry))

    def _get(self, key: str) -> np.ndarray:
        if key not in self._cache:
            parts = self._parts[key]
            if parts:
                self._cache[key] = np.concatenate(parts)
            else:
                self._cache[key] = np.array([], dtype=object if key == "geometry" else np.int64)
        return self._cache[key]

    geometry = property(lambda self: self._get("geometry"))
    households = property(lambda self: self._get("households"))
    block = property(lambda self: self._get("block"))
    grid = property(lambda self: self._get("grid"))
    b_index = property(lambda self: self._get("b_index"))
    b_unit = property(lambda self: self._get("b_unit"))

    @property
    def adjacency(self) -> sparse.csr_matrix:
        """Rook adjacency of all units cut so far (shared lengths in metres)."""
        if "adjacency" not in self._cache:
            n = self.n_units
            if self._edges:
                r, c, d = (np.concatenate(x) for x in zip(*self._edges, strict=True))
            else:
                r = c = np.array([], dtype=np.int64)
                d = np.array([])
            self._cache["adjacency"] = sparse.csr_matrix(
                (np.r_[d, d], (np.r_[r, c], np.r_[c, r])), shape=(n, n)
            )
        return self._cache["adjacency"]

    def units(self) -> Units:
        return Units(
            geometry=self.geometry,
            households=self.households,
            block=self.block,
            community=self.grid,
            building_unit=self.b_unit,
        )


def _blocks_in_grids(
    geoms: np.ndarray, owners: np.ndarray, faces: np.ndarray | None, *, sliver: float = 10.0
) -> gpd.GeoDataFrame:
    """Street faces cut by the grid boundaries (the grids themselves without faces);
    ``community_id`` holds the owner grid of each block. Slivers under ``sliver`` m²
    join the piece of the same grid they share most boundary with."""
    if faces is None:
        parts, idx = shapely.get_parts(geoms, return_index=True)
    else:
        g, f = shapely.STRtree(faces).query(geoms, predicate="intersects")
        try:
            pieces = shapely.intersection(faces[f], geoms[g])
        except shapely.errors.GEOSException:
            pieces = shapely.intersection(faces[f], geoms[g], grid_size=1e-3)
        parts, j = shapely.get_parts(pieces, return_index=True)
        idx = g[j]
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    parts, idx = parts[keep], idx[keep]
    parts, idx = _absorb_slivers(parts, idx, sliver)
    return gpd.GeoDataFrame(
        {"block_id": np.arange(len(parts)), "community_id": np.asarray(owners)[idx]},
        geometry=parts,
    )


def _absorb_slivers(
    parts: np.ndarray, owner: np.ndarray, min_area: float
) -> tuple[np.ndarray, np.ndarray]:
    """Union pieces smaller than ``min_area`` into the neighbouring piece of the same
    owner that shares most boundary with them (kept as they are when there is none)."""
    small = np.flatnonzero(shapely.area(parts) < min_area)
    if not len(small):
        return parts, owner
    parts = parts.copy()
    tree = shapely.STRtree(parts)
    gone = np.zeros(len(parts), dtype=bool)
    for i in small:
        cand = [
            int(j)
            for j in tree.query(parts[i], predicate="intersects")
            if j != i and owner[j] == owner[i] and not gone[j]
        ]
        if not cand:
            continue
        shared = shapely.length(shapely.intersection(shapely.boundary(parts[i]), parts[cand]))
        j = cand[int(np.argmax(shared))]
        if shared.max() <= 0:
            continue
        merged = shapely.union(parts[j], parts[i])
        if merged.geom_type == "Polygon":
            parts[j], gone[i] = merged, True
    return parts[~gone], owner[~gone]


def solve(
    store: UnitStore,
    gadj: sparse.csr_matrix,
    bad: np.ndarray,
    *,
    band: Band,
    max_rings: int,
    attempts: int,
    seed: int,
    max_region: int = 16,
) -> tuple[np.ndarray, int, int]:
    """Redraw a region around each grid out of band; returns (labels of the store's
    units, regions redrawn, widest ring used)."""
    units = _Labels(store, band)
    next_id = len(store.built)
    rng = np.random.default_rng(seed)
    regions, widest = 0, 0
    options = {"max_rings": max_rings, "attempts": attempts, "max_region": max_region}
    for g in sorted((int(g) for g in bad), key=lambda g: -units.excess_of(g)):
        units.grow([g])
        if not (units.labels == g).any() or units.excess_of(g) <= 1e-9:
            continue  # merged into another grid, or fixed by an earlier region
        best = _best_region(units, gadj, g, rng=rng, **options)
        failed = _no_gain(best, units.labels, store, band)
        if failed is not None:
            if _join_empty(g, units, store, gadj):
                regions += 1
            else:
                log.info("grid %d: %s", g, failed)
            continue
        _, local, nodes, ring = best
        w = store.households[nodes].astype(float)
        units.labels, next_id = _commit(units.labels, nodes, local, w, next_id)
        regions += 1
        widest = max(widest, ring)
    return units.labels, regions, widest


class _Labels:
    """The label of each unit of a :class:`UnitStore` while regions are redrawn."""

    def __init__(self, store: UnitStore, band: Band) -> None:
        self.store = store
        self.band = band
        self.n = len(store.built)
        self.labels = np.array([], dtype=np.int64)

    def grow(self, grids: Any) -> np.ndarray:
        """Cut ``grids`` into units; new units keep their grid's label."""
        self.store.ensure(grids)
        if len(self.labels) < self.store.n_units:
            self.labels = np.r_[self.labels, self.store.grid[len(self.labels) :]]
        return self.labels

    def excess_of(self, label: int) -> float:
        """:func:`excess` of grid ``label`` (from its buildings while it is uncut)."""
        store = self.store
        if label < self.n and not store.built[label]:
            w = store.hh[store.bgrid == label]
        else:
            w = store.households[self.labels == label]
        top = np.array([w.max(initial=0)], dtype=float)
        return float(excess(np.array([w.sum()], dtype=float), top, self.band)[0])


_Best = tuple[tuple[int, float, float, int], np.ndarray, np.ndarray, int]


def _best_region(
    units: _Labels,
    gadj: sparse.csr_matrix,
    g: int,
    *,
    max_rings: int,
    attempts: int,
    max_region: int,
    rng: np.random.Generator,
) -> _Best | None:
    """Best redraw (score, labels, units, ring) of a region grown around grid ``g``, or None."""
    store, band = units.store, units.band
    dist = csgraph.shortest_path(gadj, unweighted=True, indices=g)
    region = [g]
    best = None
    while True:
        units.grow(store.grid[np.isin(units.labels, region)])
        nodes = np.flatnonzero(np.isin(units.labels, region))
        w = store.households[nodes].astype(float)
        ring = int(dist[np.unique(store.grid[nodes])].max())
        if _divisible(w, band):
            found = _redraw_region(units, nodes, w, attempts=attempts, rng=rng)
            log.debug(
                "grid %d: region of %d grids (ring %d), best redraw %s",
                g,
                len(region),
                ring,
                None if found is None else found[0],
            )
            if found is not None and (best is None or found[0] < best[0]):
                best = (*found, nodes, ring)
            if best is not None and best[0][0] == 0:
                break
        if len(region) >= max_region:
            break
        h = _next_neighbour(units, gadj, region, nodes, w, dist=dist, max_rings=max_rings)
        if h is None:
            break
        region.append(h)
    return best


def _redraw_region(
    units: _Labels, nodes: np.ndarray, w: np.ndarray, *, attempts: int, rng: np.random.Generator
) -> tuple[tuple[int, float, float, int], np.ndarray] | None:
    """:func:`_redraw` of the region made of the units ``nodes``."""
    store = units.store
    sub = store.adjacency[nodes][:, nodes].tocsr()
    return _redraw(units.labels[nodes], w, sub, store.block[nodes], units.band, attempts, rng)


def _next_neighbour(
    units: _Labels,
    gadj: sparse.csr_matrix,
    region: list[int],
    nodes: np.ndarray,
    w: np.ndarray,
    *,
    dist: np.ndarray,
    max_rings: int,
) -> int | None:
    """The neighbour (label) bringing the region's households nearest a divisible total."""
    store, band = units.store, units.band
    near = np.unique(gadj[np.unique(store.grid[nodes])].indices)
    near = near[dist[near] <= max_rings]
    units.grow(near)
    labels = units.labels
    nb = [int(h) for h in np.unique(labels[np.isin(store.grid, near)]) if h not in region]
    if not nb:
        return None
    fits = []
    for h in nb:
        wh = store.households[labels == h].astype(float)
        t = float(w.sum() + wh.sum())
        k = band.parts_for(t)
        fits.append((not _divisible(np.r_[w, wh], band), abs(t / k - band.target), h))
    return min(fits)[2]


def _no_gain(best: _Best | None, labels: np.ndarray, store: UnitStore, band: Band) -> str | None:
    """Why the region's best redraw is not taken (none, or no better), None when it is."""
    if best is None:
        return "no region around it divides into the band"
    score, _, nodes, _ = best
    w = store.households[nodes].astype(float)
    before = float(_part_off(pd.factorize(labels[nodes])[0], w, band).sum())
    if score[0] > 0 and score[1] >= before - 1e-9:
        return "no redraw of the region around it improves it"
    return None


def _join_empty(g: int, units: _Labels, store: UnitStore, gadj) -> bool:
    """A grid left holding nothing whose land no region divides into the band joins
    the neighbouring grid of its community it shares most boundary with (no grid
    nobody lives in, and no worker for it); returns whether it did."""
    row = gadj[g]
    if store.households[units.labels == g].sum() > 0 or not row.nnz:
        return False
    order = row.indices[np.argsort(-row.data, kind="stable")]
    labels = units.grow(order[:1])  # the neighbour cut into units: a longer array
    host = labels[store.grid == order[0]]
    if not len(host):
        return False
    labels[labels == g] = np.bincount(host).argmax()
    log.info("grid %d holds no households: joined its neighbour", g)
    return True


def _redraw(
    old: np.ndarray,
    w: np.ndarray,
    sub: sparse.csr_matrix,
    blocks: np.ndarray,
    band: Band,
    attempts: int,
    rng: np.random.Generator,
) -> tuple[tuple[int, float, float, int], np.ndarray] | None:
    """Best redraw of a region: (score, local labels) or None; score = (grids out of
    band, total distance from the band, households moved, units moved).

    The old grids adjusted in place come first; fresh partitions are tried only when
    that leaves a grid out of band.
    """

    def score(lab: np.ndarray) -> tuple[int, float, float, int]:
        off = _part_off(pd.factorize(lab)[0], w, band)
        moved = match(old, lab, w) != old
        return (
            int((off > 1e-9).sum()),
            round(float(off.sum()), 6),
            float(w[moved].sum()),
            int(moved.sum()),
        )

    best = None
    lab = _in_place(old, w, sub, band, rng)
    if lab is not None:
        best = (score(lab), lab)
        log.debug("  in place: %s", best[0])
        if best[0][0] == 0:
            return best
    for _ in range(attempts):
        seed = int(rng.integers(2**31))
        lab = partition_graph(w, sub, band=band, blocks=blocks, random_state=seed)
        sc = score(lab)
        log.debug("  fresh partition: %s", sc)
        if best is None or sc < best[0]:
            best = (sc, lab)
    return best


def _in_place(
    old: np.ndarray,
    w: np.ndarray,
    adj: sparse.csr_matrix,
    band: Band,
    rng: np.random.Generator,
) -> np.ndarray | None:
    """The old grids adjusted: split the heaviest or merge the lightest until the count
    fits the region's households, then move single units across boundaries."""
    lab = pd.factorize(old)[0].astype(np.int64)
    total = float(w.sum())
    k = band.parts_for(total)
    for _ in range(4 * k + 4):
        pw = np.bincount(lab, weights=w)
        m = len(pw)
        if m < k:  # split the heaviest part
            p = int(np.argmax(pw))
            idx = np.flatnonzero(lab == p)
            kk = min(max(2, band.parts_for(pw[p])), k - m + 1)
            sub = adj[idx][:, idx].tocsr()
            if csgraph.connected_components(sub, directed=False)[0] > 1 or len(idx) < kk:
                return None
            local = split_component(sub, w[idx], kk, band=band, rng=rng, attempts=10)
            lab[idx[local > 0]] = m + local[local > 0] - 1
        elif m > k:  # merge the lightest part into its lightest neighbour
            p = int(np.argmin(pw))
            idx = np.flatnonzero(lab == p)
            nb = np.setdiff1d(np.unique(lab[adj[idx].indices]), [p])
            if not len(nb):
                return None
            q = int(nb[np.argmin(pw[nb])])
            lab[idx] = q
            lab = pd.factorize(lab)[0].astype(np.int64)
        else:
            break
    return move_units(lab, w, adj, band=band)


def match(old: np.ndarray, new: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Relabel ``new`` parts with the ``old`` label they share most households with
    (an optimal one-to-one assignment); unmatched parts get labels −1, −2 …

    >>> match(np.array([7, 7, 7, 7]), np.array([0, 0, 0, 1]), np.array([100, 100, 50, 50.0]))
    array([ 7,  7,  7, -2])
    """
    o_ids, o = np.unique(old, return_inverse=True)
    n_ids, nn = np.unique(new, return_inverse=True)
    share = np.zeros((len(n_ids), len(o_ids)))
    np.add.at(share, (nn, o), w + 1e-3)  # units count a little: ties among empty units
    rows, cols = linear_sum_assignment(-share)
    out_of = -(np.arange(len(n_ids)) + 1)
    ok = share[rows, cols] > 0
    out_of[rows[ok]] = o_ids[cols[ok]]
    return out_of[nn]


def _commit(
    labels: np.ndarray, nodes: np.ndarray, local: np.ndarray, w: np.ndarray, next_id: int
) -> tuple[np.ndarray, int]:
    """Write a region's redraw into ``labels``: matched parts keep the old label, the
    others take new labels from ``next_id``."""
    mapped = match(labels[nodes], local, w)
    fresh = np.unique(mapped[mapped < 0])
    for f in fresh[::-1]:  # −1 first: new ids in order of the parts
        mapped[mapped == f] = next_id
        next_id += 1
    labels = labels.copy()
    labels[nodes] = mapped
    return labels, next_id
