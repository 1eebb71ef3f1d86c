"""The vectorised geometry steps: unit adjacency and the dissolve of units into grids.

``adjacency`` matches edges instead of overlaying every touching pair: two units are
adjacent where edges of theirs lie on one line and overlap, whether or not they share
vertices there. It is checked on hand-made units with the awkward cases of real data
(lattice cells whose vertices do not match the neighbouring block's, T-junctions, corner
contacts, edges shorter than ``min_shared``, holes, rounding noise) and against GEOS made
robust by snap rounding. ``dissolve_units`` cancels shared edges for all grids at once and
is checked against GEOS unions.
"""

from __future__ import annotations

import math
import pickle

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from gridgeo import plan as plan_module
from gridgeo.plan import dissolve_units
from gridgeo.units import adjacency

# ----------------------------------------------------------------------------- helpers


def robust_pairs(
    geometry: np.ndarray, min_shared: float = 0.01
) -> tuple[dict[tuple[int, int], float], set[tuple[int, int]]]:
    """Shared boundary lengths over min_shared, measured by GEOS pair by pair on a 1e-6 m
    snap-rounding grid (plain GEOS overlays miss most stretches 1e-10 m apart).

    Returns the lengths, and the pairs too close to min_shared for the grid to tell.
    """
    i, j = shapely.STRtree(geometry).query(geometry, predicate="dwithin", distance=1e-6)
    i, j = i[i < j], j[i < j]
    boundary = shapely.boundary(geometry)
    shared = shapely.length(shapely.intersection(boundary[i], boundary[j], grid_size=1e-6))
    pairs = list(zip(i.tolist(), j.tolist(), strict=True))
    close = {p for p, x in zip(pairs, shared, strict=True) if abs(x - min_shared) < 1e-4}
    return {p: x for p, x in zip(pairs, shared, strict=True) if x > min_shared}, close


def as_dict(adj: sparse.csr_matrix) -> dict[tuple[int, int], float]:
    upper = sparse.triu(adj, k=1).tocoo()
    return dict(
        zip(zip(upper.row.tolist(), upper.col.tolist(), strict=True), upper.data, strict=True)
    )


def assert_same(
    adj: sparse.csr_matrix,
    expected: dict[tuple[int, int], float],
    tol: float = 1e-9,
    unsure: set[tuple[int, int]] = frozenset(),
) -> None:
    got = as_dict(adj)
    assert (adj != adj.T).nnz == 0, "adjacency is not symmetric"
    assert adj.diagonal().sum() == 0, "a unit is its own neighbour"
    missing, extra = set(expected) - set(got) - unsure, set(got) - set(expected) - unsure
    assert not missing and not extra, f"missing {sorted(missing)}, extra {sorted(extra)}"
    for pair in set(expected) & set(got):
        assert got[pair] == pytest.approx(expected[pair], rel=0, abs=tol), pair


def rotate(geometry: np.ndarray, angle: float, origin=(0.0, 0.0), shift=(0.0, 0.0)) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)

    def move(xy):
        x, y = xy[:, 0] - origin[0], xy[:, 1] - origin[1]
        return np.c_[c * x - s * y + shift[0], s * x + c * y + shift[1]]

    return shapely.transform(geometry, move)


CITY = (524778.144, 3372905.45)


def jitter(geometry: np.ndarray, size: float) -> np.ndarray:
    """Every unit's vertices moved by up to ``size``, each unit by noise of its own (the
    same for equal vertices of one unit, so that rings stay closed)."""
    return np.array(
        [
            shapely.transform(g, lambda xy, k=k: xy + size * np.sin(7.3 * xy[:, ::-1] + k))
            for k, g in enumerate(geometry)
        ],
        dtype=object,
    )


# ----------------------------------------------------------------------------- fixture


