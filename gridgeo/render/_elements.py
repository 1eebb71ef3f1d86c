"""Leaflet pieces of the grid maps that folium has no class for.

:class:`Legend` (a block of HTML in a map corner), :class:`GridLabels` (grid codes as
text at a point of each grid, a switchable layer that hides itself when zoomed out too
far to read) and :func:`page_style` (the CSS these need). All of them use Leaflet only:
no jQuery, Bootstrap or Font Awesome, so they work with the inlined Leaflet of
:mod:`gridgeo.render._assets`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from branca.element import MacroElement
from folium.map import Layer
from folium.template import Template

__all__ = ["Legend", "GridLabels", "page_style", "label_min_zoom"]

#: Map text font: the system UI font, then common Chinese fonts of Windows, macOS, Linux.
FONT_STACK = (
    'system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", '
    '"Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif'
)


class Legend(MacroElement):
    """A Leaflet control in a corner of the map holding a block of HTML.

    The HTML is written into the page as it is (readable, Chinese kept as UTF-8) and
    moved into the map's control corner when the map loads.
    """

    _template = Template(
        """
        {% macro html(this, kwargs) %}
        <div id="{{ this.get_name() }}" class="{{ this.css_class }}">{{ this.html }}</div>
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

    def __init__(
        self, html_text: str, *, position: str = "bottomright", css_class: str = "gridgeo-legend"
    ) -> None:
        super().__init__()
        self._name = "GridgeoLegend" if css_class == "gridgeo-legend" else "GridgeoPanel"
        self.html = html_text
        self.position = position
        self.css_class = css_class


class GridLabels(Layer):
    """Grid codes as text labels (Leaflet ``divIcon`` markers), one switchable layer.

    Parameters
    ----------
    rows : sequence of (lat, lon, html)
        Where each label goes and its text, already HTML-escaped.
    name : str
        Name in the layer control.
    min_zoom : int
        Below this zoom the labels are hidden (they would pile up); the map container
        gets the class ``gridgeo-labels-hidden``.
    show : bool
        Whether the layer is on when the map opens.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.layerGroup();
        (function (group, rows) {
            rows.forEach(function (r) {
                L.marker([r[0], r[1]], {
                    icon: L.divIcon({className: "gridgeo-label", html: "<span>" + r[2] + "</span>", iconSize: null}),
                    interactive: false,
                    keyboard: false
                }).addTo(group);
            });
        })({{ this.get_name() }}, {{ this.rows|tojson }});
        (function (map, minZoom) {
            function update() {
                map.getContainer().classList.toggle("gridgeo-labels-hidden", map.getZoom() < minZoom);
            }
            map.on("zoomend", update);
            map.whenReady(update);
        })({{ this._parent.get_name() }}, {{ this.min_zoom|tojson }});
        {% endmacro %}
        """
    )

    def __init__(
        self,
        rows: Sequence[tuple[float, float, str]],
        *,
        name: str,
        min_zoom: int = 0,
        show: bool = True,
    ) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "GridLabels"
        self.rows = [[round(lat, 6), round(lon, 6), text] for lat, lon, text in rows]
        self.min_zoom = int(min_zoom)


def label_min_zoom(width_m: float, lat: float, *, min_px: float = 30.0) -> int:
    """Lowest web-map zoom at which a grid ``width_m`` metres wide spans ``min_px`` pixels.

    Examples
    --------
    >>> label_min_zoom(200.0, 40.0)  # a 200 m grid in Beijing: labels from zoom 14
    14
    """
    if not math.isfinite(width_m) or width_m <= 0:
        return 0
    metres_per_px_z0 = 156_543.03 * math.cos(math.radians(lat))
    return max(0, math.floor(math.log2(metres_per_px_z0 * min_px / width_m)))


def page_style(*, blank_background: bool) -> str:
    """CSS of the map page: labels, tooltip tables, font, background."""
    background = ".leaflet-container{background:#f4f3ef}" if blank_background else ""
    halo = "0 0 2px #fff," * 3 + "0 0 3px #fff"
    return (
        "<style>"
        f".leaflet-container{{font-family:{FONT_STACK}}}"
        f"{background}"
        ".gridgeo-label span{position:absolute;transform:translate(-50%,-50%);"
        "white-space:nowrap;font-weight:600;font-size:12px;line-height:1.2;color:#111;"
        f"text-shadow:{halo};pointer-events:none}}"
        ".gridgeo-labels-hidden .gridgeo-label{display:none}"
        ".foliumtooltip table,.foliumpopup table{border-collapse:collapse;font-size:12px}"
        ".foliumtooltip th,.foliumpopup th{text-align:left;padding:1px 8px 1px 0;"
        "font-weight:600;color:#555}"
        ".foliumtooltip td,.foliumpopup td{padding:1px 0}"
        "</style>"
    )
