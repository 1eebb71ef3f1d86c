"""Presenting a coverage audit: plain-language summary, field list and interactive map.

:func:`describe` sums an :class:`gridgeo.audit.Audit` up in a few sentences (English or
Chinese); :func:`findings_table` lists every finding for field staff, with bilingual
column headers and a position in WGS 84 (and in GCJ-02 for Gaode/Tencent maps when
the area is in China); :func:`coverage_map` draws the grids and each kind of finding
as a layer coloured by severity, with the findings table in a panel.

Examples
--------
>>> import gridgeo
>>> from gridgeo.audit import audit
>>> from gridgeo.render.coverage import coverage_map, findings_table
>>> layers = gridgeo.read_osm(gridgeo.datasets.get_path("kouvola"))
>>> plan = gridgeo.partition(layers.streets, layers.buildings, target=300)
>>> a = audit(plan.grids.iloc[1:], plan.buildings, households_column="households")
>>> table = findings_table(a, lang="zh")
>>> table.columns[1], table.iloc[0, 1]
('类型 Type', '未覆盖楼栋区 Uncovered buildings')
>>> type(coverage_map(a, tiles=None)).__name__
'Map'
"""

from __future__ import annotations

import html
import json
import logging
import math
from typing import TYPE_CHECKING, Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._errors import InputError
from ..crs import in_china, wgs84_to_gcj02
from . import _assets
from ._elements import Legend

if TYPE_CHECKING:  # pragma: no cover
    from ..audit import Audit

__all__ = ["SEVERITY_COLORS", "check_lang", "coverage_map", "describe", "findings_table"]

log = logging.getLogger(__name__)

#: Fill colour of findings by severity.
SEVERITY_COLORS = {"high": "#d7191c", "medium": "#fdae61", "low": "#ffe08a", "ok": "#1a9641"}
_STATUS_COLORS = {"uncovered": "#d7191c", "mixed": "#fd8d3c", "dedicated": "#1a9641"}
_LOAD_COLORS = {
    "within": "#eeeeee",
    "below": "#c6dbef",
    "above": "#fcbba1",
    "street_front": "#c7e9c0",
}
_SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2, "ok": 3}
_COORD_DECIMALS = 6
_TABLE_ROWS = 200

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Coverage audit",
        "grids": "Grids",
        "uncovered_buildings": "Uncovered buildings",
        "uncovered_zones": "Uncovered zones",
        "overlaps": "Overlaps",
        "gaps": "Gaps",
        "street_front_zones": "Street-front zones",
        "proposed_micro_grids": "Proposed street-front micro-grids",
        "double_counted": "Registered in two grids",
        "load": "Grid load",
        "findings": "Findings",
        "no_findings": "No findings: every building is in one grid, no gap, no overlap.",
        "more_rows": "… and {n} more in coverage_findings.csv",
        "high": "high",
        "medium": "medium",
        "low": "low",
        "ok": "ok",
        "uncovered": "uncovered",
        "mixed": "mixed with housing",
        "dedicated": "dedicated grid",
        "within": "within the band",
        "below": "below the band",
        "above": "above the band",
        "street_front": "street-front grid",
        "side": "side",
        "type": "Finding",
        "households_short": "Households",
        "description": "Description",
    },
    "zh": {
        "title": "网格覆盖核查",
        "grids": "网格",
        "uncovered_buildings": "未覆盖楼栋",
        "uncovered_zones": "未覆盖区域",
        "overlaps": "交叉重叠",
        "gaps": "空白区域",
        "street_front_zones": "沿街商铺区",
        "proposed_micro_grids": "建议沿街微网格",
        "double_counted": "重复登记",
        "load": "网格户数",
        "findings": "问题清单",
        "no_findings": "未发现问题：每栋楼都在一个网格内，无空白，无重叠。",
        "more_rows": "……另有 {n} 条，见 coverage_findings.csv",
        "high": "高",
        "medium": "中",
        "low": "低",
        "ok": "正常",
        "uncovered": "未覆盖",
        "mixed": "与住宅混管",
        "dedicated": "专属网格",
        "within": "符合范围",
        "below": "低于范围",
        "above": "高于范围",
        "street_front": "沿街网格",
        "side": "侧",
        "type": "类型",
        "households_short": "户数",
        "description": "说明",
    },
}

