"""Street-front zones (沿街): shops along streets, the grids they fall in, micro-grids.

A known failure of grid plans is that shops along streets fall between residential
grids ("微网格空白") or are managed mixed in with housing ("商圈、住宅混合管理"). This
module finds the frontage where shops stand and says how the plan covers it:

1. **Shops** (:func:`shop_points`): points of interest tagged ``shop``, ``office``,
   ``craft`` or a street-front ``amenity`` (:data:`STREET_FRONT_AMENITIES`: cafés,
   restaurants, banks, pharmacies … not benches or parking), and commercial buildings
   (``building`` in :data:`COMMERCIAL_BUILDINGS`, or a building carrying a shop tag)
   that hold no such point. Each shop is one point (polygons: a point on their surface).
2. **Runs** (:func:`frontage_runs`): street lines that can have a shop front (highway
   classes not in :data:`NON_FRONTAGE`, no tunnels) merged into runs: the segments of
   one street name are joined where they meet end to end, unnamed segments likewise
   (so an unnamed run ends at every junction).
3. **Zones**: a shop within ``frontage_depth`` metres of a run belongs to its nearest
   run, on the left or right of it. Along each run and side, shops closer than
   ``zone_gap`` metres (measured along the street) form one zone. A zone is the strip
   from the street's centre line to ``frontage_depth`` on that side, from
   ``end_margin`` before its first shop to ``end_margin`` after its last one; its
   ``length_m`` is the length of street it runs along.
4. **Status** of a zone, from the grids its shops stand in: ``uncovered`` when a shop
   is in no grid, else ``mixed`` when a shop is only in grids that are not street-front
   grids (mixed management with housing), else ``dedicated`` (every shop is in a
   street-front micro-grid). A grid is a street-front grid when its type column
   (``grid_type`` by default) holds one of :data:`STREET_FRONT_TYPES` (``street_front``,
   ``沿街``, any text starting with ``沿街`` …, see :func:`is_street_front_type`).
5. **Proposed micro-grids**: the shops of zones that are not ``dedicated``, along each
   run and side, are cut into stretches wherever ``micro_grid_gap`` metres of street
   hold no shop; a stretch with at least ``micro_grid_min_shops`` shops becomes as few
   micro-grids as keep each under ``micro_grid_shops`` shops and ``micro_grid_length``
   metres, with equal numbers of shops, split half-way between shops.

The steps live in :mod:`~gridgeo.streetfront.shops` (1), :mod:`~gridgeo.streetfront.runs`
(2), :mod:`~gridgeo.streetfront.zones` (3, 4) and :mod:`~gridgeo.streetfront.micro_grids`
(5); :mod:`~gridgeo.streetfront.analysis` checks raw layers and runs them all.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import LineString, Point
>>> street = gpd.GeoDataFrame(
...     {"name": ["Jiefang Rd"], "highway": ["primary"]},
...     geometry=[LineString([(500000, 3400000), (500300, 3400000)])], crs=4547)
>>> shops = gpd.GeoDataFrame(
...     {"kind": ["shop"] * 3, "value": ["bakery", "clothes", "mobile_phone"]},
...     geometry=[Point(500020 + 20 * i, 3400010) for i in range(3)], crs=4547)
>>> sf = street_front(street, pois=shops)
>>> sf.zones[["street", "side", "shops", "length_m", "status"]].to_dict("records")
[{'street': 'Jiefang Rd', 'side': 'N', 'shops': 3, 'length_m': 60.0, 'status': 'uncovered'}]
"""

from __future__ import annotations

from .analysis import check_poi_layer as check_poi_layer
from .analysis import grid_ids_and_types as grid_ids_and_types
from .analysis import street_front
from .options import StreetFrontOptions
from .options import with_depth as with_depth
from .result import MICRO_GRID_COLUMNS as MICRO_GRID_COLUMNS
from .result import RUN_COLUMNS as RUN_COLUMNS
from .result import ZONE_COLUMNS as ZONE_COLUMNS
from .result import StreetFront
from .runs import frontage_runs
from .shops import shop_points
from .tags import (
    COMMERCIAL_BUILDINGS,
    NON_FRONTAGE,
    STREET_FRONT_AMENITIES,
    STREET_FRONT_TYPES,
    is_street_front_type,
)
from .zones import find_street_front

__all__ = [
    "COMMERCIAL_BUILDINGS",
    "NON_FRONTAGE",
    "STREET_FRONT_AMENITIES",
    "STREET_FRONT_TYPES",
    "StreetFront",
    "StreetFrontOptions",
    "find_street_front",
    "frontage_runs",
    "is_street_front_type",
    "shop_points",
    "street_front",
]
