"""Compiled recursive spanning-tree bisection (numba, cached on disk).

:func:`split_parts` splits every part in two, and each side again, until every part is
one grid. A split draws random spanning trees of the part and takes its best balanced
cut: Kruskal's algorithm over the part's edges in random order (edges inside a block
before edges across streets, so a tree is a minimum spanning tree under random keys,
as in GerryChain), one depth-first pass that also finds every edge's lowest common
ancestor (Tarjan's offline method), and sums over subtrees in reverse preorder give,
for every tree edge, the weights of both sides and the length of the boundary cutting
it would draw: linear in the part's nodes and edges. The nodes and edges of a part are
kept contiguous (each split reorders them in place, side first), so a part and its
descendants stay in the processor's cache. Randomness comes from a seed drawn from the
caller's numpy Generator: results are deterministic for a given ``random_state``.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

__all__ = ["split_parts"]

_EPS = 1e-9


@numba.njit(cache=True)
def _find(uf: np.ndarray, x: int) -> int:
    while uf[x] != x:  # path halving
        uf[x] = uf[uf[x]]
        x = uf[x]
    return x


@numba.njit(cache=True)
def _counts(x: float, want: float, target: float, lower: float, upper: float):
    """Part count nearest ``want`` that keeps weight ``x`` divisible in band, and if ok.

    One part must lie in the band; several parts must average inside the inner band
    (half as wide), which leaves room for the cuts still to come.
    """
    lo_in = target - (target - lower) / 2
    hi_in = target + (upper - target) / 2
    kmin = max(2.0, np.ceil(x / hi_in - _EPS))
    kmax = np.floor(x / lo_in + _EPS) if lo_in > 0 else np.inf
    multi = min(max(want, kmin), max(kmin, kmax))
    multi_ok = kmin <= kmax
    one_ok = (x >= lower - _EPS) and (x <= upper + _EPS)
    use_one = one_ok and ((not multi_ok) or abs(want - 1.0) <= abs(want - multi))
    return (1.0 if use_one else multi), (use_one or multi_ok)


@numba.njit(cache=True)
def _feasible(sub: float, total: float, k: int, target: float, lower: float, upper: float):
    """Part counts (ka, kb) of a side of weight ``sub`` and of the rest, and whether
    both stay divisible in band with the bisection balanced (depth logarithmic)."""
    want = min(max(np.rint(sub / max(total, 1e-300) * k), 1.0), k - 1.0)
    ka, ok_a = _counts(sub, want, target, lower, upper)
    kb, ok_b = _counts(total - sub, k - ka, target, lower, upper)
    return (ok_a and ok_b and min(ka, kb) >= max(1, k // 4)), ka, kb


@numba.njit(cache=True)
def _off_band(x: float, lower: float, upper: float) -> float:
    """How far weight ``x`` lies outside ``lower … upper`` (0 inside)."""
    return max(0.0, max(lower - x, x - upper))


@numba.njit(cache=True)
def _badness(sub: float, total: float, target: float, lower: float, upper: float):
    """Part counts and distance from the band of both sides of a cut (lower is better)."""
    rest = total - sub
    if sub <= 0 or rest <= 0:
        return 1.0, 1.0, np.inf
    ka = max(1.0, np.rint(sub / target))
    kb = max(1.0, np.rint(rest / target))
    bad = _off_band(sub / ka, lower, upper) + _off_band(rest / kb, lower, upper)
    return ka, kb, bad / target


@numba.njit(cache=True)
def _random(bits: np.ndarray) -> np.uint64:
    """The next 64 random bits of an xorshift64* generator (state: ``bits[0]``)."""
    x = bits[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    bits[0] = x
    return x * np.uint64(2685821657736338717)


@numba.njit(cache=True)
def _shuffle(eu, ev, cost, a: int, b: int, bits) -> None:
    """Shuffle the edges ``a … b − 1`` in place (Fisher–Yates)."""
    for i in range(b - 1, a, -1):
        # a uniform index below i − a + 1 from the top 32 bits (bias below 2⁻³²·n)
        j = a + np.int64(((_random(bits) >> np.uint64(32)) * np.uint64(i - a + 1)) >> np.uint64(32))
        eu[i], eu[j] = eu[j], eu[i]
        ev[i], ev[j] = ev[j], ev[i]
        cost[i], cost[j] = cost[j], cost[i]


@numba.njit(cache=True)
def _shuffle_runs(eu, ev, cost, key, a: int, b: int, bits) -> None:
    """Shuffle the edges ``a … b − 1`` within each run of equal ``key`` (their block).

    Kruskal's algorithm takes the same random forest from edges inside blocks whether
    they come block after block or mixed, as long as each block's come in random order:
    block after block, each stays in the processor's cache.
    """
    start = a
    for i in range(a + 1, b + 1):
        if i == b or key[i] != key[start]:
            _shuffle(eu, ev, cost, start, i, bits)
            start = i


@numba.njit(cache=True)
def _random_forest(eu, ev, e0, e1, n0, n1, uf, rank, intree, tptr, tadj) -> None:
    """Kruskal's algorithm over the edges ``e0 … e1 − 1`` (in that order) of the nodes
    ``n0 … n1 − 1``.

    The spanning forest is written as CSR: the tree neighbours of node ``v`` are
    ``tadj[tptr[v]:tptr[v + 1]]`` (``tptr[n0] = 2 n0``). ``uf``, ``rank``, ``intree``:
    work space (union by rank, path halving).
    """
    for v in range(n0, n1):
        uf[v] = v
        rank[v] = 0
        tptr[v + 1] = 0
    for e in range(e0, e1):
        ra, rb = _find(uf, eu[e]), _find(uf, ev[e])
        intree[e] = ra != rb
        if ra == rb:
            continue
        if rank[ra] < rank[rb]:
            uf[ra] = rb
        elif rank[ra] > rank[rb]:
            uf[rb] = ra
        else:
            uf[rb] = ra
            rank[ra] += 1
        tptr[eu[e] + 1] += 1
        tptr[ev[e] + 1] += 1
    tptr[n0] = 2 * n0
    for v in range(n0, n1):
        tptr[v + 1] += tptr[v]
        uf[v] = tptr[v]  # where v's next tree neighbour goes
    for e in range(e0, e1):
        if intree[e]:
            a, b = eu[e], ev[e]
            tadj[uf[a]] = b
            uf[a] += 1
            tadj[uf[b]] = a
            uf[b] += 1


@numba.njit(cache=True)
def _tree_sums(
    n0, n1, w, degcost, ptr, nbr, ncost, tptr, tadj,
    uf, parent, pre, it, state, size, wsub, csub,
) -> None:  # fmt: skip
    """Preorder of the forest on the nodes ``n0 … n1 − 1`` and sums over every subtree.

    A depth-first pass from the first node of each piece writes the preorder into
    ``pre[n0:n1]`` and ``parent`` (−1 at the top of a piece). On leaving a node, each
    graph edge (CSR: ``ptr``, ``nbr``, cost ``ncost``) to a node already left has its
    lowest common ancestor found (Tarjan's offline method: ``uf`` links every left node
    to its parent). Then, in reverse preorder, ``size``, ``wsub`` (weight) and ``csub``
    — the cost of the edges with exactly one end in the subtree, i.e. of the boundary
    cutting it off would draw — are summed. ``state``: 0 not reached, 1 open, 2 left;
    ``it``: work space.
    """
    for v in range(n0, n1):
        state[v] = 0
    cnt = n0
    for r in range(n0, n1):
        if state[r]:
            continue
        parent[r] = -1
        v = r
        while True:
            if state[v] == 0:  # enter v
                state[v] = 1
                pre[cnt] = v
                cnt += 1
                uf[v] = v
                size[v] = 1
                wsub[v] = w[v]
                csub[v] = degcost[v]
                it[v] = tptr[v]
            child = -1
            while it[v] < tptr[v + 1]:
                c = tadj[it[v]]
                it[v] += 1
                if c != parent[v]:
                    child = c
                    break
            if child >= 0:
                parent[child] = v
                v = child
                continue
            state[v] = 2  # leave v
            for j in range(ptr[v], ptr[v + 1]):
                x = nbr[j]
                if state[x] == 2:  # both ends left: the edge is inside its LCA's subtree
                    csub[_find(uf, x)] -= 2.0 * ncost[j]
            p = parent[v]
            if p < 0:
                break
            uf[v] = p
            v = p
    for i in range(n1 - 1, n0, -1):
        v = pre[i]
        p = parent[v]
        if p >= 0:
            size[p] += size[v]
            wsub[p] += wsub[v]
            csub[p] += csub[v]


@numba.njit(cache=True)
def _part_graph(eu, ev, cost, e0, e1, n0, n1, ptr, nbr, ncost, degcost, cursor) -> None:
    """The edges ``e0 … e1 − 1`` as CSR over the nodes ``n0 … n1 − 1`` (each edge twice,
    from ``2 e0`` on), and each node's summed edge cost (``cursor``: work space)."""
    for v in range(n0, n1):
        ptr[v + 1] = 0
        degcost[v] = 0.0
    for e in range(e0, e1):
        ptr[eu[e] + 1] += 1
        ptr[ev[e] + 1] += 1
    ptr[n0] = 2 * e0
    for v in range(n0, n1):
        ptr[v + 1] += ptr[v]
        cursor[v] = ptr[v]
    for e in range(e0, e1):
        a, b, c = eu[e], ev[e], cost[e]
        nbr[cursor[a]] = b
        ncost[cursor[a]] = c
        cursor[a] += 1
        nbr[cursor[b]] = a
        ncost[cursor[b]] = c
        cursor[b] += 1
        degcost[a] += c
        degcost[b] += c


