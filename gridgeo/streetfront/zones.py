"""The core of the street-front analysis: shops placed along runs, grouped into zones,
and the grids covering them."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._tables import empty_layer, sequential_ids
from ._along import _frontage_strips, _groups_along, _join_ids, _reading_order
from .micro_grids import _micro_grids
from .options import StreetFrontOptions
from .result import ZONE_COLUMNS, StreetFront

__all__ = ["find_street_front"]


def find_street_front(
    shops: gpd.GeoDataFrame,
    runs: gpd.GeoDataFrame,
    *,
    grid_geoms: np.ndarray | None = None,
    grid_ids: np.ndarray | None = None,
    dedicated: np.ndarray | None = None,
    options: StreetFrontOptions | None = None,
) -> StreetFront:
    """Zones, statuses and proposed micro-grids from shops and runs (all metric).

    The core of :func:`street_front` on already checked layers: ``shops`` from
    :func:`shop_points`, ``runs`` from :func:`frontage_runs`, and the grids as arrays
    of polygons, ids and street-front flags (``dedicated``).
    """
    opt = (options or StreetFrontOptions()).checked()
    crs = runs.crs if runs.crs is not None else shops.crs
    n_grids = 0 if grid_geoms is None else len(grid_geoms)
    pts = shops.geometry.to_numpy()
    n = len(pts)
    lines = runs.geometry.to_numpy()

    # --- which grids each shop stands in
    in_grid = np.zeros(n, dtype=bool)
    in_dedicated = np.zeros(n, dtype=bool)
    shop_grids = np.full(n, None, dtype=object)
    if n_grids and n:
        pi, gi = shapely.STRtree(grid_geoms).query(pts, predicate="intersects")
        in_grid[pi] = True
        in_dedicated[pi[dedicated[gi]]] = True
        shop_grids = _join_ids(pi, grid_ids[gi], n)
    cover = np.where(in_dedicated, "dedicated", np.where(in_grid, "mixed", "uncovered"))

    # --- nearest run, position along it, side
    run = np.full(n, -1, dtype=np.int64)
    if n and len(lines):
        si, ri = shapely.STRtree(lines).query_nearest(
            pts, max_distance=opt.frontage_depth, all_matches=False
        )
        run[si] = ri
    front = run >= 0
    fi = np.flatnonzero(front)
    r = run[fi]
    pos = np.full(n, np.nan)
    side = np.zeros(n, dtype=np.int64)
    if len(fi):
        line = lines[r]
        s = shapely.line_locate_point(line, pts[fi])
        length = shapely.length(line)
        foot = shapely.get_coordinates(shapely.line_interpolate_point(line, s))
        a = shapely.get_coordinates(shapely.line_interpolate_point(line, np.clip(s - 1, 0, None)))
        b = shapely.get_coordinates(shapely.line_interpolate_point(line, np.minimum(s + 1, length)))
        p = shapely.get_coordinates(pts[fi])
        d, v = b - a, p - foot
        cross = d[:, 0] * v[:, 1] - d[:, 1] * v[:, 0]
        pos[fi] = s
        side[fi] = np.where(cross >= 0, 1, -1)

    # --- zones: along each run and side, shops closer than zone_gap
    zone = np.full(n, -1, dtype=np.int64)
    order, new = _groups_along(fi, run, side, pos, opt.zone_gap)
    if len(order):
        zone[order] = np.cumsum(new) - 1
    zones, zone_rank = _zones(zone, run, side, pos, cover, shop_grids, runs, opt)
    zone_ids = zones["zone_id"].to_numpy(dtype=object)
    zid = np.full(n, None, dtype=object)
    zid[front] = zone_ids[zone_rank[zone[front]]] if len(zone_ids) else None

    names = runs["street"].to_numpy(dtype=object)
    street = np.full(n, None, dtype=object)
    street[fi] = names[r]
    side_txt = np.full(n, None, dtype=object)
    if len(zones):
        side_of_zone = zones["side"].to_numpy(dtype=object)
        side_txt[fi] = side_of_zone[zone_rank[zone[fi]]]
    shops_out = gpd.GeoDataFrame(
        {
            **{
                c: shops[c].to_numpy(dtype=object)
                for c in shops.columns
                if c != shops.geometry.name
            },
            "frontage": front,
            "street": street,
            "side": side_txt,
            "position_m": pos,
            "zone_id": zid,
            "grid_ids": shop_grids,
            "cover": cover.astype(object),
        },
        geometry=pts,
        crs=crs,
    )

    # --- proposed micro-grids: shops of zones that are not dedicated
    status_of_shop = np.full(n, None, dtype=object)
    if len(zones):
        st = zones["status"].to_numpy(dtype=object)
        status_of_shop[fi] = st[zone_rank[zone[fi]]]
    take = np.flatnonzero(front & (status_of_shop != "dedicated"))
    micro = _micro_grids(take, run, side, pos, zid, shop_grids, runs, opt)
    return StreetFront(shops=shops_out, zones=zones, micro_grids=micro, runs=runs)


def _zones(
    zone: np.ndarray,
    run: np.ndarray,
    side: np.ndarray,
    pos: np.ndarray,
    cover: np.ndarray,
    shop_grids: np.ndarray,
    runs: gpd.GeoDataFrame,
    opt: StreetFrontOptions,
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """One strip per zone label, with counts and status; and the row of each label."""
    columns = ZONE_COLUMNS
    idx = np.flatnonzero(zone >= 0)
    if len(idx) == 0:
        return empty_layer(columns, runs.crs), np.array([], dtype=np.int64)
    df = pd.DataFrame(
        {
            "zone": zone[idx],
            "run": run[idx],
            "side": side[idx],
            "pos": pos[idx],
            "uncovered": cover[idx] == "uncovered",
            "mixed": cover[idx] == "mixed",
            "dedicated": cover[idx] == "dedicated",
        }
    )
    g = df.groupby("zone", sort=True)
    agg = g.agg(
        run=("run", "first"),
        side=("side", "first"),
        first=("pos", "min"),
        last=("pos", "max"),
        shops=("pos", "size"),
        uncovered=("uncovered", "sum"),
        mixed=("mixed", "sum"),
        dedicated=("dedicated", "sum"),
    )
    lines = runs.geometry.to_numpy()
    run_len = runs["length_m"].to_numpy(dtype=float)
    ri = agg["run"].to_numpy()
    start = np.maximum(agg["first"].to_numpy() - opt.end_margin, 0.0)
    end = np.minimum(agg["last"].to_numpy() + opt.end_margin, run_len[ri])
    strips, compass = _frontage_strips(
        lines, ri, start, end, agg["side"].to_numpy(), opt.frontage_depth
    )
    status = np.where(
        agg["uncovered"].to_numpy() > 0,
        "uncovered",
        np.where(agg["mixed"].to_numpy() > 0, "mixed", "dedicated"),
    ).astype(object)
    street = runs["street"].to_numpy(dtype=object)[ri]
    grids = _join_ids(zone[idx], shop_grids[idx], int(zone.max()) + 1)
    order = _reading_order(street, ri, start, agg["side"].to_numpy())
    zone_rank = np.empty(len(order), dtype=np.int64)
    zone_rank[order] = np.arange(len(order))
    out = gpd.GeoDataFrame(
        {
            "zone_id": sequential_ids("S", len(order)),
            "street": street[order],
            "side": compass[order],
            "length_m": np.round(end - start, 3)[order],
            "shops": agg["shops"].to_numpy()[order].astype(np.int64),
            "status": status[order],
            "shops_uncovered": agg["uncovered"].to_numpy()[order].astype(np.int64),
            "shops_mixed": agg["mixed"].to_numpy()[order].astype(np.int64),
            "shops_dedicated": agg["dedicated"].to_numpy()[order].astype(np.int64),
            "grid_ids": grids[order],
        },
        geometry=strips[order],
        crs=runs.crs,
    )
    return out, zone_rank
