"""Every stage on Dask: a city or a province drawn tile by tile, seams redrawn.

:func:`partition_tiles` cuts the study area into **tiles** and runs the whole pipeline —
street blocks, households, units, partition, dissolve — on each tile on a Dask worker,
by calling :func:`gridgeo.pipeline.partition` on that tile's own data (so every rule,
repair and reason of the pipeline applies to every tile as it does to a whole city):

- with community ``boundaries``, a tile is a set of whole communities (those whose
  representative point lies in one square of a lattice): grids never cross communities,
  so tiles have no seams;
- without boundaries, a tile is a square of a lattice, clipped to the study area, passed
  to the pipeline as its one "community"; its grids stop at the square's edges. The
  **seams** are then redrawn: the grids touching each edge between two tiles, from both
  sides, are drawn again as one area by :func:`gridgeo.pipeline.partition` (their
  streets, their buildings, the population over them), first along the vertical edges,
  then along the horizontal ones, so a grid may cross a seam and no grid edge needs to
  run along a tile line.

Each worker receives only its tile's data (the layers are clipped in the calling
process and scattered tile by tile), never the whole area. Every tile and seam is
seeded from ``random_state`` and its own key, so the plan does not depend on which
worker runs what: ``scheduler=None`` runs the very same tiles one after another in this
process and gives the same plan, grid by grid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import pickle
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Unpack

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._errors import GridgeoError, InputError
from .._progress import progress, step
from ..blocks import SNAP, study_area
from ..crs import metric_crs, to_metric
from ..inputs import PlanKeywords, split_keywords
from ..pipeline import partition as pipeline_partition
from ..pipeline import reading_order
from ..plan import Plan
from ..rules import Rules
from ._client import _client
from ._pieces import _check_seed

__all__ = ["TILE_STREETS", "Layout", "partition_tiles", "tile_layout"]

log = logging.getLogger(__name__)

#: Default tile size: street segments per occupied tile (about a quarter of Wuhan).
TILE_STREETS = 25_000

_TILE = "tile_id"  # the column naming a tile in the boundaries passed to each tile
_ROW = "_gridgeo_row"  # the input position of each building, carried through the tiles
_HH = "_gridgeo_households"  # households the tiles gave, kept when a seam is redrawn
_EPS = 0.5  # m: a grid within this of a tile edge touches the seam
_SNAP_SEAM = 0.005  # m: streets snapped onto a seam's outline when GEOS cannot node them


# ------------------------------------------------------------------------------ layout


@dataclass(frozen=True)
class Layout:
    """Tiles of about equal street counts: a k-d tree of the street segments.

    Attributes
    ----------
    keys : list of str
        Name of each tile: its path in the tree (``"t0110"``).
    boxes : ndarray of float, shape (n, 4)
        Each tile's rectangle ``(x0, y0, x1, y1)``; together they tile ``bounds``.
    cuts : list of (str, int, LineString)
        The edges between tiles: name, axis (0 vertical, 1 horizontal) and segment.
    """

    keys: list[str]
    boxes: np.ndarray
    cuts: list[tuple[str, int, shapely.Geometry]]

    def tile_of(self, points: np.ndarray) -> np.ndarray:
        """Row of the tile holding each point (half-open boxes; points outside the
        tiles go to the nearest one)."""
        x, y = shapely.get_x(points), shapely.get_y(points)
        lo, hi = self.boxes[:, :2].min(axis=0), self.boxes[:, 2:].max(axis=0)
        x, y = (
            np.clip(x, lo[0], np.nextafter(hi[0], lo[0])),
            np.clip(y, lo[1], np.nextafter(hi[1], lo[1])),
        )
        out = np.full(len(x), -1, dtype=np.int64)
        for i, (x0, y0, x1, y1) in enumerate(self.boxes):
            out[(x >= x0) & (x < x1) & (y >= y0) & (y < y1)] = i
        return out


def tile_layout(
    streets: gpd.GeoDataFrame,
    *,
    tile_streets: int = TILE_STREETS,
    bounds: tuple[float, float, float, float] | None = None,
) -> Layout:
    """Cut ``bounds`` (default: the streets' extent) into tiles of at most
    ``tile_streets`` street segments.

    Recursive bisection at the median of the segments' midpoints, across the longer
    side of each box; deterministic. Tiles hold between about half and all of
    ``tile_streets`` segments, whatever the density, so dense centres get small tiles.
    """
    if isinstance(tile_streets, bool) or not isinstance(tile_streets, int) or tile_streets < 1:
        msg = f"tile_streets must be a whole number of street segments, 1 or more, got {tile_streets!r}"
        raise InputError(msg)
    mid = shapely.centroid(streets.geometry.values)
    xy = np.c_[shapely.get_x(mid), shapely.get_y(mid)]
    keys, boxes, cuts = [], [], []
    extent = np.asarray(streets.total_bounds if bounds is None else bounds, dtype=float)
    stack = [("t", extent, np.arange(len(xy)))]
    while stack:
        key, box, members = stack.pop()
        size = box[2:] - box[:2]
        if len(members) <= tile_streets or size.max() < 100.0:
            keys.append(key)
            boxes.append(box)
            continue
        axis = int(np.argmax(size))
        at = float(np.median(xy[members, axis]))
        at = min(max(at, box[axis] + size[axis] * 0.05), box[axis + 2] - size[axis] * 0.05)
        low, high = box.copy(), box.copy()
        low[axis + 2] = high[axis] = at
        ends = [(at, box[1]), (at, box[3])] if axis == 0 else [(box[0], at), (box[2], at)]
        cuts.append((key, axis, shapely.LineString(ends)))
        below = xy[members, axis] < at
        stack.append((key + "1", high, members[~below]))
        stack.append((key + "0", low, members[below]))
    order = np.argsort(keys)
    return Layout([keys[i] for i in order], np.array(boxes)[order], cuts)


def _seed(random_state: int, key: str) -> int:
    """The seed of one tile or seam: the user's seed and a stable hash of its key."""
    digest = hashlib.sha256(f"{random_state}\x1f{key}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _clip(layer: gpd.GeoDataFrame | None, region: shapely.Geometry) -> gpd.GeoDataFrame | None:
    """The features of ``layer`` meeting ``region`` (None when none does)."""
    if layer is None:
        return None
    hit = layer.sindex.query(region, predicate="intersects")
    return layer.iloc[np.sort(hit)] if len(hit) else None


# -------------------------------------------------------------------------- the work


def _draw(job: dict[str, Any]) -> Plan | None:
    """Draw one tile or seam with the public pipeline (runs on a worker).

    A seam whose outline GEOS cannot node with its streets (street vertices a rounding
    away from the outline's) is drawn again with the streets snapped onto the outline
    within :data:`_SNAP_SEAM`. A seam the pipeline still cannot draw gives ``None`` (its
    grids are kept as the tiles drew them): GEOS fails again, the pipeline's own checks
    refuse it (e.g. a sparse edge whose few streets do not span its households), or its
    grids would not hold exactly the households the tiles gave it.
    """
    layers = {k: v for k, v in job["layers"].items() if v is not None}

    def draw(streets: gpd.GeoDataFrame) -> Plan:
        plan = pipeline_partition(
            streets, job["buildings"], rules=job["rules"], random_state=job["seed"], **layers
        )
        if job["seam"]:  # the seam must hold the very households the tiles gave it
            given = int(job["buildings"][_HH].sum())
            got = int(plan.grids["households"].sum())
            if got != given:
                msg = f"its grids hold {got} households, the tiles gave it {given}"
                raise InputError(msg)
        return plan

    try:
        return draw(job["streets"])
    except (shapely.errors.GEOSException, GridgeoError) as err:
        if not job["seam"]:
            raise
        first = err
    if isinstance(first, shapely.errors.GEOSException):
        outline = job["layers"]["boundaries"].geometry.values[0]
        streets = job["streets"]
        snapped = shapely.snap(streets.geometry.values, outline, _SNAP_SEAM)
        try:
            return draw(
                streets.set_geometry(gpd.GeoSeries(snapped, index=streets.index, crs=streets.crs))
            )
        except (shapely.errors.GEOSException, GridgeoError) as err:
            first = err
    log.warning("seam %s kept as drawn by its tiles: %s", job["key"], first)
    return None


def _roundtrip(obj: Any) -> Any:
    return pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def _run(client, jobs: list[dict[str, Any]], desc: str) -> list[Plan | None]:
    """Run the jobs (in this process when ``client`` is None), results in job order.

    A job whose area has no street gives ``None``.
    """
    out: list[Plan | None] = [None] * len(jobs)
    todo = [i for i, j in enumerate(jobs) if j["streets"] is not None]
    if client is None:
        for i in progress(todo, desc=desc):
            # through pickle as on Dask: geometries lose their precision grid there
            out[i] = _roundtrip(_draw(_roundtrip(jobs[i])))
        return out
    from distributed import as_completed

    futures = {}
    for i in todo:
        [data] = client.scatter([jobs[i]], hash=False)  # this job's data only
        key = f"gridgeo-{desc.split()[0]}-{jobs[i]['key']}-{uuid.uuid4().hex[:8]}"
        futures[client.submit(_draw, data, key=key, pure=False)] = i
    finished = progress(as_completed(futures), desc=desc, total=len(futures))
    for done, fut in enumerate(finished, 1):
        out[futures[fut]] = fut.result()
        log.info("%s: %d of %d done", desc, done, len(futures))
        fut.release()
    return out


def partition_tiles(
    streets: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    scheduler: Any = "local",
    n_workers: int = 2,
    tile_streets: int = TILE_STREETS,
    repair_seams: bool = True,
    random_state: int = 0,
    codes: dict[str, Any] | None = None,
    rules: Rules | None = None,
    **keywords: Unpack[PlanKeywords],
) -> Plan:
    """Draw community grids tile by tile, every stage on Dask workers.

    Parameters
    ----------
    streets, buildings
        As in :func:`gridgeo.partition` (any CRS).
    scheduler : "local", str, distributed.Client or None, default "local"
        ``"local"``: a ``LocalCluster`` of ``n_workers`` processes started for this
        call; an address (``"tcp://host:8786"``): that scheduler; a ``Client``: its
        cluster; ``None``: no Dask, the same tiles one after another in this process
        (which gives the same plan).
    n_workers : int, default 2
        Workers of the local cluster.
    tile_streets : int, default 25,000
        Most street segments in a tile (see :func:`tile_layout`): the size of the work
        one worker does at a time.
    repair_seams : bool, default True
        Redraw the grids along the edges between tiles (without community boundaries).
        ``False`` keeps each tile's plan as drawn: grids then stop at tile edges.
    random_state : int, default 0
        Seed: the same input, seed and tiles give the same plan on any scheduler.
    codes : dict, optional
        Standard grid codes, as in :func:`gridgeo.partition`.
    rules, **keywords
        The planning rules and the layers they read, as in :func:`gridgeo.partition`.

    Returns
    -------
    Plan
        Grids numbered in reading order over the whole area; ``community_id`` as in
        :func:`gridgeo.partition`.

    Notes
    -----
    A tile's households are estimated on the tile: per building, or from the population
    grid by area (each tile rounds its own total, so the sum may differ by a household
    per tile from a whole-area estimate). ``total_households`` (one total for the whole
    area) and locked grids cannot be split into tiles: they are input errors here.
    """
    t0 = time.perf_counter()
    random_state = _check_seed(random_state)
    given, rule_keywords = split_keywords(keywords)
    rules = Rules.from_keywords(rules, **rule_keywords)
    if rules.total_households is not None:
        msg = "total_households is one total for the whole area and cannot be split into tiles; give a population grid or households per building, or use gridgeo.partition"
        raise InputError(msg)
    if given.get("locked_grids") is not None:
        msg = "locked grids cannot be split into tiles; use gridgeo.partition (or gridgeo.rebalance) for a plan with locked grids"
        raise InputError(msg)
    if not isinstance(repair_seams, bool):
        msg = f"repair_seams must be True or False, got {repair_seams!r}"
        raise InputError(msg)
    with _client(scheduler, n_workers) as client:  # first: an unreachable one fails now
        plan = _draw_tiles(
            client, streets, buildings, given, rules, tile_streets, repair_seams, random_state
        )
    plan.seconds = time.perf_counter() - t0
    if codes:
        from ..codes import assign_codes

        plan.grids.insert(1, "code", assign_codes(plan.grids, **codes).to_numpy())
    log.info(plan.describe())
    return plan


def _draw_tiles(client, streets, buildings, given, rules, tile_streets, repair_seams, random_state):
    """Reproject, lay out the tiles, draw them and their seams; one plan."""
    with step("choosing a metric CRS and reprojecting"):
        crs = metric_crs(
            [streets, buildings, given.get("boundaries"), given.get("population")],
            crs=rules.crs,
        )
        streets = to_metric(streets, crs)
        if buildings is not None:
            buildings = to_metric(buildings, crs).assign(**{_ROW: np.arange(len(buildings))})
        layers = {k: to_metric(v, crs) for k, v in given.items() if v is not None}
    rules = dataclasses.replace(rules, crs=crs.to_epsg() or crs.to_wkt())
    bounds = layers.pop("boundaries", None)
    area = study_area(streets, buildings, boundaries=bounds)
    layout = tile_layout(streets, tile_streets=tile_streets, bounds=area.bounds)
    notes: list[str] = []
    if bounds is not None:
        tiles = _community_tiles(streets, buildings, bounds, layers, layout, rules, random_state)
        with step(f"drawing {len(tiles)} tiles of whole communities"):
            plans = _run(client, tiles, "tiles")
        pieces = [(j["key"], p) for j, p in zip(tiles, plans, strict=True) if p is not None]
    else:
        tiles = _square_tiles(streets, buildings, area, layers, layout, rules, random_state)
        with step(f"drawing {len(tiles)} tiles"):
            plans = _run(client, tiles, "tiles")
        pieces = [(j["key"], p) for j, p in zip(tiles, plans, strict=True) if p is not None]
        if repair_seams and len(pieces) > 1:
            for axis in (0, 1):
                pieces, seams = _redraw_seams(
                    client,
                    pieces,
                    streets,
                    buildings,
                    layers,
                    layout,
                    rules,
                    random_state,
                    axis,
                )
                for key, how in seams.items():
                    notes.append(f"seam {key}: {how}")
    plan = _combine(pieces, area, rules, keep_communities=bounds is not None, inputs=buildings)
    plan.notes.extend(notes)
    return plan


# ------------------------------------------------------------------------------ tiles


def _job(
    key, streets, buildings, layers, boundaries, rules, random_state, *, seam: bool = False
) -> dict[str, Any]:
    """One tile's or seam's own data: the streets over its area and buildings, the
    other layers over its area."""
    region = shapely.union_all(boundaries.geometry.values)
    reach = region  # streets around every building too (those outside the communities)
    if buildings is not None and len(buildings):
        reach = shapely.box(
            *np.r_[
                np.minimum(shapely.bounds(region)[:2], buildings.total_bounds[:2]),
                np.maximum(shapely.bounds(region)[2:], buildings.total_bounds[2:]),
            ]
        )
    return {
        "key": key,
        "streets": _clip(streets, reach),
        "buildings": buildings,
        "layers": {"boundaries": boundaries, **{k: _clip(v, region) for k, v in layers.items()}},
        "rules": rules,
        "seed": _seed(random_state, key),
        "seam": seam,
    }


def _most_of(geoms: np.ndarray, regions: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Row of the region holding most of each footprint, as the pipeline counts a
    building in the community holding most of it (a building whose point on surface
    lies in one tile but most of it in the next would otherwise be left out by both);
    ``fallback`` (by point) for points and footprints inside one region."""
    out = fallback.copy()
    g, r = shapely.STRtree(regions).query(geoms, predicate="intersects")
    crossing = np.bincount(g, minlength=len(geoms))[g] > 1
    g, r = g[crossing], r[crossing]
    if len(g):
        share = shapely.area(shapely.intersection(geoms[g], regions[r]))
        order = np.lexsort((-share, g))  # per footprint, the largest share first
        g, r, share = g[order], r[order], share[order]
        first = np.unique(g, return_index=True)[1]
        best = first[share[first] > 0]
        out[g[best]] = r[best]
    return out


def _square_tiles(streets, buildings, area, layers, layout, rules, random_state) -> list[dict]:
    """One job per tile meeting the study area: its box clipped to the area as its one
    community, its buildings (by representative point: each in one tile)."""
    rules = dataclasses.replace(rules, boundary_id=_TILE)
    btile = None
    if buildings is not None:
        geoms = buildings.geometry.values
        btile = _most_of(
            geoms, shapely.box(*layout.boxes.T), layout.tile_of(shapely.point_on_surface(geoms))
        )
    jobs = []
    for i, (key, box) in enumerate(zip(layout.keys, layout.boxes, strict=True)):
        piece = shapely.intersection(area, shapely.box(*box))
        if piece.is_empty or piece.area <= 0:
            continue
        bounds = gpd.GeoDataFrame({_TILE: [key]}, geometry=[piece], crs=streets.crs)
        mine = None if buildings is None else buildings[btile == i]
        jobs.append(_job(key, streets, mine, layers, bounds, rules, random_state))
    return jobs


def _community_tiles(streets, buildings, bounds, layers, layout, rules, random_state) -> list[dict]:
    """One job per tile holding communities' representative points: those whole
    communities and the buildings inside them (or nearest to them)."""
    ctile = layout.tile_of(shapely.point_on_surface(bounds.geometry.values))
    btile = None
    if buildings is not None:
        geoms, regions = buildings.geometry.values, bounds.geometry.values
        pts = shapely.point_on_surface(geoms)
        tree = shapely.STRtree(regions)
        where = np.full(len(pts), -1, dtype=np.int64)
        p, c = tree.query(pts, predicate="intersects")
        first = np.unique(p, return_index=True)[1]
        where[p[first]] = c[first]
        lost = where < 0
        if lost.any():
            where[lost] = tree.query_nearest(pts[lost], all_matches=False)[1]
        btile = ctile[_most_of(geoms, regions, where)]
    jobs = []
    for i in np.unique(ctile):
        mine = None if buildings is None else buildings[btile == i]
        jobs.append(
            _job(layout.keys[i], streets, mine, layers, bounds[ctile == i], rules, random_state)
        )
    return jobs


# ------------------------------------------------------------------------------ seams


def _redraw_seams(client, pieces, streets, buildings, layers, layout, rules, random_state, axis):
    """Redraw the grids along every tile edge of one direction, both sides together."""
    grids = pd.concat(
        [p.grids.assign(_piece=i) for i, (_, p) in enumerate(pieces)], ignore_index=True
    )
    geoms = grids.geometry.values
    tree = shapely.STRtree(geoms)
    taken = np.zeros(len(grids), dtype=bool)
    jobs, members = [], []
    rows_of = _building_rows(pieces, grids) if buildings is not None else None
    # the households the tiles gave stay where they are: the seam is drawn from them
    seam_rules = dataclasses.replace(
        rules,
        boundary_id=_TILE,
        households_column=_HH,
        total_households=None,
        boundary_households=None,
    )
    seam_layers = {k: v for k, v in layers.items() if k != "population"}
    for key, _, seg in (c for c in layout.cuts if c[1] == axis):
        near = np.sort(tree.query(seg, predicate="dwithin", distance=_EPS))
        near = near[~taken[near]]
        if len(np.unique(grids["_piece"].to_numpy()[near])) < 2:
            continue  # one side only: nothing to join across
        taken[near] = True
        region, points = _outline(pieces, grids, near, streets.crs)
        bounds = gpd.GeoDataFrame({_TILE: [key]}, geometry=[region], crs=streets.crs)
        if buildings is None:  # the units' households, as points
            mine = points
        else:
            rows, hh = rows_of(near)
            mine = buildings.iloc[rows].assign(**{_HH: hh})
        jobs.append(
            _job(key, streets, mine, seam_layers, bounds, seam_rules, random_state, seam=True)
        )
        members.append(near)
    if not jobs:
        return pieces, {}
    with step(f"redrawing {len(jobs)} {'vertical' if axis == 0 else 'horizontal'} seams"):
        drawn = _run(client, jobs, "seams")
    seams = {}
    for job, near, d in zip(jobs, members, drawn, strict=True):
        seams[job["key"]] = "redrawn" if d is not None else "kept as the tiles drew it"
        if d is None:
            taken[near] = False
    out = []
    for i, (key, p) in enumerate(pieces):
        gone = set(grids["grid_id"][taken & (grids["_piece"] == i)])
        out.append((key, _without(p, gone)) if gone else (key, p))
    for j, d in zip(jobs, drawn, strict=True):
        if d is None:
            continue
        if buildings is None:  # the points were the units, not buildings
            d = dataclasses.replace(d, buildings=None, grids=d.grids.assign(buildings=0))
        else:
            d = dataclasses.replace(d, buildings=d.buildings.drop(columns=_HH))
        out.append((j["key"], d))
    return out, seams


def _outline(
    pieces, grids: pd.DataFrame, rows: np.ndarray, crs
) -> tuple[shapely.Geometry, gpd.GeoDataFrame]:
    """The area of some rows of ``grids`` — the union of their units (whose vertices are
    those of the street blocks, so the outline meets the streets exactly), on the
    blocks' 1 mm precision grid — and their units as points holding their households."""
    parts, hh = [], []
    chosen = grids.iloc[rows]
    for i, ids in chosen.groupby("_piece")["grid_id"]:
        units = pieces[i][1].units
        mine = units["grid_id"].isin(ids).to_numpy()
        parts.append(units.geometry.values[mine])
        hh.append(units["households"].to_numpy()[mine])
    geoms = np.concatenate(parts)
    points = gpd.GeoDataFrame(
        {_HH: np.concatenate(hh)}, geometry=shapely.point_on_surface(geoms), crs=crs
    )
    return shapely.set_precision(shapely.union_all(geoms), SNAP), points


def _building_rows(
    pieces, grids: pd.DataFrame
) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A function giving the input rows, in order, and the households of the buildings
    in some rows of ``grids``."""
    keys = pd.Series(
        np.arange(len(grids)), index=grids["_piece"].astype(str) + "/" + grids["grid_id"]
    )
    table = pd.concat(
        [
            pd.DataFrame(
                {
                    "grid": keys.reindex(str(i) + "/" + p.buildings["grid_id"]).to_numpy(),
                    "row": p.buildings[_ROW].to_numpy(),
                    "hh": p.buildings["households"].to_numpy(),
                }
            )
            for i, (_, p) in enumerate(pieces)
        ],
        ignore_index=True,
    )

    def rows(near: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sel = table[table["grid"].isin(near)].sort_values("row")
        return sel["row"].to_numpy(), sel["hh"].to_numpy()

    return rows


def _without(plan: Plan, gone: set[str]) -> Plan:
    """``plan`` without the grids ``gone`` (and their units and buildings)."""
    keep = ~plan.grids["grid_id"].isin(gone)
    ukeep = ~plan.units["grid_id"].isin(gone)
    buildings = plan.buildings
    if buildings is not None:
        buildings = buildings[~buildings["grid_id"].isin(gone)]
    return dataclasses.replace(
        plan, grids=plan.grids[keep], units=plan.units[ukeep], buildings=buildings
    )


# ---------------------------------------------------------------------------- combine


def _combine(
    pieces: list[tuple[str, Plan]],
    area,
    rules: Rules,
    *,
    keep_communities: bool,
    inputs: gpd.GeoDataFrame | None = None,
) -> Plan:
    """One plan from the tiles' and seams' plans: grids renumbered in reading order over
    the whole area, block ids made unique, buildings back in input order."""
    band = rules.grid_band()
    if not pieces:
        msg = "no tile holds any street: nothing to draw"
        raise InputError(msg)
    grids, units, blocks, buildings = [], [], [], []
    notes: list[str] = []
    block_offset = 0
    on_streets, weight = 0.0, 0.0
    for key, p in pieces:
        gid = key + "/" + p.grids["grid_id"].astype(str)
        grids.append(p.grids.assign(grid_id=gid.to_numpy()))
        units.append(
            p.units.assign(
                grid_id=(key + "/" + p.units["grid_id"].astype(str)).to_numpy(),
                block_id=p.units["block_id"].to_numpy() + block_offset,
            )
        )
        blocks.append(p.blocks.assign(block_id=p.blocks["block_id"].to_numpy() + block_offset))
        if p.buildings is not None:
            buildings.append(
                p.buildings.assign(
                    grid_id=(key + "/" + p.buildings["grid_id"].astype(str)).to_numpy(),
                    block_id=p.buildings["block_id"].to_numpy() + block_offset,
                )
            )
        block_offset += len(p.blocks)
        if p.boundary_on_streets is not None:
            length = float(shapely.length(p.grids.geometry.values).sum())
            on_streets += p.boundary_on_streets * length
            weight += length
    grids = pd.concat(grids, ignore_index=True)
    if not keep_communities:
        grids["community_id"] = 0
    order = np.argsort(reading_order(grids), kind="stable")
    grids = grids.iloc[order].reset_index(drop=True)
    width = max(4, len(str(len(grids))))
    new_id = np.array([f"G{i + 1:0{width}d}" for i in range(len(grids))], dtype=object)
    rename = pd.Series(new_id, index=grids["grid_id"].to_numpy())
    grids["grid_id"] = new_id
    units = pd.concat(units, ignore_index=True)
    units["grid_id"] = rename.reindex(units["grid_id"]).to_numpy()
    if not keep_communities:
        units["community_id"] = 0
    bld = None
    if buildings:
        bld = pd.concat(buildings)
        bld["grid_id"] = rename.reindex(bld["grid_id"]).to_numpy()
        if inputs is not None:
            bld, left = _place_left_out(bld, grids, inputs, rules)
            if left:
                notes.append(
                    f"{left} buildings lying mostly outside every tile's area (astride tile "
                    "edges) were placed in the grid holding most of them, with the households "
                    "of their households column (else none)"
                )
        bld = bld.sort_values(_ROW).drop(columns=_ROW).reset_index(drop=True)
    return Plan(
        grids=gpd.GeoDataFrame(grids, geometry=grids.geometry.name, crs=pieces[0][1].crs),
        buildings=bld,
        units=gpd.GeoDataFrame(units, geometry=units.geometry.name, crs=pieces[0][1].crs),
        blocks=pd.concat(blocks, ignore_index=True),
        target=band.target,
        tolerance=pieces[0][1].tolerance,
        study_area=area,
        boundary_on_streets=on_streets / weight if weight else None,
        notes=notes,
    )


def _place_left_out(
    bld: pd.DataFrame, grids: pd.DataFrame, inputs: gpd.GeoDataFrame, rules: Rules
) -> tuple[pd.DataFrame, int]:
    """Every input building in exactly one grid: a building no tile kept (the pipeline
    leaves out one lying mostly outside its tile's area, which a building spanning
    several tiles can) goes to the grid holding most of its footprint, else the nearest,
    with its households column's count (else none), added to that grid's households."""
    missing = inputs[~inputs[_ROW].isin(bld[_ROW])]
    if not len(missing):
        return bld, 0
    geoms, cells = missing.geometry.values, grids.geometry.values
    nearest = shapely.STRtree(cells).query_nearest(geoms, all_matches=False)[1]
    where = _most_of(geoms, cells, nearest)
    column = rules.households_column
    hh = np.zeros(len(missing), dtype=np.int64)
    if column is not None and column in missing:
        values = pd.to_numeric(missing[column], errors="coerce").fillna(0).clip(lower=0)
        hh = values.round().astype(np.int64).to_numpy()
    gid = grids["grid_id"].to_numpy()[where]
    added = missing.assign(grid_id=gid, households=hh, block_id=-1)
    per_grid = pd.Series(hh).groupby(gid).sum()
    counts = pd.Series(1, index=gid).groupby(level=0).sum()
    at = grids["grid_id"].map(per_grid).fillna(0).astype(np.int64).to_numpy()
    grids["households"] = grids["households"].to_numpy() + at
    if "buildings" in grids:
        more = grids["grid_id"].map(counts).fillna(0).astype(np.int64).to_numpy()
        grids["buildings"] = grids["buildings"].to_numpy() + more
    log.warning(
        "%d buildings astride tile edges placed in the grid holding most of them", len(missing)
    )
    return pd.concat([bld, added[[c for c in added.columns if c in bld.columns]]]), len(missing)
