"""The ``gridgeo partition`` subcommand: draw grids and write the plan's files.

:func:`add_parser` adds the subcommand to the ``gridgeo`` parser and :func:`run` runs
it; the planning rules' flags come from :class:`gridgeo.rules.Rules`
(:func:`gridgeo.cli._rules.add_rule_arguments`).
"""

from __future__ import annotations

import argparse
import functools
from typing import Any

from .._errors import InputError
from ._common import (
    add_code_arguments,
    add_command,
    add_output_options,
    code_options,
    read_grids,
)
from ._rules import add_rule_arguments, rules_from_args

__all__ = ["EPILOG", "add_parser", "report", "run"]

EPILOG = """examples:
  gridgeo partition --osm gridgeo/data/helsinki.osm.pbf --population gridgeo/data/helsinki_population_2020.gpkg --out out/helsinki
  gridgeo partition --streets province.parquet --population pop.gpkg --scheduler tcp://10.0.0.5:8786 --out out/
  gridgeo partition --streets streets.gpkg --buildings buildings.gpkg --households-column hh --target 300 --out out/
  gridgeo partition --streets streets.parquet --total-households 12000 --out out/
  gridgeo demo --out out/demo
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``partition`` subcommand to ``subparsers`` (``run`` in its defaults)."""
    p = add_command(
        subparsers,
        "partition",
        run,
        help="draw grids and write grids.gpkg, grids.geojson, summary.json and map.html",
        description="Draw grids of about --target households and write grids.gpkg (layers grids, buildings), grids.geojson, summary.json and map.html into --out.",
        epilog=EPILOG,
    )
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
    groups = add_rule_arguments(p)
    add_layer_arguments(groups)
    groups["grids"].add_argument(
        "--locked-grids",
        metavar="FILE",
        help="grids of an earlier plan to keep as they are (those named by --lock or "
        "--lock-column, else all); the rest is drawn anew around them",
    )
    groups["grids"].add_argument(
        "--random-state",
        metavar="N",
        type=int,
        default=0,
        help="seed: same input and seed, same plan (default: 0)",
    )
    add_code_arguments(p.add_argument_group("grid codes (统一编码)"))
    add_execution_arguments(p)
    add_output_options(
        p,
        out="out",
        lang_help="language of the map and summary (default: en)",
        map_file="map.html",
        database=True,
    )
    return p


def add_execution_arguments(p: argparse.ArgumentParser) -> None:
    """Where the plan is drawn (not planning rules): ``--scheduler``, ``--workers``,
    ``--tile-streets`` (every stage per tile on Dask: :func:`gridgeo.distributed.partition_tiles`)."""
    g = p.add_argument_group(
        "execution on Dask (every stage per tile; needs pip install 'gridgeo[dask]')"
    )
    g.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on the Dask cluster of this scheduler, e.g. tcp://10.0.0.5:8786",
    )
    g.add_argument(
        "--workers",
        metavar="N",
        type=int,
        help="run on a local Dask cluster of N worker processes",
    )
    g.add_argument(
        "--tile-streets",
        metavar="N",
        type=int,
        help="most street segments per tile (default: 25000); with --scheduler or --workers",
    )


def _execution(args: argparse.Namespace) -> dict[str, Any] | None:
    """The keywords of :func:`gridgeo.distributed.partition_tiles` from ``--scheduler`` /
    ``--workers``, or None to draw in this process."""
    scheduler, workers = getattr(args, "scheduler", None), getattr(args, "workers", None)
    tile = getattr(args, "tile_streets", None)
    if scheduler and workers is not None:
        msg = (
            "give --scheduler ADDRESS (an existing cluster) or --workers N (a local one), not both"
        )
        raise InputError(msg)
    if not scheduler and workers is None:
        if tile is not None:
            raise InputError("--tile-streets goes with --scheduler ADDRESS or --workers N")
        return None
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be 1 or more, got {workers}")
    kw: dict[str, Any] = {"scheduler": scheduler or "local", "n_workers": workers or 1}
    if tile is not None:
        kw["tile_streets"] = tile
    return kw