@pytest.fixture
def units() -> np.ndarray:
    """Blocks and lattice cells, with the cases the edge matching must get right.

    0  block (0, 0)-(10, 10), kept whole
    1-6  block (10, 0)-(20, 10) cut into a 2 x 3 lattice at x = 15, y = 10/3, 20/3: its
         cells meet block 0 along x = 10 at vertices block 0 does not have
    7  block below both, (0, -5)-(20, 0): T-junctions at (10, 0) and (15, 0)
    8  square touching cell 6 only at its corner (20, 10), where their edges along y = 10
       meet end to end
    9  sliver left of block 0 sharing 5 mm of its edge (under min_shared)
    10 sliver left of block 0 sharing 2 cm of its edge
    11 block 0's neighbour above, with a hole holding 12
    12 island in the hole of 11
    13 strip left of block 0, along its edge but 1 cm away
    """
    third = 10 / 3
    cells = [
        shapely.box(x0, y0, x1, y1)
        for (x0, x1) in ((10, 15), (15, 20))
        for (y0, y1) in ((0, third), (third, 2 * third), (2 * third, 10))
    ]
    hole = shapely.box(4, 14, 6, 16)
    return np.array(
        [
            shapely.box(0, 0, 10, 10),
            *cells,
            shapely.box(0, -5, 20, 0),
            shapely.box(20, 10, 25, 15),
            shapely.box(-1, 0, 0, 0.005),
            shapely.box(-1, 9.98, 0, 10),
            shapely.Polygon(shapely.box(0, 10, 10, 20).exterior, [hole.exterior]),
            hole,
            shapely.box(-1, 2, -0.01, 5),
        ],
        dtype=object,
    )


THIRD = 10 / 3
BY_HAND = {
    (0, 1): THIRD,  # block 0 against the lattice column, vertices not shared
    (0, 2): THIRD,
    (0, 3): THIRD,
    (1, 2): 5.0,  # lattice cells
    (2, 3): 5.0,
    (4, 5): 5.0,
    (5, 6): 5.0,
    (1, 4): THIRD,
    (2, 5): THIRD,
    (3, 6): THIRD,
    (0, 7): 10.0,  # T-junctions along the block below
    (1, 7): 5.0,
    (4, 7): 5.0,
    (0, 10): 0.02,  # 2 cm: adjacent; 5 mm (unit 9): not
    (0, 11): 10.0,
    (11, 12): 8.0,  # around the hole
}


def test_adjacency_pairs_and_lengths_by_hand(units):
    adj = adjacency(units)
    assert_same(adj, BY_HAND)
    # corner contact, 5 mm shared, parallel 1 cm apart: not adjacent
    assert adj[6, 8] == adj[8, 6] == adj[0, 9] == adj[0, 13] == 0
    assert_same(adjacency(units, min_shared=0.001), {**BY_HAND, (0, 9): 0.005})
    assert_same(adjacency(units, min_shared=0.05), {p: x for p, x in BY_HAND.items() if x > 0.05})


@pytest.mark.parametrize("angle", [1e-7, 0.3, math.pi / 4, math.pi / 2 - 1e-6, 2.5])
def test_adjacency_with_rounding_noise(units, angle):
    """Rotated to city coordinates: the lattice's vertices along block 0 now lie off its
    edge by rounding noise."""
    moved = rotate(units, angle, shift=CITY)
    assert_same(adjacency(moved), BY_HAND, tol=1e-6)
    expected, close = robust_pairs(moved)
    assert_same(adjacency(moved), expected, tol=1e-5, unsure=close)


@pytest.mark.parametrize(("shift", "noise"), [((0.0, 0.0), 1e-10), (CITY, 1e-9)])
def test_adjacency_with_noise_on_every_vertex(units, shift, noise):
    """No two units have a vertex in common: every stretch is matched along its line."""
    moved = jitter(rotate(units, 0.3, shift=shift), noise)
    points = [set(map(tuple, shapely.get_coordinates(g).tolist())) for g in moved]
    assert not any(p & q for k, p in enumerate(points) for q in points[k + 1 :])
    assert_same(adjacency(moved), BY_HAND, tol=1e-6)


