"""The planner's edit session (规划工作台): a plan held on arrays, edited move by move.

A :class:`Session` holds a grid plan (grids and the buildings assigned to them) and
applies the planner's edits: move buildings to a neighbouring grid, merge two grids,
split one in two, lock grids, note them, rebalance the unlocked rest with
:func:`gridgeo.rebalance`, undo and redo. Every grid is the union of the cells of
its buildings (:mod:`.tessellate`): contiguity is checked on the cells' adjacency, and
a move recomputes only the two grids it touches. An edit that the rules forbid raises
:class:`EditRefused` with the reason, and changes nothing.

Examples
--------
::

    s = Session.open("out/wangjing")
    s.move(s.piece(12), "G0004")   # EditRefused with the reason when not allowed
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from scipy.sparse import csgraph

from .._errors import GridgeoError, InputError, ReadError
from ..engine import Band, partition_graph
from ..staffing import StaffingRules, staffing_table
from . import tessellate

__all__ = ["EditRefused", "Session", "read_plan"]

log = logging.getLogger(__name__)

#: Undo steps kept.
HISTORY = 200


class EditRefused(GridgeoError):
    """An edit the planning rules forbid (the message says why); nothing changed."""


def read_plan(path: str | Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict[str, Any]]:
    """Grids, buildings and figures (``summary.json``, when there) of a plan folder or
    of a GeoPackage with layers ``grids`` and ``buildings``; a layer ``streets``, when
    there, is in the figures as ``"streets"``."""
    p = Path(path)
    figures: dict[str, Any] = {}
    if p.is_dir():
        if (p / "summary.json").is_file():
            figures = json.loads((p / "summary.json").read_text(encoding="utf-8"))
        p = p / "grids.gpkg"
    elif (p.parent / "summary.json").is_file():
        figures = json.loads((p.parent / "summary.json").read_text(encoding="utf-8"))
    if not p.is_file():
        msg = f"plan not found: {p}; give a plan folder or grids.gpkg written by `gridgeo partition --out DIR`"
        raise ReadError(msg)
    try:
        names = [str(r[0]) for r in pyogrio.list_layers(p)]
    except Exception as exc:  # pyogrio raises several DataSourceError kinds
        msg = f"cannot read {p}: {exc}"
        raise ReadError(msg) from exc
    missing = [n for n in ("grids", "buildings") if n not in names]
    if missing:
        msg = f"{p} has no layer {' or '.join(missing)} (layers: {', '.join(names)}); give a plan with grids and buildings"
        raise ReadError(msg)
    grids = pyogrio.read_dataframe(p, layer="grids")
    buildings = pyogrio.read_dataframe(p, layer="buildings")
    if "streets" in names:
        figures["streets"] = pyogrio.read_dataframe(p, layer="streets")
    return grids, buildings, figures


def _grid_of_points(
    polygons: np.ndarray, buildings: gpd.GeoDataFrame, ids: np.ndarray
) -> np.ndarray:
    """Grid id of the polygon holding a point on each building; refuses buildings
    outside every grid."""
    pts = shapely.point_on_surface(buildings.geometry.to_numpy())
    b, g = shapely.STRtree(polygons).query(pts, predicate="within")
    where = np.full(len(pts), -1)
    where[b[::-1]] = g[::-1]
    outside = int((where < 0).sum())
    if outside:
        msg = f"{outside} of {len(pts)} buildings lie outside every grid; give the buildings of the grids' area (clip them to the grids)"
        raise InputError(msg)
    return ids[where]


def _plan_target(grids: pd.DataFrame) -> float:
    """households ÷ (1 + deviation), the median over grids: the target a gridgeo plan
    was drawn for; 300 without those columns."""
    if not {"households", "deviation"} <= set(grids.columns):
        return 300.0
    hh = pd.to_numeric(grids["households"], errors="coerce").to_numpy(dtype=float)
    dev = pd.to_numeric(grids["deviation"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(hh) & np.isfinite(dev) & (hh > 0) & (dev > -1)
    return round(float(np.median(hh[ok] / (1 + dev[ok]))), 6) if ok.any() else 300.0


@dataclass
class _State:
    """Everything an edit may change (an undo step is a copy of it).

    Nodes are the buildings (first ``n_buildings``) and one ghost node per grid that
    has no building; slots are grids (a merged-away grid's slot is dead).
    """

    label: np.ndarray  # node → slot
    cells: np.ndarray  # node → cell polygon
    adjacency: Any  # node × node csr
    ids: np.ndarray  # slot → grid id (str)
    code: np.ndarray
    community: np.ndarray
    note: np.ndarray
    locked: np.ndarray
    edited: np.ndarray
    alive: np.ndarray
    geometry: np.ndarray  # slot → polygon
    households: np.ndarray
    buildings: np.ndarray

    def copy(self) -> _State:
        return _State(
            **{
                k: (v.copy() if isinstance(v, np.ndarray) and k != "cells" else v)
                for k, v in self.__dict__.items()
            }
        )


@dataclass
class Session:
    """A plan being edited (see the module notes).

    Build one with :meth:`open` (a plan folder or GeoPackage) or from layers with
    :meth:`from_layers`.
    """

    footprints: gpd.GeoDataFrame  # the buildings (metric CRS), as read
    households: np.ndarray  # node → households (ghosts 0)
    block: np.ndarray  # building → block id (or its own index)
    target: float
    tolerance: float
    state: _State
    source: str = ""
    streets: gpd.GeoDataFrame | None = None  # street lines (metric CRS), when known
    undo_stack: list[_State] = field(default_factory=list)
    redo_stack: list[_State] = field(default_factory=list)

    # -- building one -------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path) -> Session:
        """A session on the plan folder or GeoPackage ``path`` (layers grids, buildings)."""
        grids, buildings, figures = read_plan(path)
        s = cls.from_layers(
            grids,
            buildings,
            target=figures.get("target"),
            tolerance=figures.get("tolerance", 0.1),
            streets=figures.get("streets"),
        )
        s.source = str(Path(path).resolve())
        return s

    @classmethod
    def from_layers(
        cls,
        grids: gpd.GeoDataFrame,
        buildings: gpd.GeoDataFrame,
        *,
        target: float | None = None,
        tolerance: float = 0.1,
        grid_id: str = "grid_id",
        households: str = "households",
        streets: gpd.GeoDataFrame | None = None,
    ) -> Session:
        """A session on ``grids`` (``grid_id``; optional ``community_id``, ``code``,
        ``note``, ``locked``) and ``buildings`` (``households``, and ``grid_id``: when
        missing, a building goes to the grid holding a point of its footprint, as for a
        city's own grid polygons); ``streets`` (lines, optional) are drawn on the map
        and followed by :meth:`rebalance`."""
        for frame, cols, name in (
            (grids, [grid_id], "grids"),
            (buildings, [households], "buildings"),
        ):
            gone = [c for c in cols if c not in frame.columns]
            if gone:
                msg = f"{name} have no column {', '.join(gone)}; give a plan written by gridgeo (grids.gpkg)"
                raise InputError(msg)
        if grids.crs is None or not grids.crs.is_projected:
            from ..crs import plan_metric_crs

            crs = plan_metric_crs(grids, buildings)
            grids = grids.to_crs(crs)
        buildings = buildings.to_crs(grids.crs).reset_index(drop=True)
        ids = grids[grid_id].astype(str).to_numpy()
        if "grid_id" not in buildings.columns:
            buildings = buildings.assign(
                grid_id=_grid_of_points(grids.geometry.to_numpy(), buildings, ids)
            )
        if len(set(ids)) != len(ids):
            msg = f"grid ids of column {grid_id!r} are not unique; give every grid its own id"
            raise InputError(msg)
        slot_of = {g: i for i, g in enumerate(ids)}
        bgrid = buildings["grid_id"].astype(str).map(slot_of)
        if bgrid.isna().any():
            n = int(bgrid.isna().sum())
            msg = f"{n} buildings have a grid_id that is not a grid of the plan; give buildings of this plan"
            raise InputError(msg)
        hh = pd.to_numeric(buildings[households], errors="coerce").fillna(0).to_numpy()
        hh = np.round(hh).astype(np.int64)
        label = bgrid.to_numpy(dtype=np.int64)
        empty = np.setdiff1d(np.arange(len(ids)), label)  # ghost nodes
        label = np.concatenate([label, empty])
        block = (
            buildings["block_id"].astype(str).to_numpy()
            if "block_id" in buildings.columns
            else np.arange(len(buildings)).astype(str)
        )
        n_slots = len(ids)

        def col(name: str, default: Any) -> np.ndarray:
            if name in grids.columns:
                return grids[name].to_numpy(dtype=object)
            return np.full(n_slots, default, dtype=object)

        locked = col("locked", False)
        locked = np.array([str(v).strip().lower() in {"true", "1", "yes", "是"} for v in locked])
        state = _State(
            label=label,
            cells=np.empty(0, dtype=object),
            adjacency=None,
            ids=ids.astype(object),
            code=np.array(
                [None if v is None or v != v else str(v) for v in col("code", None)], dtype=object
            ),
            community=np.array([str(v) for v in col("community_id", "")], dtype=object),
            note=np.array(
                ["" if v is None or v != v else str(v) for v in col("note", "")], dtype=object
            ),
            locked=locked,
            edited=np.zeros(n_slots, dtype=bool),
            alive=np.ones(n_slots, dtype=bool),
            geometry=grids.geometry.to_numpy().copy(),
            households=np.zeros(n_slots, dtype=np.int64),
            buildings=np.zeros(n_slots, dtype=np.int64),
        )
        s = cls(
            footprints=buildings[[c for c in buildings.columns if c != "grid_id"]],
            households=np.concatenate([hh, np.zeros(len(empty), dtype=np.int64)]),
            block=block,
            target=float(target) if target else _plan_target(grids),
            tolerance=float(tolerance),
            state=state,
        )
        if streets is not None and len(streets):
            s.streets = streets.to_crs(grids.crs)[["geometry"]].reset_index(drop=True)
        s._tessellate()
        s._recount()
        return s

    # -- figures ------------------------------------------------------------------

    @property
    def n_buildings(self) -> int:
        return len(self.footprints)

    @property
    def band(self) -> Band:
        return Band.around(self.target, self.tolerance)

    def _points(self) -> np.ndarray:
        if not hasattr(self, "_pts"):
            self._pts = shapely.point_on_surface(self.footprints.geometry.to_numpy())
        return self._pts

    def _tessellate(self, reuse: _State | None = None, same: np.ndarray | None = None) -> None:
        """Cells and adjacency of every node from the grids' polygons. With ``reuse``
        (the state before) and ``same`` (per grid: polygon and buildings unchanged), the
        buildings of those grids keep their cells and their adjacency among themselves."""
        st = self.state
        n_b = self.n_buildings
        ghosts = np.arange(n_b, len(st.label))
        pts = np.concatenate(
            [self._points(), shapely.point_on_surface(st.geometry[st.label[ghosts]])]
        )
        feet = np.concatenate([self.footprints.geometry.to_numpy(), st.geometry[st.label[ghosts]]])
        if reuse is None or same is None or not same.any():
            st.cells = tessellate.cells(st.geometry, pts, st.label, feet)
            st.adjacency = tessellate.adjacency(st.cells)
            return
        same = same.copy()
        same[st.label[ghosts]] = False  # a grid without buildings is one cheap cell
        kept = np.zeros(len(st.label), dtype=bool)
        kept[:n_b] = same[st.label[:n_b]]
        st.cells = tessellate.cells(st.geometry, pts, st.label, feet, skip=same)
        st.cells[kept] = reuse.cells[:n_b][kept[:n_b]]
        st.adjacency = tessellate.adjacency(
            st.cells, changed=~kept, before=reuse.adjacency[:n_b, :n_b]
        )

    def _recount(self, slots: Iterable[int] | None = None) -> None:
        st = self.state
        n = len(st.ids)
        is_b = np.arange(len(st.label)) < self.n_buildings
        hh = np.bincount(st.label, weights=self.households, minlength=n).astype(np.int64)
        nb = np.bincount(st.label[is_b], minlength=n).astype(np.int64)
        if slots is None:
            st.households, st.buildings = hh, nb
        else:
            s = np.fromiter(slots, dtype=np.int64)
            st.households[s], st.buildings[s] = hh[s], nb[s]

    def _redraw(self, slots: Iterable[int]) -> None:
        """Polygon of ``slots`` as the union of their cells."""
        st = self.state
        for s in slots:
            cells = st.cells[st.label == s]
            st.geometry[s] = shapely.union_all(cells) if len(cells) else None

    def table(self) -> pd.DataFrame:
        """One row per grid: ``grid_id``, ``code``, ``community_id``, ``households``,
        ``buildings``, ``deviation``, ``workers``, ``liaisons``, ``locked``, ``edited``,
        ``out_of_band`` and ``why`` (too few / too many households), ``note``."""
        st = self.state
        live = np.flatnonzero(st.alive)
        return self._rows(live)

    def _rows(self, slots: np.ndarray) -> pd.DataFrame:
        st = self.state
        band = self.band
        hh = st.households[slots]
        out = pd.DataFrame(
            {
                "grid_id": st.ids[slots].astype(str),
                "code": st.code[slots],
                "community_id": st.community[slots],
                "households": hh,
                "buildings": st.buildings[slots],
                "deviation": np.round(hh / self.target - 1, 4),
            }
        )
        staff = staffing_table(out, rules=StaffingRules(target=self.target))
        out["workers"] = staff["workers"].to_numpy()
        out["liaisons"] = staff["liaisons"].to_numpy()
        out["locked"] = st.locked[slots]
        out["edited"] = st.edited[slots]
        low, high = hh < band.lower, hh > band.upper
        out["out_of_band"] = low | high
        single = high & (st.buildings[slots] == 1)
        out["why"] = np.where(
            low,
            "too few households",
            np.where(
                single, "one building over the band", np.where(high, "too many households", "")
            ),
        )
        out["note"] = st.note[slots]
        return out

    def grids(self) -> gpd.GeoDataFrame:
        """The grids as they stand: the :meth:`table` with their polygons."""
        st = self.state
        live = np.flatnonzero(st.alive)
        return gpd.GeoDataFrame(
            self._rows(live), geometry=st.geometry[live], crs=self.footprints.crs
        )

    def buildings(self) -> gpd.GeoDataFrame:
        """The buildings with their current ``grid_id``."""
        st = self.state
        b = self.footprints.copy()
        b.insert(0, "grid_id", st.ids[st.label[: self.n_buildings]].astype(str))
        b["households"] = self.households[: self.n_buildings]
        return b

    def neighbours(self) -> list[list[str]]:
        """For each grid of :meth:`table` (same order), the ids of the grids it borders."""
        st = self.state
        live = np.flatnonzero(st.alive)
        adj = st.adjacency.tocoo()
        la, lb = st.label[adj.row], st.label[adj.col]
        keep = la != lb
        n = len(st.ids)
        pairs = np.unique(la[keep].astype(np.int64) * n + lb[keep])
        out: dict[int, list[str]] = {int(g): [] for g in live}
        ids = st.ids.astype(str)
        for a, b in zip((pairs // n).tolist(), (pairs % n).tolist(), strict=True):
            out[a].append(ids[b])
        return [out[int(g)] for g in live]

    def grid_of(self, buildings: Sequence[int]) -> list[str]:
        """Grid id of each building."""
        st = self.state
        idx = np.asarray(buildings, dtype=np.int64)
        return st.ids[st.label[idx]].astype(str).tolist()

    def piece(self, building: int) -> np.ndarray:
        """The buildings of ``building``'s block in its grid (a piece of a block)."""
        st = self.state
        nb = self.n_buildings
        same = (self.block == self.block[building]) & (st.label[:nb] == st.label[building])
        return np.flatnonzero(same)

    # -- edits --------------------------------------------------------------------

    def _slot(self, grid: str) -> int:
        st = self.state
        hit = np.flatnonzero((st.ids == str(grid)) & st.alive)
        if not len(hit):
            msg = f"no grid {grid!r} in the plan"
            raise EditRefused(msg)
        return int(hit[0])

    def _connected(self, nodes: np.ndarray) -> bool:
        if len(nodes) <= 1:
            return True
        sub = self.state.adjacency[nodes][:, nodes]
        n, _ = csgraph.connected_components(sub, directed=False)
        return n == 1

    def _check_free(self, *slots: int) -> None:
        st = self.state
        for s in slots:
            if st.locked[s]:
                msg = f"grid {st.ids[s]} is locked; unlock it to edit it"
                raise EditRefused(msg)

    def _push(self) -> None:
        self.undo_stack.append(self.state.copy())
        del self.undo_stack[:-HISTORY]
        self.redo_stack.clear()

    def move(self, buildings: Sequence[int], to: str) -> list[str]:
        """Move ``buildings`` (indices, all in one grid) to the neighbouring grid ``to``;
        returns the ids of the two grids changed.

        Raises
        ------
        EditRefused
            When the buildings lie in several grids or in ``to`` already, a grid is
            locked, the grids are of different communities, ``to`` does not border
            them, or the move would leave either grid in two pieces or empty.
        """
        st = self.state
        nodes = np.unique(np.asarray(buildings, dtype=np.int64))
        if not len(nodes):
            msg = "no buildings selected"
            raise EditRefused(msg)
        if nodes.min() < 0 or nodes.max() >= self.n_buildings:
            msg = f"building index out of range 0–{self.n_buildings - 1}"
            raise EditRefused(msg)
        b = self._slot(to)
        src = np.unique(st.label[nodes])
        if len(src) > 1:
            msg = f"the buildings lie in {len(src)} grids ({', '.join(st.ids[src])}); move them from one grid at a time"
            raise EditRefused(msg)
        a = int(src[0])
        if a == b:
            msg = f"the buildings are in grid {st.ids[b]} already"
            raise EditRefused(msg)
        self._check_free(a, b)
        if st.community[a] != st.community[b]:
            msg = f"grid {st.ids[b]} is in community {st.community[b]}, the buildings in {st.community[a]}: a grid does not cross a community boundary"
            raise EditRefused(msg)
        in_a = np.flatnonzero(st.label == a)
        rest = np.setdiff1d(in_a, nodes, assume_unique=True)
        if not len(rest):
            msg = (
                f"moving every building of grid {st.ids[a]} empties it; merge the two grids instead"
            )
            raise EditRefused(msg)
        if not self._connected(rest):
            msg = f"grid {st.ids[a]} would be left in two pieces; move a piece on its edge, or the pieces together"
            raise EditRefused(msg)
        joined = np.concatenate([np.flatnonzero(st.label == b), nodes])
        if not st.adjacency[nodes][:, joined[: -len(nodes)]].count_nonzero():
            msg = (
                f"grid {st.ids[b]} does not border the buildings; move them to a neighbouring grid"
            )
            raise EditRefused(msg)
        if not self._connected(joined):
            msg = f"grid {st.ids[b]} would be in two pieces; select buildings that touch it"
            raise EditRefused(msg)
        self._push()
        st = self.state
        st.label[nodes] = b
        st.edited[[a, b]] = True
        self._recount([a, b])
        self._redraw([a, b])
        return [str(st.ids[a]), str(st.ids[b])]

    def merge(self, keep: str, other: str) -> str:
        """Merge grid ``other`` into its neighbour ``keep``; returns ``keep``."""
        a, b = self._slot(keep), self._slot(other)
        st = self.state
        if a == b:
            msg = "choose two different grids to merge"
            raise EditRefused(msg)
        self._check_free(a, b)
        if st.community[a] != st.community[b]:
            msg = f"grids {st.ids[a]} and {st.ids[b]} are in different communities: a grid does not cross a community boundary"
            raise EditRefused(msg)
        na, nb = np.flatnonzero(st.label == a), np.flatnonzero(st.label == b)
        if not st.adjacency[na][:, nb].count_nonzero():
            msg = f"grids {st.ids[a]} and {st.ids[b]} do not border each other"
            raise EditRefused(msg)
        self._push()
        st = self.state
        st.label[nb] = a
        st.alive[b] = False
        st.edited[a] = True
        if st.note[b]:
            st.note[a] = "; ".join(n for n in (st.note[a], st.note[b]) if n)
        self._recount([a, b])
        self._redraw([a])
        return str(st.ids[a])

    def split(self, grid: str, *, random_state: int = 0) -> list[str]:
        """Split ``grid`` in two halves of about equal households, cut by the engine
        (:func:`gridgeo.engine.partition_graph`) along its streets where it can; the
        new half takes a free id. Returns the two ids."""
        a = self._slot(grid)
        self._check_free(a)
        st = self.state
        nodes = np.flatnonzero(st.label == a)
        nodes = nodes[nodes < self.n_buildings]
        if len(nodes) < 2:
            msg = f"grid {st.ids[a]} has fewer than two buildings: nothing to split"
            raise EditRefused(msg)
        w = self.households[nodes].astype(float)
        half = max(w.sum() / 2, 1.0)
        band = Band(target=half, lower=half * 0.5, upper=half * 1.5)
        labels = partition_graph(
            w,
            st.adjacency[nodes][:, nodes].astype(float),
            band=band,
            random_state=random_state,
            blocks=self.block[nodes],
        )
        if labels.max() < 1:
            msg = f"the engine found no cut of grid {st.ids[a]} into two connected parts"
            raise EditRefused(msg)
        labels = np.where(labels == 0, 0, 1)
        if not (self._connected(nodes[labels == 0]) and self._connected(nodes[labels == 1])):
            msg = f"the engine found no cut of grid {st.ids[a]} into two connected parts"
            raise EditRefused(msg)
        self._push()
        st = self.state
        new_id = self._free_id(str(st.ids[a]))
        b = len(st.ids)
        for name, value in (
            ("ids", new_id),
            ("code", None),
            ("community", st.community[a]),
            ("note", ""),
            ("locked", False),
            ("edited", True),
            ("alive", True),
            ("geometry", None),
            ("households", 0),
            ("buildings", 0),
        ):
            arr = getattr(st, name)
            setattr(st, name, np.append(arr, np.array([value], dtype=arr.dtype)))
        st.label[nodes[labels == 1]] = b
        st.edited[a] = True
        self._recount([a, b])
        self._redraw([a, b])
        return [str(st.ids[a]), new_id]

    def _free_id(self, base: str) -> str:
        taken = set(self.state.ids.astype(str))
        for k in range(1, 10_000):
            cand = f"{base}-{k}"
            if cand not in taken:
                return cand
        msg = "no free grid id"
        raise EditRefused(msg)

    def lock(self, grids: Iterable[str], *, locked: bool = True) -> None:
        """Lock (or unlock) ``grids``: no edit and no rebalance changes a locked grid."""
        slots = [self._slot(g) for g in grids]
        self._push()
        self.state.locked[slots] = locked

    def set_note(self, grid: str, text: str) -> None:
        """The note of ``grid`` (who serves it, what it holds), exported as ``note``."""
        s = self._slot(grid)
        self._push()
        self.state.note[s] = str(text)

    def rebalance(
        self, *, streets: gpd.GeoDataFrame | None = None, random_state: int = 0
    ) -> dict[str, Any]:
        """Redraw the unlocked grids out of band with :func:`gridgeo.rebalance`,
        locked grids kept exactly; returns its figures. New boundaries follow
        ``streets`` (default: the session's streets) where there are any; without
        streets the engine cuts along the buildings' cells."""
        import time

        from ..adjust import rebalance

        t0 = time.perf_counter()
        st = self.state
        grids = self.grids()
        if "code" in grids.columns and grids["code"].isna().all():
            grids = grids.drop(columns="code")
        r = rebalance(
            grids[["grid_id", "community_id", "geometry", *(["code"] if "code" in grids else [])]],
            self.buildings(),
            streets=self.streets if streets is None else streets,
            households_column="households",
            target=self.target,
            tolerance=self.tolerance,
            locked={str(g) for g in st.ids[st.alive & st.locked]},
            random_state=random_state,
        )
        t1 = time.perf_counter()
        self._push()
        self._adopt(
            r.grids,
            r.buildings["grid_id"].astype(str).to_numpy(),
            keep=r.grids["status"].to_numpy() == "kept",
        )
        log.info(
            "rebalance %.2f s, cells of the new grids %.2f s", t1 - t0, time.perf_counter() - t1
        )
        return {**r.figures, "engine_s": round(t1 - t0, 2)}

    def _adopt(
        self, grids: gpd.GeoDataFrame, bgrid: np.ndarray, *, keep: np.ndarray | None = None
    ) -> None:
        """Take over ``grids`` (with ``grid_id``, ``geometry``, optional ``code``,
        ``community_id``, ``note``, ``locked``) and each building's grid ``bgrid``; the
        old grids' notes and locks carry over by id; ``keep`` marks grids unchanged."""
        old = self.state
        by_id = {str(g): i for i, g in enumerate(old.ids) if old.alive[i]}
        ids = grids["grid_id"].astype(str).to_numpy()
        prev = np.array([by_id.get(g, -1) for g in ids])
        slot_of = {g: i for i, g in enumerate(ids)}
        label = np.array([slot_of[g] for g in bgrid], dtype=np.int64)
        empty = np.setdiff1d(np.arange(len(ids)), label)
        n = len(ids)

        def carried(name: str, column: str, default: Any) -> np.ndarray:
            if column in grids.columns:
                return np.array(
                    [default if v is None or v != v else v for v in grids[column]], dtype=object
                )
            arr = getattr(old, name)
            return np.array([arr[p] if p >= 0 else default for p in prev], dtype=object)

        edited = np.array([old.edited[p] if p >= 0 else True for p in prev])
        if keep is not None:
            edited = edited | ~keep
        self.state = _State(
            label=np.concatenate([label, empty]),
            cells=np.empty(0, dtype=object),
            adjacency=None,
            ids=ids.astype(object),
            code=carried("code", "code", None),
            community=np.array(
                [str(v) for v in carried("community", "community_id", "")], dtype=object
            ),
            note=carried("note", "note", ""),
            locked=np.array([bool(old.locked[p]) if p >= 0 else False for p in prev]),
            edited=edited,
            alive=np.ones(n, dtype=bool),
            geometry=grids.geometry.to_crs(self.footprints.crs).to_numpy().copy(),
            households=np.zeros(n, dtype=np.int64),
            buildings=np.zeros(n, dtype=np.int64),
        )
        self.households = np.concatenate(
            [self.households[: self.n_buildings], np.zeros(len(empty), dtype=np.int64)]
        )
        self._tessellate(old, self._unchanged(old, prev))
        self._recount()

    def _unchanged(self, old: _State, prev: np.ndarray) -> np.ndarray:
        """Per grid of the state: same polygon and same buildings as grid ``prev`` of
        ``old`` (so its cells can be kept)."""
        st = self.state
        n_b = self.n_buildings
        same = np.zeros(len(st.ids), dtype=bool)
        ok = np.flatnonzero(prev >= 0)
        if not len(ok):
            return same
        geo = shapely.equals_exact(st.geometry[ok], old.geometry[prev[ok]], tolerance=0.0)
        same[ok] = np.asarray(geo, dtype=bool)
        # a building that changed grid changes the cells of both grids
        moved = old.label[:n_b] != prev[st.label[:n_b]]
        same[np.unique(st.label[:n_b][moved])] = False
        back = np.full(len(old.ids), -1)
        back[prev[ok]] = ok
        lost = back[np.unique(old.label[:n_b][moved])]
        same[lost[lost >= 0]] = False
        return same

    def undo(self) -> bool:
        """Undo the last edit; False when there is none."""
        if not self.undo_stack:
            return False
        self.redo_stack.append(self.state)
        self.state = self.undo_stack.pop()
        self._sync_ghosts()
        return True

    def redo(self) -> bool:
        """Redo the last undone edit; False when there is none."""
        if not self.redo_stack:
            return False
        self.undo_stack.append(self.state)
        self.state = self.redo_stack.pop()
        self._sync_ghosts()
        return True

    def _sync_ghosts(self) -> None:
        n = len(self.state.label)
        if len(self.households) != n:
            self.households = np.concatenate(
                [
                    self.households[: self.n_buildings],
                    np.zeros(n - self.n_buildings, dtype=np.int64),
                ]
            )

    # -- versions -----------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The plan as JSON-ready data: grids (id, code, community, note, locked, WKB
        hex polygon) and each building's grid id and households."""
        st = self.state
        live = np.flatnonzero(st.alive)
        epsg = self.footprints.crs.to_epsg() if self.footprints.crs is not None else None
        return {
            "target": self.target,
            "tolerance": self.tolerance,
            "srid": epsg or 0,
            "grids": [
                {
                    "grid_id": str(st.ids[s]),
                    "code": st.code[s],
                    "community_id": str(st.community[s]),
                    "note": str(st.note[s]),
                    "locked": bool(st.locked[s]),
                    "edited": bool(st.edited[s]),
                    "wkb": shapely.to_wkb(st.geometry[s], hex=True)
                    if st.geometry[s] is not None
                    else None,
                }
                for s in live
            ],
            "building_grid": st.ids[st.label[: self.n_buildings]].astype(str).tolist(),
            "households": self.households[: self.n_buildings].tolist(),
        }

    def restore(self, snap: dict[str, Any]) -> None:
        """Make ``snap`` (from :meth:`snapshot`) the current plan; undoable."""
        if len(snap["building_grid"]) != self.n_buildings:
            msg = f"the version holds {len(snap['building_grid'])} buildings, the plan {self.n_buildings}: it is a version of another plan"
            raise InputError(msg)
        rows = snap["grids"]
        grids = gpd.GeoDataFrame(
            {
                "grid_id": [r["grid_id"] for r in rows],
                "code": [r["code"] for r in rows],
                "community_id": [r["community_id"] for r in rows],
                "note": [r["note"] for r in rows],
            },
            geometry=[shapely.from_wkb(r["wkb"]) if r["wkb"] else None for r in rows],
            crs=self.footprints.crs,
        )
        self._push()
        self._adopt(grids, np.asarray(snap["building_grid"], dtype=object))
        self.state.locked[:] = [bool(r["locked"]) for r in rows]
        self.state.edited[:] = [bool(r.get("edited", False)) for r in rows]
