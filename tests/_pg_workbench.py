"""A workbench server whose versions live in a PostgreSQL store, for the two-process
tests: ``python tests/_pg_workbench.py PLAN_DIR STORE_URL PORT``; or
``python tests/_pg_workbench.py --save PLAN_DIR STORE_URL`` saves the plan once (a
process the tests kill in the middle of that save)."""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from gridgeo.workbench import Session
from gridgeo.workbench.api import Workbench, create_app
from gridgeo.workbench.versions import open_versions


def main(argv: list[str]) -> None:
    if argv[0] == "--save":
        session = Session.open(Path(argv[1]))
        store = open_versions("unused", argv[2])
        print("saving", flush=True)
        store.save("wangjing", session.snapshot(), base=store.head("wangjing"))
        print("saved", flush=True)
        return
    plan, url, port = argv
    bench = Workbench(Session.open(Path(plan)), open_versions("unused", url), plan="wangjing")
    uvicorn.run(create_app(bench), host="127.0.0.1", port=int(port), log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1:])
