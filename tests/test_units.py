"""Units: heavy blocks cut into one piece per building, whatever the buildings' form.

A register of building points (楼栋点) is common: a block over ``split_above`` holding
two or three points must still be cut, one piece per point, or the engine receives one
unit of all their households and cannot bring its grid into the band.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gridgeo.units import make_units


def _units(buildings, households):
    blocks = gpd.GeoDataFrame(
        {"community_id": [0]}, geometry=[shapely.box(0, 0, 100, 60)], crs=32650
    )
    buildings = np.asarray(buildings, dtype=object)
    households = np.asarray(households, dtype=np.int64)
    return make_units(
        blocks,
        np.array([households.sum()]),
        buildings=buildings,
        building_block=np.zeros(len(buildings), dtype=np.int64),
        building_households=households,
        split_above=150,
        piece_size=50,
    )


@pytest.mark.parametrize(
    "sites",
    [
        [(20, 30), (80, 30)],  # two points: two sites only
        [(10, 30), (50, 30), (90, 30)],  # three points on one line
        [(20, 20), (20.0001, 20)],  # two points a tenth of a millimetre apart
    ],
)
def test_a_heavy_block_of_few_points_is_cut_one_piece_a_point(sites):
    hh = [265, 129, 60][: len(sites)]
    units = _units(shapely.points(sites), hh)
    distinct = len({tuple(np.round(s, 3)) for s in sites})
    assert len(units.geometry) == distinct
    assert units.households.sum() == sum(hh)  # conserved
    # each point's piece holds it (a point within a millimetre of another shares its piece)
    pieces = units.geometry[units.building_unit]
    assert shapely.dwithin(pieces, shapely.points(sites), 1e-3).all()
    expected = sorted(hh) if distinct == len(sites) else [sum(hh)]
    assert sorted(units.households.tolist()) == expected
    # the pieces tile the block: no gap, no overlap
    assert shapely.union_all(units.geometry).area == pytest.approx(6000)
    assert shapely.area(units.geometry).sum() == pytest.approx(6000)


def test_a_heavy_block_of_one_footprint_stays_whole():
    units = _units([shapely.box(40, 20, 60, 40)], [400])
    assert len(units.geometry) == 1 and units.households.tolist() == [400]
    assert units.building_unit.tolist() == [0]
