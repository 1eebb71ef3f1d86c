"""The planner's edits of a session: move buildings to a neighbouring grid, merge two
grids, split one in two, lock and note grids, rebalance the unlocked rest. Each checks
the rules first and raises :class:`~.state.EditRefused` with the reason, changing
nothing; an edit that goes ahead is one undo step.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
from scipy.sparse import csgraph

from ..engine import Band, partition_graph
from .state import EditRefused, State

__all__ = ["Edits"]

log = logging.getLogger(__name__)


class Edits:
    """The edits of a :class:`~.session.Session` (a mixin)."""

    households: np.ndarray
    block: np.ndarray
    target: float
    tolerance: float
    state: State
    streets: gpd.GeoDataFrame | None
    n_buildings: int

    # -- checks -------------------------------------------------------------------

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

    # -- move ---------------------------------------------------------------------

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
        nodes = self._selected(buildings)
        b = self._slot(to)
        a = self._source(nodes, b)
        self._check_free(a, b)
        st = self.state
        if st.community[a] != st.community[b]:
            msg = f"grid {st.ids[b]} is in community {st.community[b]}, the buildings in {st.community[a]}: a grid does not cross a community boundary"
            raise EditRefused(msg)
        self._check_leaving(a, nodes)
        self._check_joining(b, nodes)
        self._push()
        st = self.state
        st.label[nodes] = b
        st.edited[[a, b]] = True
        self._recount([a, b])
        self._redraw([a, b])
        return [str(st.ids[a]), str(st.ids[b])]

    def _selected(self, buildings: Sequence[int]) -> np.ndarray:
        """The nodes of ``buildings``; refuses none or an index out of range."""
        nodes = np.unique(np.asarray(buildings, dtype=np.int64))
        if not len(nodes):
            msg = "no buildings selected"
            raise EditRefused(msg)
        if nodes.min() < 0 or nodes.max() >= self.n_buildings:
            msg = f"building index out of range 0–{self.n_buildings - 1}"
            raise EditRefused(msg)
        return nodes

    def _source(self, nodes: np.ndarray, to: int) -> int:
        """The one grid slot holding ``nodes``; refuses several, or ``to`` itself."""
        st = self.state
        src = np.unique(st.label[nodes])
        if len(src) > 1:
            msg = f"the buildings lie in {len(src)} grids ({', '.join(st.ids[src])}); move them from one grid at a time"
            raise EditRefused(msg)
        a = int(src[0])
        if a == to:
            msg = f"the buildings are in grid {st.ids[to]} already"
            raise EditRefused(msg)
        return a

    def _check_leaving(self, a: int, nodes: np.ndarray) -> None:
        """Refuse a move of ``nodes`` that leaves grid ``a`` empty or in two pieces."""
        st = self.state
        rest = np.setdiff1d(np.flatnonzero(st.label == a), nodes, assume_unique=True)
        if not len(rest):
            msg = (
                f"moving every building of grid {st.ids[a]} empties it; merge the two grids instead"
            )
            raise EditRefused(msg)
        if not self._connected(rest):
            msg = f"grid {st.ids[a]} would be left in two pieces; move a piece on its edge, or the pieces together"
            raise EditRefused(msg)

    def _check_joining(self, b: int, nodes: np.ndarray) -> None:
        """Refuse a move of ``nodes`` to grid ``b`` that does not border them or that
        would leave ``b`` in two pieces."""
        st = self.state
        joined = np.concatenate([np.flatnonzero(st.label == b), nodes])
        if not st.adjacency[nodes][:, joined[: -len(nodes)]].count_nonzero():
            msg = (
                f"grid {st.ids[b]} does not border the buildings; move them to a neighbouring grid"
            )
            raise EditRefused(msg)
        if not self._connected(joined):
            msg = f"grid {st.ids[b]} would be in two pieces; select buildings that touch it"
            raise EditRefused(msg)

    # -- merge and split ----------------------------------------------------------

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
        halves = self._halves(a, nodes, random_state=random_state)
        self._push()
        b = self._new_grid(a)
        st = self.state
        st.label[nodes[halves == 1]] = b
        st.edited[a] = True
        self._recount([a, b])
        self._redraw([a, b])
        return [str(st.ids[a]), str(st.ids[b])]

    def _halves(self, a: int, nodes: np.ndarray, *, random_state: int) -> np.ndarray:
        """0 or 1 for each of ``nodes`` (the buildings of grid ``a``): the engine's cut
        into two connected halves of about equal households; refuses when it finds none."""
        st = self.state
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
        return labels

    def _new_grid(self, a: int) -> int:
        """A new slot for a grid split off ``a``: a free id, ``a``'s community, edited,
        no code, note nor buildings yet."""
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
        return b

    def _free_id(self, base: str) -> str:
        taken = set(self.state.ids.astype(str))
        for k in range(1, 10_000):
            cand = f"{base}-{k}"
            if cand not in taken:
                return cand
        msg = "no free grid id"
        raise EditRefused(msg)

    # -- locks, notes, rebalance --------------------------------------------------

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
