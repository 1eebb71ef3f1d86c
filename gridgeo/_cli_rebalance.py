"""The ``gridgeo rebalance`` subcommand: redraw an existing plan after households change.

:func:`add_parser` adds the subcommand to the ``gridgeo`` parser and :func:`run` runs
it; errors are :class:`gridgeo.GridgeoError` exceptions that ``gridgeo.cli.main``
prints as one line.
"""

from __future__ import annotations

import argparse
import csv
import logging
from pathlib import Path
from typing import Any

from ._errors import InputError, ReadError

__all__ = ["add_code_arguments", "add_parser", "code_options", "run"]

log = logging.getLogger("gridgeo")

_EPILOG = """examples:
  gridgeo rebalance --plan out/kouvola/grids.gpkg --osm data/kouvola.osm.pbf --out out/rebalanced
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
    p = subparsers.add_parser(
        "rebalance",
        help="redraw the grids of an existing plan that new household figures put out of band",
        description=(
            "Dynamic adjustment (动态调整): count the households of new building data in the "
            "grids of an existing plan, redraw only the grids outside the band and their "
            "neighbours as far as needed, keep every other grid's boundary, id and code, "
            "give new grids free codes, and report what changed with a before/after map, "
            "a staffing table and the grid hierarchy."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("the plan")
    g.add_argument(
        "--plan",
        metavar="FILE",
        required=True,
        help="grid polygons: a gridgeo grids.gpkg, or any GIS file of the city's grids",
    )
    g.add_argument(
        "--plan-layer", metavar="NAME", help="layer of --plan (default: grids when present)"
    )
    g.add_argument(
        "--grid-id", metavar="COL", help="grid id column (default: grid_id, else the row number)"
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
    src.add_argument("--buildings", metavar="FILE", help="building footprints with households")
    src.add_argument("--buildings-layer", metavar="NAME", help="layer of --buildings")
    src.add_argument(
        "--streets", metavar="FILE", help="street lines: new boundaries follow them (街巷定界)"
    )
    src.add_argument("--streets-layer", metavar="NAME", help="layer of --streets")
    src.add_argument(
        "--households-column",
        metavar="COL",
        help="households per building (default: estimated from footprints)",
    )
    s = p.add_argument_group("band")
    s.add_argument(
        "--target",
        metavar="N",
        type=float,
        help="households per grid (default: the plan's own target, else 300)",
    )
    s.add_argument(
        "--tolerance",
        metavar="F",
        type=float,
        default=0.1,
        help="accepted deviation from the target (default: 0.1 = ±10%%)",
    )
    s.add_argument("--band", metavar="LO-HI", help="accepted households per grid, e.g. 300-500")
    s.add_argument(
        "--max-rings",
        metavar="N",
        type=int,
        default=3,
        help="rings of neighbouring grids a redrawn region may take in (default: 3)",
    )
    s.add_argument("--random-state", metavar="N", type=int, default=0, help="seed (default: 0)")
    s.add_argument(
        "--crs",
        metavar="EPSG",
        help="metric CRS to compute in (default: the plan's when metric, else CGCS2000/UTM zone)",
    )
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
    o = p.add_argument_group("output")
    o.add_argument(
        "--out",
        metavar="DIR",
        default="out/rebalance",
        help="output folder (default: out/rebalance)",
    )
    o.add_argument("--lang", choices=["en", "zh"], default="en", help="language (default: en)")
    o.add_argument("--no-map", action="store_true", help="do not write rebalance.html")
    p.set_defaults(run=run)
    return p


def add_code_arguments(group: Any, *, keep: bool = False) -> None:
    """Add ``--codes``, ``--admin-code``, ``--street-code``, ``--community-codes`` and
    ``--object-class`` to a parser or argument group (``keep``: offer ``--codes keep``,
    the default, which carries existing codes over); read them with :func:`code_options`.
    """
    choices = ["keep", "db11", "cjt349"] if keep else ["none", "db11", "cjt349"]
    group.add_argument(
        "--codes",
        choices=choices,
        default=choices[0],
        help=(
            (
                "keep: carry existing codes over, new grids take free numbers (default); "
                if keep
                else "none: no codes (default); "
            )
            + "db11: 15-digit DB11/T 2157 codes for every grid; cjt349: 20-digit CJ/T 349 codes"
        ),
    )
    group.add_argument(
        "--admin-code", metavar="CODE", help="6-digit county admin code (GB/T 2260), e.g. 110105"
    )
    group.add_argument(
        "--street-code", metavar="CODE", default="001", help="3-digit street code (default: 001)"
    )
    group.add_argument(
        "--community-codes",
        metavar="CSV",
        help="CSV of community_id,code (3-digit community or 12-digit division codes)",
    )
    group.add_argument(
        "--object-class", metavar="CODE", help="6-digit object class (CJ/T 348) for cjt349 codes"
    )


def code_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """Keyword arguments of :func:`gridgeo.codes.assign_codes` from the parsed code
    options, or None when no scheme is asked for (``--codes keep`` / ``none``)."""
    if args.codes in ("keep", "none"):
        if args.admin_code or args.community_codes or args.object_class:
            msg = "--admin-code, --community-codes and --object-class go with --codes db11 or --codes cjt349"
            raise InputError(msg)
        return None
    return {
        "scheme": args.codes,
        "admin_code": args.admin_code,
        "street_code": args.street_code,
        "community_codes": _community_codes(args.community_codes),
        "object_class": args.object_class,
    }


def _range(text: str | None, option: str) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        lo, hi = (float(v) for v in text.replace("–", "-").split("-"))
    except ValueError:
        msg = f"{option} must be two numbers LO-HI such as 300-500, got {text!r}"
        raise InputError(msg) from None
    return lo, hi


def _read_plan(path: str, layer: str | None):
    import pyogrio

    from .io import read_layer

    file = Path(path)
    if layer is None and file.suffix.lower() == ".gpkg" and file.is_file():
        try:
            names = [str(row[0]) for row in pyogrio.list_layers(file)]
        except Exception as exc:  # pyogrio raises several DataSourceError kinds
            msg = f"cannot read {file}: {exc}"
            raise ReadError(msg) from exc
        if "grids" in names:
            layer = "grids"
    return read_layer(file, layer=layer, name="grids")


def _community_codes(path: str | None) -> dict[str, str] | None:
    if path is None:
        return None
    file = Path(path)
    if not file.is_file():
        msg = f"community codes file not found: {file}; give a CSV with columns community_id,code"
        raise ReadError(msg)
    with file.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    if rows and not any(ch.isdigit() for ch in rows[0][-1]):
        rows = rows[1:]  # a header
    out = {}
    for row in rows:
        if len(row) < 2 or not row[0].strip():
            continue
        out[row[0].strip()] = row[1].strip()
    if not out:
        msg = f"{file} holds no community codes; write one line per community: community_id,code"
        raise InputError(msg)
    return out


def run(args: argparse.Namespace) -> int:
    """Run ``gridgeo rebalance``: redraw, write the files, print a summary; returns 0."""
    from .adjust import rebalance
    from .hierarchy import hierarchy, micro_grids
    from .io import read_layer, read_osm
    from .staffing import StaffingRules, attach_staffing, staffing_table, write_staffing_csv

    codes = code_options(args)
    grids = _read_plan(args.plan, args.plan_layer)
    buildings = streets = None
    if args.osm:
        layers = read_osm(args.osm)
        buildings = layers.buildings if len(layers.buildings) else None
        streets = layers.streets
    if args.buildings:
        buildings = read_layer(args.buildings, layer=args.buildings_layer, name="buildings")
    if args.streets:
        streets = read_layer(args.streets, layer=args.streets_layer, name="streets")
    if buildings is None:
        msg = "give the buildings with the new households: --buildings FILE (or --osm FILE)"
        raise InputError(msg)
    crs = int(args.crs) if args.crs is not None and str(args.crs).isdigit() else args.crs
    if grids is not None and args.community_column is None and "community_id" in grids.columns:
        community = "community_id"
    else:
        community = args.community_column
    if codes and community and community in grids.columns and codes["community_codes"]:
        # codes read from CSV are text: match them to the column's values as text
        grids = grids.assign(**{community: grids[community].astype(str)})
    result = rebalance(
        grids,
        buildings,
        streets=streets,
        households_column=args.households_column,
        grid_id=args.grid_id,
        community_column=community,
        code_column=args.code_column,
        target=args.target,
        tolerance=args.tolerance,
        band=_range(args.band, "--band"),
        crs=crs,
        max_rings=args.max_rings,
        random_state=args.random_state,
        codes=codes,
    )
    micro = None
    if args.micro_grids:
        micro = micro_grids(
            result.grids, result.buildings, band=_range(args.micro_band, "--micro-band")
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
