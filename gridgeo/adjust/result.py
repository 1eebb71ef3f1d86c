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

from ..io import storable, write_layers
from ..plan import Plan, dissolve_units
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
) -> Rebalance:
    """The result of a rebalance: the old grid of every building (``bgrid``), the
    units the regions were cut into (``store``, a :class:`~gridgeo.adjust.regions.UnitStore`)
    and their new grids (``labels``); ``weight``: what was balanced per building, when
    not households."""
    units = store.units() if store.n_units else None
    unit_grid = store.grid
    new_bgrid = bgrid.copy()
    if store.n_units:
        new_bgrid[store.b_index] = labels[store.b_unit]
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
    balanced = hh if weight is None else weight
    heavy = np.zeros(n_labels)
    np.maximum.at(heavy, new_bgrid, balanced)
    W_balanced = W if weight is None else np.bincount(new_bgrid, weights=weight, minlength=n_labels)
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
    if weight is not None:
        out["weight"] = W_balanced[keep]
    off_after = excess(W_balanced[keep].astype(float), heavy[keep], band) > 1e-9
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
