"""The messy-input corpus: real files as other tools export them, made from the bundled
data (Kouvola, Beijing Wangjing, the Helsinki population grid).

:func:`build` writes every case into a folder and returns their paths; each case is
one of the classes gridgeo must use, repair or refuse (see the README's section on
messy inputs):

======================  ===============================================================
``streets``             the Kouvola streets (GeoPackage), the reference layer
``mixed``               footprints mixed with entrance/label points and outlines as
                        lines, as a vector-tile export gives them (GeoJSON); ``hh``
                        3 per footprint, 2 per point, 5 per line
``points``              a building register geocoded to points (楼栋点), ``hh`` per point
``degenerate``          the extract's raw buildings layer as GDAL reads it, saved as
                        GeoPackage: 2,215 features, 22 of them zero-area rings; ``hh`` 3
``mostly_broken``       the same with most footprints flattened to zero area
``far``                 the buildings 3° east of the streets (disjoint)
``touching``            the buildings shifted until only a sliver overlaps the streets
``swapped``             the buildings with longitude and latitude exchanged
``wangjing_swapped_*``  Beijing streets and buildings both swapped: latitudes > 90°
``population``          the Helsinki population grid, 250 km from Kouvola
``implausible``         ``hh`` 3, but 50,000 at row 5 and 10¹² at row 17
======================  ===============================================================
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

import gridgeo
from gridgeo import datasets

#: Households per feature kind in ``mixed``.
MIXED_HH = {"footprint": 3, "point": 2, "line": 5}


def swap_xy(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` with x and y exchanged (latitude given as x)."""
    return gdf.set_geometry(shapely.transform(gdf.geometry.values, lambda xy: xy[:, ::-1]))


def raw_buildings(name: str = "kouvola") -> gpd.GeoDataFrame:
    """The buildings of a bundled extract as GDAL's OSM driver gives them, unrepaired
    (features whose rings the extract cut are left out: they have no geometry)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = pyogrio.read_dataframe(
            datasets.get_path(name),
            layer="multipolygons",
            where="building IS NOT NULL",
            on_invalid="ignore",
        )
    raw = raw[raw.geometry.notna()][["osm_id", "building", "geometry"]]
    return raw.reset_index(drop=True)


def build(folder: Path, kouvola: gridgeo.OSMLayers) -> dict[str, Path]:
    """Write the corpus into ``folder``; returns case → path."""
    folder.mkdir(parents=True, exist_ok=True)
    streets, buildings = kouvola.streets, kouvola.buildings
    paths: dict[str, Path] = {}

    def save(name: str, gdf: gpd.GeoDataFrame, suffix: str = ".gpkg") -> None:
        paths[name] = folder / f"{name}{suffix}"
        gdf.to_file(paths[name], engine="pyogrio")

    save("streets", streets[["osm_id", "highway", "name", "geometry"]])
    polygons = buildings[["osm_id", "building", "geometry"]]

    # vector-tile export: footprints, a label point in every third, every tenth outline
    points = gpd.GeoDataFrame(
        {"osm_id": polygons["osm_id"].iloc[::3].to_numpy(), "building": "entrance"},
        geometry=shapely.point_on_surface(polygons.geometry.values[::3]),
        crs=polygons.crs,
    )
    lines = gpd.GeoDataFrame(
        {"osm_id": polygons["osm_id"].iloc[::10].to_numpy(), "building": "outline"},
        geometry=shapely.boundary(polygons.geometry.values[::10]),
        crs=polygons.crs,
    )
    mixed = pd.concat(
        [
            polygons.assign(hh=MIXED_HH["footprint"]),
            points.assign(hh=MIXED_HH["point"]),
            lines.assign(hh=MIXED_HH["line"]),
        ],
        ignore_index=True,
    )
    save("mixed", gpd.GeoDataFrame(mixed, crs=polygons.crs), ".geojson")

    # a building register: one point per building, households from the footprint
    metric = gridgeo.crs.to_metric(polygons, gridgeo.crs.metric_crs(polygons))
    hh = np.maximum(np.round(gridgeo.households.capacity(metric)), 1).astype(np.int64)
    register = gpd.GeoDataFrame(
        {"building_no": np.arange(len(polygons)), "hh": hh},
        geometry=shapely.point_on_surface(polygons.geometry.values),
        crs=polygons.crs,
    )
    save("points", register)

    raw = raw_buildings().assign(hh=3)
    save("degenerate", raw)
    flat = raw.copy()
    rows = np.arange(0, len(flat), 3)
    rows = np.union1d(rows, np.arange(1, len(flat), 3))  # two thirds
    flat.loc[rows, "geometry"] = [_flatten(g) for g in flat.geometry.values[rows]]
    save("mostly_broken", flat)

    save("far", polygons.set_geometry(polygons.geometry.translate(3.0, 0.0)))
    west, _, east, _ = streets.total_bounds
    save("touching", polygons.set_geometry(polygons.geometry.translate(0.95 * (east - west), 0)))
    save("swapped", swap_xy(polygons))
    wangjing = gridgeo.read_osm(datasets.get_path("beijing_wangjing"))
    save("wangjing_swapped_streets", swap_xy(wangjing.streets[["highway", "geometry"]]))
    save("wangjing_swapped_buildings", swap_xy(wangjing.buildings[["building", "geometry"]]))
    paths["population"] = datasets.get_path("helsinki_population")

    implausible = polygons.assign(hh=3.0)
    implausible.loc[[5, 17], "hh"] = [50_000.0, 1e12]
    save("implausible", implausible)
    return paths


def _flatten(geom: shapely.Geometry) -> shapely.Geometry:
    """A zero-area ring on the footprint: its first vertex, the next, and back."""
    xy = shapely.get_coordinates(geom)
    return shapely.Polygon([xy[0], xy[1], xy[0], xy[0]])
