"""User-visible strings of the grid maps, in English and Chinese.

Every text a map shows (layer names, tooltip aliases, the legend) comes from
:data:`LABELS` through :func:`label`, so that a map is entirely in one language.

Examples
--------
>>> from gridgeo.render._labels import label
>>> label("households", "zh")
'户数'
>>> label("households", "en")
'Households'
"""

from __future__ import annotations

from .._errors import InputError

__all__ = ["LABELS", "LANGS", "label", "check_lang"]

#: Strings per language; both languages hold the same keys.
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Community grids",
        "grids_layer": "Grids",
        "buildings_layer": "Buildings",
        "streets_layer": "Streets",
        "grid_id": "Grid ID",
        "community_id": "Community",
        "households": "Households",
        "buildings": "Buildings",
        "area_ha": "Area (ha)",
        "deviation": "Deviation from target",
        "name": "Name",
        "target": "Target",
        "target_unit": "households per grid",
        "n_grids": "Grids",
        "total_households": "Households in all grids",
        "below_target": "below target",
        "at_target": "at target",
        "above_target": "above target",
        "worker": "Grid worker",
        "phone": "Phone",
        "code": "Grid code",
        "workers": "Grid workers",
        "liaisons": "Liaisons",
        "liaison_budget_yuan": "Liaison budget (yuan/year)",
        "workload_index": "Workload index",
        "parts": "Parts (pieces of land apart)",
        "labels_layer": "Grid labels",
        "basemap_osm": "OpenStreetMap",
        "basemap_tianditu_vec": "Tianditu map",
        "basemap_tianditu_img": "Tianditu imagery",
        "basemap_tianditu_labels": "Tianditu place names",
        "basemap_gaode": "Gaode map",
        "attribution_tianditu": "© Tianditu, National Geomatics Center of China",
        "attribution_gaode": "© AutoNavi (Gaode)",
        "gcj02_note": "Shifted to GCJ-02 to match the Gaode map",
        "print_title": "Grid division map",
        "legend": "Legend",
        "scale": "Scale",
        "north": "N",
        "metres": "m",
        "kilometres": "km",
        "community_page": "Community",
        "other_grids": "Grids of other communities",
        "grid_boundary": "Grid boundary",
        "made_with": "Drawn with gridgeo",
        "grids_in_table": "Grids",
        "more_grids": "and {n} more grids",
        "reason": "Outside the band because",
        "reason_single_building": "one building alone holds more than a grid",
        "reason_dedicated_zone": "dedicated grid of a zone (not balanced)",
        "reason_rural_village": "village kept as one grid (rural rule)",
        "reason_no_households": "its community holds no households",
        "reason_enclosed_land": "land enclosed by barriers or apart from its community, with its households",
        "reason_small_community": "community too small for the band",
        "reason_community_size": "the community's households cannot be shared within the band",
        "reason_locked": "locked by the planner: kept as it was",
        "reason_beyond_reach": "no redraw within reach brought it into the band",
    },
    "zh": {
        "title": "社区网格",
        "grids_layer": "网格",
        "buildings_layer": "楼栋",
        "streets_layer": "街巷",
        "grid_id": "网格编号",
        "community_id": "所属社区",
        "households": "户数",
        "buildings": "楼栋数",
        "area_ha": "面积(公顷)",
        "deviation": "偏离目标",
        "name": "名称",
        "target": "目标",
        "target_unit": "户/网格",
        "n_grids": "网格数",
        "total_households": "总户数",
        "below_target": "低于目标",
        "at_target": "符合目标",
        "above_target": "高于目标",
        "worker": "网格员",
        "phone": "联系电话",
        "code": "网格编码",
        "workers": "网格员(人)",
        "liaisons": "联络员(人)",
        "liaison_budget_yuan": "联络员经费(元/年)",
        "workload_index": "工作量指数",
        "parts": "地块数(含飞地)",
        "labels_layer": "网格编号标注",
        "basemap_osm": "OpenStreetMap 地图",
        "basemap_tianditu_vec": "天地图 矢量",
        "basemap_tianditu_img": "天地图 影像",
        "basemap_tianditu_labels": "天地图 注记",
        "basemap_gaode": "高德地图",
        "attribution_tianditu": "© 天地图 国家基础地理信息中心",
        "attribution_gaode": "© 高德地图",
        "gcj02_note": "已转换为 GCJ-02 坐标以对齐高德底图",
        "print_title": "网格划分区域图",
        "legend": "图例",
        "scale": "比例尺",
        "north": "北",
        "metres": "米",
        "kilometres": "公里",
        "community_page": "社区",
        "other_grids": "其他社区网格",
        "grid_boundary": "网格边界",
        "made_with": "制图：gridgeo",
        "grids_in_table": "网格",
        "more_grids": "另有 {n} 个网格",
        "reason": "户数超出范围的原因",
        "reason_single_building": "单栋楼宇户数已超出一个网格",
        "reason_dedicated_zone": "专属网格（不参与户数均衡）",
        "reason_rural_village": "按农村规则整村划为一个网格",
        "reason_no_households": "所属社区无住户",
        "reason_enclosed_land": "被障碍围住或与社区主体分离的地块（含其住户）",
        "reason_small_community": "社区户数不足一个网格",
        "reason_community_size": "社区户数无法在范围内均分",
        "reason_locked": "已锁定的网格：保持原样",
        "reason_beyond_reach": "可调整范围内的重划均无法使其回到户数范围",
    },
}

#: Accepted values of ``lang``.
LANGS: tuple[str, ...] = tuple(LABELS)


def check_lang(lang: object) -> str:
    """Return ``lang`` if it is a supported language, else raise :class:`InputError`."""
    if not isinstance(lang, str) or lang not in LABELS:
        msg = f"lang must be 'en' or 'zh', got {lang!r}"
        raise InputError(msg)
    return lang


def label(key: str, lang: str) -> str:
    """Return the text of ``key`` in language ``lang``.

    Parameters
    ----------
    key : str
        A key of ``LABELS[lang]`` (``"households"``, ``"title"``, …).
    lang : {"en", "zh"}
        Language of the map.

    Returns
    -------
    str

    Raises
    ------
    InputError
        If ``lang`` is not ``"en"`` or ``"zh"``.
    KeyError
        If ``key`` is unknown (a bug in gridgeo, not a user error).
    """
    return LABELS[check_lang(lang)][key]
