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


def write_wangjing(folder: Path) -> Path:
    """The Wangjing plan written into ``folder`` (grids.gpkg, summary.json …)."""
    wangjing_plan().to_files(folder, map_html=False)
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
