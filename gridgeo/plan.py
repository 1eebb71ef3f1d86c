"""The grid plan: grids, the buildings in them, and the figures a planner reads."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .metrics import polsby_popper

__all__ = ["Plan", "dissolve_units"]

log = logging.getLogger(__name__)


def _union(geoms: np.ndarray) -> shapely.Geometry:
    """Union of connected units, as one valid Polygon of the units' area.

    Units share edges whose vertices differ by floating-point noise, so an overlay can
    come out in several parts, invalid, or (when GEOS falls back to snapping) a few
    square decimetres off. Candidates, cheapest first: the exact coverage union, a
    plain union, unions on 1 nm and 0.1 µm precision grids, closings by 1 µm and
    0.1 mm, a 1 mm grid. The first single valid polygon within 1 cm² of the units'
    total area wins; failing that, the single polygon closest to it.
    """
    area = shapely.area(geoms).sum()
    tol = max(1e-4, 1e-12 * area)

    def close(eps: float) -> shapely.Geometry:
        plain = shapely.union_all(geoms)
        return shapely.buffer(
            shapely.buffer(plain, eps, join_style="mitre"), -eps, join_style="mitre"
        )

    def candidates():
        for make in (
            lambda: shapely.coverage_union_all(geoms),
            lambda: shapely.union_all(geoms),
            lambda: shapely.union_all(geoms, grid_size=1e-9),
            lambda: shapely.union_all(geoms, grid_size=1e-7),
            lambda: close(1e-6),
            lambda: close(1e-4),
            lambda: shapely.union_all(geoms, grid_size=1e-3),
        ):
            try:
                yield make()
            except shapely.errors.GEOSException:  # GEOS gives up on some precisions
                continue

    best, first = None, None
    for merged in candidates():
        first = first if first is not None else merged
        if not _one_polygon(merged):
            continue
        err = abs(merged.area - area)
        if err <= tol:
            return merged
        if best is None or err < best[0]:
            best = (err, merged)
    return best[1] if best is not None else first


def _one_polygon(geom: shapely.Geometry) -> bool:
    return geom.geom_type == "Polygon" and geom.is_valid


def dissolve_units(geometry: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union the units of each label; returns (label per grid, polygon per grid)."""
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_labels)) + 1]
    ends = np.r_[starts[1:], len(order)]
    geoms = np.asarray(geometry, dtype=object)[order]
    grids = np.array(
        [_union(geoms[s:e]) if e - s > 1 else geoms[s] for s, e in zip(starts, ends, strict=True)],
        dtype=object,
    )
    return sorted_labels[starts], grids


