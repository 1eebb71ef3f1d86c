"""The job store: jobs and their results in SQLite under the data directory.

``DATA_DIR/jobs.sqlite`` holds one row per job (kind, status, progress, parameters,
summary, error) and one row per result file; the files themselves live under
``DATA_DIR/jobs/<id>/results/``. Results are written into a scratch folder and moved into
place before the job is marked ``succeeded``, so a job the store calls finished always
has its files. When the service starts, jobs still ``queued`` or ``running`` (the
previous process stopped before finishing them) are marked ``failed``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .security import JOB_ID, remove_tree, safe_child

__all__ = ["Job", "JobStore", "STATUSES"]

log = logging.getLogger(__name__)

STATUSES = ("queued", "running", "succeeded", "failed")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    stage TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    params TEXT NOT NULL,
    summary TEXT,
    error_type TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at);
CREATE TABLE IF NOT EXISTS results (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    file TEXT NOT NULL,
    media_type TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (job_id, name)
);
"""
INTERRUPTED = "the server stopped before the job finished; submit it again"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Job:
    """One row of the store."""

    id: str
    kind: str
    status: str
    progress: float
    stage: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    params: dict[str, Any]
    summary: dict[str, Any] | None
    error_type: str | None
    error: str | None
    results: dict[str, dict[str, Any]]


