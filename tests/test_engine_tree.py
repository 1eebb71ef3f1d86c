"""Tests of the bisection internals: the compiled tree sums, shortest cuts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.sparse import csgraph

from gridgeo.engine import _kernels as K
from gridgeo.engine.tree import Band, split_component, split_parts
from tests.test_partition_core import lattice as _grid


def _forest_and_sums(n: int, eu, ev, cost, w):
    """The compiled spanning forest of the graph and the sums over its subtrees."""
    i64 = np.int64
    eu, ev = np.array(eu, dtype=i64), np.array(ev, dtype=i64)
    cost = np.array(cost, dtype=float)
    m = len(eu)
    ptr, nbr, ncost = np.zeros(n + 1, i64), np.empty(2 * m, i64), np.empty(2 * m)
    degcost, uf, rank = np.empty(n), np.empty(n, i64), np.empty(n, np.int8)
    intree, tptr, tadj = np.empty(m, bool), np.zeros(n + 1, i64), np.empty(2 * n, i64)
    parent, pre, it = np.empty(n, i64), np.empty(n, i64), np.empty(n, i64)
    state, size, wsub, csub = np.empty(n, np.int8), np.empty(n, i64), np.empty(n), np.empty(n)
    K._part_graph(eu, ev, cost, 0, m, 0, n, ptr, nbr, ncost, degcost, it)
    K._random_forest(eu, ev, 0, m, 0, n, uf, rank, intree, tptr, tadj)
    K._tree_sums(
        0, n, np.asarray(w, float), degcost, ptr, nbr, ncost, tptr, tadj,
        uf, parent, pre, it, state, size, wsub, csub,
    )  # fmt: skip
    return intree, parent, pre, size, wsub, csub


@settings(max_examples=60, deadline=None)
@given(n=st.integers(min_value=1, max_value=40), seed=st.integers(0, 2**32 - 1))
def test_subtree_sums_match_a_walk_up_the_tree(n, seed):
    # a random graph (possibly in several pieces) with random edge costs and weights
    rng = np.random.default_rng(seed)
    pairs = sorted({(min(a, b), max(a, b)) for a, b in rng.integers(0, n, (2 * n, 2)) if a != b})
    eu, ev = [a for a, _ in pairs], [b for _, b in pairs]
    cost, w = rng.random(len(pairs)), rng.random(n)
    intree, parent, pre, size, wsub, csub = _forest_and_sums(n, eu, ev, cost, w)
    # the tree edges span each piece of the graph, and the parents are the tree edges
    graph = sparse.csr_matrix((np.ones(len(pairs)), (eu, ev)), shape=(n, n))
    n_pieces = csgraph.connected_components(graph, directed=False)[0]
    assert intree.sum() == n - n_pieces == (parent >= 0).sum()
    in_tree = {p for p, t in zip(pairs, intree, strict=True) if t}
    assert {(min(v, p), max(v, p)) for v, p in enumerate(parent) if p >= 0} == in_tree
    assert sorted(pre) == list(range(n))

    def ancestors(v):
        path = [v]
        while parent[path[-1]] >= 0:
            path.append(int(parent[path[-1]]))
        return path

    pos = np.empty(n, dtype=np.int64)
    pos[pre] = np.arange(n)
    for v in range(n):
        below = [u for u in range(n) if v in ancestors(u)]
        # the subtree is the block of preorder positions pos[v] … pos[v] + size[v] - 1
        assert sorted(pos[below]) == list(range(pos[v], pos[v] + size[v]))
        assert wsub[v] == pytest.approx(w[below].sum())
        # the cost of cutting it off: the edges with exactly one end below v
        one_end = np.isin(eu, below) != np.isin(ev, below)
        assert csub[v] == pytest.approx(cost[one_end].sum(), abs=1e-9)


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


def test_edge_shuffle_draws_every_order_alike():
    # the compiled Fisher–Yates shuffle with its own generator: the 6 orders of 3 edges
    # come out about equally often (6000 draws: 1000 ± 4 standard deviations)
    bits = np.array([12345], dtype=np.uint64)
    eu, ev, cost = np.arange(3), np.arange(3), np.arange(3.0)
    seen = {}
    for _ in range(6000):
        K._shuffle(eu, ev, cost, 0, 3, bits)
        seen[tuple(eu)] = seen.get(tuple(eu), 0) + 1
    assert len(seen) == 6
    assert all(abs(c - 1000) < 4 * np.sqrt(1000 * 5 / 6) for c in seen.values()), seen
    assert (ev == eu).all() and (cost == eu).all()  # the three arrays move together
