"""``partition``: from streets and buildings (any CRS) to a grid plan.

The stages run in the order of the data flow: :func:`gridgeo.workspace.prepare`
(inputs, blocks, households, units), :func:`label_units` (the engine on the units'
graph, then the leftovers), :func:`gridgeo.assemble.assemble` (grids and figures).
"""

from __future__ import annotations

import logging
from typing import Any, Unpack

import geopandas as gpd
import numpy as np
import shapely

from ._progress import step
from .assemble import assemble, reading_order
from .astride import move_astride
from .chains import chain_repair, redraw_around
from .constraints import attach_orphans, join_pockets
from .engine import partition_graph
from .engine.tree import within_groups
from .inputs import PlanKeywords
from .plan import Plan
from .rules import Rules
from .workspace import Workspace, prepare

__all__ = ["Workspace", "assemble", "label_units", "partition", "prepare", "reading_order"]

log = logging.getLogger(__name__)


def partition(
    streets: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    rules: Rules | None = None,
    random_state: int | None = 0,
    codes: dict[str, Any] | None = None,
    **keywords: Unpack[PlanKeywords],
) -> Plan:
    """Draw community grids of about ``target`` households from streets and buildings.

    Parameters
    ----------
    streets, buildings
        Street lines and building footprints (any CRS each): see
        :func:`gridgeo.workspace.prepare`.
    rules : Rules, optional
        The planning rules (:class:`gridgeo.rules.Rules`); default: the defaults.
    random_state : int, default 0
        Seed; the same input and seed give the same plan.
    codes : dict, optional
        Give every grid a standard code (统一编码): keyword arguments of
        :func:`gridgeo.codes.assign_codes`, e.g. ``{"scheme": "db11", "admin_code":
        "110105", "street_code": "001"}`` for 15-digit DB11/T 2157 codes.
    **keywords
        The layers the rules read (``population``, ``boundaries``, ``barriers``,
        ``dedicated``, ``pois``: see :func:`gridgeo.workspace.prepare`), and any field
        of :class:`gridgeo.rules.Rules`, replacing that field of ``rules``:
        ``target`` (default 300), ``tolerance`` (0.1), ``band``,
        ``households_column``, ``population_column``, ``total_households``,
        ``boundary_id``, ``boundary_households``, ``barrier_streets``,
        ``dedicated_kinds``, ``rural_column``, ``rural_cap``, ``weight``,
        ``non_cutting``, ``split_above``, ``crs``, the household estimate's settings.

    Returns
    -------
    Plan

    Examples
    --------
    >>> import gridgeo
    >>> layers = gridgeo.read_osm(gridgeo.datasets.get_path("kouvola"))
    >>> plan = gridgeo.partition(layers.streets, layers.buildings, target=300)
    >>> int(plan.grids.households.sum()) == int(plan.buildings.households.sum())
    True
    """
    ws = prepare(streets, buildings, rules=rules, **keywords)
    with step("partitioning"):
        labels = label_units(ws, random_state=random_state)
    plan = assemble(ws, labels)
    previous = plan.grids.pop("code") if "code" in plan.grids.columns else None
    if codes:
        from .codes import assign_codes

        previous = assign_codes(plan.grids, previous=previous, **codes)
    if previous is not None:  # locked grids keep their codes, new ones take free numbers
        plan.grids.insert(1, "code", previous.to_numpy())
    log.info(plan.describe())
    return plan


def label_units(ws: Workspace, *, random_state: int | None = 0) -> np.ndarray:
    """The grid label of every unit of a workspace: the engine, then weightless leftovers.

    :func:`gridgeo.engine.partition_graph` on the units (groups, dedicated and rural
    units kept whole, cuts along streets preferred), then pieces without households that
    barriers cut off join a neighbouring grid (:func:`gridgeo.constraints.attach_orphans`),
    buildings astride grids move to the grid holding most of them
    (:func:`gridgeo.astride.move_astride`: ``ws`` is updated), and grids still outside
    the band are repaired by chains of single-unit moves, then by redrawing their
    neighbourhoods (:func:`gridgeo.chains.chain_repair`, :func:`~gridgeo.chains.redraw_around`).
    """
    labels = partition_graph(
        ws.weights,
        ws.adjacency,
        band=ws.band,
        groups=ws.groups,
        whole=ws.whole,
        blocks=ws.units.block,
        random_state=random_state,
        area=shapely.area(ws.units.geometry),
        perimeter=shapely.length(ws.units.geometry),
    )
    labels = attach_orphans(
        labels, ws.weights, ws.full_adjacency, ws.adjacency, ws.groups, ws.units.community
    )
    labels = join_pockets(
        labels,
        ws.weights,
        ws.full_adjacency,
        ws.adjacency,
        ws.groups,
        lower=ws.band.lower,
        upper=ws.band.upper,
        most=ws.band.upper - ws.band.target,
    )
    labels = _keep_locked(labels, ws.lock)
    if ws.buildings is not None:
        move_astride(
            labels,
            ws.units,
            ws.buildings.geometry.values,
            ws.building_households,
            ws.weights,
            ws.building_weights,
            band=(ws.band.lower, ws.band.upper),
            fixed=None if ws.lock is None else ws.lock >= 0,
        )
    adj = within_groups(ws.adjacency, ws.groups)
    labels = chain_repair(
        labels, ws.weights, adj, lower=ws.band.lower, upper=ws.band.upper, frozen=ws.whole
    )
    return redraw_around(
        labels,
        ws.weights,
        adj,
        band=ws.band,
        frozen=ws.whole,
        blocks=ws.units.block,
        random_state=random_state,
    )


def _keep_locked(labels: np.ndarray, lock: np.ndarray | None) -> np.ndarray:
    """Every locked grid's units under a label of their own (a pocket or orphan joined
    to a locked grid goes back to where it was)."""
    if lock is None or not (lock >= 0).any():
        return labels
    labels = labels.copy()
    inside = lock >= 0
    labels[inside] = labels.max() + 1 + lock[inside]
    return np.unique(labels, return_inverse=True)[1]
