"""``partition_graph``: the whole engine on arrays — bisection, then local repair."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from .._errors import InputError
from .refine import heaviest, off_band, polsby_popper, rebalance, recom, recombine, smooth
from .tree import Band, check_graph, split_parts, within_groups

__all__ = ["partition_graph"]


def partition_graph(
    weights: np.ndarray,
    adjacency: sparse.spmatrix,
    *,
    band: Band,
    groups: np.ndarray | None = None,
    random_state: int | np.random.Generator | None = 0,
    attempts: int = 8,
    refine: bool = True,
    whole: np.ndarray | None = None,
    blocks: np.ndarray | None = None,
    retries: int = 4,
    area: np.ndarray | None = None,
    perimeter: np.ndarray | None = None,
) -> np.ndarray:
    """Label nodes so that each label is connected with a weight inside ``band``.

    Parameters
    ----------
    weights : ndarray
        Non-negative weight of each node (households).
    adjacency : sparse matrix
        Symmetric n × n adjacency (non-zero = the two nodes share a boundary; the value,
        e.g. the shared length, guides the local repair toward compact parts).
    band : Band
        Target and accepted range of a part's weight.
    groups : ndarray, optional
        A group per node (community): parts never mix groups.
    random_state : int or numpy Generator, default 0
        Seed of the random spanning trees; same input and seed, same labels.
    attempts : int, default 8
        Spanning trees drawn per split before settling for the most balanced cut (the
        repair afterwards makes more attempts cheaper than they are worth).
    whole : ndarray of bool, optional
        Nodes whose connected group becomes exactly one part whatever its weight
        (dedicated grids, villages under the rural rule). Give such nodes a group of
        their own so that they are not joined to other nodes.
    blocks : ndarray, optional
        Block of each node. When given, cuts between blocks (along streets) are
        preferred, and boundaries that still cut through blocks are slid toward streets
        (:func:`~gridgeo.engine.refine.smooth`).
    refine : bool, default True
        Afterwards, repair parts that are out of band: redraw each together with its
        neighbours (:func:`~gridgeo.engine.refine.recombine`), then move single boundary
        nodes between neighbours (:func:`~gridgeo.engine.refine.rebalance`); with
        ``area``, redraw regions of neighbouring parts for compactness
        (:func:`~gridgeo.engine.refine.recom`); last, shorten the boundaries
        (:func:`~gridgeo.engine.refine.smooth`).
    retries : int, default 4
        A component of at most :data:`SMALL` parts (a community of a few dozen grids)
        that still has a part out of band is drawn again this many times with new
        trees, and so are all such components (with ``area``) when that costs at most
        :data:`BUDGET` node drawings (then as many more times, up to eight times as
        many, as that budget allows); per component, the most balanced drawing, then
        the most compact (the shortest boundaries without ``area``), is kept. Large
        components are only repaired locally.
    area, perimeter : ndarray, optional
        Area and perimeter of each node. When given, pairs of neighbouring parts are
        redrawn where that makes them more compact (:func:`~gridgeo.engine.refine.recom`,
        :data:`RECOM_WORK`), and the drawings of small components are compared by
        their mean Polsby–Popper.

    Returns
    -------
    ndarray of int64
        Part label of each node, 0…k−1, numbered in order of first node.

    Examples
    --------
    A path of six nodes of 100 households split into parts of about 200:

    >>> from scipy import sparse
    >>> adj = sparse.diags([1.0, 1.0], [-1, 1], shape=(6, 6))
    >>> partition_graph(np.full(6, 100), adj, band=Band.around(200, 0.1)).tolist()
    [0, 0, 1, 1, 2, 2]
    """
    weights = np.asarray(weights, dtype=float)
    adj = check_graph(weights, adjacency)
    rng = np.random.default_rng(random_state)
    n = len(weights)
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (n,):
            msg = f"groups has {len(groups)} entries but there are {n} weights: give one group per node"
            raise InputError(msg)
        adj = within_groups(adj, groups)
    if whole is not None:
        whole = np.asarray(whole, dtype=bool)
        if whole.shape != (n,):
            msg = f"whole has {len(whole)} entries but there are {n} weights"
            raise InputError(msg)
    shape = _shape(area, perimeter, n)
    n_comp, comp = csgraph.connected_components(adj, directed=False)
    order = np.argsort(comp, kind="stable")
    bounds = np.searchsorted(comp[order], np.arange(n_comp + 1))
    parts = []
    for c in range(n_comp):
        nodes = order[bounds[c] : bounds[c + 1]]
        k = 1 if whole is not None and whole[nodes].any() else band.parts_for(weights[nodes].sum())
        parts.append((nodes, k))
    # every component at once: the bisection runs level by level over all of them
    labels = split_parts(adj, weights, parts, band=band, rng=rng, attempts=attempts, blocks=blocks)
    if refine:
        labels = recombine(labels, weights, adj, band=band, rng=rng, blocks=blocks)
        labels = rebalance(labels, weights, adj, band=band)
        # the few parts still far out of band (more than half the band's width beyond
        # it, e.g. beyond ±25 % for ±10 %): redraw them with wider neighbourhoods
        far = 1.5 * (band.upper - band.target)
        if (off_band(np.bincount(labels, weights=weights), band) > far).any():
            labels = recombine(
                labels,
                weights,
                adj,
                band=band,
                rng=rng,
                blocks=blocks,
                max_rings=6,
                attempts=40,
                beyond=far,
            )
            labels = rebalance(labels, weights, adj, band=band)
        if shape is not None and n:
            # boundaries first shortened, so that the redrawn regions start compact
            labels = smooth(labels, weights, adj, blocks, band=band)
            rounds = int(np.clip(RECOM_WORK // n, 4, 32))
            labels = recom(
                labels, weights, adj, *shape, band=band, rng=rng, blocks=blocks, rounds=rounds
            )
        labels = smooth(labels, weights, adj, blocks, band=band)
        if retries and n:
            kept = np.zeros(n, dtype=bool) if whole is None else whole
            labels = _retry_small(
                labels,
                weights,
                adj,
                comp,
                kept,
                band=band,
                rng=rng,
                blocks=blocks,
                tries=retries,
                shape=shape,
            )
    # renumber by first occurrence: stable, readable ids
    _, first = np.unique(labels, return_index=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[np.searchsorted(np.unique(labels), labels)]


def _shape(area, perimeter, n: int):
    """Checked (area, perimeter) arrays, or None when not both are given."""
    if area is None or perimeter is None:
        return None
    shape = tuple(np.asarray(x, dtype=float) for x in (area, perimeter))
    for name, x in zip(("area", "perimeter"), shape, strict=True):
        if x.shape != (n,) or (n and (not np.isfinite(x).all() or x.min() < 0)):
            msg = f"{name} must hold one finite, non-negative value per node ({n})"
            raise InputError(msg)
    return shape


#: Node rounds of :func:`~gridgeo.engine.refine.recom` per call: a graph of n nodes
#: gets ``RECOM_WORK // n`` rounds, at least 4 and at most 32.
RECOM_WORK = 1_000_000

#: Components of at most this many parts are drawn several times (see ``retries``).
SMALL = 32
#: Small components are all drawn again (for compactness) when that costs at most this
#: many node drawings in all; otherwise only those with a part out of band are.
BUDGET = 20_000


def _drawing_scores(labels, weights, edges, comp_of, shape, band):
    """Per component: distance from the band of the parts that can be in it, and fit.

    The fit is the mean plus the 10th percentile of the parts' Polsby–Popper with
    ``shape`` (the two figures a plan's compactness is reported by), else minus the
    boundary length.

    ``labels`` of the nodes, ``edges`` (upper triangle, values the shared lengths),
    ``comp_of`` the component of each node (0…m−1).
    """
    _, lab = np.unique(labels, return_inverse=True)
    n_parts = int(lab.max()) + 1
    load = np.bincount(lab, weights=weights, minlength=n_parts)
    top = heaviest(lab, weights, n_parts)
    part_comp = np.zeros(n_parts, dtype=np.int64)
    part_comp[lab] = comp_of
    m = int(comp_of.max()) + 1
    off = np.bincount(
        part_comp, weights=np.where(top <= band.upper, off_band(load, band), 0), minlength=m
    )
    if shape is None:
        inner = lab[edges.row] == lab[edges.col]
        cut = np.bincount(comp_of[edges.row[~inner]], weights=edges.data[~inner], minlength=m)
        return off, -cut
    pp = polsby_popper(lab, *shape, edges, n_parts)
    count = np.bincount(part_comp, minlength=m)
    mean = np.bincount(part_comp, weights=pp, minlength=m) / np.maximum(count, 1)
    # the 10th percentile (lower value) of each component's parts
    o = np.lexsort((pp, part_comp))
    start = np.searchsorted(part_comp[o], np.arange(m))
    p10 = pp[o][start + np.floor(0.1 * np.maximum(count - 1, 0)).astype(np.int64)]
    return off, mean + p10


def _retry_small(labels, weights, adj, comp, whole, *, band, rng, blocks, tries: int, shape=None):
    """Draw small components again and keep, per component, the best drawing.

    Redrawn are the small components with a part out of band (that is not a single
    node over the band), and, with ``shape``, all small ones when they total at most
    ``BUDGET // tries`` nodes; with ``shape``, they are drawn as many times as
    ``BUDGET`` node drawings allow, at least ``tries`` and at most ``8 * tries`` times.
    Best is: least distance from the band (of the parts that can be in it), then the
    highest mean plus 10th percentile of Polsby–Popper (with ``shape``; else the
    shortest boundary).
    The components are drawn together, so each drawing costs about what the first one
    did for them. Components kept whole (dedicated zones, villages) are left as they are.
    """
    labels = labels.copy()
    n_comp = int(comp.max()) + 1 if len(comp) else 0
    pairs = np.unique(comp * (int(labels.max()) + 1) + labels)
    n_parts = np.bincount(pairs // (int(labels.max()) + 1), minlength=n_comp)
    small = (n_parts > 1) & (n_parts <= SMALL)
    small[comp[whole]] = False
    if shape is None or np.bincount(comp, minlength=n_comp)[small].sum() * tries > BUDGET:
        heavy = heaviest(labels, weights, int(labels.max()) + 1)
        W = np.bincount(labels, weights=weights)
        bad = (off_band(W, band) > 1e-9) & (heavy <= band.upper)
        comp_bad = np.zeros(n_comp, dtype=bool)
        np.logical_or.at(comp_bad, comp, bad[labels])
        small &= comp_bad
    nodes = np.flatnonzero(small[comp])
    if not len(nodes) or tries < 1:
        return labels
    if shape is not None:  # as many drawings as the budget allows, up to 8 × tries
        tries = int(np.clip(BUDGET // len(nodes), tries, 8 * tries))
    _, comp_of = np.unique(comp[nodes], return_inverse=True)
    sub = adj[nodes][:, nodes]
    w, edges = weights[nodes], sparse.triu(sub, k=1).tocoo()
    sub_shape = None if shape is None else (shape[0][nodes], shape[1][nodes])
    sub_blocks = None if blocks is None else blocks[nodes]
    best = labels[nodes]
    best_off, best_fit = _drawing_scores(best, w, edges, comp_of, sub_shape, band)
    next_id = int(labels.max()) + 1
    for _ in range(tries):
        local = partition_graph(
            w,
            sub,
            band=band,
            random_state=rng,
            blocks=sub_blocks,
            retries=0,
            area=None if sub_shape is None else sub_shape[0],
            perimeter=None if sub_shape is None else sub_shape[1],
        )
        off, fit = _drawing_scores(local, w, edges, comp_of, sub_shape, band)
        better = (off < best_off - 1e-9) | ((off <= best_off + 1e-9) & (fit > best_fit + 1e-12))
        take = better[comp_of]
        best = np.where(take, local + next_id, best)
        next_id += int(local.max()) + 1
        best_off = np.where(better, off, best_off)
        best_fit = np.where(better, fit, best_fit)
    labels[nodes] = best
    return labels
