"""The ``gridgeo`` command: a thin face over the library.

Every error gridgeo raises on purpose is printed as one line and exits with status 2;
anything else prints a one-line internal error (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .._errors import GridgeoError
from . import coverage as _coverage
from . import demo as _demo
from . import edit as _edit
from . import map as _map
from . import partition as _partition
from . import rebalance as _rebalance
from . import serve as _serve

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridgeo",
        description="Draw community grids (社区网格) of a target number of households from streets and buildings.",
        epilog=_partition.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print only the final summary and errors"
    )
    parser.add_argument("--debug", action="store_true", help="show debug logs and full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _partition.add_parser(sub)
    _demo.add_parser(sub)
    _coverage.add_parser(sub)
    _map.add_parser(sub)
    _rebalance.add_parser(sub)
    _serve.add_parser(sub)
    _edit.add_parser(sub)
    return parser


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