def _clipped_lattice(seed: int, grid: float = 0.0) -> np.ndarray:
    """Three blocks at city coordinates sharing slanted street edges: one kept whole, two
    cut into square lattices by overlay (vertices along shared edges do not match).

    With ``grid``, blocks are first put on that precision grid, as street blocks are;
    the lattice cells cut from them carry none.
    """
    rng = np.random.default_rng(seed)
    x0, y0 = 521000 + rng.random() * 1000, 3372000 + rng.random() * 1000
    m0, m1 = (x0 + 60 + rng.random() * 30, y0), (x0 + 40 + rng.random() * 30, y0 + 105)
    left = shapely.Polygon([(x0, y0), m0, m1, (x0 - 10, y0 + 100)])
    right = shapely.Polygon([m0, (x0 + 150, y0 + 3), (x0 + 140, y0 + 110), m1])
    bottom = shapely.Polygon(
        [(x0 - 10, y0 - 40), (x0 + 150, y0 - 40), (x0 + 150, y0 + 3), m0, (x0, y0)]
    )
    if grid:
        left, right, bottom = shapely.set_precision([left, right, bottom], grid)
    out = [left]
    for block, side in ((right, 17.3 + rng.random() * 10), (bottom, 13.1 + rng.random() * 10)):
        xmin, ymin, xmax, ymax = block.bounds
        gx, gy = np.meshgrid(np.arange(xmin, xmax, side), np.arange(ymin, ymax, side))
        boxes = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + side, gy.ravel() + side)
        cells = shapely.get_parts(shapely.intersection(boxes, block))
        out.extend(cells[(shapely.get_type_id(cells) == 3) & (shapely.area(cells) > 0)])
    return np.array(out, dtype=object)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.0, 1e-3]))
def test_adjacency_equals_robust_geos_on_clipped_lattices(seed, grid):
    geometry = _clipped_lattice(seed, grid)
    expected, close = robust_pairs(geometry)
    assert_same(adjacency(geometry), expected, tol=1e-5, unsure=close)


@pytest.mark.parametrize("seed", range(3))
def test_adjacency_same_after_a_file(seed, tmp_path):
    """A block on the pipeline's 1 mm grid next to lattice cells that share none of its
    vertices: pickle and GeoParquet drop the grid but keep the coordinates, and with
    them the adjacency, exactly; the order of the units only permutes it."""
    geometry = _clipped_lattice(seed, grid=1e-3)
    adj = adjacency(geometry)
    corners = set(map(tuple, shapely.get_coordinates(geometry[0]).tolist()))
    apart = [
        k
        for k in adj[0].indices
        if not corners & set(map(tuple, shapely.get_coordinates(geometry[k]).tolist()))
    ]
    assert len(apart) >= 3
    pickled = pickle.loads(pickle.dumps(geometry))
    gpd.GeoDataFrame(geometry=geometry).to_parquet(tmp_path / "units.parquet")
    parquet = gpd.read_parquet(tmp_path / "units.parquet").geometry.to_numpy()
    for back in (pickled, parquet):
        assert shapely.get_precision(back).max() == 0 < shapely.get_precision(geometry).max()
        again = adjacency(back)
        assert (again.indptr == adj.indptr).all() and (again.indices == adj.indices).all()
        assert (again.data == adj.data).all()
    assert (adjacency(geometry) != adj).nnz == 0
    order = np.random.default_rng(seed).permutation(len(geometry))
    shuffled = adjacency(geometry[order])
    assert shuffled.nnz == adj.nnz
    assert abs(shuffled - adj[order][:, order]).max() < 1e-9


def test_adjacency_handles_multipolygons_and_missing():
    a = shapely.box(0, 0, 1, 1)
    b = shapely.MultiPolygon([shapely.box(1, 0, 2, 1), shapely.box(5, 5, 6, 6)])
    c = shapely.box(6, 5, 7, 6)
    geometry = np.array([a, b, None, c], dtype=object)
    assert_same(adjacency(geometry), {(0, 1): 1.0, (1, 3): 1.0})
    assert adjacency(np.array([], dtype=object)).shape == (0, 0)


# ----------------------------------------------------------------------------- dissolve


