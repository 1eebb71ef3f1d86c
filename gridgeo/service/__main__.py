"""``python -m gridgeo.service [--host H] [--port P] [--data-dir DIR] …``: as ``gridgeo serve``."""

from __future__ import annotations

import argparse
import logging
import sys

from .._errors import GridgeoError
from ..cli.serve import add_parser, run


def main(argv: list[str] | None = None) -> int:
    """Parse the ``serve`` options and run the service; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m gridgeo.service")
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    args = parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return run(args)
    except GridgeoError as err:
        print(f"gridgeo: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
