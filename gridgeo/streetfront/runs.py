"""Frontage runs: street lines that can have a shop front, merged along each street."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .options import StreetFrontOptions
from .tags import _text

__all__ = ["frontage_runs"]

log = logging.getLogger(__name__)


def frontage_runs(
    streets: gpd.GeoDataFrame, *, options: StreetFrontOptions | None = None
) -> gpd.GeoDataFrame:
    """Merge the street lines that can have a shop front into runs.

    Segments of one street name are joined where they meet end to end
    (:func:`shapely.line_merge`); unnamed segments likewise, so an unnamed run ends at
    every junction. Highway classes in ``options.non_frontage`` and tunnels are left
    out.

    Parameters
    ----------
    streets : GeoDataFrame
        Street lines in a metric CRS, optionally with ``highway``, ``tunnel`` and a
        name column (``options.name_column``).
    options : StreetFrontOptions, optional

    Returns
    -------
    GeoDataFrame
        ``run_id`` (0…n−1), ``street`` (name or None), ``length_m``; LineStrings.
    """
    opt = options or StreetFrontOptions()
    keep = np.ones(len(streets), dtype=bool)
    if "highway" in streets.columns:
        keep &= ~np.isin(_text(streets["highway"]), list(opt.non_frontage))
    if "tunnel" in streets.columns:
        keep &= np.isin(_text(streets["tunnel"]), ["", "no", "false", "0"])
    s = streets[keep]
    lines = shapely.get_parts(s.geometry.to_numpy(), return_index=True)
    geoms, row = lines
    if opt.name_column in s.columns:
        names = pd.Series(s[opt.name_column].to_numpy(dtype=object)[row]).astype("string")
        names = names.str.strip().replace("", pd.NA)
    else:
        names = pd.Series(pd.NA, index=range(len(geoms)), dtype="string")
    code, uniques = pd.factorize(names, sort=True)  # unnamed: code −1
    group = np.where(code < 0, len(uniques), code)
    if len(geoms):
        by_group = np.argsort(group, kind="stable")
        merged = shapely.line_merge(
            shapely.multilinestrings(geoms[by_group], indices=group[by_group])
        )
        chains, gi = shapely.get_parts(merged, return_index=True)
    else:
        chains, gi = np.array([], dtype=object), np.array([], dtype=np.int64)
    present = np.unique(group)
    grp = present[gi] if len(present) else gi
    street = np.array(list(uniques) + [None], dtype=object)[grp]
    length = shapely.length(chains)
    ok = length > 0
    runs = gpd.GeoDataFrame(
        {
            "run_id": np.arange(int(ok.sum())),
            "street": street[ok],
            "length_m": length[ok],
        },
        geometry=chains[ok],
        crs=streets.crs,
    )
    log.debug("%d frontage runs from %d street segments", len(runs), len(s))
    return runs
