"""The grid hierarchy: district → street → community → grid → micro-grid.

- :func:`micro_grids` divides every grid into **micro-grids** (微网格) of a smaller
  target — 30–50 households by default, a building or a group of stairwells — run by
  building heads and volunteers. Each grid is cut into one piece per building (the
  tessellation of :mod:`gridgeo.units`) and the pieces are grouped with the partition
  engine (:func:`gridgeo.engine.partition_graph`), the grid as the group that parts
  never cross. A building that alone holds more than the band is a micro-grid of its
  own, with one liaison per stairwell group (``liaisons`` = households ÷ upper bound,
  rounded up).
- :func:`hierarchy` counts every level: districts and streets from the grid codes
  (:mod:`gridgeo.codes`) or from ``district`` / ``street`` columns, communities from
  ``community_id``, grids, and micro-grids; one row per node with its parent and the
  number of nodes of each level below it.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> grids = gpd.GeoDataFrame(
...     {"grid_id": ["G1", "G2"], "community_id": ["c1", "c1"],
...      "code": ["110105001001001", "110105001001002"]},
...     geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=3857,
... )
>>> xy = [(x, y) for x in (7, 38, 71, 112, 141, 177) for y in (9, 56)]
>>> bld = gpd.GeoDataFrame(
...     {"households": [20] * 12},
...     geometry=[box(x, y, x + 15, y + 21) for x, y in xy], crs=3857,
... )
>>> micro = micro_grids(grids, bld, band=(30, 50))
>>> micro.groupby("grid_id").size().tolist(), int(micro.households.sum())
([3, 3], 240)
>>> h = hierarchy(grids, micro)
>>> h.counts
{'district': 1, 'street': 1, 'community': 1, 'grid': 2, 'micro_grid': 6}
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ._errors import InputError
from ._validate import POLYGONAL, check_column, check_layer, check_positive
from .blocks import assign_to_polygons
from .codes import reading_rank
from .crs import plan_metric_crs, to_metric
from .engine import Band, partition_graph
from .households import building_households
from .plan import dissolve_units
from .units import adjacency, make_units, merge_isolated

__all__ = ["LEVELS", "Hierarchy", "hierarchy", "micro_grids"]

log = logging.getLogger(__name__)

#: Levels of the hierarchy, top down.
LEVELS: tuple[str, ...] = ("district", "street", "community", "grid", "micro_grid")

_LEVEL_NAMES = {
    "district": "区县 District",
    "street": "街道(乡镇) Street",
    "community": "社区(村) Community",
    "grid": "网格 Grid",
    "micro_grid": "微网格 Micro-grid",
}


def micro_grids(
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    *,
    target: float = 40,
    band: tuple[float, float] | None = (30, 50),
    households_column: str = "households",
    grid_id: str = "grid_id",
    random_state: int = 0,
) -> gpd.GeoDataFrame:
    """Divide every grid into micro-grids of about ``target`` households.

    Parameters
    ----------
    grids : GeoDataFrame
        Grid polygons (any CRS) with ``grid_id``.
    buildings : GeoDataFrame
        Building footprints (any CRS) with households; each goes to the grid holding
        most of it (the nearest when it is in none).
    target : float, default 40
        Households per micro-grid, used when ``band`` is None (then ±25 %).
    band : (float, float) or None, default (30, 50)
        Accepted households per micro-grid.
    households_column : str, default "households"
        Column of ``buildings`` with households (estimated from footprints when the
        column is missing, see :func:`gridgeo.building_households`).
    grid_id : str, default "grid_id"
    random_state : int, default 0

    Returns
    -------
    GeoDataFrame
        ``micro_id`` (``<grid_id>-01`` …, numbered like a page inside each grid),
        ``grid_id``, ``households``, ``buildings``, ``liaisons`` (1, or one per band's
        upper bound of households for a building that alone exceeds it),
        ``indivisible`` and the polygon, in the grids' metric CRS. The micro-grids of a
        grid tile it.
    """
    grids = check_layer(grids, "grids", geom_types=POLYGONAL)
    buildings = check_layer(buildings, "buildings", geom_types=POLYGONAL)
    check_column(grids, grid_id, "grids")
    b = _micro_band(target, band)
    metric = plan_metric_crs(grids, buildings)
    grids, buildings = to_metric(grids, metric), to_metric(buildings, metric)
    column = households_column if households_column in buildings.columns else None
    hh = building_households(buildings, column=column).to_numpy(dtype=np.int64)
    units, adj = _building_pieces(grids.geometry.values, buildings.geometry.values, hh, b, metric)
    labels = partition_graph(
        units.households.astype(float),
        adj,
        band=b,
        groups=units.community,
        random_state=random_state,
    )
    out = _micro_table(units, labels, hh, grids[grid_id].to_numpy(), b, metric)
    log.info(
        "%d micro-grids in %d grids (%g–%g households)", len(out), len(grids), b.lower, b.upper
    )
    return out


def _micro_band(target: float, band: tuple[float, float] | None) -> Band:
    """The micro-grid band, checked: ``band``, else ``target`` ±25 %."""
    if band is None:
        return Band.around(check_positive(target, "micro-grid target"), 0.25)
    lo, hi = (check_positive(v, "micro-grid band limit") for v in band)
    if lo >= hi:
        msg = f"micro-grid band must be (lower, upper) with lower < upper, got {band!r}"
        raise InputError(msg)
    return Band((lo + hi) / 2, lo, hi)


def _building_pieces(ggeom, bgeom, hh: np.ndarray, b: Band, crs):
    """Every grid cut into one piece per building (the grid as community), and adjacency."""
    bgrid = assign_to_polygons(bgeom, ggeom, nearest=True)
    n = len(ggeom)
    blocks = gpd.GeoDataFrame(
        {"block_id": np.arange(n), "community_id": np.arange(n)}, geometry=ggeom, crs=crs
    )
    grid_hh = np.bincount(bgrid, weights=hh, minlength=n).astype(np.int64)
    units = make_units(
        blocks,
        grid_hh,
        buildings=bgeom,
        building_block=bgrid,
        building_households=hh,
        split_above=0,
        piece_size=b.target,
    )
    return merge_isolated(units, adjacency(units.geometry))


def _micro_table(units, labels: np.ndarray, hh: np.ndarray, ids: np.ndarray, b: Band, crs):
    """The micro-grids dissolved, counted and numbered like a page inside each grid."""
    lab_ids, polys = dissolve_units(units.geometry, labels)
    owner = pd.Series(units.community).groupby(labels).first().reindex(lab_ids).to_numpy()
    bl = labels[units.building_unit]
    m_hh = np.bincount(bl, weights=hh, minlength=labels.max() + 1)[lab_ids].astype(np.int64)
    m_b = np.bincount(bl, minlength=labels.max() + 1)[lab_ids]
    heavy = np.zeros(labels.max() + 1)
    np.maximum.at(heavy, bl, hh)
    heavy = heavy[lab_ids]
    rank = reading_rank(polys, owner)
    order = np.lexsort((rank, owner))
    return gpd.GeoDataFrame(
        {
            "micro_id": [f"{ids[owner[i]]}-{rank[i] + 1:02d}" for i in order],
            "grid_id": ids[owner[order]],
            "households": m_hh[order],
            "buildings": m_b[order],
            "liaisons": np.where(
                m_hh[order] > 0, np.maximum(1, np.ceil(m_hh[order] / b.upper - 1e-9)), 0
            ).astype(np.int64),
            "indivisible": heavy[order] > b.upper + 1e-9,
        },
        geometry=list(polys[order]),
        crs=crs,
    )


@dataclass
class Hierarchy:
    """Nodes of the hierarchy and their counts.

    Attributes
    ----------
    table : DataFrame
        One row per node: ``level``, ``id``, ``parent``, ``streets``, ``communities``,
        ``grids``, ``micro_grids`` (nodes of each level below it), ``households``,
        ``buildings``.
    counts : dict
        Number of nodes per level (``district`` … ``micro_grid``).
    grids : DataFrame
        The grids with their ``district``, ``street`` and ``community_id``.
    """

    table: pd.DataFrame
    counts: dict[str, int]
    grids: pd.DataFrame

    def describe(self, *, lang: str = "en") -> str:
        """The counts in one line.

        >>> Hierarchy(pd.DataFrame(), {"district": 1, "street": 2, "community": 3,
        ...     "grid": 9, "micro_grid": 60}, pd.DataFrame()).describe(lang="zh")
        '1 个区县、2 个街道、3 个社区、9 个网格、60 个微网格'
        """
        c = self.counts
        if lang == "zh":
            units = {"district": "区县", "street": "街道", "community": "社区",
                     "grid": "网格", "micro_grid": "微网格"}  # fmt: skip
            return "、".join(f"{c[k]} 个{units[k]}" for k in LEVELS if k in c)
        names = {"district": "districts", "street": "streets", "community": "communities",
                 "grid": "grids", "micro_grid": "micro-grids"}  # fmt: skip
        return ", ".join(f"{c[k]} {names[k]}" for k in LEVELS if k in c)

    def to_csv(self, path: str | Path) -> Path:
        """Write the table as CSV in UTF-8 with BOM (Excel), Chinese + English headers."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        headers = {
            "level": "层级 Level",
            "id": "编号 ID",
            "parent": "上级 Parent",
            "streets": "街道数 Streets",
            "communities": "社区数 Communities",
            "grids": "网格数 Grids",
            "micro_grids": "微网格数 Micro-grids",
            "households": "户数 Households",
            "buildings": "楼栋数 Buildings",
        }
        frame = self.table.copy()
        frame["level"] = frame["level"].map(_LEVEL_NAMES).fillna(frame["level"])
        frame.rename(columns=headers).to_csv(path, index=False, encoding="utf-8-sig")
        return path


