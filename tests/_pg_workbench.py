"""Saves a plan once into a PostgreSQL version store, for the test that kills a process
in the middle of a save: ``python tests/_pg_workbench.py --save PLAN_DIR STORE_URL``."""

from __future__ import annotations

import sys
from pathlib import Path

from gridgeo.workbench import Session
from gridgeo.workbench.versions import open_versions


def main(argv: list[str]) -> None:
    assert argv[0] == "--save", "usage: _pg_workbench.py --save PLAN_DIR STORE_URL"
    session = Session.open(Path(argv[1]))
    store = open_versions("unused", argv[2])
    print("saving", flush=True)
    store.save("wangjing", session.snapshot(), base=store.head("wangjing"))
    print("saved", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
