"""Scale-out on Dask: a district or a whole city partitioned piece by piece.

:func:`partition` draws the same kind of plan as :func:`gridgeo.partition`, but splits
the work into independent **pieces** that run on ``dask.distributed`` workers (a
``LocalCluster`` by default, or any scheduler given by its address):

- one piece per community (more exactly per community × dedicated zone: the groups that
  grids never mix);
- a community (or a study area without communities) holding more than ``tile_grids``
  grids' worth of households is cut into **tiles of whole street blocks** by recursive
  bisection of the block centroids at the weighted median, so tiles hold about equal
  households and their edges follow streets. After the tiles are partitioned, the
  **seams are repaired**: grids left out of the band where a tile edge cut a
  neighbourhood are redrawn together with their neighbours across the seam
  (:func:`gridgeo.engine.recombine`, then :func:`~gridgeo.engine.rebalance` and
  :func:`~gridgeo.engine.refine.smooth` over the whole graph).

Every piece is partitioned by :func:`gridgeo.engine.partition_graph` with a generator
seeded from ``random_state`` and the piece's own key (its community, zone and tile), so
what a piece gets does not depend on which worker runs it, in which order, or how pieces
are batched. ``scheduler=None`` runs the very same pieces one after another in this
process: **the plan on Dask equals the single-process plan**, grid by grid.

The preparation (reprojection, street blocks, households, units: one geometric pass
over the whole area) and the assembly run in the calling process; only the partition,
the costly graph search, runs on the workers.

:func:`audit` runs :func:`gridgeo.audit.audit` with its per-building spatial joins (the
share of each building in each grid, and in overlaps) on dask-geopandas: the buildings
become a spatially shuffled (Hilbert-ordered) dask-geopandas frame whose partitions are
joined with the grids on the workers. The result equals the single-process audit.

Needs the optional dependencies ``dask[distributed]`` and ``dask-geopandas``.
"""

from ._audit import audit
from ._client import CONNECT_TIMEOUT, DaskMissingError, check_scheduler, local_client
from ._pieces import (
    TILE_GRIDS,
    Piece,
    compare_plans,
    partition,
    partition_workspace,
    split_workspace,
)
from ._pieces import (
    _batches as _batches,
)
from ._pieces import (
    _key_entropy as _key_entropy,
)
from ._tiles import TILE_STREETS, partition_tiles, tile_layout

__all__ = [
    "CONNECT_TIMEOUT",
    "DaskMissingError",
    "check_scheduler",
    "TILE_STREETS",
    "partition_tiles",
    "tile_layout",
    "TILE_GRIDS",
    "Piece",
    "audit",
    "compare_plans",
    "local_client",
    "partition",
    "partition_workspace",
    "split_workspace",
]
