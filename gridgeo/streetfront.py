"""Street-front zones (沿街): shops along streets, the grids they fall in, micro-grids.

A known failure of grid plans is that shops along streets fall between residential
grids ("微网格空白") or are managed mixed in with housing ("商圈、住宅混合管理"). This
module finds the frontage where shops stand and says how the plan covers it:

1. **Shops** (:func:`shop_points`): points of interest tagged ``shop``, ``office``,
   ``craft`` or a street-front ``amenity`` (:data:`STREET_FRONT_AMENITIES`: cafés,
   restaurants, banks, pharmacies … not benches or parking), and commercial buildings
   (``building`` in :data:`COMMERCIAL_BUILDINGS`, or a building carrying a shop tag)
   that hold no such point. Each shop is one point (polygons: a point on their surface).
2. **Runs** (:func:`frontage_runs`): street lines that can have a shop front (highway
   classes not in :data:`NON_FRONTAGE`, no tunnels) merged into runs: the segments of
   one street name are joined where they meet end to end, unnamed segments likewise
   (so an unnamed run ends at every junction).
3. **Zones**: a shop within ``frontage_depth`` metres of a run belongs to its nearest
   run, on the left or right of it. Along each run and side, shops closer than
   ``zone_gap`` metres (measured along the street) form one zone. A zone is the strip
   from the street's centre line to ``frontage_depth`` on that side, from
   ``end_margin`` before its first shop to ``end_margin`` after its last one; its
   ``length_m`` is the length of street it runs along.
4. **Status** of a zone, from the grids its shops stand in: ``uncovered`` when a shop
   is in no grid, else ``mixed`` when a shop is only in grids that are not street-front
   grids (mixed management with housing), else ``dedicated`` (every shop is in a
   street-front micro-grid). A grid is a street-front grid when its type column
   (``grid_type`` by default) holds one of :data:`STREET_FRONT_TYPES` (``street_front``,
   ``沿街``, any text starting with ``沿街`` …, see :func:`is_street_front_type`).
5. **Proposed micro-grids**: the shops of zones that are not ``dedicated``, along each
   run and side, are cut into stretches wherever ``micro_grid_gap`` metres of street
   hold no shop; a stretch with at least ``micro_grid_min_shops`` shops becomes as few
   micro-grids as keep each under ``micro_grid_shops`` shops and ``micro_grid_length``
   metres, with equal numbers of shops, split half-way between shops.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import LineString, Point
>>> street = gpd.GeoDataFrame(
...     {"name": ["Jiefang Rd"], "highway": ["primary"]},
...     geometry=[LineString([(500000, 3400000), (500300, 3400000)])], crs=4547)
>>> shops = gpd.GeoDataFrame(
...     {"kind": ["shop"] * 3, "value": ["bakery", "clothes", "mobile_phone"]},
...     geometry=[Point(500020 + 20 * i, 3400010) for i in range(3)], crs=4547)
>>> sf = street_front(street, pois=shops)
>>> sf.zones[["street", "side", "shops", "length_m", "status"]].to_dict("records")
[{'street': 'Jiefang Rd', 'side': 'N', 'shops': 3, 'length_m': 60.0, 'status': 'uncovered'}]
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import InputError
from ._validate import LINEAR, POLYGONAL, check_column, check_layer, check_positive
from .crs import metric_crs, to_metric

__all__ = [
    "COMMERCIAL_BUILDINGS",
    "NON_FRONTAGE",
    "STREET_FRONT_AMENITIES",
    "STREET_FRONT_TYPES",
    "StreetFront",
    "StreetFrontOptions",
    "find_street_front",
    "frontage_runs",
    "is_street_front_type",
    "shop_points",
    "street_front",
]

log = logging.getLogger(__name__)

#: Highway classes without a shop front: motorways, service roads, paths and ways that
#: are not streets. Footways are left out too: sidewalks mapped as footways run beside
#: the street they belong to.
NON_FRONTAGE = frozenset(
    """motorway motorway_link trunk_link service track path footway cycleway bridleway
    steps corridor elevator platform proposed construction abandoned raceway bus_stop
    escape via_ferrata rest_area services""".split()
)

#: ``amenity=*`` values that are premises along a street (shops and services); other
#: amenities (benches, parking, toilets, schools, hospitals …) are not street-front shops.
STREET_FRONT_AMENITIES = frozenset(
    """restaurant cafe fast_food bar pub biergarten food_court ice_cream bank
    bureau_de_change money_transfer payment_centre pharmacy clinic doctors dentist
    veterinary post_office internet_cafe nightclub karaoke_box casino gambling cinema
    theatre car_rental car_wash fuel driving_school language_school music_school
    dancing_school training marketplace childcare laundry dry_cleaning""".split()
)

#: ``building=*`` values of commercial buildings (each one is a shop unless a shop
#: point stands inside it).
COMMERCIAL_BUILDINGS = frozenset({"retail", "commercial", "kiosk", "supermarket", "shop"})

#: Values of the grid type column that mark a street-front micro-grid (compared after
#: :func:`is_street_front_type`'s normalisation; any text starting with 沿街 counts too).
STREET_FRONT_TYPES = frozenset(
    {"street_front", "streetfront", "street_front_micro_grid", "shopfront", "沿街", "商铺"}
)

_INT, _FLOAT, _TEXT = "int64", "float64", "object"
ZONE_COLUMNS = {
    "zone_id": _TEXT,
    "street": _TEXT,
    "side": _TEXT,
    "length_m": _FLOAT,
    "shops": _INT,
    "status": _TEXT,
    "shops_uncovered": _INT,
    "shops_mixed": _INT,
    "shops_dedicated": _INT,
    "grid_ids": _TEXT,
}
MICRO_GRID_COLUMNS = {
    "micro_grid_id": _TEXT,
    "street": _TEXT,
    "side": _TEXT,
    "shops": _INT,
    "length_m": _FLOAT,
    "zone_ids": _TEXT,
    "grid_ids": _TEXT,
}
_POI_KEYS = ("shop", "office", "craft", "amenity")
_NOT_A_SHOP = frozenset({"no", "vacant", "none"})
_COMPASS = ("E", "NE", "N", "NW", "W", "SW", "S", "SE")


@dataclass(frozen=True, kw_only=True)
class StreetFrontOptions:
    """Settings of the street-front analysis (distances in metres).

    Attributes
    ----------
    frontage_depth : float, default 30
        How far from a street's centre line a shop still fronts it; also the depth of
        the zone and micro-grid strips.
    zone_gap : float, default 50
        Shops of one run and side further apart than this along the street start a
        new zone.
    end_margin : float, default 10
        Frontage counted before the first and after the last shop of a zone (half a
        shop front), so that a zone of one shop is 20 m long.
    micro_grid_shops : int, default 30
        Most shops in one proposed micro-grid.
    micro_grid_length : float, default 500
        Longest street frontage of one proposed micro-grid.
    micro_grid_gap : float, default 150
        Frontage without shops longer than this ends a proposed micro-grid.
    micro_grid_min_shops : int, default 3
        Fewest shops worth a micro-grid of their own (fewer: join a nearby grid).
    name_column : str, default "name"
        Column of the streets with the street name (ignored when absent).
    non_frontage : frozenset of str
        Highway classes without a shop front (:data:`NON_FRONTAGE`).
    amenities : frozenset of str
        ``amenity`` values that count as shops (:data:`STREET_FRONT_AMENITIES`).
    commercial_buildings : frozenset of str
        ``building`` values of commercial buildings (:data:`COMMERCIAL_BUILDINGS`).
    street_front_types : frozenset of str
        Grid types of street-front micro-grids (:data:`STREET_FRONT_TYPES`).
    """

    frontage_depth: float = 30.0
    zone_gap: float = 50.0
    end_margin: float = 10.0
    micro_grid_shops: int = 30
    micro_grid_length: float = 500.0
    micro_grid_gap: float = 150.0
    micro_grid_min_shops: int = 3
    name_column: str = "name"
    non_frontage: frozenset[str] = field(default=NON_FRONTAGE)
    amenities: frozenset[str] = field(default=STREET_FRONT_AMENITIES)
    commercial_buildings: frozenset[str] = field(default=COMMERCIAL_BUILDINGS)
    street_front_types: frozenset[str] = field(default=STREET_FRONT_TYPES)

    def checked(self) -> StreetFrontOptions:
        """Return the options after checking every number (raises :class:`InputError`)."""
        for name in ("frontage_depth", "zone_gap", "micro_grid_length", "micro_grid_gap"):
            check_positive(getattr(self, name), name)
        margin = self.end_margin
        if not isinstance(margin, int | float) or not math.isfinite(margin) or margin < 0:
            msg = f"end_margin must be a number of metres, 0 or more, got {margin!r}"
            raise InputError(msg)
        for name in ("micro_grid_shops", "micro_grid_min_shops"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                msg = f"{name} must be a whole number of shops, 1 or more, got {value!r}"
                raise InputError(msg)
        return self


@dataclass
class StreetFront:
    """Result of the street-front analysis (every layer in the metric CRS).

    Attributes
    ----------
    shops : GeoDataFrame
        Every shop point: ``source`` (``poi`` or ``building``), ``kind``, ``value``,
        ``name``, ``frontage`` (within ``frontage_depth`` of a run), ``street``,
        ``side``, ``position_m`` (along its run), ``zone_id``, ``grid_ids`` (the grids
        it stands in, comma-separated) and ``cover`` (``uncovered``, ``mixed`` or
        ``dedicated``).
    zones : GeoDataFrame
        One strip per zone: ``zone_id``, ``street``, ``side`` (compass side of the
        street: N, NE, E …), ``length_m``, ``shops``, ``status``, ``shops_uncovered``,
        ``shops_mixed``, ``shops_dedicated``, ``grid_ids``.
    micro_grids : GeoDataFrame
        Proposed street-front micro-grids: ``micro_grid_id``, ``street``, ``side``,
        ``shops``, ``length_m``, ``zone_ids``, ``grid_ids`` (grids holding the shops
        now).
    runs : GeoDataFrame
        The frontage runs: ``run_id``, ``street``, ``length_m``.
    """

    shops: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    micro_grids: gpd.GeoDataFrame
    runs: gpd.GeoDataFrame


# ----------------------------------------------------------------------------- inputs


def _text(values: pd.Series) -> np.ndarray:
    """Lower-case stripped strings; missing and empty values become ``""``."""
    s = values.astype("string").str.strip().str.lower().fillna("")
    return s.to_numpy(dtype=object)


def is_street_front_type(values: Any, types: frozenset[str] = STREET_FRONT_TYPES) -> np.ndarray:
    """Whether each grid type marks a street-front micro-grid.

    Values are compared after stripping, lower-casing and turning spaces and hyphens
    into underscores; any value starting with ``沿街`` also counts.

    Examples
    --------
    >>> is_street_front_type(["Street-front", "沿街商铺微网格", "residential", None]).tolist()
    [True, True, False, False]
    """
    s = pd.Series(np.asarray(values, dtype=object)).astype("string").str.strip().str.lower()
    s = s.str.replace(r"[\s\-]+", "_", regex=True).fillna("")
    wanted = {str(t).strip().lower().replace(" ", "_").replace("-", "_") for t in types}
    return (s.isin(wanted) | s.str.startswith("沿街")).to_numpy(dtype=bool)


def _poi_mask(pois: pd.DataFrame, opt: StreetFrontOptions) -> np.ndarray:
    """Which rows of a POI layer are shops (see :func:`shop_points`)."""
    n = len(pois)
    if "kind" in pois.columns and "value" in pois.columns:
        kind, value = _text(pois["kind"]), _text(pois["value"])
        shop = np.isin(kind, ["shop", "office", "craft"]) & ~np.isin(value, list(_NOT_A_SHOP))
        return shop | ((kind == "amenity") & np.isin(value, list(opt.amenities)))
    keys = [k for k in _POI_KEYS if k in pois.columns]
    if not keys:
        return np.ones(n, dtype=bool)  # a plain layer of shops
    return _tagged_shop(pois, opt)


def _tagged_shop(df: pd.DataFrame, opt: StreetFrontOptions) -> np.ndarray:
    out = np.zeros(len(df), dtype=bool)
    for key in ("shop", "office", "craft"):
        if key in df.columns:
            v = _text(df[key])
            out |= (v != "") & ~np.isin(v, list(_NOT_A_SHOP))
    if "amenity" in df.columns:
        out |= np.isin(_text(df["amenity"]), list(opt.amenities))
    return out


def _column(df: pd.DataFrame, name: str) -> np.ndarray:
    if name in df.columns:
        return df[name].astype(object).where(df[name].notna(), None).to_numpy(dtype=object)
    return np.full(len(df), None, dtype=object)


def shop_points(
    pois: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    options: StreetFrontOptions | None = None,
) -> gpd.GeoDataFrame:
    """Shops as points, from a POI layer and commercial buildings.

    Parameters
    ----------
    pois : GeoDataFrame, optional
        Points or polygons. With ``kind``/``value`` columns (the ``pois`` layer of
        :func:`gridgeo.read_osm`), rows of kind ``shop``, ``office`` or ``craft`` and
        street-front amenities are shops; with ``shop``/``office``/``craft``/``amenity``
        columns (raw OSM tags), rows carrying one of them; with none of these columns,
        every feature is a shop.
    buildings : GeoDataFrame, optional
        Building polygons in the same CRS. A commercial building (``building`` in
        ``options.commercial_buildings``, or a ``shop``/``office``/``craft``/amenity
        tag) that holds no shop point counts as one shop.
    options : StreetFrontOptions, optional

    Returns
    -------
    GeoDataFrame
        Points: ``source`` (``poi`` or ``building``), ``kind``, ``value``, ``name``,
        ``ref`` (the row label in its layer). Polygons become a point on their surface.
    """
    opt = options or StreetFrontOptions()
    parts = []
    crs = None
    if pois is not None and len(pois):
        crs = pois.crs
        keep = _poi_mask(pois, opt)
        p = pois[keep]
        kind = _column(p, "kind")
        value = _column(p, "value")
        if "kind" not in p.columns:
            kind, value = _first_tag(p)
        parts.append(
            pd.DataFrame(
                {
                    "source": "poi",
                    "kind": kind,
                    "value": value,
                    "name": _column(p, "name"),
                    "ref": p.index.to_numpy(dtype=object),
                    "geometry": shapely.point_on_surface(p.geometry.to_numpy()),
                }
            )
        )
    if buildings is not None and len(buildings):
        crs = crs or buildings.crs
        commercial = _tagged_shop(buildings, opt)
        if "building" in buildings.columns:
            commercial |= np.isin(_text(buildings["building"]), list(opt.commercial_buildings))
        b = buildings[commercial]
        if len(b) and parts:
            pts = parts[0]["geometry"].to_numpy()
            hit = shapely.STRtree(pts).query(b.geometry.to_numpy(), predicate="intersects")[0]
            b = b[~np.isin(np.arange(len(b)), hit)]
        if len(b):
            kind, value = _first_tag(b)
            no_tag = pd.isna(kind)
            kind = np.where(no_tag, "building", kind)
            value = np.where(no_tag, _column(b, "building"), value)
            parts.append(
                pd.DataFrame(
                    {
                        "source": "building",
                        "kind": kind,
                        "value": value,
                        "name": _column(b, "name"),
                        "ref": b.index.to_numpy(dtype=object),
                        "geometry": shapely.point_on_surface(b.geometry.to_numpy()),
                    }
                )
            )
    columns = ["source", "kind", "value", "name", "ref"]
    if not parts:
        empty = {c: pd.Series(dtype=object) for c in columns}
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    df = pd.concat(parts, ignore_index=True)
    return gpd.GeoDataFrame(df[columns], geometry=df["geometry"].to_numpy(), crs=crs)


def _first_tag(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Kind (first of shop/office/craft/amenity present) and its value, per row."""
    kind = np.full(len(df), None, dtype=object)
    value = np.full(len(df), None, dtype=object)
    for key in _POI_KEYS:
        if key in df.columns:
            v = df[key].to_numpy(dtype=object)
            hit = pd.isna(kind) & ~pd.isna(v)
            kind[hit] = key
            value[hit] = v[hit]
    return kind, value


