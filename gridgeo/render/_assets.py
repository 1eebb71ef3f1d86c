"""Leaflet's JavaScript and CSS, inlined into a map so that it needs no network.

folium links Leaflet, jQuery, Bootstrap and Font Awesome from CDNs (jsDelivr is blocked
in mainland China, intranets are offline). A grid map needs only Leaflet: GeoJSON
layers, tooltips, popups, the layer control, the scale and the legend are all Leaflet.
:func:`use_inline_leaflet` gives one map its own asset lists (the class-level
``folium.Map.default_js`` / ``default_css`` stay untouched) and writes Leaflet's own JS
and CSS into the page, with the CSS's images as ``data:`` URIs.

The files in ``static/`` come from the npm package ``leaflet`` (pinned, BSD-2-Clause),
copied by ``scripts/vendor_leaflet.py``; ``static/manifest.json`` holds their SHA-256,
checked here before use.

Examples
--------
>>> import folium
>>> from gridgeo.render._assets import LEAFLET_VERSION, use_inline_leaflet
>>> m = folium.Map(tiles=None)
>>> use_inline_leaflet(m)
>>> html = m.get_root().render()
>>> "cdn.jsdelivr.net" in html, f"Leaflet {LEAFLET_VERSION}" in html
(False, True)
>>> folium.Map.default_js[0][0]  # the class-level list is untouched
'leaflet'
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import re
from pathlib import Path

import folium
from branca.element import Element

from .._errors import GridgeoError

__all__ = [
    "LEAFLET_VERSION",
    "STATIC_DIR",
    "leaflet_js",
    "leaflet_css",
    "use_inline_leaflet",
    "use_cdn_leaflet",
]

log = logging.getLogger(__name__)

#: Folder of the vendored assets (package data ``gridgeo/render/static/*``).
STATIC_DIR = Path(__file__).with_name("static")
#: Version of the vendored Leaflet.
LEAFLET_VERSION = "1.9.4"

_CDN = f"https://cdn.jsdelivr.net/npm/leaflet@{LEAFLET_VERSION}/dist"
_SOURCE_MAP = re.compile(r"^\s*//# sourceMappingURL=.*$", re.MULTILINE)
_CSS_IMAGE = re.compile(r"url\((['\"]?)images/([\w.-]+\.png)\1\)")


class _Raw(Element):
    """An element rendered exactly as given (no Jinja parsing of the content)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def render(self, **kwargs: object) -> str:  # noqa: ARG002 - branca's signature
        return self._text


@functools.cache
def _manifest() -> dict:
    path = STATIC_DIR / "manifest.json"
    if not path.is_file():
        msg = (
            f"Leaflet assets missing: {path} not found (a broken gridgeo install?); "
            "reinstall gridgeo, or run scripts/vendor_leaflet.py in a source checkout"
        )
        raise GridgeoError(msg)
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("version") != LEAFLET_VERSION:
        msg = (
            f"vendored Leaflet is {manifest.get('version')}, gridgeo expects {LEAFLET_VERSION}; "
            "run scripts/vendor_leaflet.py"
        )
        raise GridgeoError(msg)
    return manifest


@functools.cache
def _read(name: str) -> bytes:
    """A vendored file, checked against its SHA-256 in the manifest."""
    entry = _manifest()["files"].get(name)
    path = STATIC_DIR / name
    if entry is None or not path.is_file():
        msg = f"Leaflet asset {name} missing from {STATIC_DIR}; reinstall gridgeo"
        raise GridgeoError(msg)
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        msg = (
            f"Leaflet asset {path} does not match its SHA-256 in manifest.json (modified?); "
            "reinstall gridgeo or run scripts/vendor_leaflet.py"
        )
        raise GridgeoError(msg)
    return data


@functools.cache
def leaflet_js() -> str:
    """Leaflet's minified JavaScript, without its source-map comment."""
    return _SOURCE_MAP.sub("", _read("leaflet.js").decode("utf-8")).replace(
        "</script", "<\\/script"
    )


@functools.cache
def leaflet_css() -> str:
    """Leaflet's CSS with ``url(images/….png)`` replaced by ``data:`` URIs."""

    def inline(match: re.Match[str]) -> str:
        b64 = base64.b64encode(_read(match.group(2))).decode("ascii")
        return f"url(data:image/png;base64,{b64})"

    return _CSS_IMAGE.sub(inline, _read("leaflet.css").decode("utf-8"))


def use_inline_leaflet(m: folium.Map) -> None:
    """Make ``m`` carry Leaflet's JS and CSS inside its HTML, and no CDN link.

    The map gets its own, empty ``default_js`` / ``default_css`` (instance attributes:
    the lists shared by the ``folium.Map`` class are not changed), so folium's links to
    Leaflet, jQuery, Bootstrap and Font Awesome are dropped, and Leaflet's code is added
    to the page header instead (~160 kB).
    """
    m.default_js = []
    m.default_css = []
    header = m.get_root().header
    banner = f"/* Leaflet {LEAFLET_VERSION} (c) Volodymyr Agafonkin, CloudMade; BSD-2-Clause */"
    header.add_child(_Raw(f"<style>{banner}\n{leaflet_css()}</style>"), name="leaflet_css")
    header.add_child(_Raw(f"<script>{banner}\n{leaflet_js()}</script>"), name="leaflet_js")
    log.debug("Leaflet %s inlined into the map", LEAFLET_VERSION)


def use_cdn_leaflet(m: folium.Map) -> None:
    """Make ``m`` link only Leaflet (from jsDelivr), without jQuery, Bootstrap or Font Awesome.

    Smaller HTML, but the map is blank wherever jsDelivr cannot be reached (mainland
    China, intranets): prefer :func:`use_inline_leaflet`.
    """
    m.default_js = [("leaflet", f"{_CDN}/leaflet.js")]
    m.default_css = [("leaflet_css", f"{_CDN}/leaflet.css")]