class _Work(NamedTuple):
    """Work space of :func:`split_parts`, allocated once for the whole graph.

    A part's graph as CSR (``ptr``, ``nbr``, ``ncost``, ``degcost``: :func:`_part_graph`);
    a spanning forest of it and its subtree sums (``uf`` … ``csub``:
    :func:`_random_forest`, :func:`_tree_sums`); the side of the chosen cut (``side``)
    and the space the part is reordered through (``newpos``, ``tmp_*``).
    """

    ptr: np.ndarray
    nbr: np.ndarray
    ncost: np.ndarray
    degcost: np.ndarray
    uf: np.ndarray
    rank: np.ndarray
    intree: np.ndarray
    tptr: np.ndarray
    tadj: np.ndarray
    parent: np.ndarray
    pre: np.ndarray
    it: np.ndarray
    state: np.ndarray
    size: np.ndarray
    wsub: np.ndarray
    csub: np.ndarray
    side: np.ndarray
    newpos: np.ndarray
    tmp_i: np.ndarray
    tmp_j: np.ndarray
    tmp_b: np.ndarray
    tmp_f: np.ndarray


@numba.njit(cache=True, inline="always")
def _work(n: int, m: int) -> _Work:
    """The work space of :func:`split_parts` for ``n`` nodes and ``m`` edges."""
    return _Work(
        np.zeros(n + 1, dtype=np.int64),  # ptr
        np.empty(2 * m, dtype=np.int64),  # nbr
        np.empty(2 * m),  # ncost
        np.empty(n),  # degcost
        np.empty(n, dtype=np.int64),  # uf
        np.empty(n, dtype=np.int8),  # rank
        np.empty(m, dtype=np.bool_),  # intree
        np.zeros(n + 1, dtype=np.int64),  # tptr
        np.empty(2 * n, dtype=np.int64),  # tadj
        np.empty(n, dtype=np.int64),  # parent
        np.empty(n, dtype=np.int64),  # pre
        np.empty(n, dtype=np.int64),  # it
        np.empty(n, dtype=np.int8),  # state
        np.empty(n, dtype=np.int64),  # size
        np.empty(n),  # wsub
        np.empty(n),  # csub
        np.zeros(n, dtype=np.bool_),  # side
        np.empty(n, dtype=np.int64),  # newpos
        np.empty(max(n, m), dtype=np.int64),  # tmp_i
        np.empty(m, dtype=np.int64),  # tmp_j
        np.empty(m, dtype=np.int64),  # tmp_b
        np.empty(max(n, m)),  # tmp_f
    )


