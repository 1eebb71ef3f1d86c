"""The street-front analysis on raw layers: checks, metric CRS, then the core."""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .._errors import InputError
from .._validate import LINEAR, POLYGONAL, check_column, check_layer
from ..crs import metric_crs, to_metric
from .options import StreetFrontOptions
from .result import StreetFront
from .runs import frontage_runs
from .shops import shop_points
from .tags import is_street_front_type
from .zones import find_street_front

__all__ = ["street_front", "check_poi_layer", "grid_ids_and_types"]

log = logging.getLogger(__name__)


def street_front(
    streets: gpd.GeoDataFrame,
    *,
    pois: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    grids: gpd.GeoDataFrame | None = None,
    grid_id: str | None = None,
    grid_type: str | None = None,
    options: StreetFrontOptions | None = None,
    crs: Any = None,
) -> StreetFront:
    """Find street-front zones, how the grids cover them, and propose micro-grids.

    Parameters
    ----------
    streets : GeoDataFrame
        Street lines (any CRS); see :func:`frontage_runs`.
    pois : GeoDataFrame, optional
        Shops and services as points or polygons; see :func:`shop_points`.
    buildings : GeoDataFrame, optional
        Building polygons; commercial ones count as shops (see :func:`shop_points`).
    grids : GeoDataFrame, optional
        The grid plan; without it every zone is ``uncovered``.
    grid_id : str, optional
        Column of ``grids`` with the grid id (default ``grid_id`` if present, else
        the row labels).
    grid_type : str, optional
        Column of ``grids`` with the grid type (default ``grid_type`` if present);
        values in ``options.street_front_types`` mark street-front micro-grids.
    options : StreetFrontOptions, optional
        Distances and tag lists.
    crs : int, str or pyproj.CRS, optional
        Metric CRS to compute in (default: :func:`gridgeo.crs.metric_crs`).

    Returns
    -------
    StreetFront
        Shops, zones and proposed micro-grids, in the metric CRS.

    Raises
    ------
    InputError
        A layer is unusable (see :func:`gridgeo._validate.check_layer`), neither POIs
        nor buildings are given, or a named column is missing.
    """
    opt = (options or StreetFrontOptions()).checked()
    streets = check_layer(streets, "streets", geom_types=LINEAR)
    if pois is None and buildings is None:
        msg = "street_front needs shops: give pois= (points of interest) or buildings="
        raise InputError(msg)
    pois = None if pois is None else check_poi_layer(pois)
    if buildings is not None:
        buildings = check_layer(buildings, "buildings", geom_types=POLYGONAL)
    if grids is not None:
        grids = check_layer(grids, "grids", geom_types=POLYGONAL)
    metric = metric_crs([streets, pois, buildings, grids], crs=crs)
    streets = to_metric(streets, metric)
    pois = None if pois is None else to_metric(pois, metric)
    buildings = None if buildings is None else to_metric(buildings, metric)
    shops = shop_points(pois, buildings, options=opt)
    shops = shops.set_crs(metric, allow_override=True)
    runs = frontage_runs(streets, options=opt)
    kw: dict[str, Any] = {}
    if grids is not None:
        grids = to_metric(grids, metric)
        ids, dedicated = grid_ids_and_types(grids, grid_id, grid_type, opt)
        kw = {"grid_geoms": grids.geometry.to_numpy(), "grid_ids": ids, "dedicated": dedicated}
    return find_street_front(shops, runs, options=opt, **kw)


def check_poi_layer(pois: object) -> gpd.GeoDataFrame | None:
    """Validate a POI layer (points or polygons); an empty layer gives None."""
    if isinstance(pois, gpd.GeoDataFrame | gpd.GeoSeries) and len(pois) == 0:
        log.info("the POI layer is empty: shops come from buildings only")
        return None
    return check_layer(pois, "points of interest", geom_types={"Point", "MultiPoint", *POLYGONAL})


def grid_ids_and_types(
    grids: gpd.GeoDataFrame,
    grid_id: str | None,
    grid_type: str | None,
    options: StreetFrontOptions | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Grid ids (as text) and street-front flags of a checked grids layer."""
    opt = options or StreetFrontOptions()
    if grid_id is not None:
        check_column(grids, grid_id, "grids")
        ids = grids[grid_id]
    elif "grid_id" in grids.columns:
        ids = grids["grid_id"]
    else:
        ids = pd.Series(grids.index, index=grids.index)
    ids = ids.astype(object).where(ids.notna(), None).map(lambda v: None if v is None else str(v))
    if ids.isna().any():
        msg = (
            f"grids layer has {int(ids.isna().sum())} rows without a grid id; give every "
            "grid an id (or name the id column with grid_id= / --grid-id)"
        )
        raise InputError(msg)
    if grid_type is not None:
        check_column(grids, grid_type, "grids")
        dedicated = is_street_front_type(grids[grid_type], opt.street_front_types)
    elif "grid_type" in grids.columns:
        dedicated = is_street_front_type(grids["grid_type"], opt.street_front_types)
    else:
        dedicated = np.zeros(len(grids), dtype=bool)
    return ids.to_numpy(dtype=object), dedicated
