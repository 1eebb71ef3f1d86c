"""The ``gridgeo`` command: a thin face over the library.

Every error gridgeo raises on purpose is printed as one line and exits with status 2;
anything else prints a one-line internal error (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from . import _cli_coverage, _cli_map, _cli_rebalance, _cli_serve
from ._cli_common import (
    add_code_arguments,
    add_command,
    add_crs,
    add_output_options,
    add_target_options,
    code_options,
    metric_crs,
    parse_range,
)
from ._errors import GridgeoError, InputError

__all__ = ["main"]

_EPILOG = """examples:
  gridgeo partition --osm data/helsinki.osm.pbf --population data/helsinki_population_2020.gpkg --out out/helsinki
  gridgeo partition --streets streets.gpkg --buildings buildings.gpkg --households-column hh --target 300 --out out/
  gridgeo partition --streets streets.parquet --total-households 12000 --out out/
  gridgeo demo --out out/demo
"""


def _add_partition_args(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("inputs (one OSM source, or --streets with optional --buildings)")
    src.add_argument(
        "--osm", metavar="FILE", help="OSM extract (.osm or .osm.pbf) holding streets and buildings"
    )
    src.add_argument(
        "--place",
        metavar="NAME",
        help="download OSM data for a place name through osmnx (needs internet)",
    )
    src.add_argument(
        "--bbox",
        metavar="W,S,E,N",
        help="download OSM data for a bounding box in degrees (needs internet)",
    )
    src.add_argument(
        "--streets",
        metavar="FILE",
        help="street lines: GeoPackage, GeoJSON, Shapefile or GeoParquet",
    )
    src.add_argument("--buildings", metavar="FILE", help="building footprints (same formats)")
    src.add_argument(
        "--streets-layer", metavar="NAME", help="layer of --streets when the file has several"
    )
    src.add_argument(
        "--buildings-layer", metavar="NAME", help="layer of --buildings when the file has several"
    )
    hh = p.add_argument_group(
        "households (default: building:flats, else estimated from footprint × levels)"
    )
    hh.add_argument(
        "--households-column",
        metavar="COL",
        help="column of the buildings with households per building",
    )
    hh.add_argument(
        "--population",
        metavar="GRID_FILE",
        help="population grid (people per cell) spread over buildings",
    )
    hh.add_argument(
        "--population-column",
        metavar="COL",
        default="population",
        help="people column of --population (default: population)",
    )
    hh.add_argument(
        "--total-households",
        metavar="N",
        type=int,
        help="known number of households of the whole area",
    )
    hh.add_argument(
        "--persons-per-household",
        metavar="X",
        type=float,
        default=2.62,
        help="people per household (default: 2.62, 2020 census)",
    )
    hh.add_argument(
        "--floor-area",
        metavar="M2",
        type=float,
        default=92.0,
        help="gross floor area per household in m² (default: 92)",
    )
    hh.add_argument(
        "--default-levels",
        metavar="N",
        type=float,
        default=3.0,
        help="levels of buildings with no levels or height tag (default: 3)",
    )
    cb = p.add_argument_group("communities")
    cb.add_argument(
        "--boundaries", metavar="FILE", help="community boundaries: grids never cross them"
    )
    cb.add_argument(
        "--boundary-id", metavar="COL", help="id column of --boundaries (default: row number)"
    )
    cb.add_argument(
        "--boundary-households",
        metavar="COL",
        help="column of --boundaries with each community's households",
    )
    r = p.add_argument_group(
        "planning rules (with --osm, barriers and dedicated zones come from the extract)"
    )
    r.add_argument(
        "--barriers",
        metavar="FILE",
        help="hard barriers no grid crosses: railways, rivers, water (lines or polygons)",
    )
    r.add_argument(
        "--no-barriers", action="store_true", help="ignore railways and water from the OSM extract"
    )
    r.add_argument(
        "--barrier-streets",
        metavar="CLASSES",
        default="",
        help="street classes no grid crosses, comma-separated, e.g. motorway (default: none)",
    )
    r.add_argument(
        "--dedicated",
        metavar="FILE",
        help="zones that become grids of their own (campus, hospital, park …): polygons with optional kind, name",
    )
    r.add_argument(
        "--no-dedicated",
        action="store_true",
        help="no dedicated grids from the OSM extract's land use",
    )
    r.add_argument(
        "--rural-column",
        metavar="COL",
        help="column of --boundaries marking rural communities (true/false or urban-rural code, 2xx = rural)",
    )
    r.add_argument(
        "--rural-cap",
        metavar="N",
        type=float,
        default=1000,
        help="a rural community above this many households is divided (default: 1000)",
    )
    r.add_argument(
        "--weight",
        metavar="EXPR",
        help="balance grids on an expression of building columns, e.g. 'households + 2 * shops'",
    )
    g = p.add_argument_group("grids")
    g.add_argument(
        "--band",
        metavar="LO-HI",
        help="accepted households per grid as a range, e.g. 300-500 (overrides --target and --tolerance)",
    )
    add_target_options(g)
    add_crs(g)
    g.add_argument(
        "--random-state",
        metavar="N",
        type=int,
        default=0,
        help="seed: same input and seed, same plan (default: 0)",
    )
    add_code_arguments(p.add_argument_group("grid codes (统一编码)"))
    add_output_options(
        p,
        out="out",
        lang_help="language of the map and summary (default: en)",
        map_file="map.html",
        database=True,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridgeo",
        description="Draw community grids (社区网格) of a target number of households from streets and buildings.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print only the final summary and errors"
    )
    parser.add_argument("--debug", action="store_true", help="show debug logs and full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = add_command(
        sub,
        "partition",
        _run_partition,
        help="draw grids and write grids.gpkg, grids.geojson, summary.json and map.html",
        description="Draw grids of about --target households and write grids.gpkg (layers grids, buildings), grids.geojson, summary.json and map.html into --out.",
        epilog=_EPILOG,
    )
    _add_partition_args(p)
    d = sub.add_parser(
        "demo",
        help="partition the bundled real data (Helsinki, and Beijing Wangjing) and write the outputs",
        description="Partition the bundled Helsinki extract with households from the real HSY population grid, and the Beijing Wangjing extract with households estimated from footprints.",
    )
    d.add_argument(
        "--out", metavar="DIR", default="out/demo", help="output folder (default: out/demo)"
    )
    add_target_options(d, tolerance=False)
    d.set_defaults(run=_run_demo)
    _cli_coverage.add_parser(sub)
    _cli_map.add_parser(sub)
    _cli_rebalance.add_parser(sub)
    _cli_serve.add_parser(sub)
    return parser


def _bbox(text: str) -> tuple[float, float, float, float]:
    try:
        w, s, e, n = (float(v) for v in text.split(","))
    except ValueError:
        msg = f"--bbox must be four numbers west,south,east,north in degrees, got {text!r}"
        raise InputError(msg) from None
    return w, s, e, n


def _load_inputs(args: argparse.Namespace) -> dict:
    from .io import download_osm, read_layer, read_osm

    sources = [x for x in (args.osm, args.place, args.bbox, args.streets) if x]
    if len(sources) != 1:
        msg = "give exactly one input: --osm FILE, --place NAME, --bbox W,S,E,N, or --streets FILE (with optional --buildings FILE)"
        raise InputError(msg)
    if args.buildings and not args.streets:
        raise InputError("--buildings goes with --streets FILE (or use --osm FILE holding both)")
    kw: dict = {}
    if args.streets:
        kw["streets"] = read_layer(args.streets, layer=args.streets_layer, name="streets")
        kw["buildings"] = (
            read_layer(args.buildings, layer=args.buildings_layer, name="buildings")
            if args.buildings
            else None
        )
    else:
        if args.osm:
            layers = read_osm(args.osm)
        elif args.place:
            layers = download_osm(place=args.place)
        else:
            layers = download_osm(bbox=_bbox(args.bbox))
        kw["streets"] = layers.streets
        kw["buildings"] = layers.buildings if len(layers.buildings) else None
        if not args.no_barriers and len(layers.barriers):
            kw["barriers"] = layers.barriers
        if not args.no_dedicated and len(layers.landuse):
            kw["dedicated"] = layers.landuse
        if len(layers.pois):
            kw["pois"] = layers.pois
    if args.population:
        kw["population"] = read_layer(args.population, name="population grid")
    if args.boundaries:
        kw["boundaries"] = read_layer(args.boundaries, name="boundaries")
    if args.barriers:
        kw["barriers"] = read_layer(args.barriers, name="barriers")
    if args.dedicated:
        kw["dedicated"] = read_layer(args.dedicated, name="dedicated zones")
    return kw


def _run_partition(args: argparse.Namespace) -> int:
    from .households import HouseholdOptions
    from .io._pgconn import is_db_url, parse_db_url
    from .pipeline import partition
    from .publish import write_plan

    kw = _load_inputs(args)
    plan = partition(
        kw["streets"],
        kw.get("buildings"),
        target=args.target,
        tolerance=args.tolerance,
        households_column=args.households_column,
        population=kw.get("population"),
        population_column=args.population_column,
        total_households=args.total_households,
        boundaries=kw.get("boundaries"),
        boundary_id=args.boundary_id,
        boundary_households=args.boundary_households,
        crs=metric_crs(args.crs),
        random_state=args.random_state,
        codes=code_options(args),
        barriers=kw.get("barriers"),
        barrier_streets=frozenset(c.strip() for c in args.barrier_streets.split(",") if c.strip()),
        dedicated=kw.get("dedicated"),
        rural_column=args.rural_column,
        rural_cap=args.rural_cap,
        weight=args.weight,
        pois=kw.get("pois"),
        band=parse_range(args.band, "--band"),
        household_options=HouseholdOptions(
            persons_per_household=args.persons_per_household,
            floor_area_per_household=args.floor_area,
            default_levels=args.default_levels,
        ),
    )
    if is_db_url(args.out):
        tables = write_plan(plan, args.out, if_exists=args.if_exists)
        shown = f"{', '.join(tables)} in {parse_db_url(args.out).display}"
        _report(plan, {"tables": shown}, lang=args.lang)
        return 0
    paths = plan.to_files(args.out, map_html=not args.no_map, lang=args.lang)
    _report(plan, paths, lang=args.lang)
    return 0


def _report(plan, paths: dict, *, lang: str = "en") -> None:
    print(plan.describe(lang=lang))
    for key in ("gpkg", "geojson", "summary", "staffing", "map", "tables"):
        if key in paths:
            print(f"  {key:8s} {paths[key]}")


def _run_demo(args: argparse.Namespace) -> int:
    from . import datasets
    from .io import read_layer, read_osm
    from .pipeline import partition

    out = Path(args.out)
    print("Helsinki centre: OpenStreetMap buildings, households from the HSY 2020 population grid")
    layers = read_osm(datasets.get_path("helsinki"))
    population = read_layer(datasets.get_path("helsinki_population"), name="population grid")
    rules = {"barriers": layers.barriers, "dedicated": layers.landuse, "pois": layers.pois}
    plan = partition(
        layers.streets, layers.buildings, population=population, target=args.target, **rules
    )
    _report(plan, plan.to_files(out / "helsinki"))
    print()
    print(
        "北京望京 Beijing Wangjing: OpenStreetMap buildings, households estimated from footprints"
    )
    layers = read_osm(datasets.get_path("beijing_wangjing"))
    rules = {"barriers": layers.barriers, "dedicated": layers.landuse, "pois": layers.pois}
    plan = partition(layers.streets, layers.buildings, target=args.target, **rules)
    _report(plan, plan.to_files(out / "beijing_wangjing", lang="zh"), lang="zh")
    print()
    print(
        f"Open {out / 'helsinki' / 'map.html'} and {out / 'beijing_wangjing' / 'map.html'} in a browser."
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gridgeo`` command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    level = logging.DEBUG if args.debug else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr, force=True)
    if not args.debug:
        for noisy in ("pyogrio", "fiona", "urllib3", "osmnx"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.run(args)
    except GridgeoError as err:
        print(f"gridgeo: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gridgeo: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # an error nobody anticipated: one line, and how to see more
        if args.debug:
            raise
        print(
            f"gridgeo: internal error: {type(err).__name__}: {err} (run again with --debug for details, and please report it)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
