"""Interactive grid maps (网格划分区域图) drawn with folium / Leaflet.

:func:`grid_map` turns a grid plan (grids, and optionally its buildings, streets and
any extra layers) into a :class:`folium.Map`; :func:`save_map` writes it to one HTML
file. By default the file is self-contained: the data and Leaflet itself (vendored from
npm, see :mod:`gridgeo.render._assets`) are inside it, so it opens from a USB stick or
an intranet share; only the basemap tiles come from the network (none with
``basemap="none"``). :func:`neighbour_colors` colours grids so that no two neighbours
share a colour.

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
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._errors import InputError
from .._validate import LINEAR, POLYGONAL, check_counts
from ..crs import gcj02_geometries
from . import _assets
from ._elements import GridLabels, Legend, label_min_zoom, page_style
from ._labels import LABELS, check_lang, label
from ._layers import (
    GridData,
    Overlay,
    PreparedOverlay,
    count,
    overlay_layer,
    plain,
    prepare_grids,
    prepare_overlays,
    text,
)
from .basemaps import basemap_layers, check_basemap, is_gcj02
from .colors import (
    DEFAULT_PALETTE,
    DEVIATION_COLORS,
    DEVIATION_LIMIT,
    deviation_colors,
    neighbour_colors,
)

__all__ = [
    "grid_map",
    "save_map",
    "neighbour_colors",
    "deviation_colors",
    "Overlay",
    "DEFAULT_PALETTE",
    "DEVIATION_LIMIT",
    "OSM_ATTRIBUTION",
]

log = logging.getLogger(__name__)

#: Credit for data from OpenStreetMap (ODbL), shown on maps without the OSM basemap.
OSM_ATTRIBUTION = "© OpenStreetMap contributors"

_BUILDINGS_SHOWN_MAX = 5_000  # more buildings than this: layer off until switched on
_CANVAS_FROM = 10_000  # more vector features than this: draw on one canvas, not SVG
_LABELS_SHOWN_MAX = 1_000  # more grids than this: label layer off until switched on
_COORD_DECIMALS = 6  # ~0.1 m; enough for a web map, keeps the HTML small
_UNSET: Any = object()

_GRID_STYLE = {
    "color": "#333333",
    "weight": 1,
    "opacity": 0.9,
    "fillOpacity": 0.55,
    "className": "gridgeo-grid",
}
_GRID_HIGHLIGHT = {"color": "#000000", "weight": 3, "fillOpacity": 0.75}
_BUILDING_STYLE = {
    "color": "#666666",
    "weight": 0.5,
    "fillColor": "#999999",
    "fillOpacity": 0.6,
    "className": "gridgeo-building",
}
_STREET_STYLE = {"color": "#444444", "weight": 1.5, "opacity": 0.8, "className": "gridgeo-street"}


# --------------------------------------------------------------------------- GeoJSON


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


# Kept for modules written against the first version of this one.
_plain, _count, _overlay_layer = plain, count, overlay_layer


def _alias(field: str, lang: str) -> str:
    """Display name of a column: the map's label when gridgeo knows it, else the name."""
    return LABELS[lang].get(field, field)


# --------------------------------------------------------------------------- legend


def _swatch(color: str, *, line: bool = False, point: bool = False, dashed: bool = False) -> str:
    if point:
        return (
            f"<span style='display:inline-block;width:10px;height:10px;border-radius:50%;"
            f"background:{color};border:1.5px solid #fff;box-shadow:0 0 0 1px {color};"
            "vertical-align:middle;margin:0 8px 0 3px'></span>"
        )
    if line:
        return (
            f"<span style='display:inline-block;width:18px;height:0;border-top:3px solid {color};"
            "vertical-align:middle;margin-right:6px'></span>"
        )
    border = "dashed" if dashed else "solid"
    return (
        f"<span style='display:inline-block;width:14px;height:10px;border:2px {border} {color};"
        f"background:{color}55;vertical-align:middle;margin-right:6px'></span>"
    )


