"""The job store in PostgreSQL: one queue for several ``gridgeo serve`` processes.

``gridgeo serve --store postgresql://…`` keeps the jobs, their inputs and their results
in the database (tables ``jobs``, ``job_inputs``, ``results`` of the store's schema, see
:mod:`.pgdb`), so that any process sharing the store lists every job, runs any queued
one and serves any result, whatever machine it runs on and whatever its ``--data-dir``:

- a submission stores the inputs in the same transaction as the job (and removes the
  local copy);
- a claim is ``UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)``: runners never
  wait for each other and never take the same job; the claiming process writes the
  job's inputs into its own job folder before the claim commits;
- a job's result files are written into the database in the same transaction that marks
  it ``succeeded``; a download brings them into the local job folder (a cache) first.

Local job folders hold copies only; deleting a job deletes its rows and this process's
folder (another process's cached copy goes with that process's data directory).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from .pgdb import Database, open_database
from .security import remove_tree, safe_child
from .store import (
    INTERRUPTED,
    Job,
    JobStore,
    QueueFull,
    QueueInfo,
    ResultFiles,
    job_from_row,
    jobs_from_rows,
    now_iso,
    queue_info_from,
    split_by_attempts,
)

__all__ = ["PostgresJobStore"]

log = logging.getLogger(__name__)

_COLUMNS = (
    "id, kind, status, progress, stage, created_at, started_at, finished_at, params, "
    "summary, error_type, error, attempts, owner"
)


class PostgresJobStore(JobStore):
    """Jobs, inputs and results in PostgreSQL.

    Parameters
    ----------
    url : str
        The store's database, ``postgresql://user@host/db[?schema=NAME]``.
    data_dir : Path
        This process's job folders (inputs of the jobs it runs, cached results).
    """

    _log = log

    def __init__(self, url: str, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.db: Database = open_database(url)

    @property
    def display(self) -> str:
        """Where the store is, without the password."""
        return f"{self.db.display} (schema {self.db.schema})"

    # ---------------------------------------------------------------- writes

    def create(
        self, job_id: str, kind: str, params: dict[str, Any], *, max_queue: int | None = None
    ) -> None:
        job_dir = self.job_dir(job_id)
        files = sorted(p for p in (job_dir / "inputs").rglob("*") if p.is_file())

        def work(conn: Any) -> None:
            if max_queue is not None:
                # the count and the insert, one submission at a time
                key = f"gridgeo:submit:{self.db.schema}"
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))
                (waiting,) = (
                    conn.execute(
                        "SELECT count(*) AS n FROM jobs WHERE status IN ('queued', 'running')"
                    )
                    .fetchone()
                    .values()
                )
                if waiting >= max_queue:
                    raise QueueFull
            conn.execute(
                "INSERT INTO jobs (id, kind, status, created_at, params, stage) "
                "VALUES (%s, %s, 'queued', %s, %s, 'queued')",
                (job_id, kind, now_iso(), json.dumps(params)),
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO job_inputs (job_id, path, data) VALUES (%s, %s, %s)",
                    [(job_id, p.relative_to(job_dir).as_posix(), p.read_bytes()) for p in files],
                )

        self.db.run(work)
        # the claim writes them back, wherever the job runs: none are left behind here
        remove_tree(job_dir / "inputs")
        with contextlib.suppress(OSError):
            job_dir.rmdir()

    def claim(self, owner: str, *, lease: float) -> Job | None:
        def work(conn: Any) -> Job | None:
            row = conn.execute(
                "UPDATE jobs SET status='running', started_at=%s, stage='starting', "
                "progress=0.01, attempts=attempts+1, owner=%s, lease_until=%s "
                "WHERE id = (SELECT id FROM jobs WHERE status='queued' "
                "ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                f"RETURNING {_COLUMNS}",
                (now_iso(), owner, time.time() + lease),
            ).fetchone()
            if row is None:
                return None
            inputs = conn.execute(
                "SELECT path, data FROM job_inputs WHERE job_id = %s", (row["id"],)
            ).fetchall()
            self._materialize(row["id"], [(r["path"], r["data"]) for r in inputs])
            return job_from_row(row, [])

        return self.db.run(work)

    def _materialize(self, job_id: str, files: list[tuple[str, bytes]]) -> None:
        """Write a job's stored files into its local folder (kept when already there)."""
        job_dir = self.job_dir(job_id)
        job_dir.mkdir(exist_ok=True, mode=0o700)
        for rel, data in files:
            path = safe_child(job_dir, rel)
            if path.is_file() and path.stat().st_size == len(data):
                continue
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            part = path.with_name(f".{path.name}.{os.getpid()}.part")
            part.write_bytes(data)
            os.replace(part, path)

    def _extend_lease(self, owner: str, job_ids: list[str], until: float) -> None:
        self.db.run(
            lambda conn: conn.execute(
                "UPDATE jobs SET lease_until=%s WHERE status='running' AND owner=%s "
                "AND id = ANY(%s)",
                (until, owner, job_ids),
            )
        )

    def _record_progress(
        self, job_id: str, fraction: float, stage: str, *, owner: str | None
    ) -> None:
        self.db.run(
            lambda conn: conn.execute(
                "UPDATE jobs SET progress=GREATEST(progress, %s), stage=%s WHERE id=%s "
                "AND status='running' AND (%s::text IS NULL OR owner=%s)",
                (fraction, stage, job_id, owner, owner),
            )
        )

    def _record_success(
        self, job_id: str, summary: str, files: ResultFiles, *, owner: str | None
    ) -> bool:
        data = {
            name: (file, media, path.read_bytes()) for name, (file, media, path) in files.items()
        }

        def work(conn: Any) -> bool:
            cur = conn.execute(
                "UPDATE jobs SET status='succeeded', progress=1, stage='done', finished_at=%s, "
                "summary=%s, owner=NULL, lease_until=NULL WHERE id=%s AND status='running' "
                "AND (%s::text IS NULL OR owner=%s)",
                (now_iso(), summary, job_id, owner, owner),
            )
            if cur.rowcount == 0:
                return False
            with conn.cursor() as c:
                c.executemany(
                    "INSERT INTO results (job_id, name, file, media_type, bytes, data) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (job_id, name) DO UPDATE "
                    "SET file=excluded.file, media_type=excluded.media_type, "
                    "bytes=excluded.bytes, data=excluded.data",
                    [(job_id, n, f, m, len(d), d) for n, (f, m, d) in data.items()],
                )
            return True

        return self.db.run(work)

    def _record_failure(
        self, job_id: str, error_type: str, message: str, *, owner: str | None
    ) -> bool:
        cur = self.db.run(
            lambda conn: conn.execute(
                "UPDATE jobs SET status='failed', stage='failed', finished_at=%s, "
                "error_type=%s, error=%s, owner=NULL, lease_until=NULL WHERE id=%s "
                "AND status IN ('queued', 'running') AND (%s::text IS NULL OR owner=%s)",
                (now_iso(), error_type, message, job_id, owner, owner),
            )
        )
        return cur.rowcount > 0

    def release(self, job_id: str, owner: str) -> bool:
        cur = self.db.run(
            lambda conn: conn.execute(
                "UPDATE jobs SET status='queued', stage='queued', progress=0, started_at=NULL, "
                "attempts=GREATEST(attempts-1, 0), owner=NULL, lease_until=NULL "
                "WHERE id=%s AND status='running' AND owner=%s",
                (job_id, owner),
            )
        )
        return cur.rowcount > 0

    def running_owners(self) -> set[str]:
        rows = self.db.run(
            lambda conn: conn.execute(
                "SELECT DISTINCT owner FROM jobs WHERE status='running' AND owner IS NOT NULL"
            ).fetchall(),
            retry=True,
        )
        return {r["owner"] for r in rows}

    def _take_back(self, dead_owners: list[str], max_attempts: int) -> tuple[list[str], list[str]]:
        def work(conn: Any) -> tuple[list[str], list[str]]:
            rows = conn.execute(
                "SELECT id, attempts FROM jobs WHERE status='running' AND "
                "(lease_until IS NULL OR lease_until < %s OR owner = ANY(%s)) "
                "FOR UPDATE SKIP LOCKED",
                (time.time(), dead_owners),
            ).fetchall()
            again, failed = split_by_attempts(rows, max_attempts)
            conn.execute(
                "UPDATE jobs SET status='queued', stage='queued (its server stopped; run "
                "again)', progress=0, owner=NULL, lease_until=NULL WHERE id = ANY(%s)",
                (again,),
            )
            conn.execute(
                "UPDATE jobs SET status='failed', stage='failed', finished_at=%s, "
                "error_type='Interrupted', error=%s, owner=NULL, lease_until=NULL "
                "WHERE id = ANY(%s)",
                (now_iso(), INTERRUPTED, failed),
            )
            conn.execute("DELETE FROM job_inputs WHERE job_id = ANY(%s)", (failed,))
            return again, failed

        return self.db.run(work)

    def drop_inputs(self, job_id: str) -> None:
        self._drop_local_inputs(job_id)
        self.db.run(lambda conn: conn.execute("DELETE FROM job_inputs WHERE job_id=%s", (job_id,)))

    def _delete_finished(self, job_id: str) -> bool:
        cur = self.db.run(
            lambda conn: conn.execute(
                "DELETE FROM jobs WHERE id=%s AND status IN ('succeeded', 'failed')", (job_id,)
            )
        )
        return cur.rowcount > 0

    # ---------------------------------------------------------------- reads

    def result_path(self, job_id: str, info: dict[str, Any]) -> Path:
        path = safe_child(self.job_dir(job_id), info["file"])
        if path.is_file() and path.stat().st_size == info["bytes"]:
            return path
        row = self.db.run(
            lambda conn: conn.execute(
                "SELECT data FROM results WHERE job_id=%s AND file=%s", (job_id, info["file"])
            ).fetchone(),
            retry=True,
        )
        if row is not None:
            self._materialize(job_id, [(info["file"], row["data"])])
        return path

    def _read_job(self, job_id: str) -> Job | None:
        def work(conn: Any) -> Job | None:
            row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id=%s", (job_id,)).fetchone()
            if row is None:
                return None
            results = conn.execute(
                "SELECT name, file, media_type, bytes FROM results WHERE job_id=%s ORDER BY name",
                (job_id,),
            ).fetchall()
            return job_from_row(row, results)

        return self.db.run(work, retry=True)

    def list_jobs(
        self, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[Job]:
        def work(conn: Any) -> list[Job]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE (%s::text IS NULL OR status=%s) "
                "ORDER BY created_at DESC, id LIMIT %s OFFSET %s",
                (status, status, limit, offset),
            ).fetchall()
            results = conn.execute(
                "SELECT job_id, name, file, media_type, bytes FROM results "
                "WHERE job_id = ANY(%s) ORDER BY name",
                ([r["id"] for r in rows],),
            ).fetchall()
            return jobs_from_rows(rows, results)

        return self.db.run(work, retry=True)

    def queue_info(self) -> QueueInfo:
        def work(conn: Any) -> QueueInfo:
            rows = conn.execute("SELECT status, count(*) AS n FROM jobs GROUP BY status").fetchall()
            oldest = conn.execute(
                "SELECT min(created_at) AS t FROM jobs WHERE status='queued'"
            ).fetchone()["t"]
            last = conn.execute("SELECT max(started_at) AS t FROM jobs").fetchone()["t"]
            return queue_info_from(rows, oldest, last)

        return self.db.run(work, retry=True)
