"""The session's history: undo and redo of edits, and the plan as a snapshot (what a
saved version holds, :mod:`.versions`) and back.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from .._errors import InputError
from .state import State

__all__ = ["HISTORY", "History"]

#: Undo steps kept.
HISTORY = 200


class History:
    """Undo, redo, snapshot and restore of a :class:`~.session.Session` (a mixin)."""

    footprints: gpd.GeoDataFrame
    households: np.ndarray
    target: float
    tolerance: float
    state: State
    undo_stack: list[State]
    redo_stack: list[State]
    n_buildings: int

    def _push(self) -> None:
        self.undo_stack.append(self.state.copy())
        del self.undo_stack[:-HISTORY]
        self.redo_stack.clear()

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
