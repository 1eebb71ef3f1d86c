"""The planner's workbench (规划工作台): review, edit, lock and rebalance a grid plan.

:class:`Session` is the edit model on arrays (no browser), put together in
:mod:`.session` from one module per concern (:mod:`.layers`, :mod:`.state`,
:mod:`.cells`, :mod:`.figures`, :mod:`.edits`, :mod:`.history`); :mod:`.versions`
keeps saved versions in SQLite (:mod:`.pgversions` in PostgreSQL); :mod:`.api` is the
HTTP face (FastAPI routers, one module per concern) and ``static/`` the browser page
that ``gridgeo edit`` serves.
"""

from __future__ import annotations

from .session import EditRefused, Session, read_plan

__all__ = ["EditRefused", "Session", "read_plan"]
