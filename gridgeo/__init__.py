"""gridgeo: draw and audit community grids (社区网格) from streets and buildings.

Examples
--------
>>> import gridgeo
>>> layers = gridgeo.read_osm(gridgeo.datasets.get_path("kouvola"))
>>> plan = gridgeo.partition(layers.streets, layers.buildings, target=300)
>>> plan.summary()["n_grids"] > 0
True
"""

from __future__ import annotations

import logging

from . import codes, crs, datasets, hierarchy, staffing
from ._errors import (
    CRSError,
    DatabaseError,
    DownloadError,
    EmptyLayerError,
    GeometryError,
    GridgeoError,
    HouseholdsError,
    InputError,
    MissingColumnError,
    ReadError,
)
from ._version import __version__ as __version__
from .adjust import Rebalance, rebalance
from .households import HouseholdOptions, building_households
from .io import OSMLayers, download_osm, read_layer, read_osm
from .pipeline import partition
from .plan import Plan
from .publish import write_plan
from .rules import Rules

__all__ = [
    "CRSError",
    "DatabaseError",
    "DownloadError",
    "EmptyLayerError",
    "GeometryError",
    "GridgeoError",
    "HouseholdOptions",
    "HouseholdsError",
    "InputError",
    "MissingColumnError",
    "OSMLayers",
    "Plan",
    "Rebalance",
    "Rules",
    "ReadError",
    "building_households",
    "codes",
    "hierarchy",
    "rebalance",
    "staffing",
    "crs",
    "datasets",
    "download_osm",
    "partition",
    "read_layer",
    "read_osm",
    "write_plan",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
