"""The planner's workbench (规划工作台): review, edit, lock and rebalance a grid plan.

:class:`Session` is the edit model on arrays (no browser); :mod:`.versions` keeps
saved versions in SQLite; :mod:`.api` is the HTTP face (a FastAPI router) and
``static/`` the browser page that ``gridgeo edit`` serves.
"""

from __future__ import annotations

from .session import EditRefused, Session, read_plan

__all__ = ["EditRefused", "Session", "read_plan"]
