"""The outcome of a rebalance: :class:`Rebalance`, and how it is assembled from the
redrawn regions (ids, statuses, codes, the land that changed grid)."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..engine.refine import off_band
from ..io import storable, write_layers
from ..plan import Plan, dissolve_units
from ..reasons import REASONS, first_reason
from .regions import excess

__all__ = ["Rebalance", "assemble"]

log = logging.getLogger(__name__)


@dataclass
class Rebalance:
    """The outcome of :func:`rebalance`.

    Attributes
    ----------
    grids : GeoDataFrame
        The plan after: ``grid_id``, ``code`` (when codes are kept or assigned),
        ``community_id``, ``households``, ``buildings``, ``area_m2``, ``deviation``,
        ``indivisible`` (one building over the band, too little beside it for a grid),
        ``parts`` (polygons), ``reason`` (why a grid lies outside the band, see
        :data:`gridgeo.reasons.REASONS`), ``status`` (kept, reshaped, split, new),
        ``sources`` (the old grids a changed grid took land from) and the polygon, in
        ``crs``.
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
        ``out_of_band_grids``, ``out_of_band_without_reason``, ``grids_by_reason``,
        ``multi_part_grids``, ``empty_grids``; ``target``, ``tolerance``, ``seconds``.
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
        from ..render import Overlay, grid_map

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
        layers = {
            "grids": self.grids,
            "buildings": self.buildings,
            "grids_before": self.before,
            "diff": self.diff,
        }
        write_layers(paths["gpkg"], layers)
        storable(self.grids).to_crs(4326).to_file(
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
            from ..render import save_map

            paths["map"] = save_map(self.explore(lang=lang), out / "rebalance.html")
        log.info("rebalance written to %s", out)
        return paths


# --------------------------------------------------------------------------- outputs


def assemble(
    grids_m,
    ids,
    comm,
    buildings_m,
    hh,
    bgrid,
    store,
    labels,
    band,
    exempt,
    code_column,
    code_options,
    *,
    weight: np.ndarray | None = None,
    locked: np.ndarray | None = None,
    land: np.ndarray | None = None,
) -> Rebalance:
    """The result of a rebalance: the old grid of every building (``bgrid``), the
    units the regions were cut into (``store``, a :class:`~gridgeo.adjust.regions.UnitStore`)
    and their new grids (``labels``); ``weight``: what was balanced per building, when
    not households; ``locked`` the old grids kept as the planner locked them, ``land``
    the piece of land of every old grid (between barriers, within its community)."""
    units = store.units() if store.n_units else None
    new_bgrid = bgrid.copy()
    if store.n_units:
        new_bgrid[store.b_index] = labels[store.b_unit]
    fate = _fate(grids_m, ids, units, store.grid, labels)
    balanced = hh if weight is None else weight
    out, heavy, loads = _grids_after(
        grids_m, comm, hh, balanced, new_bgrid, store.grid, labels, fate
    )
    out["area_m2"] = out.area
    out["deviation"] = out["households"] / band.target - 1
    out["indivisible"] = (heavy > band.upper + 1e-9) & (loads - heavy < band.lower - 1e-9)
    out["parts"] = shapely.get_num_geometries(out.geometry.values)
    out["status"] = fate.status_after
    out["sources"] = fate.source_text(ids)
    has_codes = code_column is not None and code_column in grids_m.columns
    if has_codes or code_options:
        out = _with_codes(out, grids_m, fate, code_column if has_codes else None, code_options)
    if weight is not None:
        out["weight"] = loads
    n = len(grids_m)
    out["reason"] = _reasons(
        out,
        loads,
        band,
        fate,
        exempt=exempt,
        locked=np.zeros(n, dtype=bool) if locked is None else locked,
        land=np.arange(n) if land is None else land,
        comm=comm,
        prior=grids_m["reason"].to_numpy(dtype=object) if "reason" in grids_m else None,
    )
    before = _grids_before(grids_m, ids, comm, hh, bgrid, fate, code_column if has_codes else None)
    moved = new_bgrid != bgrid
    bcols = [
        c
        for c in buildings_m.columns
        if c not in ("grid_id", "grid_before", "moved", "households", buildings_m.geometry.name)
    ]
    b_out = gpd.GeoDataFrame(
        buildings_m[bcols].assign(
            grid_before=ids[bgrid], grid_id=fate.name[new_bgrid], households=hh, moved=moved
        ),
        geometry=buildings_m.geometry.values,
        crs=grids_m.crs,
    )
    diff = _diff(units, store.grid, labels, fate.name, ids, grids_m.crs, bgrid, new_bgrid, hh)
    off_after = excess(loads.astype(float), heavy, band) > 1e-9
    off_after &= ~fate.carried(exempt, default=False)
    figures = _figures(fate, band, out, off_after, moved, hh)
    off = off_band(loads.astype(float), band) > 1e-9
    figures.update(
        {
            "out_of_band_grids": int(off.sum()),
            "out_of_band_without_reason": int((off & out["reason"].isna().to_numpy()).sum()),
            "grids_by_reason": {str(k): int(v) for k, v in out["reason"].value_counts().items()},
            "multi_part_grids": int((out["parts"] > 1).sum()),
            "empty_grids": int((out["households"] == 0).sum()),
        }
    )
    return Rebalance(out, before, b_out, diff, figures, band.target, figures["tolerance"])


def _reasons(out, loads, band, fate: _Fate, *, exempt, locked, land, comm, prior) -> np.ndarray:
    """Why each grid after lies outside the band (see :data:`gridgeo.reasons.REASONS`):
    a kept grid the rules exempt keeps its grid type's reason (or the plan's own), a
    grid of land no number of grids can share within the band says so, and a grid the
    redraws could not bring into the band within their rings is ``beyond_reach``."""
    off = off_band(loads.astype(float), band) > 1e-9
    # the old grid each grid after comes from: itself, or the main source of a new one
    origin = fate.keep.copy()
    new = origin >= fate.n
    origin[new] = [fate.sources.get(int(k), [0])[0] for k in origin[new]]
    free = ~exempt[origin] & ~locked[origin]
    kept_exempt = exempt[origin] & ~locked[origin]
    gtype = (
        out["grid_type"].astype("string").fillna("").to_numpy()
        if "grid_type" in out
        else np.full(len(out), "", dtype=object)
    )
    piece = pd.factorize(
        pd.Series(comm[origin]).astype(str) + "\x1f" + pd.Series(land[origin]).astype(str)
    )[0]
    w = np.where(out["indivisible"].to_numpy() | ~free, 0.0, loads.astype(float))
    piece_w = np.bincount(piece, weights=w)
    n_pieces = pd.Series(piece[free]).groupby(comm[origin][free]).nunique()
    alone = pd.Series(comm[origin]).map(n_pieces).fillna(1).to_numpy() <= 1
    k = np.array([band.parts_for(x) if x > 0 else 1 for x in piece_w])
    stuck = (piece_w > 0) & ((piece_w / k < band.lower - 1e-9) | (piece_w / k > band.upper + 1e-9))
    stuck = stuck[piece] & free
    small = (piece_w < band.lower)[piece]
    tests = {
        "single_building": out["indivisible"].to_numpy(),
        "locked": locked[origin],
        "dedicated_zone": kept_exempt & (gtype != "rural"),
        "rural_village": kept_exempt & (gtype == "rural"),
        "no_households": out["households"].to_numpy() == 0,
        "enclosed_land": stuck & ~alone,
        "small_community": stuck & alone & small,
        "community_size": stuck & alone,
        "beyond_reach": free,
    }
    if prior is not None:  # an exempt grid kept: the plan's own reason first
        known = np.isin(prior[origin], list(REASONS)) & kept_exempt
        early = first_reason(off & known, {r: prior[origin] == r for r in REASONS})
        return np.where(np.equal(early, None), first_reason(off, tests), early)
    return first_reason(off, tests)


@dataclass
class _Fate:
    """What became of every old grid and where every grid of the result comes from.

    Labels ``0..n-1`` are the old grids, labels from ``n`` on new ones; ``keep`` the
    labels of the grids after, ``name`` the id of every label."""

    n: int
    alive: np.ndarray
    geometry: np.ndarray
    status_before: np.ndarray
    sources: dict[int, list[int]]
    flows: pd.DataFrame | None
    keep: np.ndarray
    name: np.ndarray

    @property
    def status_after(self) -> np.ndarray:
        out = np.full(len(self.keep), "new", dtype=object)
        old = self.keep < self.n
        out[old] = self.status_before[self.keep[old]]
        return out

    def carried(self, values: np.ndarray, *, default: Any) -> np.ndarray:
        """``values`` of the old grids for the grids after (``default`` for new ones)."""
        out = np.full(len(self.keep), default, dtype=np.asarray(values).dtype)
        old = self.keep < self.n
        out[old] = np.asarray(values)[self.keep[old]]
        return out

    def source_text(self, ids: np.ndarray) -> list[str]:
        after = self.status_after
        return [
            ",".join(str(ids[s]) for s in self.sources.get(int(i), []))
            if after[j] != "kept"
            else ""
            for j, i in enumerate(self.keep)
        ]

    def now_in(self, ids: np.ndarray) -> list[str]:
        """For every old grid, the grids its land is in now."""
        now = [""] * self.n
        if self.flows is not None and len(self.flows):
            went = self.flows.sort_values("w", ascending=False).groupby("old")["new"].apply(list)
            for old_id, news in went.items():
                now[int(old_id)] = ",".join(str(self.name[x]) for x in news if self.alive[x])
        kept = self.status_before == "kept"
        return [str(ids[i]) if kept[i] else now[i] for i in range(self.n)]


def _fate(grids_m, ids, units, unit_grid, labels) -> _Fate:
    """Which grids were touched, which survive, their geometry (changed ones dissolved
    from their units), the status of every old grid and the sources of every changed one."""
    n = len(grids_m)
    n_labels = max(n, int(labels.max()) + 1 if len(labels) else 0)
    changed = labels != unit_grid if len(labels) else np.zeros(0, dtype=bool)
    touched = np.zeros(n_labels, dtype=bool)
    touched[labels[changed]] = True
    touched[unit_grid[changed]] = True
    alive = np.zeros(n_labels, dtype=bool)
    alive[:n] = True
    if len(labels):
        in_units = np.zeros(n_labels, dtype=bool)
        in_units[unit_grid] = True
        now = np.zeros(n_labels, dtype=bool)
        now[labels] = True
        alive[:n] &= ~in_units[:n] | now[:n]
        alive[n:] = now[n:]
    geom = np.empty(n_labels, dtype=object)
    geom[:n] = grids_m.geometry.values
    redo = np.flatnonzero(touched & alive)
    if len(redo):
        mask = np.isin(labels, redo)
        lab_ids, polys = dissolve_units(units.geometry[mask], labels[mask])
        geom[lab_ids] = polys
    status = np.where(alive[:n], np.where(touched[:n], "reshaped", "kept"), "merged").astype(object)
    sources: dict[int, list[int]] = {}
    flows = None
    if changed.any():
        w_u = units.households.astype(float) + 1e-3
        pair = pd.DataFrame({"old": unit_grid, "new": labels, "w": w_u})
        flows = pair.groupby(["new", "old"])["w"].sum().reset_index()
        for new_id, grp in flows.groupby("new"):
            grp = grp.sort_values("w", ascending=False)
            sources[int(new_id)] = [int(x) for x in grp["old"]]
            if new_id >= n:  # a new grid: its main source was split
                main = int(grp["old"].iloc[0])
                if status[main] != "merged":
                    status[main] = "split"
    keep = np.flatnonzero(alive)
    name = np.empty(n_labels, dtype=object)
    name[:n] = ids
    fresh = keep[keep >= n]
    name[fresh] = _free_ids(ids, len(fresh))
    return _Fate(n, alive, geom, status, sources, flows, keep, name)


def _grids_after(grids_m, comm, hh, balanced, new_bgrid, unit_grid, labels, fate: _Fate):
    """The grids after with their community, households, buildings and the plan's own
    descriptive columns; also their heaviest building and load (what is balanced)."""
    n, keep, n_labels = fate.n, fate.keep, len(fate.name)
    community = np.empty(n_labels, dtype=object)
    community[:n] = comm
    if len(labels):  # a new grid is in the community of its first unit's old grid
        lab, first = np.unique(labels, return_index=True)
        community[lab[lab >= n]] = comm[unit_grid[first[lab >= n]]]
    heavy = np.zeros(n_labels)
    np.maximum.at(heavy, new_bgrid, balanced)
    out = gpd.GeoDataFrame(
        {
            "grid_id": fate.name[keep],
            "community_id": community[keep],
            "households": np.bincount(new_bgrid, weights=hh, minlength=n_labels)[keep].astype(
                np.int64
            ),
            "buildings": np.bincount(new_bgrid, minlength=n_labels)[keep].astype(np.int64),
        },
        geometry=list(fate.geometry[keep]),
        crs=grids_m.crs,
    )
    for c in ("grid_type", "zone_kind", "zone_name", "worker", "phone"):
        if c in grids_m.columns:
            vals = fate.carried(grids_m[c].to_numpy(dtype=object), default=None)
            if c == "grid_type":
                vals[keep >= n] = "basic"
            out[c] = vals
    loads = np.bincount(new_bgrid, weights=balanced, minlength=n_labels)[keep]
    return out, heavy[keep], loads


def _with_codes(out, grids_m, fate: _Fate, code_column, code_options):
    """Codes kept where the old grids have them, free numbers for new grids."""
    prev = np.full(len(fate.keep), None, dtype=object)
    retired: list[str] = []
    if code_column is not None:
        old_codes = grids_m[code_column].to_numpy()
        prev = fate.carried(old_codes.astype(object), default=None)
        retired = [str(c) for c in old_codes[~fate.alive[: fate.n]] if c is not None]
    out["code"] = _codes(out, prev, retired, code_options)
    cols = ["grid_id", "code"] + [c for c in out.columns if c not in ("grid_id", "code")]
    return out[cols]


def _grids_before(grids_m, ids, comm, hh, bgrid, fate: _Fate, code_column):
    """The old grids with their households under the new figures, status and where
    their land is now."""
    n = fate.n
    before = gpd.GeoDataFrame(
        {
            "grid_id": ids,
            "community_id": comm,
            "households": np.bincount(bgrid, weights=hh, minlength=n)[:n].astype(np.int64),
        },
        geometry=grids_m.geometry.values,
        crs=grids_m.crs,
    )
    if code_column is not None:
        before.insert(1, "code", grids_m[code_column].to_numpy())
    before["status"] = fate.status_before
    before["now_in"] = fate.now_in(ids)
    return before


def _figures(fate: _Fate, band, out, off_after, moved, hh) -> dict[str, Any]:
    status, after = fate.status_before, fate.status_after
    return {
        "target": band.target,
        "tolerance": (band.upper - band.lower) / (band.upper + band.lower),
        "band_lower": band.lower,
        "band_upper": band.upper,
        "grids_before": fate.n,
        "grids_after": len(out),
        "kept": int((status == "kept").sum()),
        "reshaped": int((status == "reshaped").sum()),
        "split": int((status == "split").sum()),
        "merged": int((status == "merged").sum()),
        "new": int((after == "new").sum()),
        "out_of_band_after": int(off_after.sum()),
        "indivisible_grids": int(out["indivisible"].sum()),
        "buildings": len(moved),
        "buildings_moved": int(moved.sum()),
        "buildings_moved_share": float(moved.mean()) if len(moved) else 0.0,
        "households": int(hh.sum()),
        "households_moved": int(hh[moved].sum()),
        "households_moved_share": float(hh[moved].sum() / hh.sum()) if hh.sum() else 0.0,
    }


def _codes(out, prev, retired, options) -> pd.Series:
    from ..codes import assign_codes

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
