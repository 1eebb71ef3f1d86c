"""A throwaway PostgreSQL 15 + PostGIS 3 server for the database tests (no mock).

``postgres`` is a session fixture: it installs Debian's ``postgresql-15-postgis-3``
when missing (failing loudly where that is impossible, never skipping), creates a
cluster with ``initdb`` in a temporary folder (as the ``postgres`` user when the tests
run as root, as CI does), starts it on a free port of 127.0.0.1 with password login
over TCP, and stops and removes it at the end. ``tests/conftest.py`` imports it, so a
test asks for it by the name ``postgres``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from _render_data import ensure_debian

BIN = Path("/usr/lib/postgresql/15/bin")
POSTGIS = Path("/usr/share/postgresql/15/extension/postgis.control")
USER = "gis"
#: A password with characters that must be escaped in a URL and must never be shown.
PASSWORD = "Pw:s3cr@t/x%"  # noqa: S105 (a test cluster's)
DATABASE = "city"


@dataclass
class Server:
    """A running test cluster."""

    port: int
    socket_dir: Path

    def url(self, params: str = "", *, password: bool = True, database: str = DATABASE) -> str:
        """``postgresql://gis[:password]@127.0.0.1:PORT/city`` plus ``params``."""
        secret = f":{quote(PASSWORD, safe='')}" if password else ""
        return f"postgresql://{USER}{secret}@127.0.0.1:{self.port}/{database}{params}"

    def admin(self, sql: str, *, database: str = DATABASE) -> str:
        """Run ``sql`` as the superuser over the local socket; return psql's output."""
        return _psql(self, sql, database)


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def _run(cmd: list[str], what: str) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        pytest.fail(f"{what} failed (exit {result.returncode}): {result.stderr or result.stdout}")
    return result.stdout


def _psql(server: Server, sql: str, database: str) -> str:
    cmd = [
        str(BIN / "psql"),
        "-X",
        "-q",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        str(server.socket_dir),
        "-p",
        str(server.port),
        "-U",
        "postgres",
        "-d",
        database,
        "-c",
        sql,
    ]
    return _run(_as_postgres(cmd), f"psql {sql[:60]!r}").strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session", name="postgres")
def postgres_fixture() -> Iterator[Server]:
    """A PostgreSQL 15 + PostGIS 3 cluster on 127.0.0.1, database ``city`` owned by
    ``gis`` (password :data:`PASSWORD`) with the postgis extension."""
    ensure_debian(
        ["postgresql-15-postgis-3", "postgresql-common"],
        lambda: (BIN / "initdb").exists() and POSTGIS.exists(),
        "PostgreSQL 15 with PostGIS 3 for the database tests",
    )
    root = Path(tempfile.mkdtemp(prefix="gridgeo-pg-"))
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")  # created by Debian's postgresql-common
        os.chown(root, pg.pw_uid, pg.pw_gid)
    data = root / "data"
    initdb = [str(BIN / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8"]
    initdb += ["--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256"]
    _run(_as_postgres(initdb), "initdb")
    server = Server(_free_port(), root)
    options = f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    options += " -c full_page_writes=off -c synchronous_commit=off"
    start = [str(BIN / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o", options]
    _run(_as_postgres([*start, "start"]), "pg_ctl start")
    try:
        server.admin(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'", database="postgres")
        server.admin(f"CREATE DATABASE {DATABASE} OWNER {USER}", database="postgres")
        server.admin("CREATE EXTENSION postgis")
        yield server
    finally:
        with contextlib.suppress(Exception):
            stop = [str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
            subprocess.run(_as_postgres(stop), capture_output=True, check=False, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
