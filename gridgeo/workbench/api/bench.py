"""The workbench's server-side state: the plan open, its version store, where plans come
from, and the plan as the page draws it (:meth:`Workbench.state_text`)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from fastapi import HTTPException

from .. import sources
from ..session import Session
from ..versions import VersionStore

__all__ = ["Workbench"]


class Workbench:
    """The plan open in the workbench, its version store, and where plans come from.

    Parameters
    ----------
    session : Session or None
        The plan open (None: the page asks the planner to open one).
    store : VersionStore
    plan : str, optional
        Key of the plan in the store (default: the session's source).
    data_dir : path, optional
        Where :mod:`~gridgeo.workbench.sources` finds plans to open and keeps uploads (default: none
        offered).
    jobs : bool, default False
        Whether the service's job API is next to the workbench (``gridgeo serve``): the
        page then offers a new partition of uploaded layers.
    """

    def __init__(
        self,
        session: Session | None,
        store: VersionStore,
        *,
        plan: str | None = None,
        data_dir: str | Path | None = None,
        jobs: bool = False,
    ) -> None:
        self.store = store
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.jobs = jobs
        self.lock = threading.Lock()
        self.session: Session | None = None
        self.plan = ""
        self.base: int | None = None
        if session is not None:
            self.load(session, plan=plan)

    @classmethod
    def open(cls, plan: str | Path, data_dir: str | Path) -> Workbench:
        """The plan folder or GeoPackage ``plan``, versions in ``data_dir``."""
        return cls(Session.open(plan), VersionStore(data_dir), data_dir=data_dir)

    def load(self, session: Session, *, plan: str | None = None) -> None:
        """Make ``session`` the plan open (its versions under ``plan``)."""
        self.session = session
        if plan is None and self.data_dir is not None and session.source:
            plan = sources.source_name(self.data_dir, session.source)
        self.plan = plan or session.source or "plan"
        self.base = self.store.head(self.plan)

    def current(self) -> Session:
        """The session open; refuses (409) before a plan is open."""
        if self.session is None:
            raise HTTPException(409, detail="no plan is open; open one with POST /api/open")
        return self.session

    def state(self) -> dict[str, Any]:
        """What the page draws: figures, the grids (GeoJSON in WGS 84 with the table's
        columns and each grid's neighbours), each building's grid, undo/redo
        availability, the base version."""
        return json.loads(self.state_text())

    def state_text(self, result: Any = None) -> str:
        """:meth:`state` as JSON text, with ``result`` (an edit's answer) when given.

        Written without a round trip through Python objects, and each grid's GeoJSON
        geometry kept while its polygon is the same object: a move on a plan of
        Monaco's size re-serialises the two grids it changed, not all 250.
        """
        if self.session is None:
            head = {"open": False, "jobs": self.jobs, "sources": self.data_dir is not None}
            return json.dumps(head)
        table = self.session.table()
        head = self._head(table)
        if result is not None:
            head["result"] = result
        text = json.dumps(head, ensure_ascii=False, default=_plain)
        grids = '{"type":"FeatureCollection","features":[' + self._features(table) + "]}"
        return text[:-1] + ',"grids":' + grids + "}"

    def _head(self, table: pd.DataFrame) -> dict[str, Any]:
        """The figures of the plan open (``table``: its grids' table)."""
        s = self.current()
        band = s.band
        return {
            "open": True,
            "jobs": self.jobs,
            "sources": self.data_dir is not None,
            "plan": self.plan,
            "target": s.target,
            "tolerance": s.tolerance,
            "band": [band.lower, band.upper],
            "base": self.base,
            "can_undo": bool(s.undo_stack),
            "can_redo": bool(s.redo_stack),
            "households": int(table["households"].sum()),
            "streets": s.streets is not None,
            "building_grid": s.grid_of(range(s.n_buildings)),
        }

    def _features(self, table: pd.DataFrame) -> str:
        """The grids as GeoJSON features (text): the rows of ``table`` with each grid's
        neighbours, and the polygons in WGS 84."""
        s = self.current()
        rows = json.loads(
            table.assign(neighbours=s.neighbours()).to_json(orient="records", force_ascii=False)
        )
        geoms = [self._geojson(s.state.geometry[slot]) for slot in np.flatnonzero(s.state.alive)]
        return ",".join(
            f'{{"type":"Feature","properties":{json.dumps(row, ensure_ascii=False)},"geometry":{g}}}'
            for row, g in zip(rows, geoms, strict=True)
        )

    def _geojson(self, geom: Any) -> str:
        """GeoJSON text of a grid polygon in WGS 84 (kept per polygon object)."""
        cache = self.__dict__.setdefault("_wgs84", {})
        hit = cache.get(id(geom))
        if hit is not None and hit[0] is geom:
            return hit[1]
        if geom is None:
            return "null"
        if len(cache) > 20_000:
            cache.clear()
        from pyproj import Transformer

        crs = self.current().footprints.crs
        if self.__dict__.get("_wgs84_crs") != crs:
            cache.clear()
            self._wgs84_crs = crs
            self._to_wgs84 = Transformer.from_crs(crs, 4326, always_xy=True)
        moved = shapely.transform(
            geom, lambda xy: np.column_stack(self._to_wgs84.transform(xy[:, 0], xy[:, 1]))
        )
        text = shapely.to_geojson(moved)
        cache[id(geom)] = (geom, text)
        return text


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers (for json.dumps)."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")
