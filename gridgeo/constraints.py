"""Planning rules beyond the street blocks: hard barriers, dedicated grids, the rural rule.

- **Hard barriers** (railways, rivers and water, and street classes the planner
  chooses, such as motorways): they cut blocks, and no grid joins units across them
  (slivers of land between barriers too light for a grid excepted: :func:`join_pockets`).
- **Dedicated grids** (专属网格): campuses, hospitals, schools, industrial parks, parks —
  each zone becomes one grid of its own, whatever its households.
- **Rural rule**: a rural community (an attribute, or a statistical urban–rural code
  starting with 2) becomes one grid per village unless it holds more than a cap.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from ._errors import InputError
from ._validate import POLYGONAL, check_column, check_layer
from .engine.tree import within_groups

__all__ = [
    "BARRIER_STREETS",
    "DEDICATED_KINDS",
    "NOT_BARRIERS",
    "attach_orphans",
    "barrier_lines",
    "cut_barrier_edges",
    "dedicated_zones",
    "join_pockets",
    "rural_flags",
    "zone_of",
]

log = logging.getLogger(__name__)

#: Street classes that no grid crosses by default: none. Every street bounds blocks and
#: cuts along streets are preferred, but urban expressways (tagged motorway in OSM) are
#: mostly elevated with roads and crossings beneath, so a grid may take in land on both
#: sides when balance needs it. Give ``barrier_streets={"motorway"}`` (or trunk…) where
#: they do cut neighbourhoods apart.
BARRIER_STREETS: frozenset[str] = frozenset()

#: OSM railway/waterway values that are not barriers although tagged so.
NOT_BARRIERS = frozenset({"tram", "funicular", "miniature", "stream", "ditch", "drain"})

#: OSM land-use values that make a dedicated grid by default (``landuse`` layer of
#: :func:`gridgeo.read_osm`: its ``value`` column).
DEDICATED_KINDS = frozenset({"university", "college", "school", "hospital", "industrial", "park"})


def barrier_lines(
    streets: gpd.GeoDataFrame | None,
    barriers: gpd.GeoDataFrame | None,
    *,
    barrier_streets: frozenset[str] | set[str] = BARRIER_STREETS,
) -> np.ndarray:
    """Lines no grid may cross: barrier lines, edges of barrier areas, barrier streets.

    Barriers marked ``tunnel`` (e.g. subways) are left out: they do not divide the
    ground; so are OSM values in :data:`NOT_BARRIERS` (trams run in the street, streams
    and ditches are stepped over). Inputs must share one metric CRS.
    """
    parts = []
    if barriers is not None and len(barriers):
        b = barriers
        if "tunnel" in b.columns:
            b = b[~b["tunnel"].fillna(False).astype(bool)]
        if "value" in b.columns:  # OSM barriers: trams run in the street, they divide nothing
            b = b[~b["value"].astype("string").isin(list(NOT_BARRIERS)).fillna(False).to_numpy()]
        g = b.geometry.values
        poly = np.isin(shapely.get_type_id(g), [3, 6])
        parts.append(np.where(poly, shapely.boundary(g), g))
    if streets is not None and len(streets) and barrier_streets and "highway" in streets.columns:
        sel = streets["highway"].astype("string").isin(list(barrier_streets)).to_numpy()
        if "tunnel" in streets.columns:
            tunnel = streets["tunnel"].astype("string").fillna("no").str.lower()
            sel &= tunnel.isin(["no", "false", "0", ""]).to_numpy()
        parts.append(streets.geometry.values[sel])
    if not parts:
        return np.array([], dtype=object)
    lines = shapely.get_parts(np.concatenate(parts))
    return lines[~shapely.is_empty(lines)]


def cut_barrier_edges(
    geometry: np.ndarray,
    adj: sparse.csr_matrix,
    lines: np.ndarray,
    *,
    tolerance: float = 1.0,
) -> tuple[sparse.csr_matrix, int]:
    """Remove adjacency edges whose shared boundary runs along a barrier.

    An edge goes when more than half of the boundary the two units share lies within
    ``tolerance`` metres of a barrier line. A group of units left without weight and
    without households is given to a neighbouring grid afterwards
    (:func:`attach_orphans`).

    Returns the new adjacency and the number of edges removed.
    """
    if len(lines) == 0 or adj.nnz == 0:
        return adj, 0
    tree = shapely.STRtree(lines)
    near = np.zeros(len(geometry), dtype=bool)
    near[tree.query(geometry, predicate="dwithin", distance=tolerance)[0]] = True
    coo = sparse.triu(adj, k=1).tocoo()
    cand = near[coo.row] & near[coo.col]
    i, j = coo.row[cand], coo.col[cand]
    shared = shapely.intersection(shapely.boundary(geometry[i]), shapely.boundary(geometry[j]))
    length = shapely.length(shared)
    # the shared boundary runs along a barrier when most of it lies within the tolerance:
    # sampled at a quarter, half and three quarters of its length (lines only; any other
    # shape of shared boundary is measured exactly)
    linear = np.isin(shapely.get_type_id(shared), [1, 5]) & (length > 0)
    hits = np.zeros(len(shared))
    for f in (0.25, 0.5, 0.75):
        pts = shapely.line_interpolate_point(shared[linear], f, normalized=True)
        hit = np.zeros(int(linear.sum()), dtype=bool)
        hit[tree.query(pts, predicate="dwithin", distance=tolerance)[0]] = True
        hits[linear] += hit
    on_barrier = hits >= 2
    other = np.flatnonzero(~linear & (length > 0))
    if len(other):
        zone = shapely.buffer(
            shapely.union_all(
                lines[tree.query(shared[other], predicate="dwithin", distance=tolerance)[1]]
            ),
            tolerance,
        )
        on_barrier[other] = (
            shapely.length(shapely.intersection(shared[other], zone)) > 0.5 * length[other]
        )
    cut = (length > 0) & on_barrier
    if not cut.any():
        return adj, 0
    drop = sparse.csr_matrix((np.ones(cut.sum()), (i[cut], j[cut])), shape=adj.shape)
    drop = drop + drop.T
    kept = adj - adj.multiply(drop > 0)
    kept.eliminate_zeros()
    kept = kept.tocsr()
    n_cut = int(cut.sum())
    log.info("barriers: %d unit adjacencies cut", n_cut)
    return kept, n_cut


def attach_orphans(
    labels: np.ndarray,
    weights: np.ndarray,
    full: sparse.csr_matrix,
    cut: sparse.csr_matrix,
    groups: np.ndarray,
    communities: np.ndarray | None = None,
) -> np.ndarray:
    """Give weightless pieces cut off by barriers to a grid they touch.

    A railway corridor or a strip of water between barriers holds nobody; on its own it
    would be an empty grid. Each such piece (a connected group of ``cut`` without weight)
    takes the label of a unit it shares a boundary with in ``full`` (the adjacency before
    barriers were cut), reached breadth-first from grids with households, so every grid
    stays one piece and no grid joins households across a barrier. The main piece of
    each group (a dedicated zone, a community) keeps its own grid even when empty.
    """
    labels = np.asarray(labels).copy()
    n_comp, comp = csgraph.connected_components(within_groups(cut, groups), directed=False)
    comp_w = np.bincount(comp, weights=weights, minlength=n_comp)
    comp_n = np.bincount(comp, minlength=n_comp)
    # the main piece of each group (most weight, then most units) is never an orphan:
    # an empty dedicated zone or an empty community keeps its own grid
    order = np.lexsort((-comp_n[comp], -comp_w[comp], groups))
    first = order[np.r_[True, groups[order][1:] != groups[order][:-1]]]
    main = np.zeros(n_comp, dtype=bool)
    main[comp[first]] = True
    orphan = (comp_w[comp] == 0) & ~main[comp]
    if not orphan.any():
        return labels
    done = ~orphan
    # first within the group, then within the community (a dedicated zone's grid takes
    # in the land left over beside it: 属地兜底)
    for key in (groups, communities if communities is not None else groups):
        frontier = list(np.flatnonzero(done))
        while frontier:
            nxt = []
            for u in frontier:
                for v in full.indices[full.indptr[u] : full.indptr[u + 1]]:
                    if not done[v] and key[v] == key[u]:
                        done[v] = True
                        labels[v] = labels[u]
                        nxt.append(v)
            frontier = nxt
    log.info(
        "%d weightless units cut off by barriers joined a neighbouring grid",
        int(orphan.sum() - (~done).sum()),
    )
    return labels


def join_pockets(
    labels: np.ndarray,
    weights: np.ndarray,
    full: sparse.csr_matrix,
    cut: sparse.csr_matrix,
    groups: np.ndarray,
    *,
    lower: float,
    upper: float,
    most: float,
) -> np.ndarray:
    """Give grids on slivers of land enclosed by barriers to a grid across the barrier.

    A sliver inside a motorway interchange, or between a railway and a river, may hold a
    handful of households: alone it would be a grid far below the band, yet no grid on
    its side of the barriers can take it in. Such a grid — holding at most ``most``
    (what one grid can take in beyond its target: ``upper − target``) and less than
    ``lower``, with no neighbour of its group in ``cut`` (the adjacency without edges
    across barriers) — joins the neighbouring grid of its group in ``full`` (with edges
    across barriers) that ends nearest the band, when that brings the two together
    nearer the band than apart. Lightest first. Heavier pieces of land stay grids of
    their own (reported as constrained): a barrier is crossed for a sliver, never to
    join two real neighbourhoods. Returns new labels (a joined grid takes its host's).
    """
    labels = np.asarray(labels).copy()
    w = np.asarray(weights, dtype=float)
    n_lab = int(labels.max()) + 1 if len(labels) else 0
    load = np.bincount(labels, weights=w, minlength=n_lab)

    def off(x):
        return np.maximum(0.0, np.maximum(lower - x, x - upper))

    def grid_edges(adj):
        coo = sparse.triu(adj, k=1).tocoo()
        a, b = labels[coo.row], labels[coo.col]
        keep = (a != b) & (groups[coo.row] == groups[coo.col])
        return a[keep], b[keep], coo.data[keep]

    a, b, _ = grid_edges(cut)
    boxed = np.ones(n_lab, dtype=bool)  # no neighbouring grid without crossing a barrier
    boxed[a] = boxed[b] = False
    light = np.flatnonzero(
        boxed & (load < lower) & (load <= most) & (np.bincount(labels, minlength=n_lab) > 0)
    )
    if not len(light):
        return labels
    a, b, length = grid_edges(full)
    shared = sparse.coo_matrix(
        (np.r_[length, length], (np.r_[a, b], np.r_[b, a])), shape=(n_lab, n_lab)
    ).tocsr()
    target = np.arange(n_lab)
    joined = 0
    for g in light[np.argsort(load[light], kind="stable")]:
        row = slice(shared.indptr[g], shared.indptr[g + 1])
        nb, lengths = shared.indices[row], shared.data[row]
        if not len(nb):
            continue
        hosts = _root(target, nb)
        mine = hosts != g  # a lighter pocket that joined this one is no host
        if not mine.any():
            continue
        hosts, lengths = hosts[mine], lengths[mine]
        after = off(load[hosts] + load[g])
        gain = off(load[hosts]) + off(load[g]) - after
        best = np.lexsort((-lengths, after))[0]
        if gain[best] <= 1e-9:
            continue
        h = hosts[best]
        target[g] = h
        load[h] += load[g]
        load[g] = 0
        joined += 1
    if joined:
        labels = _root(target, labels)
        log.info("%d grids on land enclosed by barriers joined a grid across the barrier", joined)
    return labels


def _root(target: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Follow ``target`` from ``x`` until it stops moving."""
    x = np.asarray(x)
    while True:
        nxt = target[x]
        if np.array_equal(nxt, x):
            return x
        x = nxt


def dedicated_zones(
    layer: gpd.GeoDataFrame,
    *,
    kinds: frozenset[str] | set[str] | None = DEDICATED_KINDS,
    min_area: float = 10_000.0,
) -> gpd.GeoDataFrame:
    """Zones that become dedicated grids: ``zone_id``, ``kind``, ``name`` and a polygon.

    Parameters
    ----------
    layer : GeoDataFrame
        Polygons: the ``landuse`` layer of :func:`gridgeo.read_osm` (its ``value``
        column is the OSM value: university, hospital …) or a layer of the planner's own
        with an optional ``kind`` and ``name`` column.
    kinds : set of str, optional
        Values kept (``None`` keeps every polygon — for a planner's own layer).
    min_area : float, default 10000
        Zones smaller than this (m², one hectare) stay part of ordinary grids. Measured in
        a metric CRS chosen for the layer.

    Returns
    -------
    GeoDataFrame in the layer's CRS; overlapping zones are resolved by keeping the
    larger one whole and cutting the smaller.
    """
    layer = check_layer(layer, "dedicated zones", geom_types=POLYGONAL)
    kind = (
        layer["value"]
        if "value" in layer.columns
        else layer.get("kind", pd.Series("dedicated", index=layer.index))
    )
    keep = np.ones(len(layer), dtype=bool)
    if kinds is not None:
        keep &= kind.astype("string").isin(list(kinds)).fillna(False).to_numpy()
    zones = gpd.GeoDataFrame(
        {
            "kind": kind.astype("string").fillna("dedicated").to_numpy()[keep],
            "name": (
                layer["name"] if "name" in layer.columns else pd.Series(None, index=layer.index)
            ).to_numpy()[keep],
        },
        geometry=layer.geometry.values[keep],
        crs=layer.crs,
    )
    if zones.empty:
        return zones.assign(zone_id=np.array([], dtype=np.int64))
    metric = zones.crs if zones.crs.is_projected else zones.estimate_utm_crs()
    area = zones.to_crs(metric).area.to_numpy()
    zones = zones[area >= min_area].iloc[np.argsort(-area[area >= min_area], kind="stable")]
    # larger zones first; each later zone loses what earlier ones hold
    geoms = list(zones.geometry.values)
    for a in range(len(geoms)):
        for b in range(a):
            if (
                geoms[a] is not None
                and geoms[b] is not None
                and shapely.intersects(geoms[a], geoms[b])
            ):
                rest = shapely.difference(geoms[a], geoms[b])
                geoms[a] = None if rest.is_empty or rest.area == 0 else rest
    zones = zones.assign(geometry=geoms)
    zones = zones[zones.geometry.notna()].reset_index(drop=True)
    zones.insert(0, "zone_id", np.arange(len(zones)))
    log.info("%d dedicated zones (%s)", len(zones), ", ".join(sorted(set(zones["kind"]))) or "none")
    return zones


def zone_of(polygons: np.ndarray, zones: gpd.GeoDataFrame | None) -> np.ndarray:
    """Zone id holding each polygon's representative point (−1 outside every zone)."""
    out = np.full(len(polygons), -1, dtype=np.int64)
    if zones is None or len(zones) == 0:
        return out
    pts = shapely.point_on_surface(polygons)
    p, z = shapely.STRtree(zones.geometry.values).query(pts, predicate="within")
    out[p] = zones["zone_id"].to_numpy()[z]
    return out


def rural_flags(boundaries: gpd.GeoDataFrame, column: str) -> np.ndarray:
    """Which communities are rural: a boolean column, or an urban–rural code starting with 2.

    The statistical urban–rural classification codes (城乡分类代码) 111–123 are urban and
    210/220 rural; a column of 12-digit division codes is not such a code and is refused.
    """
    check_column(boundaries, column, "boundaries")
    values = boundaries[column]
    if values.dtype == bool:
        return values.to_numpy()
    text = values.astype("string").str.strip().str.lower()
    if text.isin(["true", "false", "yes", "no", "1", "0", "rural", "urban", "农村", "城镇"]).all():
        return text.isin(["true", "yes", "1", "rural", "农村"]).to_numpy()
    codes = text.str.extract(r"^(\d{3})$")[0]
    if codes.isna().any():
        bad = values[codes.isna()].iloc[0]
        msg = (
            f"boundaries column {column!r} must hold rural flags (true/false) or 3-digit "
            f"urban–rural codes (111…123 urban, 210/220 rural), got {bad!r}"
        )
        raise InputError(msg)
    return codes.str.startswith("2").to_numpy()
