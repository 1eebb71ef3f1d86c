"""Scale-out on Dask: a city or a province drawn piece by piece on workers.

Two ways, both giving on Dask the very plan the same pieces give in one process
(``scheduler=None``), grid by grid:

- :func:`partition_tiles` (:mod:`._tiles`) — **every stage on the workers**, for what
  does not fit one process: the area is cut into tiles of about equal street counts
  (or of whole communities) and each tile is drawn by :func:`gridgeo.pipeline.partition`
  on its own data (blocks, households, units, partition, dissolve); the seams between
  tiles are then redrawn by the same pipeline. What ``gridgeo partition --workers N`` /
  ``--scheduler ADDRESS`` and ``gridgeo serve --scheduler ADDRESS`` run.
- :func:`partition` (:mod:`._pieces`) — the preparation in this process, only the
  partition of each community or tile of blocks on the workers, the seams repaired on
  the whole unit graph (:func:`partition_workspace`, :func:`split_workspace`).

:func:`audit` runs :func:`gridgeo.audit.audit` with its per-building spatial joins (the
share of each building in each grid, and in overlaps) on dask-geopandas: the buildings
become a spatially shuffled (Hilbert-ordered) dask-geopandas frame whose partitions are
joined with the grids on the workers. The result equals the single-process audit.

Needs the optional dependencies ``dask[distributed]`` and ``dask-geopandas``
(``pip install 'gridgeo[dask]'``); without them, :class:`DaskMissingError` says so.
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
