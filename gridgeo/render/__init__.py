"""Publishing grid plans as maps (网格划分区域图).

Examples
--------
>>> import gridgeo
>>> from gridgeo.render import grid_map
>>> layers = gridgeo.read_osm(gridgeo.datasets.get_path("beijing_wangjing"))
>>> plan = gridgeo.partition(layers.streets, layers.buildings, target=300)
>>> m = grid_map(plan.grids, buildings=plan.buildings, target=300, lang="zh")
>>> "户数" in m.get_root().render().encode().decode("unicode_escape")
True
"""

from __future__ import annotations

from .interactive import grid_map, neighbour_colors, save_map

__all__ = ["grid_map", "save_map", "neighbour_colors"]
