"""Database URLs and connections: how gridgeo names a PostgreSQL/PostGIS layer or schema.

One spelling for every input and output, a libpq connection URI with gridgeo's own
parameters added::

    postgresql://[user[:password]@][host][:port]/dbname?table=[schema.]name
    postgresql://[user[:password]@][host][:port]/dbname?query=SELECT …
    postgresql://[user[:password]@][host][:port]/dbname?schema=name        (outputs)

gridgeo's parameters are ``table``, ``query``, ``geometry`` (the geometry column, when a
layer has several) and ``schema``; every other parameter (``sslmode``, ``service``,
``connect_timeout`` …) goes to libpq. ``query`` comes last and runs to the end of the
URL: written with spaces it is taken as it stands (``%`` and ``&`` included); without
spaces it is percent-decoded (as a program that URL-encodes it writes it).

Credentials come from the URL, ``PGPASSWORD``, ``~/.pgpass`` or a service file
(``?service=NAME``, ``PGSERVICEFILE``): libpq reads them. The password is never part of a
message or a log line: :attr:`DbURL.display` is the URL without it, and every error text
taken from the server or libpq goes through :meth:`DbURL.scrub`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from .._errors import DatabaseError, InputError

__all__ = ["DbURL", "connect", "is_db_url", "open_connection", "parse_db_url", "require"]

log = logging.getLogger(__name__)

_SCHEMES = ("postgresql://", "postgres://")
_OWN = frozenset({"table", "query", "geometry", "schema"})
_QUERY = re.compile(r"(?:^|&)query=")
#: What to install for database URLs.
INSTALL = "pip install 'gridgeo[postgis]'"


def is_db_url(obj: object) -> bool:
    """Whether ``obj`` is a PostgreSQL URL (``postgresql://…`` or ``postgres://…``)."""
    return isinstance(obj, str) and obj.lstrip().lower().startswith(_SCHEMES)


def require(*modules: str) -> None:
    """Raise :class:`InputError` naming the install command unless ``modules`` import."""
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            msg = (
                f"PostgreSQL/PostGIS layers need the optional dependencies ({module} is not "
                f"installed): install them with {INSTALL}"
            )
            raise InputError(msg) from None


@dataclass(frozen=True, repr=False)
class DbURL:
    """A parsed database URL.

    Attributes
    ----------
    conninfo : str
        The libpq URI without gridgeo's parameters; may hold the password, so it is
        never shown (``repr`` hides it).
    table : tuple of (str or None, str), optional
        ``(schema, name)`` of ``?table=``.
    query : str, optional
        ``?query=``.
    geometry : str, optional
        ``?geometry=``: the geometry column to use.
    schema : str, optional
        ``?schema=``: where a plan is published.
    display : str
        The URL as given, without the password: safe for messages and logs.
    """

    conninfo: str
    table: tuple[str | None, str] | None
    query: str | None
    geometry: str | None
    schema: str | None
    display: str
    _secrets: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"DbURL({self.display!r})"

    def scrub(self, text: str) -> str:
        """``text`` with every password of this URL replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def where(self) -> str:
        """``database 'db' on host:port`` (or the service), as far as the URL tells."""
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        try:
            info = {k: str(v) for k, v in conninfo_to_dict(self.conninfo).items()}
        except psycopg.Error:  # a URL libpq cannot parse: what the environment says
            info = {}
        service = info.get("service") or os.environ.get("PGSERVICE")
        host = info.get("host") or os.environ.get("PGHOST") or "localhost (local socket)"
        port = info.get("port") or os.environ.get("PGPORT") or "5432"
        db = info.get("dbname") or os.environ.get("PGDATABASE")
        db = db or info.get("user") or os.environ.get("PGUSER") or "(default)"
        text = f"database {db!r} on {host}:{port}"
        return f"{text} (service {service!r})" if service else text


def check_name(text: str, what: str) -> str:
    """A schema, table or column name given by a user, refused when unsafe to quote.

    Names are always passed to the server quoted as identifiers; a name holding a double
    quote, a control character, or longer than PostgreSQL's 63 bytes is refused.
    """
    if not text or len(text.encode()) > 63 or any(ch == '"' or ord(ch) < 32 for ch in text):
        shown = text if len(text) <= 80 else text[:79] + "…"
        msg = (
            f"invalid {what} name {shown!r}: names must be 1 to 63 bytes without double "
            "quotes or control characters; rename it, or read it with ?query=SELECT …"
        )
        raise InputError(msg)
    return text


def split_table(text: str) -> tuple[str | None, str]:
    """``schema.name`` or ``name`` as ``(schema or None, name)``, each checked."""
    parts = text.split(".")
    if len(parts) > 2:
        msg = (
            f"table {text!r} has more than one dot: give table=SCHEMA.NAME, or read a name "
            "holding dots with ?query=SELECT * FROM …"
        )
        raise InputError(msg)
    if len(parts) == 1:
        return None, check_name(parts[0], "table")
    return check_name(parts[0], "schema"), check_name(parts[1], "table")


def parse_db_url(url: str) -> DbURL:
    """Split a database URL into the libpq part and gridgeo's parameters.

    Raises
    ------
    InputError
        A parameter is given twice, is empty, or a name is unsafe (see
        :func:`check_name`); ``table`` and ``query`` are given together.
    """
    url = url.strip()
    base, _, params = url.partition("?")
    sql = None
    m = _QUERY.search(params)
    if m:
        sql = params[m.end() :]
        params = params[: m.start()]
        sql = sql if re.search(r"\s", sql) else unquote(sql)
        sql = sql.strip().rstrip(";").strip() or None
        if sql is None:
            raise InputError("?query= is empty: give the SQL, e.g. ?query=SELECT * FROM roads")
    own: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for item in filter(None, params.split("&")):
        key, _, value = item.partition("=")
        key, value = unquote(key), unquote(value)
        if key in own or key in dict(rest):
            msg = f"database URL parameter {key!r} is given twice; keep one"
            raise InputError(msg)
        (own.__setitem__(key, value) if key in _OWN else rest.append((key, value)))
    for key, value in own.items():
        if not value:
            msg = f"database URL parameter {key}= is empty; give a value or drop it"
            raise InputError(msg)
    table = split_table(own["table"]) if "table" in own else None
    if table is not None and sql is not None:
        raise InputError("give either ?table= or ?query= in a database URL, not both")
    schema = check_name(own["schema"], "schema") if "schema" in own else None
    geometry = check_name(own["geometry"], "geometry column") if "geometry" in own else None
    split = urlsplit(base)
    secrets = [split.password] if split.password else []
    secrets += [v for k, v in rest if k == "password" and v]
    conninfo = base + ("?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in rest) if rest else "")
    netloc = split.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    shown = f"{split.scheme}://{user + '@' if user else ''}{netloc[2]}{split.path}"
    shown_params = [f"{k}={v}" for k, v in rest if k != "password"]
    shown_params += [f"{k}={own[k]}" for k in ("table", "schema", "geometry") if k in own]
    if sql is not None:
        shown_params.append(f"query={sql}")
    display = shown + ("?" + "&".join(shown_params) if shown_params else "")
    return DbURL(conninfo, table, sql, geometry, schema, display, tuple(secrets))


def open_connection(db: DbURL, *, application_name: str = "gridgeo", **kwargs: Any) -> Any:
    """A new psycopg connection to ``db`` (``kwargs`` go to :func:`psycopg.connect`).

    Raises
    ------
    DatabaseError
        The server cannot be reached or refuses the login: the message names the host
        and database, never the password.
    """
    require("psycopg")
    import psycopg

    if "application_name=" not in db.conninfo:  # the URL's own wins
        kwargs["application_name"] = application_name
    if "connect_timeout" not in db.conninfo and "PGCONNECT_TIMEOUT" not in os.environ:
        kwargs.setdefault("connect_timeout", 10)
    try:
        conn = psycopg.connect(db.conninfo, **kwargs)
    except psycopg.Error as exc:
        reason = db.scrub(" ".join(str(exc).split()) or type(exc).__name__)
        msg = (
            f"cannot connect to PostgreSQL {db.where()}: {reason}; check that the server "
            "runs and accepts connections, the host, port and database name, and the "
            "credentials (in the URL, PGPASSWORD, ~/.pgpass or a service file)"
        )
        raise DatabaseError(msg) from None
    log.debug("connected to %s", db.display)
    return conn


@contextmanager
def connect(db: DbURL, *, read_only: bool) -> Iterator[Any]:
    """A psycopg connection to ``db`` (one transaction: committed when the block ends
    without error, rolled back otherwise).

    Raises
    ------
    DatabaseError
        The server cannot be reached or refuses the login: the message names the host
        and database, never the password.
    """
    conn = open_connection(db)
    conn.read_only = read_only
    try:
        with conn:  # commits on success, rolls back on error, then closes
            yield conn
    finally:
        conn.close()


def server_error(db: DbURL, exc: BaseException, doing: str, hint: str) -> DatabaseError:
    """A :class:`DatabaseError` for ``exc`` raised by the server while ``doing``."""
    diag = getattr(exc, "diag", None) or getattr(getattr(exc, "orig", None), "diag", None)
    text = getattr(diag, "message_primary", None) or str(getattr(exc, "orig", exc))
    detail = getattr(diag, "message_detail", None)
    text = " ".join(f"{text} ({detail})".split() if detail else str(text).split())
    return DatabaseError(db.scrub(f"cannot {doing} {db.display}: {text}; {hint}"))
