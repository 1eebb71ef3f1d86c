"""The bundled Wangjing plan written as a plan folder, and moves to try on it."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

import gridgeo
from gridgeo import datasets


@cache
def wangjing_plan():
    """gridgeo.partition on the bundled Wangjing extract (drawn once per process)."""
    layers = gridgeo.read_osm(datasets.get_path("beijing_wangjing"))
    return gridgeo.partition(layers.streets, layers.buildings)


def n_grids() -> int:
    """Grids of the Wangjing plan (it follows the rules: 29 with households in housing only)."""
    return len(wangjing_plan().grids)


@cache
def wangjing_streets():
    """The street lines of the bundled Wangjing extract."""
    return gridgeo.read_osm(datasets.get_path("beijing_wangjing")).streets


def write_wangjing(folder: Path, *, streets: bool = False) -> Path:
    """The Wangjing plan written into ``folder`` (grids.gpkg, summary.json …); with
    ``streets``, grids.gpkg also holds the street lines (layer ``streets``)."""
    plan = wangjing_plan()
    plan.to_files(folder, map_html=False)
    if streets:
        lines = wangjing_streets()[["geometry"]].to_crs(plan.grids.crs)
        lines.to_file(folder / "grids.gpkg", layer="streets", driver="GPKG", engine="pyogrio")
    return folder


def boundary_moves(session) -> list[tuple[np.ndarray, str]]:
    """(piece, neighbouring grid) pairs: pieces of blocks touching another grid."""
    st = session.state
    adj = st.adjacency.tocoo()
    nb = session.n_buildings
    seen, out = set(), []
    for i, j in zip(adj.row, adj.col, strict=True):
        if i >= nb or j >= nb or st.label[i] == st.label[j]:
            continue
        piece = session.piece(int(i))
        key = (tuple(piece), int(st.label[j]))
        if key not in seen:
            seen.add(key)
            out.append((piece, str(st.ids[st.label[j]])))
    return out