@numba.njit(cache=True, inline="always")
def _seed_bits(seed: int) -> np.ndarray:
    """The state of the xorshift64* generator from ``seed`` (splitmix64), never zero."""
    z = np.uint64(seed) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.array([(z ^ (z >> np.uint64(31))) | np.uint64(1)], dtype=np.uint64)


@numba.njit(cache=True, inline="always")
def _push(st, sp: int, n0: int, n1: int, e0: int, e1: int, x0: int, k: int) -> int:
    """Put a part on the stack ``st`` above row ``sp − 1``; returns the new height."""
    st[sp, 0], st[sp, 1], st[sp, 2] = n0, n1, e0
    st[sp, 3], st[sp, 4], st[sp, 5] = e1, x0, k
    return sp + 1


@numba.njit(cache=True, inline="always")
def _initial_stack(nstart, estart, xstart, kpart, n: int):
    """The stack of parts still to split, with room for every split to come.

    Each row: node range, edge range, start of the edges across streets, parts wanted.
    The first part lies on top. Returns the stack and its height.
    """
    n_parts = len(kpart)
    st = np.empty((n_parts + 2 * n + 2, 6), dtype=np.int64)
    sp = 0
    for g in range(n_parts - 1, -1, -1):
        sp = _push(st, sp, nstart[g], nstart[g + 1], estart[g], estart[g + 1], xstart[g], kpart[g])
    return st, sp


