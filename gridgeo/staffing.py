"""Staffing and budget of a grid plan: grid workers, liaisons, liaison budget, workload.

Per grid (and in total):

- **grid workers** (网格员): one per grid by default (一格一员); optionally one more per
  ``households_per_worker`` households; none for a grid with no households (a
  dedicated grid of a factory or a park is looked after by its own unit);
- **liaisons** (网格联络员, building heads of micro-grids): one per micro-grid when
  micro-grids are given (their ``liaisons`` column when present, see
  :func:`gridgeo.hierarchy.micro_grids`), else one per ``households_per_liaison``
  households; plus **extra liaisons** for the load beyond households — shops, rentals,
  special groups — one per ``households_per_liaison`` household-equivalents of it
  (rounded to the nearest);
- **yearly liaison budget**: households × a rate per household — 20 yuan a year in
  villages (rural grids), 40 in urban communities by default (both configurable);
- **workload index**: Σ weight × count over households, shops, rentals and special
  groups (whichever are given), divided by the target households of a grid: 1.0 is a
  grid of exactly the target with nothing else.

The counts come from columns of the grids, or are summed from columns of the buildings
(``grid_id`` and the same names); ``shops`` falls back on the number of buildings with an
OSM ``shop`` tag. :func:`write_staffing_csv` writes the table as CSV in UTF-8 with a BOM
and Chinese + English headers, which Excel opens with the Chinese intact.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> grids = gpd.GeoDataFrame(
...     {"grid_id": ["G1", "G2"], "households": [300, 280], "grid_type": ["basic", "rural"],
...      "rentals": [60, 0]},
...     geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=3857,
... )
>>> t = staffing_table(grids)
>>> t[["grid_id", "workers", "liaisons", "liaison_budget_yuan", "workload_index"]].values.tolist()
[['G1', 1, 10, 12000.0, 1.2], ['G2', 1, 7, 5600.0, 0.93]]
>>> staffing_totals(t)["liaison_budget_yuan"]
17600.0
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._errors import InputError
from ._validate import check_column, check_counts, check_positive

__all__ = [
    "DEFAULT_WEIGHTS",
    "HEADERS",
    "StaffingRules",
    "attach_staffing",
    "staffing_table",
    "staffing_totals",
    "write_staffing_csv",
]

log = logging.getLogger(__name__)

#: Workload weights per item, in household-equivalents: a rental household counts once
#: more than a household, a shop half, a person of a special group (living alone in old
#: age, disabled, under community correction …) twice.
DEFAULT_WEIGHTS: dict[str, float] = {
    "households": 1.0,
    "shops": 0.5,
    "rentals": 1.0,
    "special": 2.0,
}

#: Bilingual CSV headers (Chinese first, for the office; English after).
HEADERS: dict[str, str] = {
    "grid_id": "网格编号 Grid ID",
    "code": "网格编码 Grid code",
    "community_id": "所属社区 Community",
    "area_type": "城乡 Urban/rural",
    "households": "户数 Households",
    "shops": "商铺 Shops",
    "rentals": "出租户 Rentals",
    "special": "特殊人群 Special groups",
    "workload_index": "工作量指数 Workload index",
    "workers": "网格员 Grid workers",
    "micro_grids": "微网格 Micro-grids",
    "liaisons": "联络员 Liaisons",
    "extra_liaisons": "其中加配 Extra liaisons",
    "liaison_rate_yuan": "补贴标准(元/户·年) Rate (yuan/household/year)",
    "liaison_budget_yuan": "联络员经费(元/年) Liaison budget (yuan/year)",
}

_TOTAL = "合计 Total"


@dataclass(frozen=True, kw_only=True)
class StaffingRules:
    """How many people a grid needs and what they cost.

    Attributes
    ----------
    workers_per_grid : int, default 1
        Grid workers per grid (一格一员).
    households_per_worker : float, optional
        When given, a grid gets at least one worker per this many households.
    households_per_liaison : float, default 40
        Households a liaison looks after (a micro-grid of 30–50 households): used when
        micro-grids are not given, and for the extra liaisons.
    rate_urban, rate_rural : float, default 40 and 20
        Liaison pay in yuan per household per year in urban communities and villages.
    target : float, default 300
        Households of a standard grid: the workload index is 1.0 there.
    weights : mapping
        Household-equivalents per item (see :data:`DEFAULT_WEIGHTS`).
    """

    workers_per_grid: int = 1
    households_per_worker: float | None = None
    households_per_liaison: float = 40.0
    rate_urban: float = 40.0
    rate_rural: float = 20.0
    target: float = 300.0
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    def __post_init__(self) -> None:
        if int(self.workers_per_grid) != self.workers_per_grid or self.workers_per_grid < 0:
            msg = (
                f"workers_per_grid must be a whole number, 0 or more, got {self.workers_per_grid!r}"
            )
            raise InputError(msg)
        for name in ("households_per_liaison", "target"):
            check_positive(getattr(self, name), name)
        if self.households_per_worker is not None:
            check_positive(self.households_per_worker, "households_per_worker")
        for name in ("rate_urban", "rate_rural"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                msg = f"{name} must be a number of yuan, 0 or more, got {value!r}"
                raise InputError(msg)
        for key, value in self.weights.items():
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                msg = f"workload weight of {key!r} must be a number, 0 or more, got {value!r}"
                raise InputError(msg)


def staffing_table(
    grids: pd.DataFrame,
    *,
    buildings: pd.DataFrame | None = None,
    micro_grids: pd.DataFrame | None = None,
    rules: StaffingRules | None = None,
    rural: str | Sequence[bool] | None = None,
    grid_id: str = "grid_id",
) -> pd.DataFrame:
    """Workers, liaisons, budget and workload of every grid.

    Parameters
    ----------
    grids : DataFrame or GeoDataFrame
        One row per grid with ``grid_id`` and ``households``; optional ``code``,
        ``community_id``, ``grid_type`` (``rural`` grids are paid the rural rate), and
        counts ``shops``, ``rentals``, ``special`` (and any other key of the weights).
    buildings : DataFrame, optional
        Buildings with ``grid_id``: counts missing from ``grids`` are summed from their
        columns of the same name (``shops`` also from OSM ``shop`` tags).
    micro_grids : DataFrame, optional
        Micro-grids with ``grid_id`` (and ``liaisons``, else one each): liaisons per grid.
    rules : StaffingRules, optional
    rural : str or sequence of bool, optional
        Column of ``grids`` marking rural grids (true/false, or urban–rural codes
        starting with 2 for rural), or one flag per grid. Default: ``grid_type ==
        "rural"`` when that column exists, else urban.
    grid_id : str, default "grid_id"

    Returns
    -------
    DataFrame
        ``grid_id``, ``code`` and ``community_id`` when given, ``area_type``
        (urban/rural), ``households``, the counts found, ``workload_index``,
        ``workers``, ``micro_grids``, ``liaisons``, ``extra_liaisons``,
        ``liaison_rate_yuan``, ``liaison_budget_yuan``.
    """
    rules = rules or StaffingRules()
    check_column(grids, grid_id, "grids")
    check_column(grids, "households", "grids")
    hh = check_counts(grids["households"], "grids households").to_numpy(dtype=float)
    ids = grids[grid_id].to_numpy()
    out = pd.DataFrame({"grid_id": ids})
    for col in ("code", "community_id"):
        if col in grids.columns:
            out[col] = grids[col].to_numpy()
    is_rural = _rural(grids, rural)
    out["area_type"] = np.where(is_rural, "rural", "urban")
    out["households"] = hh.astype(np.int64)
    load = hh * rules.weights.get("households", 1.0)
    extra = np.zeros(len(grids))
    for key, weight in rules.weights.items():
        if key == "households":
            continue
        values = _counts(grids, buildings, key, ids)
        if values is None:
            continue
        out[key] = values.astype(np.int64) if np.all(values == np.round(values)) else values
        load = load + weight * values
        extra = extra + weight * values
    out["workload_index"] = np.round(load / rules.target, 2)
    workers = np.full(len(grids), int(rules.workers_per_grid), dtype=np.int64)
    if rules.households_per_worker is not None:
        workers = np.maximum(workers, np.ceil(hh / rules.households_per_worker).astype(np.int64))
    workers[hh == 0] = 0  # nobody lives there: no grid worker to visit them
    out["workers"] = workers
    per = rules.households_per_liaison
    if micro_grids is not None:
        check_column(micro_grids, "grid_id", "micro-grids")
        counts = micro_grids.groupby("grid_id").size()
        if "liaisons" in micro_grids.columns:
            base_s = micro_grids.groupby("grid_id")["liaisons"].sum()
        else:
            base_s = counts
        micro = counts.reindex(ids, fill_value=0).to_numpy(dtype=np.int64)
        base = base_s.reindex(ids, fill_value=0).to_numpy(dtype=np.int64)
    else:
        micro = np.ceil(hh / per - 1e-9).astype(np.int64)
        base = micro
    extra_liaisons = np.floor(extra / per + 0.5).astype(np.int64)  # to the nearest
    out["micro_grids"] = micro
    out["liaisons"] = base + extra_liaisons
    out["extra_liaisons"] = extra_liaisons
    rate = np.where(is_rural, rules.rate_rural, rules.rate_urban).astype(float)
    out["liaison_rate_yuan"] = rate
    out["liaison_budget_yuan"] = hh * rate
    return out


def staffing_totals(table: pd.DataFrame) -> dict[str, Any]:
    """Totals of a :func:`staffing_table`: grids, households, workers, micro-grids,
    liaisons, budget, mean workload index (and the counts found).

    >>> staffing_totals(pd.DataFrame({"grid_id": ["a"], "households": [300],
    ...     "workers": [1], "micro_grids": [8], "liaisons": [8], "extra_liaisons": [0],
    ...     "liaison_budget_yuan": [12000.0], "workload_index": [1.0]}))["liaisons"]
    8
    """
    out: dict[str, Any] = {"grids": len(table)}
    for col in (
        "households",
        "shops",
        "rentals",
        "special",
        "workers",
        "micro_grids",
        "liaisons",
        "extra_liaisons",
    ):
        if col in table.columns:
            out[col] = int(table[col].sum())
    if "liaison_budget_yuan" in table.columns:
        out["liaison_budget_yuan"] = float(table["liaison_budget_yuan"].sum())
    if "workload_index" in table.columns and len(table):
        out["workload_index_mean"] = round(float(table["workload_index"].mean()), 3)
    return out


def write_staffing_csv(table: pd.DataFrame, path: str | Path, *, total: bool = True) -> Path:
    """Write the table as CSV for Excel: UTF-8 with BOM, Chinese + English headers, and
    a total row (合计 Total) at the end.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = table.copy()
    if total and len(frame):
        sums = staffing_totals(frame)
        row: dict[str, Any] = dict.fromkeys(frame.columns)
        row["grid_id"] = _TOTAL
        for col in frame.columns:
            if col in sums:
                row[col] = sums[col]
        if "workload_index" in frame.columns:
            row["workload_index"] = sums.get("workload_index_mean")
        frame = pd.concat([frame, pd.DataFrame([row])], ignore_index=True)
    frame = frame.rename(columns={c: HEADERS.get(c, c) for c in frame.columns})
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    log.info("staffing table written to %s", path)
    return path


