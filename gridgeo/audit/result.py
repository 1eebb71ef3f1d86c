"""The result of an audit (:class:`Audit`) and how it is written to files."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from .._errors import ReadError

__all__ = ["Audit", "LAYERS"]

log = logging.getLogger(__name__)

#: Layers of ``coverage.gpkg``, in order (``double_counted`` only with a register).
LAYERS = (
    "uncovered_buildings",
    "uncovered_zones",
    "overlaps",
    "gaps",
    "street_front_zones",
    "proposed_micro_grids",
    "grid_load",
    "double_counted",
)


@dataclass
class Audit:
    """Findings of :func:`audit`, every layer in the metric CRS of the computation.

    Attributes
    ----------
    buildings : GeoDataFrame
        Every building audited: ``building_id``, ``households``, ``grid_id`` (None
        when uncovered), ``share`` (of its footprint in that grid), ``covered_share``
        (in any grid), ``n_grids`` (grids holding more than ``split_share``),
        ``split_by_boundary``, ``uncovered``, ``in_scope``, ``overlap_id``, ``zone_id``.
    uncovered_buildings : GeoDataFrame
        Buildings in no grid: ``building_id``, ``households``, ``zone_id``,
        ``gap_id``, ``covered_share``, ``largest_grid``.
    uncovered_zones : GeoDataFrame
        ``zone_id`` (U…), ``buildings``, ``households``, ``area_m2``,
        ``nearest_grid``, ``gap_id``, ``severity``.
    overlaps : GeoDataFrame
        One row per pair of overlapping grids: ``overlap_id`` (O…), ``grid_ids``
        (the two grids), ``area_m2``, ``buildings``, ``households``, ``severity``.
    gaps : GeoDataFrame
        ``gap_id`` (V…), ``area_m2``, ``buildings``, ``households`` (uncovered ones
        inside), ``neighbour_grids``, ``severity``.
    street_front_zones, proposed_micro_grids : GeoDataFrame
        See :class:`gridgeo.streetfront.StreetFront`; plus ``severity`` on zones.
        Empty without streets.
    grid_load : GeoDataFrame
        One row per grid: ``grid_id``, ``grid_type`` (as given), ``street_front``
        (a dedicated street-front grid), ``households``, ``buildings``, ``shops``, ``area_m2``, ``deviation``,
        ``status`` (``below``, ``within``, ``above`` or ``street_front``), ``excess``
        (households above the band's upper end, or below its lower end as a negative
        number), ``severity``; with boundaries also ``community_id`` and
        ``outside_community_m2``.
    shops : GeoDataFrame
        Every shop found (see :class:`gridgeo.streetfront.StreetFront`).
    double_counted : GeoDataFrame or None
        With a register: ``double_id`` (D…), ``key``, ``register_grids``,
        ``n_grids``, ``entries``, ``map_grid`` (grid holding the building on the map),
        ``households``; the building's polygon when the key matches one.
    figures : dict
        The counts and areas, JSON-ready (see :meth:`summary`).
    study_area : shapely geometry
        The area that must be covered.
    """

    buildings: gpd.GeoDataFrame
    uncovered_buildings: gpd.GeoDataFrame
    uncovered_zones: gpd.GeoDataFrame
    overlaps: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    street_front_zones: gpd.GeoDataFrame
    proposed_micro_grids: gpd.GeoDataFrame
    grid_load: gpd.GeoDataFrame
    shops: gpd.GeoDataFrame
    double_counted: gpd.GeoDataFrame | None
    figures: dict[str, Any]
    target: float
    tolerance: float
    study_area: Any = None
    notes: list[str] = field(default_factory=list)

    @property
    def crs(self):
        """The metric CRS of every layer."""
        return self.grid_load.crs

    def __repr__(self) -> str:
        f = self.figures
        keys = ("grids", "uncovered_buildings", "uncovered_zones", "overlaps", "gaps")
        keys += ("street_front_zones", "proposed_micro_grids")
        return "Audit(" + ", ".join(f"{k}={f[k]}" for k in keys) + ")"

    def summary(self) -> dict[str, Any]:
        """The figures as a JSON-ready dict (a copy of :attr:`figures`).

        Keys: ``grids``, ``buildings``, ``households``, ``uncovered_buildings``,
        ``uncovered_households``, ``uncovered_zones``, ``split_buildings``,
        ``overlaps`` (pairs of grids), ``overlap_area_m2`` (land in two grids or more),
        ``overlap_buildings``, ``overlap_households``, ``ignored_overlap_slivers``,
        ``ignored_overlap_sliver_area_m2``, ``gaps``, ``gap_area_m2``,
        ``ignored_slivers``, ``ignored_sliver_area_m2`` (gaps too small or thin), ``grids_below``, ``grids_within``, ``grids_above``,
        ``street_front_grids``, ``shops``, ``street_front_shops``,
        ``street_front_zones``, ``street_front_uncovered``, ``street_front_mixed``,
        ``street_front_dedicated``, ``street_front_length_m``,
        ``proposed_micro_grids``, the register figures when a register was given, the
        settings and ``seconds``.
        """
        return json.loads(json.dumps(self.figures))

    def describe(self, *, lang: str = "en") -> str:
        """A short plain-language summary (``lang`` "en" or "zh")."""
        from ..render.coverage import describe

        return describe(self, lang=lang)

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """The finding layers by name (see :data:`LAYERS`), ready to write."""
        out = {name: getattr(self, name) for name in LAYERS if name != "double_counted"}
        if self.double_counted is not None:
            out["double_counted"] = self.double_counted
        return out

    def explore(self, **kwargs: Any):
        """An interactive folium map of the findings (see
        :func:`gridgeo.render.coverage.coverage_map`)."""
        from ..render.coverage import coverage_map

        return coverage_map(self, **kwargs)

    def findings(self, *, lang: str = "en") -> pd.DataFrame:
        """The list of findings for field staff (see
        :func:`gridgeo.render.coverage.findings_table`)."""
        from ..render.coverage import findings_table

        return findings_table(self, lang=lang)

    def to_files(
        self, out_dir: str | Path, *, lang: str = "en", map_html: bool = True
    ) -> dict[str, Path]:
        """Write the audit into ``out_dir``.

        Files: ``coverage.gpkg`` (one layer per finding, see :data:`LAYERS`),
        ``coverage.json`` (the figures), ``coverage_findings.csv`` (the list for field
        staff, UTF-8 with BOM so that Excel shows Chinese, bilingual headers) and
        ``coverage.html`` (the map). Returns their paths by key ``gpkg``, ``json``,
        ``csv``, ``map``.
        """
        from ..io import write_layers
        from ..render import save_map
        from ..render.coverage import check_lang, coverage_map

        lang = check_lang(lang)
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"cannot create the output folder {out}: {exc.strerror or exc}; choose a writable folder"
            raise ReadError(msg) from None
        paths = {
            "gpkg": out / "coverage.gpkg",
            "json": out / "coverage.json",
            "csv": out / "coverage_findings.csv",
        }
        write_layers(paths["gpkg"], self.layers())
        paths["json"].write_text(
            json.dumps(self.summary(), indent=2, ensure_ascii=False), encoding="utf-8"
        )
        self.findings(lang=lang).to_csv(paths["csv"], index=False, encoding="utf-8-sig")
        if map_html:
            paths["map"] = save_map(coverage_map(self, lang=lang), out / "coverage.html")
        log.info("coverage audit written to %s", out)
        return paths