def _legend_html(
    *,
    lang: str,
    title: str | None,
    n_grids: int,
    total_households: float,
    target: float | None,
    color_by: str,
    overlays: list[PreparedOverlay] | None = None,
    gcj02: bool = False,
) -> str:
    esc = html.escape
    rows = [
        f"<div style='font-weight:bold;font-size:14px;margin-bottom:4px'>"
        f"{esc(title or label('title', lang))}</div>"
    ]
    if title:
        rows.append(f"<div style='color:#555'>{esc(label('title', lang))}</div>")
    rows.append(f"<div>{esc(label('n_grids', lang))}: {n_grids:,}</div>")
    total = count(total_households)
    if total is not None:
        rows.append(f"<div>{esc(label('total_households', lang))}: {total:,}</div>")
    if target is not None:
        rows.append(
            f"<div>{esc(label('target', lang))}: {count(target):,} "
            f"{esc(label('target_unit', lang))}</div>"
        )
    if color_by == "deviation":
        gradient = ", ".join(DEVIATION_COLORS)
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
    if overlays:
        rows.append("<div style='margin-top:6px'></div>")
        for ov in overlays:
            kinds = set(ov.gdf.geom_type.unique())
            swatch = _swatch(
                ov.color,
                line=kinds <= LINEAR,
                point=kinds <= {"Point", "MultiPoint"},
                dashed=ov.dashed,
            )
            rows.append(f"<div>{swatch}{esc(ov.name)}</div>")
    if gcj02:
        rows.append(
            f"<div style='margin-top:6px;font-size:11px;color:#555'>{esc(label('gcj02_note', lang))}</div>"
        )
    body = "".join(rows)
    return (
        "<div style='background:rgba(255,255,255,0.9);padding:6px 10px;border-radius:4px;"
        "box-shadow:0 0 4px rgba(0,0,0,0.3);font-size:12px;line-height:1.4;color:#222'>"
        f"{body}</div>"
    )


# --------------------------------------------------------------------------- layers


def _phone_html(phone: str | None) -> str | None:
    if phone is None:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    shown = html.escape(phone, quote=False)
    return f'<a href="tel:{digits}">{shown}</a>' if digits else shown


def _reason(code: str | None, lang: str) -> str | None:
    """A grid's ``reason`` in words (a code gridgeo does not know is shown as it is)."""
    if code is None:
        return None
    key = f"reason_{code}"
    return label(key, lang) if key in LABELS[lang] else code


def _grid_properties(data: GridData, lang: str = "en") -> tuple[list[dict], list[str], list[str]]:
    """Properties of each grid, and the fields of the tooltip and of the popup (with
    ``reason``, why a grid lies outside the band, in words)."""
    gdf = data.gdf
    columns: dict[str, list[Any]] = {"grid_id": [plain(v) for v in gdf["grid_id"]]}
    if "community_id" in gdf.columns:
        columns["community_id"] = [plain(v) for v in gdf["community_id"]]
    columns["households"] = [count(v) for v in data.households.to_numpy(dtype=float)]
    if "buildings" in gdf.columns:
        counts = pd.to_numeric(gdf["buildings"], errors="coerce").to_numpy(dtype=float)
        columns["buildings"] = [count(v) for v in counts]
    columns["area_ha"] = [round(a / 10_000, 2) if math.isfinite(a) else None for a in data.area_m2]
    if data.deviation is not None:
        columns["deviation"] = [f"{d:+.1%}" if math.isfinite(d) else None for d in data.deviation]
    if data.has("worker"):
        columns["worker"] = [plain(text(v)) for v in gdf["worker"]]
    if data.has("phone"):
        columns["phone"] = [_phone_html(text(v)) for v in gdf["phone"]]
    for col in ("code", "workers", "liaisons", "liaison_budget_yuan", "workload_index"):
        if data.has(col):
            columns[col] = [plain(v) for v in gdf[col]]
    if data.has("parts"):  # a grid in several parts (it took in an exclave) says so
        parts = pd.to_numeric(gdf["parts"], errors="coerce").fillna(1).to_numpy()
        if (parts > 1).any():
            columns["parts"] = [int(p) if p > 1 else None for p in parts]
    if data.has("reason"):
        columns["reason"] = [_reason(text(v), lang) for v in gdf["reason"]]
    popup_fields = list(columns)
    tooltip_fields = [
        f for f in ("grid_id", "community_id", "households", "deviation", "worker") if f in columns
    ]
    props = [{f: columns[f][i] for f in popup_fields} for i in range(len(gdf))]
    return props, tooltip_fields, popup_fields