def attach_staffing(grids: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """``grids`` with the staffing columns joined on ``grid_id`` (for maps and files).

    >>> g = pd.DataFrame({"grid_id": ["a", "b"]})
    >>> t = pd.DataFrame({"grid_id": ["b", "a"], "workers": [1, 2], "liaisons": [3, 4]})
    >>> attach_staffing(g, t)["liaisons"].tolist()
    [4, 3]
    """
    cols = [
        c
        for c in (
            "workers",
            "liaisons",
            "micro_grids",
            "liaison_budget_yuan",
            "workload_index",
            "area_type",
        )
        if c in table.columns
    ]
    joined = table.set_index("grid_id")[cols].reindex(grids["grid_id"].to_numpy())
    out = grids.copy()
    for c in cols:
        out[c] = joined[c].to_numpy()
    return out


def _rural(grids: pd.DataFrame, rural: str | Sequence[bool] | None) -> np.ndarray:
    n = len(grids)
    if rural is None:
        if "grid_type" in grids.columns:
            return (grids["grid_type"].astype("string") == "rural").fillna(False).to_numpy(bool)
        return np.zeros(n, dtype=bool)
    if isinstance(rural, str):
        check_column(grids, rural, "grids")
        from .constraints import rural_flags

        return np.asarray(rural_flags(grids, rural), dtype=bool)
    flags = np.asarray(rural, dtype=bool)
    if flags.shape != (n,):
        msg = f"rural has {flags.size} flags for {n} grids; give one per grid"
        raise InputError(msg)
    return flags


def _counts(grids, buildings, key: str, ids) -> np.ndarray | None:
    """Per-grid count of ``key``: a grids column, else summed from buildings."""
    if key in grids.columns:
        return check_counts(grids[key], f"grids column {key!r}").to_numpy(dtype=float)
    if buildings is None or "grid_id" not in buildings.columns:
        return None
    if key in buildings.columns:
        values = check_counts(
            buildings[key].fillna(0), f"buildings column {key!r}", allow_missing=True
        )
    elif key == "shops" and "shop" in buildings.columns:
        values = buildings["shop"].notna().astype(float)
    else:
        return None
    summed = values.groupby(buildings["grid_id"].to_numpy()).sum()
    return summed.reindex(ids, fill_value=0).to_numpy(dtype=float)
