"""The finding layers built from the shares: gaps, uncovered zones, street front, grid
load and communities; and the figures that sum them up."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._tables import empty_layer, sequential_ids
from ..blocks import assign_to_polygons
from ..streetfront.result import RUN_COLUMNS
from ..streetfront.runs import frontage_runs
from ..streetfront.shops import shop_points
from ..streetfront.zones import find_street_front
from ._common import _pick


def _neighbours(polys: np.ndarray, grid_geom: np.ndarray, ids: np.ndarray) -> np.ndarray:
    out = np.full(len(polys), None, dtype=object)
    if len(polys) == 0:
        return out
    pi, gi = shapely.STRtree(grid_geom).query(polys, predicate="dwithin", distance=0.5)
    if len(pi):
        df = pd.DataFrame({"p": pi, "g": ids[gi]}).drop_duplicates().sort_values(["p", "g"])
        joined = df.groupby("p")["g"].agg(",".join)
        out[joined.index.to_numpy()] = joined.to_numpy()
    return out


def _gaps_layer(
    gaps: np.ndarray, grid_geom: np.ndarray, ids: np.ndarray, crs: Any
) -> gpd.GeoDataFrame:
    gaps = gaps[np.argsort(-shapely.area(gaps), kind="stable")]
    return gpd.GeoDataFrame(
        {
            "gap_id": sequential_ids("V", len(gaps)),
            "area_m2": np.round(shapely.area(gaps), 3),
            "neighbour_grids": _neighbours(gaps, grid_geom, ids),
        },
        geometry=gaps,
        crs=crs,
    )


def _uncovered_zones(
    bgeom: np.ndarray,
    unc: np.ndarray,
    hh: np.ndarray,
    distance: float,
    grid_geom: np.ndarray,
    ids: np.ndarray,
    gaps: gpd.GeoDataFrame,
    target: float,
    crs: Any,
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Uncovered buildings closer than ``distance`` grouped into zones."""
    zone_of = np.full(len(bgeom), -1, dtype=np.int64)
    cols = {
        "zone_id": "object",
        "buildings": "int64",
        "households": "int64",
        "area_m2": "float64",
        "nearest_grid": "object",
        "gap_id": "object",
        "severity": "object",
    }
    if len(unc) == 0:
        return empty_layer(cols, crs), zone_of
    blobs = shapely.get_parts(
        shapely.union_all(shapely.buffer(bgeom[unc], distance / 2, quad_segs=4))
    )
    rep = shapely.point_on_surface(bgeom[unc])
    ri, zi = shapely.STRtree(blobs).query(rep, predicate="intersects")
    first = np.r_[True, ri[1:] != ri[:-1]] if len(ri) else np.array([], dtype=bool)
    member = np.full(len(unc), -1, dtype=np.int64)
    member[ri[first]] = zi[first]
    n_b = np.bincount(member, minlength=len(blobs))
    n_h = np.bincount(member, weights=hh[unc], minlength=len(blobs)).astype(np.int64)
    order = np.lexsort((-n_b, -n_h))
    rank = np.empty(len(blobs), dtype=np.int64)
    rank[order] = np.arange(len(blobs))
    zone_of[unc] = rank[member]
    blobs = blobs[order]
    _, nearest = shapely.STRtree(grid_geom).query_nearest(blobs, all_matches=False)
    n_h = n_h[order]
    zones = gpd.GeoDataFrame(
        {
            "zone_id": sequential_ids("U", len(blobs)),
            "buildings": n_b[order].astype(np.int64),
            "households": n_h,
            "area_m2": np.round(shapely.area(blobs), 3),
            "nearest_grid": ids[nearest],
            "gap_id": _pick(
                gaps["gap_id"].to_numpy(dtype=object),
                assign_to_polygons(blobs, gaps.geometry.to_numpy()),
            ),
            "severity": np.where(n_h >= 0.1 * target, "high", np.where(n_h > 0, "medium", "low")),
        },
        geometry=blobs,
        crs=crs,
    )
    return zones, zone_of


def _street_front(streets, pois, buildings, grid_geom, ids, dedicated, area, boundaries, opt):
    shops = shop_points(pois, buildings, options=opt)
    shops = shops.set_crs(buildings.crs, allow_override=True)
    if boundaries is not None and len(shops):
        pts = shops.geometry.to_numpy()
        keep = shapely.contains_xy(area, shapely.get_x(pts), shapely.get_y(pts))
        keep[shapely.STRtree(grid_geom).query(pts, predicate="intersects")[0]] = True
        shops = shops[keep]
    if streets is None:
        runs = empty_layer(RUN_COLUMNS, buildings.crs)
    else:
        runs = frontage_runs(streets, options=opt)
    return find_street_front(
        shops, runs, grid_geoms=grid_geom, grid_ids=ids, dedicated=dedicated, options=opt
    )


