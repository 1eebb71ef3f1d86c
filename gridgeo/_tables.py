"""Small helpers shared by the finding layers of :mod:`gridgeo.audit` and
:mod:`gridgeo.streetfront`: typed empty layers and sequential ids."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd


def empty_layer(columns: dict[str, str], crs: Any) -> gpd.GeoDataFrame:
    """An empty layer with typed columns (so that a GeoPackage stores them right).

    Examples
    --------
    >>> empty_layer({"zone_id": "object", "shops": "int64"}, 4547).dtypes.astype(str).tolist()
    ['object', 'int64', 'geometry']
    """
    return gpd.GeoDataFrame(
        {c: pd.Series(dtype=t) for c, t in columns.items()},
        geometry=gpd.GeoSeries([], crs=crs),
        crs=crs,
    )


def sequential_ids(prefix: str, n: int) -> list[str]:
    """``n`` ids ``<prefix>001`` … (zero-padded to at least three digits).

    Examples
    --------
    >>> sequential_ids("S", 3)
    ['S001', 'S002', 'S003']
    """
    width = max(3, len(str(n)))
    return [f"{prefix}{i + 1:0{width}d}" for i in range(n)]
