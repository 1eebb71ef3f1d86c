"""Positions along frontage runs: grouping shops along them, strips beside them, the
order zones and micro-grids are listed in, and comma-joined id lists."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

_COMPASS = ("E", "NE", "N", "NW", "W", "SW", "S", "SE")


def _groups_along(
    rows: np.ndarray, run: np.ndarray, side: np.ndarray, pos: np.ndarray, gap: float
) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` sorted by run, side and position along the run, and where a new group
    starts in that order: on another run or side, or after more than ``gap`` metres."""
    order = rows[np.lexsort((pos[rows], side[rows], run[rows]))]
    ro, so, po = run[order], side[order], pos[order]
    new = np.r_[True, (ro[1:] != ro[:-1]) | (so[1:] != so[:-1]) | (np.diff(po) > gap)]
    return order, new


def _reading_order(
    street: np.ndarray, run: np.ndarray, start: np.ndarray, side: np.ndarray
) -> np.ndarray:
    """Reading order: by street name (unnamed last), then run, position along it, side."""
    return np.lexsort((-side, start, run, pd.isna(street), street.astype(str)))


def _frontage_strips(
    lines: np.ndarray,
    line_idx: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    side: np.ndarray,
    depth: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Strips ``depth`` deep on ``side`` of the parts of lines from ``start`` to ``end``,
    and the compass side of each (see :func:`_substrings`, :func:`_strips`)."""
    sub = _substrings(lines, line_idx, start, end)
    strips = _strips(sub, side, depth)
    return strips, _compass(sub, strips)


def _substrings(
    lines: np.ndarray, line_idx: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """The part of ``lines[line_idx[k]]`` between distances ``start[k]`` and ``end[k]``."""
    n = len(line_idx)
    if n == 0:
        return np.array([], dtype=object)
    xy, owner = shapely.get_coordinates(lines, return_index=True)
    seg = np.r_[0.0, np.hypot(*np.diff(xy, axis=0).T)]
    first = np.r_[True, owner[1:] != owner[:-1]]
    seg[first] = 0.0
    cum = np.cumsum(seg)
    base = np.maximum.accumulate(np.where(first, cum, 0.0))
    along = cum - base  # distance of each vertex along its own line
    lengths = shapely.length(lines)
    offset = np.r_[0.0, np.cumsum(lengths + 1.0)[:-1]]  # lines apart on one axis
    key = along + offset[owner]
    lo = np.searchsorted(key, offset[line_idx] + start, side="right")
    hi = np.searchsorted(key, offset[line_idx] + end, side="left")
    hi = np.maximum(hi, lo)
    inner = hi - lo
    which = np.repeat(np.arange(n), inner)
    rank = np.arange(int(inner.sum())) - np.repeat(np.cumsum(inner) - inner, inner)
    vertex = np.repeat(lo, inner) + rank
    a = shapely.get_coordinates(shapely.line_interpolate_point(lines[line_idx], start))
    b = shapely.get_coordinates(shapely.line_interpolate_point(lines[line_idx], end))
    zone = np.r_[np.arange(n), which, np.arange(n)]
    order_key = np.r_[np.full(n, -1.0), rank.astype(float), np.full(n, np.inf)]
    coords = np.vstack([a, xy[vertex], b])
    order = np.lexsort((order_key, zone))
    return shapely.linestrings(coords[order], indices=zone[order])


def _strips(lines: np.ndarray, side: np.ndarray, depth: float) -> np.ndarray:
    """Strip from each line to ``depth`` metres on its side (+1 left, −1 right)."""
    if len(lines) == 0:
        return np.array([], dtype=object)
    return shapely.buffer(lines, side * depth, single_sided=True)


def _compass(lines: np.ndarray, strips: np.ndarray) -> np.ndarray:
    """Compass side (N, NE, E …) of each strip seen from the middle of its street."""
    if len(lines) == 0:
        return np.array([], dtype=object)
    mid = shapely.line_interpolate_point(lines, 0.5, normalized=True)
    c = shapely.centroid(strips)
    dx = shapely.get_x(c) - shapely.get_x(mid)
    dy = shapely.get_y(c) - shapely.get_y(mid)
    ok = np.isfinite(dx) & np.isfinite(dy)
    angle = np.degrees(np.arctan2(np.where(ok, dy, 0.0), np.where(ok, dx, 0.0)))
    sector = np.round(angle / 45.0).astype(np.int64) % 8
    out = np.asarray(_COMPASS, dtype=object)[sector]
    out[~ok] = None
    return out


def _join_ids(keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Comma-joined sorted unique ids per key 0…n−1 (None where there is none).

    ``values`` may themselves be comma-joined lists of ids, or None.
    """
    out = np.full(n, None, dtype=object)
    df = pd.DataFrame({"k": np.asarray(keys), "v": pd.Series(values, dtype=object)}).dropna()
    if len(df):
        df["v"] = df["v"].astype(str).str.split(",")
        df = df.explode("v")
        df = df[df["v"] != ""].drop_duplicates().sort_values(["k", "v"])
        joined = df.groupby("k")["v"].agg(",".join)
        out[joined.index.to_numpy(dtype=np.int64)] = joined.to_numpy()
    return out
