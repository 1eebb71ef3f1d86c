"""What the session shows of its plan: the grids' table (households, deviation,
staffing, why out of band), the grids and buildings as layers, each grid's neighbours,
each building's grid and its piece of a block.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from ..engine import Band
from ..staffing import StaffingRules, staffing_table
from .state import State

__all__ = ["Figures"]


class Figures:
    """The tables and layers of a :class:`~.session.Session` (a mixin)."""

    footprints: gpd.GeoDataFrame
    households: np.ndarray
    block: np.ndarray
    target: float
    state: State
    n_buildings: int
    band: Band
    plan_reasons: dict[str, str]

    def table(self) -> pd.DataFrame:
        """One row per grid: ``grid_id``, ``code``, ``community_id``, ``households``,
        ``buildings``, ``deviation``, ``workers``, ``liaisons``, ``locked``, ``edited``,
        ``out_of_band`` and ``why`` (too few / too many households; for a grid as the plan
        drew it, the plan's reason as ``reason_<key>``, e.g. a dedicated zone), ``note``."""
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
        # a grid as the plan drew it keeps the plan's reason (a dedicated zone, …)
        plan = out["grid_id"].map(self.plan_reasons).to_numpy(dtype=object)
        kept = pd.notna(plan) & (low | high) & ~st.edited[slots]
        out["why"] = np.where(
            kept, "reason_" + plan.astype(str), _why(low, high, single=st.buildings[slots] == 1)
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


def _why(low: np.ndarray, high: np.ndarray, *, single: np.ndarray) -> np.ndarray:
    """Why each grid is out of band: too few or too many households, or one building
    (``single``) over the band; empty in band."""
    return np.where(
        low,
        "too few households",
        np.where(
            high & single,
            "one building over the band",
            np.where(high, "too many households", ""),
        ),
    )
