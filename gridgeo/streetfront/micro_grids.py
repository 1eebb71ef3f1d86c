"""Proposed street-front micro-grids: stretches of shops along a run and side, cut
into pieces of bounded size."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from .._tables import empty_layer, sequential_ids
from ._along import _frontage_strips, _groups_along, _join_ids, _reading_order
from .options import StreetFrontOptions
from .result import MICRO_GRID_COLUMNS


def _micro_grids(
    take: np.ndarray,
    run: np.ndarray,
    side: np.ndarray,
    pos: np.ndarray,
    zone_id: np.ndarray,
    shop_grids: np.ndarray,
    runs: gpd.GeoDataFrame,
    opt: StreetFrontOptions,
) -> gpd.GeoDataFrame:
    """Group shops along runs into micro-grids (see the module notes)."""
    columns = MICRO_GRID_COLUMNS
    if len(take) == 0:
        return empty_layer(columns, runs.crs)
    order, brk = _groups_along(take, run, side, pos, opt.micro_grid_gap)
    ro, so, po = run[order], side[order], pos[order]
    seg = np.cumsum(brk) - 1
    seg_start = np.flatnonzero(brk)
    seg_n = np.diff(np.r_[seg_start, len(order)])
    run_len = runs["length_m"].to_numpy(dtype=float)
    first, last = po[seg_start], po[seg_start + seg_n - 1]
    span = np.minimum(last + opt.end_margin, run_len[ro[seg_start]]) - np.maximum(
        first - opt.end_margin, 0.0
    )
    k = np.maximum(
        np.ceil(seg_n / opt.micro_grid_shops), np.ceil(span / opt.micro_grid_length)
    ).astype(np.int64)
    k = np.clip(k, 1, seg_n)
    rank = np.arange(len(order)) - seg_start[seg]
    piece = (rank * k[seg]) // seg_n[seg]
    big = seg_n[seg] >= opt.micro_grid_min_shops
    label_key = seg * (int(k.max()) + 1) + piece
    _, label = np.unique(label_key, return_inverse=True)
    keep = big
    if not keep.any():
        return empty_layer(columns, runs.crs)
    df = pd.DataFrame({"label": label, "seg": seg, "pos": po, "run": ro, "side": so, "keep": keep})
    agg = df.groupby("label", sort=True).agg(
        seg=("seg", "first"),
        run=("run", "first"),
        side=("side", "first"),
        first=("pos", "min"),
        last=("pos", "max"),
        shops=("pos", "size"),
        keep=("keep", "first"),
    )
    same_prev = np.r_[False, agg["seg"].to_numpy()[1:] == agg["seg"].to_numpy()[:-1]]
    same_next = np.r_[same_prev[1:], False]
    fst, lst = agg["first"].to_numpy(), agg["last"].to_numpy()
    ri = agg["run"].to_numpy()
    start = np.where(same_prev, (np.r_[np.nan, lst[:-1]] + fst) / 2, fst - opt.end_margin)
    end = np.where(same_next, (lst + np.r_[fst[1:], np.nan]) / 2, lst + opt.end_margin)
    start = np.maximum(start, 0.0)
    end = np.minimum(end, run_len[ri])
    kept = agg["keep"].to_numpy(dtype=bool)
    side = agg["side"].to_numpy()[kept]
    strips, compass = _frontage_strips(
        runs.geometry.to_numpy(), ri[kept], start[kept], end[kept], side, opt.frontage_depth
    )
    n_out = int(kept.sum())
    new_label = np.full(len(agg), -1)
    new_label[kept] = np.arange(n_out)
    lab = new_label[label]
    ok = lab >= 0
    zones = _join_ids(lab[ok], zone_id[order][ok], n_out)
    grids = _join_ids(lab[ok], shop_grids[order][ok], n_out)
    street = runs["street"].to_numpy(dtype=object)[ri[kept]]
    rank = _reading_order(street, ri[kept], start[kept], side)  # as the zones
    out = gpd.GeoDataFrame(
        {
            "micro_grid_id": sequential_ids("M", n_out),
            "street": street[rank],
            "side": compass[rank],
            "shops": agg["shops"].to_numpy()[kept].astype(np.int64)[rank],
            "length_m": np.round(end[kept] - start[kept], 3)[rank],
            "zone_ids": zones[rank],
            "grid_ids": grids[rank],
        },
        geometry=strips[rank],
        crs=runs.crs,
    )
    return out
