"""The vectorised geometry steps: unit adjacency and the dissolve of units into grids.

``adjacency`` matches edges instead of overlaying every touching pair, and leaves to GEOS
only the pairs whose boundaries run along each other through different vertices;
``dissolve_units`` cancels shared edges for all grids at once. Both are checked against
direct, pair-by-pair GEOS computations on hand-made units that have the awkward cases of
real data: lattice cells whose vertices do not match the neighbouring block's, T-junctions,
corner contacts, edges shorter than ``min_shared``, holes, and noise on shared vertices.
"""

from __future__ import annotations

import math

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


def pairwise(geometry: np.ndarray, min_shared: float = 0.01) -> dict[tuple[int, int], float]:
    """Shared boundary lengths over min_shared, measured by GEOS pair by pair.

    As the original implementation did: every pair of intersecting units, the boundary of
    the unit of lower index first (GEOS overlays on that one's precision grid, if any).
    """
    n = len(geometry)
    i, j = np.triu_indices(n, k=1)
    touch = shapely.intersects(geometry[i], geometry[j])
    i, j = i[touch], j[touch]
    boundary = shapely.boundary(geometry)
    shared = shapely.length(shapely.intersection(boundary[i], boundary[j]))
    keep = shared > min_shared
    return dict(
        zip(zip(i[keep].tolist(), j[keep].tolist(), strict=True), shared[keep], strict=True)
    )


def as_dict(adj: sparse.csr_matrix) -> dict[tuple[int, int], float]:
    upper = sparse.triu(adj, k=1).tocoo()
    return dict(
        zip(zip(upper.row.tolist(), upper.col.tolist(), strict=True), upper.data, strict=True)
    )


def assert_same(adj: sparse.csr_matrix, expected: dict[tuple[int, int], float]) -> None:
    got = as_dict(adj)
    assert (adj != adj.T).nnz == 0, "adjacency is not symmetric"
    assert set(got) == set(expected), (
        f"missing {sorted(set(expected) - set(got))}, extra {sorted(set(got) - set(expected))}"
    )
    for pair, length in expected.items():
        assert got[pair] == pytest.approx(length, rel=1e-6, abs=1e-4), pair


def rotate(geometry: np.ndarray, angle: float, origin=(0.0, 0.0), shift=(0.0, 0.0)) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)

    def move(xy):
        x, y = xy[:, 0] - origin[0], xy[:, 1] - origin[1]
        return np.c_[c * x - s * y + shift[0], s * x + c * y + shift[1]]

    return shapely.transform(geometry, move)


# ----------------------------------------------------------------------------- fixture


@pytest.fixture
def units() -> np.ndarray:
    """Blocks and lattice cells, with the cases the edge matching must get right.

    0  block (0, 0)-(10, 10), kept whole
    1-6  block (10, 0)-(20, 10) cut into a 2 x 3 lattice at x = 15, y = 10/3, 20/3: its
         cells meet block 0 along x = 10 at vertices block 0 does not have
    7  block below both, (0, -5)-(20, 0): T-junctions at (10, 0) and (15, 0)
    8  square touching cell 6 only at its corner (20, 10)
    9  sliver left of block 0 sharing 5 mm of its edge (under min_shared)
    10 sliver left of block 0 sharing 2 cm of its edge
    11 block 0's neighbour above, with a hole holding 12
    12 island in the hole of 11
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
        ],
        dtype=object,
    )


def test_adjacency_pairs_and_lengths_by_hand(units):
    third = 10 / 3
    expected = {
        (0, 1): third,  # block 0 against the lattice column, vertices not shared
        (0, 2): third,
        (0, 3): third,
        (1, 2): 5.0,  # lattice cells
        (2, 3): 5.0,
        (4, 5): 5.0,
        (5, 6): 5.0,
        (1, 4): third,
        (2, 5): third,
        (3, 6): third,
        (0, 7): 10.0,  # T-junctions along the block below
        (1, 7): 5.0,
        (4, 7): 5.0,
        (0, 10): 0.02,  # 2 cm: adjacent; 5 mm (unit 9): not
        (0, 11): 10.0,
        (11, 12): 8.0,  # around the hole
    }
    assert_same(adjacency(units), expected)
    # 8 touches 6 at a corner only; 9 shares less than min_shared
    adj = adjacency(units)
    assert adj[6, 8] == 0 and adj[0, 9] == 0


def test_adjacency_equals_pairwise_geos(units):
    assert_same(adjacency(units), pairwise(units))
    assert_same(adjacency(units, min_shared=0.001), pairwise(units, min_shared=0.001))


@pytest.mark.parametrize("fixed", [False, True])
@pytest.mark.parametrize("angle", [1e-7, 0.3, math.pi / 4, math.pi / 2 - 1e-6, 2.5])
def test_adjacency_equals_pairwise_geos_with_rounding_noise(units, angle, fixed):
    """Rotated to city coordinates: shared vertices now differ by rounding noise.

    With ``fixed``, the whole blocks are put on the pipeline's 1 mm precision grid, as
    street blocks are: GEOS then snap-rounds every pair they come first in.
    """
    moved = rotate(units, angle, shift=(524778.144, 3372905.45))
    if fixed:
        whole = [0, 7, 11]
        moved[whole] = shapely.set_precision(moved[whole], 1e-3)
    assert_same(adjacency(moved), pairwise(moved))


def test_adjacency_follows_the_precision_grid_of_the_first_unit():
    """GEOS snap-rounds a pair on the first unit's grid: 0.4 mm apart counts as shared
    when the unit on a 1 mm grid comes first, not the other way round; units whose
    polygons do not intersect are never adjacent."""
    block = shapely.set_precision(shapely.box(0, 0, 10, 10), 1e-3)
    gap = 4e-4
    cell = shapely.box(10 + gap, 2, 20, 5)  # apart from the block: not adjacent
    touching = shapely.Polygon([(10 + gap, 5), (10, 6), (10 + gap, 8), (20, 8), (20, 5)])
    plain = shapely.box(0, 0, 10, 10)
    geometry = np.array([block, cell, touching], dtype=object)
    expected = pairwise(geometry)
    assert (0, 2) in expected and (0, 1) not in expected
    assert_same(adjacency(geometry), expected)
    reverse = np.array([touching, plain], dtype=object)
    assert_same(adjacency(reverse), pairwise(reverse))
    assert adjacency(reverse).nnz == 0


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
def test_adjacency_equals_pairwise_geos_on_clipped_lattices(seed, grid):
    geometry = _clipped_lattice(seed, grid)
    assert_same(adjacency(geometry), pairwise(geometry))


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
