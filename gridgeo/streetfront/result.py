"""The result of the street-front analysis and the columns of its layers."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd

__all__ = ["StreetFront", "ZONE_COLUMNS", "MICRO_GRID_COLUMNS", "RUN_COLUMNS"]

_INT, _FLOAT, _TEXT = "int64", "float64", "object"
ZONE_COLUMNS = {
    "zone_id": _TEXT,
    "street": _TEXT,
    "side": _TEXT,
    "length_m": _FLOAT,
    "shops": _INT,
    "status": _TEXT,
    "shops_uncovered": _INT,
    "shops_mixed": _INT,
    "shops_dedicated": _INT,
    "grid_ids": _TEXT,
}
MICRO_GRID_COLUMNS = {
    "micro_grid_id": _TEXT,
    "street": _TEXT,
    "side": _TEXT,
    "shops": _INT,
    "length_m": _FLOAT,
    "zone_ids": _TEXT,
    "grid_ids": _TEXT,
}
RUN_COLUMNS = {"run_id": _INT, "street": _TEXT, "length_m": _FLOAT}


@dataclass
class StreetFront:
    """Result of the street-front analysis (every layer in the metric CRS).

    Attributes
    ----------
    shops : GeoDataFrame
        Every shop point: ``source`` (``poi`` or ``building``), ``kind``, ``value``,
        ``name``, ``frontage`` (within ``frontage_depth`` of a run), ``street``,
        ``side``, ``position_m`` (along its run), ``zone_id``, ``grid_ids`` (the grids
        it stands in, comma-separated) and ``cover`` (``uncovered``, ``mixed`` or
        ``dedicated``).
    zones : GeoDataFrame
        One strip per zone: ``zone_id``, ``street``, ``side`` (compass side of the
        street: N, NE, E …), ``length_m``, ``shops``, ``status``, ``shops_uncovered``,
        ``shops_mixed``, ``shops_dedicated``, ``grid_ids``.
    micro_grids : GeoDataFrame
        Proposed street-front micro-grids: ``micro_grid_id``, ``street``, ``side``,
        ``shops``, ``length_m``, ``zone_ids``, ``grid_ids`` (grids holding the shops
        now).
    runs : GeoDataFrame
        The frontage runs: ``run_id``, ``street``, ``length_m``.
    """

    shops: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    micro_grids: gpd.GeoDataFrame
    runs: gpd.GeoDataFrame