def hierarchy(
    grids: pd.DataFrame,
    micro: pd.DataFrame | None = None,
    *,
    district: str | None = None,
    street: str | None = None,
    code_column: str = "code",
    community_column: str = "community_id",
    grid_id: str = "grid_id",
) -> Hierarchy:
    """Count districts, streets, communities, grids and micro-grids.

    Parameters
    ----------
    grids : DataFrame
        Grids with ``grid_id``; district and street come from a ``district`` /
        ``street`` column, else from 15- or 20-digit codes in ``code_column`` (the admin
        code, and admin + street code), else from the ``district`` / ``street``
        arguments (one for all grids).
    micro : DataFrame, optional
        Micro-grids with ``grid_id`` (see :func:`micro_grids`).
    district, street : str, optional
        Names or codes used when the grids carry neither columns nor codes.
    code_column, community_column, grid_id : str

    Returns
    -------
    Hierarchy
    """
    check_column(grids, grid_id, "grids")
    g = pd.DataFrame({"grid_id": grids[grid_id].to_numpy()})
    _add_district_and_street(g, grids, district=district, street=street, code_column=code_column)
    g["community"] = (
        grids[community_column].astype(str).to_numpy()
        if community_column in grids.columns
        else "community"
    )
    # keep a community's id unique across streets
    g["community_key"] = g["street"] + "/" + g["community"]
    g["households"] = _numbers(grids, "households")
    g["buildings"] = _numbers(grids, "buildings")
    g["micro_grids"] = _micro_per_grid(g["grid_id"], micro)
    table = pd.DataFrame(_node_rows(g) + _grid_rows(g), columns=[
        "level", "id", "parent", "streets", "communities", "grids", "micro_grids",
        "households", "buildings",
    ])  # fmt: skip
    out_grids = g[["grid_id", "district", "street", "community", "micro_grids"]].rename(
        columns={"community": "community_id"}
    )
    return Hierarchy(table=table, counts=_counts(g, micro), grids=out_grids)


