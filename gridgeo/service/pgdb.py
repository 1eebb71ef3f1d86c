"""The service's own PostgreSQL database: connections, transactions and its schema.

``gridgeo serve --store postgresql://user@host/db[?schema=NAME]`` keeps jobs, their
inputs and results (:mod:`.pgstore`) and the workbench's plan versions
(:mod:`gridgeo.workbench.pgversions`) in the schema ``NAME`` (default ``gridgeo``) of
that database. gridgeo creates the schema and its tables, and records their version in
``meta``: each start applies the migrations a store lacks (one transaction, under an
advisory lock, so that two processes starting together migrate once), and refuses a
store whose version is newer than this gridgeo knows.

:class:`Database` holds one connection per thread that uses it (the job runner's
thread, the request threads; a thread's connection closes with it) and runs each piece
of work in one transaction with :meth:`Database.run`. A lost connection (the server
restarted, the backend was terminated, the network broke) becomes
:class:`~.store.StoreUnavailable`, naming host and database and never the password; the
thread's next call connects again. Reads may be retried once on a fresh connection;
writes never are (their outcome is unknown): the job runner fails the jobs whose state
it could not record.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .._errors import DatabaseError, InputError
from ..io._pgconn import DbURL, check_name, open_connection, parse_db_url, require
from .store import StoreUnavailable

__all__ = ["SCHEMA_VERSION", "Database", "open_database"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The version of the store's tables this gridgeo writes.
SCHEMA_VERSION = 1
DEFAULT_SCHEMA = "gridgeo"

#: Migration to each version from the one before (tables in the store's schema).
MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE jobs (
    id text PRIMARY KEY,
    kind text NOT NULL,
    status text NOT NULL,
    progress double precision NOT NULL DEFAULT 0,
    stage text,
    created_at text NOT NULL,
    started_at text,
    finished_at text,
    params text NOT NULL,
    summary text,
    error_type text,
    error text,
    attempts integer NOT NULL DEFAULT 0,
    owner text,
    lease_until double precision
);
CREATE INDEX jobs_created ON jobs (created_at DESC, id);
CREATE INDEX jobs_status ON jobs (status, created_at, id);
CREATE INDEX jobs_started ON jobs (started_at);
CREATE TABLE job_inputs (
    job_id text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    path text NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (job_id, path)
);
CREATE TABLE results (
    job_id text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name text NOT NULL,
    file text NOT NULL,
    media_type text NOT NULL,
    bytes bigint NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (job_id, name)
);
CREATE TABLE plans (plan text PRIMARY KEY, head integer);
CREATE TABLE plan_versions (
    id serial PRIMARY KEY,
    plan text NOT NULL REFERENCES plans (plan),
    parent integer REFERENCES plan_versions (id),
    created text NOT NULL,
    message text NOT NULL DEFAULT '',
    grids integer NOT NULL,
    households bigint NOT NULL,
    srid integer NOT NULL DEFAULT 0,
    building_grid text[] NOT NULL,
    building_households bigint[] NOT NULL,
    extra text NOT NULL DEFAULT '{}'
);
CREATE INDEX plan_versions_plan ON plan_versions (plan, id);
CREATE TABLE plan_version_grids (
    version integer NOT NULL REFERENCES plan_versions (id) ON DELETE CASCADE,
    ord integer NOT NULL,
    grid_id text NOT NULL,
    code text,
    community_id text,
    note text,
    locked boolean NOT NULL DEFAULT false,
    edited boolean NOT NULL DEFAULT false,
    extra text NOT NULL DEFAULT '{}',
    geom geometry,
    PRIMARY KEY (version, ord)
);
CREATE INDEX plan_version_grids_geom ON plan_version_grids USING gist (geom);
""",
}


