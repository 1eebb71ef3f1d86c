"""What an edit of the workbench may change (:class:`State`), and the error an edit the
rules forbid raises (:class:`EditRefused`).

A state's nodes are the buildings (the first ``n_buildings``) and one ghost node per
grid that has no building; its slots are grids (a merged-away grid's slot is dead). An
undo step is a copy of the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import GridgeoError

__all__ = ["EditRefused", "State"]


class EditRefused(GridgeoError):
    """An edit the planning rules forbid (the message says why); nothing changed."""


@dataclass
class State:
    """Everything an edit may change (an undo step is a copy of it).

    Nodes are the buildings (first ``n_buildings``) and one ghost node per grid that
    has no building; slots are grids (a merged-away grid's slot is dead).
    """

    label: np.ndarray  # node → slot
    cells: np.ndarray  # node → cell polygon
    adjacency: Any  # node × node csr
    ids: np.ndarray  # slot → grid id (str)
    code: np.ndarray
    community: np.ndarray
    note: np.ndarray
    locked: np.ndarray
    edited: np.ndarray
    alive: np.ndarray
    geometry: np.ndarray  # slot → polygon
    households: np.ndarray
    buildings: np.ndarray

    @classmethod
    def of_grids(
        cls,
        label: np.ndarray,
        ids: np.ndarray,
        *,
        code: np.ndarray,
        community: np.ndarray,
        note: np.ndarray,
        locked: np.ndarray,
        edited: np.ndarray,
        geometry: np.ndarray,
    ) -> State:
        """A state of the grids ``ids`` (all alive), each node's grid slot ``label``:
        no cells nor adjacency yet, households and buildings not counted yet."""
        n = len(ids)
        return cls(
            label=label,
            cells=np.empty(0, dtype=object),
            adjacency=None,
            ids=ids.astype(object),
            code=code,
            community=community,
            note=note,
            locked=locked,
            edited=edited,
            alive=np.ones(n, dtype=bool),
            geometry=geometry,
            households=np.zeros(n, dtype=np.int64),
            buildings=np.zeros(n, dtype=np.int64),
        )

    def copy(self) -> State:
        return State(
            **{
                k: (v.copy() if isinstance(v, np.ndarray) and k != "cells" else v)
                for k, v in self.__dict__.items()
            }
        )
