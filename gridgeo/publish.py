"""Publishing a plan into a PostgreSQL/PostGIS schema, where QGIS and a city's platform
read it.

:func:`write_plan` writes the layers of the GeoPackage that :meth:`Plan.to_files` writes,
with the same columns, plus the tables of its CSV and JSON files:

==============  ===============================================================
table           rows
==============  ===============================================================
``grids``       one per grid: ``grid_id``, ``code`` (with codes), ``households``,
                ``community_id``, ``grid_type`` … and its polygon (``geom``)
``buildings``   one per building, with the ``grid_id`` it belongs to
``staffing``    one per grid: workers, liaisons, budget, workload (``staffing.csv``)
``run``         one row: the plan's figures and parameters (``summary.json``),
                ``kind``, ``gridgeo_version``, ``published_at``
==============  ===============================================================

A coverage audit (:class:`gridgeo.audit.Audit`) publishes its finding layers
(``uncovered_buildings``, ``uncovered_zones``, ``overlaps`` …) and ``run``; a
rebalance (:class:`gridgeo.Rebalance`) ``grids``, ``buildings``, ``grids_before``,
``diff`` and ``run``. Geometry columns carry the layer's SRID and a GiST index; every
table has a primary key (``fid``, or ``grid_id`` for ``staffing``). The whole write is
one transaction (see :func:`gridgeo.io.postgis.write_db_tables`).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from ._errors import InputError
from ._version import __version__
from .audit.result import LAYERS as AUDIT_LAYERS

__all__ = ["PLAN_TABLES", "read_plan_tables", "write_plan"]

log = logging.getLogger(__name__)

#: Every table gridgeo publishes into a schema; ``if_exists="replace"`` drops those
#: present, so a plan replaces an audit published there before, and the reverse.
PLAN_TABLES = ("grids", "buildings", "staffing", "run", "grids_before", "diff", *AUDIT_LAYERS)


def write_plan(plan: Any, url: str, *, if_exists: str = "fail") -> list[str]:
    """Publish a plan (or a coverage audit, or a rebalance) into a database schema.

    Parameters
    ----------
    plan : Plan, Audit or Rebalance
        What :func:`gridgeo.partition`, :func:`gridgeo.audit.audit` or
        :func:`gridgeo.rebalance` returned.
    url : str
        ``postgresql://user@host/db?schema=NAME``; the password, if any, from the URL,
        ``PGPASSWORD``, ``~/.pgpass`` or a service file.
    if_exists : {"fail", "replace"}, default "fail"
        When the schema holds a plan already: refuse, or replace it (in one
        transaction: readers see the old plan until the new one is complete).

    Returns
    -------
    list of str
        The tables written, as ``schema.table``.

    Raises
    ------
    InputError
        ``plan`` is none of those, the URL names no schema, or the schema holds a plan
        and ``if_exists="fail"``; ``pip install 'gridgeo[postgis]'`` is missing.
    DatabaseError
        The database cannot be reached or refuses the write; nothing is changed.
    """
    from .io.postgis import write_db_tables

    tables, kind = _tables(plan)
    run = {"kind": kind, **_flat(plan.summary())}
    run.update(gridgeo_version=__version__, published_at=datetime.now(UTC))
    tables["run"] = pd.DataFrame([run])
    comment = f"gridgeo {__version__} {kind}, published {run['published_at']:%Y-%m-%d %H:%M} UTC"
    return write_db_tables(
        url,
        tables,
        keys={"staffing": "grid_id"} if "staffing" in tables else {},
        replaces=PLAN_TABLES,
        if_exists=if_exists,
        comment=comment,
    )


def _tables(plan: Any) -> tuple[dict[str, pd.DataFrame], str]:
    from .adjust import Rebalance
    from .audit import Audit
    from .io import storable
    from .plan import Plan, _plain_columns

    if isinstance(plan, Plan):
        from .staffing import StaffingRules, staffing_table

        tables = {"grids": _plain_columns(plan.grids)}
        if plan.buildings is not None:
            tables["buildings"] = _plain_columns(plan.buildings)
        rules = StaffingRules(target=plan.target)
        tables["staffing"] = staffing_table(plan.grids, buildings=plan.buildings, rules=rules)
        return tables, "partition"
    if isinstance(plan, Audit):
        return {k: storable(v) for k, v in plan.layers().items()}, "coverage"
    if isinstance(plan, Rebalance):
        layers = {"grids": plan.grids, "buildings": plan.buildings}
        layers |= {"grids_before": plan.before, "diff": plan.diff}
        return {k: storable(v) for k, v in layers.items()}, "rebalance"
    msg = (
        f"write_plan publishes a Plan, a coverage Audit or a Rebalance, got "
        f"{type(plan).__name__}; write other layers with gridgeo.io.postgis.write_db_tables"
    )
    raise InputError(msg)


def _flat(summary: dict[str, Any]) -> dict[str, Any]:
    """Scalars as they are; lists and dicts as JSON text (one column each)."""
    return {
        k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
        for k, v in summary.items()
    }


def read_plan_tables(url: str, *, buildings: bool = True) -> tuple[Any, Any]:
    """Tables ``grids`` and (with ``buildings``, when present) ``buildings`` of a plan
    published with :func:`write_plan`, read as stored (not validated).

    Parameters
    ----------
    url : str
        ``postgresql://…?schema=NAME``.
    buildings : bool, default True
        Read the buildings too.

    Returns
    -------
    grids, buildings : GeoDataFrame, GeoDataFrame or None
    """
    from .io import parse_db_url
    from .io.postgis import read_db_layer

    db = parse_db_url(url)
    if db.schema is None or db.table is not None or db.query is not None:
        msg = f"give the schema of a published plan: {db.display.partition('?')[0]}?schema=NAME"
        raise InputError(msg)
    grids = read_db_layer(url, layer="grids", name="grids")
    bld = None
    if buildings:
        try:
            bld = read_db_layer(url, layer="buildings", name="buildings")
        except InputError:  # a plan drawn without buildings
            bld = None
    return grids, bld
