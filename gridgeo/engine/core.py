"""``partition_graph``: the whole engine on arrays — bisection, then local repair."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from .._errors import InputError
from .refine import off_band, rebalance, recombine, smooth
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
        nodes between neighbours (:func:`~gridgeo.engine.refine.rebalance`).
    retries : int, default 4
        A component of at most :data:`SMALL` parts (a community of a few dozen grids)
        that still has a part out of band is drawn again this many times with new
        trees; the most balanced drawing, then the one with the shortest boundaries,
        is kept. Cheap where it applies; large components are repaired locally only.

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
        labels = smooth(labels, weights, adj, blocks, band=band)
        if retries and n:
            kept = np.zeros(n, dtype=bool) if whole is None else whole
            labels = _retry_small(
                labels, weights, adj, comp, kept, band=band, rng=rng, blocks=blocks, tries=retries
            )
    # renumber by first occurrence: stable, readable ids
    _, first = np.unique(labels, return_index=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[np.searchsorted(np.unique(labels), labels)]


#: Components of at most this many parts are drawn again when a part stays out of band.
SMALL = 32


def _retry_small(labels, weights, adj, comp, whole, *, band, rng, blocks, tries: int):
    """Redraw small components whose drawing left a part out of band (see ``retries``).

    Components kept whole (dedicated zones, villages) are left as they are.
    """
    labels = labels.copy()
    heavy = np.zeros(int(labels.max()) + 1)
    np.maximum.at(heavy, labels, weights)

    def score(lab: np.ndarray, w: np.ndarray, edges) -> tuple[float, float]:
        """Distance from the band of the parts that can be in it, then boundary length."""
        _, local = np.unique(lab, return_inverse=True)
        load = np.bincount(local, weights=w)
        top = np.zeros(len(load))
        np.maximum.at(top, local, w)
        cut = float(edges.data[local[edges.row] != local[edges.col]].sum())
        return float(off_band(load, band)[top <= band.upper].sum()), cut

    W = np.bincount(labels, weights=weights)
    bad = (off_band(W, band) > 1e-9) & (heavy <= band.upper)
    n_comp = int(comp.max()) + 1 if len(comp) else 0
    comp_bad = np.zeros(n_comp, dtype=bool)
    np.logical_or.at(comp_bad, comp, bad[labels])
    comp_bad[comp[whole]] = False
    pairs = np.unique(np.c_[comp, labels], axis=0)
    n_parts = np.bincount(pairs[:, 0], minlength=n_comp)
    next_id = int(labels.max()) + 1
    for c in np.flatnonzero(comp_bad & (n_parts <= SMALL)):
        nodes = np.flatnonzero(comp == c)
        sub = adj[nodes][:, nodes]
        w, edges = weights[nodes], sparse.triu(sub, k=1).tocoo()
        best, best_score = labels[nodes], score(labels[nodes], w, edges)
        for _ in range(tries):
            local = partition_graph(
                w,
                sub,
                band=band,
                random_state=rng,
                blocks=None if blocks is None else blocks[nodes],
                retries=0,
            )
            sc = score(local, w, edges)
            if sc < best_score:
                best, best_score = local + next_id, sc
        labels[nodes] = best
        next_id = max(next_id, int(best.max()) + 1)
    return labels
