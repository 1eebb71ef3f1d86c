"""Helpers of ``bench_partition.py``: datasets, the compared methods, a capped runner.

Every method takes the units of one connected component (weights, a symmetric CSR
adjacency, unit centroids) and returns one label per unit. Components are handled by
:func:`per_component`, so that no method ever joins units that do not touch (or that
lie in different communities: cross-community edges are dropped beforehand).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import resource
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

log = logging.getLogger("bench_partition")

WUHAN_STREETS = "wuhan_8989_original.parquet"
WUHAN_POPULATION = "wuhan_population_model_500m.gpkg"

# when each method's solve started (wall, CPU), and the seconds spent converting inputs
# before it (wall, CPU)
_clock: list[tuple[float, float]] = []
_setup: list[float] = [0.0, 0.0]


# ---------------------------------------------------------------------------- datasets


def load(name: str, wuhan: str | None = None):
    """Read a dataset: ``(streets, buildings or None, extra keyword arguments of prepare)``."""
    import geopandas as gpd

    import gridgeo

    if name == "wuhan":
        if wuhan is None:
            raise SystemExit("dataset wuhan needs --wuhan DIR")
        folder = Path(wuhan)
        streets = gpd.read_parquet(folder / WUHAN_STREETS)
        population = gridgeo.read_layer(folder / WUHAN_POPULATION, name="population")
        return streets, None, {"population": population}
    layers = gridgeo.read_osm(gridgeo.datasets.get_path(name))
    extra = {}
    if name == "helsinki":
        extra["population"] = gridgeo.read_layer(
            gridgeo.datasets.get_path("helsinki_population"), name="population"
        )
    return layers.streets, layers.buildings, extra


def end_to_end(name: str, wuhan: str | None, target: float, random_state: int, conn) -> None:
    """gridgeo as a user runs it, in a fresh process: read, partition, write the files.

    The stages of ``gridgeo.partition`` are run one by one (``prepare``, ``label_units``,
    ``assemble``) to time the preparation apart. Sends ``(read seconds, preparation
    seconds, end-to-end seconds, peak RSS in MiB)``; the files are grids.gpkg,
    grids.geojson and summary.json (no map.html) in a temporary folder.
    """
    warnings.filterwarnings("ignore")
    from gridgeo.pipeline import assemble, label_units, prepare

    try:
        t0 = time.perf_counter()
        streets, buildings, extra = load(name, wuhan)
        t1 = time.perf_counter()
        ws = prepare(streets, buildings, target=target, **extra)
        t2 = time.perf_counter()
        plan = assemble(ws, label_units(ws, random_state=random_state))
        with tempfile.TemporaryDirectory() as out:
            plan.to_files(out, map_html=False)
            t3 = time.perf_counter()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        conn.send(("ok", (t1 - t0, t2 - t1, t3 - t0, peak)))
    except BaseException as exc:  # report, whatever it is
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def run_end_to_end(name: str, wuhan: str | None, target: float, random_state: int):
    """Run :func:`end_to_end` in a spawned (clean) process; ``None`` if it failed."""
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=end_to_end, args=(name, wuhan, target, random_state, send), daemon=True
    )
    proc.start()
    send.close()
    try:
        status, payload = recv.recv()
    except EOFError:
        status, payload = "error", f"process died (exit code {proc.exitcode})"
    proc.join()
    if status != "ok":
        log.error("%s: gridgeo end to end failed: %s", name, payload)
        return None
    return payload


# ------------------------------------------------------------------------ graph helpers


def contiguous_share(labels: np.ndarray, adjacency: sparse.spmatrix) -> float:
    """Share of parts whose units form one connected piece of ``adjacency``."""
    coo = sparse.coo_matrix(adjacency)
    inside = labels[coo.row] == labels[coo.col]
    n = len(labels)
    graph = sparse.csr_matrix(
        (np.ones(int(inside.sum())), (coo.row[inside], coo.col[inside])), shape=(n, n)
    )
    n_pieces, piece = csgraph.connected_components(graph, directed=False)
    piece_label = np.zeros(n_pieces, dtype=np.int64)
    piece_label[piece] = labels
    pieces_per_part = np.bincount(piece_label, minlength=int(labels.max()) + 1)
    present = pieces_per_part[np.unique(labels)]
    return float(np.mean(present == 1))


def per_component(
    solve: Callable[..., np.ndarray],
    weights: np.ndarray,
    adjacency: sparse.csr_matrix,
    xy: np.ndarray,
    target: float,
    random_state: int,
    whole: np.ndarray | None = None,
) -> np.ndarray:
    """Run ``solve`` on each connected component with k = round(weight ÷ target) ≥ 1.

    A component holding ``whole`` units (a dedicated zone, a village under the rural
    rule) is one part, as gridgeo makes it.
    """
    n = len(weights)
    n_comp, comp = csgraph.connected_components(adjacency, directed=False)
    labels = np.full(n, -1, dtype=np.int64)
    next_label = 0
    _setup[:] = [0.0, 0.0]
    for c in range(n_comp):
        nodes = np.flatnonzero(comp == c) if n_comp > 1 else np.arange(n)
        k = max(1, round(float(weights[nodes].sum()) / target))
        if k == 1 or len(nodes) == 1 or (whole is not None and whole[nodes].any()):
            local = np.zeros(len(nodes), dtype=np.int64)
        else:
            sub = adjacency[nodes][:, nodes].tocsr() if n_comp > 1 else adjacency
            called, cpu, marks = time.perf_counter(), time.process_time(), len(_clock)
            local = np.asarray(
                solve(weights[nodes], sub, xy[nodes], k, target, random_state)
            ).astype(np.int64)
            if len(_clock) > marks:  # time spent converting inputs, not solving
                _setup[0] += _clock[-1][0] - called
                _setup[1] += _clock[-1][1] - cpu
            if len(local) != len(nodes):
                raise RuntimeError(f"method returned {len(local)} labels for {len(nodes)} units")
            # unassigned units (a negative label) become parts of their own
            lost = local < 0
            if lost.any():
                local[lost] = local.max() + 1 + np.arange(int(lost.sum()))
            local = np.unique(local, return_inverse=True)[1]
        labels[nodes] = local + next_label
        next_label += int(local.max()) + 1
    return labels


# --------------------------------------------------------------------------- the methods
# each: (weights, adjacency, xy, k, target, random_state) -> labels, on one component


def _spopt_inputs(weights, adjacency, xy):
    """A GeoDataFrame of households and standardised centroid coordinates, a libpysal W.

    The coordinates are the attributes whose within-region dissimilarity spopt minimises,
    so its objective rewards compact regions (the households carry no similarity).
    """
    import geopandas as gpd
    import libpysal

    scale = float(np.std(xy - xy.mean(axis=0))) or 1.0
    std = (xy - xy.mean(axis=0)) / scale
    gdf = gpd.GeoDataFrame({"households": weights.astype(float), "x": std[:, 0], "y": std[:, 1]})
    w = libpysal.weights.WSP(sparse.csr_matrix(adjacency)).to_W(silence_warnings=True)
    return gdf, w


def spopt_maxp(weights, adjacency, xy, k, target, random_state):  # noqa: ARG001
    """spopt MaxPHeuristic: as many regions as possible, each ≥ ``target`` households."""
    from spopt.region import MaxPHeuristic

    gdf, w = _spopt_inputs(weights, adjacency, xy)
    _started()
    model = MaxPHeuristic(gdf, w, ["x", "y"], "households", target, top_n=2)
    model.solve()
    return model.labels_


def spopt_azp(weights, adjacency, xy, k, target, random_state):  # noqa: ARG001
    """spopt AZP with k regions (no balance constraint)."""
    from spopt.region import AZP

    gdf, w = _spopt_inputs(weights, adjacency, xy)
    _started()
    model = AZP(gdf, w, ["x", "y"], n_clusters=k, random_state=random_state)
    model.solve()
    return model.labels_


def spopt_region_kmeans(weights, adjacency, xy, k, target, random_state):  # noqa: ARG001
    """spopt RegionKMeansHeuristic with k regions (no balance constraint)."""
    from spopt.region import RegionKMeansHeuristic

    gdf, w = _spopt_inputs(weights, adjacency, xy)
    _started()
    model = RegionKMeansHeuristic(gdf[["x", "y"]].to_numpy(), k, w, seed=random_state)
    model.solve()
    return model.labels_


def gerrychain_tree(weights, adjacency, xy, k, target, random_state):  # noqa: ARG001
    """GerryChain recursive_tree_part: k parts of total ÷ k households, ε = 0.10."""
    import networkx as nx
    from gerrychain import Graph
    from gerrychain.partition import recursive_tree_part

    n = len(weights)
    coo = sparse.triu(adjacency, k=1).tocoo()
    g = nx.Graph()
    g.add_nodes_from((i, {"households": float(weights[i])}) for i in range(n))
    g.add_edges_from(zip(coo.row.tolist(), coo.col.tolist(), strict=True))
    graph = Graph.from_networkx(g)
    _started()
    flips = recursive_tree_part(
        graph,
        list(range(k)),
        pop_target=float(weights.sum()) / k,
        pop_col="households",
        epsilon=0.10,
        rng=random_state,
    )
    labels = np.full(n, -1, dtype=np.int64)
    for node, part in flips.items():
        labels[int(node)] = part
    return labels


def _metis(weights, adjacency, k, contiguous):
    import pymetis

    adj = sparse.csr_matrix(adjacency)
    options = pymetis.Options(contig=True) if contiguous else None
    _started()
    # recursive=False: k-way even for k <= 8 (pymetis would bisect), and only k-way
    # honours METIS_OPTION_CONTIG
    result = pymetis.part_graph(
        k,
        xadj=adj.indptr.astype(np.int64),
        adjncy=adj.indices.astype(np.int64),
        vweights=np.rint(weights).astype(np.int64),  # METIS takes integers
        recursive=False,
        options=options,
    )
    return np.asarray(result[1])


def metis(weights, adjacency, xy, k, target, random_state):  # noqa: ARG001
    """pymetis k-way partition into k parts weighted by households."""
    return _metis(weights, adjacency, k, contiguous=False)


def metis_contiguous(weights, adjacency, xy, k, target, random_state):  # noqa: ARG001
    """pymetis k-way with METIS_OPTION_CONTIG (contiguous parts)."""
    return _metis(weights, adjacency, k, contiguous=True)


#: name shown in the table -> (function, what to say about it)
METHODS: dict[str, Callable[..., np.ndarray]] = {
    "spopt MaxP": spopt_maxp,
    "spopt AZP": spopt_azp,
    "spopt RegionKMeans": spopt_region_kmeans,
    "GerryChain tree": gerrychain_tree,
    "pymetis": metis,
    "pymetis contig": metis_contiguous,
}


# ------------------------------------------------------------------------ capped runner


def _started() -> None:
    """Mark the start of the timed part (the solve), once the inputs are converted."""
    _clock.append((time.perf_counter(), time.process_time()))


@dataclass
class Outcome:
    labels: np.ndarray | None
    seconds: float | None  # the label computation only
    setup: float | None  # converting the inputs (W, networkx graph …)
    status: str  # "ok", "timeout" or "error"
    note: str = ""
    cpu: float | None = None  # CPU seconds of the label computation (this process)


def _child(conn, fn, args, mem_cap_gib) -> None:
    if mem_cap_gib:
        _limit_memory(mem_cap_gib)
    warnings.simplefilter("ignore")
    try:
        _setup[:] = [0.0, 0.0]
        t0, c0 = time.perf_counter(), time.process_time()
        labels = fn(*args)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
        out = (total - _setup[0], _setup[0], cpu - _setup[1])
        conn.send(("ok", np.asarray(labels), *out, ""))
    except MemoryError:
        conn.send(("error", None, None, None, None, f"out of memory (cap {mem_cap_gib:g} GiB)"))
    except BaseException as exc:  # report, whatever it is
        log.debug("".join(traceback.format_exception(exc)))
        msg = str(exc).strip().splitlines()[0][:80] if str(exc).strip() else ""
        note = f"failed: {type(exc).__name__} {msg}".strip()
        conn.send(("error", None, None, None, None, note))
    finally:
        conn.close()


def _limit_memory(gib: float) -> None:
    """Cap the address space at what the process maps now plus ``gib``."""
    mapped = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                mapped = int(line.split()[1]) * 1024
    limit = mapped + int(gib * 2**30)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def run_capped(fn: Callable, args: tuple, cap: float, mem_cap_gib: float) -> Outcome:
    """Run ``fn(*args)`` in a forked child; kill it after ``cap`` seconds."""
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, fn, args, mem_cap_gib), daemon=True)
    proc.start()
    send.close()
    try:
        if not recv.poll(cap):
            proc.kill()  # this child only, by its own handle
            proc.join()
            return Outcome(None, None, None, "timeout", f"did not finish in {cap:g} s")
        status, labels, seconds, setup, cpu, note = recv.recv()
    except EOFError:
        proc.join()
        return Outcome(None, None, None, "error", f"crashed (exit code {proc.exitcode})")
    finally:
        recv.close()
    proc.join()
    return Outcome(labels, seconds, setup, status, note, cpu)