#: Bilingual names of the finding types (the CSV shows both languages).
TYPES = {
    "uncovered_zone": "未覆盖楼栋区 Uncovered buildings",
    "gap": "空白区域 Gap",
    "overlap": "交叉重叠 Overlap",
    "street_front_uncovered": "沿街商铺未覆盖 Street front, uncovered",
    "street_front_mixed": "沿街商铺混管 Street front, mixed with housing",
    "double_counted": "重复登记 Registered in two grids",
    "load": "网格户数超出范围 Grid load out of band",
}
_SEVERITY_BILINGUAL = {"high": "高 high", "medium": "中 medium", "low": "低 low", "ok": "正常 ok"}

#: Column headers of the field list: Chinese and English.
COLUMNS = {
    "no": "序号 No.",
    "type": "类型 Type",
    "severity": "严重程度 Severity",
    "id": "编号 ID",
    "grids": "涉及网格 Grids",
    "street": "街道 Street",
    "buildings": "楼栋数 Buildings",
    "households": "户数 Households",
    "shops": "商铺数 Shops",
    "length_m": "长度(米) Length (m)",
    "area_m2": "面积(平方米) Area (m²)",
    "lon": "经度(WGS84) Longitude",
    "lat": "纬度(WGS84) Latitude",
    "lon_gcj": "经度(GCJ-02 高德/腾讯) Longitude (GCJ-02)",
    "lat_gcj": "纬度(GCJ-02 高德/腾讯) Latitude (GCJ-02)",
    "description": "说明 Description",
}


def check_lang(lang: object) -> str:
    """Return ``lang`` if it is ``"en"`` or ``"zh"``, else raise :class:`InputError`."""
    if not isinstance(lang, str) or lang not in _TEXT:
        msg = f"lang must be 'en' or 'zh', got {lang!r}"
        raise InputError(msg)
    return lang


def _t(key: str, lang: str) -> str:
    return _TEXT[lang][key]


# ------------------------------------------------------------------------------ words


def describe(audit: Audit, *, lang: str = "en") -> str:
    """A few sentences summing the audit up (``lang`` "en" or "zh")."""
    lang = check_lang(lang)
    f = audit.figures
    lo, hi = (f"{v:g}" for v in f["band"])
    if lang == "zh":
        text = (
            f"核查 {f['grids']} 个网格、{f['buildings']:,} 栋楼（{f['households']:,} 户）。"
            f"未覆盖：{f['uncovered_buildings']:,} 栋楼（{f['uncovered_households']:,} 户），"
            f"共 {f['uncovered_zones']} 片区域。"
            f"交叉重叠 {f['overlaps']} 处（{f['overlap_area_m2']:,.0f} 平方米，"
            f"涉及 {f['overlap_buildings']} 栋楼）。"
            f"空白区域 {f['gaps']} 处（{f['gap_area_m2']:,.0f} 平方米；"
            f"另有 {f['ignored_slivers']} 处细小缝隙共 {f['ignored_sliver_area_m2']:,.1f} 平方米未计）。"
            f"户数：{f['grids_below']} 个网格低于、{f['grids_above']} 个高于 {lo}–{hi} 户的范围。"
            f"沿街：{f['street_front_zones']} 个沿街商铺区（{f['street_front_shops']} 家商铺），"
            f"其中未覆盖 {f['street_front_uncovered']} 个、与住宅混管 {f['street_front_mixed']} 个、"
            f"已有专属网格 {f['street_front_dedicated']} 个；建议新设沿街微网格 "
            f"{f['proposed_micro_grids']} 个。"
        )
        if "double_counted" in f:
            text += f"重复登记：{f['double_counted']} 栋楼/地址登记在两个以上网格。"
        if f["settings"]["study_area"] != "boundaries":
            text += "（未提供社区边界：空白区域只计网格之间的空洞。）"
        return text
    text = (
        f"Audit of {f['grids']} grids and {f['buildings']:,} buildings "
        f"({f['households']:,} households). "
        f"Uncovered: {f['uncovered_buildings']:,} buildings "
        f"({f['uncovered_households']:,} households) in {f['uncovered_zones']} zones. "
        f"Overlaps: {f['overlaps']} ({f['overlap_area_m2']:,.0f} m², "
        f"{f['overlap_buildings']} buildings). "
        f"Gaps: {f['gaps']} ({f['gap_area_m2']:,.0f} m²; {f['ignored_slivers']} slivers of "
        f"{f['ignored_sliver_area_m2']:,.1f} m² in all ignored). "
        f"Load: {f['grids_below']} grids below and {f['grids_above']} above the band of "
        f"{lo}–{hi} households. "
        f"Street front: {f['street_front_zones']} zones with {f['street_front_shops']} shops: "
        f"{f['street_front_uncovered']} uncovered, {f['street_front_mixed']} mixed with "
        f"housing, {f['street_front_dedicated']} in a dedicated grid; "
        f"{f['proposed_micro_grids']} street-front micro-grids proposed."
    )
    if "double_counted" in f:
        text += (
            f" Register: {f['double_counted']} buildings or addresses registered in two or "
            "more grids."
        )
    if f["settings"]["study_area"] != "boundaries":
        text += " (No community boundaries given: gaps are holes between grids only.)"
    return text