@numba.njit(cache=True, inline="always")
def _draw_tree(n0, n1, e0, e1, x0, w, eu, ev, cost, eblock, wk: _Work, bits) -> None:
    """A random spanning forest of a part, its preorder and its subtree sums (in ``wk``).

    The edges inside blocks are shuffled block by block, those across streets after
    them; Kruskal's algorithm takes them in that order.
    """
    _shuffle_runs(eu, ev, cost, eblock, e0, x0, bits)
    _shuffle(eu, ev, cost, x0, e1, bits)
    _random_forest(eu, ev, e0, e1, n0, n1, wk.uf, wk.rank, wk.intree, wk.tptr, wk.tadj)
    _tree_sums(
        n0, n1, w, wk.degcost, wk.ptr, wk.nbr, wk.ncost, wk.tptr, wk.tadj,
        wk.uf, wk.parent, wk.pre, wk.it, wk.state, wk.size, wk.wsub, wk.csub,
    )  # fmt: skip


@numba.njit(cache=True, inline="always")
def _cheapest_cut(n0, n1, pre, parent, wsub, csub, total, k, target, lower, upper):
    """The feasible cut of the drawn tree with the cheapest boundary (first in preorder
    on ties): its cost, its position in preorder (−1: none) and both sides' part counts.

    ``pre``, ``parent``, ``wsub``, ``csub``: the tree as :func:`_tree_sums` left it.
    """
    cut, at, ka, kb = np.inf, -1, 1.0, 1.0
    for i in range(n0 + 1, n1):
        v = pre[i]
        if parent[v] < 0:
            continue  # the top of a piece cannot be cut off
        ok, fa, fb = _feasible(wsub[v], total, k, target, lower, upper)
        if ok and csub[v] < cut:
            cut, at, ka, kb = csub[v], i, fa, fb
    return cut, at, ka, kb


@numba.njit(cache=True, inline="always")
def _least_unbalanced_cut(n0, n1, pre, parent, wsub, total, target, lower, upper):
    """The cut of the drawn tree whose sides lie least far from the band (first in
    preorder on ties): its badness, its position in preorder (−1: none) and both sides'
    part counts."""
    bad, at, ka, kb = np.inf, -1, 1.0, 1.0
    for i in range(n0 + 1, n1):
        v = pre[i]
        if parent[v] < 0:
            continue  # the top of a piece cannot be cut off
        fa, fb, b = _badness(wsub[v], total, target, lower, upper)
        if b < bad:
            bad, at, ka, kb = b, i, fa, fb
    return bad, at, ka, kb


@numba.njit(cache=True, inline="always")
def _mark_side(n0, n1, at, pre, size, side) -> None:
    """Mark as ``side`` the subtree of the drawn tree at preorder position ``at``."""
    for i in range(n0, n1):
        side[i] = False
    for i in range(at, at + size[pre[at]]):
        side[pre[i]] = True


