"""Interactive grid maps (网格划分区域图) drawn with folium / Leaflet.

:func:`grid_map` turns a grid plan (grids, and optionally its buildings and streets)
into a :class:`folium.Map`; :func:`save_map` writes it to a self-contained HTML file
(the data are embedded; Leaflet itself is loaded from folium's CDNs).
:func:`neighbour_colors` colours grids so that no two neighbours share a colour.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> grids = gpd.GeoDataFrame(
...     {"grid_id": ["G0001", "G0002"], "households": [290, 330],
...      "buildings": [4, 5], "area_m2": [10_000.0, 10_000.0]},
...     geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)],
...     crs="EPSG:32635",
... )
>>> neighbour_colors(grids).tolist()
['#4e79a7', '#f28e2b']
>>> m = grid_map(grids, target=300, lang="zh")
>>> type(m).__name__
'Map'
"""

from __future__ import annotations

import html
import json
import logging
import math
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from jinja2 import Template

from .._errors import CRSError, InputError
from .._validate import LINEAR, POLYGONAL, check_column, check_counts, check_layer, check_positive
from ._labels import check_lang, label

__all__ = [
    "grid_map",
    "save_map",
    "neighbour_colors",
    "deviation_colors",
    "DEFAULT_PALETTE",
    "DEVIATION_LIMIT",
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

#: Deviations (households / target − 1) at or beyond ± this value get the end colours.
DEVIATION_LIMIT = 0.5

# Diverging scale (ColorBrewer RdBu, reversed): blue below target, red above.
_DEVIATION_STOPS = np.array([-1.0, -0.5, 0.0, 0.5, 1.0]) * DEVIATION_LIMIT
_DEVIATION_COLORS = ("#2166ac", "#92c5de", "#f7f7f7", "#f4a582", "#b2182b")
_NO_DATA_COLOR = "#cccccc"

_BUILDINGS_SHOWN_MAX = 5_000  # more buildings than this: layer off until switched on
_COORD_DECIMALS = 6  # ~0.1 m; enough for a web map, keeps the HTML small
_COLOR_BY = ("neighbours", "deviation")
_TYPE_IDS = {
    "LineString": 1,
    "LinearRing": 2,
    "Polygon": 3,
    "MultiLineString": 5,
    "MultiPolygon": 6,
}

_GRID_STYLE = {"color": "#333333", "weight": 1, "opacity": 0.9, "fillOpacity": 0.55}
_GRID_HIGHLIGHT = {"color": "#000000", "weight": 3, "fillOpacity": 0.75}
_BUILDING_STYLE = {
    "color": "#666666",
    "weight": 0.5,
    "fillColor": "#999999",
    "fillOpacity": 0.6,
}
_STREET_STYLE = {"color": "#444444", "weight": 1.5, "opacity": 0.8}


# --------------------------------------------------------------------------- colours


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

    Blue below target, near-white at target, red above; missing values are grey.
    """
    dev = np.asarray(deviation, dtype=float)
    rgb = np.array([_hex_to_rgb(c) for c in _DEVIATION_COLORS], dtype=float)
    clipped = np.clip(dev, _DEVIATION_STOPS[0], _DEVIATION_STOPS[-1])
    channels = [np.interp(clipped, _DEVIATION_STOPS, rgb[:, k]) for k in range(3)]
    out = np.empty(dev.shape, dtype=object)
    for i, (r, g, b) in enumerate(zip(*channels, strict=True)):
        out[i] = f"#{round(r):02x}{round(g):02x}{round(b):02x}"
    out[~np.isfinite(dev)] = _NO_DATA_COLOR
    return out


# --------------------------------------------------------------------------- GeoJSON


def _plain(value: Any) -> Any:
    """Turn numpy / pandas scalars into JSON-serialisable Python values (NaN → None)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return html.escape(value, quote=False)  # tooltips insert values as HTML
    if isinstance(value, bool | int | float):
        return value
    return html.escape(str(value), quote=False)


def _count(value: float) -> int | float | None:
    """Households / buildings as an int when whole, else rounded to 0.1."""
    if value is None or not math.isfinite(value):
        return None
    r = round(value)
    return int(r) if abs(value - r) < 1e-9 else round(float(value), 1)


def _to_4326(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The layer in longitude/latitude (EPSG:4326), as Leaflet wants it."""
    return gdf if gdf.crs.equals("EPSG:4326") else gdf.to_crs(4326)


def _geometries(gdf4326: gpd.GeoDataFrame) -> list[dict]:
    """GeoJSON geometry dicts with coordinates rounded to 6 decimals (~0.1 m)."""
    geoms = np.asarray(gdf4326.geometry.values)
    rounded = shapely.transform(geoms, lambda c: np.round(c, _COORD_DECIMALS))
    return [json.loads(s) for s in shapely.to_geojson(rounded)]


def _feature_collection(geometries: list[dict], properties: list[dict]) -> dict:
    features = [
        {"type": "Feature", "id": i, "properties": props, "geometry": geom}
        for i, (geom, props) in enumerate(zip(geometries, properties, strict=True))
    ]
    return {"type": "FeatureCollection", "features": features}


# --------------------------------------------------------------------------- legend


class _Legend(MacroElement):
    """A Leaflet control in a corner of the map holding a block of HTML.

    The HTML is written into the page as it is (readable, Chinese kept as UTF-8) and
    moved into the map's control corner when the map loads.
    """

    _template = Template(
        """
        {% macro html(this, kwargs) %}
        <div id="{{ this.get_name() }}" class="gridgeo-legend">{{ this.html }}</div>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
        {{ this.get_name() }}.onAdd = function (map) {
            var div = document.getElementById({{ this.get_name()|tojson }});
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, html_text: str, *, position: str = "bottomright") -> None:
        super().__init__()
        self._name = "GridgeoLegend"
        self.html = html_text
        self.position = position


def _legend_html(
    *,
    lang: str,
    title: str | None,
    n_grids: int,
    total_households: float,
    target: float | None,
    color_by: str,
) -> str:
    esc = html.escape
    rows = [
        f"<div style='font-weight:bold;font-size:14px;margin-bottom:4px'>"
        f"{esc(title or label('title', lang))}</div>"
    ]
    if title:
        rows.append(f"<div style='color:#555'>{esc(label('title', lang))}</div>")
    rows.append(f"<div>{esc(label('n_grids', lang))}: {n_grids:,}</div>")
    total = _count(total_households)
    if total is not None:
        rows.append(f"<div>{esc(label('total_households', lang))}: {total:,}</div>")
    if target is not None:
        rows.append(
            f"<div>{esc(label('target', lang))}: {_count(target):,} "
            f"{esc(label('target_unit', lang))}</div>"
        )
    if color_by == "deviation":
        gradient = ", ".join(_DEVIATION_COLORS)
        lim = f"{DEVIATION_LIMIT:.0%}"
        rows.append(
            "<div style='margin-top:6px'>"
            f"{esc(label('deviation', lang))}</div>"
            f"<div style='height:10px;width:180px;border:1px solid #999;"
            f"background:linear-gradient(to right, {gradient})'></div>"
            "<div style='display:flex;justify-content:space-between;width:182px;"
            "font-size:11px'>"
            f"<span>≤ −{lim}</span><span>0</span><span>≥ +{lim}</span></div>"
            "<div style='display:flex;justify-content:space-between;width:182px;"
            "font-size:11px;color:#555'>"
            f"<span>{esc(label('below_target', lang))}</span>"
            f"<span>{esc(label('above_target', lang))}</span></div>"
        )
    body = "".join(rows)
    return (
        "<div style='background:rgba(255,255,255,0.9);padding:6px 10px;border-radius:4px;"
        "box-shadow:0 0 4px rgba(0,0,0,0.3);font:12px/1.4 sans-serif;color:#222'>"
        f"{body}</div>"
    )


# --------------------------------------------------------------------------- layers


def _overlay_layer(obj: object, name: str, types: frozenset[str]) -> gpd.GeoDataFrame | None:
    """Check a layer drawn for reference only (buildings, streets).

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
    keep &= np.isin(shapely.get_type_id(geom), [_TYPE_IDS[t] for t in types])
    if not keep.all():
        log.info("%s: %d features without %s geometry not drawn", name, int((~keep).sum()), name)
    if not keep.any():
        log.warning("%s layer has nothing to draw: not added to the map", name)
        return None
    return obj[keep]


def _grid_properties(
    gdf: gpd.GeoDataFrame,
    households: pd.Series,
    deviation: np.ndarray | None,
    lang: str,
) -> tuple[list[dict], list[str], list[str]]:
    """Tooltip properties of each grid, and the tooltip fields and aliases."""
    n = len(gdf)
    columns: dict[str, list[Any]] = {
        "grid_id": [_plain(v) for v in gdf["grid_id"]],
    }
    if "community_id" in gdf.columns:
        columns["community_id"] = [_plain(v) for v in gdf["community_id"]]
    columns["households"] = [_count(v) for v in households.to_numpy(dtype=float)]
    if "buildings" in gdf.columns:
        counts = pd.to_numeric(gdf["buildings"], errors="coerce").to_numpy(dtype=float)
        columns["buildings"] = [_count(v) for v in counts]
    if "area_m2" in gdf.columns:
        area = pd.to_numeric(gdf["area_m2"], errors="coerce").to_numpy(dtype=float)
    else:
        metric = gdf.to_crs(gdf.estimate_utm_crs()) if gdf.crs.is_geographic else gdf
        area = metric.geometry.area.to_numpy(dtype=float)
    columns["area_ha"] = [round(a / 10_000, 2) if math.isfinite(a) else None for a in area]
    if deviation is not None:
        columns["deviation"] = [f"{d:+.1%}" if math.isfinite(d) else None for d in deviation]
    fields = list(columns)
    aliases = [label(f, lang) for f in fields]
    props = [{f: columns[f][i] for f in fields} for i in range(n)]
    return props, fields, aliases


def _deviation(
    gdf: gpd.GeoDataFrame, households: pd.Series, target: float | None
) -> np.ndarray | None:
    """households / target − 1, else the grids' own ``deviation`` column, else None."""
    if target is not None:
        return households.to_numpy(dtype=float) / target - 1.0
    if "deviation" in gdf.columns:
        return pd.to_numeric(gdf["deviation"], errors="coerce").to_numpy(dtype=float)
    return None


def _add_buildings(
    m: folium.Map, buildings: gpd.GeoDataFrame, *, lang: str, max_buildings: int
) -> None:
    bld = _overlay_layer(buildings, "buildings", POLYGONAL)
    if bld is None:
        return
    if len(bld) > max_buildings:
        log.warning(
            "%d buildings exceed max_buildings=%d: the buildings layer is left out of the map "
            "(raise max_buildings to draw them; the HTML file grows by ~0.3 MB per 1,000)",
            len(bld),
            max_buildings,
        )
        return
    fields = [c for c in ("grid_id", "households", "name") if c in bld.columns]
    cols: dict[str, list[Any]] = {}
    for f in fields:
        if f == "households":
            counts = check_counts(bld[f], "buildings households", allow_missing=True)
            cols[f] = [_count(v) for v in counts.to_numpy(dtype=float)]
        else:
            cols[f] = [_plain(v) for v in bld[f]]
    props = [{f: cols[f][i] for f in fields} for i in range(len(bld))]
    data = _feature_collection(_geometries(_to_4326(bld)), props)
    show = len(bld) <= _BUILDINGS_SHOWN_MAX
    tooltip = (
        folium.GeoJsonTooltip(
            fields=fields, aliases=[label(f, lang) for f in fields], localize=True
        )
        if fields
        else None
    )
    folium.GeoJson(
        data,
        name=label("buildings_layer", lang),
        style_function=lambda _f: dict(_BUILDING_STYLE),
        tooltip=tooltip,
        show=show,
    ).add_to(m)
    log.info("buildings layer: %d buildings%s", len(bld), "" if show else " (off by default)")


def _add_streets(m: folium.Map, streets: gpd.GeoDataFrame, *, lang: str) -> None:
    st = _overlay_layer(streets, "streets", LINEAR)
    if st is None:
        return
    data = _feature_collection(_geometries(_to_4326(st)), [{} for _ in range(len(st))])
    folium.GeoJson(
        data,
        name=label("streets_layer", lang),
        style_function=lambda _f: dict(_STREET_STYLE),
        show=False,
    ).add_to(m)
    log.info("streets layer: %d lines (off by default)", len(st))


# --------------------------------------------------------------------------- public


def grid_map(
    grids: gpd.GeoDataFrame,
    *,
    buildings: gpd.GeoDataFrame | None = None,
    streets: gpd.GeoDataFrame | None = None,
    target: float | None = None,
    lang: str = "en",
    color_by: str = "neighbours",
    tiles: str | None = "OpenStreetMap",
    title: str | None = None,
    max_buildings: int = 50_000,
) -> folium.Map:
    """Draw a grid plan on an interactive web map.

    The map holds the grids (coloured, with a tooltip per grid), optionally the
    buildings and streets, a layer switcher, a legend, and is zoomed to the grids.

    Parameters
    ----------
    grids : GeoDataFrame
        One (Multi)Polygon per grid, in any CRS, with columns ``grid_id`` and
        ``households``; optional ``buildings`` (count), ``area_m2`` (computed from the
        geometry when absent), ``community_id`` and ``deviation``.
    buildings : GeoDataFrame, optional
        Building polygons; the columns ``grid_id``, ``households`` and ``name`` are shown
        in their tooltip when present. Drawn in grey; the layer is switched off at
        first when there are more than 5,000 buildings.
    streets : GeoDataFrame, optional
        Street lines; drawn as a layer that is switched off at first.
    target : float, optional
        Target households per grid. Adds "deviation from target" (households / target
        − 1, as a signed percent) to the tooltips and the target to the legend.
    lang : {"en", "zh"}, default "en"
        Language of every text on the map.
    color_by : {"neighbours", "deviation"}, default "neighbours"
        ``"neighbours"``: neighbouring grids get different colours
        (:func:`neighbour_colors`). ``"deviation"``: a diverging scale, blue below
        target, white at target, red above, saturated at ±50 %; needs ``target`` (or a
        ``deviation`` column in ``grids``).
    tiles : str or None, default "OpenStreetMap"
        Basemap, as accepted by :class:`folium.Map` (a name or a tile URL template);
        None for no basemap (e.g. offline use).
    title : str, optional
        Heading of the legend and title of the HTML page.
    max_buildings : int, default 50_000
        If there are more buildings, the buildings layer is left out (and a warning
        logged) to keep the HTML file small enough for a browser.

    Returns
    -------
    folium.Map

    Raises
    ------
    InputError
        For an unknown ``lang`` or ``color_by``, a non-positive ``target``, or
        ``color_by="deviation"`` without a target.
    EmptyLayerError, CRSError, GeometryError, MissingColumnError, HouseholdsError
        If a layer is empty, has no CRS, bad geometries, or lacks a required column.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> grids = gpd.GeoDataFrame(
    ...     {"grid_id": ["G0001"], "households": [300]},
    ...     geometry=[box(0, 0, 100, 100)], crs="EPSG:32650",
    ... )
    >>> m = grid_map(grids, target=300, color_by="deviation", tiles=None)
    >>> [type(c).__name__ for c in m._children.values()][:2]
    ['GeoJson', 'LayerControl']
    """
    lang = check_lang(lang)
    if color_by == "neighbors":
        color_by = "neighbours"
    if color_by not in _COLOR_BY:
        msg = f"color_by must be 'neighbours' or 'deviation', got {color_by!r}"
        raise InputError(msg)
    if target is not None:
        target = check_positive(target, "target")
    if isinstance(max_buildings, bool) or not isinstance(max_buildings, int | np.integer):
        msg = f"max_buildings must be a whole number, got {max_buildings!r}"
        raise InputError(msg)
    if title is not None and not isinstance(title, str):
        msg = f"title must be a string, got {type(title).__name__}"
        raise InputError(msg)

    gdf = check_layer(grids, "grids", geom_types=POLYGONAL)
    check_column(gdf, "grid_id", "grids")
    check_column(gdf, "households", "grids")
    households = check_counts(gdf["households"], "grids households")
    deviation = _deviation(gdf, households, target)

    if color_by == "deviation":
        if deviation is None:
            msg = (
                "color_by='deviation' needs the target households per grid: pass target=, "
                "e.g. grid_map(grids, target=300, color_by='deviation')"
            )
            raise InputError(msg)
        colors = deviation_colors(deviation)
    else:
        colors = _neighbour_colors(gdf, palette=DEFAULT_PALETTE, tolerance=0.5)

    props, fields, aliases = _grid_properties(gdf, households, deviation, lang)
    gdf4326 = _to_4326(gdf)
    data = _feature_collection(_geometries(gdf4326), props)
    color_list = [str(c) for c in colors]

    minx, miny, maxx, maxy = (float(v) for v in gdf4326.total_bounds)
    try:
        m = folium.Map(
            location=[(miny + maxy) / 2, (minx + maxx) / 2],
            zoom_start=14,
            tiles=tiles,
            control_scale=True,
            prefer_canvas=True,
        )
    except ValueError as exc:  # e.g. a custom tile URL without attribution
        msg = (
            f"tiles={tiles!r} cannot be used: {exc}; pass a folium tile name such as "
            "'OpenStreetMap', or add the attribution with folium.TileLayer(url, attr=...)"
        )
        raise InputError(msg) from exc
    if title:
        m.get_root().header.add_child(folium.Element(f"<title>{html.escape(title)}</title>"))

    def style(feature: dict) -> dict:
        return {**_GRID_STYLE, "fillColor": color_list[feature["id"]]}

    folium.GeoJson(
        data,
        name=label("grids_layer", lang),
        style_function=style,
        highlight_function=lambda _f: dict(_GRID_HIGHLIGHT),
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases, localize=True, sticky=True),
    ).add_to(m)

    if buildings is not None:
        _add_buildings(m, buildings, lang=lang, max_buildings=int(max_buildings))
    if streets is not None:
        _add_streets(m, streets, lang=lang)

    folium.LayerControl(collapsed=False).add_to(m)
    _Legend(
        _legend_html(
            lang=lang,
            title=title,
            n_grids=len(gdf),
            total_households=float(households.sum()),
            target=target,
            color_by=color_by,
        )
    ).add_to(m)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    log.info("grid map: %d grids, colour by %s, lang %s", len(gdf), color_by, lang)
    return m


def save_map(m: folium.Map, path: str | PathLike[str]) -> Path:
    """Write a map to a standalone HTML file.

    Parameters
    ----------
    m : folium.Map
        A map from :func:`grid_map`.
    path : str or path-like
        Where to write; must end in ``.html`` or ``.htm``. Missing parent folders are
        created.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    InputError
        If ``m`` is not a folium map or ``path`` does not end in ``.html``.
    """
    if not isinstance(m, folium.Map):
        msg = f"save_map needs a folium.Map (from gridgeo.render.grid_map), got {type(m).__name__}"
        raise InputError(msg)
    out = Path(path)
    if out.suffix.lower() not in (".html", ".htm"):
        msg = f"map path must end in .html, got {str(out)!r}; e.g. save_map(m, 'grids.html')"
        raise InputError(msg)
    out.parent.mkdir(parents=True, exist_ok=True)
    m.save(str(out))
    log.info("map written to %s (%.1f kB)", out, out.stat().st_size / 1024)
    return out
