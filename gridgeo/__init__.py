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

from . import crs, datasets
from ._errors import (
    CRSError,
    DownloadError,
    EmptyLayerError,
    GeometryError,
    GridgeoError,
    HouseholdsError,
    InputError,
    MissingColumnError,
    ReadError,
)
from .households import HouseholdOptions, building_households
from .io import OSMLayers, download_osm, read_layer, read_osm
from .pipeline import partition
from .plan import Plan

__version__ = "0.1.0"

__all__ = [
    "CRSError",
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
    "ReadError",
    "building_households",
    "crs",
    "datasets",
    "download_osm",
    "partition",
    "read_layer",
    "read_osm",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