class Database:
    """A store's database: one connection per thread, and its migrated schema.

    Parameters
    ----------
    url : str
        ``postgresql://[user[:password]@]host[:port]/db[?schema=NAME][&libpq options]``.

    Raises
    ------
    DatabaseError
        The database cannot be reached (naming host and database), lacks PostGIS, or
        holds a newer schema than this gridgeo knows.
    InputError
        The URL names a table or a query, or an unusable schema name.
    """

    def __init__(self, url: str) -> None:
        require("psycopg")
        self.db: DbURL = parse_db_url(url)
        if self.db.table is not None or self.db.query is not None:
            msg = (
                f"--store takes a database and optionally ?schema=NAME, not a table or a "
                f"query: {self.db.display}"
            )
            raise InputError(msg)
        self.schema = check_name(self.db.schema or DEFAULT_SCHEMA, "schema")
        self._local = threading.local()
        self._search_path = [self.schema]
        self._postgis_schema: str | None = None
        self.run(self._migrate)

    @property
    def display(self) -> str:
        """Where the store is, without the password."""
        return self.db.display

    def where(self) -> str:
        """``database 'db' on host:port``."""
        return self.db.where()

    # ------------------------------------------------------------ connections

    def _new(self) -> Any:
        from psycopg import sql
        from psycopg.rows import dict_row

        conn = open_connection(
            self.db, application_name="gridgeo serve", autocommit=True, row_factory=dict_row
        )
        path = sql.SQL(", ").join(map(sql.Identifier, [*self._search_path, "pg_catalog"]))
        conn.execute(sql.SQL("SET search_path TO {}").format(path))
        return conn

    def _acquire(self) -> tuple[Any, bool]:
        """This thread's connection (made when missing or broken), and whether it was
        used before."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and not (conn.closed or conn.broken):
            return conn, True
        try:
            conn = self._new()
        except DatabaseError as exc:
            if isinstance(exc, StoreUnavailable):
                raise
            raise StoreUnavailable(str(exc)) from None
        self._local.conn = conn
        return conn, False

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close this thread's connection."""
        self._drop()

    def run(self, work: Callable[[Any], T], *, retry: bool = False) -> T:
        """``work(connection)`` in one transaction; its result.

        Parameters
        ----------
        work : callable
            Gets a psycopg connection (rows as dicts; the store's schema first on the
            search path); committed when it returns, rolled back when it raises.
        retry : bool, default False
            Run it once more on a fresh connection when the connection was lost (for
            reads, whose repetition is harmless).

        Raises
        ------
        StoreUnavailable
            The connection was lost or cannot be made.
        """
        import psycopg

        while True:
            conn, reused = self._acquire()
            try:
                with conn.transaction():
                    return work(conn)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if not (conn.broken or conn.closed):  # the server's answer (a deadlock …)
                    raise
                self._drop()
                if retry and reused:
                    retry = False
                    continue
                raise self.lost(exc) from None

    def lost(self, exc: BaseException) -> StoreUnavailable:
        """The error for a lost connection (password scrubbed)."""
        reason = self.db.scrub(" ".join(str(exc).split()) or type(exc).__name__)
        return StoreUnavailable(f"lost the connection to the store, {self.where()}: {reason}")

    # ------------------------------------------------------------ schema

    def _migrate(self, conn: Any) -> None:
        from psycopg import sql

        schema = sql.Identifier(self.schema)
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("gridgeo:" + self.schema,))
        if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)).fetchone():
            pass
        else:
            try:
                with conn.transaction():
                    conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
            except Exception as exc:
                raise self._refused(exc, f"create the schema {self.schema!r}") from None
        self._postgis_schema = self._postgis(conn)
        self._search_path = [self.schema, self._postgis_schema]
        conn.execute(
            sql.SQL("SET search_path TO {}, {}, pg_catalog").format(
                schema, sql.Identifier(self._postgis_schema)
            )
        )
        have = 0
        if conn.execute("SELECT to_regclass(%s) AS t", (f'"{self.schema}".meta',)).fetchone()["t"]:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            have = int(row["value"]) if row else 0
        if have > SCHEMA_VERSION:
            msg = (
                f"the store in schema {self.schema!r} of {self.where()} has schema version "
                f"{have}, newer than this gridgeo knows ({SCHEMA_VERSION}): a newer gridgeo "
                "wrote it; upgrade gridgeo (pip install -U 'gridgeo[postgis]'), or point "
                "--store at another schema (?schema=NAME)"
            )
            raise DatabaseError(msg)
        for version in range(have + 1, SCHEMA_VERSION + 1):
            try:
                with conn.transaction():
                    conn.execute(MIGRATIONS[version])
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(version),),
                    )
            except (DatabaseError, InputError):
                raise
            except Exception as exc:
                import psycopg

                if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
                    raise
                raise self._refused(exc, f"create the store's tables in {self.schema!r}") from None
            log.info("job store: schema %s of %s at version %d", self.schema, self.where(), version)

    def _postgis(self, conn: Any) -> str:
        """The schema of the PostGIS extension (created when missing, if allowed)."""
        row = conn.execute(
            "SELECT extnamespace::regnamespace::text AS s FROM pg_extension WHERE extname = 'postgis'"
        ).fetchone()
        if row is None:
            try:
                with conn.transaction():
                    conn.execute("CREATE EXTENSION postgis")
            except Exception as exc:
                msg = (
                    f"the store needs the PostGIS extension in {self.where()}: "
                    f"{self.db.scrub(' '.join(str(exc).split()))}; run CREATE EXTENSION postgis "
                    "there as a superuser (Debian: apt install postgresql-15-postgis-3)"
                )
                raise DatabaseError(msg) from None
            return self._postgis(conn)
        return row["s"].strip('"')

    def _refused(self, exc: BaseException, doing: str) -> DatabaseError:
        reason = self.db.scrub(" ".join(str(exc).split()))
        return DatabaseError(
            f"cannot {doing} in {self.where()}: {reason}; give the user CREATE on the "
            "database (or create the schema for it), or choose another with ?schema=NAME"
        )


_OPEN: dict[str, Database] = {}
_OPEN_LOCK = threading.Lock()


def open_database(url: str) -> Database:
    """The :class:`Database` of ``url``, one per process (the job store and the plan
    versions share its connections)."""
    with _OPEN_LOCK:
        db = _OPEN.get(url)
        if db is None:
            db = _OPEN[url] = Database(url)
        return db