def add_layer_arguments(groups: dict[str, Any]) -> None:
    """The layers the rules read, each beside its rules: ``--population``,
    ``--boundaries``, ``--barriers`` / ``--no-barriers``, ``--dedicated`` /
    ``--no-dedicated``, ``--pois`` (shared by ``partition`` and ``rebalance``)."""
    groups["households"].add_argument(
        "--population",
        metavar="GRID_FILE",
        help="population grid (people per cell) spread over buildings",
    )
    groups["communities"].add_argument(
        "--boundaries", metavar="FILE", help="community boundaries: grids never cross them"
    )
    r = groups["rules"]
    r.add_argument(
        "--barriers",
        metavar="FILE",
        help="hard barriers no grid crosses: railways, rivers, water (lines or polygons)",
    )
    r.add_argument(
        "--no-barriers", action="store_true", help="ignore railways and water from the OSM extract"
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
    groups["households"].add_argument(
        "--landuse",
        metavar="FILE",
        help="land-use polygons (value: industrial, retail, residential …) that classify buildings; with --osm, the extract's",
    )
    r.add_argument(
        "--pois",
        metavar="FILE",
        help="points of interest (shops) counted per building as 'shops' for --weight",
    )


def read_rule_layers(args: argparse.Namespace, layers: Any = None) -> dict[str, Any]:
    """The rules' layers named by :func:`add_layer_arguments`; with ``layers`` (an
    OSM extract's), its barriers, land use and points of interest unless switched off
    or replaced by a file."""
    from ..io import read_layer

    kw: dict[str, Any] = {}
    if layers is not None:
        if not args.no_barriers and len(layers.barriers):
            kw["barriers"] = layers.barriers
        if not args.no_dedicated and len(layers.landuse):
            kw["dedicated"] = layers.landuse
        if len(layers.pois):
            kw["pois"] = layers.pois
        if len(layers.landuse):
            kw["landuse"] = layers.landuse
    for option, name in (
        ("population", "population grid"),
        ("boundaries", "boundaries"),
        ("barriers", "barriers"),
        ("dedicated", "dedicated zones"),
        ("pois", "points of interest"),
        ("landuse", "land use"),
    ):
        if getattr(args, option):
            kw[option] = read_layer(getattr(args, option), name=name)
    if getattr(args, "locked_grids", None):
        kw["locked_grids"] = read_grids(args.locked_grids)
    return kw


def _bbox(text: str) -> tuple[float, float, float, float]:
    try:
        w, s, e, n = (float(v) for v in text.split(","))
    except ValueError:
        msg = f"--bbox must be four numbers west,south,east,north in degrees, got {text!r}"
        raise InputError(msg) from None
    return w, s, e, n


def _load_inputs(args: argparse.Namespace) -> dict[str, Any]:
    from ..io import download_osm, read_layer, read_osm

    sources = [x for x in (args.osm, args.place, args.bbox, args.streets) if x]
    if len(sources) != 1:
        msg = "give exactly one input: --osm FILE, --place NAME, --bbox W,S,E,N, or --streets FILE (with optional --buildings FILE)"
        raise InputError(msg)
    if args.buildings and not args.streets:
        raise InputError("--buildings goes with --streets FILE (or use --osm FILE holding both)")
    if args.streets:
        streets = read_layer(args.streets, layer=args.streets_layer, name="streets")
        buildings = (
            read_layer(args.buildings, layer=args.buildings_layer, name="buildings")
            if args.buildings
            else None
        )
        return {"streets": streets, "buildings": buildings, **read_rule_layers(args)}
    if args.osm:
        layers = read_osm(args.osm)
    elif args.place:
        layers = download_osm(place=args.place)
    else:
        layers = download_osm(bbox=_bbox(args.bbox))
    return {
        "streets": layers.streets,
        "buildings": layers.buildings if len(layers.buildings) else None,
        **read_rule_layers(args, layers),
    }


def run(args: argparse.Namespace) -> int:
    """Run ``gridgeo partition``: draw, write the files, print a summary; returns 0."""
    from ..io import is_db_url, parse_db_url
    from ..pipeline import partition
    from ..publish import write_plan

    rules = rules_from_args(args)
    execution = _execution(args)
    draw = partition
    if execution is not None:  # every stage per tile on Dask
        from .. import distributed

        if execution["scheduler"] != "local":  # fail before reading the inputs
            distributed.check_scheduler(execution["scheduler"])
        draw = functools.partial(distributed.partition_tiles, **execution)
    kw = _load_inputs(args)
    plan = draw(
        kw.pop("streets"),
        kw.pop("buildings"),
        **kw,
        rules=rules,
        random_state=args.random_state,
        codes=code_options(args),
    )
    if is_db_url(args.out):
        tables = write_plan(plan, args.out, if_exists=args.if_exists)
        shown = f"{', '.join(tables)} in {parse_db_url(args.out).display}"
        report(plan, {"tables": shown}, lang=args.lang)
        return 0
    paths = plan.to_files(args.out, map_html=not args.no_map, lang=args.lang)
    report(plan, paths, lang=args.lang)
    return 0


def report(plan, paths: dict, *, lang: str = "en") -> None:
    """Print the plan's summary in words and where its files are."""
    print(plan.describe(lang=lang))
    for key in ("gpkg", "geojson", "summary", "staffing", "map", "tables"):
        if key in paths:
            print(f"  {key:8s} {paths[key]}")
