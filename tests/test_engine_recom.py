"""Compactness repair of the engine: Polsby–Popper from arrays, ReCom regions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.sparse import csgraph

from gridgeo._errors import InputError
from gridgeo.engine import Band, partition_graph, polsby_popper, recom
from gridgeo.engine.refine import off_band
from tests.test_partition_core import lattice as squares  # unit squares: shared length 1


def pp_of(labels, adj):
    n = len(labels)
    edges = sparse.triu(adj, k=1).tocoo()
    return polsby_popper(labels, np.ones(n), np.full(n, 4.0), edges, int(labels.max()) + 1)


def test_polsby_popper_of_squares_and_strips():
    adj = squares(2, 4)
    # two 2 × 2 squares: 4π·4 / 8² = π/4 each; one 2 × 4 strip: 4π·8 / 12²
    np.testing.assert_allclose(pp_of(np.array([0, 0, 1, 1] * 2), adj), [math.pi / 4] * 2)
    np.testing.assert_allclose(pp_of(np.zeros(8, dtype=int), adj), [4 * math.pi * 8 / 144])
    # an empty part scores 0
    edges = sparse.triu(adj, k=1).tocoo()
    out = polsby_popper(np.zeros(8, dtype=int), np.ones(8), np.full(8, 4.0), edges, 2)
    assert out[1] == 0


def test_recom_turns_strips_into_squares():
    # an 8 × 8 lattice of one-household squares cut into four 2 × 8 strips (PP 0.50):
    # two neighbouring strips redrawn are two 4 × 4 squares (π/4 ≈ 0.785). Over twenty
    # seeds every run stays in band and gets more compact; most make two squares or more,
    # and half of them four
    adj = squares(8, 8)
    w = np.ones(64)
    strips = np.repeat(np.arange(4), 16)
    band = Band.around(16, 0.1)
    before = pp_of(strips, adj)
    gains, two, four = [], 0, 0
    for seed in range(20):
        out = recom(
            strips,
            w,
            adj,
            np.ones(64),
            np.full(64, 4.0),
            band=band,
            rng=np.random.default_rng(seed),
        )
        after = pp_of(out, adj)
        assert (off_band(np.bincount(out, weights=w), band) == 0).all()
        gains.append(after.mean() - before.mean())
        square = int(np.isclose(after, math.pi / 4).sum())
        two += square >= 2
        four += square == 4
    assert min(gains) > 0.1 and np.median(gains) > 0.2, gains
    assert two >= 15 and four >= 10, (two, four)


@settings(max_examples=60, deadline=None)
@given(
    nrows=st.integers(2, 9),
    ncols=st.integers(2, 9),
    data=st.data(),
    seed=st.integers(0, 2**31 - 1),
)
def test_recom_keeps_parts_connected_balanced_and_more_compact(nrows, ncols, data, seed):
    n = nrows * ncols
    adj = squares(nrows, ncols)
    w = np.array(data.draw(st.lists(st.integers(0, 40), min_size=n, max_size=n)), dtype=float)
    band = Band.around(max(20.0, w.sum() / 4), 0.2)
    labels = partition_graph(w, adj, band=band, random_state=seed, retries=0)
    out = recom(
        labels, w, adj, np.ones(n), np.full(n, 4.0), band=band, rng=np.random.default_rng(seed)
    )
    k = int(labels.max()) + 1
    assert set(np.unique(out)) == set(np.unique(labels))  # every part keeps its id
    for part in range(k):
        nodes = np.flatnonzero(out == part)
        assert csgraph.connected_components(adj[nodes][:, nodes], directed=False)[0] == 1
    # no further from the band in total, and at least as compact in total
    off_before = off_band(np.bincount(labels, weights=w, minlength=k), band).sum()
    off_after = off_band(np.bincount(out, weights=w, minlength=k), band).sum()
    assert off_after <= off_before + 1e-9
    assert pp_of(out, adj).sum() >= pp_of(labels, adj).sum() - 1e-9


def test_partition_graph_with_shapes_is_deterministic_and_more_compact():
    adj = squares(20, 20)
    w = np.random.default_rng(3).integers(0, 20, 400).astype(float)
    band = Band.around(300, 0.1)
    shape = {"area": np.ones(400), "perimeter": np.full(400, 4.0)}
    plain = partition_graph(w, adj, band=band, random_state=5)
    a = partition_graph(w, adj, band=band, random_state=5, **shape)
    b = partition_graph(w, adj, band=band, random_state=5, **shape)
    np.testing.assert_array_equal(a, b)
    assert pp_of(a, adj).mean() > pp_of(plain, adj).mean()
    loads = np.bincount(a, weights=w)
    assert off_band(loads, band).sum() <= off_band(np.bincount(plain, weights=w), band).sum()


@pytest.mark.parametrize(
    ("area", "perimeter", "match"),
    [
        (np.ones(3), np.full(4, 4.0), "area must hold one"),
        (np.ones(4), np.array([4.0, 4.0, -1.0, 4.0]), "perimeter must hold one"),
        (np.array([1.0, np.nan, 1.0, 1.0]), np.full(4, 4.0), "area must hold one"),
    ],
)
@pytest.mark.parametrize("refine", [True, False])
def test_bad_shapes_raise_input_error(area, perimeter, match, refine):
    with pytest.raises(InputError, match=match):
        partition_graph(
            np.full(4, 100.0),
            squares(2, 2),
            band=Band.around(200, 0.1),
            area=area,
            perimeter=perimeter,
            refine=refine,
        )
