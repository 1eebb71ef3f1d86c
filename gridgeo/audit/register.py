"""Household registers: reading them, finding their columns, and the keys registered in
two or more grids (double counting)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .._errors import InputError, ReadError
from .._tables import sequential_ids
from ._common import _text_ids

__all__ = ["read_register"]

_REGISTER_KEYS = ("building_id", "osm_id", "address", "地址", "楼栋编号", "房屋编号")
_REGISTER_GRIDS = ("grid_id", "grid", "网格编号", "网格编码", "网格")


def read_register(path: str | Path, *, layer: str | None = None) -> pd.DataFrame:
    """Read a register table: CSV (UTF-8, UTF-8 with BOM or GB18030) or a GIS layer.

    Parameters
    ----------
    path : str or path-like
        ``.csv`` or ``.txt`` (comma-separated), or any file :func:`gridgeo.read_layer`
        reads (GeoPackage, GeoJSON, Shapefile …).
    layer : str, optional
        Layer of a multi-layer GIS file.

    Returns
    -------
    pandas.DataFrame
        Every column as text.
    """
    from ..io import is_db_url, read_layer
    from ..io.table import read_text_table

    if is_db_url(path):
        return read_layer(path, layer=layer, name="register")
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".txt"):
        return read_layer(path, layer=layer, name="register")
    if not path.is_file():
        msg = f"register file not found: {path}; check the path"
        raise ReadError(msg)
    return read_text_table(path, what="register", dtype=str, keep_default_na=False)


def _check_register(
    register: object, key: str | None, grid: str | None
) -> tuple[pd.DataFrame, str, str]:
    if not isinstance(register, pd.DataFrame):
        msg = f"register must be a table (pandas DataFrame), got {type(register).__name__}; read a file with gridgeo.audit.read_register(path)"
        raise InputError(msg)
    if len(register) == 0:
        raise InputError("register is empty: it holds no rows; check the file")
    cols = [str(c) for c in register.columns]
    key = key or next((c for c in _REGISTER_KEYS if c in cols), None)
    grid = grid or next((c for c in _REGISTER_GRIDS if c in cols), None)
    if key is None or grid is None:
        what = "building id or address" if key is None else "grid id"
        msg = f"register: cannot tell which column holds the {what}; name it (register_key= / register_grid=, --register-key / --register-grid); columns: {', '.join(cols)}"
        raise InputError(msg)
    for col in (key, grid):
        if col not in register.columns:
            msg = f"register has no column {col!r}; available columns: {', '.join(cols)}"
            raise InputError(msg)
    return register, key, grid


def _double_counting(register, key_col, grid_col, audited, ids, crs):
    reg = pd.DataFrame({"key": _text_ids(register[key_col]), "grid": _text_ids(register[grid_col])})
    incomplete = reg["key"].isna() | reg["grid"].isna()
    reg = reg[~incomplete]
    per = reg.groupby("key").agg(entries=("grid", "size"), n_grids=("grid", "nunique"))
    dbl = per[per["n_grids"] >= 2].sort_index()
    grids_of = (
        reg[reg["key"].isin(dbl.index)]
        .drop_duplicates()
        .sort_values(["key", "grid"])
        .groupby("key")["grid"]
        .agg(",".join)
    )
    bid = audited["building_id"]
    first = ~bid.duplicated().to_numpy() & bid.notna().to_numpy()
    lut = pd.Series(np.arange(len(audited))[first], index=bid[first].to_numpy())
    pos = lut.reindex(dbl.index).to_numpy()
    matched = ~np.isnan(pos)
    p = np.where(matched, pos, 0).astype(np.int64)
    geom = np.full(len(dbl), None, dtype=object)
    geom[matched] = audited.geometry.to_numpy()[p[matched]]
    hh = pd.array(np.where(matched, audited["households"].to_numpy()[p], 0), dtype="Int64")
    hh[~matched] = pd.NA
    map_grid = np.full(len(dbl), None, dtype=object)
    map_grid[matched] = audited["grid_id"].to_numpy(dtype=object)[p[matched]]
    layer = gpd.GeoDataFrame(
        {
            "double_id": sequential_ids("D", len(dbl)),
            "key": dbl.index.to_numpy(dtype=object),
            "register_grids": grids_of.reindex(dbl.index).to_numpy(dtype=object),
            "n_grids": dbl["n_grids"].to_numpy(dtype=np.int64),
            "entries": dbl["entries"].to_numpy(dtype=np.int64),
            "map_grid": map_grid,
            "households": hh,
            "severity": "high",
        },
        geometry=gpd.GeoSeries(geom, crs=crs),
        crs=crs,
    )
    known = set(ids)
    figures = {
        "register_entries": len(register),
        "register_keys": len(per),
        "register_incomplete_entries": int(incomplete.sum()),
        "register_unmatched_keys": int((~per.index.isin(lut.index)).sum()),
        "register_unknown_grid_entries": int((~reg["grid"].isin(known)).sum()),
        "double_counted": len(layer),
        "double_counted_entries": int(dbl["entries"].sum()),
        "double_counted_households": int(hh.sum(skipna=True)),
    }
    return layer, figures
