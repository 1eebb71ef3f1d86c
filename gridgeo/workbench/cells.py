"""The session's geometry kept in step with its grids: each node's cell (:mod:`.tessellate`)
and the cells' adjacency, each grid's polygon (the union of its cells) and counts, and a
new set of grids taken over with the cells of unchanged grids kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from . import tessellate
from .state import State

__all__ = ["Cells"]


class Cells:
    """Cells, adjacency, polygons and counts of a :class:`~.session.Session` (a mixin)."""

    footprints: gpd.GeoDataFrame
    households: np.ndarray
    state: State
    n_buildings: int

    def _points(self) -> np.ndarray:
        if not hasattr(self, "_pts"):
            self._pts = shapely.point_on_surface(self.footprints.geometry.to_numpy())
        return self._pts

    def _tessellate(self, reuse: State | None = None, same: np.ndarray | None = None) -> None:
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

    def _adopt(
        self, grids: gpd.GeoDataFrame, bgrid: np.ndarray, *, keep: np.ndarray | None = None
    ) -> None:
        """Take over ``grids`` (with ``grid_id``, ``geometry``, optional ``code``,
        ``community_id``, ``note``, ``locked``) and each building's grid ``bgrid``; the
        old grids' notes and locks carry over by id; ``keep`` marks grids unchanged."""
        old = self.state
        ids = grids["grid_id"].astype(str).to_numpy()
        by_id = {str(g): i for i, g in enumerate(old.ids) if old.alive[i]}
        prev = np.array([by_id.get(g, -1) for g in ids])  # each grid's slot in old, or -1
        slot_of = {g: i for i, g in enumerate(ids)}
        label = np.array([slot_of[g] for g in bgrid], dtype=np.int64)
        empty = np.setdiff1d(np.arange(len(ids)), label)
        geometry = grids.geometry.to_crs(self.footprints.crs).to_numpy().copy()
        self.state = _carried_over(
            grids, np.concatenate([label, empty]), old, prev, geometry=geometry, keep=keep
        )
        self.households = np.concatenate(
            [self.households[: self.n_buildings], np.zeros(len(empty), dtype=np.int64)]
        )
        self._tessellate(old, self._unchanged(old, prev))
        self._recount()

    def _unchanged(self, old: State, prev: np.ndarray) -> np.ndarray:
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


def _carried_over(
    grids: gpd.GeoDataFrame,
    label: np.ndarray,
    old: State,
    prev: np.ndarray,
    *,
    geometry: np.ndarray,
    keep: np.ndarray | None,
) -> State:
    """The state of ``grids`` (polygons ``geometry``, each node's slot ``label``): code,
    community and note from their columns, else from grid ``prev`` of ``old``; lock and
    edited mark from ``prev`` (a new grid, or one not in ``keep``, is edited)."""

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
    return State.of_grids(
        label,
        grids["grid_id"].astype(str).to_numpy(),
        code=carried("code", "code", None),
        community=np.array(
            [str(v) for v in carried("community", "community_id", "")], dtype=object
        ),
        note=carried("note", "note", ""),
        locked=np.array([bool(old.locked[p]) if p >= 0 else False for p in prev]),
        edited=edited,
        geometry=geometry,
    )
