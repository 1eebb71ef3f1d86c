"""Quality figures of a grid plan: balance, compactness, boundaries on streets.

They work on plain arrays (labels, weights, a unit adjacency carrying shared lengths) so
that any partition of the same units — gridgeo's or another method's — can be scored the
same way.
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy import sparse

__all__ = ["balance", "boundary_on_streets", "polsby_popper"]


def polsby_popper(geoms: np.ndarray) -> np.ndarray:
    """Polsby–Popper compactness 4πA/P² of each polygon (1 for a circle).

    Examples
    --------
    >>> round(float(polsby_popper(np.array([shapely.box(0, 0, 1, 1)]))[0]), 3)
    0.785
    """
    area = shapely.area(geoms)
    perimeter = shapely.length(geoms)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(perimeter > 0, 4 * np.pi * area / perimeter**2, 0.0)


def boundary_on_streets(
    labels: np.ndarray, unit_block: np.ndarray, adjacency: sparse.spmatrix
) -> float:
    """Share of the boundary length between grids that follows streets or community lines.

    Units are whole blocks or pieces of blocks, and blocks are bounded by streets and
    community boundaries; so a boundary between two grids runs along a street (or a
    community line) exactly where the two units on either side come from different
    blocks. ``adjacency`` holds the length each pair of units shares.
    """
    coo = sparse.triu(sparse.csr_matrix(adjacency), k=1).tocoo()
    between = labels[coo.row] != labels[coo.col]
    total = coo.data[between].sum()
    if total == 0:
        return 1.0
    on_street = between & (unit_block[coo.row] != unit_block[coo.col])
    return float(coo.data[on_street].sum() / total)


def balance(households: np.ndarray, target: float, *, eps: float = 1e-9) -> dict[str, float]:
    """Shares of grids within ±10 %, ±20 %, ±25 % of ``target``."""
    hh = np.asarray(households, dtype=float)
    if len(hh) == 0:
        return {"within_10pct": 0.0, "within_20pct": 0.0, "within_25pct": 0.0}
    dev = np.abs(hh / target - 1)
    return {f"within_{p}pct": float(np.mean(dev <= p / 100 + eps)) for p in (10, 20, 25)}