@numba.njit(cache=True, inline="always")
def _choose_cut(
    n0, n1, e0, e1, x0, k, w, eu, ev, cost, eblock, wk: _Work,
    target, lower, upper, attempts, trees, bits,
):  # fmt: skip
    """The cut of a part into ``ka`` and ``kb`` parts, as :func:`split_parts` chooses it.

    Trees are drawn until ``trees`` had feasible cuts, or ``attempts`` in all; the
    cheapest feasible cut wins, or, while no tree has had one, the least unbalanced.
    Returns the cut's position in preorder (−1: no cut), ``ka`` and ``kb``; the side
    cut off is marked in ``wk.side``.
    """
    _part_graph(eu, ev, cost, e0, e1, n0, n1, wk.ptr, wk.nbr, wk.ncost, wk.degcost, wk.it)
    total = 0.0
    for v in range(n0, n1):
        total += w[v]
    pre, parent, wsub, csub = wk.pre, wk.parent, wk.wsub, wk.csub
    cut_at, ka, kb = -1, 1, 1
    best, bad_best = np.inf, np.inf
    found = 0
    for _attempt in range(attempts):
        if found >= trees:
            break
        _draw_tree(n0, n1, e0, e1, x0, w, eu, ev, cost, eblock, wk, bits)
        take = False
        cut, at, fa, fb = _cheapest_cut(
            n0, n1, pre, parent, wsub, csub, total, k, target, lower, upper
        )
        if at >= 0:
            found += 1
            take = cut < best
            if take:
                best = cut
        elif best == np.inf:
            bad, at, fa, fb = _least_unbalanced_cut(
                n0, n1, pre, parent, wsub, total, target, lower, upper
            )
            take = at >= 0 and bad < bad_best
            if take:
                bad_best = bad
        if take:  # the side: the subtree below the cut, marked before the next tree
            cut_at, ka, kb = at, np.int64(fa), np.int64(fb)
            _mark_side(n0, n1, at, pre, wk.size, wk.side)
    return cut_at, ka, kb


@numba.njit(cache=True, inline="always")
def _label_part(n0, n1, node, labels, label) -> None:
    """Give every node of a part the same label."""
    for i in range(n0, n1):
        labels[node[i]] = label


@numba.njit(cache=True, inline="always")
def _reorder_nodes(n0, n1, node, w, wk: _Work) -> int:
    """Reorder the nodes of a part in place, the side first; returns the side's size.

    ``wk.newpos`` keeps each node's new position, for the edges.
    """
    side, newpos, tmp_i, tmp_f = wk.side, wk.newpos, wk.tmp_i, wk.tmp_f
    ns = 0
    for i in range(n0, n1):
        ns += side[i]
    a, b = n0, n0 + ns
    for i in range(n0, n1):
        if side[i]:
            newpos[i] = a
            a += 1
        else:
            newpos[i] = b
            b += 1
    for i in range(n0, n1):
        tmp_i[newpos[i]] = node[i]
        tmp_f[newpos[i]] = w[i]
    for i in range(n0, n1):
        node[i] = tmp_i[i]
        w[i] = tmp_f[i]
    return ns


@numba.njit(cache=True, inline="always")
def _edge_starts(e0, e1, x0, eu, ev, side):
    """Where the edges of a part start once reordered by side: the side's inside blocks,
    the side's across streets, the rest's inside blocks, the rest's across streets."""
    counts = np.zeros(4, dtype=np.int64)
    for e in range(e0, e1):
        su, sv = side[eu[e]], side[ev[e]]
        if su == sv:
            counts[(0 if su else 2) + (e >= x0)] += 1
    starts = np.empty(4, dtype=np.int64)
    starts[0] = e0
    for c in range(1, 4):
        starts[c] = starts[c - 1] + counts[c - 1]
    return starts