def _noisy_lattice(seed: int, n: int = 6, noise: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """An n x n lattice of 10 m cells at city coordinates, every cell with its own noise
    on its vertices, some cells split in two (T-junctions with their neighbours)."""
    rng = np.random.default_rng(seed)
    x0, y0 = 524778.144, 3372905.45
    cells = []
    for i in range(n):
        for j in range(n):
            xs = x0 + 10 * np.array([i, i + 1, i + 1, i]) + rng.normal(0, noise, 4)
            ys = y0 + 10 * np.array([j, j, j + 1, j + 1]) + rng.normal(0, noise, 4)
            cell = shapely.Polygon(np.c_[xs, ys])
            if rng.random() < 0.3:  # split: a vertex mid-edge that the neighbours lack
                xm = x0 + 10 * i + 10 / 3
                cells += list(
                    shapely.get_parts(
                        shapely.intersection(
                            cell,
                            [
                                shapely.box(xm - 100, y0 - 100, xm, y0 + 1e3),
                                shapely.box(xm, y0 - 100, xm + 100, y0 + 1e3),
                            ],
                        )
                    )
                )
            else:
                cells.append(cell)
    geometry = np.array(cells, dtype=object)
    return geometry, shapely.area(geometry)


@pytest.mark.parametrize("seed", range(5))
def test_dissolve_noisy_edges_single_valid_polygon(seed, monkeypatch):
    geometry, area = _noisy_lattice(seed)
    c = shapely.centroid(geometry)
    x, y = shapely.get_x(c), shapely.get_y(c)
    # four grids: the quadrants
    labels = (x > np.median(x)).astype(int) * 2 + (y > np.median(y)).astype(int)

    def no_geos(*_):
        raise AssertionError("fell back to the GEOS ladder")

    monkeypatch.setattr(plan_module, "_union", no_geos)
    ids, grids = dissolve_units(geometry, labels)
    assert ids.tolist() == [0, 1, 2, 3]
    for k, grid in zip(ids, grids, strict=True):
        assert grid.geom_type == "Polygon" and grid.is_valid
        assert grid.area == pytest.approx(area[labels == k].sum(), abs=1e-4)
        exact = shapely.union_all(geometry[labels == k], grid_size=1e-6)
        assert shapely.symmetric_difference(grid, exact).area < 1e-4


def test_dissolve_with_hole_and_fallback_cases():
    geometry, area = _noisy_lattice(0, n=5, noise=1e-10)
    c = shapely.centroid(geometry)
    middle = shapely.contains_xy(
        shapely.box(524798.2, 3372925.5, 524808.1, 3372935.4), shapely.get_x(c), shapely.get_y(c)
    )
    assert middle.sum() >= 1
    labels = np.where(middle, "centre", "ring")
    # a lone unit stays as it is; two units that do not touch go to the GEOS ladder
    lone = shapely.box(0, 0, 1, 1)
    far = np.array([shapely.box(100, 100, 101, 101), shapely.box(200, 200, 201, 201)])
    geometry = np.r_[geometry, [lone], far]
    labels = np.r_[labels, ["lone"], ["apart", "apart"]]
    area = shapely.area(geometry)
    ids, grids = dissolve_units(geometry, labels)
    assert ids.tolist() == ["apart", "centre", "lone", "ring"]
    ring = grids[3]
    assert ring.geom_type == "Polygon" and ring.is_valid
    assert len(ring.interiors) == 1
    assert ring.area == pytest.approx(area[labels == "ring"].sum(), abs=1e-4)
    assert grids[2] is lone
    assert grids[0].area == pytest.approx(2.0)


@pytest.mark.parametrize("seed", range(4))
def test_dissolve_clipped_lattice_matches_union(seed):
    """Bands across the three blocks: lattice cells against a whole block and each other."""
    geometry = _clipped_lattice(seed)
    x = shapely.get_x(shapely.centroid(geometry))
    labels = np.floor((x - x.min()) / 40).astype(int)
    ids, grids = dissolve_units(geometry, labels)
    for k, grid in zip(ids, grids, strict=True):
        exact = shapely.union_all(geometry[labels == k], grid_size=1e-6)
        if exact.geom_type == "Polygon":
            assert grid.geom_type == "Polygon" and grid.is_valid
        assert grid.area == pytest.approx(shapely.area(geometry[labels == k]).sum(), abs=1e-4)
        assert shapely.symmetric_difference(grid, exact).area < 1e-3