def _add_buildings(
    m: folium.Map,
    buildings: gpd.GeoDataFrame,
    *,
    lang: str,
    max_buildings: int,
    project: Any,
) -> None:
    bld = overlay_layer(buildings, "buildings", POLYGONAL)
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
            cols[f] = [count(v) for v in counts.to_numpy(dtype=float)]
        else:
            cols[f] = [plain(v) for v in bld[f]]
    props = [{f: cols[f][i] for f in fields} for i in range(len(bld))]
    data = _feature_collection(_geometries(project(bld)), props)
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


def _add_streets(m: folium.Map, streets: gpd.GeoDataFrame, *, lang: str, project: Any) -> None:
    st = overlay_layer(streets, "streets", LINEAR)
    if st is None:
        return
    name_col = "name" if "name" in st.columns else None
    props = [{"name": plain(v)} for v in st[name_col]] if name_col else [{} for _ in range(len(st))]
    data = _feature_collection(_geometries(project(st)), props)
    tooltip = (
        folium.GeoJsonTooltip(fields=["name"], aliases=[label("name", lang)]) if name_col else None
    )
    folium.GeoJson(
        data,
        name=label("streets_layer", lang),
        style_function=lambda _f: dict(_STREET_STYLE),
        tooltip=tooltip,
        show=False,
    ).add_to(m)
    log.info("streets layer: %d lines (off by default)", len(st))


def _add_overlay(m: folium.Map, ov: PreparedOverlay, *, lang: str, project: Any) -> None:
    gdf = ov.gdf
    props = [
        {f: plain(v) for f, v in zip(ov.fields, row, strict=True)}
        for row in gdf[ov.fields].itertuples(index=False)
    ]
    data = _feature_collection(_geometries(project(gdf)), props)
    polygon_style = {
        "color": ov.color,
        "weight": 2,
        "opacity": 0.95,
        "fillColor": ov.color,
        "fillOpacity": ov.fill_opacity,
        "className": "gridgeo-overlay",
    }
    if ov.dashed:
        polygon_style["dashArray"] = "6 4"
    line_style = {"color": ov.color, "weight": 3, "opacity": 0.9, "className": "gridgeo-overlay"}
    point_style = {
        "color": "#ffffff",
        "weight": 1.5,
        "fill": True,
        "fillColor": ov.color,
        "fillOpacity": 0.95,
        "className": "gridgeo-overlay",
    }
    kinds = {f["id"]: f["geometry"]["type"] for f in data["features"]}

    def style(feature: dict) -> dict:
        kind = kinds[feature["id"]]
        if "Point" in kind:
            return dict(point_style)
        return dict(line_style if "Line" in kind else polygon_style)

    has_points = any("Point" in k for k in kinds.values())
    tooltip = (
        folium.GeoJsonTooltip(
            fields=ov.fields, aliases=[_alias(f, lang) for f in ov.fields], localize=True
        )
        if ov.fields
        else None
    )
    folium.GeoJson(
        data,
        name=ov.name,
        style_function=style,
        tooltip=tooltip,
        show=ov.show,
        marker=folium.CircleMarker(radius=6) if has_points else None,
    ).add_to(m)
    log.info("overlay %r: %d features", ov.name, len(gdf))


