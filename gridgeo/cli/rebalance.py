"""The ``gridgeo rebalance`` subcommand: redraw an existing plan after households change.

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
    add_code_arguments,
    add_command,
    add_file_option,
    add_output_options,
    add_plan_group,
    code_options,
    parse_range,
    read_grids,
    read_new_data,
)
from ._rules import add_rule_arguments, rules_from_args
from .partition import add_layer_arguments, read_rule_layers

__all__ = ["add_parser", "run"]

_EPILOG = """examples:
  gridgeo rebalance --plan out/kouvola/grids.gpkg --osm gridgeo/data/kouvola.osm.pbf --out out/rebalanced
  gridgeo rebalance --plan grids.gpkg --buildings buildings_2025.gpkg --households-column hh --streets streets.gpkg --out out/2025
  gridgeo rebalance --plan wangge.shp --grid-id WGBH --community-column SQDM --buildings lou.gpkg --households-column HS --codes db11 --admin-code 110105 --street-code 001 --out out/
  gridgeo rebalance --plan grids.gpkg --buildings b.gpkg --households-column hh --codes cjt349 --object-class 010100 --admin-code 110105 --micro-grids --out out/

outputs (in --out):
  grids.gpkg      layers grids (after, with code, status and staffing), buildings (grid
                  before and after, moved), grids_before, diff (land that changed grid)
                  and, with --micro-grids, micro_grids
  grids.geojson   the grids after, in EPSG:4326
  rebalance.json  the figures: grids kept, reshaped, split, merged and new; share of
                  buildings and households that changed grid
  changes.csv     one row per grid before: what became of it (UTF-8 with BOM)
  staffing.csv    grid workers, liaisons, yearly liaison budget, workload (UTF-8 with BOM)
  hierarchy.csv   district → street → community → grid (→ micro-grid) counts
  rebalance.html  before/after map
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``rebalance`` subcommand to ``subparsers`` (from ``add_subparsers``).

    The parser's defaults hold ``run=run``, so a caller may dispatch with
    ``args.run(args)``.
    """
    p = add_command(
        subparsers,
        "rebalance",
        run,
        help="redraw the grids of an existing plan that new household figures put out of band",
        description=(
            "Dynamic adjustment (动态调整): count the households of new building data in the "
            "grids of an existing plan, redraw only the grids outside the band and their "
            "neighbours as far as needed, keep every other grid's boundary, id and code, "
            "give new grids free codes, and report what changed with a before/after map, "
            "a staffing table and the grid hierarchy."
        ),
        epilog=_EPILOG,
    )
    g = add_plan_group(
        p,
        "--plan",
        "grid polygons: a gridgeo grids.gpkg, or any GIS file of the city's grids",
        layer_help="layer of --plan (default: grids when present)",
    )
    g.add_argument(
        "--community-column",
        metavar="COL",
        help="community of each grid (default: community_id when present); grids never cross it",
    )
    g.add_argument(
        "--code-column",
        metavar="COL",
        default="code",
        help="existing grid codes, kept for the grids that remain (default: code)",
    )
    src = p.add_argument_group("new data (--osm, or files; files override --osm)")
    src.add_argument("--osm", metavar="FILE", help="OSM extract holding buildings and streets")
    add_file_option(src, "--buildings", "building footprints with households")
    add_file_option(src, "--streets", "street lines: new boundaries follow them (街巷定界)")
    groups = add_rule_arguments(p)
    add_layer_arguments(groups)
    s = groups["grids"]
    s.add_argument(
        "--max-rings",
        metavar="N",
        type=int,
        default=3,
        help="rings of neighbouring grids a redrawn region may take in (default: 3)",
    )
    s.add_argument("--random-state", metavar="N", type=int, default=0, help="seed (default: 0)")
    add_code_arguments(p.add_argument_group("grid codes (统一编码)"), keep=True)
    st = p.add_argument_group("staffing and micro-grids")
    st.add_argument(
        "--rate-urban",
        metavar="YUAN",
        type=float,
        default=40.0,
        help="liaison pay per household per year in urban communities (default: 40)",
    )
    st.add_argument(
        "--rate-rural",
        metavar="YUAN",
        type=float,
        default=20.0,
        help="liaison pay per household per year in villages (default: 20)",
    )
    st.add_argument(
        "--workers-per-grid",
        metavar="N",
        type=int,
        default=1,
        help="grid workers per grid (default: 1)",
    )
    st.add_argument(
        "--households-per-liaison",
        metavar="N",
        type=float,
        default=40.0,
        help="households a liaison looks after when there are no micro-grids (default: 40)",
    )
    st.add_argument(
        "--micro-grids",
        action="store_true",
        help="divide every grid into micro-grids (slower) and staff one liaison per micro-grid",
    )
    st.add_argument(
        "--micro-band",
        metavar="LO-HI",
        default="30-50",
        help="households per micro-grid (default: 30-50)",
    )
    add_output_options(
        p, out="out/rebalance", lang_help="language (default: en)", map_file="rebalance.html"
    )
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``gridgeo rebalance``: redraw, write the files, print a summary; returns 0."""
    from ..adjust import rebalance
    from ..hierarchy import hierarchy, micro_grids
    from ..staffing import StaffingRules, attach_staffing, staffing_table, write_staffing_csv

    codes = code_options(args)
    grids = read_grids(args.plan, args.plan_layer)
    data = read_new_data(args, keep_osm=True)
    data.update(read_rule_layers(args, data.pop("osm", None)))
    buildings = data.pop("buildings", None)
    if buildings is None:
        msg = "give the buildings with the new households: --buildings FILE (or --osm FILE)"
        raise InputError(msg)
    community = args.community_column
    if community is None and "community_id" in grids.columns:
        community = "community_id"
    if codes and community and community in grids.columns and codes["community_codes"]:
        # codes read from CSV are text: match them to the column's values as text
        grids = grids.assign(**{community: grids[community].astype(str)})
    result = rebalance(
        grids,
        buildings,
        **data,
        rules=rules_from_args(args),
        grid_id=args.grid_id,
        community_column=community,
        code_column=args.code_column,
        max_rings=args.max_rings,
        random_state=args.random_state,
        codes=codes,
    )
    micro = None
    if args.micro_grids:
        micro = micro_grids(
            result.grids, result.buildings, band=parse_range(args.micro_band, "--micro-band")
        )
    rules = StaffingRules(
        workers_per_grid=args.workers_per_grid,
        households_per_liaison=args.households_per_liaison,
        rate_urban=args.rate_urban,
        rate_rural=args.rate_rural,
        target=result.target,
    )
    table = staffing_table(result.grids, buildings=result.buildings, micro_grids=micro, rules=rules)
    result.grids = attach_staffing(result.grids, table)
    paths = result.to_files(args.out, map_html=not args.no_map, lang=args.lang)
    out = Path(args.out)
    paths["staffing"] = write_staffing_csv(table, out / "staffing.csv")
    h = hierarchy(result.grids, micro)
    paths["hierarchy"] = h.to_csv(out / "hierarchy.csv")
    if micro is not None:
        micro.to_file(paths["gpkg"], layer="micro_grids", driver="GPKG", engine="pyogrio")
    print(result.describe(lang=args.lang))
    print(h.describe(lang=args.lang))
    for key in ("gpkg", "geojson", "json", "csv", "staffing", "hierarchy", "map"):
        if key in paths:
            print(f"  {key:9s} {paths[key]}")
    return 0