@numba.njit(cache=True, inline="always")
def _reorder_edges(e0, e1, x0, eu, ev, cost, eblock, wk: _Work):
    """Reorder the edges of a part in place as :func:`_edge_starts` lists them, renumbered
    as :func:`_reorder_nodes` moved their nodes; edges between the sides are dropped.

    Returns the four starts and the end of the edges kept.
    """
    side, newpos = wk.side, wk.newpos
    tmp_i, tmp_j, tmp_f, tmp_b = wk.tmp_i, wk.tmp_j, wk.tmp_f, wk.tmp_b
    starts = _edge_starts(e0, e1, x0, eu, ev, side)
    fill = starts.copy()
    for e in range(e0, e1):
        su, sv = side[eu[e]], side[ev[e]]
        if su == sv:
            c = (0 if su else 2) + (e >= x0)
            j = fill[c]
            fill[c] += 1
            tmp_i[j - e0] = newpos[eu[e]]
            tmp_j[j - e0] = newpos[ev[e]]
            tmp_f[j - e0] = cost[e]
            tmp_b[j - e0] = eblock[e]
    end = fill[3]
    for j in range(e0, end):
        eu[j] = tmp_i[j - e0]
        ev[j] = tmp_j[j - e0]
        cost[j] = tmp_f[j - e0]
        eblock[j] = tmp_b[j - e0]
    return starts, end


@numba.njit(cache=True)
def split_parts(
    nstart: np.ndarray,
    kpart: np.ndarray,
    w: np.ndarray,
    estart: np.ndarray,
    xstart: np.ndarray,
    eu: np.ndarray,
    ev: np.ndarray,
    cost: np.ndarray,
    eblock: np.ndarray,
    target: float,
    lower: float,
    upper: float,
    attempts: int,
    trees: int,
    seed: int,
):
    """Label nodes by recursive bisection of every part into about ``kpart`` parts.

    Part ``g`` holds the nodes ``nstart[g] … nstart[g + 1] − 1`` and the edges
    ``estart[g] … estart[g + 1] − 1``, those from ``xstart[g]`` on running across
    streets (drawn into the trees last), those before inside blocks, grouped by block
    (``eblock``). The edge arrays are reordered in place.

    Parameters
    ----------
    nstart, estart, xstart : int64 arrays
        Node and edge ranges of the parts, as above.
    kpart : int64 array
        Parts each part is to be divided into.
    w : float64 array
        Weight of each node.
    eu, ev, cost, eblock : arrays
        The edges (node ids), the boundary cost of cutting each, and the block of
        those inside a block.
    target, lower, upper : float
        The band.
    attempts, trees : int
        Each split draws spanning trees until ``trees`` of them had feasible cuts (both
        sides divisible into parts in band), or ``attempts`` trees in all; the feasible
        cut with the cheapest boundary wins (the first in preorder on ties). A part
        without any feasible cut takes its least unbalanced cut; a part without any cut
        stays whole.
    seed : int
        Seed of the random edge orders.

    Returns
    -------
    int64 array
        The label of each node, 0 … (number of labels − 1); −1 for nodes in no part.
    """
    bits = _seed_bits(seed)
    n = len(w)
    node = np.arange(n)  # the node now at each position
    w = w.copy()
    labels = np.full(n, -1, dtype=np.int64)
    wk = _work(n, len(eu))
    st, sp = _initial_stack(nstart, estart, xstart, kpart, n)
    next_label = 0
    while sp:
        sp -= 1
        n0, n1, e0, e1, x0, k = st[sp, 0], st[sp, 1], st[sp, 2], st[sp, 3], st[sp, 4], st[sp, 5]
        if n1 <= n0:
            continue
        cut_at, ka, kb = -1, 1, 1
        if k > 1 and n1 - n0 > 1:
            cut_at, ka, kb = _choose_cut(
                n0, n1, e0, e1, x0, k, w, eu, ev, cost, eblock, wk,
                target, lower, upper, attempts, trees, bits,
            )  # fmt: skip
        if cut_at < 0:  # one part (or no usable cut): one label
            _label_part(n0, n1, node, labels, next_label)
            next_label += 1
            continue
        ns = _reorder_nodes(n0, n1, node, w, wk)
        starts, end = _reorder_edges(e0, e1, x0, eu, ev, cost, eblock, wk)
        # the rest, then the side on top (split next)
        sp = _push(st, sp, n0 + ns, n1, starts[2], end, starts[3], kb)
        sp = _push(st, sp, n0, n0 + ns, e0, starts[2], starts[1], ka)
    return labels


