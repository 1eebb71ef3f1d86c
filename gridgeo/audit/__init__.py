"""Coverage audit of an existing grid plan (无缝覆盖 check), street-front zones above all.

:func:`audit` takes the grids a city already has (from its platform, or from
:func:`gridgeo.partition`) with the buildings, and optionally the streets, shops,
community boundaries and a household register, and finds what the plan misses:

- **uncovered buildings**: a building belongs to the grid holding the largest part of
  its footprint; it is uncovered when the part outside every grid is larger still. A
  building cut by a grid boundary (its largest grid holds more than ``split_share``
  and less than ``1 − split_share`` of it) is flagged ``split_by_boundary``. Uncovered
  buildings closer than ``zone_distance`` metres to each other form **uncovered
  zones** (the union of the buildings grown by half that distance);
- **overlaps**: land in two or more grids (double management), one row per pair of
  grids that overlap; a building with at least half its footprint in land of two
  grids is counted in the overlap holding most of it;
- **gaps**: land of the study area in no grid, as polygons. The study area is the union
  of the community ``boundaries`` when given; otherwise the union of the grids with
  its holes filled (``study_area="filled"``, so only holes inside the plan are gaps) or
  the convex hull of the grids (``"hull"``). Gaps and overlaps smaller than
  ``min_area`` m² or narrower than ``sliver_width`` metres everywhere are digitising
  slivers: they are ignored, and their number and area reported;
- **load**: households and buildings per grid, against the band ``target`` ±
  ``tolerance``;
- **street-front zones** (沿街) and **proposed street-front micro-grids**, see
  :mod:`gridgeo.streetfront`;
- **double counting**: with a register (table of building ids or addresses and the
  grid each is registered in), the keys registered in two or more grids.

Ids of the findings: ``U…`` uncovered zones, ``O…`` overlaps, ``V…`` gaps, ``S…``
street-front zones, ``M…`` proposed micro-grids, ``D…`` double-counted keys. Every
finding has a ``severity``: ``high``, ``medium``, ``low`` (or ``ok``).

With ``boundaries``, buildings and shops outside the communities and in no grid are
left out (counted in the figures). Without them, every building given must be in a
grid: give the buildings of the area the plan covers, or the boundaries.

The modules: :mod:`~gridgeo.audit.core` runs the audit, :mod:`~gridgeo.audit.polygons`
finds gaps and overlaps, :mod:`~gridgeo.audit.buildings` places the buildings,
:mod:`~gridgeo.audit.findings` builds the other layers and the figures,
:mod:`~gridgeo.audit.register` reads registers and finds double counting, and
:mod:`~gridgeo.audit.result` holds :class:`Audit` and its writers.

Examples
--------
>>> import gridgeo
>>> from gridgeo.audit import audit
>>> layers = gridgeo.read_osm(gridgeo.datasets.get_path("kouvola"))
>>> plan = gridgeo.partition(layers.streets, layers.buildings, target=300)
>>> damaged = plan.grids.iloc[1:]  # a grid left out
>>> a = audit(damaged, plan.buildings, layers.streets, pois=layers.pois,
...           households_column="households")
>>> a.figures["uncovered_households"] > 0, a.figures["overlaps"]
(True, 0)
>>> a.uncovered_zones.columns[:4].tolist()
['zone_id', 'buildings', 'households', 'area_m2']
>>> sorted(a.layers())[:3]
['gaps', 'grid_load', 'overlaps']
"""

from __future__ import annotations

from .buildings import _building_cover as _building_cover  # patched by gridgeo.distributed
from .buildings import _share_in as _share_in  # patched by gridgeo.distributed
from .core import audit
from .register import read_register
from .result import LAYERS, Audit

__all__ = ["Audit", "audit", "read_register", "LAYERS"]