def _label_rows(
    data: GridData, gdf_ll: gpd.GeoDataFrame, column: str
) -> list[tuple[float, float, str]]:
    points = shapely.point_on_surface(np.asarray(gdf_ll.geometry.values))
    rows = []
    for pt, value in zip(points, data.gdf[column], strict=True):
        t = text(value)
        if t is not None:
            rows.append((float(pt.y), float(pt.x), html.escape(t, quote=False)))
    return rows


# --------------------------------------------------------------------------- public


def _resolve_basemap(basemap: Any, tiles: Any) -> Any:
    """The basemap, honouring the older ``tiles=`` keyword."""
    if tiles is _UNSET:
        return basemap if isinstance(basemap, folium.TileLayer) else check_basemap(basemap)
    if basemap is not _UNSET:
        msg = "give basemap= or tiles=, not both (tiles= is the older name)"
        raise InputError(msg)
    if tiles is None:
        return "none"
    if isinstance(tiles, str) and tiles.lower() in ("openstreetmap", "osm"):
        return "osm"
    if isinstance(tiles, folium.TileLayer):
        return tiles
    try:
        return folium.TileLayer(tiles)
    except ValueError as exc:  # e.g. a custom tile URL without attribution
        msg = (
            f"tiles={tiles!r} cannot be used: {exc}; pass basemap='osm', 'tianditu-vec', "
            "'gaode' or 'none', or a folium.TileLayer(url, attr=...)"
        )
        raise InputError(msg) from exc


