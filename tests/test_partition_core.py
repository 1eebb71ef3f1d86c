"""Tests of the pure array core: gridgeo.engine.partition_graph and Band."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import Delaunay

import gridgeo
from gridgeo.engine import Band, partition_graph

# ----------------------------------------------------------------------------- graphs


def _sym(rows, cols, n: int) -> sparse.csr_matrix:
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    data = np.ones(len(rows))
    a = sparse.coo_matrix((data, (rows, cols)), shape=(n, n)).tocsr()
    return ((a + a.T) > 0).astype(float).tocsr()


def delaunay_graph(n: int, seed: int) -> sparse.csr_matrix:
    """Planar graph: the Delaunay triangulation of ``n`` random points."""
    pts = np.random.default_rng(seed).random((n, 2))
    s = Delaunay(pts).simplices
    return _sym(np.r_[s[:, 0], s[:, 1], s[:, 2]], np.r_[s[:, 1], s[:, 2], s[:, 0]], n)


def lattice(nrows: int, ncols: int, keep: np.ndarray | None = None) -> sparse.csr_matrix:
    """Planar grid graph; ``keep`` (bool per edge) deletes edges where False."""
    idx = np.arange(nrows * ncols).reshape(nrows, ncols)
    rows = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    cols = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
    if keep is not None:
        rows, cols = rows[keep], cols[keep]
    return _sym(rows, cols, nrows * ncols)


def n_edges(nrows: int, ncols: int) -> int:
    return nrows * (ncols - 1) + (nrows - 1) * ncols


@st.composite
def graphs(draw):
    """A random small planar graph with integer weights 0–60 and a band."""
    if draw(st.booleans()):
        n = draw(st.integers(min_value=4, max_value=50))
        adj = delaunay_graph(n, draw(st.integers(min_value=0, max_value=2**32 - 1)))
    else:
        nrows = draw(st.integers(min_value=1, max_value=8))
        ncols = draw(st.integers(min_value=2, max_value=8))
        m = n_edges(nrows, ncols)
        keep = np.array(draw(st.lists(st.booleans(), min_size=m, max_size=m)))
        keep |= np.array(draw(st.lists(st.booleans(), min_size=m, max_size=m)))  # 75 % kept
        adj = lattice(nrows, ncols, keep)
        n = nrows * ncols
    weights = np.array(draw(st.lists(st.integers(0, 60), min_size=n, max_size=n)), dtype=float)
    target = draw(st.integers(min_value=100, max_value=300))
    tolerance = draw(st.floats(min_value=0.1, max_value=0.3))
    return weights, adj, Band.around(target, tolerance)


def components(adj: sparse.spmatrix) -> np.ndarray:
    return csgraph.connected_components(adj, directed=False)[1]


def assert_parts_connected(labels: np.ndarray, adj: sparse.csr_matrix) -> None:
    for lab in np.unique(labels):
        nodes = np.flatnonzero(labels == lab)
        n_comp, _ = csgraph.connected_components(adj[nodes][:, nodes], directed=False)
        assert n_comp == 1, f"part {lab} ({len(nodes)} nodes) is in {n_comp} pieces"


def in_band(x, band: Band, eps: float = 1e-9):
    return (x >= band.lower - eps) & (x <= band.upper + eps)


# --------------------------------------------------------------------- core properties


@settings(max_examples=150, deadline=None)
@given(g=graphs(), seed=st.integers(0, 2**31 - 1))
def test_every_node_labelled_in_connected_parts(g, seed):
    weights, adj, band = g
    labels = partition_graph(weights, adj, band=band, random_state=seed)
    assert labels.shape == weights.shape
    assert labels.dtype == np.int64
    assert (labels >= 0).all()
    # labels are 0…k−1, numbered in order of first node
    _, first = np.unique(labels, return_index=True)
    assert np.unique(labels).tolist() == list(range(len(first)))
    assert (np.diff(first) > 0).all()
    assert_parts_connected(labels, adj)
    # weights are conserved, and no part spans two components
    assert np.bincount(labels, weights=weights).sum() == weights.sum()
    comp = components(adj)
    for lab in np.unique(labels):
        assert len(np.unique(comp[labels == lab])) == 1


@settings(max_examples=100, deadline=None)
@given(g=graphs(), n_groups=st.integers(1, 4), data=st.data())
def test_parts_never_mix_groups(g, n_groups, data):
    weights, adj, band = g
    n = len(weights)
    groups = np.array(data.draw(st.lists(st.integers(0, n_groups - 1), min_size=n, max_size=n)))
    labels = partition_graph(weights, adj, band=band, groups=groups, random_state=1)
    for lab in np.unique(labels):
        assert len(np.unique(groups[labels == lab])) == 1
    assert_parts_connected(labels, adj)


def test_groups_can_be_strings():
    adj = lattice(1, 6)
    groups = np.array(["a", "a", "a", "b", "b", "b"])
    labels = partition_graph(np.full(6, 100.0), adj, band=Band.around(200, 0.1), groups=groups)
    assert len(set(labels[:3]) & set(labels[3:])) == 0


@settings(max_examples=60, deadline=None)
@given(g=graphs(), seed=st.integers(0, 2**31 - 1))
def test_same_seed_same_labels(g, seed):
    weights, adj, band = g
    a = partition_graph(weights, adj, band=band, random_state=seed)
    b = partition_graph(weights.copy(), adj.copy(), band=band, random_state=seed)
    np.testing.assert_array_equal(a, b)
    c = partition_graph(weights, adj, band=band, random_state=np.random.default_rng(seed))
    np.testing.assert_array_equal(a, c)


def test_the_seed_is_used():
    rng = np.random.default_rng(0)
    adj = lattice(20, 20)
    weights = rng.integers(0, 10, 400).astype(float)
    band = Band.around(150, 0.1)
    runs = {tuple(partition_graph(weights, adj, band=band, random_state=s)) for s in range(5)}
    assert len(runs) > 1


def test_default_seed_is_fixed():
    adj = lattice(10, 10)
    weights = np.random.default_rng(3).integers(0, 10, 100).astype(float)
    band = Band.around(100, 0.1)
    a = partition_graph(weights, adj, band=band)
    np.testing.assert_array_equal(a, partition_graph(weights, adj, band=band))
    np.testing.assert_array_equal(a, partition_graph(weights, adj, band=band, random_state=0))


# ----------------------------------------------------------------------------- balance


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("target", "tolerance"), [(300, 0.1), (200, 0.1), (100, 0.2)])
def test_light_nodes_give_parts_in_band(seed, target, tolerance):
    # 60 × 60 lattice, weights 0–9 ≤ lower / 3; measured: 100 % of parts in band for
    # every seed and band here, asserted with a margin
    rng = np.random.default_rng(seed)
    weights = rng.integers(0, 10, 3600).astype(float)
    band = Band.around(target, tolerance)
    assert weights.max() <= band.lower / 3
    labels = partition_graph(weights, lattice(60, 60), band=band, random_state=seed)
    part = np.bincount(labels, weights=weights)
    assert in_band(part, band).mean() >= 0.95


def test_light_nodes_small_lattices_reach_the_band():
    # 150 random lattices of 3–15 × 3–15 nodes weighing 0…lower/3, whose weight allows
    # parts in band; a single small graph may get only 1 part in 3 in band, so the share
    # is measured over all parts: 98.8–99.5 % for five master seeds, asserted with margin
    rng = np.random.default_rng(0)
    n_in = n_parts = 0
    done = 0
    while done < 150:
        nrows, ncols = rng.integers(3, 16, 2)
        band = Band.around(int(rng.integers(100, 301)), rng.uniform(0.1, 0.3))
        weights = rng.integers(0, int(band.lower // 3) + 1, nrows * ncols).astype(float)
        if not in_band(weights.sum() / band.parts_for(weights.sum()), band):
            continue
        labels = partition_graph(weights, lattice(nrows, ncols), band=band, random_state=done)
        ok = in_band(np.bincount(labels, weights=weights), band)
        n_in += int(ok.sum())
        n_parts += len(ok)
        done += 1
    assert n_in / n_parts >= 0.97


def test_path_of_equal_nodes_splits_evenly():
    adj = lattice(1, 6)
    labels = partition_graph(np.full(6, 100), adj, band=Band.around(200, 0.1))
    assert labels.tolist() == [0, 0, 1, 1, 2, 2]


# ----------------------------------------------------------------------- special nodes


@settings(max_examples=150, deadline=None)
@given(g=graphs(), where=st.floats(0, 1, exclude_max=True), extra=st.integers(1, 400))
@example(g=(np.array([0.0, 1.0]), lattice(1, 2), Band.around(100, 0.25)), where=0.0, extra=1)
def test_heavy_node_keeps_no_grid_worth_of_company(g, where, extra):
    """A node over the upper bound is indivisible: its part is out of band whatever we do.

    It may keep light neighbours that could not make a part in band on their own (a part
    of 10 households is no better than 10 households too many), but never a grid's worth.
    """
    weights, adj, band = g
    weights = weights.copy()
    heavy = int(where * len(weights))
    weights[heavy] = math.floor(band.upper) + extra
    labels = partition_graph(weights, adj, band=band, random_state=0)
    mates = np.flatnonzero(labels == labels[heavy])
    others = weights[mates[mates != heavy]].sum()
    assert others < band.lower, (
        f"heavy node {weights[heavy]:g} (band {band.lower:g}–{band.upper:g}) shares its "
        f"part with {others:g} of other weight"
    )


@pytest.mark.parametrize(
    ("weights", "alone"),
    [
        ([120.0, 10.0], False),  # 10 alone would be 80 short: kept with the heavy node
        ([14.0, 120.0, 26.0], False),
        ([100.0, 120.0, 100.0], True),  # each light node is a part in band of its own
    ],
)
def test_heavy_node_on_a_path(weights, alone):
    weights = np.array(weights)
    heavy = int(np.argmax(weights))
    labels = partition_graph(weights, lattice(1, len(weights)), band=Band.around(100, 0.1))
    mates = labels == labels[heavy]
    assert (mates.sum() == 1) == alone, labels.tolist()
    assert weights[mates].sum() - weights[heavy] < 90


def test_heavy_node_with_zero_weight_neighbours():
    adj = lattice(1, 5)
    labels = partition_graph(np.array([0, 0, 500, 0, 0.0]), adj, band=Band.around(100, 0.1))
    assert len(np.unique(labels)) == 1


@settings(max_examples=40, deadline=None)
@given(g=graphs())
def test_zero_weight_component_is_one_part(g):
    weights, adj, band = g
    zero = np.zeros_like(weights)
    comp = components(adj)
    labels = partition_graph(zero, adj, band=band, random_state=0)
    assert len(np.unique(labels)) == len(np.unique(comp))
    for c in np.unique(comp):
        assert len(np.unique(labels[comp == c])) == 1


def test_disconnected_components_are_partitioned_separately():
    # three lattices side by side in one matrix: 6 × 6 of 10 each (360: 3 parts of 120),
    # 4 × 4 of zero, 5 × 5 of 8 each (200: 2 parts of 100)
    blocks = [lattice(6, 6), lattice(4, 4), lattice(5, 5)]
    adj = sparse.block_diag(blocks, format="csr")
    weights = np.r_[np.full(36, 10.0), np.zeros(16), np.full(25, 8.0)]
    comp = np.repeat([0, 1, 2], [36, 16, 25])
    band = Band.around(110, 0.2)
    labels = partition_graph(weights, adj, band=band, random_state=4)
    for lab in np.unique(labels):
        assert len(np.unique(comp[labels == lab])) == 1
    assert len(np.unique(labels[comp == 0])) == band.parts_for(360) == 3
    assert len(np.unique(labels[comp == 1])) == 1
    assert len(np.unique(labels[comp == 2])) == band.parts_for(200) == 2
    assert in_band(np.bincount(labels, weights=weights)[np.unique(labels[comp != 1])], band).all()
    assert_parts_connected(labels, adj)


def test_isolated_nodes_are_parts_of_their_own():
    adj = sparse.csr_matrix((4, 4))
    labels = partition_graph(np.array([5.0, 0.0, 400.0, 100.0]), adj, band=Band.around(100, 0.1))
    assert labels.tolist() == [0, 1, 2, 3]


def test_empty_graph():
    labels = partition_graph(np.array([]), sparse.csr_matrix((0, 0)), band=Band.around(100, 0.1))
    assert labels.tolist() == []


def test_adjacency_is_symmetrised_and_self_loops_ignored():
    upper = sparse.csr_matrix(np.triu(np.ones((4, 4))))  # one direction, with a diagonal
    labels = partition_graph(np.full(4, 100.0), upper, band=Band.around(200, 0.1))
    assert sorted(np.bincount(labels).tolist()) == [2, 2]


# -------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("weights", "adj", "match"),
    [
        (np.full(3, 1.0), sparse.eye(4, format="csr"), "adjacency is"),
        (np.full(4, 1.0), sparse.csr_matrix((4, 3)), "adjacency is"),
        (np.array([1.0, -1.0, 2.0]), sparse.eye(3, format="csr"), "non-negative"),
        (np.array([1.0, np.nan, 2.0]), sparse.eye(3, format="csr"), "finite"),
        (np.array([1.0, np.inf, 2.0]), sparse.eye(3, format="csr"), "finite"),
    ],
)
def test_bad_inputs_raise_input_error(weights, adj, match):
    with pytest.raises(gridgeo.InputError, match=match):
        partition_graph(weights, adj, band=Band.around(100, 0.1))


@pytest.mark.parametrize("n_groups", [2, 6])
def test_groups_of_the_wrong_length_raise_input_error(n_groups):
    # 4 nodes, groups for 2 (IndexError today) or 6 (silently accepted today)
    adj = lattice(1, 4)
    with pytest.raises(gridgeo.InputError):
        partition_graph(
            np.full(4, 100.0),
            adj,
            band=Band.around(200, 0.1),
            groups=np.zeros(n_groups, dtype=int),
        )


# --------------------------------------------------------------------------------- Band


def test_band_around():
    band = Band.around(300, 0.1)
    assert band == Band(300.0, 270.0, 330.0)
    assert isinstance(band.target, float)
    band = Band.around(150, 0.2)
    assert (band.lower, band.upper) == pytest.approx((120.0, 180.0))


@settings(max_examples=300, deadline=None)
@given(
    weight=st.one_of(st.integers(0, 100_000), st.floats(0, 100_000)),
    target=st.integers(50, 500),
    tolerance=st.floats(0.01, 0.5),
)
def test_band_parts_for_finds_a_count_in_band(weight, target, tolerance):
    band = Band.around(target, tolerance)
    k = band.parts_for(weight)
    assert isinstance(k, int)
    assert k >= 1
    feasible = [
        j
        for j in range(1, math.ceil(weight / band.lower) + 2)
        if band.lower * (1 - 1e-12) <= weight / j <= band.upper * (1 + 1e-12)
    ]
    if feasible:
        assert k in feasible
        # and the one nearest the target's count among them
        best = min(feasible, key=lambda j: abs(j - weight / target))
        assert abs(k - weight / target) <= abs(best - weight / target) + 0.5
    else:
        assert k == max(1, round(weight / target))


def test_band_parts_for_examples():
    band = Band.around(300, 0.1)
    assert band.parts_for(0) == 1
    assert band.parts_for(100) == 1
    assert band.parts_for(300) == 1
    assert band.parts_for(330) == 1
    assert band.parts_for(540) == 2
    assert band.parts_for(3000) == 10
    assert band.parts_for(400) == 1  # 400 fits no count: the nearest, 1


def test_rebalance_exchanges_lumps_when_no_single_move_helps():
    # a 2 × 2 grid of towers: parts {0, 1} = 340 and {2, 3} = 280 for a band of 270–330;
    # moving any one tower makes things worse, exchanging towers 1 and 2 fixes both
    adj = sparse.csr_matrix(
        (np.ones(8), ([0, 1, 0, 2, 1, 3, 2, 3], [1, 0, 2, 0, 3, 1, 3, 2])), shape=(4, 4)
    )
    w = np.array([200.0, 140.0, 130.0, 150.0])
    out = gridgeo.engine.rebalance(np.array([0, 0, 1, 1]), w, adj, band=Band.around(300, 0.1))
    assert out[0] == out[2] != out[1] == out[3]  # {0, 2} = 330 and {1, 3} = 290