class JobStore:
    """Jobs and results in ``data_dir/jobs.sqlite``; files under ``data_dir/jobs/``.

    Thread-safe: every call opens its own connection; writes are serialised by a lock.

    Parameters
    ----------
    data_dir : Path
        Created when missing (readable by its owner only).
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.data_dir / "jobs").mkdir(exist_ok=True, mode=0o700)
        self.path = self.data_dir / "jobs.sqlite"
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA foreign_keys=ON")
            yield db
        finally:
            db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # ---------------------------------------------------------------- folders

    def job_dir(self, job_id: str) -> Path:
        """The folder of a job (checked id, inside the data directory)."""
        if not JOB_ID.match(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        return safe_child(self.data_dir, "jobs", job_id)

    def new_id(self) -> str:
        """A fresh job id; its folder is created."""
        job_id = uuid.uuid4().hex
        self.job_dir(job_id).mkdir(mode=0o700)
        return job_id

    # ---------------------------------------------------------------- writes

    def create(self, job_id: str, kind: str, params: dict[str, Any]) -> None:
        """Record a new job, ``queued``."""
        with self._write() as db:
            db.execute(
                "INSERT INTO jobs (id, kind, status, created_at, params, stage) VALUES (?, ?, 'queued', ?, ?, 'queued')",
                (job_id, kind, _now(), json.dumps(params)),
            )

    def start(self, job_id: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET status='running', started_at=?, stage='starting', progress=0.01 WHERE id=? AND status='queued'",
                (_now(), job_id),
            )

    def progress(self, job_id: str, fraction: float, stage: str) -> None:
        """Record progress (never backwards) and the current stage of a running job."""
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET progress=MAX(progress, ?), stage=? WHERE id=? AND status='running'",
                (min(max(float(fraction), 0.0), 0.99), stage[:200], job_id),
            )

    def succeed(
        self, job_id: str, summary: dict[str, Any], results: dict[str, tuple[str, str]]
    ) -> bool:
        """Mark a running job finished with its summary and result files.

        ``results`` maps a result name to (file under the job's folder, media type).
        Returns False (and records nothing) when the job is no longer running, e.g.
        a restarted service already marked it failed.
        """
        job_dir = self.job_dir(job_id)
        sizes = {
            name: safe_child(job_dir, file).stat().st_size for name, (file, _) in results.items()
        }
        with self._write() as db:
            cur = db.execute(
                "UPDATE jobs SET status='succeeded', progress=1, stage='done', finished_at=?, summary=? WHERE id=? AND status='running'",
                (_now(), json.dumps(summary, default=str), job_id),
            )
            if cur.rowcount == 0:
                return False
            for name, (file, media_type) in results.items():
                db.execute(
                    "INSERT OR REPLACE INTO results (job_id, name, file, media_type, bytes) VALUES (?, ?, ?, ?, ?)",
                    (job_id, name, file, media_type, sizes[name]),
                )
        return True

    def fail(self, job_id: str, error_type: str, message: str) -> bool:
        """Mark a queued or running job failed; False when it had already ended."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE jobs SET status='failed', stage='failed', finished_at=?, error_type=?, error=? WHERE id=? AND status IN ('queued', 'running')",
                (_now(), error_type, message[:4000], job_id),
            )
            return cur.rowcount > 0

    def recover(self) -> list[str]:
        """Mark jobs left ``queued`` or ``running`` by a previous process as failed.

        Returns their ids; their input folders are deleted.
        """
        with self._write() as db:
            rows = db.execute(
                "SELECT id FROM jobs WHERE status IN ('queued', 'running')"
            ).fetchall()
            ids = [r["id"] for r in rows]
            db.execute(
                "UPDATE jobs SET status='failed', stage='failed', finished_at=?, error_type='Interrupted', error=? WHERE status IN ('queued', 'running')",
                (_now(), INTERRUPTED),
            )
        for job_id in ids:
            remove_tree(self.job_dir(job_id) / "inputs")
            remove_tree(self.job_dir(job_id) / "scratch")
        if ids:
            log.warning("%d unfinished jobs of a previous run marked failed", len(ids))
        return ids

    def delete(self, job_id: str) -> bool:
        """Delete a finished job and its files; False when there is no such job."""
        with self._write() as db:
            cur = db.execute(
                "DELETE FROM jobs WHERE id=? AND status IN ('succeeded', 'failed')", (job_id,)
            )
            gone = cur.rowcount > 0
        if gone:
            remove_tree(self.job_dir(job_id))
        return gone

    # ---------------------------------------------------------------- reads

    def get(self, job_id: str) -> Job | None:
        if not JOB_ID.match(job_id):
            return None
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                return None
            results = db.execute(
                "SELECT name, file, media_type, bytes FROM results WHERE job_id=? ORDER BY name",
                (job_id,),
            ).fetchall()
        return _job(row, results)

    def list_jobs(
        self, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[Job]:
        """Jobs, newest first."""
        query = "SELECT * FROM jobs"
        args: list[Any] = []
        if status is not None:
            query += " WHERE status=?"
            args.append(status)
        query += " ORDER BY created_at DESC, id LIMIT ? OFFSET ?"
        args += [limit, offset]
        with self._connect() as db:
            rows = db.execute(query, args).fetchall()
            ids = [row["id"] for row in rows]
            marks = ",".join("?" * len(ids))
            results = db.execute(
                f"SELECT job_id, name, file, media_type, bytes FROM results WHERE job_id IN ({marks}) ORDER BY name",
                ids,
            ).fetchall()
        by_job: dict[str, list[sqlite3.Row]] = {}
        for r in results:
            by_job.setdefault(r["job_id"], []).append(r)
        return [_job(row, by_job.get(row["id"], [])) for row in rows]

    def counts(self) -> dict[str, int]:
        """Number of jobs by status."""
        with self._connect() as db:
            rows = db.execute("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status").fetchall()
        out = dict.fromkeys(STATUSES, 0)
        out.update({r["status"]: r["n"] for r in rows})
        return out


def _job(row: sqlite3.Row, results: list[sqlite3.Row]) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        status=row["status"],
        progress=float(row["progress"]),
        stage=row["stage"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        params=json.loads(row["params"]),
        summary=json.loads(row["summary"]) if row["summary"] else None,
        error_type=row["error_type"],
        error=row["error"],
        results={
            r["name"]: {"file": r["file"], "media_type": r["media_type"], "bytes": r["bytes"]}
            for r in results
        },
    )