def grid_map(
    grids: gpd.GeoDataFrame,
    *,
    buildings: gpd.GeoDataFrame | None = None,
    streets: gpd.GeoDataFrame | None = None,
    overlays: Mapping[str, gpd.GeoDataFrame | Overlay] | None = None,
    target: float | None = None,
    lang: str = "en",
    color_by: str = "neighbours",
    basemap: str | folium.TileLayer | None = _UNSET,
    tk: str | None = None,
    inline_assets: bool = True,
    labels: bool | str = True,
    title: str | None = None,
    attribution: str | None = OSM_ATTRIBUTION,
    max_buildings: int = 50_000,
    tiles: str | None = _UNSET,
) -> folium.Map:
    """Draw a grid plan on an interactive web map.

    The map holds the grids (coloured, a tooltip on hover, a popup on click with the
    grid's figures and its grid worker), their codes as labels, optionally the
    buildings, streets and any extra layers, a layer switcher, a legend and a scale,
    and is zoomed to the grids.

    Parameters
    ----------
    grids : GeoDataFrame
        One (Multi)Polygon per grid, in any CRS, with columns ``grid_id`` and
        ``households``; optional ``buildings`` (count), ``area_m2`` (computed from the
        geometry when absent), ``community_id``, ``deviation``, and ``worker`` /
        ``phone`` (the grid worker, 网格员, and their phone: shown in the popup).
    buildings : GeoDataFrame, optional
        Building polygons; the columns ``grid_id``, ``households`` and ``name`` are shown
        in their tooltip when present. Drawn in grey; the layer is switched off at
        first when there are more than 5,000 buildings.
    streets : GeoDataFrame, optional
        Street lines (tooltip: ``name``); a layer switched off at first.
    overlays : dict of {str: GeoDataFrame or Overlay}, optional
        Extra layers by name, drawn over the grids in the given order: street-front
        zones, audit findings, points of interest … Points, lines or polygons in any
        CRS; colours from :data:`~gridgeo.render.colors.OVERLAY_PALETTE` unless given
        with :class:`~gridgeo.render.Overlay`. The names appear in the layer control and
        the legend as they are, so write them in the map's language.
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
    basemap : str or folium.TileLayer, default "osm"
        ``"osm"`` (OpenStreetMap; needs internet), ``"tianditu-vec"`` /
        ``"tianditu-img"`` (天地图 vector or imagery with its place-name layer; needs
        internet and a key, ``tk`` or ``$TIANDITU_TOKEN``), ``"gaode"`` / ``"amap"``
        (高德; needs internet; every layer is converted from WGS 84 to GCJ-02 so that
        it lines up with the tiles), ``"none"`` (blank; needs nothing), or a
        :class:`folium.TileLayer`. See :mod:`gridgeo.render.basemaps`.
    tk : str, optional
        Tianditu key (written into the HTML: use a browser key bound to your site).
    inline_assets : bool, default True
        Put Leaflet's JS and CSS inside the HTML (~160 kB), so that the page needs no
        CDN: with ``basemap="none"`` the file opens with no network at all. False links
        Leaflet from jsDelivr instead, which is blocked in mainland China and on
        intranets.
    labels : bool or str, default True
        Label each grid with its ``grid_id`` (or with the named column) in a
        switchable layer; labels hide when zoomed out too far to read. False: none.
    title : str, optional
        Heading of the legend and title of the HTML page.
    attribution : str or None, default "© OpenStreetMap contributors"
        Credit for the data, shown in the map corner (the OSM basemap credits OSM
        itself); None for none.
    max_buildings : int, default 50_000
        If there are more buildings, the buildings layer is left out (and a warning
        logged) to keep the HTML file small enough for a browser.
    tiles : str or None, optional
        Older name of ``basemap``: None is ``"none"``, ``"OpenStreetMap"`` is
        ``"osm"``, any other folium tile name or URL is used as it is.

    Returns
    -------
    folium.Map
        Grid polygons carry the CSS class ``gridgeo-grid`` (drawn as SVG paths unless
        there are over 10,000 features, then on one canvas).

    Raises
    ------
    InputError
        For an unknown ``lang``, ``color_by`` or ``basemap``, a Tianditu basemap without
        a key, a non-positive ``target``, or ``color_by="deviation"`` without a target.
    EmptyLayerError, CRSError, GeometryError, MissingColumnError, HouseholdsError
        If a layer is empty, has no CRS, bad geometries, or lacks a required column.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> grids = gpd.GeoDataFrame(
    ...     {"grid_id": ["G0001"], "households": [300], "worker": ["王芳"]},
    ...     geometry=[box(0, 0, 100, 100)], crs="EPSG:32650",
    ... )
    >>> m = grid_map(grids, target=300, color_by="deviation", basemap="none", lang="zh")
    >>> [type(c).__name__ for c in m._children.values()][:3]
    ['GeoJson', 'GridLabels', 'LayerControl']
    >>> html = m.get_root().render()
    >>> "cdn.jsdelivr.net" in html, "<script src=" in html
    (False, False)
    """
    lang = check_lang(lang)
    if basemap is _UNSET and tiles is _UNSET:
        basemap = "osm"
    basemap = _resolve_basemap(basemap, tiles)
    if isinstance(max_buildings, bool) or not isinstance(max_buildings, int | np.integer):
        msg = f"max_buildings must be a whole number, got {max_buildings!r}"
        raise InputError(msg)
    if title is not None and not isinstance(title, str):
        msg = f"title must be a string, got {type(title).__name__}"
        raise InputError(msg)
    tile_layers = basemap_layers(basemap, lang=lang, tk=tk)  # a missing key fails early
    data = prepare_grids(grids, target=target, color_by=color_by)
    label_column = "grid_id" if labels is True else labels
    if isinstance(label_column, str) and label_column not in data.gdf.columns:
        msg = (
            f"labels={labels!r}: grids have no column {labels!r}; columns: {list(data.gdf.columns)}"
        )
        raise InputError(msg)
    prepared = prepare_overlays(overlays)

    gcj = is_gcj02(basemap)

    def project(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return gcj02_geometries(gdf) if gcj else _to_4326(gdf)

    gdf_ll = project(data.gdf)
    n_features = len(data.gdf) + sum(len(ov.gdf) for ov in prepared)
    if buildings is not None and isinstance(buildings, gpd.GeoDataFrame | gpd.GeoSeries):
        n_features += min(len(buildings), int(max_buildings))
    minx, miny, maxx, maxy = (float(v) for v in gdf_ll.total_bounds)
    m = _base_map(
        (minx, miny, maxx, maxy),
        tile_layers,
        canvas=n_features > _CANVAS_FROM,
        inline_assets=inline_assets,
        title=title,
    )
    credit = None if basemap == "osm" or not attribution else html.escape(attribution)
    _add_grids(m, data, gdf_ll, lang=lang, credit=credit)
    if label_column:
        width = float(np.sqrt(np.nanmedian(data.area_m2))) if len(data.area_m2) else math.nan
        GridLabels(
            _label_rows(data, gdf_ll, label_column),
            name=label("labels_layer", lang),
            min_zoom=label_min_zoom(width, (miny + maxy) / 2),
            show=len(data.gdf) <= _LABELS_SHOWN_MAX,
        ).add_to(m)
    if buildings is not None:
        _add_buildings(m, buildings, lang=lang, max_buildings=int(max_buildings), project=project)
    if streets is not None:
        _add_streets(m, streets, lang=lang, project=project)
    for ov in prepared:
        _add_overlay(m, ov, lang=lang, project=project)

    folium.LayerControl(collapsed=False).add_to(m)
    Legend(
        _legend_html(
            lang=lang,
            title=title,
            n_grids=len(data.gdf),
            total_households=float(data.households.sum()),
            target=data.target,
            color_by=data.color_by,
            overlays=prepared,
            gcj02=gcj,
        )
    ).add_to(m)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    log.info(
        "grid map: %d grids, colour by %s, basemap %s%s, lang %s",
        len(data.gdf),
        data.color_by,
        basemap if isinstance(basemap, str) else "custom",
        " (GCJ-02)" if gcj else "",
        lang,
    )
    return m


def _base_map(bounds, tile_layers, *, canvas: bool, inline_assets: bool, title) -> folium.Map:
    """An empty map over ``bounds`` (lon/lat) with its basemap, Leaflet (inlined or from
    the CDN), gridgeo's page style and title."""
    minx, miny, maxx, maxy = bounds
    m = folium.Map(
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        zoom_start=14,
        tiles=None,
        control_scale=True,
        prefer_canvas=canvas,
        zoom_snap=0.25,
    )
    for layer in tile_layers:
        layer.add_to(m)
    if inline_assets:
        _assets.use_inline_leaflet(m)
    else:
        _assets.use_cdn_leaflet(m)
    root = m.get_root()
    root.header.add_child(
        folium.Element(page_style(blank_background=not tile_layers)), name="gridgeo_css"
    )
    if title:
        root.header.add_child(folium.Element(f"<title>{html.escape(title)}</title>"))
    return m


def _add_grids(m: folium.Map, data, gdf_ll, *, lang: str, credit: str | None) -> None:
    """The grids layer: coloured polygons with a tooltip and a popup of their figures."""
    props, tooltip_fields, popup_fields = _grid_properties(data, lang)
    fc = _feature_collection(_geometries(gdf_ll), props)
    colors = data.colors

    def style(feature: dict) -> dict:
        return {**_GRID_STYLE, "fillColor": colors[feature["id"]]}

    folium.GeoJson(
        fc,
        name=label("grids_layer", lang),
        style_function=style,
        highlight_function=lambda _f: dict(_GRID_HIGHLIGHT),
        tooltip=folium.GeoJsonTooltip(
            fields=tooltip_fields,
            aliases=[label(f, lang) for f in tooltip_fields],
            localize=True,
            sticky=True,
        ),
        popup=folium.GeoJsonPopup(
            fields=popup_fields, aliases=[label(f, lang) for f in popup_fields], localize=True
        ),
        attribution=credit,
    ).add_to(m)


def save_map(m: folium.Map, path: str | PathLike[str]) -> Path:
    """Write a map to a standalone HTML file (UTF-8).

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
