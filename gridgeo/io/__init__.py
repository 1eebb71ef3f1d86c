"""Reading and writing layers: OpenStreetMap extracts, GIS files and GeoPackage output.

OpenStreetMap data is read with GDAL's OSM driver (through pyogrio) from ``.osm`` XML and
``.osm.pbf`` files, or downloaded with osmnx. Both routes produce the same
:class:`OSMLayers`: they turn their features into one table with an ``osm_id`` column and
one column per OSM tag key, which a single function splits into streets, buildings,
points of interest, barriers and land-use areas.

The modules: :mod:`~gridgeo.io.osm` reads extracts, :mod:`~gridgeo.io.download`
downloads with osmnx, :mod:`~gridgeo.io.layers` splits features into
:class:`OSMLayers`, :mod:`~gridgeo.io.tags` parses tag values and
:mod:`~gridgeo.io.files` reads and writes GIS files; :mod:`~gridgeo.io.postgis` reads
PostgreSQL/PostGIS tables and queries (``postgresql://…`` URLs, which
:func:`read_layer` accepts too) and publishes tables into a schema.

Examples
--------
>>> from gridgeo import datasets
>>> from gridgeo.io import read_osm
>>> osm = read_osm(datasets.get_path("kouvola"))
>>> osm.streets.crs.to_epsg()
4326
"""

from __future__ import annotations

from ._pgconn import is_db_url, parse_db_url
from .download import OSM_TAGS, download_osm
from .files import read_layer, storable, write_layers
from .layers import OSMLayers
from .osm import read_osm
from .tags import _parse_count as _parse_count  # imported by the tests
from .tags import _parse_height as _parse_height  # imported by the tests
from .tags import extract_tags, parse_other_tags

__all__ = [
    "OSMLayers",
    "read_osm",
    "read_layer",
    "download_osm",
    "write_layers",
    "storable",
    "parse_other_tags",
    "extract_tags",
    "OSM_TAGS",
    "is_db_url",
    "parse_db_url",
]
