"""What every map of a plan needs, interactive or printed: checked layers and colours.

:func:`prepare_grids` validates the grids and works out households, deviation and the
fill colour of every grid; :class:`Overlay` and :func:`prepare_overlays` normalise the
extra layers (street-front zones, audit findings …) both renderers draw.
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._errors import CRSError, InputError
from .._validate import POLYGONAL, check_column, check_counts, check_layer, check_positive
from .colors import DEFAULT_PALETTE, OVERLAY_PALETTE, _neighbour_colors, deviation_colors

__all__ = [
    "Overlay",
    "GridData",
    "prepare_grids",
    "prepare_overlays",
    "overlay_layer",
    "plain",
    "count",
    "COLOR_BY",
    "WORKER_COLUMNS",
]

log = logging.getLogger(__name__)

COLOR_BY = ("neighbours", "deviation")
#: Optional columns of the grids naming the grid worker (网格员) and their phone.
WORKER_COLUMNS = ("worker", "phone")

_TYPE_IDS = {
    "Point": 0,
    "LineString": 1,
    "LinearRing": 2,
    "Polygon": 3,
    "MultiPoint": 4,
    "MultiLineString": 5,
    "MultiPolygon": 6,
}
_ANY_TYPE = frozenset(_TYPE_IDS)


def plain(value: Any) -> Any:
    """Turn numpy / pandas scalars into JSON-serialisable Python values (NaN → None).

    Strings are HTML-escaped: tooltips and popups insert values as HTML.
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return html.escape(value, quote=False)
    if isinstance(value, bool | int | float):
        return value
    return html.escape(str(value), quote=False)


def count(value: float | None) -> int | float | None:
    """Households / buildings as an int when whole, else rounded to 0.1."""
    if value is None or not math.isfinite(value):
        return None
    r = round(value)
    return int(r) if abs(value - r) < 1e-9 else round(float(value), 1)


