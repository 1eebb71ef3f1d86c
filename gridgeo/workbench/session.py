"""The planner's edit session (规划工作台): a plan held on arrays, edited move by move.

A :class:`Session` holds a grid plan (grids and the buildings assigned to them) and
applies the planner's edits: move buildings to a neighbouring grid, merge two grids,
split one in two, lock grids, note them, rebalance the unlocked rest with
:func:`gridgeo.rebalance`, undo and redo. Every grid is the union of the cells of
its buildings (:mod:`.tessellate`): contiguity is checked on the cells' adjacency, and
a move recomputes only the two grids it touches. An edit that the rules forbid raises
:class:`EditRefused` with the reason, and changes nothing.

The session is put together from one module per concern: :mod:`.layers` (reading a
plan and turning its layers into arrays), :mod:`.state` (what an edit changes),
:mod:`.cells` (cells, adjacency, polygons and counts kept in step), :mod:`.figures`
(tables and layers), :mod:`.edits` (the edits and their checks) and :mod:`.history`
(undo, redo, snapshots).

Examples
--------
::

    s = Session.open("out/wangjing")
    s.move(s.piece(12), "G0004")   # EditRefused with the reason when not allowed
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np

from ..datum import check_datum
from ..engine import Band
from . import layers
from .cells import Cells
from .edits import Edits
from .figures import Figures
from .history import HISTORY, History
from .layers import read_plan
from .state import EditRefused, State

__all__ = ["HISTORY", "EditRefused", "Session", "read_plan"]


@dataclass
class Session(Edits, History, Figures, Cells):
    """A plan being edited (see the module notes).

    Build one with :meth:`open` (a plan folder or GeoPackage) or from layers with
    :meth:`from_layers`.
    """

    footprints: gpd.GeoDataFrame  # the buildings (metric CRS), as read
    households: np.ndarray  # node → households (ghosts 0)
    block: np.ndarray  # building → block id (or its own index)
    target: float
    tolerance: float
    state: State
    source: str = ""
    streets: gpd.GeoDataFrame | None = None  # street lines (metric CRS), when known
    undo_stack: list[State] = field(default_factory=list)
    redo_stack: list[State] = field(default_factory=list)
    # grid id → why the plan put it out of band (its ``reason``), while it is not edited
    plan_reasons: dict[str, str] = field(default_factory=dict)

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
        layers.check_columns(grids, buildings, grid_id=grid_id, households=households)
        grids = layers.metric(grids, buildings)
        buildings = buildings.to_crs(grids.crs).reset_index(drop=True)
        check_datum(grids, buildings, name="grids")  # a city's grids drawn over Gaode maps
        ids = grids[grid_id].astype(str).to_numpy()
        buildings = layers.with_grid(buildings, grids, ids)
        label = layers.labels(buildings, ids, grid_id=grid_id)
        hh = layers.household_counts(buildings, households)
        s = cls(
            footprints=buildings[[c for c in buildings.columns if c != "grid_id"]],
            households=np.concatenate([hh, np.zeros(len(label) - len(hh), dtype=np.int64)]),
            block=layers.blocks(buildings),
            target=float(target) if target else layers.plan_target(grids),
            tolerance=float(tolerance),
            state=layers.grid_state(grids, ids, label),
            plan_reasons=layers.plan_reasons(grids, ids),
        )
        if streets is not None and len(streets):
            s.streets = streets.to_crs(grids.crs)[["geometry"]].reset_index(drop=True)
        s._tessellate()
        s._recount()
        return s

    @property
    def n_buildings(self) -> int:
        return len(self.footprints)

    @property
    def band(self) -> Band:
        return Band.around(self.target, self.tolerance)
