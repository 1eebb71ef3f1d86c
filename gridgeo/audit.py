"""Coverage audit of an existing grid plan (无缝覆盖 check), street-front zones above all.

:func:`audit` takes the grids a city already has (from its platform, or from
:func:`gridgeo.partition`) with the buildings, and optionally the streets, shops,
community boundaries and a household register, and finds what the plan misses:

- **uncovered buildings**: a building belongs to the grid holding the largest part of
  its footprint; it is uncovered when the part outside every grid is larger still. A
  building cut by a grid boundary (its largest grid holds more than ``split_share``
  and less than ``1 − split_share`` of it) is flagged ``split_by_boundary``. Uncovered
  buildings closer than ``zone_distance`` metres to each other form **uncovered
  zones** (the union of the buildings grown by half that distance);
- **overlaps**: land in two or more grids (double management), one row per pair of
  grids that overlap; a building with at least half its footprint in land of two
  grids is counted in the overlap holding most of it;
- **gaps**: land of the study area in no grid, as polygons. The study area is the union
  of the community ``boundaries`` when given; otherwise the union of the grids with
  its holes filled (``study_area="filled"``, so only holes inside the plan are gaps) or
  the convex hull of the grids (``"hull"``). Gaps and overlaps smaller than
  ``min_area`` m² or narrower than ``sliver_width`` metres everywhere are digitising
  slivers: they are ignored, and their number and area reported;
- **load**: households and buildings per grid, against the band ``target`` ±
  ``tolerance``;
- **street-front zones** (沿街) and **proposed street-front micro-grids**, see
  :mod:`gridgeo.streetfront`;
- **double counting**: with a register (table of building ids or addresses and the
  grid each is registered in), the keys registered in two or more grids.

Ids of the findings: ``U…`` uncovered zones, ``O…`` overlaps, ``V…`` gaps, ``S…``
street-front zones, ``M…`` proposed micro-grids, ``D…`` double-counted keys. Every
finding has a ``severity``: ``high``, ``medium``, ``low`` (or ``ok``).

With ``boundaries``, buildings and shops outside the communities and in no grid are
left out (counted in the figures). Without them, every building given must be in a
grid: give the buildings of the area the plan covers, or the boundaries.

Examples
--------
>>> import gridgeo
>>> from gridgeo.audit import audit
>>> layers = gridgeo.read_osm(gridgeo.datasets.get_path("kouvola"))
>>> plan = gridgeo.partition(layers.streets, layers.buildings, target=300)
>>> damaged = plan.grids.iloc[1:]  # a grid left out
>>> a = audit(damaged, plan.buildings, layers.streets, pois=layers.pois,
...           households_column="households")
>>> a.figures["uncovered_households"] > 0, a.figures["overlaps"]
(True, 0)
>>> a.uncovered_zones.columns[:4].tolist()
['zone_id', 'buildings', 'households', 'area_m2']
>>> sorted(a.layers())[:3]
['gaps', 'grid_load', 'overlaps']
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import InputError, ReadError
from ._validate import LINEAR, POLYGONAL, check_column, check_fraction, check_layer, check_positive
from .blocks import assign_to_polygons
from .crs import metric_crs, to_metric
from .households import HouseholdOptions, building_households
from .streetfront import (
    StreetFrontOptions,
    check_poi_layer,
    find_street_front,
    frontage_runs,
    grid_ids_and_types,
    shop_points,
    with_depth,
)

__all__ = ["Audit", "audit", "read_register", "LAYERS"]

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

_REGISTER_KEYS = ("building_id", "osm_id", "address", "地址", "楼栋编号", "房屋编号")
_REGISTER_GRIDS = ("grid_id", "grid", "网格编号", "网格编码", "网格")
_INTERIOR_OVERLAP = "2********"  # DE-9IM: the interiors share an area


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
        from .render.coverage import describe

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
        from .render.coverage import coverage_map

        return coverage_map(self, **kwargs)

    def findings(self, *, lang: str = "en") -> pd.DataFrame:
        """The list of findings for field staff (see
        :func:`gridgeo.render.coverage.findings_table`)."""
        from .render.coverage import findings_table

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
        from .io import write_layers
        from .render import save_map
        from .render.coverage import check_lang, coverage_map

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
        write_layers(paths["gpkg"], {k: _plain_columns(v) for k, v in self.layers().items()})
        paths["json"].write_text(
            json.dumps(self.summary(), indent=2, ensure_ascii=False), encoding="utf-8"
        )
        self.findings(lang=lang).to_csv(paths["csv"], index=False, encoding="utf-8-sig")
        if map_html:
            paths["map"] = save_map(coverage_map(self, lang=lang), out / "coverage.html")
        log.info("coverage audit written to %s", out)
        return paths


# ------------------------------------------------------------------------------ inputs


def read_register(path: str | Path, *, layer: str | None = None) -> pd.DataFrame:
    """Read a register table: CSV (UTF-8, UTF-8 with BOM or GB18030) or a GIS layer.

    Parameters
    ----------
    path : str or path-like
        ``.csv`` or ``.txt`` (comma-separated), or any file :func:`gridgeo.read_layer`
        reads (GeoPackage, GeoJSON, Shapefile …).
    layer : str, optional
        Layer of a multi-layer GIS file.

    Returns
    -------
    pandas.DataFrame
        Every column as text.
    """
    from .io import read_layer

    path = Path(path)
    if path.suffix.lower() not in (".csv", ".txt"):
        return read_layer(path, layer=layer, name="register")
    if not path.is_file():
        msg = f"register file not found: {path}; check the path"
        raise ReadError(msg)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return pd.read_csv(path, dtype=str, encoding=encoding, keep_default_na=False)
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            msg = f"cannot read the register {path}: {str(exc).splitlines()[0]}; save it as a comma-separated CSV with a header row"
            raise ReadError(msg) from None
    msg = f"cannot read the register {path}: it is neither UTF-8 nor GB18030 text; save it as CSV UTF-8"
    raise ReadError(msg)


def _check_register(
    register: object, key: str | None, grid: str | None
) -> tuple[pd.DataFrame, str, str]:
    if not isinstance(register, pd.DataFrame):
        msg = f"register must be a table (pandas DataFrame), got {type(register).__name__}; read a file with gridgeo.audit.read_register(path)"
        raise InputError(msg)
    if len(register) == 0:
        raise InputError("register is empty: it holds no rows; check the file")
    cols = [str(c) for c in register.columns]
    key = key or next((c for c in _REGISTER_KEYS if c in cols), None)
    grid = grid or next((c for c in _REGISTER_GRIDS if c in cols), None)
    if key is None or grid is None:
        what = "building id or address" if key is None else "grid id"
        msg = f"register: cannot tell which column holds the {what}; name it (register_key= / register_grid=, --register-key / --register-grid); columns: {', '.join(cols)}"
        raise InputError(msg)
    for col in (key, grid):
        if col not in register.columns:
            msg = f"register has no column {col!r}; available columns: {', '.join(cols)}"
            raise InputError(msg)
    return register, key, grid


def _text_ids(values: pd.Series) -> pd.Series:
    s = values.astype(object).where(values.notna(), None)
    s = s.map(lambda v: None if v is None else str(v).strip())
    return s.where(s != "", None)


# ------------------------------------------------------------------------------ audit


def audit(
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame | None = None,
    *,
    pois: gpd.GeoDataFrame | None = None,
    boundaries: gpd.GeoDataFrame | None = None,
    boundary_id: str | None = None,
    grid_id: str | None = None,
    grid_type: str | None = None,
    building_id: str | None = None,
    households_column: str | None = None,
    household_options: HouseholdOptions | None = None,
    register: pd.DataFrame | None = None,
    register_key: str | None = None,
    register_grid: str | None = None,
    target: float = 300,
    tolerance: float = 0.1,
    frontage_depth: float | None = None,
    street_front: StreetFrontOptions | None = None,
    study_area: str = "filled",
    min_area: float = 1.0,
    sliver_width: float = 1.0,
    split_share: float = 0.05,
    zone_distance: float = 20.0,
    crs: Any = None,
) -> Audit:
    """Audit the coverage of a grid plan (see the module notes for every rule).

    Parameters
    ----------
    grids : GeoDataFrame
        The plan: one polygon per grid (any CRS). Rows sharing a grid id are merged.
    buildings : GeoDataFrame
        Building footprints (any CRS).
    streets : GeoDataFrame, optional
        Street lines; needed for street-front zones (without them those layers are
        empty).
    pois : GeoDataFrame, optional
        Shops and services (points or polygons), e.g. the ``pois`` of
        :func:`gridgeo.read_osm`; commercial buildings count as shops too.
    boundaries : GeoDataFrame, optional
        Community polygons: the area to cover.
    boundary_id : str, optional
        Column of ``boundaries`` identifying the communities (default: row labels).
    grid_id : str, optional
        Column of ``grids`` with the grid id (default ``grid_id`` if present, else
        the row labels).
    grid_type : str, optional
        Column of ``grids`` with the grid type (default ``grid_type`` if present);
        ``street_front``, ``沿街`` … mark street-front micro-grids (see
        :func:`gridgeo.streetfront.is_street_front_type`).
    building_id : str, optional
        Column of ``buildings`` identifying them in the outputs and the register
        (default ``osm_id`` if present, else the row labels).
    households_column : str, optional
        Column of ``buildings`` with households; else estimated with
        :func:`gridgeo.building_households`.
    household_options : HouseholdOptions, optional
        Settings of that estimate.
    register : DataFrame, optional
        Register of buildings or addresses and their grids (see :func:`read_register`).
    register_key, register_grid : str, optional
        Its key and grid columns (default: ``building_id``/``osm_id``/``address``/
        ``地址`` …, and ``grid_id``/``网格编号`` …). The key matches ``building_id``.
    target : float, default 300
        Households per grid.
    tolerance : float, default 0.1
        Accepted relative deviation from ``target``.
    frontage_depth : float, optional
        Depth of the street frontage in metres (default 30, see
        :class:`gridgeo.streetfront.StreetFrontOptions`).
    street_front : StreetFrontOptions, optional
        The other street-front settings.
    study_area : {"filled", "hull"}, default "filled"
        Area to cover when no boundaries are given.
    min_area : float, default 1
        Gaps and overlaps under this many m² are ignored.
    sliver_width : float, default 1
        Gaps and overlaps narrower than this (metres) everywhere are ignored.
    split_share : float, default 0.05
        Parts of a footprint under this share are digitising noise.
    zone_distance : float, default 20
        Uncovered buildings closer than this (metres) are in one zone.
    crs : int, str or pyproj.CRS, optional
        Metric CRS to compute in (default: :func:`gridgeo.crs.metric_crs`).

    Returns
    -------
    Audit

    Raises
    ------
    InputError
        A layer, column or setting is unusable (the message says how to fix it), or
        the grids and buildings do not overlap at all.
    """
    t0 = time.perf_counter()
    target = check_positive(target, "target")
    tolerance = check_fraction(tolerance, "tolerance")
    split_share = check_fraction(split_share, "split_share", upper=0.5)
    zone_distance = check_positive(zone_distance, "zone_distance")
    min_area = _non_negative(min_area, "min_area")
    sliver_width = _non_negative(sliver_width, "sliver_width")
    if study_area not in ("filled", "hull"):
        msg = f"study_area must be 'filled' or 'hull', got {study_area!r}"
        raise InputError(msg)
    opt = with_depth(street_front, frontage_depth)
    grids = check_layer(_polygon_parts(grids), "grids", geom_types=POLYGONAL)
    buildings = check_layer(_polygon_parts(buildings), "buildings", geom_types=POLYGONAL)
    streets = None if streets is None else check_layer(streets, "streets", geom_types=LINEAR)
    pois = None if pois is None else check_poi_layer(pois)
    if boundaries is not None:
        boundaries = check_layer(_polygon_parts(boundaries), "boundaries", geom_types=POLYGONAL)
        if boundary_id is not None:
            check_column(boundaries, boundary_id, "boundaries")
    elif boundary_id is not None:
        raise InputError("boundary_id needs a boundaries layer (--boundaries)")
    for col in (households_column, building_id):
        if col is not None:
            check_column(buildings, col, "buildings")
    if register is not None:
        register, register_key, register_grid = _check_register(
            register, register_key, register_grid
        )
    ids, dedicated = grid_ids_and_types(grids, grid_id, grid_type, opt)
    notes: list[str] = []

    metric = metric_crs([grids, buildings, streets, pois, boundaries], crs=crs)
    grids, buildings = to_metric(grids, metric), to_metric(buildings, metric)
    streets = None if streets is None else to_metric(streets, metric)
    pois = None if pois is None else to_metric(pois, metric)
    boundaries = None if boundaries is None else to_metric(boundaries, metric)

    grid_geom, ids, dedicated, type_text, dup = _merge_duplicates(grids, ids, dedicated, grid_type)
    if dup:
        notes.append(
            f"{len(dup)} grid ids appear on several rows and were merged: {', '.join(dup[:5])}"
        )
    shapely.prepare(grid_geom)
    area = _study_area(grid_geom, boundaries, study_area)

    hh = building_households(buildings, column=households_column, options=household_options)
    hh = hh.to_numpy(dtype=np.int64)
    if building_id is not None:
        bkey = _text_ids(buildings[building_id]).to_numpy(dtype=object)
    elif "osm_id" in buildings.columns:
        bkey = _text_ids(buildings["osm_id"]).to_numpy(dtype=object)
    else:
        bkey = np.asarray([str(v) for v in buildings.index], dtype=object)

    # --- overlaps and gaps (polygons)
    pair_polys, overlaps, overlap_land, ignored_o = _overlaps(
        grid_geom, ids, min_area, sliver_width, metric
    )
    gaps_geom, ignored_g = _pieces(
        shapely.difference(area, shapely.union_all(grid_geom)), min_area, sliver_width
    )

    # --- buildings
    bgeom = buildings.geometry.to_numpy()
    cov = _building_cover(bgeom, grid_geom, pair_polys, split_share)
    shapely.prepare(area)
    rep = shapely.point_on_surface(bgeom)
    inside = shapely.contains_xy(area, shapely.get_x(rep), shapely.get_y(rep))
    in_scope = cov["largest"] >= 0 if boundaries is not None else np.ones(len(bgeom), dtype=bool)
    in_scope = in_scope | inside
    uncovered = cov["uncovered"] & in_scope
    grid_of = np.where(uncovered | ~in_scope, -1, cov["largest"])
    grid_of[~in_scope] = -1
    if len(bgeom) and (cov["largest"] < 0).all():
        msg = (
            f"none of the {len(bgeom)} buildings lies in any of the {len(grid_geom)} grids: "
            "check that both layers cover the same area and that their CRS are right "
            "(e.g. coordinates in metres labelled EPSG:4326)"
        )
        raise InputError(msg)

    # a building is counted in an overlap when half its footprint or more is in one;
    # it goes to the pair of grids holding the largest part of it
    in_overlap = _share_in(bgeom, overlap_land) >= 0.5
    overlap_of = np.full(len(bgeom), -1, dtype=np.int64)
    hit = np.flatnonzero(in_overlap)
    overlap_of[hit] = _largest_part(bgeom[hit], overlaps.geometry.to_numpy(), at_least=0.0)
    overlap_ids = overlaps["overlap_id"].to_numpy(dtype=object)
    _add_counts(overlaps, overlap_of, hh)
    overlaps["severity"] = np.where(
        overlaps["buildings"] > 0, "high", np.where(overlaps["area_m2"] >= 100, "medium", "low")
    )

    gaps = _gaps_layer(gaps_geom, grid_geom, ids, metric)
    gap_of = np.full(len(bgeom), -1)
    unc = np.flatnonzero(uncovered)
    gap_of[unc] = assign_to_polygons(bgeom[unc], gaps.geometry.to_numpy())
    _add_counts(gaps, np.where(uncovered, gap_of, -1), hh)
    gaps["severity"] = np.where(
        gaps["households"] > 0, "high", np.where(gaps["area_m2"] >= 1000, "medium", "low")
    )

    zones, zone_of = _uncovered_zones(
        bgeom, unc, hh, zone_distance, grid_geom, ids, gaps, target, metric
    )

    gap_ids = gaps["gap_id"].to_numpy(dtype=object)
    zone_ids = zones["zone_id"].to_numpy(dtype=object)
    largest = cov["largest"]
    audited = gpd.GeoDataFrame(
        {
            "building_id": bkey,
            "households": hh,
            "grid_id": _pick(ids, grid_of),
            "share": np.round(cov["share"], 4),
            "covered_share": np.round(cov["covered"], 4),
            "n_grids": cov["n_grids"],
            "split_by_boundary": cov["split"] & in_scope,
            "uncovered": uncovered,
            "in_scope": in_scope,
            "overlap_id": _pick(overlap_ids, overlap_of),
            "zone_id": _pick(zone_ids, zone_of),
        },
        geometry=bgeom,
        crs=metric,
        index=buildings.index,
    )
    ub = audited[uncovered]
    uncovered_buildings = gpd.GeoDataFrame(
        {
            "building_id": ub["building_id"].to_numpy(dtype=object),
            "households": ub["households"].to_numpy(),
            "zone_id": ub["zone_id"].to_numpy(dtype=object),
            "gap_id": _pick(gap_ids, gap_of[uncovered]),
            "covered_share": ub["covered_share"].to_numpy(),
            "largest_grid": _pick(ids, largest[uncovered]),
        },
        geometry=ub.geometry.to_numpy(),
        crs=metric,
    )

    # --- street front
    sf = _street_front(
        streets, pois, buildings[in_scope], grid_geom, ids, dedicated, area, boundaries, opt
    )
    sf_zones = sf.zones.copy()
    sf_zones["severity"] = sf_zones["status"].map(
        {"uncovered": "high", "mixed": "medium", "dedicated": "ok"}
    )

    load = _grid_load(
        grid_geom, ids, dedicated, type_text, grid_of, hh, sf.shops, target, tolerance, metric
    )
    if boundaries is not None:
        _community_of_grids(load, boundaries, boundary_id)

    double = None
    reg_figures: dict[str, Any] = {}
    if register is not None:
        double, reg_figures = _double_counting(
            register, register_key, register_grid, audited, ids, metric
        )

    figures = _figures(
        audited=audited,
        dedicated=dedicated,
        zones=zones,
        overlaps=overlaps,
        overlap_area=float(shapely.area(overlap_land).sum()),
        ignored_overlaps=ignored_o,
        gaps=gaps,
        ignored_gaps=ignored_g,
        load=load,
        street_front=sf,
        register=reg_figures,
        target=target,
        tolerance=tolerance,
        crs=metric,
        settings={
            "min_area_m2": min_area,
            "sliver_width_m": sliver_width,
            "split_share": split_share,
            "zone_distance_m": zone_distance,
            "study_area": "boundaries" if boundaries is not None else study_area,
            "frontage_depth_m": opt.frontage_depth,
            "zone_gap_m": opt.zone_gap,
            "micro_grid_shops": opt.micro_grid_shops,
            "micro_grid_length_m": opt.micro_grid_length,
        },
    )
    figures["notes"] = notes
    figures["seconds"] = round(time.perf_counter() - t0, 3)
    result = Audit(
        buildings=audited,
        uncovered_buildings=uncovered_buildings,
        uncovered_zones=zones,
        overlaps=overlaps,
        gaps=gaps,
        street_front_zones=sf_zones,
        proposed_micro_grids=sf.micro_grids,
        grid_load=load,
        shops=sf.shops,
        double_counted=double,
        figures=figures,
        target=target,
        tolerance=tolerance,
        study_area=area,
        notes=notes,
    )
    log.info("coverage audit done in %.2f s", figures["seconds"])
    return result


# ----------------------------------------------------------------------------- helpers


def _non_negative(value: float, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not np.isfinite(v) or v < 0:
        msg = f"{name} must be a number, 0 or more, got {value!r}"
        raise InputError(msg)
    return v


def _polygon_parts(obj: object) -> object:
    """Keep the polygons of GeometryCollections (what repairing a polygon often gives).

    Other objects are returned as they are, for :func:`check_layer` to judge.
    """
    if not isinstance(obj, gpd.GeoDataFrame) or len(obj) == 0:
        return obj
    geom = obj.geometry.to_numpy()
    mixed = shapely.get_type_id(geom) == 7
    if not mixed.any():
        return obj
    parts, row = shapely.get_parts(geom[mixed], return_index=True)
    poly = np.isin(shapely.get_type_id(parts), [3, 6])
    parts, k = shapely.get_parts(parts[poly], return_index=True)  # MultiPolygons too
    row = row[poly][k]
    fixed = np.full(int(mixed.sum()), None, dtype=object)
    if len(parts):
        found = np.unique(row)
        fixed[found] = shapely.multipolygons(parts, indices=np.searchsorted(found, row))
    fixed[pd.isna(fixed)] = shapely.Polygon()
    one = shapely.get_num_geometries(fixed) == 1
    fixed[one] = shapely.get_geometry(fixed[one], 0)
    geom = geom.copy()
    geom[mixed] = fixed
    log.info("%d geometry collections reduced to their polygons", int(mixed.sum()))
    return obj.set_geometry(gpd.GeoSeries(geom, index=obj.index, crs=obj.crs))


def _pick(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``values[idx]``, None where ``idx`` is −1."""
    out = np.full(len(idx), None, dtype=object)
    ok = idx >= 0
    if ok.any():
        out[ok] = np.asarray(values, dtype=object)[idx[ok]]
    return out


