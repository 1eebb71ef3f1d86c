"""A plan's layers for the edit session: read from a plan folder or GeoPackage
(:func:`read_plan`), checked, and turned into the session's arrays (each building's
grid slot, households, blocks, and the grids' :class:`~.state.State`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from .._errors import InputError, ReadError
from ..reasons import REASONS
from .state import State

__all__ = [
    "blocks",
    "check_columns",
    "grid_state",
    "household_counts",
    "labels",
    "metric",
    "plan_target",
    "read_plan",
    "with_grid",
]


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
    names = _layer_names(p)
    missing = [n for n in ("grids", "buildings") if n not in names]
    if missing:
        msg = f"{p} has no layer {' or '.join(missing)} (layers: {', '.join(names)}); give a plan with grids and buildings"
        raise ReadError(msg)
    grids = pyogrio.read_dataframe(p, layer="grids")
    buildings = pyogrio.read_dataframe(p, layer="buildings")
    if "streets" in names:
        figures["streets"] = pyogrio.read_dataframe(p, layer="streets")
    return grids, buildings, figures


def _layer_names(path: Path) -> list[str]:
    """The layers of the GeoPackage ``path``; refuses a file it cannot read."""
    try:
        return [str(r[0]) for r in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio raises several DataSourceError kinds
        msg = f"cannot read {path}: {exc}"
        raise ReadError(msg) from exc


def check_columns(
    grids: pd.DataFrame, buildings: pd.DataFrame, *, grid_id: str, households: str
) -> None:
    """Refuse grids without ``grid_id`` or buildings without ``households``."""
    for frame, cols, name in (
        (grids, [grid_id], "grids"),
        (buildings, [households], "buildings"),
    ):
        gone = [c for c in cols if c not in frame.columns]
        if gone:
            msg = f"{name} have no column {', '.join(gone)}; give a plan written by gridgeo (grids.gpkg)"
            raise InputError(msg)


def metric(grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``grids`` in a metric CRS (their own when projected, else the plan's)."""
    if grids.crs is None or not grids.crs.is_projected:
        from ..crs import plan_metric_crs

        crs = plan_metric_crs(grids, buildings)
        grids = grids.to_crs(crs)
    return grids


def with_grid(
    buildings: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, ids: np.ndarray
) -> gpd.GeoDataFrame:
    """``buildings`` with a ``grid_id``: their own, or else the grid holding a point of
    each footprint (as for a city's own grid polygons)."""
    if "grid_id" in buildings.columns:
        return buildings
    return buildings.assign(grid_id=_grid_of_points(grids.geometry.to_numpy(), buildings, ids))


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


def labels(buildings: pd.DataFrame, ids: np.ndarray, *, grid_id: str) -> np.ndarray:
    """Each node's grid slot: the buildings' (by their ``grid_id``), then one ghost
    node for each grid without a building. Refuses ids that are not unique (``grid_id``
    names the grids' column) and buildings of a grid not in ``ids``."""
    if len(set(ids)) != len(ids):
        msg = f"grid ids of column {grid_id!r} are not unique; give every grid its own id"
        raise InputError(msg)
    slot_of = {g: i for i, g in enumerate(ids)}
    bgrid = buildings["grid_id"].astype(str).map(slot_of)
    if bgrid.isna().any():
        n = int(bgrid.isna().sum())
        msg = f"{n} buildings have a grid_id that is not a grid of the plan; give buildings of this plan"
        raise InputError(msg)
    label = bgrid.to_numpy(dtype=np.int64)
    empty = np.setdiff1d(np.arange(len(ids)), label)  # ghost nodes
    return np.concatenate([label, empty])


def household_counts(buildings: pd.DataFrame, column: str) -> np.ndarray:
    """Households of each building (column ``column``; missing or not a number: 0)."""
    hh = pd.to_numeric(buildings[column], errors="coerce").fillna(0).to_numpy()
    return np.round(hh).astype(np.int64)


def blocks(buildings: pd.DataFrame) -> np.ndarray:
    """Each building's block (``block_id``), else its own index (as text)."""
    if "block_id" in buildings.columns:
        return buildings["block_id"].astype(str).to_numpy()
    return np.arange(len(buildings)).astype(str)


def plan_target(grids: pd.DataFrame) -> float:
    """households ÷ (1 + deviation), the median over grids: the target a gridgeo plan
    was drawn for; 300 without those columns."""
    if not {"households", "deviation"} <= set(grids.columns):
        return 300.0
    hh = pd.to_numeric(grids["households"], errors="coerce").to_numpy(dtype=float)
    dev = pd.to_numeric(grids["deviation"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(hh) & np.isfinite(dev) & (hh > 0) & (dev > -1)
    return round(float(np.median(hh[ok] / (1 + dev[ok]))), 6) if ok.any() else 300.0


def grid_state(grids: gpd.GeoDataFrame, ids: np.ndarray, label: np.ndarray) -> State:
    """The state of ``grids`` (ids ``ids``, optional ``code``, ``community_id``,
    ``note``, ``locked``) with each node's slot ``label``; nothing edited yet."""
    n = len(ids)

    def col(name: str, default: Any) -> np.ndarray:
        if name in grids.columns:
            return grids[name].to_numpy(dtype=object)
        return np.full(n, default, dtype=object)

    return State.of_grids(
        label,
        ids,
        code=_text(col("code", None), None),
        community=np.array([str(v) for v in col("community_id", "")], dtype=object),
        note=_text(col("note", ""), ""),
        locked=np.array(
            [str(v).strip().lower() in {"true", "1", "yes", "是"} for v in col("locked", False)]
        ),
        edited=np.zeros(n, dtype=bool),
        geometry=grids.geometry.to_numpy().copy(),
    )


def plan_reasons(grids: pd.DataFrame, ids: np.ndarray) -> dict[str, str]:
    """Grid id → the ``reason`` the plan gave for a grid out of band (a key of
    :data:`gridgeo.reasons.REASONS`: a dedicated zone, a single building …)."""
    if "reason" not in grids.columns:
        return {}
    reason = _text(grids["reason"].to_numpy(dtype=object), None)
    return {str(i): r for i, r in zip(ids, reason, strict=True) if r in REASONS}


def _text(values: np.ndarray, missing: Any) -> np.ndarray:
    """``values`` as text, ``missing`` for None and NaN."""
    return np.array([missing if v is None or v != v else str(v) for v in values], dtype=object)