def _grid_load(grid_geom, ids, dedicated, type_text, grid_of, hh, shops, target, tolerance, crs):
    n = len(grid_geom)
    ok = grid_of >= 0
    households = np.bincount(grid_of[ok], weights=hh[ok], minlength=n).astype(np.int64)
    n_shops = np.zeros(n, dtype=np.int64)
    if len(shops):
        _, gi = shapely.STRtree(grid_geom).query(shops.geometry.to_numpy(), predicate="intersects")
        n_shops = np.bincount(gi, minlength=n).astype(np.int64)
    lower, upper = target * (1 - tolerance), target * (1 + tolerance)
    dev = households / target - 1
    below, above = households < lower - 1e-9, households > upper + 1e-9
    status = np.where(
        dedicated, "street_front", np.where(below, "below", np.where(above, "above", "within"))
    )
    excess = np.where(above, households - upper, np.where(below, households - lower, 0.0))
    off = (below | above) & ~dedicated
    severity = np.where(
        ~off,
        "ok",
        np.where(np.abs(dev) > 0.5, "high", np.where(np.abs(dev) > 2 * tolerance, "medium", "low")),
    )
    return gpd.GeoDataFrame(
        {
            "grid_id": ids,
            "grid_type": type_text,
            "street_front": dedicated.astype(bool),
            "households": households,
            "buildings": np.bincount(grid_of[ok], minlength=n).astype(np.int64),
            "shops": n_shops,
            "area_m2": np.round(shapely.area(grid_geom), 3),
            "deviation": np.round(dev, 4),
            "status": status.astype(object),
            "excess": np.round(excess, 3),
            "severity": severity.astype(object),
        },
        geometry=grid_geom,
        crs=crs,
    )


def _community_of_grids(
    load: gpd.GeoDataFrame, boundaries: gpd.GeoDataFrame, boundary_id: str | None
) -> None:
    geoms = load.geometry.to_numpy()
    bgeom = boundaries.geometry.to_numpy()
    cid = (
        boundaries[boundary_id]
        if boundary_id
        else pd.Series(boundaries.index, index=boundaries.index)
    )
    idx = assign_to_polygons(geoms, bgeom)
    inside = np.zeros(len(geoms))
    ok = idx >= 0
    inside[ok] = shapely.area(shapely.intersection(geoms[ok], bgeom[idx[ok]]))
    load["community_id"] = _pick(cid.to_numpy(dtype=object), idx)
    load["outside_community_m2"] = np.round(shapely.area(geoms) - inside, 3)


def _figures(
    *,
    audited: gpd.GeoDataFrame,
    dedicated: np.ndarray,
    zones: gpd.GeoDataFrame,
    overlaps: gpd.GeoDataFrame,
    overlap_area: float,
    ignored_overlaps: tuple[int, float],
    gaps: gpd.GeoDataFrame,
    ignored_gaps: tuple[int, float],
    load: gpd.GeoDataFrame,
    street_front: Any,
    register: dict[str, Any],
    target: float,
    tolerance: float,
    crs: Any,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """The figures of the audit, JSON-ready."""
    sf = street_front
    scope = audited["in_scope"].to_numpy()
    hh = audited["households"].to_numpy()
    uncovered = audited["uncovered"].to_numpy()
    z = sf.zones
    status = z["status"].to_numpy(dtype=object)
    out: dict[str, Any] = {
        "crs": crs.to_string(),
        "target": target,
        "tolerance": tolerance,
        "band": [round(target * (1 - tolerance), 3), round(target * (1 + tolerance), 3)],
        "grids": len(load),
        "street_front_grids": int(dedicated.sum()),
        "buildings": int(scope.sum()),
        "buildings_out_of_scope": int((~scope).sum()),
        "households": int(hh[scope].sum()),
        "uncovered_buildings": int(uncovered.sum()),
        "uncovered_households": int(hh[uncovered].sum()),
        "uncovered_zones": len(zones),
        "split_buildings": int(audited["split_by_boundary"].sum()),
        "overlaps": len(overlaps),
        "overlap_area_m2": round(overlap_area, 3),
        "overlap_buildings": int(overlaps["buildings"].sum()),
        "overlap_households": int(overlaps["households"].sum()),
        "ignored_overlap_slivers": ignored_overlaps[0],
        "ignored_overlap_sliver_area_m2": ignored_overlaps[1],
        "gaps": len(gaps),
        "gap_area_m2": round(float(gaps["area_m2"].sum()), 3),
        "ignored_slivers": ignored_gaps[0],
        "ignored_sliver_area_m2": ignored_gaps[1],
        "grids_below": int((load["status"] == "below").sum()),
        "grids_within": int((load["status"] == "within").sum()),
        "grids_above": int((load["status"] == "above").sum()),
        "shops": len(sf.shops),
        "street_front_shops": int(sf.shops["frontage"].sum()) if len(sf.shops) else 0,
        "street_front_zones": len(z),
        "street_front_uncovered": int((status == "uncovered").sum()),
        "street_front_mixed": int((status == "mixed").sum()),
        "street_front_dedicated": int((status == "dedicated").sum()),
        "street_front_uncovered_shops": int(z["shops_uncovered"].sum()) if len(z) else 0,
        "street_front_length_m": round(float(z["length_m"].sum()), 3) if len(z) else 0.0,
        "proposed_micro_grids": len(sf.micro_grids),
        "proposed_micro_grid_shops": int(sf.micro_grids["shops"].sum())
        if len(sf.micro_grids)
        else 0,
        **register,
        "settings": settings,
    }
    return out
