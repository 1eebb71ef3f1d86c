"""Reading layers from PostgreSQL/PostGIS and publishing tables into a schema.

Database URLs are spelled as described in :mod:`gridgeo.io._pgconn`. These functions
need the optional dependencies (``pip install 'gridgeo[postgis]'``: SQLAlchemy 2,
GeoAlchemy2, psycopg 3); without them a database URL raises an
:class:`~gridgeo._errors.InputError` naming that command.

Reading (:func:`read_db_layer`) runs in a read-only transaction. The CRS of a layer is
the SRID of its geometries (looked up in ``spatial_ref_sys``); SRID 0 gives a layer
without CRS, which :func:`gridgeo.read_layer` refuses as it refuses such a file.

Publishing (:func:`write_db_tables`) is one transaction: the new tables are written
under temporary names in the target schema, then the old tables are dropped and the new
ones renamed, so readers see the previous tables until the commit and a failed or
interrupted write leaves them as they were.
"""

from __future__ import annotations

import logging
import secrets
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._errors import InputError
from ._pgconn import (
    DbURL,
    check_name,
    connect,
    parse_db_url,
    require,
    server_error,
    split_table,
)

__all__ = ["read_db_layer", "write_db_tables"]

log = logging.getLogger(__name__)

_INTS = frozenset({"int2", "int4", "int8", "oid"})
_FLOATS = frozenset({"float4", "float8", "numeric"})
_TIMES = frozenset({"date", "timestamp", "timestamptz"})


# ---------------------------------------------------------------------------- reading


def read_db_layer(
    url: str, *, layer: str | None = None, name: str = "layer"
) -> pd.DataFrame | gpd.GeoDataFrame:
    """Read a table, a view or a query's result (not validated: see
    :func:`gridgeo.read_layer`).

    Parameters
    ----------
    url : str
        ``postgresql://…?table=[schema.]name`` or ``…?query=SELECT …``.
    layer : str, optional
        ``[schema.]name`` of the table when the URL names none; with ``?schema=NAME``
        (a published plan) the table of that schema.
    name : str, default "layer"
        How the layer is called in messages.

    Returns
    -------
    GeoDataFrame or DataFrame
        A GeoDataFrame when the result has a geometry (or geography) column, its active
        geometry last and named ``geometry`` as files read by pyogrio; text columns as text,
        integers as ``int64`` (``float64`` when some are null), numbers as ``float64``.

    Raises
    ------
    InputError
        The URL names no table or query, names a missing table, or the result has
        several geometry columns and no ``?geometry=``, or several SRIDs.
    DatabaseError
        The database cannot be reached or the query fails.
    """
    db = parse_db_url(url)
    if db.schema is not None and layer is None:
        msg = (
            f"{db.display}: schema= names where a plan is published; read a layer with "
            "?table=SCHEMA.TABLE or ?query=SELECT …"
        )
        raise InputError(msg)
    table = db.table
    if layer is not None:
        if table is not None or db.query is not None:
            msg = (
                f"{db.display} names its table or query already; drop the layer option ({layer!r})"
            )
            raise InputError(msg)
        table = (db.schema, check_name(layer, "table")) if db.schema else split_table(layer)
    if table is None and db.query is None:
        msg = (
            f"{db.display} names no {name} layer: add ?table=SCHEMA.TABLE or "
            "?query=SELECT … (last in the URL)"
        )
        raise InputError(msg)
    require("psycopg")
    from psycopg import Error, sql

    with connect(db, read_only=True) as conn:
        if table is not None:
            ident = sql.Identifier(*(p for p in table if p is not None))
            key = _check_table(conn, db, table, ident.as_string(conn), name)
            statement: Any = sql.SQL("SELECT * FROM {}").format(ident)
            if key:  # rows in key order, as a file's in feature order
                order = sql.SQL(", ").join(map(sql.Identifier, key))
                statement = sql.SQL("{} ORDER BY {}").format(statement, order)
        else:
            statement = db.query
        try:
            cur = conn.cursor(binary=True)  # geometries as EWKB bytes, not hex text
            cur.execute(statement)
            if cur.description is None:
                raise InputError(f"{name}: {db.display} returns no rows; give a SELECT")
            rows = cur.fetchall()
            columns = [(d.name, d.type_code) for d in cur.description]
            types = _type_names(conn, {oid for _, oid in columns})
        except Error as exc:
            hint = "check the table and the SQL (it runs read-only)"
            raise server_error(db, exc, f"read {name} from", hint) from None
        frame = _frame(db, rows, columns, types, name)
        if isinstance(frame, gpd.GeoDataFrame):
            frame = _with_crs(conn, db, frame, name)
    log.info("read %d features of %s from %s", len(frame), name, db.display)
    return frame