def frontage_runs(
    streets: gpd.GeoDataFrame, *, options: StreetFrontOptions | None = None
) -> gpd.GeoDataFrame:
    """Merge the street lines that can have a shop front into runs.

    Segments of one street name are joined where they meet end to end
    (:func:`shapely.line_merge`); unnamed segments likewise, so an unnamed run ends at
    every junction. Highway classes in ``options.non_frontage`` and tunnels are left
    out.

    Parameters
    ----------
    streets : GeoDataFrame
        Street lines in a metric CRS, optionally with ``highway``, ``tunnel`` and a
        name column (``options.name_column``).
    options : StreetFrontOptions, optional

    Returns
    -------
    GeoDataFrame
        ``run_id`` (0…n−1), ``street`` (name or None), ``length_m``; LineStrings.
    """
    opt = options or StreetFrontOptions()
    keep = np.ones(len(streets), dtype=bool)
    if "highway" in streets.columns:
        keep &= ~np.isin(_text(streets["highway"]), list(opt.non_frontage))
    if "tunnel" in streets.columns:
        keep &= np.isin(_text(streets["tunnel"]), ["", "no", "false", "0"])
    s = streets[keep]
    lines = shapely.get_parts(s.geometry.to_numpy(), return_index=True)
    geoms, row = lines
    if opt.name_column in s.columns:
        names = pd.Series(s[opt.name_column].to_numpy(dtype=object)[row]).astype("string")
        names = names.str.strip().replace("", pd.NA)
    else:
        names = pd.Series(pd.NA, index=range(len(geoms)), dtype="string")
    code, uniques = pd.factorize(names, sort=True)  # unnamed: code −1
    group = np.where(code < 0, len(uniques), code)
    if len(geoms):
        by_group = np.argsort(group, kind="stable")
        merged = shapely.line_merge(
            shapely.multilinestrings(geoms[by_group], indices=group[by_group])
        )
        chains, gi = shapely.get_parts(merged, return_index=True)
    else:
        chains, gi = np.array([], dtype=object), np.array([], dtype=np.int64)
    present = np.unique(group)
    grp = present[gi] if len(present) else gi
    street = np.array(list(uniques) + [None], dtype=object)[grp]
    length = shapely.length(chains)
    ok = length > 0
    runs = gpd.GeoDataFrame(
        {
            "run_id": np.arange(int(ok.sum())),
            "street": street[ok],
            "length_m": length[ok],
        },
        geometry=chains[ok],
        crs=streets.crs,
    )
    log.debug("%d frontage runs from %d street segments", len(runs), len(s))
    return runs