@numba.njit(cache=True)
def _connected_without(u, g, labels, indptr, indices, size_g, stamp, mark, queue) -> bool:
    """Whether part ``g`` stays connected when node ``u`` leaves it.

    Breadth-first from one neighbour of ``u`` in ``g``, over ``g``'s nodes but ``u``;
    ``mark`` holds the last ``stamp`` each node was reached with (work space).
    """
    start = -1
    for j in range(indptr[u], indptr[u + 1]):
        if labels[indices[j]] == g:
            start = indices[j]
            break
    if start < 0:
        return size_g <= 1
    mark[u] = stamp
    mark[start] = stamp
    queue[0] = start
    head, tail = 0, 1
    while head < tail:
        x = queue[head]
        head += 1
        for j in range(indptr[x], indptr[x + 1]):
            y = indices[j]
            if mark[y] != stamp and labels[y] == g:
                mark[y] = stamp
                queue[tail] = y
                tail += 1
    return tail == size_g - 1


@numba.njit(cache=True, inline="always")
def _facing(u, labels, indptr, indices, cost, near, facing):
    """The parts next to node ``u`` and the boundary cost it shares with each.

    Writes the neighbouring parts in ascending order to ``near[:k]`` and the cost
    facing each to ``facing[:k]``; returns ``k`` and the cost facing ``u``'s own part.
    """
    g = labels[u]
    k = 0
    own = 0.0
    for j in range(indptr[u], indptr[u + 1]):
        lab = labels[indices[j]]
        if lab == g:
            own += cost[j]
            continue
        t = 0
        while t < k and near[t] != lab:
            t += 1
        if t == k:
            # keep the neighbouring parts in ascending order
            while t > 0 and near[t - 1] > lab:
                near[t] = near[t - 1]
                facing[t] = facing[t - 1]
                t -= 1
            near[t] = lab
            facing[t] = 0.0
            k += 1
        facing[t] += cost[j]
    return k, own


@numba.njit(cache=True, inline="always")
def _list_moves(labels, indptr, indices, cost, near, facing, cand_u, cand_h, cand_gain) -> int:
    """The moves of a node to a neighbouring part that shorten the boundary, by node then
    part: node in ``cand_u``, part in ``cand_h``, gain in ``cand_gain``. Returns how many.
    """
    m = 0
    for u in range(len(labels)):
        k, own = _facing(u, labels, indptr, indices, cost, near, facing)
        for t in range(k):
            if facing[t] - own > 1e-9:
                cand_u[m] = u
                cand_h[m] = near[t]
                cand_gain[m] = facing[t] - own
                m += 1
    return m


@numba.njit(cache=True, inline="always")
def _gain_now(u, g, h, labels, indptr, indices, cost):
    """What moving node ``u`` from part ``g`` to ``h`` shortens the boundary by now, and
    how many of its neighbours lie in ``g``."""
    toward, own, n_own = 0.0, 0.0, 0
    for j in range(indptr[u], indptr[u + 1]):
        lab = labels[indices[j]]
        if lab == h:
            toward += cost[j]
        elif lab == g:
            own += cost[j]
            n_own += 1
    return toward - own, n_own


@numba.njit(cache=True, inline="always")
def _keeps_band(wg: float, wh: float, wu: float, lower: float, upper: float) -> bool:
    """Whether moving weight ``wu`` from a part of weight ``wg`` to one of ``wh`` takes
    neither out of the band, or further from it."""
    if _off_band(wg - wu, lower, upper) > _off_band(wg, lower, upper) + 1e-9:
        return False
    return not _off_band(wh + wu, lower, upper) > _off_band(wh, lower, upper) + 1e-9


