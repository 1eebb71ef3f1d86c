"""Saved versions of edited plans in PostgreSQL/PostGIS, shared by several servers.

The same methods as :class:`~.versions.VersionStore` (``head``, ``save``, ``list``,
``get``), in the store's schema (see :mod:`gridgeo.service.pgdb`):

- ``plans``: one row per plan, its latest version (``head``);
- ``plan_versions``: one row per save: parent, time, message, counts, each building's
  grid and households (arrays), the snapshot's other fields (JSON);
- ``plan_version_grids``: the grids of each version, one row each, the polygon as a
  PostGIS ``geometry`` (SRID of the snapshot's ``srid``, else 0), GiST-indexed.

A save is one transaction that locks the plan's row, checks that the version it was
made from is still the latest, and writes the version and its grids: of two saves from
the same version, through any processes, exactly one succeeds; the other is refused
with :class:`~.versions.VersionConflict` and nothing is overwritten. A process killed
in the middle of a save leaves nothing of it (the transaction never commits).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np

from .._errors import InputError
from .versions import VersionConflict

__all__ = ["PostgresVersionStore"]

_GRID_KEYS = ("grid_id", "code", "community_id", "note", "locked", "edited", "wkb")
_BIG_KEYS = ("grids", "building_grid", "households")


class PostgresVersionStore:
    """Versions of plans in the PostgreSQL store at ``url``.

    Parameters
    ----------
    url : str
        ``postgresql://user@host/db[?schema=NAME]``: the store ``gridgeo serve --store``
        uses (it shares that process's connections).
    """

    def __init__(self, url: str) -> None:
        from ..service.pgdb import open_database  # the service's database, lazily

        self.db = open_database(url)

    def head(self, plan: str) -> int | None:
        """The latest version of ``plan``, None before the first save."""
        row = self.db.run(
            lambda c: c.execute("SELECT head FROM plans WHERE plan = %s", (plan,)).fetchone(),
            retry=True,
        )
        return None if row is None else row["head"]

    def save(
        self, plan: str, snapshot: dict[str, Any], *, base: int | None, message: str = ""
    ) -> int:
        """Save ``snapshot`` as the version after ``base``; returns its id.

        Raises
        ------
        VersionConflict
            When ``base`` is not the latest version of ``plan`` (None: no version yet).
        """
        grids = snapshot["grids"]
        hh = [int(h) for h in snapshot["households"]]
        extra = {k: v for k, v in snapshot.items() if k not in _BIG_KEYS}
        srid = int(snapshot.get("srid") or 0)
        rows = _grid_rows(grids, srid)

        def work(conn: Any) -> int:
            _lock_head(conn, plan, base)
            version = {"grids": len(grids), "households": hh, "srid": srid, "extra": extra}
            vid = _insert_version(conn, plan, base, message, snapshot["building_grid"], **version)
            _insert_grids(conn, vid, rows)
            conn.execute("UPDATE plans SET head = %s WHERE plan = %s", (vid, plan))
            return int(vid)

        return self.db.run(work)

    def list(self, plan: str) -> list[dict[str, Any]]:
        """The versions of ``plan``, oldest first: id, parent, created, message, grids,
        households."""
        rows = self.db.run(
            lambda c: c.execute(
                "SELECT id, parent, created, message, grids, households FROM plan_versions"
                " WHERE plan = %s ORDER BY id",
                (plan,),
            ).fetchall(),
            retry=True,
        )
        return [{**r, "households": int(r["households"])} for r in rows]

    def get(self, plan: str, version: int) -> dict[str, Any]:
        """The snapshot of ``version`` of ``plan``."""

        def work(conn: Any) -> tuple[Any, list[Any]]:
            row = conn.execute(
                "SELECT building_grid, building_households, extra FROM plan_versions"
                " WHERE plan = %s AND id = %s",
                (plan, version),
            ).fetchone()
            if row is None:
                return None, []
            grids = conn.execute(
                "SELECT grid_id, code, community_id, note, locked, edited, extra,"
                " ST_AsBinary(geom, 'NDR') AS wkb FROM plan_version_grids"
                " WHERE version = %s ORDER BY ord",
                (version,),
            ).fetchall()
            return row, grids

        row, grids = self.db.run(work, retry=True)
        if row is None:
            msg = f"no version {version} of this plan; list them with GET /api/versions"
            raise InputError(msg)
        snap = json.loads(row["extra"])
        snap["grids"] = [
            {
                "grid_id": g["grid_id"],
                "code": g["code"],
                "community_id": g["community_id"],
                "note": g["note"],
                "locked": g["locked"],
                "edited": g["edited"],
                "wkb": bytes(g["wkb"]).hex().upper() if g["wkb"] is not None else None,
                **json.loads(g["extra"]),
            }
            for g in grids
        ]
        snap["building_grid"] = list(row["building_grid"])
        snap["households"] = [int(h) for h in row["building_households"]]
        return snap


# --------------------------------------------------------------------------- saving


def _grid_rows(grids: list[dict[str, Any]], srid: int) -> list[tuple[Any, ...]]:
    """One ``plan_version_grids`` row per grid, without the version's id."""
    return [
        (
            k,
            str(g["grid_id"]),
            g.get("code"),
            g.get("community_id"),
            g.get("note"),
            bool(g.get("locked", False)),
            bool(g.get("edited", False)),
            json.dumps({x: v for x, v in g.items() if x not in _GRID_KEYS}, ensure_ascii=False),
            bytes.fromhex(g["wkb"]) if g.get("wkb") else None,
            srid,
        )
        for k, g in enumerate(grids)
    ]


def _lock_head(conn: Any, plan: str, base: int | None) -> None:
    """Lock the plan's row (made if new); :class:`VersionConflict` unless its head is ``base``."""
    conn.execute(
        "INSERT INTO plans (plan, head) VALUES (%s, NULL) ON CONFLICT (plan) DO NOTHING",
        (plan,),
    )
    row = conn.execute("SELECT head FROM plans WHERE plan = %s FOR UPDATE", (plan,)).fetchone()
    head = row["head"]
    if head != base:
        msg = f"version {head} was saved after version {base}: open version {head} and make the edits again"
        raise VersionConflict(msg)


def _insert_version(
    conn: Any,
    plan: str,
    base: int | None,
    message: str,
    building_grid: list[Any],
    *,
    grids: int,
    households: list[int],
    srid: int,
    extra: dict[str, Any],
) -> int:
    """The ``plan_versions`` row of the save, stamped now; its id."""
    return conn.execute(
        "INSERT INTO plan_versions (plan, parent, created, message, grids, households,"
        " srid, building_grid, building_households, extra)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            plan,
            base,
            datetime.now(UTC).isoformat(timespec="seconds"),
            message,
            grids,
            int(np.sum(households)),
            srid,
            [str(g) for g in building_grid],
            households,
            json.dumps(extra, ensure_ascii=False),
        ),
    ).fetchone()["id"]


def _insert_grids(conn: Any, vid: int, rows: list[tuple[Any, ...]]) -> None:
    """The ``plan_version_grids`` rows of version ``vid``."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO plan_version_grids (version, ord, grid_id, code, community_id,"
            " note, locked, edited, extra, geom) VALUES"
            " (%s, %s, %s, %s, %s, %s, %s, %s, %s, ST_GeomFromWKB(%s, %s::integer))",
            [(vid, *r) for r in rows],
        )
