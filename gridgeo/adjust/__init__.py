"""Dynamic adjustment (动态调整): rebalance an existing grid plan after households change.

:func:`rebalance` takes the grids a plan already has (a gridgeo ``grids.gpkg`` or a
city's own polygons with their own ids) and buildings carrying **new** household
figures, and redraws only what must change:

1. every building goes to the grid holding most of it (the nearest grid when it lies
   outside all of them), and each grid's households are counted anew;
2. grids outside the band ``target`` ± ``tolerance`` trigger a redraw; dedicated,
   rural and ``constrained`` grids (their ``grid_type`` / ``constrained`` columns) are
   left as they are, and a building that alone exceeds the band is a grid of its own
   (its grid is out of band only by the households beside it);
3. around each grid out of band, a **region** grows one neighbouring grid at a time
   (of the same community, not across barriers, at most ``max_rings`` rings away),
   taking the neighbour that brings its households nearest a total that divides into
   parts inside the band. Whenever it does divide, the region is cut into units (street
   blocks inside the grids when streets are given, pieces around each building where a
   block is heavy, see :mod:`gridgeo.units`) and redrawn: first the old grids adjusted
   in place (the heavy one split, the light one merged, then single units moved across
   boundaries with :func:`gridgeo.engine.rebalance`), and when that leaves a grid out
   of band, fresh spanning-tree partitions (:func:`gridgeo.engine.partition_graph`);
   the redraw with the fewest grids out of band, then the fewest households moved,
   wins, and the region stops growing once every grid in it is in band;
4. new grids are matched to old ones by the households they share (an optimal
   assignment): a matched grid keeps its id and code, the others are new and take free
   ids and free code numbers (:func:`gridgeo.codes.assign_codes`).

Every grid outside the redrawn regions keeps its boundary (the very same polygon when
the plan is in a metric CRS, else its reprojection), its id and its code. The result reports which grids were kept, reshaped, split or
merged, which are new, the share of buildings and households that changed grid, and
the land that changed grid as a layer for a before/after map.

Examples
--------
Four grids of 300 households; the two western ones double:

>>> import geopandas as gpd
>>> from shapely import box
>>> grids = gpd.GeoDataFrame(
...     {"grid_id": ["A", "B", "C", "D"]},
...     geometry=[box(x, y, x + 100, y + 100) for y in (100, 0) for x in (0, 100)],
...     crs=3857,
... )
>>> xy = [(x + dx, y + dy) for x in (0, 100) for y in (0, 100)
...       for dx in (10, 41, 73) for dy in (12, 63)]
>>> bld = gpd.GeoDataFrame(
...     {"households": [50] * 24},
...     geometry=[box(x, y, x + 17, y + 23) for x, y in xy],
...     crs=3857,
... )
>>> bld.loc[bld.geometry.centroid.x < 100, "households"] += 50
>>> r = rebalance(grids, bld, households_column="households", target=300)
>>> r.grids[["grid_id", "households", "status"]].values.tolist()
[['A', 300, 'split'], ['B', 300, 'kept'], ['C', 300, 'split'], ['D', 300, 'kept'], ['N001', 300, 'new'], ['N002', 300, 'new']]
>>> r.figures["buildings_moved"], r.figures["out_of_band_after"]
(6, 0)
>>> r.grids.geometry[1] is grids.geometry[1]  # a kept grid keeps its very polygon
True
"""

from __future__ import annotations

from ..crs import plan_metric_crs
from .core import EXEMPT_TYPES, rebalance
from .result import Rebalance

__all__ = ["EXEMPT_TYPES", "Rebalance", "plan_metric_crs", "rebalance"]
