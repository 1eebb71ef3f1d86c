"""Colours of grid maps: neighbours differ, or a diverging scale of the deviation.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> grids = gpd.GeoSeries([box(0, 0, 100, 100), box(100, 0, 200, 100)], crs="EPSG:32635")
>>> neighbour_colors(gpd.GeoDataFrame(geometry=grids)).tolist()
['#4e79a7', '#f28e2b']
>>> deviation_colors([-0.5, 0.0, 0.5]).tolist()
['#2166ac', '#f7f7f7', '#b2182b']
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import geopandas as gpd
import networkx as nx
import numpy as np

from .._errors import InputError
from .._validate import POLYGONAL, check_layer

__all__ = [
    "neighbour_colors",
    "deviation_colors",
    "DEFAULT_PALETTE",
    "OVERLAY_PALETTE",
    "DEVIATION_LIMIT",
    "DEVIATION_COLORS",
    "NO_DATA_COLOR",
]

log = logging.getLogger(__name__)

#: Qualitative colours for :func:`neighbour_colors` (Tableau 10).
DEFAULT_PALETTE: tuple[str, ...] = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)

#: Colours of extra layers (street-front zones, audit findings …), in order of use;
#: strong hues that stand out on the pale grid fills.
OVERLAY_PALETTE: tuple[str, ...] = (
    "#d62728",
    "#9467bd",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#2ca02c",
    "#ff7f0e",
    "#1f77b4",
)

#: Deviations (households / target − 1) at or beyond ± this value get the end colours.
DEVIATION_LIMIT = 0.5

#: Diverging scale (ColorBrewer RdBu, reversed): blue below target, red above.
DEVIATION_COLORS: tuple[str, ...] = ("#2166ac", "#92c5de", "#f7f7f7", "#f4a582", "#b2182b")
_DEVIATION_STOPS = np.array([-1.0, -0.5, 0.0, 0.5, 1.0]) * DEVIATION_LIMIT
#: Colour of grids without a deviation.
NO_DATA_COLOR = "#cccccc"


def neighbour_colors(
    grids: gpd.GeoDataFrame,
    *,
    palette: Sequence[str] = DEFAULT_PALETTE,
    tolerance: float = 0.5,
) -> np.ndarray:
    """Colour grids so that neighbouring grids get different colours.

    Two grids are neighbours when they share a boundary or a corner, overlap, or lie
    closer than ``tolerance`` metres (which absorbs the slivers left by imprecise
    data). The neighbourhood graph is coloured greedily
    (:func:`networkx.greedy_color`, strategy ``"largest_first"``); the result depends
    only on the geometries and their order.

    Parameters
    ----------
    grids : GeoDataFrame
        Grid polygons in any CRS (a geographic CRS is projected to UTM for the
        distance test).
    palette : sequence of str, default :data:`DEFAULT_PALETTE`
        Colours (any CSS colour, usually hex). If the graph needs more colours than
        given, colours repeat and a warning is logged.
    tolerance : float, default 0.5
        Grids closer than this count as neighbours, in the units of a projected CRS
        (metres for UTM and CGCS2000 zones); 0 keeps only grids that touch or overlap.

    Returns
    -------
    numpy.ndarray
        One colour (str) per row of ``grids``, in row order.

    Raises
    ------
    InputError
        If ``grids`` is not a usable polygon layer (see :func:`gridgeo._validate.check_layer`)
        or ``palette`` is empty.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> row = gpd.GeoSeries([box(i, 0, i + 1, 1) for i in range(3)], crs="EPSG:3857")
    >>> neighbour_colors(gpd.GeoDataFrame(geometry=row), palette=["red", "blue"]).tolist()
    ['blue', 'red', 'blue']
    """
    gdf = check_layer(grids, "grids", geom_types=POLYGONAL)
    return _neighbour_colors(gdf, palette=palette, tolerance=tolerance)


def _neighbour_colors(
    gdf: gpd.GeoDataFrame, *, palette: Sequence[str], tolerance: float
) -> np.ndarray:
    """:func:`neighbour_colors` on an already validated layer."""
    if isinstance(palette, str) or len(palette) == 0:
        msg = "palette must be a non-empty sequence of colours, e.g. ['#4e79a7', '#f28e2b']"
        raise InputError(msg)
    try:
        tol = float(tolerance)
    except (TypeError, ValueError):
        tol = math.nan
    if not math.isfinite(tol) or tol < 0:
        msg = f"tolerance must be a number of metres, 0 or more, got {tolerance!r}"
        raise InputError(msg)
    if gdf.crs is not None and gdf.crs.is_geographic:
        gdf = gdf.to_crs(gdf.estimate_utm_crs())
    geoms = gdf.geometry.reset_index(drop=True)
    if tol > 0:
        left, right = geoms.sindex.query(geoms, predicate="dwithin", distance=tol)
    else:
        left, right = geoms.sindex.query(geoms, predicate="intersects")
    keep = left < right
    graph = nx.Graph()
    graph.add_nodes_from(range(len(geoms)))
    graph.add_edges_from(zip(left[keep].tolist(), right[keep].tolist(), strict=True))
    coloring = nx.greedy_color(graph, strategy="largest_first")
    idx = np.array([coloring[i] for i in range(len(geoms))], dtype=int)
    needed = int(idx.max()) + 1 if len(idx) else 0
    if needed > len(palette):
        log.warning(
            "neighbour colouring needs %d colours but the palette has %d: some neighbouring "
            "grids share a colour; pass a longer palette",
            needed,
            len(palette),
        )
    log.debug(
        "neighbour colouring: %d grids, %d adjacencies, %d colours", len(idx), keep.sum(), needed
    )
    return np.asarray(list(palette), dtype=object)[idx % len(palette)]


def _hex_to_rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def deviation_colors(deviation: Sequence[float] | np.ndarray) -> np.ndarray:
    """Diverging colours for deviations (households / target − 1), clipped to ±50 %.

    Blue below target, near-white at target, red above; missing values are grey
    (:data:`NO_DATA_COLOR`).

    Parameters
    ----------
    deviation : array_like of float
        Relative deviations from the target; NaN for unknown.

    Returns
    -------
    numpy.ndarray
        One ``"#rrggbb"`` colour (str) per value.
    """
    dev = np.asarray(deviation, dtype=float)
    rgb = np.array([_hex_to_rgb(c) for c in DEVIATION_COLORS], dtype=float)
    clipped = np.clip(dev, _DEVIATION_STOPS[0], _DEVIATION_STOPS[-1])
    channels = [np.interp(clipped, _DEVIATION_STOPS, rgb[:, k]) for k in range(3)]
    out = np.empty(dev.shape, dtype=object)
    for i, (r, g, b) in enumerate(zip(*channels, strict=True)):
        out[i] = f"#{round(r):02x}{round(g):02x}{round(b):02x}"
    out[~np.isfinite(dev)] = NO_DATA_COLOR
    return out
