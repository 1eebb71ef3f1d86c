"""The job store: the queue of record, behind a small interface.

:class:`JobStore` is what the service needs from a store: record a job, *claim* the
oldest queued one (one transaction, so that several runners — threads, processes or
servers sharing the store — never take the same job), record progress and outcome,
take back jobs whose runner died, and read jobs for the API. :class:`SQLiteJobStore`
implements it on ``DATA_DIR/jobs.sqlite``; a PostgreSQL store implements the same
methods (a claim there is ``UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)``).
What does not depend on the database (checking ids, clamping progress, shortening
messages, the job folders, what a reclaim logs) is done once in :class:`JobStore`, which
leaves each store its SQL in small hooks (``_record_progress``, ``_take_back`` …).

Whatever the database, a job's files live under ``DATA_DIR/jobs/<id>/``: its stored
inputs under ``inputs/``, its results under ``results/`` (written into a scratch folder
and moved into place before the job is marked ``succeeded``, so a job the store calls
finished always has its files).

A running job is *leased* by its runner (``owner``, renewed every few seconds). A job
whose runner is gone — the lease ran out, or the runner's process on this host is dead —
goes back to the queue once; the second time it fails (``Interrupted``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from .._errors import DatabaseError
from .security import JOB_ID, remove_tree, safe_child

__all__ = [
    "Job",
    "JobStore",
    "QueueFull",
    "QueueInfo",
    "SQLiteJobStore",
    "STATUSES",
    "StoreUnavailable",
    "open_store",
]

log = logging.getLogger(__name__)

STATUSES = ("queued", "running", "succeeded", "failed")
#: Times a job is started at most: a job running when its runner died runs once more.
MAX_ATTEMPTS = 2
INTERRUPTED = (
    "the server stopped twice while this job ran; it was not run a third time: submit it "
    "again, or split its area if it is very large"
)


#: A job's result files as a store records them: result name → (file under the job's
#: folder, media type, its local path).
ResultFiles = dict[str, tuple[str, str, Path]]


class QueueFull(Exception):
    """More jobs are waiting or running than the service accepts."""


class StoreUnavailable(DatabaseError):
    """The store's database cannot be reached (the connection was lost, the server is
    down); the message names host and database, never the password. The next call
    connects again."""


def now_iso() -> str:
    """The current UTC time as the store writes it (ISO 8601, milliseconds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def age_seconds(iso: str | None) -> float | None:
    """Seconds since an ISO time written by the store (None stays None)."""
    if iso is None:
        return None
    return max(0.0, (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds())


@dataclass
class Job:
    """One job as the store holds it."""

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
    attempts: int = 0
    owner: str | None = None


@dataclass(frozen=True)
class QueueInfo:
    """The state of the queue, for ``/health``."""

    counts: dict[str, int]
    oldest_queued_at: str | None
    last_claim_at: str | None


class JobStore(ABC):
    """Jobs and their results: the interface every store implements.

    Writes that depend on a job's state are conditional (``WHERE status = …``) and say
    whether they happened, so that a late or duplicate writer never revives a job. Job
    files are handled here, the same for every database.

    Parameters
    ----------
    data_dir : Path
        Where job folders live (``data_dir/jobs/<id>``); created when missing (readable
        by its owner only).
    """

    #: Where the store logs (each store its own module's logger).
    _log: ClassVar[logging.Logger] = log

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.data_dir / "jobs").mkdir(exist_ok=True, mode=0o700)

    # ------------------------------------------------------------ files (all stores)

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

    def result_path(self, job_id: str, info: dict[str, Any]) -> Path:
        """The local file of a result (``info`` from :attr:`Job.results`): a store that
        keeps results elsewhere brings it here first."""
        return safe_child(self.job_dir(job_id), info["file"])

    def drop_inputs(self, job_id: str) -> None:
        """Delete a finished job's inputs and scratch files (its results stay)."""
        self._drop_local_inputs(job_id)

    def _drop_local_inputs(self, job_id: str) -> None:
        """Delete the inputs and scratch files in the job's local folder."""
        job_dir = self.job_dir(job_id)
        remove_tree(job_dir / "inputs")
        remove_tree(job_dir / "scratch")

    # ------------------------------------------------------------ the queue

    @abstractmethod
    def create(
        self, job_id: str, kind: str, params: dict[str, Any], *, max_queue: int | None = None
    ) -> None:
        """Record a new job, ``queued``.

        Raises :class:`QueueFull` (and records nothing) when ``max_queue`` jobs are
        already queued or running.
        """

    @abstractmethod
    def claim(self, owner: str, *, lease: float) -> Job | None:
        """Take the oldest queued job for ``owner``, in one transaction; None when none.

        The job becomes ``running``, its ``attempts`` go up by one, and ``owner`` holds
        it for ``lease`` seconds (see :meth:`renew`).
        """

    def renew(self, owner: str, job_ids: Collection[str], *, lease: float) -> None:
        """Extend ``owner``'s lease on its running jobs."""
        if job_ids:
            self._extend_lease(owner, list(job_ids), time.time() + lease)

    @abstractmethod
    def _extend_lease(self, owner: str, job_ids: list[str], until: float) -> None:
        """Set the lease of ``owner``'s running jobs among ``job_ids`` to end at ``until``
        (seconds since the epoch)."""

    def progress(
        self, job_id: str, fraction: float, stage: str, *, owner: str | None = None
    ) -> None:
        """Record progress (never backwards) and the current stage of a running job
        (held by ``owner``, when given)."""
        fraction = min(max(float(fraction), 0.0), 0.99)
        self._record_progress(job_id, fraction, stage[:200], owner=owner)

    @abstractmethod
    def _record_progress(
        self, job_id: str, fraction: float, stage: str, *, owner: str | None
    ) -> None:
        """Raise a running job's progress to ``fraction`` (0 to 0.99, never lowered) and
        set its stage, when it runs (for ``owner``, when given)."""

    def succeed(
        self,
        job_id: str,
        summary: dict[str, Any],
        results: dict[str, tuple[str, str]],
        *,
        owner: str | None = None,
    ) -> bool:
        """Mark a running job (held by ``owner``, when given) finished with its summary
        and result files.

        ``results`` maps a result name to (file under the job's folder, media type).
        Returns False (and records nothing) when the job is no longer running, or no
        longer ``owner``'s: a runner whose lease ran out cannot overwrite another's run.
        """
        job_dir = self.job_dir(job_id)
        files = {
            name: (file, media_type, safe_child(job_dir, file))
            for name, (file, media_type) in results.items()
        }
        return self._record_success(job_id, json.dumps(summary, default=str), files, owner=owner)

    @abstractmethod
    def _record_success(
        self, job_id: str, summary: str, files: ResultFiles, *, owner: str | None
    ) -> bool:
        """Mark a running job (for ``owner``, when given) ``succeeded`` with its summary
        (JSON) and result files, in one transaction; False when it did not run (for
        ``owner``)."""

    def fail(self, job_id: str, error_type: str, message: str, *, owner: str | None = None) -> bool:
        """Mark a queued or running job (held by ``owner``, when given) failed; False when
        it had already ended or is not ``owner``'s."""
        return self._record_failure(job_id, error_type, message[:4000], owner=owner)

    @abstractmethod
    def _record_failure(
        self, job_id: str, error_type: str, message: str, *, owner: str | None
    ) -> bool:
        """Mark a queued or running job (for ``owner``, when given) ``failed``; False when
        it had ended (or is not ``owner``'s)."""

    @abstractmethod
    def release(self, job_id: str, owner: str) -> bool:
        """Put ``owner``'s running job back in the queue, this attempt not counted
        (the server is stopping in order); False when it was not running for ``owner``."""

    @abstractmethod
    def running_owners(self) -> set[str]:
        """The owners holding running jobs."""

    def reclaim(
        self, dead_owners: Collection[str] = (), *, max_attempts: int = MAX_ATTEMPTS
    ) -> tuple[list[str], list[str]]:
        """Take back running jobs whose lease ran out or whose owner is in ``dead_owners``.

        Those started fewer than ``max_attempts`` times are queued again; the others
        fail (``Interrupted``). Returns (requeued ids, failed ids).
        """
        again, failed = self._take_back(list(dead_owners), max_attempts)
        for job_id in failed:
            self._drop_local_inputs(job_id)
        if again or failed:
            self._log.warning(
                "jobs of a stopped runner: %d queued again, %d failed", len(again), len(failed)
            )
        return again, failed

    @abstractmethod
    def _take_back(self, dead_owners: list[str], max_attempts: int) -> tuple[list[str], list[str]]:
        """In one transaction, queue again (see :func:`split_by_attempts`) or fail
        (``Interrupted``, :data:`INTERRUPTED`) the running jobs whose lease ran out or
        whose owner is in ``dead_owners`` (a store holding inputs deletes those of the
        failed ones; their local folders are cleared here). Returns (requeued ids, failed
        ids)."""

    def delete(self, job_id: str) -> bool:
        """Delete a finished job and its files; False when there is no such job."""
        gone = self._delete_finished(job_id)
        if gone:
            remove_tree(self.job_dir(job_id))
        return gone

    @abstractmethod
    def _delete_finished(self, job_id: str) -> bool:
        """Delete the rows of a ``succeeded`` or ``failed`` job; False when there was none."""

    # ------------------------------------------------------------ reads

    def get(self, job_id: str) -> Job | None:
        """One job, or None."""
        if not JOB_ID.match(job_id):
            return None
        return self._read_job(job_id)

    @abstractmethod
    def _read_job(self, job_id: str) -> Job | None:
        """The job of a well-formed id, with its results, or None."""

    @abstractmethod
    def list_jobs(
        self, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[Job]:
        """Jobs, newest first."""

    @abstractmethod
    def queue_info(self) -> QueueInfo:
        """Jobs by status, when the oldest queued job was submitted, when one was last
        claimed."""

    def counts(self) -> dict[str, int]:
        """Number of jobs by status."""
        return self.queue_info().counts


def open_store(data_dir: Path, url: str | None = None) -> JobStore:
    """The job store: PostgreSQL at ``url`` (``postgresql://…``, see
    :mod:`gridgeo.service.pgstore`), else SQLite in ``data_dir/jobs.sqlite``.

    Job folders (inputs while a job waits or runs, a cache of results) are under
    ``data_dir`` either way.
    """
    if url is None:
        return SQLiteJobStore(data_dir)
    from .pgstore import PostgresJobStore

    return PostgresJobStore(url, data_dir)


# ---------------------------------------------------------------------------- SQLite

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
# columns added since the first version (a data directory from then still opens)
_ADDED = {"attempts": "INTEGER NOT NULL DEFAULT 0", "owner": "TEXT", "lease_until": "REAL"}
_INDEXES = """
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created_at);
CREATE INDEX IF NOT EXISTS jobs_started ON jobs (started_at);
"""


class SQLiteJobStore(JobStore):
    """The store in ``data_dir/jobs.sqlite`` (WAL mode).

    Thread- and process-safe: every call opens its own connection, and every write is
    one ``BEGIN IMMEDIATE`` transaction (SQLite's write lock, across processes too).
    """

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.path = self.data_dir / "jobs.sqlite"
        self._lock = threading.Lock()
        with self._lock, self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            have = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
            for column, decl in _ADDED.items():
                if column not in have:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {decl}")
            db.executescript(_INDEXES)

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

    # ---------------------------------------------------------------- writes

    def create(
        self, job_id: str, kind: str, params: dict[str, Any], *, max_queue: int | None = None
    ) -> None:
        with self._write() as db:
            if max_queue is not None:
                (waiting,) = db.execute(
                    "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')"
                ).fetchone()
                if waiting >= max_queue:
                    raise QueueFull
            db.execute(
                "INSERT INTO jobs (id, kind, status, created_at, params, stage) VALUES (?, ?, 'queued', ?, ?, 'queued')",
                (job_id, kind, now_iso(), json.dumps(params)),
            )

    def claim(self, owner: str, *, lease: float) -> Job | None:
        with self._write() as db:
            row = db.execute(
                "UPDATE jobs SET status='running', started_at=?, stage='starting', progress=0.01, attempts=attempts+1, owner=?, lease_until=? "
                "WHERE id = (SELECT id FROM jobs WHERE status='queued' ORDER BY created_at, id LIMIT 1) "
                "RETURNING *",
                (now_iso(), owner, time.time() + lease),
            ).fetchone()
        return None if row is None else job_from_row(row, [])

    def _extend_lease(self, owner: str, job_ids: list[str], until: float) -> None:
        with self._write() as db:
            db.execute(
                f"UPDATE jobs SET lease_until=? WHERE status='running' AND owner=? AND id IN ({','.join('?' * len(job_ids))})",
                (until, owner, *job_ids),
            )

    def _record_progress(
        self, job_id: str, fraction: float, stage: str, *, owner: str | None
    ) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET progress=MAX(progress, ?), stage=? WHERE id=? AND status='running' AND (? IS NULL OR owner=?)",
                (fraction, stage, job_id, owner, owner),
            )

    def _record_success(
        self, job_id: str, summary: str, files: ResultFiles, *, owner: str | None
    ) -> bool:
        sizes = {name: path.stat().st_size for name, (_, _, path) in files.items()}
        with self._write() as db:
            cur = db.execute(
                "UPDATE jobs SET status='succeeded', progress=1, stage='done', finished_at=?, summary=?, owner=NULL, lease_until=NULL WHERE id=? AND status='running' AND (? IS NULL OR owner=?)",
                (now_iso(), summary, job_id, owner, owner),
            )
            if cur.rowcount == 0:
                return False
            for name, (file, media_type, _) in files.items():
                db.execute(
                    "INSERT OR REPLACE INTO results (job_id, name, file, media_type, bytes) VALUES (?, ?, ?, ?, ?)",
                    (job_id, name, file, media_type, sizes[name]),
                )
        return True

    def _record_failure(
        self, job_id: str, error_type: str, message: str, *, owner: str | None
    ) -> bool:
        with self._write() as db:
            cur = db.execute(
                "UPDATE jobs SET status='failed', stage='failed', finished_at=?, error_type=?, error=?, owner=NULL, lease_until=NULL WHERE id=? AND status IN ('queued', 'running') AND (? IS NULL OR owner=?)",
                (now_iso(), error_type, message, job_id, owner, owner),
            )
            return cur.rowcount > 0

    def release(self, job_id: str, owner: str) -> bool:
        with self._write() as db:
            cur = db.execute(
                "UPDATE jobs SET status='queued', stage='queued', progress=0, started_at=NULL, attempts=MAX(attempts-1, 0), owner=NULL, lease_until=NULL WHERE id=? AND status='running' AND owner=?",
                (job_id, owner),
            )
            return cur.rowcount > 0

    def running_owners(self) -> set[str]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT DISTINCT owner FROM jobs WHERE status='running' AND owner IS NOT NULL"
            ).fetchall()
        return {r["owner"] for r in rows}

    def _take_back(self, dead_owners: list[str], max_attempts: int) -> tuple[list[str], list[str]]:
        stale = "status='running' AND (lease_until IS NULL OR lease_until < ?"
        if dead_owners:
            stale += f" OR owner IN ({','.join('?' * len(dead_owners))})"
        stale += ")"
        args = (time.time(), *dead_owners)
        with self._write() as db:
            rows = db.execute(f"SELECT id, attempts FROM jobs WHERE {stale}", args).fetchall()
            again, failed = split_by_attempts(rows, max_attempts)
            for job_id in again:
                db.execute(
                    "UPDATE jobs SET status='queued', stage='queued (its server stopped; run again)', progress=0, owner=NULL, lease_until=NULL WHERE id=?",
                    (job_id,),
                )
            for job_id in failed:
                db.execute(
                    "UPDATE jobs SET status='failed', stage='failed', finished_at=?, error_type='Interrupted', error=?, owner=NULL, lease_until=NULL WHERE id=?",
                    (now_iso(), INTERRUPTED, job_id),
                )
        return again, failed

    def _delete_finished(self, job_id: str) -> bool:
        with self._write() as db:
            cur = db.execute(
                "DELETE FROM jobs WHERE id=? AND status IN ('succeeded', 'failed')", (job_id,)
            )
            return cur.rowcount > 0

    # ---------------------------------------------------------------- reads

    def _read_job(self, job_id: str) -> Job | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                return None
            results = db.execute(
                "SELECT name, file, media_type, bytes FROM results WHERE job_id=? ORDER BY name",
                (job_id,),
            ).fetchall()
        return job_from_row(row, results)

    def list_jobs(
        self, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[Job]:
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
        return jobs_from_rows(rows, results)

    def queue_info(self) -> QueueInfo:
        with self._connect() as db:
            rows = db.execute("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status").fetchall()
            (oldest,) = db.execute(
                "SELECT MIN(created_at) FROM jobs WHERE status='queued'"
            ).fetchone()
            (last,) = db.execute("SELECT MAX(started_at) FROM jobs").fetchone()
        return queue_info_from(rows, oldest, last)


# ---------------------------------------------------------------------------- rows (all stores)


def split_by_attempts(rows: Iterable[Any], max_attempts: int) -> tuple[list[str], list[str]]:
    """The ids of rows (``id``, ``attempts``) of jobs taken back from a stopped runner:
    (those to queue again, started fewer than ``max_attempts`` times; those to fail)."""
    rows = list(rows)
    again = [r["id"] for r in rows if r["attempts"] < max_attempts]
    failed = [r["id"] for r in rows if r["attempts"] >= max_attempts]
    return again, failed


def jobs_from_rows(rows: list[Any], results: Iterable[Any]) -> list[Job]:
    """:class:`Job` objects from rows of ``jobs`` and the rows of ``results`` of all of
    them (each naming its ``job_id``), in the order of ``rows``."""
    by_job: dict[str, list[Any]] = {}
    for r in results:
        by_job.setdefault(r["job_id"], []).append(r)
    return [job_from_row(row, by_job.get(row["id"], [])) for row in rows]


def queue_info_from(rows: Iterable[Any], oldest: str | None, last: str | None) -> QueueInfo:
    """:class:`QueueInfo` from rows (``status``, ``n``: jobs by status), when the oldest
    queued job was created and when a job was last started."""
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({r["status"]: int(r["n"]) for r in rows})
    return QueueInfo(counts=counts, oldest_queued_at=oldest, last_claim_at=last)


def job_from_row(row: Any, results: list[Any]) -> Job:
    """A :class:`Job` from a row of ``jobs`` and its rows of ``results`` (SQLite or
    PostgreSQL rows: anything indexed by column name)."""
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
        attempts=int(row["attempts"]),
        owner=row["owner"],
    )