def _empty(columns: dict[str, str], crs: Any) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {c: pd.Series(dtype=t) for c, t in columns.items()},
        geometry=gpd.GeoSeries([], crs=crs),
        crs=crs,
    )


def _ids(prefix: str, n: int) -> list[str]:
    width = max(3, len(str(n)))
    return [f"{prefix}{i + 1:0{width}d}" for i in range(n)]


def _merge_duplicates(
    grids: gpd.GeoDataFrame, ids: np.ndarray, dedicated: np.ndarray, grid_type: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Grid polygons, ids, street-front flags and type text, one row per grid id."""
    geom = grids.geometry.to_numpy().copy()
    col = grid_type or ("grid_type" if "grid_type" in grids.columns else None)
    types = (
        _text_ids(grids[col]).to_numpy(dtype=object)
        if col
        else np.full(len(ids), None, dtype=object)
    )
    dup_mask = pd.Series(ids).duplicated().to_numpy()
    if not dup_mask.any():
        return geom, ids, dedicated, types, []
    dup = sorted(set(ids[dup_mask]))
    keep = ~dup_mask
    geom_k, ids_k, ded_k, types_k = geom[keep], ids[keep], dedicated[keep].copy(), types[keep]
    pos = {v: i for i, v in enumerate(ids_k)}
    for d in dup:  # a loop over duplicated ids only
        members = ids == d
        geom_k[pos[d]] = shapely.union_all(geom[members])
        ded_k[pos[d]] = dedicated[members].any()
    log.warning("%d grid ids appear on several rows; their polygons were merged", len(dup))
    return geom_k, ids_k, ded_k, types_k, dup


def _study_area(grid_geom: np.ndarray, boundaries: gpd.GeoDataFrame | None, how: str):
    if boundaries is not None:
        return shapely.make_valid(shapely.union_all(boundaries.geometry.to_numpy()))
    union = shapely.union_all(grid_geom)
    if how == "hull":
        return shapely.convex_hull(union)
    parts = shapely.get_parts(union)
    parts = parts[np.isin(shapely.get_type_id(parts), [3])]
    return shapely.union_all(shapely.polygons(shapely.get_exterior_ring(parts)))


def _pieces(geom, min_area: float, sliver_width: float) -> tuple[np.ndarray, tuple[int, float]]:
    """Polygon parts of ``geom`` that are not slivers; and (count, area) of the slivers."""
    parts = shapely.get_parts(np.atleast_1d(np.asarray(geom, dtype=object)))
    parts = parts[(shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)]
    if len(parts) == 0:
        return parts, (0, 0.0)
    ignored, counted = _slivers(parts, min_area, sliver_width)
    return parts[~ignored], counted


def _slivers(
    parts: np.ndarray, min_area: float, sliver_width: float
) -> tuple[np.ndarray, tuple[int, float]]:
    """Which polygons are slivers (smaller than ``min_area`` or narrower than
    ``sliver_width`` everywhere), and their (count, area)."""
    a = shapely.area(parts)
    sliver = a < min_area
    if sliver_width > 0:
        sliver |= shapely.is_empty(shapely.buffer(parts, -sliver_width / 2, quad_segs=2))
    return sliver, (int(sliver.sum()), round(float(a[sliver].sum()), 3))


def _overlaps(
    grid_geom: np.ndarray, ids: np.ndarray, min_area: float, sliver_width: float, crs: Any
) -> tuple[np.ndarray, gpd.GeoDataFrame, np.ndarray, tuple[int, float]]:
    """Overlaps of pairs of grids.

    Returns every pairwise overlap polygon (for the building shares), the reported
    overlaps (one row per pair of grids, slivers left out), the disjoint polygons of
    the land they cover, and (count, area) of the ignored slivers.
    """
    tree = shapely.STRtree(grid_geom)
    i, j = tree.query(grid_geom, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    inner = shapely.relate_pattern(grid_geom[i], grid_geom[j], _INTERIOR_OVERLAP)
    i, j = i[inner], j[inner]
    parts, pair = shapely.get_parts(
        shapely.intersection(grid_geom[i], grid_geom[j]), return_index=True
    )
    poly = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    parts, pair = parts[poly], pair[poly]
    cols = {"overlap_id": "object", "grid_ids": "object", "area_m2": "float64"}
    if len(parts) == 0:
        return parts, _empty(cols, crs), parts, (0, 0.0)
    sliver, ignored = _slivers(parts, min_area, sliver_width)
    kept, kpair = parts[~sliver], pair[~sliver]
    if len(kept) == 0:
        return parts, _empty(cols, crs), kept, ignored
    order = np.argsort(kpair, kind="stable")
    pairs, first = np.unique(kpair[order], return_index=True)
    geoms = shapely.multipolygons(kept[order], indices=np.searchsorted(pairs, kpair[order]))
    single = shapely.get_num_geometries(geoms) == 1
    geoms[single] = shapely.get_geometry(geoms[single], 0)
    a, b = ids[i[pairs]], ids[j[pairs]]
    names = np.where(a.astype(str) <= b.astype(str), a + "," + b, b + "," + a)
    rank = np.lexsort((names.astype(str), -shapely.area(geoms)))
    layer = gpd.GeoDataFrame(
        {
            "overlap_id": _ids("O", len(rank)),
            "grid_ids": names[rank].astype(object),
            "area_m2": np.round(shapely.area(geoms[rank]), 3),
        },
        geometry=geoms[rank],
        crs=crs,
    )
    region = shapely.get_parts(shapely.union_all(kept))
    return parts, layer, region, ignored


def _building_cover(
    bgeom: np.ndarray, grid_geom: np.ndarray, pair_polys: np.ndarray, split_share: float
) -> dict[str, np.ndarray]:
    """Share of each building in its largest grid and in any grid; flags."""
    n = len(bgeom)
    barea = shapely.area(bgeom)
    g, b = shapely.STRtree(bgeom).query(grid_geom, predicate="intersects")  # grids prepared
    contained = shapely.contains(grid_geom[g], bgeom[b])
    inter = np.where(contained, barea[b], 0.0)
    part = np.flatnonzero(~contained)
    inter[part] = shapely.area(shapely.intersection(bgeom[b[part]], grid_geom[g[part]]))
    covered = np.bincount(b, weights=inter, minlength=n)
    if len(pair_polys):  # land in two grids was counted twice
        pb, po = shapely.STRtree(pair_polys).query(bgeom, predicate="intersects")
        twice = shapely.area(shapely.intersection(bgeom[pb], pair_polys[po]))
        covered -= np.bincount(pb, weights=twice, minlength=n)
    covered = np.clip(covered / barea, 0.0, 1.0)
    share = inter / barea[b]
    largest = np.full(n, -1, dtype=np.int64)
    best = np.zeros(n)
    order = np.lexsort((-share, b))
    first = order[np.r_[True, b[order][1:] != b[order][:-1]]] if len(order) else order
    largest[b[first]] = g[first]
    best[b[first]] = share[first]
    largest[best <= 0] = -1
    return {
        "largest": largest,
        "share": best,
        "covered": covered,
        "n_grids": np.bincount(b[share > split_share], minlength=n).astype(np.int64),
        "split": (best > split_share) & (best < 1 - split_share),
        "uncovered": (1.0 - covered) > best,
    }


def _share_in(geoms: np.ndarray, polys: np.ndarray) -> np.ndarray:
    """Share of each geometry's area inside disjoint ``polys``."""
    out = np.zeros(len(geoms))
    if len(polys) == 0 or len(geoms) == 0:
        return out
    gi, pi = shapely.STRtree(polys).query(geoms, predicate="intersects")
    inter = shapely.area(shapely.intersection(geoms[gi], polys[pi]))
    return np.bincount(gi, weights=inter, minlength=len(geoms)) / shapely.area(geoms)


def _largest_part(geoms: np.ndarray, polys: np.ndarray, *, at_least: float) -> np.ndarray:
    """Polygon holding the largest part of each geometry if it holds ``at_least`` of it."""
    out = np.full(len(geoms), -1, dtype=np.int64)
    if len(polys) == 0 or len(geoms) == 0:
        return out
    gi, pi = shapely.STRtree(polys).query(geoms, predicate="intersects")
    if len(gi) == 0:
        return out
    share = shapely.area(shapely.intersection(geoms[gi], polys[pi])) / shapely.area(geoms[gi])
    order = np.lexsort((-share, gi))
    first = order[np.r_[True, gi[order][1:] != gi[order][:-1]]]
    ok = share[first] >= at_least
    out[gi[first][ok]] = pi[first][ok]
    return out


def _add_counts(layer: gpd.GeoDataFrame, idx: np.ndarray, hh: np.ndarray) -> None:
    ok = idx >= 0
    layer["buildings"] = np.bincount(idx[ok], minlength=len(layer)).astype(np.int64)
    layer["households"] = np.bincount(idx[ok], weights=hh[ok], minlength=len(layer)).astype(
        np.int64
    )


def _neighbours(polys: np.ndarray, grid_geom: np.ndarray, ids: np.ndarray) -> np.ndarray:
    out = np.full(len(polys), None, dtype=object)
    if len(polys) == 0:
        return out
    pi, gi = shapely.STRtree(grid_geom).query(polys, predicate="dwithin", distance=0.5)
    if len(pi):
        df = pd.DataFrame({"p": pi, "g": ids[gi]}).drop_duplicates().sort_values(["p", "g"])
        joined = df.groupby("p")["g"].agg(",".join)
        out[joined.index.to_numpy()] = joined.to_numpy()
    return out


def _gaps_layer(
    gaps: np.ndarray, grid_geom: np.ndarray, ids: np.ndarray, crs: Any
) -> gpd.GeoDataFrame:
    gaps = gaps[np.argsort(-shapely.area(gaps), kind="stable")]
    return gpd.GeoDataFrame(
        {
            "gap_id": _ids("V", len(gaps)),
            "area_m2": np.round(shapely.area(gaps), 3),
            "neighbour_grids": _neighbours(gaps, grid_geom, ids),
        },
        geometry=gaps,
        crs=crs,
    )


def _uncovered_zones(
    bgeom: np.ndarray,
    unc: np.ndarray,
    hh: np.ndarray,
    distance: float,
    grid_geom: np.ndarray,
    ids: np.ndarray,
    gaps: gpd.GeoDataFrame,
    target: float,
    crs: Any,
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Uncovered buildings closer than ``distance`` grouped into zones."""
    zone_of = np.full(len(bgeom), -1, dtype=np.int64)
    cols = {
        "zone_id": "object",
        "buildings": "int64",
        "households": "int64",
        "area_m2": "float64",
        "nearest_grid": "object",
        "gap_id": "object",
        "severity": "object",
    }
    if len(unc) == 0:
        return _empty(cols, crs), zone_of
    blobs = shapely.get_parts(
        shapely.union_all(shapely.buffer(bgeom[unc], distance / 2, quad_segs=4))
    )
    rep = shapely.point_on_surface(bgeom[unc])
    ri, zi = shapely.STRtree(blobs).query(rep, predicate="intersects")
    first = np.r_[True, ri[1:] != ri[:-1]] if len(ri) else np.array([], dtype=bool)
    member = np.full(len(unc), -1, dtype=np.int64)
    member[ri[first]] = zi[first]
    n_b = np.bincount(member, minlength=len(blobs))
    n_h = np.bincount(member, weights=hh[unc], minlength=len(blobs)).astype(np.int64)
    order = np.lexsort((-n_b, -n_h))
    rank = np.empty(len(blobs), dtype=np.int64)
    rank[order] = np.arange(len(blobs))
    zone_of[unc] = rank[member]
    blobs = blobs[order]
    _, nearest = shapely.STRtree(grid_geom).query_nearest(blobs, all_matches=False)
    n_h = n_h[order]
    zones = gpd.GeoDataFrame(
        {
            "zone_id": _ids("U", len(blobs)),
            "buildings": n_b[order].astype(np.int64),
            "households": n_h,
            "area_m2": np.round(shapely.area(blobs), 3),
            "nearest_grid": ids[nearest],
            "gap_id": _pick(
                gaps["gap_id"].to_numpy(dtype=object),
                assign_to_polygons(blobs, gaps.geometry.to_numpy()),
            ),
            "severity": np.where(n_h >= 0.1 * target, "high", np.where(n_h > 0, "medium", "low")),
        },
        geometry=blobs,
        crs=crs,
    )
    return zones, zone_of


def _street_front(streets, pois, buildings, grid_geom, ids, dedicated, area, boundaries, opt):
    shops = shop_points(pois, buildings, options=opt)
    shops = shops.set_crs(buildings.crs, allow_override=True)
    if boundaries is not None and len(shops):
        pts = shops.geometry.to_numpy()
        keep = shapely.contains_xy(area, shapely.get_x(pts), shapely.get_y(pts))
        keep[shapely.STRtree(grid_geom).query(pts, predicate="intersects")[0]] = True
        shops = shops[keep]
    if streets is None:
        runs = gpd.GeoDataFrame(
            {
                "run_id": pd.Series(dtype="int64"),
                "street": pd.Series(dtype=object),
                "length_m": pd.Series(dtype=float),
            },
            geometry=gpd.GeoSeries([], crs=buildings.crs),
            crs=buildings.crs,
        )
    else:
        runs = frontage_runs(streets, options=opt)
    return find_street_front(
        shops, runs, grid_geoms=grid_geom, grid_ids=ids, dedicated=dedicated, options=opt
    )


def _grid_load(grid_geom, ids, dedicated, type_text, grid_of, hh, shops, target, tolerance, crs):
    n = len(grid_geom)
    ok = grid_of >= 0
    households = np.bincount(grid_of[ok], weights=hh[ok], minlength=n).astype(np.int64)
    n_shops = np.zeros(n, dtype=np.int64)
    if len(shops):
        _, gi = shapely.STRtree(grid_geom).query(shops.geometry.to_numpy(), predicate="intersects")
        n_shops = np.bincount(gi, minlength=n).astype(np.int64)
    lower, upper = target * (1 - tolerance), target * (1 + tolerance)
    dev = households / target - 1
    below, above = households < lower - 1e-9, households > upper + 1e-9
    status = np.where(
        dedicated, "street_front", np.where(below, "below", np.where(above, "above", "within"))
    )
    excess = np.where(above, households - upper, np.where(below, households - lower, 0.0))
    off = (below | above) & ~dedicated
    severity = np.where(
        ~off,
        "ok",
        np.where(np.abs(dev) > 0.5, "high", np.where(np.abs(dev) > 2 * tolerance, "medium", "low")),
    )
    return gpd.GeoDataFrame(
        {
            "grid_id": ids,
            "grid_type": type_text,
            "street_front": dedicated.astype(bool),
            "households": households,
            "buildings": np.bincount(grid_of[ok], minlength=n).astype(np.int64),
            "shops": n_shops,
            "area_m2": np.round(shapely.area(grid_geom), 3),
            "deviation": np.round(dev, 4),
            "status": status.astype(object),
            "excess": np.round(excess, 3),
            "severity": severity.astype(object),
        },
        geometry=grid_geom,
        crs=crs,
    )


def _community_of_grids(
    load: gpd.GeoDataFrame, boundaries: gpd.GeoDataFrame, boundary_id: str | None
) -> None:
    geoms = load.geometry.to_numpy()
    bgeom = boundaries.geometry.to_numpy()
    cid = (
        boundaries[boundary_id]
        if boundary_id
        else pd.Series(boundaries.index, index=boundaries.index)
    )
    idx = assign_to_polygons(geoms, bgeom)
    inside = np.zeros(len(geoms))
    ok = idx >= 0
    inside[ok] = shapely.area(shapely.intersection(geoms[ok], bgeom[idx[ok]]))
    load["community_id"] = _pick(cid.to_numpy(dtype=object), idx)
    load["outside_community_m2"] = np.round(shapely.area(geoms) - inside, 3)


def _double_counting(register, key_col, grid_col, audited, ids, crs):
    reg = pd.DataFrame({"key": _text_ids(register[key_col]), "grid": _text_ids(register[grid_col])})
    incomplete = reg["key"].isna() | reg["grid"].isna()
    reg = reg[~incomplete]
    per = reg.groupby("key").agg(entries=("grid", "size"), n_grids=("grid", "nunique"))
    dbl = per[per["n_grids"] >= 2].sort_index()
    grids_of = (
        reg[reg["key"].isin(dbl.index)]
        .drop_duplicates()
        .sort_values(["key", "grid"])
        .groupby("key")["grid"]
        .agg(",".join)
    )
    bid = audited["building_id"]
    first = ~bid.duplicated().to_numpy() & bid.notna().to_numpy()
    lut = pd.Series(np.arange(len(audited))[first], index=bid[first].to_numpy())
    pos = lut.reindex(dbl.index).to_numpy()
    matched = ~np.isnan(pos)
    p = np.where(matched, pos, 0).astype(np.int64)
    geom = np.full(len(dbl), None, dtype=object)
    geom[matched] = audited.geometry.to_numpy()[p[matched]]
    hh = pd.array(np.where(matched, audited["households"].to_numpy()[p], 0), dtype="Int64")
    hh[~matched] = pd.NA
    map_grid = np.full(len(dbl), None, dtype=object)
    map_grid[matched] = audited["grid_id"].to_numpy(dtype=object)[p[matched]]
    layer = gpd.GeoDataFrame(
        {
            "double_id": _ids("D", len(dbl)),
            "key": dbl.index.to_numpy(dtype=object),
            "register_grids": grids_of.reindex(dbl.index).to_numpy(dtype=object),
            "n_grids": dbl["n_grids"].to_numpy(dtype=np.int64),
            "entries": dbl["entries"].to_numpy(dtype=np.int64),
            "map_grid": map_grid,
            "households": hh,
            "severity": "high",
        },
        geometry=gpd.GeoSeries(geom, crs=crs),
        crs=crs,
    )
    known = set(ids)
    figures = {
        "register_entries": len(register),
        "register_keys": len(per),
        "register_incomplete_entries": int(incomplete.sum()),
        "register_unmatched_keys": int((~per.index.isin(lut.index)).sum()),
        "register_unknown_grid_entries": int((~reg["grid"].isin(known)).sum()),
        "double_counted": len(layer),
        "double_counted_entries": int(dbl["entries"].sum()),
        "double_counted_households": int(hh.sum(skipna=True)),
    }
    return layer, figures


def _figures(
    *,
    audited: gpd.GeoDataFrame,
    dedicated: np.ndarray,
    zones: gpd.GeoDataFrame,
    overlaps: gpd.GeoDataFrame,
    overlap_area: float,
    ignored_overlaps: tuple[int, float],
    gaps: gpd.GeoDataFrame,
    ignored_gaps: tuple[int, float],
    load: gpd.GeoDataFrame,
    street_front: Any,
    register: dict[str, Any],
    target: float,
    tolerance: float,
    crs: Any,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """The figures of the audit, JSON-ready."""
    sf = street_front
    scope = audited["in_scope"].to_numpy()
    hh = audited["households"].to_numpy()
    uncovered = audited["uncovered"].to_numpy()
    z = sf.zones
    status = z["status"].to_numpy(dtype=object)
    out: dict[str, Any] = {
        "crs": crs.to_string(),
        "target": target,
        "tolerance": tolerance,
        "band": [round(target * (1 - tolerance), 3), round(target * (1 + tolerance), 3)],
        "grids": len(load),
        "street_front_grids": int(dedicated.sum()),
        "buildings": int(scope.sum()),
        "buildings_out_of_scope": int((~scope).sum()),
        "households": int(hh[scope].sum()),
        "uncovered_buildings": int(uncovered.sum()),
        "uncovered_households": int(hh[uncovered].sum()),
        "uncovered_zones": len(zones),
        "split_buildings": int(audited["split_by_boundary"].sum()),
        "overlaps": len(overlaps),
        "overlap_area_m2": round(overlap_area, 3),
        "overlap_buildings": int(overlaps["buildings"].sum()),
        "overlap_households": int(overlaps["households"].sum()),
        "ignored_overlap_slivers": ignored_overlaps[0],
        "ignored_overlap_sliver_area_m2": ignored_overlaps[1],
        "gaps": len(gaps),
        "gap_area_m2": round(float(gaps["area_m2"].sum()), 3),
        "ignored_slivers": ignored_gaps[0],
        "ignored_sliver_area_m2": ignored_gaps[1],
        "grids_below": int((load["status"] == "below").sum()),
        "grids_within": int((load["status"] == "within").sum()),
        "grids_above": int((load["status"] == "above").sum()),
        "shops": len(sf.shops),
        "street_front_shops": int(sf.shops["frontage"].sum()) if len(sf.shops) else 0,
        "street_front_zones": len(z),
        "street_front_uncovered": int((status == "uncovered").sum()),
        "street_front_mixed": int((status == "mixed").sum()),
        "street_front_dedicated": int((status == "dedicated").sum()),
        "street_front_uncovered_shops": int(z["shops_uncovered"].sum()) if len(z) else 0,
        "street_front_length_m": round(float(z["length_m"].sum()), 3) if len(z) else 0.0,
        "proposed_micro_grids": len(sf.micro_grids),
        "proposed_micro_grid_shops": int(sf.micro_grids["shops"].sum())
        if len(sf.micro_grids)
        else 0,
        **register,
        "settings": settings,
    }
    return out


def _plain_columns(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Columns a GeoPackage stores: objects that are not text become text."""
    gdf = gdf.copy()
    for col in gdf.columns:
        if col != gdf.geometry.name and gdf[col].dtype == object:
            gdf[col] = gdf[col].map(lambda v: v if v is None or isinstance(v, str) else str(v))
    return gdf