@dataclass
class Plan:
    """A grid plan.

    Attributes
    ----------
    grids : GeoDataFrame
        One row per grid: ``grid_id``, ``community_id``, ``households``, ``buildings``,
        ``area_m2``, ``deviation`` (households ÷ target − 1) and a Polygon, in ``crs``.
    buildings : GeoDataFrame
        Every input building with ``grid_id``, ``block_id`` and ``households``.
    units : GeoDataFrame
        The units the grids were assembled from (blocks and pieces of blocks).
    blocks : GeoDataFrame
        Street blocks.
    target, tolerance : float
        Households per grid aimed at, and the accepted relative deviation.
    study_area : shapely geometry, optional
        The area the grids cover (union of the communities, or the hull of the data).
    boundary_on_streets : float, optional
        Share of the boundary length between grids that follows streets or community
        lines (the rest runs inside blocks that had to be cut).
    seconds : float
        Time taken to draw the plan.
    """

    grids: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame | None
    units: gpd.GeoDataFrame
    blocks: gpd.GeoDataFrame
    target: float
    tolerance: float
    study_area: shapely.Geometry | None = None
    boundary_on_streets: float | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def crs(self):
        """The metric CRS the plan was computed in."""
        return self.grids.crs

    def summary(self) -> dict[str, Any]:
        """Figures of the plan as a JSON-ready dict.

        Keys: ``target``, ``tolerance``, ``n_grids``, ``households``, ``buildings``,
        ``min``/``median``/``max`` households per grid, ``within_10pct``,
        ``within_20pct``, ``within_25pct`` (share of grids within ±10/20/25 % of the
        target), ``within_tolerance``, ``indivisible_grids`` (grids over the upper bound
        because one building alone is), ``constrained_grids`` (basic grids on a piece
        of land, enclosed by barriers or community lines, whose households no number of
        grids can share inside the band), ``dedicated_grids``, ``rural_grids``,
        ``within_10pct_basic`` and ``within_25pct_basic`` (the same shares among basic
        grids — not dedicated, rural, indivisible or constrained — on the balanced
        weight),
        ``basic_min`` / ``basic_median`` / ``basic_max`` (their households),
        ``empty_grids``, ``polsby_popper_mean`` / ``polsby_popper_p10`` (compactness),
        ``boundary_on_streets``, ``area_km2``, ``crs``, ``seconds``.
        """
        hh = self.grids["households"].to_numpy(dtype=float)
        dev = np.abs(hh / self.target - 1)
        eps = 1e-9
        pp = polsby_popper(self.grids.geometry.values)
        indivisible = (
            self.grids["indivisible"].to_numpy(dtype=bool)
            if "indivisible" in self.grids
            else np.zeros(len(hh), dtype=bool)
        )
        basic = (
            (self.grids["grid_type"] == "basic").to_numpy()
            if "grid_type" in self.grids
            else np.ones(len(hh), dtype=bool)
        )
        balanced = self.grids["weight"].to_numpy(dtype=float) if "weight" in self.grids else hh
        constrained = (
            self.grids["constrained"].to_numpy(dtype=bool)
            if "constrained" in self.grids
            else np.zeros(len(hh), dtype=bool)
        )
        plain = basic & ~indivisible & ~constrained
        divisible_dev = np.abs(balanced / self.target - 1)[plain]
        basic_hh = hh[plain] if plain.any() else np.zeros(1)
        return {
            "target": self.target,
            "tolerance": self.tolerance,
            "n_grids": len(self.grids),
            "households": int(hh.sum()),
            "buildings": 0 if self.buildings is None else len(self.buildings),
            "communities": int(self.grids["community_id"].nunique()),
            "min": int(hh.min()) if len(hh) else 0,
            "median": float(np.median(hh)) if len(hh) else 0.0,
            "max": int(hh.max()) if len(hh) else 0,
            "within_10pct": float(np.mean(dev <= 0.10 + eps)) if len(hh) else 0.0,
            "within_20pct": float(np.mean(dev <= 0.20 + eps)) if len(hh) else 0.0,
            "within_25pct": float(np.mean(dev <= 0.25 + eps)) if len(hh) else 0.0,
            "within_tolerance": float(np.mean(dev <= self.tolerance + eps)) if len(hh) else 0.0,
            "indivisible_grids": int(indivisible.sum()),
            "constrained_grids": int((constrained & basic).sum()),
            "dedicated_grids": int((self.grids["grid_type"] == "dedicated").sum())
            if "grid_type" in self.grids
            else 0,
            "rural_grids": int((self.grids["grid_type"] == "rural").sum())
            if "grid_type" in self.grids
            else 0,
            "within_10pct_basic": float(np.mean(divisible_dev <= 0.10 + eps))
            if len(divisible_dev)
            else 1.0,
            "within_25pct_basic": float(np.mean(divisible_dev <= 0.25 + eps))
            if len(divisible_dev)
            else 1.0,
            "basic_min": int(basic_hh.min()),
            "basic_median": float(np.median(basic_hh)),
            "basic_max": int(basic_hh.max()),
            "empty_grids": int((hh == 0).sum()),
            "polsby_popper_mean": float(pp.mean()) if len(pp) else 0.0,
            "polsby_popper_p10": float(np.percentile(pp, 10)) if len(pp) else 0.0,
            "boundary_on_streets": self.boundary_on_streets,
            "area_km2": float(self.grids.area.sum() / 1e6),
            "crs": self.crs.to_string() if self.crs is not None else None,
            "seconds": round(self.seconds, 3),
        }

    def describe(self, *, lang: str = "en") -> str:
        """A short plain-language summary (``lang`` "en" or "zh").

        Household figures speak of basic grids: dedicated and rural grids are exempt
        from the target by rule, and grids holding one building that alone exceeds the
        band are counted apart.
        """
        s = self.summary()
        n_basic = s["n_grids"] - s["dedicated_grids"] - s["rural_grids"]
        if lang == "zh":
            kinds = f"基础网格 {n_basic} 个"
            if s["dedicated_grids"]:
                kinds += f"、专属网格 {s['dedicated_grids']} 个"
            if s["rural_grids"]:
                kinds += f"、村网格 {s['rural_grids']} 个"
            extra = (
                f"（{s['indivisible_grids']} 个网格含单栋超限楼宇，不计入。）"
                if s["indivisible_grids"]
                else ""
            )
            if s["constrained_grids"]:
                extra += f"（{s['constrained_grids']} 个网格所在地块被障碍或社区界线围住，户数无法均分，不计入。）"
            kinds = f"（{kinds}）" if n_basic < s["n_grids"] else ""
            return (
                f"共划分 {s['n_grids']} 个网格{kinds}，覆盖 {s['households']} 户、"
                f"{s['buildings']} 栋楼，面积 {s['area_km2']:.2f} 平方公里。目标每格 {s['target']:g} 户："
                f"基础网格每格 {s['basic_min']}–{s['basic_max']} 户（中位数 {s['basic_median']:g}），"
                f"{s['within_10pct_basic']:.0%} 在目标 ±10% 以内。{extra}用时 {s['seconds']:.1f} 秒。"
            )
        kinds = f"{n_basic} basic"
        if s["dedicated_grids"]:
            kinds += f", {s['dedicated_grids']} dedicated"
        if s["rural_grids"]:
            kinds += f", {s['rural_grids']} rural"
        extra = (
            f" ({s['indivisible_grids']} grids holding one building that alone exceeds the band are not counted.)"
            if s["indivisible_grids"]
            else ""
        )
        kinds = f" ({kinds})" if n_basic < s["n_grids"] else ""
        if s["constrained_grids"]:
            extra += (
                f" ({s['constrained_grids']} grids lie on land enclosed by barriers or community lines"
                " whose households cannot be shared within the band: not counted.)"
            )
        return (
            f"{s['n_grids']} grids{kinds} cover {s['households']} households in {s['buildings']} "
            f"buildings over {s['area_km2']:.2f} km². Target {s['target']:g} households per grid: "
            f"basic grids hold {s['basic_min']}–{s['basic_max']} (median {s['basic_median']:g}); "
            f"{s['within_10pct_basic']:.0%} are within ±10 % of the target.{extra} "
            f"Took {s['seconds']:.1f} s."
        )

    def explore(self, **kwargs: Any):
        """An interactive folium map of the plan (see :func:`gridgeo.render.grid_map`)."""
        from .render import grid_map  # render depends on plan, not the reverse

        kwargs.setdefault("target", self.target)
        return grid_map(self.grids, buildings=self.buildings, **kwargs)

    def _repr_html_(self) -> str:
        return self.explore()._repr_html_()

    def to_files(
        self, out_dir: str | Path, *, map_html: bool = True, lang: str = "en"
    ) -> dict[str, Path]:
        """Write ``grids.gpkg`` (layers grids, buildings), ``grids.geojson``, ``summary.json``
        and ``map.html`` into ``out_dir``; returns their paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "gpkg": out / "grids.gpkg",
            "geojson": out / "grids.geojson",
            "summary": out / "summary.json",
        }
        if paths["gpkg"].exists():
            paths["gpkg"].unlink()
        self.grids.to_file(paths["gpkg"], layer="grids", driver="GPKG", engine="pyogrio")
        if self.buildings is not None:
            b = _plain_columns(self.buildings)
            b.to_file(paths["gpkg"], layer="buildings", driver="GPKG", engine="pyogrio")
        self.grids.to_crs(4326).to_file(paths["geojson"], driver="GeoJSON", engine="pyogrio")
        from .staffing import StaffingRules, staffing_table, write_staffing_csv

        table = staffing_table(
            self.grids, buildings=self.buildings, rules=StaffingRules(target=self.target)
        )
        paths["staffing"] = write_staffing_csv(table, out / "staffing.csv")
        paths["summary"].write_text(
            json.dumps(self.summary(), indent=2, ensure_ascii=False), encoding="utf-8"
        )
        if map_html:
            from .render import save_map

            paths["map"] = save_map(self.explore(lang=lang), out / "map.html")
        log.info("plan written to %s", out)
        return paths


def _plain_columns(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Columns GeoPackage can store: objects that are not strings become strings."""
    gdf = gdf.copy()
    for col in gdf.columns:
        if col == gdf.geometry.name:
            continue
        if gdf[col].dtype == object:
            gdf[col] = gdf[col].map(lambda v: v if v is None or isinstance(v, str) else str(v))
        elif isinstance(gdf[col].dtype, pd.CategoricalDtype):
            gdf[col] = gdf[col].astype(str)
    return gdf
