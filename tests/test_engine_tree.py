"""Tests of the bisection internals: tree sums by preorder range minima, shortest cuts."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.sparse import csgraph

from gridgeo.engine.tree import Band, _preorder_tools, split_component, split_parts
from tests.test_partition_core import lattice as _grid


def _random_tree(n: int, seed: int):
    """A random rooted tree on n nodes in depth-first preorder: (order, parent, pos)."""
    rng = np.random.default_rng(seed)
    parent_of = np.r_[0, [rng.integers(0, i) for i in range(1, n)]]
    rows, cols = np.arange(1, n), parent_of[1:]
    graph = sparse.csr_matrix((np.ones(n - 1), (rows, cols)), shape=(n, n))
    order, parent = csgraph.depth_first_order(graph, 0, directed=False, return_predecessors=True)
    parent = parent.astype(np.int64)
    parent[0] = 0
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    return order, parent, pos


def _ancestors(v: int, parent: np.ndarray) -> list[int]:
    path = [v]
    while path[-1] != 0:
        path.append(int(parent[path[-1]]))
    return path


@settings(max_examples=60, deadline=None)
@given(n=st.integers(min_value=1, max_value=60), seed=st.integers(0, 2**32 - 1))
def test_subtree_ends_and_lca_match_a_walk_up_the_tree(n, seed):
    order, parent, pos = _random_tree(n, seed)
    ends, lca_of = _preorder_tools(order, parent, pos)
    for v in range(n):
        below = [u for u in range(n) if v in _ancestors(u, parent)]
        # the subtree is the block of preorder positions pos[v] … ends[pos[v]] - 1
        assert sorted(pos[below]) == list(range(pos[v], ends[pos[v]]))
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n, 40), rng.integers(0, n, 40)
    got = order[lca_of(pos[a], pos[b])]
    for x, y, z in zip(a, b, got, strict=True):
        up = _ancestors(int(x), parent)
        common = next(u for u in _ancestors(int(y), parent) if u in up)
        assert z == common


def _boundary(adj: sparse.csr_matrix, labels: np.ndarray) -> int:
    coo = sparse.triu(adj, k=1).tocoo()
    return int((labels[coo.row] != labels[coo.col]).sum())


def test_halves_of_a_square_are_cut_along_a_short_line():
    # 24 × 24 unit squares of weight 1 in two halves of 288: a straight cut is 24 edges
    # long; cutting a random edge of one random tree among the balanced ones gives
    # boundaries of 60–100 edges
    adj = _grid(24, 24)
    lengths = []
    for seed in range(5):
        labels = split_component(
            adj, np.ones(576), 2, band=Band.around(288, 0.1), rng=np.random.default_rng(seed)
        )
        assert np.bincount(labels).tolist() != [576]
        assert all(259 <= c <= 317 for c in np.bincount(labels))
        lengths.append(_boundary(adj, labels))
    assert np.median(lengths) <= 48, lengths


def test_shortest_cut_beats_a_single_random_tree():
    adj = _grid(30, 30)
    w = np.ones(900)
    band = Band.around(100, 0.1)

    def total(trees):
        return sum(
            _boundary(
                adj,
                split_component(
                    adj, w, 9, band=band, rng=np.random.default_rng(s), attempts=8, trees=trees
                ),
            )
            for s in range(4)
        )

    assert total(3) < total(1)


def test_split_parts_keeps_parts_apart_and_connected():
    # two halves of a 12 × 12 grid, split together: 720 → 3 parts, 480 → 2 parts
    adj = _grid(12, 12)
    nodes_a = np.arange(72)  # rows 0-5
    nodes_b = np.arange(72, 144)  # rows 6-11
    w = np.r_[np.full(72, 10.0), np.full(72, 480 / 72)]
    band = Band.around(240, 0.1)
    labels = split_parts(
        adj, w, [(nodes_a, 3), (nodes_b, 2)], band=band, rng=np.random.default_rng(1)
    )
    assert not set(labels[nodes_a]) & set(labels[nodes_b])
    assert len(set(labels[nodes_a])) == 3 and len(set(labels[nodes_b])) == 2
    for g in np.unique(labels):
        members = np.flatnonzero(labels == g)
        assert band.lower <= w[members].sum() <= band.upper
        sub = adj[members][:, members]
        assert csgraph.connected_components(sub, directed=False)[0] == 1