def text(value: Any) -> str | None:
    """A cell as display text (phone numbers stored as numbers keep their digits)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return None
        if float(value).is_integer():
            return str(int(value))
    s = str(value).strip()
    return s or None


# --------------------------------------------------------------------------- grids


@dataclass
class GridData:
    """Validated grids with what a map draws of them.

    Attributes
    ----------
    gdf : GeoDataFrame
        The checked grids (valid polygons), in their own CRS.
    households : Series
        Households per grid (non-negative numbers).
    deviation : ndarray or None
        households / target − 1, else the grids' ``deviation`` column, else None.
    colors : list of str
        Fill colour of each grid.
    color_by : str
        ``"neighbours"`` or ``"deviation"``.
    target : float or None
        Target households per grid.
    area_m2 : ndarray
        Area of each grid in m² (the ``area_m2`` column, else computed).
    """

    gdf: gpd.GeoDataFrame
    households: pd.Series
    deviation: np.ndarray | None
    colors: list[str]
    color_by: str
    target: float | None
    area_m2: np.ndarray = field(repr=False)

    def has(self, column: str) -> bool:
        """Whether the grids have ``column`` with at least one value."""
        return column in self.gdf.columns and self.gdf[column].notna().any()


def _area_m2(gdf: gpd.GeoDataFrame) -> np.ndarray:
    if "area_m2" in gdf.columns:
        area = pd.to_numeric(gdf["area_m2"], errors="coerce").to_numpy(dtype=float)
        if np.isfinite(area).all():
            return area
    metric = gdf.to_crs(gdf.estimate_utm_crs()) if gdf.crs.is_geographic else gdf
    return metric.geometry.area.to_numpy(dtype=float)


def check_color_by(color_by: object) -> str:
    """``"neighbours"`` (also spelt ``"neighbors"``) or ``"deviation"``."""
    if color_by == "neighbors":
        color_by = "neighbours"
    if color_by not in COLOR_BY:
        msg = f"color_by must be 'neighbours' or 'deviation', got {color_by!r}"
        raise InputError(msg)
    return str(color_by)


def prepare_grids(
    grids: gpd.GeoDataFrame,
    *,
    target: float | None,
    color_by: str,
    palette: Sequence[str] = DEFAULT_PALETTE,
) -> GridData:
    """Check the grids and colour them.

    Raises
    ------
    InputError
        For an unknown ``color_by``, a non-positive ``target``, or
        ``color_by="deviation"`` without a target or ``deviation`` column.
    EmptyLayerError, CRSError, GeometryError, MissingColumnError, HouseholdsError
        If the grids are empty, have no CRS, bad geometries, or lack ``grid_id`` /
        ``households``.
    """
    color_by = check_color_by(color_by)
    if target is not None:
        target = check_positive(target, "target")
    gdf = check_layer(grids, "grids", geom_types=POLYGONAL)
    check_column(gdf, "grid_id", "grids")
    check_column(gdf, "households", "grids")
    households = check_counts(gdf["households"], "grids households")
    if target is not None:
        deviation = households.to_numpy(dtype=float) / target - 1.0
    elif "deviation" in gdf.columns:
        deviation = pd.to_numeric(gdf["deviation"], errors="coerce").to_numpy(dtype=float)
    else:
        deviation = None
    if color_by == "deviation":
        if deviation is None:
            msg = (
                "color_by='deviation' needs the target households per grid: pass target=, "
                "e.g. grid_map(grids, target=300, color_by='deviation')"
            )
            raise InputError(msg)
        colors = deviation_colors(deviation)
    else:
        colors = _neighbour_colors(gdf, palette=palette, tolerance=0.5)
    return GridData(
        gdf=gdf,
        households=households,
        deviation=deviation,
        colors=[str(c) for c in colors],
        color_by=color_by,
        target=target,
        area_m2=_area_m2(gdf),
    )


# --------------------------------------------------------------------------- overlays


@dataclass
class Overlay:
    """An extra layer drawn over the grids: street-front zones, audit findings, POIs ….

    Pass it as a value of ``overlays={name: Overlay(...)}`` to
    :func:`gridgeo.render.grid_map` or the print maps; a plain GeoDataFrame there is
    the same as ``Overlay(gdf)``. The name is the layer's title in the layer control
    and the legend, so write it in the map's language.

    Parameters
    ----------
    data : GeoDataFrame or GeoSeries
        Points, lines or polygons in any CRS. Features without geometry are skipped.
    color : str, optional
        Outline / line / point colour; by default the next of
        :data:`gridgeo.render.colors.OVERLAY_PALETTE`.
    show : bool, default True
        Whether the layer is switched on when the map opens.
    fields : sequence of str, optional
        Columns shown in the tooltip; by default every column of text or numbers
        (at most 8).
    fill_opacity : float, default 0.3
        Fill of polygons (0 transparent, 1 opaque).
    dashed : bool, default True
        Draw polygon outlines dashed, which sets zones apart from grid boundaries.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> pts = gpd.GeoDataFrame({"kind": ["gap"]}, geometry=[Point(116.47, 39.99)], crs=4326)
    >>> Overlay(pts, color="#d62728").color
    '#d62728'
    """

    data: gpd.GeoDataFrame | gpd.GeoSeries
    color: str | None = None
    show: bool = True
    fields: Sequence[str] | None = None
    fill_opacity: float = 0.3
    dashed: bool = True


def overlay_layer(
    obj: object, name: str, types: frozenset[str] | None = None
) -> gpd.GeoDataFrame | None:
    """Check a layer drawn for reference (buildings, streets, overlays).

    Lenient on purpose: features without geometry or of another type are dropped and
    counted in the log, invalid geometries are drawn as they are (Leaflet does not
    mind). Returns None when nothing is left to draw.
    """
    if isinstance(obj, gpd.GeoSeries):
        obj = gpd.GeoDataFrame(geometry=obj)
    if not isinstance(obj, gpd.GeoDataFrame):
        msg = f"{name} must be a GeoDataFrame, got {type(obj).__name__}"
        raise InputError(msg)
    if obj.crs is None:
        msg = (
            f"{name} layer has no CRS (coordinate reference system); set it with "
            "gdf.set_crs(EPSG) if you know it (e.g. 4326 for longitude/latitude)"
        )
        raise CRSError(msg)
    geom = obj.geometry.values
    keep = ~(shapely.is_missing(geom) | shapely.is_empty(geom))
    if types is not None:
        keep &= np.isin(shapely.get_type_id(geom), [_TYPE_IDS[t] for t in types])
    if not keep.all():
        what = "usable" if types is None else "/".join(sorted(types))
        log.info("%s: %d features without %s geometry not drawn", name, int((~keep).sum()), what)
    if not keep.any():
        log.warning("%s layer has nothing to draw: not added to the map", name)
        return None
    return obj[keep]


@dataclass
class PreparedOverlay:
    """A checked overlay: name, data, colour and tooltip fields."""

    name: str
    gdf: gpd.GeoDataFrame
    color: str
    show: bool
    fields: list[str]
    fill_opacity: float
    dashed: bool


def _default_fields(gdf: gpd.GeoDataFrame) -> list[str]:
    out = []
    for col in gdf.columns:
        if col == gdf.geometry.name:
            continue
        kind = gdf[col].dtype.kind
        if kind in "iufb" or gdf[col].map(lambda v: v is None or isinstance(v, str)).all():
            out.append(str(col))
    return out[:8]


def prepare_overlays(overlays: Mapping[str, Any] | None) -> list[PreparedOverlay]:
    """Normalise ``overlays={name: GeoDataFrame | Overlay}`` (order kept)."""
    if overlays is None:
        return []
    if not isinstance(overlays, Mapping):
        msg = (
            "overlays must be a dict {layer name: GeoDataFrame}, e.g. "
            f"overlays={{'street-front zones': zones}}; got {type(overlays).__name__}"
        )
        raise InputError(msg)
    out: list[PreparedOverlay] = []
    for i, (name, value) in enumerate(overlays.items()):
        if not isinstance(name, str) or not name.strip():
            msg = f"overlay names must be non-empty strings, got {name!r}"
            raise InputError(msg)
        spec = value if isinstance(value, Overlay) else Overlay(value)
        gdf = overlay_layer(spec.data, f"overlay {name!r}", _ANY_TYPE)
        if gdf is None:
            continue
        if spec.fields is None:
            fields = _default_fields(gdf)
        else:
            fields = [str(f) for f in spec.fields]
            for f in fields:
                check_column(gdf, f, f"overlay {name!r}")
        if not 0.0 <= float(spec.fill_opacity) <= 1.0:
            msg = f"fill_opacity of overlay {name!r} must be between 0 and 1"
            raise InputError(msg)
        color = spec.color or OVERLAY_PALETTE[i % len(OVERLAY_PALETTE)]
        out.append(
            PreparedOverlay(
                name=name,
                gdf=gdf,
                color=color,
                show=bool(spec.show),
                fields=fields,
                fill_opacity=float(spec.fill_opacity),
                dashed=bool(spec.dashed),
            )
        )
    return out