def _check_table(conn: Any, db: DbURL, table: tuple, quoted: str, name: str) -> list[str]:
    """The primary-key columns of the table (none for a view); raise if it is missing."""
    if conn.execute("SELECT to_regclass(%s)", [quoted]).fetchone()[0] is not None:
        rows = conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(%s) AND i.indisprimary "
            "ORDER BY array_position(i.indkey::int2[], a.attnum)",
            [quoted],
        )
        return [r[0] for r in rows]
    schema = table[0]
    found = (
        conn.execute(
            "SELECT f_table_schema || '.' || f_table_name FROM geometry_columns "
            "WHERE %s::text IS NULL OR f_table_schema = %s ORDER BY 1 LIMIT 20",
            [schema, schema],
        ).fetchall()
        if _has_postgis(conn)
        else []
    )
    listed = ", ".join(r[0] for r in found) or "none"
    shown = ".".join(p for p in table if p is not None)
    msg = (
        f"{db.display} has no table or view {shown!r} for {name}; tables with geometries "
        f"{'in schema ' + repr(schema) if schema else 'there'}: {listed}"
    )
    raise InputError(msg)


def _has_postgis(conn: Any) -> bool:
    return conn.execute("SELECT to_regclass('geometry_columns') IS NOT NULL").fetchone()[0]


def _type_names(conn: Any, oids: set[int]) -> dict[int, str]:
    rows = conn.execute("SELECT oid::int, typname FROM pg_type WHERE oid = ANY(%s)", [list(oids)])
    return dict(rows.fetchall())


def _frame(
    db: DbURL, rows: list, columns: list[tuple[str, int]], types: dict[int, str], name: str
) -> pd.DataFrame | gpd.GeoDataFrame:
    names = [c for c, _ in columns]
    twice = sorted({c for c in names if names.count(c) > 1})
    if twice:
        msg = f"{name} from {db.display} has the columns {', '.join(twice)} twice; alias them in the query"
        raise InputError(msg)
    values = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    data: dict[str, Any] = {}
    geoms: list[str] = []
    for (col, oid), vals in zip(columns, values, strict=True):
        kind = types.get(oid, "")
        if kind in ("geometry", "geography"):
            wkb = np.array(vals, dtype=object)
            data[col] = shapely.from_wkb(wkb, on_invalid="fix") if len(wkb) else wkb
            geoms.append(col)
        else:
            data[col] = _column(pd.Series(vals, dtype=object), kind)
    frame = pd.DataFrame(data, columns=names)
    if not geoms:
        return frame
    geometry = db.geometry or (geoms[0] if len(geoms) == 1 else None)
    if geometry is None or geometry not in geoms:
        msg = (
            f"{name} from {db.display} has the geometry columns {', '.join(geoms)}; "
            f"choose one with &geometry=COLUMN"
            if geometry is None
            else f"{name} from {db.display} has no geometry column {geometry!r}; "
            f"its geometry columns: {', '.join(geoms)}"
        )
        raise InputError(msg)
    for col in geoms:
        if col != geometry:
            frame[col] = gpd.GeoSeries(frame[col])
    order = [c for c in names if c != geometry] + [geometry]  # last, as pyogrio reads files
    gdf = gpd.GeoDataFrame(frame[order], geometry=geometry)
    if geometry != "geometry" and "geometry" not in frame:
        gdf = gdf.rename_geometry("geometry")
    return gdf


