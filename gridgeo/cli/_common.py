"""Pieces the ``gridgeo`` subcommands share: their parsers' common options and the
parsing and reading of what those options name.

Every error is a :class:`~gridgeo._errors.GridgeoError` that ``gridgeo.cli.main``
prints as one line.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._errors import InputError, ReadError

__all__ = [
    "add_code_arguments",
    "add_command",
    "add_crs",
    "add_file_option",
    "add_output_options",
    "add_plan_group",
    "add_target_options",
    "code_options",
    "layer_names",
    "metric_crs",
    "parse_range",
    "plan_source",
    "read_grids",
    "read_new_data",
]

_CRS_HELP = "metric CRS to compute in (default: CGCS2000 3° zone in China, UTM elsewhere)"


def add_command(
    subparsers: Any,
    name: str,
    run: Callable[[argparse.Namespace], int],
    *,
    help: str,
    description: str,
    epilog: str,
) -> argparse.ArgumentParser:
    """Add subcommand ``name`` (its epilog printed as written) with ``run=run`` in its
    defaults, so ``gridgeo.cli.main`` dispatches with ``args.run(args)``."""
    p = subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(run=run)
    return p


def add_file_option(group: Any, option: str, help: str, *, layer_help: str | None = None) -> None:
    """Add ``option`` (a GIS file) and ``option-layer`` (its layer) to ``group``."""
    group.add_argument(option, metavar="FILE", help=help)
    group.add_argument(f"{option}-layer", metavar="NAME", help=layer_help or f"layer of {option}")


def add_plan_group(p: argparse.ArgumentParser, option: str, help: str, *, layer_help: str) -> Any:
    """Add and return the group ``the plan``: required ``option`` (the grids' file, or a
    plan folder: read it with :func:`plan_source`), its layer option and ``--grid-id``."""
    g = p.add_argument_group("the plan")
    g.add_argument(
        option, metavar="FILE|DIR", required=True, help=f"{help}; or the plan folder gridgeo wrote"
    )
    g.add_argument(f"{option}-layer", metavar="NAME", help=layer_help)
    g.add_argument(
        "--grid-id", metavar="COL", help="grid id column (default: grid_id, else the row number)"
    )
    return g


def add_target_options(group: Any, *, tolerance: bool = True) -> None:
    """Add ``--target`` (default 300) and, with ``tolerance``, ``--tolerance`` (default 0.1)."""
    group.add_argument(
        "--target", metavar="N", type=float, default=300, help="households per grid (default: 300)"
    )
    if tolerance:
        group.add_argument(
            "--tolerance",
            metavar="F",
            type=float,
            default=0.1,
            help="accepted deviation from the target, as a fraction (default: 0.1 = ±10%%)",
        )


def add_crs(group: Any, *, help: str = _CRS_HELP) -> None:
    """Add ``--crs``; read it with :func:`metric_crs`."""
    group.add_argument("--crs", metavar="EPSG", help=help)


def metric_crs(text: str | None) -> int | str | None:
    """``--crs`` as given, an EPSG number as an int."""
    return int(text) if text is not None and str(text).isdigit() else text


def add_output_options(
    p: argparse.ArgumentParser,
    *,
    out: str,
    lang_help: str,
    map_file: str,
    database: bool = False,
) -> None:
    """Add the ``output`` group: ``--out DIR`` (default ``out``), ``--lang`` and ``--no-map``;
    with ``database``, ``--out`` may be a ``postgresql://…?schema=NAME`` URL and
    ``--if-exists`` is added (see :func:`gridgeo.write_plan`)."""
    o = p.add_argument_group("output")
    if database:
        o.add_argument(
            "--out",
            metavar="DIR|URL",
            default=out,
            help=f"output folder (default: {out}), or a schema to publish into: postgresql://user@host/db?schema=NAME",
        )
        o.add_argument(
            "--if-exists",
            choices=["fail", "replace"],
            default="fail",
            help="when the --out schema holds a plan already (default: fail)",
        )
    else:
        o.add_argument(
            "--out",
            metavar="DIR",
            type=_folder,
            default=out,
            help=f"output folder (default: {out})",
        )
    o.add_argument("--lang", choices=["en", "zh"], default="en", help=lang_help)
    o.add_argument("--no-map", action="store_true", help=f"do not write {map_file}")


def _folder(text: str) -> str:
    from ..io import is_db_url

    if is_db_url(text):
        msg = "this command writes a folder; publishing to a database is done by gridgeo partition --out URL"
        raise argparse.ArgumentTypeError(msg)
    return text


def parse_range(text: str | None, option: str) -> tuple[float, float] | None:
    """``LO-HI`` (an en dash allowed) of ``option`` as two numbers; None stays None."""
    if text is None:
        return None
    try:
        lo, hi = (float(v) for v in text.replace("–", "-").split("-"))
    except ValueError:
        msg = f"{option} must be two numbers LO-HI such as 300-500, got {text!r}"
        raise InputError(msg) from None
    return lo, hi


def read_grids(text: str, layer: str | None = None):
    """The grids of a plan named on the command line (a file, a plan folder or a
    database URL: see :func:`plan_source`)."""
    from ..io import read_layer

    path, layer = plan_source(text, layer)
    return read_layer(path, layer=layer, name="grids")


def layer_names(path: Path) -> list[str]:
    """The layers of GIS file ``path``."""
    import pyogrio

    try:
        return [str(row[0]) for row in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio raises several DataSourceError kinds
        msg = f"cannot read {path}: {exc}"
        raise ReadError(msg) from exc


def plan_source(text: str, layer: str | None = None) -> tuple[str, str | None]:
    """Where the grids of a plan named on the command line are: the file (or database
    URL) as given, or the ``grids.gpkg`` of a plan folder (what ``gridgeo partition
    --out DIR`` and ``gridgeo rebalance --out DIR`` write); and the layer to read:
    ``layer`` when given, else ``grids`` when the GeoPackage holds one.

    Every subcommand that takes a plan (``map``, ``rebalance --plan``, ``coverage
    --grids``) resolves it here, so each accepts the folder as well as its GeoPackage.
    """
    from ..io import is_db_url

    if is_db_url(text):
        return text, layer
    path = Path(text)
    if path.is_dir():
        gpkg = path / "grids.gpkg"
        if not gpkg.is_file():
            found = ", ".join(sorted(p.name for p in path.glob("*.gpkg"))) or "no GeoPackage"
            msg = (
                f"plan folder {path} holds no grids.gpkg (it holds {found}); give the folder "
                "`gridgeo partition --out DIR` wrote, or the grids file itself"
            )
            raise ReadError(msg)
        path = gpkg
    is_gpkg = path.suffix.lower() == ".gpkg" and path.is_file()
    if layer is None and is_gpkg and "grids" in layer_names(path):
        layer = "grids"
    return str(path), layer


def read_new_data(
    args: argparse.Namespace, *, pois: bool = False, keep_osm: bool = False
) -> dict[str, Any]:
    """Buildings and streets (and with ``pois``, points of interest) from ``--osm``,
    each replaced by its file option when given; a missing layer is absent or None.
    With ``keep_osm``, the extract's :class:`~gridgeo.OSMLayers` are under ``osm``."""
    from ..io import read_layer, read_osm

    kw: dict[str, Any] = {}
    if args.osm:
        layers = read_osm(args.osm)
        if keep_osm:
            kw["osm"] = layers
        kw["buildings"] = layers.buildings if len(layers.buildings) else None
        kw["streets"] = layers.streets
        if pois:
            kw["pois"] = layers.pois if len(layers.pois) else None
    if args.buildings:
        kw["buildings"] = read_layer(args.buildings, layer=args.buildings_layer, name="buildings")
    if args.streets:
        kw["streets"] = read_layer(args.streets, layer=args.streets_layer, name="streets")
    if pois and args.pois:
        kw["pois"] = read_layer(args.pois, layer=args.pois_layer, name="points of interest")
    return kw


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
