"""Settings of the street-front analysis."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .._errors import InputError
from .._validate import check_positive
from .tags import COMMERCIAL_BUILDINGS, NON_FRONTAGE, STREET_FRONT_AMENITIES, STREET_FRONT_TYPES

__all__ = ["StreetFrontOptions", "with_depth"]


@dataclass(frozen=True, kw_only=True)
class StreetFrontOptions:
    """Settings of the street-front analysis (distances in metres).

    Attributes
    ----------
    frontage_depth : float, default 30
        How far from a street's centre line a shop still fronts it; also the depth of
        the zone and micro-grid strips.
    zone_gap : float, default 50
        Shops of one run and side further apart than this along the street start a
        new zone.
    end_margin : float, default 10
        Frontage counted before the first and after the last shop of a zone (half a
        shop front), so that a zone of one shop is 20 m long.
    micro_grid_shops : int, default 30
        Most shops in one proposed micro-grid.
    micro_grid_length : float, default 500
        Longest street frontage of one proposed micro-grid.
    micro_grid_gap : float, default 150
        Frontage without shops longer than this ends a proposed micro-grid.
    micro_grid_min_shops : int, default 3
        Fewest shops worth a micro-grid of their own (fewer: join a nearby grid).
    name_column : str, default "name"
        Column of the streets with the street name (ignored when absent).
    non_frontage : frozenset of str
        Highway classes without a shop front (:data:`NON_FRONTAGE`).
    amenities : frozenset of str
        ``amenity`` values that count as shops (:data:`STREET_FRONT_AMENITIES`).
    commercial_buildings : frozenset of str
        ``building`` values of commercial buildings (:data:`COMMERCIAL_BUILDINGS`).
    street_front_types : frozenset of str
        Grid types of street-front micro-grids (:data:`STREET_FRONT_TYPES`).
    """

    frontage_depth: float = 30.0
    zone_gap: float = 50.0
    end_margin: float = 10.0
    micro_grid_shops: int = 30
    micro_grid_length: float = 500.0
    micro_grid_gap: float = 150.0
    micro_grid_min_shops: int = 3
    name_column: str = "name"
    non_frontage: frozenset[str] = field(default=NON_FRONTAGE)
    amenities: frozenset[str] = field(default=STREET_FRONT_AMENITIES)
    commercial_buildings: frozenset[str] = field(default=COMMERCIAL_BUILDINGS)
    street_front_types: frozenset[str] = field(default=STREET_FRONT_TYPES)

    def checked(self) -> StreetFrontOptions:
        """Return the options after checking every number (raises :class:`InputError`)."""
        for name in ("frontage_depth", "zone_gap", "micro_grid_length", "micro_grid_gap"):
            check_positive(getattr(self, name), name)
        margin = self.end_margin
        if not isinstance(margin, int | float) or not math.isfinite(margin) or margin < 0:
            msg = f"end_margin must be a number of metres, 0 or more, got {margin!r}"
            raise InputError(msg)
        for name in ("micro_grid_shops", "micro_grid_min_shops"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                msg = f"{name} must be a whole number of shops, 1 or more, got {value!r}"
                raise InputError(msg)
        return self


def with_depth(
    options: StreetFrontOptions | None, frontage_depth: float | None
) -> StreetFrontOptions:
    """``options`` (or the defaults) with ``frontage_depth`` replaced when given."""
    opt = options or StreetFrontOptions()
    if not isinstance(opt, StreetFrontOptions):
        msg = f"street_front options must be a StreetFrontOptions, got {type(opt).__name__}"
        raise InputError(msg)
    if frontage_depth is not None:
        opt = replace(opt, frontage_depth=check_positive(frontage_depth, "frontage_depth"))
    return opt.checked()