# ----------------------------------------------------------------------------- table


_DESC = {
    "en": {
        "uncovered_zone": "{buildings} buildings ({households} households) in no grid; nearest grid {grids}",
        "gap": "{area_m2:,.0f} m² in no grid, next to grids {grids}; {households} households inside",
        "overlap": "grids {grids} overlap by {area_m2:,.0f} m²; {buildings} buildings ({households} households) in both",
        "street_front_uncovered": "{street}, {side} side: {shops} shops, some or all in no grid",
        "street_front_mixed": "{street}, {side} side: {shops} shops managed in residential grids {grids}; consider a street-front micro-grid",
        "double_counted": "{key} is registered in {n_grids} grids: {grids} (on the map: {map_grid})",
        "load_above": "grid {grids} holds {households} households, {excess:g} above the band of {lo:g}–{hi:g}",
        "load_below": "grid {grids} holds {households} households, {excess:g} below the band of {lo:g}–{hi:g}",
        "none": "none",
        "unnamed": "unnamed street",
    },
    "zh": {
        "uncovered_zone": "{buildings} 栋楼（{households} 户）不在任何网格内，最近的网格为 {grids}",
        "gap": "{area_m2:,.0f} 平方米不属于任何网格（相邻网格 {grids}），内有 {households} 户",
        "overlap": "网格 {grids} 交叉重叠 {area_m2:,.0f} 平方米，{buildings} 栋楼（{households} 户）被重复管理",
        "street_front_uncovered": "{street}{side}侧：{shops} 家商铺，部分或全部不在任何网格内",
        "street_front_mixed": "{street}{side}侧：{shops} 家商铺由住宅网格 {grids} 混合管理，可设沿街微网格",
        "double_counted": "{key} 登记在 {n_grids} 个网格：{grids}（地图上属于 {map_grid}）",
        "load_above": "网格 {grids} 有 {households} 户，超出 {lo:g}–{hi:g} 户的范围 {excess:g} 户",
        "load_below": "网格 {grids} 有 {households} 户，低于 {lo:g}–{hi:g} 户的范围 {excess:g} 户",
        "none": "无",
        "unnamed": "无名道路",
    },
}
_SIDES_ZH = {
    "N": "北",
    "NE": "东北",
    "E": "东",
    "SE": "东南",
    "S": "南",
    "SW": "西南",
    "W": "西",
    "NW": "西北",
}


def _column(gdf: gpd.GeoDataFrame, name: str | None) -> np.ndarray:
    """A column as objects, missing values (None or NaN) as None."""
    if name is None or name not in gdf.columns:
        return np.full(len(gdf), None, dtype=object)
    values = gdf[name].astype(object)
    return values.where(values.notna(), None).to_numpy(dtype=object)