def _add_district_and_street(
    g: pd.DataFrame,
    grids: pd.DataFrame,
    *,
    district: str | None,
    street: str | None,
    code_column: str,
) -> None:
    """Set ``g``'s district and street: from columns, else codes, else the arguments."""
    codes = grids[code_column].astype("string") if code_column in grids.columns else None
    for level, given, digits in (("district", district, 6), ("street", street, 9)):
        if level in grids.columns:
            g[level] = grids[level].astype(str).to_numpy()
        elif codes is not None and codes.str.fullmatch(r"\d{15}|\d{20}").fillna(False).all():
            body = codes.where(codes.str.len() == 15, codes.str.slice(6))
            g[level] = body.str.slice(0, digits).to_numpy()
        else:
            g[level] = str(given) if given is not None else level


def _numbers(grids: pd.DataFrame, column: str) -> np.ndarray | int:
    """A numeric column of the grids (missing values 0; 0 without the column)."""
    if column not in grids.columns:
        return 0
    return pd.to_numeric(grids[column], errors="coerce").fillna(0).to_numpy()


def _micro_per_grid(grid_ids: pd.Series, micro: pd.DataFrame | None) -> np.ndarray:
    """The number of micro-grids of every grid."""
    if micro is None:
        return np.zeros(len(grid_ids), dtype=np.int64)
    return micro.groupby("grid_id").size().reindex(grid_ids, fill_value=0).to_numpy()


def _node_rows(g: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per district, street and community, with the nodes below it."""
    rows: list[dict[str, Any]] = []
    levels = (
        ("district", "district", None),
        ("street", "street", "district"),
        ("community", "community_key", "street"),
    )
    for level, key, parent in levels:
        agg = g.groupby(key, sort=True).agg(
            parent=(parent, "first") if parent else (key, "first"),
            streets=("street", "nunique"),
            communities=("community_key", "nunique"),
            grids=("grid_id", "size"),
            micro_grids=("micro_grids", "sum"),
            households=("households", "sum"),
            buildings=("buildings", "sum"),
        )
        for node, r in agg.iterrows():
            row = {"level": level, "id": node, "parent": r["parent"] if parent else None}
            row.update({c: r[c] for c in ("streets", "communities", "grids", "micro_grids")})
            row.update(households=r["households"], buildings=r["buildings"])
            if level == "community":
                row["id"] = str(node).split("/", 1)[1]
                row["streets"] = row["communities"] = None
            elif level == "street":
                row["streets"] = None
            rows.append(row)
    return rows


def _grid_rows(g: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per grid, under its community."""
    return [
        {
            "level": "grid",
            "id": r.grid_id,
            "parent": r.community,
            "micro_grids": r.micro_grids,
            "households": r.households,
            "buildings": r.buildings,
        }
        for r in g.itertuples()
    ]


def _counts(g: pd.DataFrame, micro: pd.DataFrame | None) -> dict[str, int]:
    """The number of nodes of every level."""
    counts = {
        "district": int(g["district"].nunique()),
        "street": int(g["street"].nunique()),
        "community": int(g["community_key"].nunique()),
        "grid": len(g),
    }
    if micro is not None:
        counts["micro_grid"] = len(micro)
    return counts
