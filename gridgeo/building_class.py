"""Which buildings hold households: the building class rule table (住宅还是非住宅).

Every building falls in one of four classes, from its OpenStreetMap tags and the land
use it stands in:

``residential``
    Tagged as housing: ``building=apartments``, ``house``, ``residential``,
    ``dormitory`` …
``mixed``
    Housing above shops or services: a residential or untyped building that also
    carries a ``shop``, ``amenity``, ``office``, ``craft`` or ``industrial`` tag, or
    holds a point of interest of one (a shop on the ground floor of a block of flats;
    car park entrances and toilets say nothing). Its ground floor holds no households.
``non_residential``
    Holds no households: a non-residential ``building`` value (industrial, warehouse,
    office, retail, commercial, school, hospital, church, garage …); an untyped
    building (``building=yes``) tagged as an office, a workshop (``craft``), an
    industrial site, an amenity that is a whole building (school, hospital, place
    of worship, town hall …), a hotel or museum (``tourism``), a fort, castle or
    monument (``historic``), a sports hall (``leisure``), or ``military``,
    ``man_made`` or ``aeroway``; an untyped building holding a point of interest of
    such a whole-building use (a university's or a school's point inside its
    footprint); an untyped building standing in non-residential land use
    (industrial, commercial, retail, institutional, military, railway, port, school,
    hospital, park …).
``unspecified``
    An untyped building (``building=yes`` or a value the table does not know) that
    nothing above says is not housing: counted as housing, as a footprint estimate
    has always done. Reported apart, so a planner sees how much of the total rests on
    that assumption.

The land use of a building is that of the **smallest** land-use polygon holding its
point on surface: a residential estate inside an industrial district is residential.
A building tagged with ``building:flats`` keeps its flats whatever its class ("unless
tagged so"); a households column of the planner's own is used as it is.

The table is :data:`DEFAULT_TABLE`; the ``building_classes`` rule (a mapping, or a
JSON file holding one) overrides any entry of it, e.g. ``{"landuse": {"retail":
"unspecified"}, "building": {"kiosk": "mixed"}}``. A ``building_class`` column of the
buildings (the planner's own classes) wins over the table where it is filled.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> b = gpd.GeoDataFrame(
...     {"building": ["apartments", "yes", "warehouse", "yes"],
...      "shop": [None, "bakery", None, None]},
...     geometry=[box(0, 0, 10, 10)] * 4, crs=3857)
>>> classify(b).tolist()
['residential', 'mixed', 'non_residential', 'unspecified']
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import InputError

__all__ = [
    "CLASSES",
    "DEFAULT_TABLE",
    "NON_RESIDENTIAL",
    "TAG_KEYS",
    "check_table",
    "classify",
    "housing_levels",
    "rule_table",
    "with_classes",
]

log = logging.getLogger(__name__)

#: The classes, in the order the summary lists them.
CLASSES = ("residential", "mixed", "unspecified", "non_residential")

#: Tag keys of a building that say it holds more than housing (columns of the
#: buildings layer of :func:`gridgeo.read_osm`).
TAG_KEYS = (
    "shop",
    "amenity",
    "office",
    "craft",
    "industrial",
    "tourism",
    "historic",
    "leisure",
    "military",
    "man_made",
    "aeroway",
)

#: OSM ``building=*`` values that hold no households.
NON_RESIDENTIAL = frozenset(
    """commercial retail industrial office warehouse church cathedral chapel mosque temple
    shrine synagogue religious school university college kindergarten hospital public civic
    government train_station transportation parking garage garages carport shed roof hut
    hangar greenhouse barn farm_auxiliary stable cowshed service construction ruins
    stadium sports_hall sports_centre grandstand pavilion toilets kiosk bunker hotel
    supermarket fire_station manufacture storage_tank silo water_tower tower bridge
    gatehouse boathouse static_caravan digester transformer_tower factory data_center
    depot hall prison military barracks fuel railway utility power substation water_works
    pumping_station museum library theatre cinema arena casino marquee tent outbuilding
    parking_garage ship boat""".split()
)

_RESIDENTIAL = frozenset(
    """residential apartments house detached semidetached_house terrace dormitory
    bungalow farm houseboat cabin flats""".split()
)

# amenities that are a whole building of their own, not a ground-floor service
_AMENITY_BUILDINGS = frozenset(
    """school kindergarten college university hospital clinic place_of_worship townhall
    police fire_station library theatre cinema arts_centre community_centre courthouse
    prison bus_station parking fuel marketplace public_building exhibition_centre
    conference_centre social_facility nursing_home car_wash post_depot
    research_institute""".split()
)

# uses of a whole building that is not housing, by the other tag keys
_USE_BUILDINGS = {
    "tourism": "hotel motel hostel museum gallery attraction aquarium zoo theme_park",
    "historic": """fort castle monument memorial church chapel city_gate tower ruins
    archaeological_site monastery""",
    "leisure": "sports_centre stadium sports_hall ice_rink swimming_pool fitness_centre water_park",
}

# shops that fill a building of their own
_SHOP_BUILDINGS = frozenset(
    "mall department_store wholesale car car_repair garden_centre doityourself trade".split()
)

#: The rule table: OSM value → class, per section. ``building``: ``building=*`` values
#: (absent values are ``unspecified``); ``tags``: ``key`` or ``key=value`` of
#: :data:`TAG_KEYS` (``key=value`` first); ``landuse``: land-use values (the
#: ``value`` column of the ``landuse`` layer of :func:`gridgeo.read_osm`; absent
#: values say nothing).
DEFAULT_TABLE: dict[str, Any] = {
    "building": {
        **dict.fromkeys(sorted(_RESIDENTIAL), "residential"),
        **dict.fromkeys(sorted(NON_RESIDENTIAL), "non_residential"),
    },
    "tags": {
        "shop": "mixed",
        "amenity": "mixed",
        "office": "non_residential",
        "craft": "non_residential",
        "industrial": "non_residential",
        **{f"amenity={v}": "non_residential" for v in sorted(_AMENITY_BUILDINGS)},
        **{f"shop={v}": "non_residential" for v in sorted(_SHOP_BUILDINGS)},
        **{
            f"{k}={v}": "non_residential"
            for k, values in sorted(_USE_BUILDINGS.items())
            for v in sorted(values.split())
        },
        "military": "non_residential",
        "man_made": "non_residential",
        "aeroway": "non_residential",
    },
    "landuse": {
        "residential": "residential",
        **dict.fromkeys(
            """industrial commercial retail institutional military railway port garages
            depot quarry landfill school kindergarten hospital park""".split(),
            "non_residential",
        ),
    },
}

_SECTIONS = ("building", "tags", "landuse")


# --------------------------------------------------------------------------- the table


def check_table(value: Any, name: str = "building_classes") -> dict[str, Any] | None:
    """Overrides of :data:`DEFAULT_TABLE` as a plain dict, checked.

    ``value`` is None, a mapping of sections, or the path of a JSON file holding one.
    Raises :class:`~gridgeo.InputError` naming what is wrong.
    """
    if value is None:
        return None
    if isinstance(value, str | Path):
        path = Path(value)
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            msg = f"{name}: cannot read {path}: {err.strerror}; give a JSON file of building class rules"
            raise InputError(msg) from None
        except json.JSONDecodeError as err:
            msg = f"{name}: {path} is not valid JSON ({err.msg}, line {err.lineno})"
            raise InputError(msg) from None
    if not isinstance(value, Mapping):
        msg = f"{name} must be a mapping of sections (building, tags, landuse) or a JSON file, got {value!r}"
        raise InputError(msg)
    out: dict[str, Any] = {}
    for section, entries in value.items():
        if section not in _SECTIONS:
            msg = f"{name}: unknown section {section!r}; sections are building, tags, landuse"
            raise InputError(msg)
        if not isinstance(entries, Mapping):
            msg = f"{name}: section {section!r} must map OSM values to classes, got {entries!r}"
            raise InputError(msg)
        checked = {}
        for key, cls in entries.items():
            if cls not in CLASSES:
                msg = f"{name}: {section} {key!r} → {cls!r} is not a class; classes are {', '.join(CLASSES)}"
                raise InputError(msg)
            checked[str(key).strip().lower()] = cls
        out[section] = dict(sorted(checked.items()))
    return out


def rule_table(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """:data:`DEFAULT_TABLE` with ``overrides`` (see :func:`check_table`) applied."""
    table = {k: dict(v) for k, v in DEFAULT_TABLE.items()}
    for section, entries in (check_table(overrides) or {}).items():
        table[section].update(entries)
    return table


# --------------------------------------------------------------------------- classes


def _text(buildings: pd.DataFrame, column: str) -> np.ndarray:
    """Lower-case text of a column (None where missing or absent)."""
    if column not in buildings.columns:
        return np.full(len(buildings), None, dtype=object)
    values = buildings[column].astype("string").str.strip().str.lower()
    keep = (values.notna() & (values != "")).fillna(False).to_numpy(dtype=bool)
    return np.where(keep, values.astype(object).to_numpy(), None)


_RANK = {"mixed": 1, "non_residential": 2}


def _tag_class(buildings: pd.DataFrame, tags: Mapping[str, str]) -> np.ndarray:
    """Strongest class the tags of each building give (non_residential over mixed;
    None without any)."""
    rank = np.zeros(len(buildings), dtype=np.int64)
    for key in TAG_KEYS:
        values = _text(buildings, key)
        has = pd.notna(values) & (values != "no")
        has = has.astype(bool)
        if not has.any():
            continue
        text = pd.Series(values[has], dtype=object)
        cls = (key + "=" + text).map(tags).fillna(tags.get(key, ""))
        rank[has] = np.maximum(rank[has], cls.map(_RANK).fillna(0).to_numpy(dtype=np.int64))
    return np.array([None, "mixed", "non_residential"], dtype=object)[rank]


#: Points of interest that say nothing of the building above them: a car park's
#: entrance or a toilet under a block of flats.
_POI_IGNORED = frozenset({"amenity=parking", "amenity=parking_entrance", "amenity=toilets"})


def _poi_class(
    buildings: gpd.GeoDataFrame, pois: gpd.GeoDataFrame | None, tags: Mapping[str, str]
) -> np.ndarray:
    """Strongest class the points of interest inside each footprint give: a use that
    fills a whole building (``key=value`` in the table, e.g. ``amenity=university``)
    as the table says, any other shop, office or service ``mixed`` (None without any).
    ``pois``: points with ``kind`` (the tag key) and ``value`` columns."""
    rank = np.zeros(len(buildings), dtype=np.int64)
    if pois is None or not len(pois) or not {"kind", "value"} <= set(pois.columns):
        return np.full(len(buildings), None, dtype=object)
    points = shapely.get_type_id(pois.geometry.values) == 0
    kind, value = _text(pois, "kind")[points], _text(pois, "value")[points]
    known = np.isin(kind.astype(str), TAG_KEYS) & pd.notna(value)
    key = pd.Series(kind[known]).astype(str) + "=" + pd.Series(value[known]).astype(str)
    cls = key.map(tags).fillna("mixed").to_numpy(dtype=object)
    cls[key.isin(_POI_IGNORED).to_numpy()] = None
    pi, bi = shapely.STRtree(buildings.geometry.values).query(
        pois.geometry.values[points][known], predicate="within"
    )
    np.maximum.at(rank, bi, pd.Series(cls[pi]).map(_RANK).fillna(0).to_numpy(dtype=np.int64))
    return np.array([None, "mixed", "non_residential"], dtype=object)[rank]


def _landuse_class(
    buildings: gpd.GeoDataFrame, landuse: gpd.GeoDataFrame | None, table: Mapping[str, str]
) -> np.ndarray:
    """Class of the smallest land-use polygon holding each building's point on surface
    (None outside every polygon the table knows)."""
    out = np.full(len(buildings), None, dtype=object)
    if landuse is None or not len(landuse) or not len(buildings):
        return out
    column = (
        "value" if "value" in landuse.columns else "kind" if "kind" in landuse.columns else None
    )
    if column is None:
        return out
    cls = pd.Series(_text(landuse, column)).map(table).to_numpy(dtype=object)
    known = pd.notna(cls)
    if not known.any():
        return out
    polys = landuse.geometry.values[known]
    cls = cls[known]
    pts = shapely.point_on_surface(buildings.geometry.values)
    b, p = shapely.STRtree(polys).query(pts, predicate="within")
    if len(b):
        order = np.lexsort((shapely.area(polys)[p], b))
        first = order[np.r_[True, b[order][1:] != b[order][:-1]]]
        out[b[first]] = cls[p[first]]
    return out


def classify(
    buildings: gpd.GeoDataFrame,
    *,
    landuse: gpd.GeoDataFrame | None = None,
    pois: gpd.GeoDataFrame | None = None,
    table: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """The class of every building (see the module notes), as an array of strings.

    Parameters
    ----------
    buildings : GeoDataFrame
        Footprints with an optional ``building`` column and the :data:`TAG_KEYS`
        columns (those of :func:`gridgeo.read_osm`).
    landuse : GeoDataFrame, optional
        Land-use polygons with a ``value`` (or ``kind``) column, in the buildings' CRS.
    pois : GeoDataFrame, optional
        Points of interest (the ``pois`` layer of :func:`gridgeo.read_osm`), in the
        buildings' CRS: those inside a footprint count as its tags (a use that fills a
        whole building as the table says, any other shop or service as ``mixed``).
    table : mapping, optional
        Overrides of :data:`DEFAULT_TABLE`.
    """
    t = rule_table(table)
    kind = _text(buildings, "building")
    kind = np.where(pd.isna(kind), "yes", kind)
    own = pd.Series(kind).map(t["building"]).fillna("unspecified").to_numpy(dtype=object)
    tag = _tag_class(buildings, t["tags"])
    inside = _poi_class(buildings, pois, t["tags"])
    rank = np.maximum(
        pd.Series(tag).map(_RANK).fillna(0).to_numpy(dtype=np.int64),
        pd.Series(inside).map(_RANK).fillna(0).to_numpy(dtype=np.int64),
    )
    tag = np.array([None, "mixed", "non_residential"], dtype=object)[rank]
    land = _landuse_class(buildings, landuse, t["landuse"])
    out = own.copy()
    tagged = pd.notna(tag)
    # housing with a shop or an office in it is mixed; never less than housing
    out[(own == "residential") & tagged] = "mixed"
    untyped = own == "unspecified"
    out[untyped & (tag == "non_residential")] = "non_residential"
    out[untyped & (tag != "non_residential") & (land == "non_residential")] = "non_residential"
    out[untyped & (tag == "mixed") & (land != "non_residential")] = "mixed"
    return out.astype(object)


def with_classes(
    buildings: gpd.GeoDataFrame,
    landuse: gpd.GeoDataFrame | None = None,
    *,
    pois: gpd.GeoDataFrame | None = None,
    table: Mapping[str, Any] | None = None,
) -> gpd.GeoDataFrame:
    """``buildings`` with a ``building_class`` column: the planner's own where that
    column is given and filled, else :func:`classify`.

    Raises :class:`~gridgeo.InputError` when a given ``building_class`` holds a value
    that is not a class.
    """
    classes = classify(buildings, landuse=landuse, pois=pois, table=table)
    if "building_class" in buildings.columns:
        given = _text(buildings, "building_class")
        bad = pd.notna(given) & ~np.isin(given.astype(str), CLASSES)
        if bad.any():
            msg = (
                f"buildings column 'building_class' holds {given[bad][0]!r}; its values must be "
                f"one of {', '.join(CLASSES)} (or empty, to classify by the rule table)"
            )
            raise InputError(msg)
        classes = np.where(pd.notna(given), given, classes)
    counts = pd.Series(classes).value_counts()
    log.info("building classes: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    return buildings.assign(building_class=classes)


def housing_levels(classes: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Levels of each building that hold households: all of a residential or
    unspecified building's, a mixed building's above its ground floor, none of a
    non-residential one's."""
    ground = 1.0
    classes = np.asarray(classes, dtype=object)
    levels = np.asarray(levels, dtype=float)
    out = np.where(np.isin(classes, ["residential", "unspecified"]), levels, 0.0)
    return np.where(classes == "mixed", np.maximum(levels - ground, 0.0), out)
