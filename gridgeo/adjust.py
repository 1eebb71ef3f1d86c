"""Dynamic adjustment (动态调整): rebalance an existing grid plan after households change.

:func:`rebalance` takes the grids a plan already has (a gridgeo ``grids.gpkg`` or a
city's own polygons with their own ids) and buildings carrying **new** household
figures, and redraws only what must change:

1. every building goes to the grid holding most of it (the nearest grid when it lies
   outside all of them), and each grid's households are counted anew;
2. grids outside the band ``target`` ± ``tolerance`` trigger a redraw; dedicated,
   rural and ``constrained`` grids (their ``grid_type`` / ``constrained`` columns) are
   left as they are, and a building that alone exceeds the band is a grid of its own
   (its grid is out of band only by the households beside it);
3. around each grid out of band, a **region** grows one neighbouring grid at a time
   (of the same community, not across barriers, at most ``max_rings`` rings away),
   taking the neighbour that brings its households nearest a total that divides into
   parts inside the band. Whenever it does divide, the region is cut into units (street
   blocks inside the grids when streets are given, pieces around each building where a
   block is heavy, see :mod:`gridgeo.units`) and redrawn: first the old grids adjusted
   in place (the heavy one split, the light one merged, then single units moved across
   boundaries with :func:`gridgeo.engine.rebalance`), and when that leaves a grid out
   of band, fresh spanning-tree partitions (:func:`gridgeo.engine.partition_graph`);
   the redraw with the fewest grids out of band, then the fewest households moved,
   wins, and the region stops growing once every grid in it is in band;
4. new grids are matched to old ones by the households they share (an optimal
   assignment): a matched grid keeps its id and code, the others are new and take free
   ids and free code numbers (:func:`gridgeo.codes.assign_codes`).

Every grid outside the redrawn regions keeps its boundary (the very same polygon when
the plan is in a metric CRS, else its reprojection), its id and its code. The result reports which grids were kept, reshaped, split or
merged, which are new, the share of buildings and households that changed grid, and
the land that changed grid as a layer for a before/after map.

Examples
--------
Four grids of 300 households; the two western ones double:

>>> import geopandas as gpd
>>> from shapely import box
>>> grids = gpd.GeoDataFrame(
...     {"grid_id": ["A", "B", "C", "D"]},
...     geometry=[box(x, y, x + 100, y + 100) for y in (100, 0) for x in (0, 100)],
...     crs=3857,
... )
>>> xy = [(x + dx, y + dy) for x in (0, 100) for y in (0, 100)
...       for dx in (10, 41, 73) for dy in (12, 63)]
>>> bld = gpd.GeoDataFrame(
...     {"households": [50] * 24},
...     geometry=[box(x, y, x + 17, y + 23) for x, y in xy],
...     crs=3857,
... )
>>> bld.loc[bld.geometry.centroid.x < 100, "households"] += 50
>>> r = rebalance(grids, bld, households_column="households", target=300)
>>> r.grids[["grid_id", "households", "status"]].values.tolist()
[['A', 300, 'split'], ['B', 300, 'kept'], ['C', 300, 'split'], ['D', 300, 'kept'], ['N001', 300, 'new'], ['N002', 300, 'new']]
>>> r.figures["buildings_moved"], r.figures["out_of_band_after"]
(6, 0)
>>> r.grids.geometry[1] is grids.geometry[1]  # a kept grid keeps its very polygon
True
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._adjust_regions import UnitStore, cut_edges, excess, grid_adjacency, solve
from ._errors import InputError
from ._validate import POLYGONAL, check_column, check_fraction, check_layer, check_positive
from .blocks import NON_CUTTING, assign_to_polygons
from .constraints import BARRIER_STREETS, barrier_lines
from .crs import metric_crs, to_metric
from .engine import Band
from .households import HouseholdOptions, building_households
from .plan import Plan, dissolve_units

__all__ = ["Rebalance", "rebalance"]

log = logging.getLogger(__name__)

#: Grid types exempt from the household band (they are kept as they are).
EXEMPT_TYPES = frozenset({"dedicated", "rural", "street_front"})


@dataclass
class Rebalance:
    """The outcome of :func:`rebalance`.

    Attributes
    ----------
    grids : GeoDataFrame
        The plan after: ``grid_id``, ``code`` (when codes are kept or assigned),
        ``community_id``, ``households``, ``buildings``, ``area_m2``, ``deviation``,
        ``indivisible``, ``status`` (kept, reshaped, split, new), ``sources`` (the old
        grids a changed grid took land from) and the polygon, in ``crs``.
    before : GeoDataFrame
        The input grids with their households under the new figures and ``status``
        (kept, reshaped, split, merged) and ``now_in`` (the grids their land is in now).
    buildings : GeoDataFrame
        Every building with ``grid_before``, ``grid_id``, ``households`` and ``moved``.
    diff : GeoDataFrame
        Land that changed grid: ``from_grid``, ``to_grid``, ``households``,
        ``buildings``, ``area_m2``.
    figures : dict
        See :meth:`summary`.
    target, tolerance : float
    """

    grids: gpd.GeoDataFrame
    before: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    diff: gpd.GeoDataFrame
    figures: dict[str, Any]
    target: float
    tolerance: float
    units: gpd.GeoDataFrame | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def crs(self):
        """The metric CRS of the computation (the plan's own when it is metric)."""
        return self.grids.crs

    @property
    def plan(self) -> Plan:
        """The plan after, as a :class:`gridgeo.Plan` (summary, maps, files)."""
        empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=self.crs), crs=self.crs)
        return Plan(
            grids=self.grids,
            buildings=self.buildings,
            units=self.units if self.units is not None else empty,
            blocks=empty,
            target=self.target,
            tolerance=self.tolerance,
            seconds=self.figures.get("seconds", 0.0),
        )

    def summary(self) -> dict[str, Any]:
        """Figures as a JSON-ready dict.

        ``grids_before``, ``grids_after``, ``kept``, ``reshaped``, ``split``,
        ``merged``, ``new``; ``out_of_band_before`` / ``out_of_band_after`` (grids
        outside the band that a redraw may fix — not exempt, not indivisible);
        ``exempt_grids``, ``indivisible_grids``; ``buildings``, ``buildings_moved``,
        ``buildings_moved_share``, ``households``, ``households_moved``,
        ``households_moved_share``; ``buildings_outside`` (in no grid: given to the
        nearest); ``regions`` (redrawn regions), ``rings`` (the widest ring used);
        ``target``, ``tolerance``, ``seconds``.
        """
        return dict(self.figures)

    def describe(self, *, lang: str = "en") -> str:
        """The figures in a few plain sentences (``lang`` "en" or "zh")."""
        f = self.figures
        if lang == "zh":
            return (
                f"动态调整：{f['grids_before']} 个网格中 {f['out_of_band_before']} 个超出 "
                f"{f['band_lower']:g}–{f['band_upper']:g} 户范围；重划 {f['regions']} 个片区后共 "
                f"{f['grids_after']} 个网格（保留 {f['kept']}、调整 {f['reshaped']}、拆分 "
                f"{f['split']}、合并 {f['merged']}、新增 {f['new']}），超出范围的剩 "
                f"{f['out_of_band_after']} 个。{f['buildings_moved']} 栋楼"
                f"（{f['buildings_moved_share']:.1%}）、{f['households_moved']} 户"
                f"（{f['households_moved_share']:.1%}）改属其他网格。"
            )
        return (
            f"Rebalance: {f['out_of_band_before']} of {f['grids_before']} grids were outside "
            f"{f['band_lower']:g}–{f['band_upper']:g} households. {f['regions']} regions redrawn: "
            f"{f['grids_after']} grids ({f['kept']} kept, {f['reshaped']} reshaped, {f['split']} "
            f"split, {f['merged']} merged, {f['new']} new); {f['out_of_band_after']} still out "
            f"of band. {f['buildings_moved']} buildings ({f['buildings_moved_share']:.1%}) and "
            f"{f['households_moved']} households ({f['households_moved_share']:.1%}) changed grid."
        )

    def explore(self, *, lang: str = "en", **kwargs: Any):
        """Before/after map: the grids after, the old boundaries of changed grids, and
        the land that changed grid (see :func:`gridgeo.render.grid_map`)."""
        from .render import Overlay, grid_map

        zh = lang == "zh"
        changed = self.before[self.before["status"] != "kept"]
        overlays = {
            ("调整前网格" if zh else "Grids before (changed)"): Overlay(
                changed[["grid_id", "status", "households", "geometry"]],
                color="#444444",
                fill_opacity=0.0,
            ),
            ("改属网格的区域" if zh else "Land that changed grid"): Overlay(
                self.diff, color="#d62728", fill_opacity=0.35, dashed=False
            ),
        }
        kwargs.setdefault("target", self.target)
        return grid_map(self.grids, overlays=overlays, lang=lang, **kwargs)

    def to_files(
        self, out_dir: str | Path, *, map_html: bool = True, lang: str = "en"
    ) -> dict[str, Path]:
        """Write ``grids.gpkg`` (layers grids, buildings, grids_before, diff),
        ``grids.geojson``, ``rebalance.json``, ``changes.csv`` (one row per old grid,
        UTF-8 with BOM) and ``rebalance.html``; returns their paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "gpkg": out / "grids.gpkg",
            "geojson": out / "grids.geojson",
            "json": out / "rebalance.json",
            "csv": out / "changes.csv",
        }
        if paths["gpkg"].exists():
            paths["gpkg"].unlink()
        for name, layer in (
            ("grids", self.grids),
            ("buildings", self.buildings),
            ("grids_before", self.before),
            ("diff", self.diff),
        ):
            _storable(layer).to_file(paths["gpkg"], layer=name, driver="GPKG", engine="pyogrio")
        _storable(self.grids).to_crs(4326).to_file(
            paths["geojson"], driver="GeoJSON", engine="pyogrio"
        )
        paths["json"].write_text(
            json.dumps(self.summary(), indent=2, ensure_ascii=False), encoding="utf-8"
        )
        table = pd.DataFrame(self.before.drop(columns=self.before.geometry.name))
        headers = {
            "grid_id": "网格编号 Grid ID",
            "code": "网格编码 Code",
            "community_id": "所属社区 Community",
            "households": "现户数 Households now",
            "status": "调整 Change",
            "now_in": "现属网格 Now in",
        }
        table = table[[c for c in headers if c in table.columns]].rename(columns=headers)
        table.to_csv(paths["csv"], index=False, encoding="utf-8-sig")
        if map_html:
            from .render import save_map

            paths["map"] = save_map(self.explore(lang=lang), out / "rebalance.html")
        log.info("rebalance written to %s", out)
        return paths


def rebalance(
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    *,
    streets: gpd.GeoDataFrame | None = None,
    barriers: gpd.GeoDataFrame | None = None,
    barrier_streets: frozenset[str] | set[str] = BARRIER_STREETS,
    households_column: str | None = None,
    grid_id: str | None = None,
    community_column: str | None = None,
    code_column: str | None = "code",
    target: float | None = None,
    tolerance: float = 0.1,
    band: tuple[float, float] | None = None,
    crs: Any = None,
    max_rings: int = 3,
    attempts: int = 4,
    random_state: int = 0,
    split_above: float | None = None,
    non_cutting: frozenset[str] | set[str] = NON_CUTTING,
    household_options: HouseholdOptions | None = None,
    codes: dict[str, Any] | None = None,
) -> Rebalance:
    """Redraw the grids of an existing plan that new household figures put out of band.

    Parameters
    ----------
    grids : GeoDataFrame
        The plan's grid polygons (any CRS): a gridgeo ``grids`` layer or a city's own.
    buildings : GeoDataFrame
        Building footprints (any CRS) with the new households.
    streets : GeoDataFrame, optional
        Street lines: new boundaries then follow streets where they can (街巷定界).
    barriers : GeoDataFrame, optional
        Hard barriers no redrawn grid may cross (railways, rivers, water: the
        ``barriers`` layer of :func:`gridgeo.read_osm`), as in :func:`gridgeo.partition`.
    barrier_streets : set of str, default none
        Street classes no redrawn grid may cross either.
    households_column : str, optional
        Column of ``buildings`` with households; default: estimated from footprints
        (see :func:`gridgeo.building_households`).
    grid_id : str, optional
        Id column of ``grids`` (default: ``grid_id`` when present, else the row index).
    community_column : str, optional
        Community of each grid (default: ``community_id`` when present, else one
        community); regions never cross communities.
    code_column : str or None, default "code"
        Column of existing grid codes, kept for the grids that remain.
    target, tolerance : float
        Households per grid and accepted relative deviation. Default target: the one
        the plan was drawn for (from its ``households`` and ``deviation`` columns), else
        300.
    band : (float, float), optional
        Accepted households per grid as a range; overrides ``target`` and ``tolerance``.
    crs : int, str or pyproj.CRS, optional
        Metric CRS to compute in; default: the grids' CRS when it is metric, else the
        CGCS2000 zone / UTM zone (see :func:`gridgeo.crs.metric_crs`).
    max_rings : int, default 3
        A region takes in grids at most this many rings of neighbours away from the
        grid out of band (and 16 grids at most).
    attempts : int, default 4
        Fresh partitions tried per region (besides adjusting the old grids in place).
    random_state : int, default 0
        Seed: the same input and seed give the same result.
    split_above : float, optional
        Blocks holding more households than this are cut into one piece per building
        (default: half the target, as :func:`gridgeo.partition`).
    non_cutting : set of str
        Street classes that do not cut blocks.
    household_options : HouseholdOptions, optional
        Defaults for estimating households from footprints.
    codes : dict, optional
        Options of :func:`gridgeo.codes.assign_codes` (``admin_code``, ``street_code``,
        ``community_codes``, ``scheme``, ``object_class``): every grid then gets a
        code; existing codes (``code_column``) are kept and new grids take free
        numbers. Without it, existing codes are carried over and new grids take free
        numbers under their community's prefix when there are existing codes.

    Returns
    -------
    Rebalance

    Raises
    ------
    InputError
        On unusable layers or options (with how to fix them).
    """
    t0 = time.perf_counter()
    grids = check_layer(grids, "grids", geom_types=POLYGONAL)
    buildings = check_layer(buildings, "buildings", geom_types=POLYGONAL)
    if households_column is not None:
        check_column(buildings, households_column, "buildings")
    band_ = _band(grids, target, tolerance, band)
    if max_rings < 0 or attempts < 0:
        raise InputError("max_rings and attempts must be 0 or more")
    ids = _grid_ids(grids, grid_id)
    comm_col = community_column or ("community_id" if "community_id" in grids.columns else None)
    if comm_col is not None:
        check_column(grids, comm_col, "grids")
    comm = grids[comm_col].to_numpy() if comm_col else np.zeros(len(grids), dtype=np.int64)
    metric = plan_metric_crs(grids, buildings, crs)
    grids_m = to_metric(grids, metric)
    buildings_m = to_metric(buildings, metric)
    streets_m = barriers_m = None
    if streets is not None:
        streets_m = to_metric(check_layer(streets, "streets"), metric)
    if barriers is not None and len(barriers):
        barriers_m = to_metric(check_layer(barriers, "barriers"), metric)
    lines = barrier_lines(streets_m, barriers_m, barrier_streets=barrier_streets)
    zone = None
    if len(lines):
        zone = shapely.buffer(shapely.union_all(lines), 1.0, cap_style="flat")
        shapely.prepare(zone)
    hh = building_households(
        buildings_m, column=households_column, options=household_options
    ).to_numpy(dtype=np.int64)

    # 1. buildings into the existing grids, new counts
    ggeom = grids_m.geometry.values
    bgeom = buildings_m.geometry.values
    bgrid = assign_to_polygons(bgeom, ggeom)
    outside = bgrid < 0
    if outside.any():
        bgrid[outside] = shapely.STRtree(ggeom).nearest(bgeom[outside])
        log.warning("%d buildings lie in no grid: each counted in the nearest", int(outside.sum()))
    n = len(grids)
    W = np.bincount(bgrid, weights=hh, minlength=n)
    heaviest = np.zeros(n)
    np.maximum.at(heaviest, bgrid, hh)
    exempt = _exempt(grids_m)
    free = ~exempt
    bad = np.flatnonzero(free & (excess(W, heaviest, band_) > 1e-9))
    log.info("%d of %d grids out of band %g–%g", len(bad), n, band_.lower, band_.upper)

    # 2. a region around each bad grid, grown ring by ring, cut into units on demand
    gadj = cut_edges(ggeom, grid_adjacency(ggeom, comm, free), zone)
    store = UnitStore(
        ggeom,
        bgeom,
        bgrid,
        hh,
        streets_m,
        split_above=band_.target / 2 if split_above is None else split_above,
        piece=(band_.upper - band_.lower) / 2,
        non_cutting=non_cutting,
        zone=zone,
    )
    labels, regions, widest = solve(
        store,
        gadj,
        bad,
        band=band_,
        max_rings=max_rings,
        attempts=attempts,
        seed=random_state,
    )
    units = store.units() if store.n_units else None
    unit_grid = store.grid
    new_bgrid = bgrid.copy()
    if store.n_units:
        new_bgrid[store.b_index] = labels[store.b_unit]
    result = _assemble(
        grids_m,
        ids,
        comm,
        buildings_m,
        hh,
        bgrid,
        new_bgrid,
        units,
        unit_grid,
        labels,
        band_,
        exempt,
        code_column,
        codes,
    )
    f = result.figures
    f.update(
        {
            "out_of_band_before": len(bad),
            "exempt_grids": int(exempt.sum()),
            "buildings_outside": int(outside.sum()),
            "regions": regions,
            "rings": widest,
            "seconds": round(time.perf_counter() - t0, 3),
        }
    )
    if units is not None:
        result.units = gpd.GeoDataFrame(
            {"grid_before": ids[unit_grid], "households": units.households},
            geometry=units.geometry,
            crs=metric,
        )
    log.info(result.describe())
    return result


# --------------------------------------------------------------------------- inputs


def _band(grids, target, tolerance, band) -> Band:
    if band is not None:
        lo, hi = (check_positive(v, "band limit") for v in band)
        if lo >= hi:
            msg = f"band must be (lower, upper) with lower < upper, got {band!r}"
            raise InputError(msg)
        return Band((lo + hi) / 2, lo, hi)
    tolerance = check_fraction(tolerance, "tolerance")
    if target is None:
        target = _plan_target(grids) or 300.0
    return Band.around(check_positive(target, "target"), tolerance)


def _plan_target(grids: gpd.GeoDataFrame) -> float | None:
    """The target a gridgeo plan was drawn for: households ÷ (1 + deviation)."""
    if not {"households", "deviation"} <= set(grids.columns):
        return None
    hh = pd.to_numeric(grids["households"], errors="coerce").to_numpy(dtype=float)
    dev = pd.to_numeric(grids["deviation"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(hh) & np.isfinite(dev) & (hh > 0) & (dev > -1)
    return round(float(np.median(hh[ok] / (1 + dev[ok]))), 6) if ok.any() else None


def _grid_ids(grids: gpd.GeoDataFrame, column: str | None) -> np.ndarray:
    if column is None and "grid_id" in grids.columns:
        column = "grid_id"
    if column is None:
        return np.asarray([str(i) for i in grids.index], dtype=object)
    check_column(grids, column, "grids")
    ids = grids[column]
    if ids.isna().any() or ids.duplicated().any():
        dup = ids[ids.duplicated() | ids.isna()].iloc[0]
        msg = f"grids: id {dup!r} in column {column!r} is missing or repeated; grid ids must be unique (or pick another column with grid_id=)"
        raise InputError(msg)
    return ids.to_numpy(dtype=object)


def plan_metric_crs(grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, crs: Any = None):
    """``crs`` when given, else the grids' own CRS when it is in metres, else
    :func:`gridgeo.crs.metric_crs` of both layers (so a metric plan keeps its polygons)."""
    if crs is None and grids.crs.is_projected:
        unit = grids.crs.axis_info[0].unit_name if grids.crs.axis_info else ""
        if unit in ("metre", "meter"):
            return grids.crs
    return metric_crs([grids, buildings], crs=crs)


def _exempt(grids: gpd.GeoDataFrame) -> np.ndarray:
    """Grids kept whatever their households: dedicated, rural, constrained."""
    out = np.zeros(len(grids), dtype=bool)
    if "grid_type" in grids.columns:
        out |= grids["grid_type"].astype("string").fillna("").isin(list(EXEMPT_TYPES)).to_numpy()
    if "constrained" in grids.columns:
        out |= grids["constrained"].fillna(False).astype(bool).to_numpy()
    return out


# --------------------------------------------------------------------------- outputs


def _assemble(
    grids_m,
    ids,
    comm,
    buildings_m,
    hh,
    bgrid,
    new_bgrid,
    units,
    unit_grid,
    labels,
    band,
    exempt,
    code_column,
    code_options,
) -> Rebalance:
    n = len(grids_m)
    crs = grids_m.crs
    n_labels = max(n, int(labels.max()) + 1 if len(labels) else 0)
    changed_units = labels != unit_grid if len(labels) else np.zeros(0, dtype=bool)
    touched = np.zeros(n_labels, dtype=bool)
    if changed_units.any():
        touched[labels[changed_units]] = True
        touched[unit_grid[changed_units]] = True
    alive = np.zeros(n_labels, dtype=bool)
    alive[:n] = True
    if len(labels):
        in_units = np.zeros(n_labels, dtype=bool)
        in_units[unit_grid] = True
        now = np.zeros(n_labels, dtype=bool)
        now[labels] = True
        alive[:n] &= ~in_units[:n] | now[:n]
        alive[n:] = now[n:]
    # geometry of changed grids from their units
    geom = np.empty(n_labels, dtype=object)
    geom[:n] = grids_m.geometry.values
    redo = np.flatnonzero(touched & alive)
    if len(redo):
        mask = np.isin(labels, redo)
        lab_ids, polys = dissolve_units(units.geometry[mask], labels[mask])
        geom[lab_ids] = polys
    # old grid → status, and where its land went
    src_share = np.zeros((0, 0))
    status_before = np.where(alive[:n], np.where(touched[:n], "reshaped", "kept"), "merged").astype(
        object
    )
    sources: dict[int, list[int]] = {}
    if changed_units.any():
        w_u = units.households.astype(float) + 1e-3
        pair = pd.DataFrame({"old": unit_grid, "new": labels, "w": w_u})
        flows = pair.groupby(["new", "old"])["w"].sum().reset_index()
        for new_id, grp in flows.groupby("new"):
            grp = grp.sort_values("w", ascending=False)
            sources[int(new_id)] = [int(x) for x in grp["old"]]
            if new_id >= n:  # a new grid: its main source was split
                main = int(grp["old"].iloc[0])
                if status_before[main] != "merged":
                    status_before[main] = "split"
        src_share = flows
    keep = np.flatnonzero(alive)
    fresh = keep[keep >= n]
    name = np.empty(n_labels, dtype=object)
    name[:n] = ids
    name[fresh] = _free_ids(ids, len(fresh))
    W = np.bincount(new_bgrid, weights=hh, minlength=n_labels)
    nb = np.bincount(new_bgrid, minlength=n_labels)
    heavy = np.zeros(n_labels)
    np.maximum.at(heavy, new_bgrid, hh)
    community = np.empty(n_labels, dtype=object)
    community[:n] = comm
    if len(labels):  # a new grid is in the community of its first unit's old grid
        lab, first = np.unique(labels, return_index=True)
        community[lab[lab >= n]] = comm[unit_grid[first[lab >= n]]]
    status_after = np.full(len(keep), "new", dtype=object)
    status_after[keep < n] = status_before[keep[keep < n]]
    out = gpd.GeoDataFrame(
        {
            "grid_id": name[keep],
            "community_id": community[keep],
            "households": W[keep].astype(np.int64),
            "buildings": nb[keep].astype(np.int64),
        },
        geometry=list(geom[keep]),
        crs=crs,
    )
    # keep the plan's own descriptive columns for grids that remain
    extra = [
        c
        for c in ("grid_type", "zone_kind", "zone_name", "worker", "phone")
        if c in grids_m.columns
    ]
    for c in extra:
        vals = np.full(len(keep), None, dtype=object)
        old_rows = keep < n
        vals[old_rows] = grids_m[c].to_numpy()[keep[old_rows]]
        if c == "grid_type":
            vals[~old_rows] = "basic"
        out[c] = vals
    out["area_m2"] = out.area
    out["deviation"] = out["households"] / band.target - 1
    out["indivisible"] = heavy[keep] > band.upper + 1e-9
    out["status"] = status_after
    out["sources"] = [
        ",".join(str(ids[s]) for s in sources.get(int(i), [])) if status_after[j] != "kept" else ""
        for j, i in enumerate(keep)
    ]
    # codes: kept where they exist, free numbers for new grids
    has_codes = code_column is not None and code_column in grids_m.columns
    if has_codes or code_options:
        prev = np.full(len(keep), None, dtype=object)
        if has_codes:
            old_codes = grids_m[code_column].to_numpy()
            prev[keep < n] = old_codes[keep[keep < n]]
            retired = [str(c) for c in old_codes[~alive[:n]] if c is not None]
        else:
            retired = []
        out["code"] = _codes(out, prev, retired, code_options)
        cols = ["grid_id", "code"] + [c for c in out.columns if c not in ("grid_id", "code")]
        out = out[cols]
    # old grids, with their households under the new figures
    before = gpd.GeoDataFrame(
        {
            "grid_id": ids,
            "community_id": comm,
            "households": np.bincount(bgrid, weights=hh, minlength=n)[:n].astype(np.int64),
        },
        geometry=grids_m.geometry.values,
        crs=crs,
    )
    if has_codes:
        before.insert(1, "code", grids_m[code_column].to_numpy())
    before["status"] = status_before
    now_in = [""] * n
    if len(src_share):
        went = src_share.sort_values("w", ascending=False).groupby("old")["new"].apply(list)
        for old_id, news in went.items():
            now_in[int(old_id)] = ",".join(str(name[x]) for x in news if alive[x])
    before["now_in"] = [now_in[i] if status_before[i] != "kept" else str(ids[i]) for i in range(n)]
    # buildings and the land that changed grid
    moved = new_bgrid != bgrid
    bcols = [
        c
        for c in buildings_m.columns
        if c not in ("grid_id", "grid_before", "moved", "households", buildings_m.geometry.name)
    ]
    b_out = gpd.GeoDataFrame(
        buildings_m[bcols].assign(
            grid_before=ids[bgrid], grid_id=name[new_bgrid], households=hh, moved=moved
        ),
        geometry=buildings_m.geometry.values,
        crs=crs,
    )
    diff = _diff(units, unit_grid, labels, name, ids, crs, bgrid, new_bgrid, hh)
    kept_mask = status_before == "kept"
    off_after = excess(out["households"].to_numpy(dtype=float), heavy[keep], band) > 1e-9
    exempt_after = np.zeros(len(keep), dtype=bool)
    exempt_after[keep < n] = exempt[keep[keep < n]]
    off_after &= ~exempt_after
    figures = {
        "target": band.target,
        "tolerance": (band.upper - band.lower) / (band.upper + band.lower),
        "band_lower": band.lower,
        "band_upper": band.upper,
        "grids_before": n,
        "grids_after": len(out),
        "kept": int(kept_mask.sum()),
        "reshaped": int((status_before == "reshaped").sum()),
        "split": int((status_before == "split").sum()),
        "merged": int((status_before == "merged").sum()),
        "new": int((status_after == "new").sum()),
        "out_of_band_after": int(off_after.sum()),
        "indivisible_grids": int(out["indivisible"].sum()),
        "buildings": len(b_out),
        "buildings_moved": int(moved.sum()),
        "buildings_moved_share": float(moved.mean()) if len(moved) else 0.0,
        "households": int(hh.sum()),
        "households_moved": int(hh[moved].sum()),
        "households_moved_share": float(hh[moved].sum() / hh.sum()) if hh.sum() else 0.0,
    }
    return Rebalance(
        grids=out,
        before=before,
        buildings=b_out,
        diff=diff,
        figures=figures,
        target=band.target,
        tolerance=figures["tolerance"],
    )


def _codes(out, prev, retired, options) -> pd.Series:
    from .codes import assign_codes

    opts = dict(options or {})
    if not opts:  # carry the existing scheme over
        known = [str(p) for p in prev if p is not None and str(p).strip()]
        if not known:
            return pd.Series([None] * len(out), index=out.index, dtype=object)
        lengths = {len(k) for k in known}
        opts["scheme"] = "cjt349" if lengths == {20} else "db11"
        if opts["scheme"] == "cjt349":
            opts["object_class"] = known[0][:6]
    return assign_codes(out, previous=pd.Series(prev, index=out.index), retired=retired, **opts)


def _diff(units, unit_grid, labels, name, ids, crs, bgrid, new_bgrid, hh) -> gpd.GeoDataFrame:
    cols = {"from_grid": [], "to_grid": [], "households": [], "buildings": [], "area_m2": []}
    if units is None or not (labels != unit_grid).any():
        return gpd.GeoDataFrame(cols, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    ch = np.flatnonzero(labels != unit_grid)
    key = unit_grid[ch] * (labels.max() + 1) + labels[ch]
    k_ids, polys = dissolve_units(units.geometry[ch], key)
    frm = k_ids // (labels.max() + 1)
    to = k_ids % (labels.max() + 1)
    moved = new_bgrid != bgrid
    pairs = pd.DataFrame({"f": bgrid[moved], "t": new_bgrid[moved], "hh": hh[moved]})
    agg = pairs.groupby(["f", "t"])["hh"].agg(["sum", "size"])
    idx = pd.MultiIndex.from_arrays([frm, to])
    got = agg.reindex(idx, fill_value=0)
    return gpd.GeoDataFrame(
        {
            "from_grid": ids[frm],
            "to_grid": name[to],
            "households": got["sum"].to_numpy(dtype=np.int64),
            "buildings": got["size"].to_numpy(dtype=np.int64),
            "area_m2": shapely.area(polys),
        },
        geometry=polys,
        crs=crs,
    )


def _free_ids(existing: np.ndarray, n: int) -> list[Any]:
    """``n`` ids not in ``existing``, in its pattern (G0033 after G0032; 41 after 40).

    >>> _free_ids(np.array(["G0001", "G0032"], dtype=object), 2)
    ['G0033', 'G0034']
    >>> _free_ids(np.array([3, 7]), 1)
    [8]
    """
    if n == 0:
        return []
    values = list(existing)
    if values and all(isinstance(v, (int, np.integer)) for v in values):
        top = max(int(v) for v in values)
        return [top + i + 1 for i in range(n)]
    text = [str(v) for v in values]
    parsed = [re.fullmatch(r"(.*?)(\d+)", t) for t in text]
    if parsed and all(parsed):
        prefixes = {m.group(1) for m in parsed}
        if len(prefixes) == 1:
            prefix = prefixes.pop()
            width = max(len(m.group(2)) for m in parsed)
            top = max(int(m.group(2)) for m in parsed)
            return [f"{prefix}{top + i + 1:0{width}d}" for i in range(n)]
    taken = set(text)
    out, i = [], 1
    while len(out) < n:
        cand = f"N{i:03d}"
        if cand not in taken:
            out.append(cand)
        i += 1
    return out


def _storable(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Columns a GeoPackage can store: objects that are not strings become strings
    (used for the rebalance and audit outputs)."""
    gdf = gdf.copy()
    for col in gdf.columns:
        if col != gdf.geometry.name and gdf[col].dtype == object:
            gdf[col] = gdf[col].map(lambda v: v if v is None or isinstance(v, str) else str(v))
    return gdf
