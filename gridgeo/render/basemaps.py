"""Basemaps (底图) of the interactive grid maps, and what each one needs.

========================  ==============================================  =============
``basemap=``              needs                                           coordinates
========================  ==============================================  =============
``"osm"`` (default)       internet access to tile.openstreetmap.org       WGS 84
                          (slow or unreachable in parts of China)
``"tianditu-vec"``        internet access to tianditu.gov.cn and a        CGCS2000 (no
``"tianditu-img"``        Tianditu key: ``tk=`` or the environment        offset)
                          variable ``TIANDITU_TOKEN`` (free, from
                          console.tianditu.gov.cn; a bad key answers
                          418, a spent quota 429)
``"gaode"`` / ``"amap"``  internet access to autonavi.com (no key)        GCJ-02: every
                                                                          layer is
                                                                          shifted
``"none"``                nothing: blank background, works offline        —
========================  ==============================================  =============

Tianditu's vector (``vec``) and imagery (``img``) layers come with their place-name
layer (``cva`` / ``cia``) as a separate, switchable overlay. Gaode/AMap tiles are in
GCJ-02, offset 100–700 m from WGS 84 inside China, so the map converts every overlay
with :func:`gridgeo.crs.gcj02_geometries` before drawing it. The Tianditu key ends up
in the HTML file (the browser asks for the tiles): use a key of type "browser" bound to
the site that serves the map.

Examples
--------
>>> from gridgeo.render.basemaps import basemap_layers, is_gcj02
>>> [layer.tile_name for layer in basemap_layers("tianditu-img", tk="0" * 32, lang="zh")]
['天地图 影像', '天地图 注记']
>>> is_gcj02("amap"), is_gcj02("osm")
(True, False)
"""

from __future__ import annotations

import logging
import os
import re
from urllib.parse import quote

import folium

from .._errors import InputError
from ._labels import label

__all__ = [
    "BASEMAPS",
    "TIANDITU_TOKEN_ENV",
    "tianditu_url",
    "basemap_layers",
    "check_basemap",
    "is_gcj02",
    "resolve_tianditu_token",
]

log = logging.getLogger(__name__)

#: Accepted names of ``basemap=`` ("amap" is the same as "gaode").
BASEMAPS: tuple[str, ...] = ("osm", "tianditu-vec", "tianditu-img", "gaode", "amap", "none")
#: Environment variable read for the Tianditu key when ``tk`` is not given.
TIANDITU_TOKEN_ENV = "TIANDITU_TOKEN"

_ALIASES = {
    "openstreetmap": "osm",
    "tianditu": "tianditu-vec",
    "tianditu_vec": "tianditu-vec",
    "tianditu_img": "tianditu-img",
    "amap": "gaode",
    "blank": "none",
}
_TIANDITU = (
    "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
    "&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={tk}"
)
_GAODE = (
    "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
    "&x={x}&y={y}&z={z}"
)
_TOKEN_OK = re.compile(r"^[A-Za-z0-9_-]+$")


def check_basemap(basemap: object) -> str:
    """The canonical name of ``basemap`` (see :data:`BASEMAPS`), or raise InputError."""
    if basemap is None:
        return "none"
    if isinstance(basemap, str):
        key = basemap.strip().lower()
        key = _ALIASES.get(key, key)
        if key in BASEMAPS:
            return key
    msg = (
        f"basemap must be one of {', '.join(repr(b) for b in BASEMAPS)} "
        f"(or a folium.TileLayer), got {basemap!r}"
    )
    raise InputError(msg)


def is_gcj02(basemap: object) -> bool:
    """Whether the basemap's tiles are in GCJ-02 (Gaode/AMap), so overlays must be shifted."""
    return isinstance(basemap, str) and check_basemap(basemap) == "gaode"


def resolve_tianditu_token(tk: str | None = None) -> str:
    """The Tianditu key: ``tk`` if given, else ``$TIANDITU_TOKEN``.

    Raises
    ------
    InputError
        If neither is set, or the key holds characters a key never has.
    """
    token = tk if tk is not None else os.environ.get(TIANDITU_TOKEN_ENV)
    token = (token or "").strip()
    if not token:
        msg = (
            "a Tianditu basemap needs a key (tk): pass tk='…' (CLI: --tk) or set the "
            f"environment variable {TIANDITU_TOKEN_ENV}; a free key comes from "
            "https://console.tianditu.gov.cn/ — or use basemap='osm', 'gaode' or 'none'"
        )
        raise InputError(msg)
    if not _TOKEN_OK.match(token):
        msg = "the Tianditu key (tk) holds characters a key never has; copy it again from the Tianditu console"
        raise InputError(msg)
    return token


def tianditu_url(layer: str, tk: str) -> str:
    """Leaflet URL template of a Tianditu WMTS layer in web Mercator (``{layer}_w``).

    Examples
    --------
    >>> url = tianditu_url("cva", "KEY")
    >>> url.split("?")[0], url.endswith("&tk=KEY")
    ('https://t{s}.tianditu.gov.cn/cva_w/wmts', True)
    """
    return _TIANDITU.format(layer=layer, tk=quote(tk, safe=""))


def basemap_layers(
    basemap: str | folium.TileLayer | None, *, tk: str | None = None, lang: str = "en"
) -> list[folium.TileLayer]:
    """Tile layers of a basemap: a base layer, maybe followed by a label overlay.

    Parameters
    ----------
    basemap : str, folium.TileLayer or None
        A name of :data:`BASEMAPS`, or a ready tile layer (returned as it is); None is
        ``"none"``.
    tk : str, optional
        Tianditu key; default ``$TIANDITU_TOKEN``. Only read for Tianditu.
    lang : {"en", "zh"}
        Language of the layer names and attributions.

    Returns
    -------
    list of folium.TileLayer
        Empty for ``"none"``.

    Raises
    ------
    InputError
        Unknown basemap, or a Tianditu basemap without a key.
    """
    if isinstance(basemap, folium.TileLayer):
        return [basemap]
    key = check_basemap(basemap)
    if key == "none":
        return []
    if key == "osm":
        return [folium.TileLayer("OpenStreetMap", name=label("basemap_osm", lang), max_zoom=19)]
    if key == "gaode":
        return [
            folium.TileLayer(
                tiles=_GAODE,
                attr=label("attribution_gaode", lang),
                name=label("basemap_gaode", lang),
                subdomains="1234",
                max_zoom=18,
            )
        ]
    token = resolve_tianditu_token(tk)
    base, names = ("vec", "cva") if key == "tianditu-vec" else ("img", "cia")
    attr = label("attribution_tianditu", lang)
    common = {"attr": attr, "subdomains": "01234567", "max_zoom": 18}
    return [
        folium.TileLayer(
            tiles=tianditu_url(base, token),
            name=label(f"basemap_tianditu_{base}", lang),
            **common,
        ),
        folium.TileLayer(
            tiles=tianditu_url(names, token),
            name=label("basemap_tianditu_labels", lang),
            overlay=True,
            **common,
        ),
    ]