# --------------------------------------------------------------------------- geometry


def _substrings(
    lines: np.ndarray, line_idx: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """The part of ``lines[line_idx[k]]`` between distances ``start[k]`` and ``end[k]``."""
    n = len(line_idx)
    if n == 0:
        return np.array([], dtype=object)
    xy, owner = shapely.get_coordinates(lines, return_index=True)
    seg = np.r_[0.0, np.hypot(*np.diff(xy, axis=0).T)]
    first = np.r_[True, owner[1:] != owner[:-1]]
    seg[first] = 0.0
    cum = np.cumsum(seg)
    base = np.maximum.accumulate(np.where(first, cum, 0.0))
    along = cum - base  # distance of each vertex along its own line
    lengths = shapely.length(lines)
    offset = np.r_[0.0, np.cumsum(lengths + 1.0)[:-1]]  # lines apart on one axis
    key = along + offset[owner]
    lo = np.searchsorted(key, offset[line_idx] + start, side="right")
    hi = np.searchsorted(key, offset[line_idx] + end, side="left")
    hi = np.maximum(hi, lo)
    inner = hi - lo
    which = np.repeat(np.arange(n), inner)
    rank = np.arange(int(inner.sum())) - np.repeat(np.cumsum(inner) - inner, inner)
    vertex = np.repeat(lo, inner) + rank
    a = shapely.get_coordinates(shapely.line_interpolate_point(lines[line_idx], start))
    b = shapely.get_coordinates(shapely.line_interpolate_point(lines[line_idx], end))
    zone = np.r_[np.arange(n), which, np.arange(n)]
    order_key = np.r_[np.full(n, -1.0), rank.astype(float), np.full(n, np.inf)]
    coords = np.vstack([a, xy[vertex], b])
    order = np.lexsort((order_key, zone))
    return shapely.linestrings(coords[order], indices=zone[order])


def _strips(lines: np.ndarray, side: np.ndarray, depth: float) -> np.ndarray:
    """Strip from each line to ``depth`` metres on its side (+1 left, −1 right)."""
    if len(lines) == 0:
        return np.array([], dtype=object)
    return shapely.buffer(lines, side * depth, single_sided=True)


def _compass(lines: np.ndarray, strips: np.ndarray) -> np.ndarray:
    """Compass side (N, NE, E …) of each strip seen from the middle of its street."""
    if len(lines) == 0:
        return np.array([], dtype=object)
    mid = shapely.line_interpolate_point(lines, 0.5, normalized=True)
    c = shapely.centroid(strips)
    dx = shapely.get_x(c) - shapely.get_x(mid)
    dy = shapely.get_y(c) - shapely.get_y(mid)
    ok = np.isfinite(dx) & np.isfinite(dy)
    angle = np.degrees(np.arctan2(np.where(ok, dy, 0.0), np.where(ok, dx, 0.0)))
    sector = np.round(angle / 45.0).astype(np.int64) % 8
    out = np.asarray(_COMPASS, dtype=object)[sector]
    out[~ok] = None
    return out


def _join_ids(keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Comma-joined sorted unique ids per key 0…n−1 (None where there is none).

    ``values`` may themselves be comma-joined lists of ids, or None.
    """
    out = np.full(n, None, dtype=object)
    df = pd.DataFrame({"k": np.asarray(keys), "v": pd.Series(values, dtype=object)}).dropna()
    if len(df):
        df["v"] = df["v"].astype(str).str.split(",")
        df = df.explode("v")
        df = df[df["v"] != ""].drop_duplicates().sort_values(["k", "v"])
        joined = df.groupby("k")["v"].agg(",".join)
        out[joined.index.to_numpy(dtype=np.int64)] = joined.to_numpy()
    return out


# ------------------------------------------------------------------------------- core


def find_street_front(
    shops: gpd.GeoDataFrame,
    runs: gpd.GeoDataFrame,
    *,
    grid_geoms: np.ndarray | None = None,
    grid_ids: np.ndarray | None = None,
    dedicated: np.ndarray | None = None,
    options: StreetFrontOptions | None = None,
) -> StreetFront:
    """Zones, statuses and proposed micro-grids from shops and runs (all metric).

    The core of :func:`street_front` on already checked layers: ``shops`` from
    :func:`shop_points`, ``runs`` from :func:`frontage_runs`, and the grids as arrays
    of polygons, ids and street-front flags (``dedicated``).
    """
    opt = (options or StreetFrontOptions()).checked()
    crs = runs.crs if runs.crs is not None else shops.crs
    n_grids = 0 if grid_geoms is None else len(grid_geoms)
    pts = shops.geometry.to_numpy()
    n = len(pts)
    lines = runs.geometry.to_numpy()

    # --- which grids each shop stands in
    in_grid = np.zeros(n, dtype=bool)
    in_dedicated = np.zeros(n, dtype=bool)
    shop_grids = np.full(n, None, dtype=object)
    if n_grids and n:
        pi, gi = shapely.STRtree(grid_geoms).query(pts, predicate="intersects")
        in_grid[pi] = True
        in_dedicated[pi[dedicated[gi]]] = True
        shop_grids = _join_ids(pi, grid_ids[gi], n)
    cover = np.where(in_dedicated, "dedicated", np.where(in_grid, "mixed", "uncovered"))

    # --- nearest run, position along it, side
    run = np.full(n, -1, dtype=np.int64)
    if n and len(lines):
        si, ri = shapely.STRtree(lines).query_nearest(
            pts, max_distance=opt.frontage_depth, all_matches=False
        )
        run[si] = ri
    front = run >= 0
    fi = np.flatnonzero(front)
    r = run[fi]
    pos = np.full(n, np.nan)
    side = np.zeros(n, dtype=np.int64)
    if len(fi):
        line = lines[r]
        s = shapely.line_locate_point(line, pts[fi])
        length = shapely.length(line)
        foot = shapely.get_coordinates(shapely.line_interpolate_point(line, s))
        a = shapely.get_coordinates(shapely.line_interpolate_point(line, np.clip(s - 1, 0, None)))
        b = shapely.get_coordinates(shapely.line_interpolate_point(line, np.minimum(s + 1, length)))
        p = shapely.get_coordinates(pts[fi])
        d, v = b - a, p - foot
        cross = d[:, 0] * v[:, 1] - d[:, 1] * v[:, 0]
        pos[fi] = s
        side[fi] = np.where(cross >= 0, 1, -1)

    # --- zones: along each run and side, shops closer than zone_gap
    zone = np.full(n, -1, dtype=np.int64)
    order = fi[np.lexsort((pos[fi], side[fi], run[fi]))]
    if len(order):
        ro, so, po = run[order], side[order], pos[order]
        new = np.r_[True, (ro[1:] != ro[:-1]) | (so[1:] != so[:-1]) | (np.diff(po) > opt.zone_gap)]
        zone[order] = np.cumsum(new) - 1
    zones, zone_rank = _zones(zone, run, side, pos, cover, shop_grids, runs, opt)
    zone_ids = zones["zone_id"].to_numpy(dtype=object)
    zid = np.full(n, None, dtype=object)
    zid[front] = zone_ids[zone_rank[zone[front]]] if len(zone_ids) else None

    names = runs["street"].to_numpy(dtype=object)
    street = np.full(n, None, dtype=object)
    street[fi] = names[r]
    side_txt = np.full(n, None, dtype=object)
    if len(zones):
        side_of_zone = zones["side"].to_numpy(dtype=object)
        side_txt[fi] = side_of_zone[zone_rank[zone[fi]]]
    shops_out = gpd.GeoDataFrame(
        {
            **{
                c: shops[c].to_numpy(dtype=object)
                for c in shops.columns
                if c != shops.geometry.name
            },
            "frontage": front,
            "street": street,
            "side": side_txt,
            "position_m": pos,
            "zone_id": zid,
            "grid_ids": shop_grids,
            "cover": cover.astype(object),
        },
        geometry=pts,
        crs=crs,
    )

    # --- proposed micro-grids: shops of zones that are not dedicated
    status_of_shop = np.full(n, None, dtype=object)
    if len(zones):
        st = zones["status"].to_numpy(dtype=object)
        status_of_shop[fi] = st[zone_rank[zone[fi]]]
    take = np.flatnonzero(front & (status_of_shop != "dedicated"))
    micro = _micro_grids(take, run, side, pos, zid, shop_grids, runs, opt)
    return StreetFront(shops=shops_out, zones=zones, micro_grids=micro, runs=runs)


def _zones(
    zone: np.ndarray,
    run: np.ndarray,
    side: np.ndarray,
    pos: np.ndarray,
    cover: np.ndarray,
    shop_grids: np.ndarray,
    runs: gpd.GeoDataFrame,
    opt: StreetFrontOptions,
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """One strip per zone label, with counts and status; and the row of each label."""
    columns = ZONE_COLUMNS
    idx = np.flatnonzero(zone >= 0)
    if len(idx) == 0:
        return _empty(columns, runs.crs), np.array([], dtype=np.int64)
    df = pd.DataFrame(
        {
            "zone": zone[idx],
            "run": run[idx],
            "side": side[idx],
            "pos": pos[idx],
            "uncovered": cover[idx] == "uncovered",
            "mixed": cover[idx] == "mixed",
            "dedicated": cover[idx] == "dedicated",
        }
    )
    g = df.groupby("zone", sort=True)
    agg = g.agg(
        run=("run", "first"),
        side=("side", "first"),
        first=("pos", "min"),
        last=("pos", "max"),
        shops=("pos", "size"),
        uncovered=("uncovered", "sum"),
        mixed=("mixed", "sum"),
        dedicated=("dedicated", "sum"),
    )
    lines = runs.geometry.to_numpy()
    run_len = runs["length_m"].to_numpy(dtype=float)
    ri = agg["run"].to_numpy()
    start = np.maximum(agg["first"].to_numpy() - opt.end_margin, 0.0)
    end = np.minimum(agg["last"].to_numpy() + opt.end_margin, run_len[ri])
    sub = _substrings(lines, ri, start, end)
    strips = _strips(sub, agg["side"].to_numpy(), opt.frontage_depth)
    status = np.where(
        agg["uncovered"].to_numpy() > 0,
        "uncovered",
        np.where(agg["mixed"].to_numpy() > 0, "mixed", "dedicated"),
    ).astype(object)
    street = runs["street"].to_numpy(dtype=object)[ri]
    grids = _join_ids(zone[idx], shop_grids[idx], int(zone.max()) + 1)
    # reading order: by street name (unnamed last), then run, position along it, side
    order = np.lexsort((-agg["side"].to_numpy(), start, ri, pd.isna(street), street.astype(str)))
    zone_rank = np.empty(len(order), dtype=np.int64)
    zone_rank[order] = np.arange(len(order))
    out = gpd.GeoDataFrame(
        {
            "zone_id": _ids("S", len(order)),
            "street": street[order],
            "side": _compass(sub, strips)[order],
            "length_m": np.round(end - start, 3)[order],
            "shops": agg["shops"].to_numpy()[order].astype(np.int64),
            "status": status[order],
            "shops_uncovered": agg["uncovered"].to_numpy()[order].astype(np.int64),
            "shops_mixed": agg["mixed"].to_numpy()[order].astype(np.int64),
            "shops_dedicated": agg["dedicated"].to_numpy()[order].astype(np.int64),
            "grid_ids": grids[order],
        },
        geometry=strips[order],
        crs=runs.crs,
    )
    return out, zone_rank


def _micro_grids(
    take: np.ndarray,
    run: np.ndarray,
    side: np.ndarray,
    pos: np.ndarray,
    zone_id: np.ndarray,
    shop_grids: np.ndarray,
    runs: gpd.GeoDataFrame,
    opt: StreetFrontOptions,
) -> gpd.GeoDataFrame:
    """Group shops along runs into micro-grids (see the module notes)."""
    columns = MICRO_GRID_COLUMNS
    if len(take) == 0:
        return _empty(columns, runs.crs)
    order = take[np.lexsort((pos[take], side[take], run[take]))]
    ro, so, po = run[order], side[order], pos[order]
    brk = np.r_[
        True, (ro[1:] != ro[:-1]) | (so[1:] != so[:-1]) | (np.diff(po) > opt.micro_grid_gap)
    ]
    seg = np.cumsum(brk) - 1
    seg_start = np.flatnonzero(brk)
    seg_n = np.diff(np.r_[seg_start, len(order)])
    run_len = runs["length_m"].to_numpy(dtype=float)
    first, last = po[seg_start], po[seg_start + seg_n - 1]
    span = np.minimum(last + opt.end_margin, run_len[ro[seg_start]]) - np.maximum(
        first - opt.end_margin, 0.0
    )
    k = np.maximum(
        np.ceil(seg_n / opt.micro_grid_shops), np.ceil(span / opt.micro_grid_length)
    ).astype(np.int64)
    k = np.clip(k, 1, seg_n)
    rank = np.arange(len(order)) - seg_start[seg]
    piece = (rank * k[seg]) // seg_n[seg]
    big = seg_n[seg] >= opt.micro_grid_min_shops
    label_key = seg * (int(k.max()) + 1) + piece
    _, label = np.unique(label_key, return_inverse=True)
    keep = big
    if not keep.any():
        return _empty(columns, runs.crs)
    df = pd.DataFrame({"label": label, "seg": seg, "pos": po, "run": ro, "side": so, "keep": keep})
    agg = df.groupby("label", sort=True).agg(
        seg=("seg", "first"),
        run=("run", "first"),
        side=("side", "first"),
        first=("pos", "min"),
        last=("pos", "max"),
        shops=("pos", "size"),
        keep=("keep", "first"),
    )
    same_prev = np.r_[False, agg["seg"].to_numpy()[1:] == agg["seg"].to_numpy()[:-1]]
    same_next = np.r_[same_prev[1:], False]
    fst, lst = agg["first"].to_numpy(), agg["last"].to_numpy()
    ri = agg["run"].to_numpy()
    start = np.where(same_prev, (np.r_[np.nan, lst[:-1]] + fst) / 2, fst - opt.end_margin)
    end = np.where(same_next, (lst + np.r_[fst[1:], np.nan]) / 2, lst + opt.end_margin)
    start = np.maximum(start, 0.0)
    end = np.minimum(end, run_len[ri])
    kept = agg["keep"].to_numpy(dtype=bool)
    sub = _substrings(runs.geometry.to_numpy(), ri[kept], start[kept], end[kept])
    strips = _strips(sub, agg["side"].to_numpy()[kept], opt.frontage_depth)
    n_out = int(kept.sum())
    new_label = np.full(len(agg), -1)
    new_label[kept] = np.arange(n_out)
    lab = new_label[label]
    ok = lab >= 0
    zones = _join_ids(lab[ok], zone_id[order][ok], n_out)
    grids = _join_ids(lab[ok], shop_grids[order][ok], n_out)
    street = runs["street"].to_numpy(dtype=object)[ri[kept]]
    side = agg["side"].to_numpy()[kept]
    # reading order, as the zones: street name (unnamed last), run, position, side
    rank = np.lexsort((-side, start[kept], ri[kept], pd.isna(street), street.astype(str)))
    out = gpd.GeoDataFrame(
        {
            "micro_grid_id": _ids("M", n_out),
            "street": street[rank],
            "side": _compass(sub, strips)[rank],
            "shops": agg["shops"].to_numpy()[kept].astype(np.int64)[rank],
            "length_m": np.round(end[kept] - start[kept], 3)[rank],
            "zone_ids": zones[rank],
            "grid_ids": grids[rank],
        },
        geometry=strips[rank],
        crs=runs.crs,
    )
    return out


def _ids(prefix: str, n: int) -> list[str]:
    width = max(3, len(str(n)))
    return [f"{prefix}{i + 1:0{width}d}" for i in range(n)]


def _empty(columns: dict[str, str], crs: Any) -> gpd.GeoDataFrame:
    """An empty layer with typed columns (so that a GeoPackage stores them right)."""
    return gpd.GeoDataFrame(
        {c: pd.Series(dtype=t) for c, t in columns.items()},
        geometry=gpd.GeoSeries([], crs=crs),
        crs=crs,
    )


# ----------------------------------------------------------------------------- public


def street_front(
    streets: gpd.GeoDataFrame,
    *,
    pois: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    grids: gpd.GeoDataFrame | None = None,
    grid_id: str | None = None,
    grid_type: str | None = None,
    options: StreetFrontOptions | None = None,
    crs: Any = None,
) -> StreetFront:
    """Find street-front zones, how the grids cover them, and propose micro-grids.

    Parameters
    ----------
    streets : GeoDataFrame
        Street lines (any CRS); see :func:`frontage_runs`.
    pois : GeoDataFrame, optional
        Shops and services as points or polygons; see :func:`shop_points`.
    buildings : GeoDataFrame, optional
        Building polygons; commercial ones count as shops (see :func:`shop_points`).
    grids : GeoDataFrame, optional
        The grid plan; without it every zone is ``uncovered``.
    grid_id : str, optional
        Column of ``grids`` with the grid id (default ``grid_id`` if present, else
        the row labels).
    grid_type : str, optional
        Column of ``grids`` with the grid type (default ``grid_type`` if present);
        values in ``options.street_front_types`` mark street-front micro-grids.
    options : StreetFrontOptions, optional
        Distances and tag lists.
    crs : int, str or pyproj.CRS, optional
        Metric CRS to compute in (default: :func:`gridgeo.crs.metric_crs`).

    Returns
    -------
    StreetFront
        Shops, zones and proposed micro-grids, in the metric CRS.

    Raises
    ------
    InputError
        A layer is unusable (see :func:`gridgeo._validate.check_layer`), neither POIs
        nor buildings are given, or a named column is missing.
    """
    opt = (options or StreetFrontOptions()).checked()
    streets = check_layer(streets, "streets", geom_types=LINEAR)
    if pois is None and buildings is None:
        msg = "street_front needs shops: give pois= (points of interest) or buildings="
        raise InputError(msg)
    pois = None if pois is None else check_poi_layer(pois)
    if buildings is not None:
        buildings = check_layer(buildings, "buildings", geom_types=POLYGONAL)
    if grids is not None:
        grids = check_layer(grids, "grids", geom_types=POLYGONAL)
    metric = metric_crs([streets, pois, buildings, grids], crs=crs)
    streets = to_metric(streets, metric)
    pois = None if pois is None else to_metric(pois, metric)
    buildings = None if buildings is None else to_metric(buildings, metric)
    shops = shop_points(pois, buildings, options=opt)
    shops = shops.set_crs(metric, allow_override=True)
    runs = frontage_runs(streets, options=opt)
    kw: dict[str, Any] = {}
    if grids is not None:
        grids = to_metric(grids, metric)
        ids, dedicated = grid_ids_and_types(grids, grid_id, grid_type, opt)
        kw = {"grid_geoms": grids.geometry.to_numpy(), "grid_ids": ids, "dedicated": dedicated}
    return find_street_front(shops, runs, options=opt, **kw)


def check_poi_layer(pois: object) -> gpd.GeoDataFrame | None:
    """Validate a POI layer (points or polygons); an empty layer gives None."""
    if isinstance(pois, gpd.GeoDataFrame | gpd.GeoSeries) and len(pois) == 0:
        log.info("the POI layer is empty: shops come from buildings only")
        return None
    return check_layer(pois, "points of interest", geom_types={"Point", "MultiPoint", *POLYGONAL})


def grid_ids_and_types(
    grids: gpd.GeoDataFrame,
    grid_id: str | None,
    grid_type: str | None,
    options: StreetFrontOptions | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Grid ids (as text) and street-front flags of a checked grids layer."""
    opt = options or StreetFrontOptions()
    if grid_id is not None:
        check_column(grids, grid_id, "grids")
        ids = grids[grid_id]
    elif "grid_id" in grids.columns:
        ids = grids["grid_id"]
    else:
        ids = pd.Series(grids.index, index=grids.index)
    ids = ids.astype(object).where(ids.notna(), None).map(lambda v: None if v is None else str(v))
    if ids.isna().any():
        msg = (
            f"grids layer has {int(ids.isna().sum())} rows without a grid id; give every "
            "grid an id (or name the id column with grid_id= / --grid-id)"
        )
        raise InputError(msg)
    if grid_type is not None:
        check_column(grids, grid_type, "grids")
        dedicated = is_street_front_type(grids[grid_type], opt.street_front_types)
    elif "grid_type" in grids.columns:
        dedicated = is_street_front_type(grids["grid_type"], opt.street_front_types)
    else:
        dedicated = np.zeros(len(grids), dtype=bool)
    return ids.to_numpy(dtype=object), dedicated


def with_depth(
    options: StreetFrontOptions | None, frontage_depth: float | None
) -> StreetFrontOptions:
    """``options`` (or the defaults) with ``frontage_depth`` replaced when given."""
    opt = options or StreetFrontOptions()
    if not isinstance(opt, StreetFrontOptions):
        msg = f"street_front options must be a StreetFrontOptions, got {type(opt).__name__}"
        raise InputError(msg)
    if frontage_depth is not None:
        opt = replace(opt, frontage_depth=check_positive(frontage_depth, "frontage_depth"))
    return opt.checked()
