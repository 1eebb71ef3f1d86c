"""Tag values that make a shop, a street without shop fronts or a street-front grid."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "COMMERCIAL_BUILDINGS",
    "NON_FRONTAGE",
    "STREET_FRONT_AMENITIES",
    "STREET_FRONT_TYPES",
    "is_street_front_type",
]

#: Highway classes without a shop front: motorways, service roads, paths and ways that
#: are not streets. Footways are left out too: sidewalks mapped as footways run beside
#: the street they belong to.
NON_FRONTAGE = frozenset(
    """motorway motorway_link trunk_link service track path footway cycleway bridleway
    steps corridor elevator platform proposed construction abandoned raceway bus_stop
    escape via_ferrata rest_area services""".split()
)

#: ``amenity=*`` values that are premises along a street (shops and services); other
#: amenities (benches, parking, toilets, schools, hospitals …) are not street-front shops.
STREET_FRONT_AMENITIES = frozenset(
    """restaurant cafe fast_food bar pub biergarten food_court ice_cream bank
    bureau_de_change money_transfer payment_centre pharmacy clinic doctors dentist
    veterinary post_office internet_cafe nightclub karaoke_box casino gambling cinema
    theatre car_rental car_wash fuel driving_school language_school music_school
    dancing_school training marketplace childcare laundry dry_cleaning""".split()
)

#: ``building=*`` values of commercial buildings (each one is a shop unless a shop
#: point stands inside it).
COMMERCIAL_BUILDINGS = frozenset({"retail", "commercial", "kiosk", "supermarket", "shop"})

#: Values of the grid type column that mark a street-front micro-grid (compared after
#: :func:`is_street_front_type`'s normalisation; any text starting with 沿街 counts too).
STREET_FRONT_TYPES = frozenset(
    {"street_front", "streetfront", "street_front_micro_grid", "shopfront", "沿街", "商铺"}
)

# Tag keys of shops, in the order that names the kind of a shop.
_POI_KEYS = ("shop", "office", "craft", "amenity")
_NOT_A_SHOP = frozenset({"no", "vacant", "none"})


def _text(values: pd.Series) -> np.ndarray:
    """Lower-case stripped strings; missing and empty values become ``""``."""
    s = values.astype("string").str.strip().str.lower().fillna("")
    return s.to_numpy(dtype=object)


def is_street_front_type(values: Any, types: frozenset[str] = STREET_FRONT_TYPES) -> np.ndarray:
    """Whether each grid type marks a street-front micro-grid.

    Values are compared after stripping, lower-casing and turning spaces and hyphens
    into underscores; any value starting with ``沿街`` also counts.

    Examples
    --------
    >>> is_street_front_type(["Street-front", "沿街商铺微网格", "residential", None]).tolist()
    [True, True, False, False]
    """
    s = pd.Series(np.asarray(values, dtype=object)).astype("string").str.strip().str.lower()
    s = s.str.replace(r"[\s\-]+", "_", regex=True).fillna("")
    wanted = {str(t).strip().lower().replace(" ", "_").replace("-", "_") for t in types}
    return (s.isin(wanted) | s.str.startswith("沿街")).to_numpy(dtype=bool)
