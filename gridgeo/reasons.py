"""Why a grid lies outside the band: the ``reason`` of partition and rebalance alike.

A planner sends back a grid outside the band unless the plan says why. Both
:func:`gridgeo.partition` (:mod:`gridgeo.assemble`) and :func:`gridgeo.rebalance`
(:mod:`gridgeo.adjust`) give every such grid the first of :data:`REASONS` that holds,
in the grids layer, ``summary.json`` and the map popup.
"""

from __future__ import annotations

import numpy as np

__all__ = ["REASONS", "first_reason"]

#: Why a grid lies outside the band (its ``reason``), in the order they are tried.
REASONS: dict[str, str] = {
    "single_building": "one building alone holds more than the band's upper bound",
    "locked": "a grid the planner locked: kept exactly as it was",
    "dedicated_zone": "a dedicated grid: a zone holding at most the band's upper bound is one grid whatever it holds",
    "rural_village": "a village kept as one grid under the rural rule",
    "no_households": "its community holds no households at all, and a grid never crosses a community line",
    "enclosed_land": "land cut off from the rest of its community by barriers, or lying apart from it, whose households no number of grids can share within the band",
    "small_community": "its community holds fewer households than the band's lower bound",
    "community_size": "no number of grids can share its community's households within the band",
    "beyond_reach": "rebalance redrew the grids around it as far as its rings reach and no drawing brought it into the band: allow more rings, or draw the community again with partition",
}


def first_reason(off: np.ndarray, tests: dict[str, np.ndarray]) -> np.ndarray:
    """For every grid ``off`` the band, the first reason of :data:`REASONS` whose test
    (``tests``: reason → boolean per grid) holds; None elsewhere.

    >>> first_reason(np.array([True, True, False]),
    ...              {"single_building": np.array([False, True, True]),
    ...               "community_size": np.array([True, True, True])}).tolist()
    ['community_size', 'single_building', None]
    """
    unknown = set(tests) - set(REASONS)
    if unknown:
        raise ValueError(f"unknown reasons: {sorted(unknown)}")
    reason = np.full(len(off), None, dtype=object)
    for name in REASONS:
        if name in tests:
            hit = np.asarray(tests[name], dtype=bool) & off & np.equal(reason, None)
            reason[hit] = name
    return reason