#: For each kind of finding: its layer, id column, and the columns of the table.
_SOURCES: dict[str, tuple[str, str, dict[str, str]]] = {
    "uncovered_zone": (
        "uncovered_zones",
        "zone_id",
        {
            "grids": "nearest_grid",
            "buildings": "buildings",
            "households": "households",
            "area_m2": "area_m2",
        },
    ),
    "gap": (
        "gaps",
        "gap_id",
        {
            "grids": "neighbour_grids",
            "buildings": "buildings",
            "households": "households",
            "area_m2": "area_m2",
        },
    ),
    "overlap": (
        "overlaps",
        "overlap_id",
        {
            "grids": "grid_ids",
            "buildings": "buildings",
            "households": "households",
            "area_m2": "area_m2",
        },
    ),
    "street_front_uncovered": (
        "street_front_zones",
        "zone_id",
        {
            "grids": "grid_ids",
            "street": "street",
            "side": "side",
            "shops": "shops",
            "length_m": "length_m",
        },
    ),
    "street_front_mixed": (
        "street_front_zones",
        "zone_id",
        {
            "grids": "grid_ids",
            "street": "street",
            "side": "side",
            "shops": "shops",
            "length_m": "length_m",
        },
    ),
    "double_counted": (
        "double_counted",
        "double_id",
        {
            "grids": "register_grids",
            "households": "households",
            "key": "key",
            "n_grids": "n_grids",
            "map_grid": "map_grid",
        },
    ),
    "load": (
        "grid_load",
        "grid_id",
        {
            "grids": "grid_id",
            "buildings": "buildings",
            "households": "households",
            "area_m2": "area_m2",
            "excess": "excess",
        },
    ),
}


