"""The grid plan: grids, the buildings in them, and the figures a planner reads."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from ._errors import InputError
from .metrics import polsby_popper
from .units import _edges, _near_collinear

__all__ = ["Plan", "dissolve_units"]

log = logging.getLogger(__name__)


def _union(geoms: np.ndarray) -> shapely.Geometry:
    """Union of connected units, as one valid Polygon of the units' area.

    Units share edges whose vertices differ by floating-point noise, so an overlay can
    come out in several parts, invalid, or (when GEOS falls back to snapping) a few
    square decimetres off. Candidates, cheapest first: the exact coverage union, a
    plain union, unions on 1 nm and 0.1 µm precision grids, closings by 1 µm and
    0.1 mm, a 1 mm grid. The first single valid polygon within 1 cm² of the units'
    total area wins; failing that, the single polygon closest to it.
    """
    area = shapely.area(geoms).sum()
    tol = max(1e-4, 1e-12 * area)

    def close(eps: float) -> shapely.Geometry:
        plain = shapely.union_all(geoms)
        return shapely.buffer(
            shapely.buffer(plain, eps, join_style="mitre"), -eps, join_style="mitre"
        )

    def candidates():
        for make in (
            lambda: shapely.coverage_union_all(geoms),
            lambda: shapely.union_all(geoms),
            lambda: shapely.union_all(geoms, grid_size=1e-9),
            lambda: shapely.union_all(geoms, grid_size=1e-7),
            lambda: close(1e-6),
            lambda: close(1e-4),
            lambda: shapely.union_all(geoms, grid_size=1e-3),
        ):
            try:
                yield make()
            except shapely.errors.GEOSException:  # GEOS gives up on some precisions
                continue

    best, first = None, None
    for merged in candidates():
        first = first if first is not None else merged
        if not _one_polygon(merged):
            continue
        err = abs(merged.area - area)
        if err <= tol:
            return merged
        if best is None or err < best[0]:
            best = (err, merged)
    return best[1] if best is not None else first


def _one_polygon(geom: shapely.Geometry) -> bool:
    return geom.geom_type == "Polygon" and geom.is_valid


#: Distance (m) within which the dissolve snaps together the vertices of a grid's units,
#: and onto each other's edges, when their shared edges do not match exactly.
_SNAP = 1e-6


def dissolve_units(geometry: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union the units of each label into one polygon.

    Parameters
    ----------
    geometry : ndarray of Polygons
        Units.
    labels : ndarray
        Label (grid) of each unit.

    Returns
    -------
    labels : ndarray
        Each label once, sorted.
    grids : ndarray of shapely geometries
        Union of the units of each label: one valid Polygon of the units' area when the
        units are connected (see :func:`_union`); a lone unit as it is.

    Notes
    -----
    The units of a grid form a polygonal coverage up to rounding noise, so all grids are
    dissolved at once by cancelling the edges two units of a grid share and chaining
    the rest into rings (:func:`_coverage_dissolve`): first as the edges are, then, for
    grids where that fails, after snapping vertices together and onto edges within
    ``_SNAP`` (shared edges whose vertices differ by noise, or that meet a neighbour's
    edge mid-way). A grid whose rings still do not make one valid polygon within 1 cm²
    of the units' area goes through the GEOS ladder of :func:`_union`. Polygons built
    from edges carry no precision grid (a GEOS union keeps its first unit's, if any).
    """
    labels = np.asarray(labels)
    geometry = np.asarray(geometry, dtype=object)
    if not len(labels):
        return labels[:0], np.empty(0, dtype=object)
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.r_[0, np.flatnonzero(sorted_labels[1:] != sorted_labels[:-1]) + 1]
    ends = np.r_[starts[1:], len(order)]
    group = np.repeat(np.arange(len(starts)), ends - starts)
    geoms = geometry[order]
    grids = np.empty(len(starts), dtype=object)
    single = ends - starts == 1
    grids[single] = geoms[starts[single]]
    several = ~single[group]
    if several.any():
        merged = _coverage_dissolve(geoms[several], group[several], len(starts))
        grids[~single] = merged[~single]
    todo = np.flatnonzero(~single & shapely.is_missing(grids))
    for k in todo:
        grids[k] = _union(geoms[starts[k] : ends[k]])
    log.debug(
        "dissolved %d grids: %d single units, %d by edge cancelling, %d by GEOS",
        len(starts),
        int(single.sum()),
        int((~single).sum()) - len(todo),
        len(todo),
    )
    return sorted_labels[starts], grids