@numba.njit(cache=True, inline="always")
def _make_moves(
    order, cand_u, cand_h, labels, w, load, size, indptr, indices, cost,
    lower, upper, stamp, mark, queue,
):  # fmt: skip
    """Make the listed moves, in ``order``, that still gain, keep the band and keep the
    old part connected and not empty. Returns the moves made and the last ``stamp``
    (:func:`_connected_without`)."""
    moved = 0
    for i in order:
        u, h = cand_u[i], cand_h[i]
        g = labels[u]
        if g == h or size[g] <= 1:
            continue
        gain, n_own = _gain_now(u, g, h, labels, indptr, indices, cost)
        if gain <= 1e-9:  # a neighbour moved since
            continue
        if not _keeps_band(load[g], load[h], w[u], lower, upper):
            continue
        if n_own > 1:
            stamp += 1
            if not _connected_without(u, g, labels, indptr, indices, size[g], stamp, mark, queue):
                continue
        labels[u] = h
        load[g] -= w[u]
        load[h] += w[u]
        size[g] -= 1
        size[h] += 1
        moved += 1
    return moved, stamp


@numba.njit(cache=True)
def smooth_passes(labels, w, load, size, indptr, indices, cost, lower, upper, max_passes) -> int:
    """The passes of :func:`~gridgeo.engine.refine.smooth` over a CSR graph of costs.

    Each pass lists the moves of a node to a neighbouring part that shorten the
    boundary (more of the node's boundary cost faces that part than its own), by gain,
    then node, then part, and makes each that still gains (neighbours may have moved
    since), takes neither part out of the band (or further from it) and keeps the old
    part connected and not empty. ``labels``, ``load`` (weight per part) and ``size``
    (nodes per part) are updated in place. Returns the number of moves.
    """
    n = len(labels)
    mark = np.full(n, -1, dtype=np.int64)
    queue = np.empty(n, dtype=np.int64)
    nnz = len(indices)
    cand_u = np.empty(nnz, dtype=np.int64)
    cand_h = np.empty(nnz, dtype=np.int64)
    cand_gain = np.empty(nnz)
    deg = 1
    for u in range(n):
        deg = max(deg, indptr[u + 1] - indptr[u])
    near = np.empty(deg, dtype=np.int64)
    facing = np.empty(deg)
    stamp = 0
    moves = 0
    for _pass in range(max_passes):
        m = _list_moves(labels, indptr, indices, cost, near, facing, cand_u, cand_h, cand_gain)
        order = np.argsort(-cand_gain[:m], kind="mergesort")
        pass_moves, stamp = _make_moves(
            order, cand_u, cand_h, labels, w, load, size, indptr, indices, cost,
            lower, upper, stamp, mark, queue,
        )  # fmt: skip
        moves += pass_moves
        if not pass_moves:
            break
    return moves


@numba.njit(cache=True)
def pick_regions(indptr, indices, priority, load, lower, upper, size):
    """Disjoint regions of up to ``size`` neighbouring parts, greedily by ``priority``.

    Parts are visited by ascending ``priority``; a part not yet in a region takes its
    free neighbours (CSR graph of parts) of lowest priority, up to ``size − 1``, then
    drops the last of them until the region's ``load`` divides into as many parts in
    ``lower … upper`` as it has; a region needs two parts at least. Returns the parts of
    each region (m × size, padded with −1) and the region of each part (−1: none).
    """
    n_parts = len(load)
    owner = np.full(n_parts, -1, dtype=np.int64)
    ids = np.full((n_parts, size), -1, dtype=np.int64)
    visit = np.argsort(priority)
    m = 0
    for x in visit:
        if owner[x] >= 0:
            continue
        free = 0
        for j in range(indptr[x], indptr[x + 1]):
            free += owner[indices[j]] < 0
        if free == 0:
            continue
        nb = np.empty(free, dtype=np.int64)
        t = 0
        for j in range(indptr[x], indptr[x + 1]):
            if owner[indices[j]] < 0:
                nb[t] = indices[j]
                t += 1
        nb = nb[np.argsort(priority[nb])][: size - 1]
        count = 1 + len(nb)
        while count > 1:
            total = load[x]
            for t in range(count - 1):
                total += load[nb[t]]
            if count * lower - 1e-9 <= total <= count * upper + 1e-9:
                break
            count -= 1
        if count < 2:
            continue
        owner[x] = m
        ids[m, 0] = x
        for t in range(count - 1):
            owner[nb[t]] = m
            ids[m, t + 1] = nb[t]
        m += 1
    return ids[:m], owner