def _selected(kind: str, layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if kind.startswith("street_front_"):
        return layer[layer["status"] == kind.removeprefix("street_front_")]
    if kind == "load":
        return layer[layer["severity"] != "ok"]
    return layer


def _findings(audit: Audit, lang: str) -> pd.DataFrame:
    """Every finding, most severe first: kind, severity, id, values, description, geometry."""
    words = _DESC[lang]
    lo, hi = audit.figures["band"]
    frames = []
    for kind, (layer_name, id_col, columns) in _SOURCES.items():
        layer = getattr(audit, layer_name)
        if layer is None or len(layer) == 0:
            continue
        layer = _selected(kind, layer)
        if len(layer) == 0:
            continue
        data = {key: _column(layer, col) for key, col in columns.items()}
        rows = pd.DataFrame(data).to_dict("records")
        desc = []
        for r in rows:
            values = {k: (words["none"] if v is None else v) for k, v in r.items()}
            if r.get("grids"):
                values["grids"] = str(r["grids"]).replace(",", ", ")
            values["street"] = r.get("street") or words["unnamed"]
            side = r.get("side") or ""
            values["side"] = _SIDES_ZH.get(side, side) if lang == "zh" else side
            template = kind
            if kind == "load":
                template = "load_above" if r["excess"] > 0 else "load_below"
                values["excess"] = abs(r["excess"])
            desc.append(words[template].format(lo=lo, hi=hi, **values))
        frame = pd.DataFrame(
            {
                "kind": kind,
                "severity_key": _column(layer, "severity"),
                "id": _column(layer, id_col),
                **{k: data.get(k, np.full(len(layer), None, dtype=object)) for k in _VALUE_KEYS},
                "description": desc,
                "geometry": layer.geometry.to_numpy(),
            }
        )
        frames.append(frame)
    if not frames:
        return pd.DataFrame(
            columns=["kind", "severity_key", "id", *_VALUE_KEYS, "description", "geometry"]
        )
    df = pd.concat(frames, ignore_index=True)
    kind_rank = {k: i for i, k in enumerate(_SOURCES)}
    order = np.lexsort(
        (
            df["id"].astype(str),
            df["kind"].map(kind_rank),
            df["severity_key"].map(_SEVERITY_RANK).fillna(9),
        )
    )
    return df.iloc[order].reset_index(drop=True)


_VALUE_KEYS = ("grids", "street", "buildings", "households", "shops", "length_m", "area_m2")


def _number(value: Any) -> int | float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(v):
        return None
    return int(v) if v.is_integer() else round(v, 1)


def findings_table(audit: Audit, *, lang: str = "en") -> pd.DataFrame:
    """Every finding as one row, most severe first, for field staff.

    Headers are bilingual (Chinese and English, see :data:`COLUMNS`); so are the
    finding types and severities. The description is in ``lang``. The position is a
    point on the finding in WGS 84; when it lies in China, GCJ-02 columns are added for
    Gaode/Tencent maps. Proposed micro-grids are not listed (they are in the GeoPackage).

    Returns
    -------
    pandas.DataFrame
    """
    lang = check_lang(lang)
    df = _findings(audit, lang)
    geom = df["geometry"].to_numpy()
    has = ~(shapely.is_missing(geom) | shapely.is_empty(geom)) if len(df) else np.zeros(0, bool)
    lon = np.full(len(df), np.nan)
    lat = np.full(len(df), np.nan)
    if has.any():
        pts = gpd.GeoSeries(shapely.point_on_surface(geom[has]), crs=audit.crs).to_crs(4326)
        lon[has], lat[has] = pts.x.to_numpy(), pts.y.to_numpy()
    out = pd.DataFrame(
        {
            "no": np.arange(1, len(df) + 1),
            "type": df["kind"].map(TYPES),
            "severity": df["severity_key"].map(_SEVERITY_BILINGUAL),
            "id": df["id"],
            "grids": df["grids"],
            "street": df["street"],
            **{
                k: pd.array([_number(v) for v in df[k]], dtype="Int64")
                for k in ("buildings", "households", "shops")
            },
            **{k: pd.to_numeric(df[k], errors="coerce").round(1) for k in ("length_m", "area_m2")},
            "lon": np.round(lon, 6),
            "lat": np.round(lat, 6),
        }
    )
    if has.any() and bool(np.any(in_china(lon[has], lat[has]))):
        glon, glat = wgs84_to_gcj02(lon, lat)
        out["lon_gcj"], out["lat_gcj"] = np.round(glon, 6), np.round(glat, 6)
    out["description"] = df["description"]
    return out.rename(columns=COLUMNS)


# ------------------------------------------------------------------------------- map


def _value(v: Any) -> Any:
    if v is None or v is pd.NA:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        return round(v, 2) if math.isfinite(v) else None
    if isinstance(v, bool | int):
        return v
    return html.escape(str(v), quote=False)


def _geojson(gdf: gpd.GeoDataFrame, fields: list[str], colors: np.ndarray) -> dict:
    geom = gdf.geometry.to_numpy()
    keep = ~(shapely.is_missing(geom) | shapely.is_empty(geom))
    gdf, colors = gdf[keep], np.asarray(colors, dtype=object)[keep]
    g4326 = gdf.to_crs(4326).geometry.to_numpy()
    rounded = shapely.transform(g4326, lambda c: np.round(c, _COORD_DECIMALS))
    features = []
    values = {f: gdf[f].to_numpy(dtype=object) for f in fields}
    for i, text in enumerate(shapely.to_geojson(rounded)):
        props = {f: _value(values[f][i]) for f in fields}
        props["_color"] = colors[i]
        features.append(
            {"type": "Feature", "id": i, "properties": props, "geometry": json.loads(text)}
        )
    return {"type": "FeatureCollection", "features": features}


def _add_layer(
    m: folium.Map,
    gdf: gpd.GeoDataFrame | None,
    name: str,
    fields: list[str],
    colors: np.ndarray,
    *,
    fill_opacity: float = 0.6,
    dashed: bool = False,
    show: bool = True,
    weight: float = 1.5,
) -> None:
    if gdf is None or len(gdf) == 0:
        return
    fields = [f for f in fields if f in gdf.columns]
    data = _geojson(gdf, fields, colors)
    if not data["features"]:
        return

    def style(feature: dict) -> dict:
        c = feature["properties"]["_color"]
        return {
            "color": "#333333" if not dashed else c,
            "weight": weight,
            "fillColor": c,
            "fillOpacity": fill_opacity,
            "dashArray": "6 4" if dashed else None,
        }

    folium.GeoJson(
        data,
        name=name,
        style_function=style,
        tooltip=folium.GeoJsonTooltip(fields=fields, localize=True, sticky=True)
        if fields
        else None,
        show=show,
    ).add_to(m)


def _severity_colors(gdf: gpd.GeoDataFrame) -> np.ndarray:
    return gdf["severity"].map(SEVERITY_COLORS).fillna("#999999").to_numpy(dtype=object)


def _type_name(kind: str, lang: str) -> str:
    """The finding type in one language (TYPES holds "中文 English")."""
    zh, en = TYPES[kind].split(" ", 1)
    return zh if lang == "zh" else en


def _panel_html(audit: Audit, lang: str) -> str:
    """The findings panel: summary, colour key and the table (first rows)."""
    esc = html.escape
    df = _findings(audit, lang)
    key = " ".join(
        f"<span style='color:{SEVERITY_COLORS[s]}'>●</span> {esc(_t(s, lang))}"
        for s in ("high", "medium", "low")
    )
    key += " · " + " ".join(
        f"<span style='color:{_STATUS_COLORS[s]}'>■</span> {esc(_t(s, lang))}"
        for s in ("uncovered", "mixed", "dedicated")
    )
    if df.empty:
        body = f"<div>{esc(_t('no_findings', lang))}</div>"
    else:
        names = ["#", _t("type", lang), "ID", _t("grids", lang), _t("households_short", lang),
                 _t("description", lang)]  # fmt: skip
        rows = []
        for i, r in enumerate(df.head(_TABLE_ROWS).itertuples(index=False), start=1):
            color = SEVERITY_COLORS.get(r.severity_key, "#999999")
            hh = _number(r.households)
            cells = [
                str(i),
                f"<span style='color:{color}'>●</span> {esc(_type_name(r.kind, lang))}",
                esc(str(r.id)),
                esc(str(r.grids or "").replace(",", ", ")),
                "" if hh is None else f"{hh:,}",
                esc(r.description),
            ]
            rows.append(
                "<tr>" + "".join(f"<td style='padding:1px 4px'>{c}</td>" for c in cells) + "</tr>"
            )
        more = ""
        if len(df) > _TABLE_ROWS:
            more = f"<div>{esc(_t('more_rows', lang).format(n=len(df) - _TABLE_ROWS))}</div>"
        head = "".join(
            f"<th style='text-align:left;padding:1px 4px;border-bottom:1px solid #999'>{esc(n)}</th>"
            for n in names
        )
        body = (
            "<table style='border-collapse:collapse;font-size:11px'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"
        )
    return (
        "<details open style='background:rgba(255,255,255,0.95);padding:6px 10px;"
        "border-radius:4px;box-shadow:0 0 4px rgba(0,0,0,0.3);font:12px/1.4 sans-serif;"
        "color:#222;max-width:560px'>"
        f"<summary style='cursor:pointer;font-weight:bold;font-size:13px'>"
        f"{esc(_t('title', lang))}: {esc(_t('findings', lang))} ({len(df)})</summary>"
        f"<div style='margin:4px 0'>{esc(describe(audit, lang=lang))}</div>"
        f"<div style='margin:4px 0'>{key}</div>"
        f"<div style='max-height:32vh;overflow:auto'>{body}</div></details>"
    )


def coverage_map(
    audit: Audit,
    *,
    lang: str = "en",
    tiles: str | None = "OpenStreetMap",
    max_buildings: int = 5_000,
    inline_assets: bool = True,
) -> folium.Map:
    """Draw a coverage audit on an interactive web map.

    Layers: the grids (filled by load status), gaps, overlaps, uncovered zones and
    buildings, street-front zones (red uncovered, orange mixed with housing, green in
    a dedicated grid), proposed micro-grids (dashed) and double-registered buildings,
    each coloured by severity (:data:`SEVERITY_COLORS`), with a layer switcher and a
    panel listing the findings (:func:`findings_table`).

    Parameters
    ----------
    audit : gridgeo.audit.Audit
    lang : {"en", "zh"}, default "en"
        Language of the layer names, tooltips and the findings panel.
    tiles : str or None, default "OpenStreetMap"
        Basemap for :class:`folium.Map`; None for none (offline use).
    max_buildings : int, default 5000
        More uncovered buildings than this are not drawn one by one (the zones are).
    inline_assets : bool, default True
        Put Leaflet's JS and CSS inside the HTML, so that the map works offline and
        where CDNs are blocked (see :mod:`gridgeo.render._assets`); False links Leaflet
        from jsDelivr instead.

    Returns
    -------
    folium.Map
    """
    lang = check_lang(lang)
    m, (minx, miny, maxx, maxy) = _base_map(
        audit.grid_load, tiles=tiles, inline_assets=inline_assets
    )
    _add_grids(m, audit.grid_load, lang)
    _add_findings(m, audit, lang)
    _add_uncovered_buildings(m, audit.uncovered_buildings, lang, max_buildings=max_buildings)
    _add_street_front(m, audit, lang)
    if audit.double_counted is not None:
        _add_double_counted(m, audit.double_counted, lang)
    folium.LayerControl(collapsed=False).add_to(m)
    Legend(_panel_html(audit, lang), position="bottomleft", css_class="gridgeo-panel").add_to(m)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m


def _base_map(
    load: gpd.GeoDataFrame, *, tiles: str | None, inline_assets: bool
) -> tuple[folium.Map, tuple[float, float, float, float]]:
    """An empty map centred on the grids, with Leaflet inline or from a CDN, and their bounds."""
    bounds = load.to_crs(4326).total_bounds
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    m = folium.Map(
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        zoom_start=14,
        tiles=tiles,
        control_scale=True,
        prefer_canvas=True,
    )
    if inline_assets:
        _assets.use_inline_leaflet(m)
    else:
        _assets.use_cdn_leaflet(m)
    return m, (minx, miny, maxx, maxy)


def _add_grids(m: folium.Map, load: gpd.GeoDataFrame, lang: str) -> None:
    """The grids, filled by load status."""
    status_text = load["status"].map(lambda s: _t(s, lang))
    grids = load.assign(status_text=status_text)
    _add_layer(
        m,
        grids,
        _t("grids", lang),
        ["grid_id", "households", "buildings", "shops", "status_text", "deviation"],
        grids["status"].map(_LOAD_COLORS).to_numpy(dtype=object),
        fill_opacity=0.35,
        weight=1,
    )


def _add_findings(m: folium.Map, audit: Audit, lang: str) -> None:
    """Gaps, overlaps and uncovered zones, coloured by severity."""
    findings = (
        ("gaps", ["gap_id", "area_m2", "households", "neighbour_grids"], {"fill_opacity": 0.7}),
        (
            "overlaps",
            ["overlap_id", "grid_ids", "area_m2", "buildings", "households"],
            {"fill_opacity": 0.7},
        ),
        (
            "uncovered_zones",
            ["zone_id", "buildings", "households", "nearest_grid"],
            {"fill_opacity": 0.3, "dashed": True, "weight": 2},
        ),
    )
    for name, fields, style in findings:
        layer = getattr(audit, name)
        _add_layer(m, layer, _t(name, lang), fields, _severity_colors(layer), **style)


def _add_uncovered_buildings(
    m: folium.Map, ub: gpd.GeoDataFrame, lang: str, *, max_buildings: int
) -> None:
    """The uncovered buildings, unless there are more than ``max_buildings``."""
    if len(ub) <= max_buildings:
        _add_layer(
            m,
            ub,
            _t("uncovered_buildings", lang),
            ["building_id", "households", "zone_id"],
            np.full(len(ub), SEVERITY_COLORS["high"], dtype=object),
            fill_opacity=0.8,
            weight=0.5,
        )
    else:
        log.warning(
            "%d uncovered buildings: only their zones are drawn (raise max_buildings)", len(ub)
        )


def _add_street_front(m: folium.Map, audit: Audit, lang: str) -> None:
    """Street-front zones coloured by status, and the proposed micro-grids (hidden)."""
    sz = audit.street_front_zones
    if len(sz):
        sz = sz.assign(status_text=sz["status"].map(lambda s: _t(s, lang)))
    _add_layer(
        m,
        sz,
        _t("street_front_zones", lang),
        ["zone_id", "street", "side", "shops", "length_m", "status_text", "grid_ids"],
        sz["status"].map(_STATUS_COLORS).to_numpy(dtype=object) if len(sz) else np.array([]),
        fill_opacity=0.6,
        weight=1,
    )
    mg = audit.proposed_micro_grids
    _add_layer(
        m,
        mg,
        _t("proposed_micro_grids", lang),
        ["micro_grid_id", "street", "side", "shops", "length_m", "grid_ids"],
        np.full(len(mg), "#6a3d9a", dtype=object),
        fill_opacity=0.1,
        dashed=True,
        weight=2.5,
        show=False,
    )


def _add_double_counted(m: folium.Map, d: gpd.GeoDataFrame, lang: str) -> None:
    """The buildings registered in several grids, coloured by severity."""
    _add_layer(
        m,
        d,
        _t("double_counted", lang),
        ["double_id", "key", "register_grids", "map_grid"],
        _severity_colors(d),
        fill_opacity=0.8,
    )