def _coverage_dissolve(geometry: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Dissolve a polygonal coverage by group, vectorised over all groups.

    Parameters
    ----------
    geometry : ndarray of Polygons
        Units.
    group : ndarray of int
        Group (``0 .. n_groups - 1``) of each unit.
    n_groups : int
        Number of groups.

    Returns
    -------
    ndarray of object
        Per group, the union as one valid Polygon within 1 cm² of the units' area, or
        None where edge cancelling did not give one.
    """
    out = np.full(n_groups, None, dtype=object)
    edges = _edges(geometry)
    if not len(edges.owner):
        return out
    grp = group[edges.owner]
    # shells anticlockwise, holes clockwise: an edge two units share then runs both ways
    flip = (_ring_area(edges.a, edges.b, edges.ring) < 0) != edges.hole
    frm = np.where(flip, edges.vertex[:, 1], edges.vertex[:, 0])
    to = np.where(flip, edges.vertex[:, 0], edges.vertex[:, 1])
    target = np.bincount(group, weights=shapely.area(geometry), minlength=n_groups)
    keep, bad, outer = _cancel(frm, to, grp, n_groups)
    done = _assemble(edges.points, frm[keep], to[keep], grp[keep], bad, target, out)
    retry = ~done & (np.bincount(group, minlength=n_groups) > 0)
    if retry.any():
        sel = keep & retry[grp]
        points, frm, to, grp = _node(
            edges.points, frm[sel], to[sel], grp[sel], edges.owner[sel], ~outer[sel]
        )
        keep, bad, _ = _cancel(frm, to, grp, n_groups)
        _assemble(points, frm[keep], to[keep], grp[keep], bad | ~retry, target, out)
    return out


def _ring_area(a: np.ndarray, b: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Signed area (anticlockwise positive) of the ring of each edge; edges grouped by ring."""
    new = np.r_[True, ring[1:] != ring[:-1]]
    k = np.cumsum(new) - 1
    o = a[new][k]  # measured from a vertex of the ring, for precision
    cross = (a[:, 0] - o[:, 0]) * (b[:, 1] - o[:, 1]) - (a[:, 1] - o[:, 1]) * (b[:, 0] - o[:, 0])
    return (np.bincount(k, weights=cross) / 2)[k]


def _cancel(
    frm: np.ndarray, to: np.ndarray, grp: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop the edges two units of a group share (run both ways between the same points).

    Returns
    -------
    keep : ndarray of bool
        Edges left (the group's outline, if its units form a coverage).
    bad : ndarray of bool
        Groups with an edge found more than twice or twice the same way (overlaps).
    outer : ndarray of bool
        Edges also found in another group (outline shared with a neighbouring group).
    """
    m = len(frm)
    n_pts = int(max(frm.max(), to.max())) + 1 if m else 1
    key = np.minimum(frm, to) * n_pts + np.maximum(frm, to)
    if n_groups * float(n_pts) ** 2 < 2.0**62:
        order = np.argsort(key * n_groups + grp)
    else:
        order = np.lexsort((grp, key))
    k, g = key[order], grp[order]
    same_key = k[1:] == k[:-1]
    starts = np.flatnonzero(np.r_[True, ~same_key | (g[1:] != g[:-1])])
    size = np.diff(np.r_[starts, m])
    keep = np.ones(m, dtype=bool)
    bad = np.zeros(n_groups, dtype=bool)
    two = starts[size == 2]
    i, j = order[two], order[two + 1]
    opposite = frm[i] == to[j]
    keep[i[opposite]] = keep[j[opposite]] = False
    bad[grp[i[~opposite]]] = True
    bad[g[starts[size > 2]]] = True
    # runs of one edge key spanning several groups (sorted by group within the run)
    key_start = np.flatnonzero(np.r_[True, ~same_key])
    key_end = np.r_[key_start[1:], m] - 1
    spans = g[key_start] != g[key_end]
    outer = np.zeros(m, dtype=bool)
    outer[order] = np.repeat(spans, key_end - key_start + 1)
    return keep, bad, outer


def _assemble(
    points: np.ndarray,
    frm: np.ndarray,
    to: np.ndarray,
    grp: np.ndarray,
    bad: np.ndarray,
    target: np.ndarray,
    out: np.ndarray,
) -> np.ndarray:
    """Chain each group's directed edges into rings and build its polygon.

    A group succeeds when every point starts and ends exactly one of its edges, the rings
    hold exactly one shell (anticlockwise) and the polygon is valid with an area within
    1 cm² of ``target``; its polygon is written to ``out``.

    Returns
    -------
    ndarray of bool
        Groups that succeeded.
    """
    n_groups, n_pts = len(bad), len(points)
    done = np.zeros(n_groups, dtype=bool)
    use = ~bad[grp]
    frm, to, grp = frm[use], to[use], grp[use].astype(np.int64)
    m = len(frm)
    if not m:
        return done
    # successor of each edge: the edge leaving its end point
    k_from, k_to = grp * n_pts + frm, grp * n_pts + to
    order = np.argsort(k_from)
    ks = k_from[order]
    pos = np.minimum(np.searchsorted(ks, k_to), m - 1)
    succ = order[pos]
    broken = np.zeros(n_groups, dtype=bool)
    broken[grp[ks[pos] != k_to]] = True  # nothing leaves the end point
    broken[grp[order[1:][ks[1:] == ks[:-1]]]] = True  # two edges leave one point
    broken[grp[np.bincount(succ, minlength=m) > 1]] = True  # two edges enter one point
    use = ~broken[grp]
    index = np.cumsum(use) - 1
    frm, to, grp, succ = frm[use], to[use], grp[use], index[succ[use]]
    m = len(frm)
    if not m:
        return done
    # rings: label each edge with the first edge of its cycle, rank it along the cycle
    n_iter = int(np.ceil(np.log2(np.bincount(grp).max() + 1)))
    head, jump = np.arange(m), succ
    for _ in range(n_iter):
        head = np.minimum(head, head[jump])
        jump = jump[jump]
    last = head[succ] == succ
    rest = np.where(last, 0, 1)
    jump = np.where(last, np.arange(m), succ)
    for _ in range(n_iter):
        rest = rest + rest[jump]
        jump = jump[jump]
    is_head = head == np.arange(m)
    cycle = (np.cumsum(is_head) - 1)[head]
    a, b = points[frm], points[to]
    o = points[frm[head]]
    cross = (a[:, 0] - o[:, 0]) * (b[:, 1] - o[:, 1]) - (a[:, 1] - o[:, 1]) * (b[:, 0] - o[:, 0])
    area = np.bincount(cycle, weights=cross) / 2
    cycle_grp = grp[is_head]
    shells = np.bincount(cycle_grp, weights=area > 0, minlength=n_groups)
    flat = np.bincount(cycle_grp, weights=area == 0, minlength=n_groups)
    fine = (shells == 1) & (flat == 0)
    use = np.flatnonzero(fine[grp])
    if not len(use):
        return done
    # shell first; rings walked backwards: shells clockwise, holes anticlockwise, as GEOS
    order = use[np.lexsort((rest[use], cycle[use], area[cycle[use]] < 0, grp[use]))]
    c = cycle[order]
    new_ring = np.r_[True, c[1:] != c[:-1]]
    rings = shapely.linearrings(points[frm[order]], indices=np.cumsum(new_ring) - 1)
    ring_grp = grp[order][new_ring]
    new_poly = np.r_[True, ring_grp[1:] != ring_grp[:-1]]
    polys = shapely.polygons(rings, indices=np.cumsum(new_poly) - 1)
    g = ring_grp[new_poly]
    tol = np.maximum(1e-4, 1e-12 * target[g])
    ok = shapely.is_valid(polys) & (np.abs(shapely.area(polys) - target[g]) <= tol)
    out[g[ok]] = polys[ok]
    done[g[ok]] = True
    return done


def _node(
    points: np.ndarray,
    frm: np.ndarray,
    to: np.ndarray,
    grp: np.ndarray,
    owner: np.ndarray,
    search: np.ndarray,
    tol: float = _SNAP,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Snap the edges of each group's units onto each other where they run together.

    Of two edges (among ``search``) of different units of a group running within ``tol``
    of each other, an end point of one within ``tol`` of an end point of the other is
    merged with it, and one lying along the other edge is inserted into it as a vertex.

    Returns
    -------
    points, frm, to, grp
        Point coordinates (ids unchanged; merged points take one id) and the new edges.
    """
    a, b = points[frm], points[to]
    length = np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1])
    look = np.flatnonzero(search)
    s, t = _near_collinear(a[look], b[look], length[look], owner[look], tol=tol, group=grp[look])
    s, t = look[np.r_[s, t]], look[np.r_[t, s]]
    # each end point q of edge t, seen from edge s
    s, q = np.r_[s, s], np.r_[frm[t], to[t]]
    ux, uy = (b[s, 0] - a[s, 0]) / length[s], (b[s, 1] - a[s, 1]) / length[s]
    dx, dy = points[q, 0] - a[s, 0], points[q, 1] - a[s, 1]
    along = dx * ux + dy * uy
    near = np.abs(dx * uy - dy * ux) <= tol
    at_start = near & (np.hypot(dx, dy) <= tol)
    at_end = near & (np.hypot(points[q, 0] - b[s, 0], points[q, 1] - b[s, 1]) <= tol)
    inside = near & ~at_start & ~at_end & (along > 0) & (along < length[s])
    # merge points: connected components of "within tol" links
    rep = np.arange(len(points))
    link = np.r_[q[at_start], q[at_end]], np.r_[frm[s[at_start]], to[s[at_end]]]
    linked, node = np.unique(np.r_[link[0], link[1]], return_inverse=True)
    if len(linked):
        half = len(link[0])
        graph = sparse.coo_matrix(
            (np.ones(half), (node[:half], node[half:])), shape=(len(linked), len(linked))
        )
        _, comp = csgraph.connected_components(graph, directed=False)
        first = np.full(comp.max() + 1, len(linked))
        np.minimum.at(first, comp, np.arange(len(linked)))
        rep[linked] = linked[first[comp]]
    # split edges at the points inserted into them
    frm, to = rep[frm], rep[to]
    split = np.zeros(len(frm), dtype=bool)
    split[s[inside]] = True
    whole = np.flatnonzero(~split)
    cut = np.flatnonzero(split)
    edge = np.r_[cut, cut, s[inside]]
    param = np.r_[np.zeros(len(cut)), length[cut], along[inside]]
    point = np.r_[frm[cut], to[cut], rep[q[inside]]]
    order = np.lexsort((param, edge))
    edge, point = edge[order], point[order]
    cont = np.flatnonzero(edge[1:] == edge[:-1])
    new_frm = np.r_[frm[whole], point[cont]]
    new_to = np.r_[to[whole], point[cont + 1]]
    new_edge = np.r_[whole, edge[cont]]
    real = new_frm != new_to
    return points, new_frm[real], new_to[real], grp[new_edge[real]]


@dataclass
class Plan:
    """A grid plan.

    Attributes
    ----------
    grids : GeoDataFrame
        One row per grid: ``grid_id``, ``community_id``, ``households``, ``buildings``,
        ``area_m2``, ``deviation`` (households ÷ target − 1) and a Polygon, in ``crs``.
    buildings : GeoDataFrame
        Every input building with ``grid_id``, ``block_id`` and ``households``.
    units : GeoDataFrame
        The units the grids were assembled from (blocks and pieces of blocks).
    blocks : GeoDataFrame
        Street blocks.
    target, tolerance : float
        Households per grid aimed at, and the accepted relative deviation.
    study_area : shapely geometry, optional
        The area the grids cover (union of the communities, or the hull of the data).
    boundary_on_streets : float, optional
        Share of the boundary length between grids that follows streets or community
        lines (the rest runs inside blocks that had to be cut).
    seconds : float
        Time taken to draw the plan.
    """

    grids: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame | None
    units: gpd.GeoDataFrame
    blocks: gpd.GeoDataFrame
    target: float
    tolerance: float
    study_area: shapely.Geometry | None = None
    boundary_on_streets: float | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def crs(self):
        """The metric CRS the plan was computed in."""
        return self.grids.crs

    def summary(self) -> dict[str, Any]:
        """Figures of the plan as a JSON-ready dict.

        Keys: ``target``, ``tolerance``, ``n_grids``, ``households``, ``buildings``,
        ``min``/``median``/``max`` households per grid, ``within_10pct``,
        ``within_20pct``, ``within_25pct`` (share of grids within ±10/20/25 % of the
        target), ``within_tolerance``, ``indivisible_grids`` (grids over the upper bound
        because one building alone is), ``constrained_grids`` (basic grids on a piece
        of land, enclosed by barriers or community lines, whose households no number of
        grids can share inside the band), ``grids_across_barriers`` (grids that took in
        a pocket of land, enclosed by barriers, too light for a grid of its own: see
        :func:`gridgeo.constraints.join_pockets`), ``dedicated_grids``, ``rural_grids``,
        ``within_10pct_basic``, ``within_25pct_basic`` and ``within_band_basic`` (the
        same shares among basic grids — not dedicated, rural, indivisible or
        constrained — on the balanced weight),
        ``basic_min`` / ``basic_median`` / ``basic_max`` (their households),
        ``empty_grids``, ``band`` (lower, upper), ``out_of_band_grids``,
        ``out_of_band_without_reason``, ``grids_by_reason`` (see
        :data:`gridgeo.reasons.REASONS`), ``multi_part_grids`` (grids that took in an
        exclave of their community), ``notes`` (what the rules did, in words),
        ``households_by_building_class`` and ``buildings_by_building_class`` (see
        :mod:`gridgeo.building_class`), ``polsby_popper_mean`` / ``polsby_popper_p10`` (compactness),
        ``boundary_on_streets``, ``area_km2``, ``crs``, ``seconds``.
        """
        hh = self.grids["households"].to_numpy(dtype=float)
        dev = np.abs(hh / self.target - 1)
        eps = 1e-9
        pp = polsby_popper(self.grids.geometry.values)
        indivisible = (
            self.grids["indivisible"].to_numpy(dtype=bool)
            if "indivisible" in self.grids
            else np.zeros(len(hh), dtype=bool)
        )
        basic = (
            (self.grids["grid_type"] == "basic").to_numpy()
            if "grid_type" in self.grids
            else np.ones(len(hh), dtype=bool)
        )
        balanced = self.grids["weight"].to_numpy(dtype=float) if "weight" in self.grids else hh
        constrained = (
            self.grids["constrained"].to_numpy(dtype=bool)
            if "constrained" in self.grids
            else np.zeros(len(hh), dtype=bool)
        )
        plain = basic & ~indivisible & ~constrained
        divisible_dev = np.abs(balanced / self.target - 1)[plain]
        basic_hh = hh[plain] if plain.any() else np.zeros(1)
        return {
            "target": self.target,
            "tolerance": self.tolerance,
            "n_grids": len(self.grids),
            "households": int(hh.sum()),
            "buildings": 0 if self.buildings is None else len(self.buildings),
            "communities": int(self.grids["community_id"].nunique()),
            "min": int(hh.min()) if len(hh) else 0,
            "median": float(np.median(hh)) if len(hh) else 0.0,
            "max": int(hh.max()) if len(hh) else 0,
            "within_10pct": float(np.mean(dev <= 0.10 + eps)) if len(hh) else 0.0,
            "within_20pct": float(np.mean(dev <= 0.20 + eps)) if len(hh) else 0.0,
            "within_25pct": float(np.mean(dev <= 0.25 + eps)) if len(hh) else 0.0,
            "within_tolerance": float(np.mean(dev <= self.tolerance + eps)) if len(hh) else 0.0,
            "indivisible_grids": int(indivisible.sum()),
            "constrained_grids": int((constrained & basic).sum()),
            "grids_across_barriers": int(self.grids["across_barrier"].sum())
            if "across_barrier" in self.grids
            else 0,
            "dedicated_grids": int((self.grids["grid_type"] == "dedicated").sum())
            if "grid_type" in self.grids
            else 0,
            "rural_grids": int((self.grids["grid_type"] == "rural").sum())
            if "grid_type" in self.grids
            else 0,
            "within_10pct_basic": float(np.mean(divisible_dev <= 0.10 + eps))
            if len(divisible_dev)
            else 1.0,
            "within_25pct_basic": float(np.mean(divisible_dev <= 0.25 + eps))
            if len(divisible_dev)
            else 1.0,
            "within_band_basic": float(np.mean(divisible_dev <= self.tolerance + 1e-6))
            if len(divisible_dev)
            else 1.0,
            "basic_min": int(basic_hh.min()),
            "basic_median": float(np.median(basic_hh)),
            "basic_max": int(basic_hh.max()),
            "empty_grids": int((hh == 0).sum()),
            **self._reasons(balanced),
            **self._by_building_class(),
            "polsby_popper_mean": float(pp.mean()) if len(pp) else 0.0,
            "polsby_popper_p10": float(np.percentile(pp, 10)) if len(pp) else 0.0,
            "boundary_on_streets": self.boundary_on_streets,
            "area_km2": float(self.grids.area.sum() / 1e6),
            "crs": self.crs.to_string() if self.crs is not None else None,
            "seconds": round(self.seconds, 3),
        }

    def _reasons(self, balanced: np.ndarray) -> dict[str, Any]:
        """Grids outside the band, why (see :data:`gridgeo.reasons.REASONS`), and how
        many lie in several parts; the plan's notes."""
        lower = round(self.target * (1 - self.tolerance), 6)
        upper = round(self.target * (1 + self.tolerance), 6)
        off = (balanced < lower - 1e-6) | (balanced > upper + 1e-6)
        reason = (
            self.grids["reason"]
            if "reason" in self.grids
            else pd.Series(None, index=self.grids.index)
        )
        counts = reason[off].value_counts()
        parts = (
            self.grids["parts"] if "parts" in self.grids else pd.Series(1, index=self.grids.index)
        )
        return {
            "band": [lower, upper],
            "out_of_band_grids": int(off.sum()),
            "out_of_band_without_reason": int((off & reason.isna().to_numpy()).sum()),
            "grids_by_reason": {str(k): int(v) for k, v in counts.items()},
            "multi_part_grids": int((parts.to_numpy() > 1).sum()),
            "notes": list(self.notes),
        }

    def _by_building_class(self) -> dict[str, Any]:
        """Households and buildings per building class (see :mod:`gridgeo.building_class`)."""
        b = self.buildings
        if b is None or "building_class" not in b.columns:
            return {}
        from .building_class import CLASSES

        by = b.groupby(b["building_class"].astype(str))["households"]
        hh, n = by.sum(), by.size()
        return {
            "households_by_building_class": {c: int(hh.get(c, 0)) for c in CLASSES},
            "buildings_by_building_class": {c: int(n.get(c, 0)) for c in CLASSES},
        }

    def describe(self, *, lang: str = "en") -> str:
        """A short plain-language summary (``lang`` "en" or "zh").

        Household figures speak of basic grids: dedicated and rural grids are exempt
        from the target by rule, and grids holding one building that alone exceeds the
        band are counted apart.
        """
        s = self.summary()
        n_basic = s["n_grids"] - s["dedicated_grids"] - s["rural_grids"]
        lo, hi = s["band"]
        if lang == "zh":
            kinds = f"基础网格 {n_basic} 个"
            if s["dedicated_grids"]:
                kinds += f"、专属网格 {s['dedicated_grids']} 个"
            if s["rural_grids"]:
                kinds += f"、村网格 {s['rural_grids']} 个"
            extra = (
                f"（{s['indivisible_grids']} 个网格含单栋超限楼宇，不计入。）"
                if s["indivisible_grids"]
                else ""
            )
            if s["constrained_grids"]:
                extra += f"（{s['constrained_grids']} 个网格所在地块被障碍或社区界线围住，户数无法均分，不计入。）"
            if s["grids_across_barriers"]:
                extra += (
                    f"（{s['grids_across_barriers']} 个网格并入了障碍另一侧户数过少的零星地块。）"
                )
            kinds = f"（{kinds}）" if n_basic < s["n_grids"] else ""
            return (
                f"共划分 {s['n_grids']} 个网格{kinds}，覆盖 {s['households']} 户、"
                f"{s['buildings']} 栋楼，面积 {s['area_km2']:.2f} 平方公里。目标每格 {s['target']:g} 户："
                f"基础网格每格 {s['basic_min']}–{s['basic_max']} 户（中位数 {s['basic_median']:g}），"
                f"{s['within_band_basic']:.0%} 在 {lo:g}–{hi:g} 户范围内。{extra}用时 {s['seconds']:.1f} 秒。"
            )
        kinds = f"{n_basic} basic"
        if s["dedicated_grids"]:
            kinds += f", {s['dedicated_grids']} dedicated"
        if s["rural_grids"]:
            kinds += f", {s['rural_grids']} rural"
        extra = (
            f" ({s['indivisible_grids']} grids holding one building that alone exceeds the band are not counted.)"
            if s["indivisible_grids"]
            else ""
        )
        kinds = f" ({kinds})" if n_basic < s["n_grids"] else ""
        if s["constrained_grids"]:
            extra += (
                f" ({s['constrained_grids']} grids lie on land enclosed by barriers or community lines"
                " whose households cannot be shared within the band: not counted.)"
            )
        if s["grids_across_barriers"]:
            extra += (
                f" ({s['grids_across_barriers']} grids took in a pocket of land across a barrier"
                " too light for a grid of its own.)"
            )
        return (
            f"{s['n_grids']} grids{kinds} cover {s['households']} households in {s['buildings']} "
            f"buildings over {s['area_km2']:.2f} km². Target {s['target']:g} households per grid: "
            f"basic grids hold {s['basic_min']}–{s['basic_max']} (median {s['basic_median']:g}); "
            f"{s['within_band_basic']:.0%} are within the band ({lo:g}–{hi:g}).{extra} "
            f"Took {s['seconds']:.1f} s."
        )

    def explore(self, **kwargs: Any):
        """An interactive folium map of the plan (see :func:`gridgeo.render.grid_map`)."""
        from .render import grid_map  # render depends on plan, not the reverse

        kwargs.setdefault("target", self.target)
        return grid_map(self.grids, buildings=self.buildings, **kwargs)

    def _repr_html_(self) -> str:
        return self.explore()._repr_html_()

    def to_files(
        self, out_dir: str | Path, *, map_html: bool = True, lang: str = "en"
    ) -> dict[str, Path]:
        """Write ``grids.gpkg`` (layers grids, buildings), ``grids.geojson``, ``summary.json``
        and ``map.html`` into ``out_dir``; returns their paths. (Publish into a
        PostgreSQL/PostGIS schema with :func:`gridgeo.write_plan`.)"""
        from .io import is_db_url

        if is_db_url(out_dir):
            msg = (
                "to_files writes a folder; publish to a database with gridgeo.write_plan(plan, url)"
            )
            raise InputError(msg)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "gpkg": out / "grids.gpkg",
            "geojson": out / "grids.geojson",
            "summary": out / "summary.json",
        }
        if paths["gpkg"].exists():
            paths["gpkg"].unlink()
        self.grids.to_file(paths["gpkg"], layer="grids", driver="GPKG", engine="pyogrio")
        if self.buildings is not None:
            b = _plain_columns(self.buildings)
            b.to_file(paths["gpkg"], layer="buildings", driver="GPKG", engine="pyogrio")
        self.grids.to_crs(4326).to_file(paths["geojson"], driver="GeoJSON", engine="pyogrio")
        from .staffing import StaffingRules, staffing_table, write_staffing_csv

        table = staffing_table(
            self.grids, buildings=self.buildings, rules=StaffingRules(target=self.target)
        )
        paths["staffing"] = write_staffing_csv(table, out / "staffing.csv")
        paths["summary"].write_text(
            json.dumps(self.summary(), indent=2, ensure_ascii=False), encoding="utf-8"
        )
        if map_html:
            from .render import save_map

            paths["map"] = save_map(self.explore(lang=lang), out / "map.html")
        log.info("plan written to %s", out)
        return paths


def _plain_columns(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Columns GeoPackage can store: objects that are not strings become strings."""
    gdf = gdf.copy()
    for col in gdf.columns:
        if col == gdf.geometry.name:
            continue
        if gdf[col].dtype == object:
            gdf[col] = gdf[col].map(lambda v: v if v is None or isinstance(v, str) else str(v))
        elif isinstance(gdf[col].dtype, pd.CategoricalDtype):
            gdf[col] = gdf[col].astype(str)
    return gdf
