"""Publishing grid plans as maps (网格划分区域图).

Examples
--------
>>> from gridgeo.render import grid_map, save_map  # doctest: +SKIP
>>> save_map(grid_map(grids, target=300, lang="zh"), "grids.html")  # doctest: +SKIP
"""

from __future__ import annotations

from .interactive import grid_map, neighbour_colors, save_map

__all__ = ["grid_map", "save_map", "neighbour_colors"]
