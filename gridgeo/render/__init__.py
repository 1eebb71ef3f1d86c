"""Publishing grid plans as maps (网格划分区域图).

- :func:`grid_map` / :func:`save_map`: interactive Leaflet map in one HTML file that
  needs no CDN (Leaflet is inlined), on an OpenStreetMap, Tianditu, Gaode or blank
  basemap (:mod:`gridgeo.render.basemaps` says which needs what).
- :func:`print_map` / :func:`save_print_map`: static A4/A3 map for printing and notice
  boards, as PNG or (multi-page) PDF (needs matplotlib).
- :func:`neighbour_colors`, :func:`deviation_colors`: the colours both use.

Examples
--------
>>> import gridgeo
>>> from gridgeo.render import grid_map
>>> layers = gridgeo.read_osm(gridgeo.datasets.get_path("beijing_wangjing"))
>>> plan = gridgeo.partition(layers.streets, layers.buildings, target=300)
>>> m = grid_map(plan.grids, buildings=plan.buildings, target=300, lang="zh", basemap="none")
>>> "户数" in m.get_root().render() or "\\\\u6237\\\\u6570" in m.get_root().render()
True
"""

from __future__ import annotations

from ._layers import Overlay
from .basemaps import BASEMAPS
from .colors import deviation_colors, neighbour_colors
from .interactive import grid_map, save_map
from .printmap import PAPER_SIZES, print_map, save_print_map

__all__ = [
    "grid_map",
    "save_map",
    "print_map",
    "save_print_map",
    "neighbour_colors",
    "deviation_colors",
    "Overlay",
    "BASEMAPS",
    "PAPER_SIZES",
]
