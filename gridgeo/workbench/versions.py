"""Saved versions of edited plans (方案版本), in SQLite.

Every save is a new version of a plan, holding a :meth:`Session.snapshot
<gridgeo.workbench.Session.snapshot>` (compressed JSON). A save names the version it
was made from: when another save has come first, it is refused with
:class:`VersionConflict` (HTTP 409) and nothing is overwritten. The store is one file,
``workbench.sqlite`` in the service's data directory, apart from the job store; with
``gridgeo serve --store postgresql://…`` it is that database
(:class:`~.pgversions.PostgresVersionStore`, plan layers as PostGIS geometry):
:func:`open_versions` chooses.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import GridgeoError, InputError

__all__ = ["VersionConflict", "VersionStore", "compare", "open_versions"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS plan_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    plan TEXT NOT NULL,
    parent INTEGER,
    created TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    grids INTEGER NOT NULL,
    households INTEGER NOT NULL,
    snapshot BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS plan_versions_plan ON plan_versions (plan, id);
"""


class VersionConflict(GridgeoError):
    """A save from a version that is no longer the latest (someone saved first)."""

    status = 409


class VersionStore:
    """Versions of plans in ``data_dir/workbench.sqlite``.

    Parameters
    ----------
    data_dir : path
        The service's data directory (created when missing).
    """

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / "workbench.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            yield db
        finally:
            db.close()

    def head(self, plan: str) -> int | None:
        """The latest version of ``plan``, None before the first save."""
        with self._db() as db:
            row = db.execute("SELECT MAX(id) FROM plan_versions WHERE plan = ?", (plan,)).fetchone()
        return row[0]

    def save(
        self, plan: str, snapshot: dict[str, Any], *, base: int | None, message: str = ""
    ) -> int:
        """Save ``snapshot`` as the version after ``base``; returns its id.

        Raises
        ------
        VersionConflict
            When ``base`` is not the latest version of ``plan`` (None: no version yet).
        """
        blob = zlib.compress(json.dumps(snapshot, ensure_ascii=False).encode("utf-8"))
        hh = int(np.sum(snapshot["households"]))
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")  # the check and the insert, one writer at a time
            try:
                head = db.execute(
                    "SELECT MAX(id) FROM plan_versions WHERE plan = ?", (plan,)
                ).fetchone()[0]
                if head != base:
                    msg = f"version {head} was saved after version {base}: open version {head} and make the edits again"
                    raise VersionConflict(msg)
                cur = db.execute(
                    "INSERT INTO plan_versions (plan, parent, created, message, grids, households, snapshot)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        plan,
                        base,
                        datetime.now(UTC).isoformat(timespec="seconds"),
                        message,
                        len(snapshot["grids"]),
                        hh,
                        blob,
                    ),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return int(cur.lastrowid)

    def list(self, plan: str) -> list[dict[str, Any]]:
        """The versions of ``plan``, oldest first: id, parent, created, message, grids,
        households."""
        with self._db() as db:
            rows = db.execute(
                "SELECT id, parent, created, message, grids, households FROM plan_versions"
                " WHERE plan = ? ORDER BY id",
                (plan,),
            ).fetchall()
        keys = ("id", "parent", "created", "message", "grids", "households")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def get(self, plan: str, version: int) -> dict[str, Any]:
        """The snapshot of ``version`` of ``plan``."""
        with self._db() as db:
            row = db.execute(
                "SELECT snapshot FROM plan_versions WHERE plan = ? AND id = ?", (plan, version)
            ).fetchone()
        if row is None:
            msg = f"no version {version} of this plan; list them with GET /api/versions"
            raise InputError(msg)
        return json.loads(zlib.decompress(row[0]).decode("utf-8"))


def open_versions(data_dir: str | Path, url: str | None = None) -> Any:
    """The version store: in PostgreSQL at ``url`` (``postgresql://…``, the service's
    ``--store``), else SQLite in ``data_dir``. Both have ``head``, ``save``, ``list`` and
    ``get``."""
    if url is None:
        return VersionStore(data_dir)
    from .pgversions import PostgresVersionStore

    return PostgresVersionStore(url)


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """What changed from snapshot ``a`` to ``b``: buildings and households that
    changed grid, grids added and removed, and per building index its grids."""
    ga = np.asarray(a["building_grid"], dtype=object)
    gb = np.asarray(b["building_grid"], dtype=object)
    if len(ga) != len(gb):
        msg = "the two versions are of different plans"
        raise InputError(msg)
    hh = np.asarray(b["households"], dtype=np.int64)
    moved = np.flatnonzero(ga != gb)
    ids_a = {g["grid_id"] for g in a["grids"]}
    ids_b = {g["grid_id"] for g in b["grids"]}
    return {
        "buildings_moved": len(moved),
        "households_moved": int(hh[moved].sum()),
        "grids_added": sorted(ids_b - ids_a),
        "grids_removed": sorted(ids_a - ids_b),
        "moved": [
            {"building": int(i), "from": str(ga[i]), "to": str(gb[i]), "households": int(hh[i])}
            for i in moved
        ],
    }
