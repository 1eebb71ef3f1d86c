"""Layers in China drawn on different datums: GCJ-02 positions labelled WGS 84.

Positions taken from Gaode, Tencent or other Chinese web maps are in GCJ-02, which lies
some 100–700 m off WGS 84 (and CGCS2000); a file of them usually says EPSG:4326 all the
same. Buildings in GCJ-02 over streets in WGS 84 (OpenStreetMap's) are a plan in which
every building sits in the wrong block, and nothing else would tell. The layers are
compared as they lie: footprints of buildings that fit their streets seldom lie across
a street line (a few in a hundred), while footprints shifted by the GCJ-02 offset lie
across streets several times as often. When shifting the buildings back (or the other
way) makes them fit far better, the layers are refused, naming the layer and the fix.

Examples
--------
>>> import gridgeo
>>> layers = gridgeo.read_osm(gridgeo.datasets.get_path("beijing_wangjing"))
>>> check_datum(layers.streets, layers.buildings) is None  # OSM with OSM: one datum
True
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import shapely

from ._errors import CRSError
from .crs import gcj02_geometries, in_china

__all__ = ["check_datum"]

log = logging.getLogger(__name__)

#: Footprints compared (a seeded sample of larger layers).
SAMPLE = 4000
#: Fewer footprints than this say nothing either way.
MIN_FOOTPRINTS = 30


def check_datum(
    streets: gpd.GeoDataFrame | None,
    buildings: gpd.GeoDataFrame | None,
    *,
    name: str = "streets",
) -> None:
    """Refuse buildings and streets in China that lie on different datums (one in
    GCJ-02, the other in WGS 84): :class:`~gridgeo.CRSError` naming the fix.

    ``streets`` may be polygons (a city's grids, ``name="grids"``): their outlines are
    the lines footprints seldom lie across.
    """
    if streets is None or buildings is None or streets.crs is None or buildings.crs is None:
        return
    footprints = _sample(buildings)
    if len(footprints) < MIN_FOOTPRINTS:
        return
    lonlat = gpd.GeoSeries(footprints, crs=buildings.crs).to_crs(4326).values
    box = shapely.bounds(lonlat)
    lon, lat = (box[:, 0].min() + box[:, 2].max()) / 2, (box[:, 1].min() + box[:, 3].max()) / 2
    if not bool(in_china(lon, lat)):
        return
    metric = gpd.GeoSeries(lonlat, crs=4326).estimate_utm_crs()
    lines = np.asarray(streets.to_crs(metric).geometry.values)
    polygonal = shapely.get_dimensions(lines) == 2
    tree = shapely.STRtree(np.where(polygonal, shapely.boundary(lines), lines))

    def across(placed: gpd.GeoSeries) -> float:
        placed = placed.to_crs(metric).values
        return len(np.unique(tree.query(placed, predicate="intersects")[0])) / len(placed)

    given = gpd.GeoSeries(lonlat, crs=4326)
    now = across(given)
    back = across(gcj02_geometries(given, inverse=True))  # the buildings in GCJ-02
    there = across(gcj02_geometries(given))  # the streets in GCJ-02
    log.debug("footprints across streets: %.3f as given, %.3f / %.3f moved", now, back, there)
    best = min(back, there)
    if best < 0.5 * now and now - best > 0.05:
        which = "buildings" if back <= there else name
        across_what = "a street" if name == "streets" else f"the outline of the {name}"
        msg = (
            f"the buildings and the {name} look drawn on different datums: {now:.0%} of "
            f"the footprints lie across {across_what}, {best:.0%} once the {which} are moved "
            f"from GCJ-02 (Gaode/Tencent maps) to WGS 84; the {which} seem to be GCJ-02 "
            "positions labelled WGS 84. Convert them to WGS 84 first (in Python: "
            "gridgeo.crs.gcj02_geometries(layer, inverse=True); a CSV register may name "
            "its columns lon_gcj/lat_gcj to be converted on reading), or give both "
            "layers from one source"
        )
        raise CRSError(msg)


def _sample(buildings: gpd.GeoDataFrame) -> np.ndarray:
    geoms = buildings.geometry.values
    geoms = geoms[shapely.get_dimensions(geoms) == 2]
    if len(geoms) > SAMPLE:
        rows = np.random.default_rng(0).choice(len(geoms), SAMPLE, replace=False)
        geoms = geoms[np.sort(rows)]
    return geoms