def _column(s: pd.Series, kind: str) -> pd.Series:
    """A column of Python values as pyogrio would read it from a file."""
    if kind in _FLOATS or (kind in _INTS and s.isna().any()):
        return pd.to_numeric(s.astype(float), errors="coerce")
    if kind in _INTS:
        return s.astype("int64")
    if kind == "bool" and not s.isna().any():
        return s.astype(bool)
    if kind in _TIMES:
        return pd.to_datetime(s, utc=kind == "timestamptz")
    return s.infer_objects()


def _with_crs(conn: Any, db: DbURL, gdf: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
    """Set the CRS from the SRID of the geometries (none for SRID 0)."""
    geom = gdf.geometry.values
    present = ~shapely.is_missing(np.asarray(geom, dtype=object))
    srids = np.unique(shapely.get_srid(np.asarray(geom, dtype=object)[present]))
    if len(srids) > 1:
        msg = (
            f"{name} from {db.display} mixes geometries of SRIDs {', '.join(map(str, srids))}; "
            "bring them to one with ST_Transform (or ST_SetSRID) in a ?query="
        )
        raise InputError(msg)
    if not len(srids) or srids[0] == 0:
        return gdf  # no CRS: refused by the checks as a file without one
    srid = int(srids[0])
    row = conn.execute(
        "SELECT auth_name, auth_srid, srtext FROM spatial_ref_sys WHERE srid = %s", [srid]
    ).fetchone()
    if row is None:
        msg = f"{name} from {db.display} has SRID {srid}, which spatial_ref_sys does not define; set a known SRID with ST_SetSRID"
        raise InputError(msg)
    auth, code, wkt = row
    crs = f"EPSG:{code}" if (auth or "").upper() == "EPSG" else wkt
    out = gdf.set_crs(crs, allow_override=True)
    for col in out.columns:
        if col != out.geometry.name and isinstance(out[col].dtype, gpd.array.GeometryDtype):
            out[col] = out[col].set_crs(crs, allow_override=True)
    return out


# ---------------------------------------------------------------------------- writing


def write_db_tables(
    url: str,
    tables: Mapping[str, pd.DataFrame],
    *,
    keys: Mapping[str, str] | None = None,
    replaces: Iterable[str] = (),
    if_exists: str = "fail",
    comment: str = "",
) -> list[str]:
    """Publish tables into the schema of ``url`` in one transaction.

    Parameters
    ----------
    url : str
        ``postgresql://…?schema=NAME``; the schema is created when missing.
    tables : mapping of str to DataFrame
        Table name → rows. GeoDataFrames get a geometry column ``geom`` with their SRID
        and a GiST index; every table gets a primary key.
    keys : mapping of str to str, optional
        Table name → primary-key column; a table not named here gets ``fid`` (1, 2, …).
    replaces : iterable of str
        Further table names that belong to what is published (e.g. layers an earlier
        plan had): dropped too with ``if_exists="replace"``.
    if_exists : {"fail", "replace"}
        What to do when the schema already holds one of these tables.
    comment : str
        Comment set on every table.

    Returns
    -------
    list of str
        ``schema.table`` of each table written.

    Raises
    ------
    InputError
        No ``?schema=``, a ``?table=`` or ``?query=``, a layer without EPSG code, or the
        tables exist and ``if_exists="fail"``.
    DatabaseError
        The database cannot be reached or refuses the write; nothing is changed.
    """
    db = parse_db_url(url)
    if if_exists not in ("fail", "replace"):
        msg = f"if_exists must be 'fail' or 'replace', got {if_exists!r}"
        raise InputError(msg)
    if db.schema is None or db.table is not None or db.query is not None:
        msg = (
            f"publish into a schema: give {db.display.partition('?')[0]}?schema=NAME "
            "(without table= or query=)"
        )
        raise InputError(msg)
    require("sqlalchemy", "geoalchemy2", "psycopg")
    frames = {name: _prepared(db, name, df, (keys or {}).get(name)) for name, df in tables.items()}
    names = list(dict.fromkeys([*tables, *replaces]))
    with connect(db, read_only=False) as conn:
        try:
            written = _publish(conn, db, frames, keys or {}, names, if_exists, comment)
        except Exception as exc:
            if not _is_db_error(exc):
                raise
            hint = "nothing was changed; check the user's privileges (CREATE on the schema) and the message"
            raise server_error(db, exc, "publish into", hint) from None
    log.info("published %d tables into %s", len(written), db.display)
    return written


def _is_db_error(exc: BaseException) -> bool:
    import psycopg
    import sqlalchemy.exc

    return isinstance(exc, psycopg.Error | sqlalchemy.exc.DBAPIError)


def _prepared(db: DbURL, name: str, df: pd.DataFrame, key: str | None) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        msg = f"table {name!r} must be a DataFrame, got {type(df).__name__}"
        raise InputError(msg)
    if isinstance(df, gpd.GeoDataFrame):
        if df.crs is None or df.crs.to_epsg() is None:
            msg = (
                f"layer {name!r} has no EPSG code for its CRS ({df.crs}); reproject it to "
                "an EPSG CRS before publishing to the database"
            )
            raise InputError(msg)
        df = df.rename_geometry("geom") if df.geometry.name != "geom" else df
    if key is None:  # a fresh fid 1, 2, … (as GeoPackage's) for the primary key
        df = df.drop(columns="fid", errors="ignore").reset_index(drop=True)
        df.insert(0, "fid", np.arange(1, len(df) + 1, dtype=np.int64))
    elif not df[key].is_unique or df[key].isna().any():
        msg = f"{db.display}: key {key!r} of table {name!r} is not unique"
        raise InputError(msg)
    return df


def _publish(
    conn: Any,
    db: DbURL,
    frames: Mapping[str, pd.DataFrame],
    keys: Mapping[str, str],
    names: list[str],
    if_exists: str,
    comment: str,
) -> list[str]:
    import sqlalchemy
    from psycopg import sql
    from sqlalchemy.pool import StaticPool

    schema = db.schema
    assert schema is not None
    # SQLAlchemy (for GeoAlchemy2's to_postgis) on this very connection: one transaction,
    # begun and committed by SQLAlchemy, never reset behind its back
    engine = sqlalchemy.create_engine(
        "postgresql+psycopg://",
        creator=lambda: conn,
        poolclass=StaticPool,
        pool_reset_on_return=None,
    )
    with engine.connect() as sa_conn, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        transaction = sa_conn.begin()
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"gridgeo:{schema}"])
        existing = [
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = ANY(%s) ORDER BY 1",
                [schema, names],
            )
        ]
        if existing and if_exists == "fail":
            msg = (
                f"{db.display} already holds {', '.join(existing)}; publish with --if-exists "
                "replace (if_exists='replace') to replace them, or choose another ?schema="
            )
            raise InputError(msg)
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        suffix = "__gridgeo_" + secrets.token_hex(4)
        for name, df in frames.items():
            if isinstance(df, gpd.GeoDataFrame):
                df.to_postgis(name + suffix, sa_conn, schema=schema)
            else:
                df.to_sql(name + suffix, sa_conn, schema=schema, index=False)
        for name in existing:
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, name)))
        for name in frames:
            _finish_table(conn, schema, name, name + suffix, keys.get(name) or "fid", comment)
        transaction.commit()
    return [f"{schema}.{name}" for name in frames]


def _finish_table(conn: Any, schema: str, name: str, staged: str, key: str, comment: str) -> None:
    """Rename the staged table and its indexes to their final names; add the key."""
    from psycopg import sql

    conn.execute(
        sql.SQL("ALTER TABLE {} RENAME TO {}").format(
            sql.Identifier(schema, staged), sql.Identifier(name)
        )
    )
    table = sql.Identifier(schema, name)
    indexes = conn.execute(
        "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = to_regclass(%s)",
        [table.as_string(conn)],
    ).fetchall()
    for (index,) in indexes:
        conn.execute(
            sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                sql.Identifier(schema, index), sql.Identifier(index.replace(staged, name))
            )
        )
    conn.execute(
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
            table, sql.Identifier(f"{name}_pkey"), sql.Identifier(key)
        )
    )
    if comment:
        conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(table, sql.Literal(comment)))
