"""The ``gridgeo coverage`` subcommand: audit an existing grid plan.

:func:`add_parser` adds the subcommand to the ``gridgeo`` parser and :func:`run` runs
it; errors are :class:`gridgeo.GridgeoError` exceptions that ``gridgeo.cli.main``
prints as one line.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .._errors import InputError
from ._common import (
    add_command,
    add_crs,
    add_file_option,
    add_output_options,
    add_plan_group,
    add_target_options,
    metric_crs,
    plan_source,
    read_new_data,
)

__all__ = ["add_parser", "run"]

_EPILOG = """examples:
  gridgeo coverage --grids plan.gpkg --osm gridgeo/data/kouvola.osm.pbf --out out/audit
  gridgeo coverage --grids plan.shp --grid-id WGBM --buildings buildings.gpkg --streets streets.gpkg --pois shops.geojson --out out/audit
  gridgeo coverage --grids plan.gpkg --buildings buildings.gpkg --households-column hh --boundaries communities.gpkg --boundary-id name --register register.csv --lang zh --out out/audit

outputs (in --out):
  coverage.gpkg            layers uncovered_buildings, uncovered_zones, overlaps, gaps,
                           street_front_zones, proposed_micro_grids, grid_load (+ double_counted)
  coverage.json            the figures
  coverage_findings.csv    the list for field staff (UTF-8 with BOM, Chinese and English headers)
  coverage.html            the map: each finding a layer coloured by severity, with a findings table
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``coverage`` subcommand to ``subparsers`` (from ``add_subparsers``).

    The parser's defaults hold ``run=run``, so a caller may dispatch with
    ``args.run(args)``.
    """
    p = add_command(
        subparsers,
        "coverage",
        run,
        help="audit an existing grid plan: uncovered buildings, gaps, overlaps, street-front shops",
        description=(
            "Audit the coverage of a grid plan (无缝覆盖): buildings in no grid, gaps and "
            "overlaps between grids, households per grid against the target, street-front "
            "shops (沿街商铺) left uncovered or managed mixed with housing, proposed "
            "street-front micro-grids, and buildings registered in two grids."
        ),
        epilog=_EPILOG,
    )
    g = add_plan_group(
        p,
        "--grids",
        "grid polygons (GeoPackage, Shapefile, GeoJSON …)",
        layer_help="layer of --grids when the file has several",
    )
    g.add_argument(
        "--grid-type",
        metavar="COL",
        help="grid type column (default: grid_type); values street_front or 沿街… mark street-front micro-grids",
    )
    src = p.add_argument_group(
        "buildings, streets and shops (--osm, or files; files override --osm)"
    )
    src.add_argument(
        "--osm",
        metavar="FILE",
        help="OSM extract (.osm, .osm.pbf) holding buildings, streets and shops",
    )
    add_file_option(src, "--buildings", "building footprints")
    src.add_argument(
        "--building-id",
        metavar="COL",
        help="building id column, matched by --register (default: osm_id, else the row number)",
    )
    add_file_option(src, "--streets", "street lines (needed for street-front zones)")
    add_file_option(src, "--pois", "shops and services as points or polygons")
    hh = p.add_argument_group("households and registers")
    hh.add_argument(
        "--households-column",
        metavar="COL",
        help="column of the buildings with households (default: estimated from footprints)",
    )
    hh.add_argument(
        "--register",
        metavar="FILE",
        help="register of buildings or addresses and their grids (CSV or GIS file)",
    )
    hh.add_argument(
        "--register-key", metavar="COL", help="building id or address column of --register"
    )
    hh.add_argument("--register-grid", metavar="COL", help="grid id column of --register")
    cb = p.add_argument_group("communities")
    cb.add_argument(
        "--boundaries", metavar="FILE", help="community boundaries: the area the grids must cover"
    )
    cb.add_argument("--boundary-id", metavar="COL", help="id column of --boundaries")
    s = p.add_argument_group("settings")
    add_target_options(s)
    s.add_argument(
        "--frontage-depth",
        metavar="M",
        type=float,
        default=30.0,
        help="metres from a street's centre line that count as its frontage (default: 30)",
    )
    add_crs(s)
    add_output_options(
        p,
        out="out/coverage",
        lang_help="language of the summary, map and descriptions (default: en)",
        map_file="coverage.html",
    )
    return p


def _load(args: argparse.Namespace) -> dict[str, Any]:
    from ..io import read_layer

    kw = read_new_data(args, pois=True)
    if kw.get("buildings") is None:
        where = f"{args.osm} holds no buildings; " if args.osm else ""
        msg = f"{where}give the buildings with --buildings FILE (or --osm FILE holding them)"
        raise InputError(msg)
    grids, layer = plan_source(args.grids, args.grids_layer)
    kw["grids"] = read_layer(grids, layer=layer, name="grids")
    if args.boundaries:
        kw["boundaries"] = read_layer(args.boundaries, name="boundaries")
    if args.register:
        from ..audit import read_register

        kw["register"] = read_register(args.register)
    return kw


def run(args: argparse.Namespace) -> int:
    """Run ``gridgeo coverage``: audit, write the files, print a summary; returns 0."""
    from ..audit import audit

    kw = _load(args)
    result = audit(
        kw["grids"],
        kw["buildings"],
        kw.get("streets"),
        pois=kw.get("pois"),
        boundaries=kw.get("boundaries"),
        boundary_id=args.boundary_id,
        grid_id=args.grid_id,
        grid_type=args.grid_type,
        building_id=args.building_id,
        households_column=args.households_column,
        register=kw.get("register"),
        register_key=args.register_key,
        register_grid=args.register_grid,
        target=args.target,
        tolerance=args.tolerance,
        frontage_depth=args.frontage_depth,
        crs=metric_crs(args.crs),
    )
    paths = result.to_files(args.out, lang=args.lang, map_html=not args.no_map)
    print(result.describe(lang=args.lang))
    if kw.get("streets") is None:
        print(
            "未提供街巷数据，未分析沿街商铺（用 --streets 或 --osm）。"
            if args.lang == "zh"
            else "No streets given: street-front zones were not looked for (give --streets or --osm)."
        )
    for key in ("gpkg", "json", "csv", "map"):
        if key in paths:
            print(f"  {key:5s} {Path(paths[key])}")
    return 0
