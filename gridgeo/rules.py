"""The planning rules (规划规则): one validated object that every face of gridgeo takes.

A plan is drawn from **data** (streets, buildings, a population grid, community
boundaries, barriers, dedicated zones, points of interest) and **rules**: how many
households a grid holds, where households come from, which streets cut blocks, which
lines no grid crosses, which zones and villages become grids of their own, what is
balanced. :class:`Rules` holds the rules, checks them once, and is what
:func:`gridgeo.partition`, :func:`gridgeo.rebalance`, :func:`gridgeo.distributed.partition`,
the command line (``gridgeo partition`` / ``gridgeo rebalance``) and the HTTP service
take: the CLI flags and the service's request model are generated from the fields
below, so a rule added here reaches every face.

Examples
--------
>>> from gridgeo.rules import Rules
>>> r = Rules(band=(300, 500))
>>> r.grid_band()
Band(target=400.0, lower=300.0, upper=500.0)
>>> Rules(target=300, tolerance=0.1).grid_band().upper
330.0
>>> Rules.from_keywords(target=-1)
Traceback (most recent call last):
...
gridgeo._errors.InputError: target must be a positive number, got -1
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from ._errors import InputError
from ._validate import check_fraction, check_positive
from .blocks import NON_CUTTING
from .building_class import check_table
from .constraints import BARRIER_STREETS, DEDICATED_KINDS
from .engine import Band
from .households import HouseholdOptions

__all__ = ["RULE_GROUPS", "RuleKeywords", "Rules", "rule_fields"]

#: Groups of rules, in the order the CLI's help shows them.
RULE_GROUPS = {
    "grids": "grids: how many households a grid holds",
    "households": "households (default: building:flats, else estimated from footprint × levels)",
    "communities": "communities",
    "rules": "planning rules (with --osm, barriers and dedicated zones come from the extract)",
}


def _rule(
    default: Any,
    help: str,
    *,
    group: str,
    kind: str,
    metavar: str | None = None,
    flag: str | None = None,
) -> Any:
    """A field of :class:`Rules` with what the faces need to offer it.

    ``kind`` says how a face spells the value: ``float``, ``int``, ``str`` (a name),
    ``set`` (comma-separated names), ``range`` (``LO-HI``), ``crs`` (an EPSG code or
    a CRS string) or ``table`` (a mapping; on the command line the path of a JSON
    file holding it); ``flag`` the command-line option (default: ``--`` and the name
    with dashes).
    """
    meta = {"help": help, "group": group, "kind": kind, "metavar": metavar, "flag": flag}
    if isinstance(default, frozenset):
        return field(default_factory=lambda: default, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True, kw_only=True)
class Rules:
    """The planning rules of a plan, validated (see the module notes).

    Every attribute is also a keyword of :func:`gridgeo.partition` and
    :func:`gridgeo.rebalance`, a flag of ``gridgeo partition`` / ``gridgeo rebalance``
    (``households_column`` → ``--households-column``) and an option of the service's
    partition requests.

    Attributes
    ----------
    target : float, optional
        Households per grid; default 300 (``rebalance``: the plan's own target, else 300).
    tolerance : float, default 0.1
        Accepted relative deviation from the target (0.1 = ±10 %).
    band : (float, float), optional
        Accepted households per grid as a range, e.g. ``(300, 500)``; overrides
        ``target`` and ``tolerance`` (the target is then the middle of the band).
    households_column : str, optional
        Column of the buildings with households per building.
    population_column : str, default "population"
        People column of the population grid.
    total_households : int, optional
        Known number of households of the whole area, spread over its buildings.
    boundary_id : str, optional
        Id column of the community boundaries (default: the row number).
    boundary_households : str, optional
        Column of the community boundaries with each community's households, spread
        over its buildings by floor area.
    persons_per_household, floor_area_per_household, default_levels, level_height,
    min_building_area : float
        How households are estimated from footprints (see
        :class:`gridgeo.HouseholdOptions`).
    building_classes : mapping or str, optional
        Overrides of the building class rule table
        (:data:`gridgeo.building_class.DEFAULT_TABLE`: which buildings hold
        households, by ``building`` value, shop/office/amenity/craft/industrial tags
        and land use), or the path of a JSON file holding them.
    max_households_per_building : float, default 20000
        A building holding more households than this (from the households column,
        ``building:flats``, or a total or population grid spread over too few
        buildings) is an error naming its rows, not a plan. The largest residential
        buildings in the world hold one town each: the Regent International in
        Hangzhou, 260,000 m² over 39 floors, houses about 20,000 people and was built
        for 30,000, that is 7,600 to 11,500 households at 2.62 people per household
        (the 2020 census). 20,000 households (about 52,000 people) leaves that more
        than 1.7 times over, so no real building is refused, while the figures that
        come from broken data — a compound's or a district's count put on one
        building, a population in people typed as households, 50,000 or 10¹² — are.
    barrier_streets : set of str, default none
        Street classes that no grid crosses, e.g. ``{"motorway"}``.
    dedicated_kinds : set of str
        OSM values that make a dedicated zone (university, college, school, hospital,
        industrial, park).
    min_zone_area : float, default 10000
        Dedicated zones, and pieces of them, smaller than this (m², 1 ha) stay part of
        ordinary grids; so do pieces holding no building.
    empty_zones : str, default "join"
        What a dedicated zone holding buildings but no households becomes: ``join``
        (its land joins the grids around it: no grid without households) or ``grid``
        (a dedicated grid of its own, looked after by its unit — an industrial park, a
        park: it gets no grid worker).
    stranded_share : float, default 0.5
        Land cut off from the rest of its community by barriers, or lying apart from it
        (an exclave), joins a neighbouring grid of its community (across the barrier,
        or the nearest) when it holds less than this share of the band's lower bound;
        land holding no households always does.
    rural_column : str, optional
        Column of the community boundaries marking rural communities (true/false, or
        the urban–rural code: 2xx = rural); a rural community is one grid unless it
        holds more than ``rural_cap`` households.
    rural_cap : float, default 1000
    weight : str, optional
        What grids are balanced on: an expression over building columns, e.g.
        ``"households + 2 * shops"``. Default: households.
    non_cutting : set of str
        Street classes that do not cut blocks (footways, paths, service roads …).
    split_above : float, optional
        Blocks holding more households than this are cut into pieces so that grids can
        be balanced (default: half the target).
    crs : int or str, optional
        Metric CRS to compute in (default: CGCS2000 3° zone in China, UTM elsewhere).
    locked : set of str
        Ids of grids of an existing plan that :func:`gridgeo.rebalance` keeps exactly
        as they are: geometry, buildings, households and code.
    lock_column : str, optional
        Column of the plan's grids marking the locked ones (true, 1, yes, 是).
    """

    # grids
    target: float | None = _rule(
        None,
        "households per grid (default: 300; rebalance: the plan's own target, else 300)",
        group="grids",
        kind="float",
        metavar="N",
    )
    tolerance: float = _rule(
        0.1,
        "accepted deviation from the target, as a fraction (default: 0.1 = ±10%%)",
        group="grids",
        kind="float",
        metavar="F",
    )
    band: tuple[float, float] | None = _rule(
        None,
        "accepted households per grid as a range, e.g. 300-500 (overrides --target and --tolerance)",
        group="grids",
        kind="range",
        metavar="LO-HI",
    )
    crs: int | str | None = _rule(
        None,
        "metric CRS to compute in (default: CGCS2000 3° zone in China, UTM elsewhere)",
        group="grids",
        kind="crs",
        metavar="EPSG",
    )
    split_above: float | None = _rule(
        None,
        "blocks holding more households than this are cut into pieces (default: half the target)",
        group="grids",
        kind="float",
        metavar="N",
    )
    locked: frozenset[str] = _rule(
        frozenset(),
        "ids of grids kept exactly as they are (geometry, buildings, code), comma-separated",
        group="grids",
        kind="set",
        metavar="IDS",
        flag="--lock",
    )
    lock_column: str | None = _rule(
        None,
        "column of the grids marking those kept exactly as they are (true/1/yes)",
        group="grids",
        kind="str",
        metavar="COL",
    )
    # households
    households_column: str | None = _rule(
        None,
        "column of the buildings with households per building",
        group="households",
        kind="str",
        metavar="COL",
    )
    population_column: str = _rule(
        "population",
        "people column of the population grid (default: population)",
        group="households",
        kind="str",
        metavar="COL",
    )
    total_households: int | None = _rule(
        None,
        "known number of households of the whole area",
        group="households",
        kind="int",
        metavar="N",
    )
    persons_per_household: float = _rule(
        2.62,
        "people per household (default: 2.62, 2020 census)",
        group="households",
        kind="float",
        metavar="X",
    )
    floor_area_per_household: float = _rule(
        92.0,
        "gross floor area per household in m² (default: 92)",
        group="households",
        kind="float",
        metavar="M2",
        flag="--floor-area",
    )
    default_levels: float = _rule(
        3.0,
        "levels of buildings with no levels or height tag (default: 3)",
        group="households",
        kind="float",
        metavar="N",
    )
    level_height: float = _rule(
        3.0,
        "metres per level when levels come from a height (default: 3)",
        group="households",
        kind="float",
        metavar="M",
    )
    min_building_area: float = _rule(
        30.0,
        "footprints smaller than this many m² hold no households (default: 30)",
        group="households",
        kind="float",
        metavar="M2",
    )
    building_classes: Mapping[str, Any] | None = _rule(
        None,
        "JSON file overriding the building class rules (which buildings hold households; see gridgeo.building_class)",
        group="households",
        kind="table",
        metavar="JSON",
    )
    max_households_per_building: float = _rule(
        20_000.0,
        "a building counted with more households than this is an error in the data (default: 20000)",
        group="households",
        kind="float",
        metavar="N",
    )
    # communities
    boundary_id: str | None = _rule(
        None,
        "id column of the community boundaries (default: row number)",
        group="communities",
        kind="str",
        metavar="COL",
    )
    boundary_households: str | None = _rule(
        None,
        "column of the community boundaries with each community's households",
        group="communities",
        kind="str",
        metavar="COL",
    )
    rural_column: str | None = _rule(
        None,
        "column of the community boundaries marking rural communities (true/false or urban-rural code, 2xx = rural)",
        group="communities",
        kind="str",
        metavar="COL",
    )
    rural_cap: float = _rule(
        1000.0,
        "a rural community above this many households is divided (default: 1000)",
        group="communities",
        kind="float",
        metavar="N",
    )
    # planning rules
    barrier_streets: frozenset[str] = _rule(
        BARRIER_STREETS,
        "street classes no grid crosses, comma-separated, e.g. motorway (default: none)",
        group="rules",
        kind="set",
        metavar="CLASSES",
    )
    non_cutting: frozenset[str] = _rule(
        NON_CUTTING,
        "street classes that do not cut blocks, comma-separated (default: footway, path, service, track …)",
        group="rules",
        kind="set",
        metavar="CLASSES",
    )
    dedicated_kinds: frozenset[str] = _rule(
        DEDICATED_KINDS,
        "OSM land uses that become dedicated grids, comma-separated (default: university, college, school, hospital, industrial, park)",
        group="rules",
        kind="set",
        metavar="KINDS",
    )
    min_zone_area: float = _rule(
        10_000.0,
        "dedicated zones, or pieces of them, smaller than this many m² stay part of ordinary grids (default: 10000 = 1 ha)",
        group="rules",
        kind="float",
        metavar="M2",
    )
    empty_zones: str = _rule(
        "join",
        "a dedicated zone with buildings but no households: 'join' (joins the grids around it) or 'grid' (its own grid, no worker) (default: join)",
        group="rules",
        kind="str",
        metavar="grid|join",
    )
    stranded_share: float = _rule(
        0.5,
        "land cut off by barriers, or an exclave, holding less than this share of the band's lower bound joins a neighbouring grid of its community (default: 0.5)",
        group="rules",
        kind="float",
        metavar="F",
    )
    weight: str | None = _rule(
        None,
        "balance grids on an expression of building columns, e.g. 'households + 2 * shops'",
        group="rules",
        kind="str",
        metavar="EXPR",
    )

    def __post_init__(self) -> None:
        """Check every rule once; sets are normalised to frozensets of names."""
        for f in rule_fields():
            value = getattr(self, f.name)
            checked = _CHECKS[f.metadata["kind"]](value, f.name)
            if checked is not value:
                object.__setattr__(self, f.name, checked)
        if self.target is not None:
            _positive(self.target, "target")
        check_fraction(self.tolerance, "tolerance")
        if self.band is not None:
            lo, hi = self.band
            if lo >= hi:
                msg = f"band must be (lower, upper) with lower < upper, got {self.band!r}"
                raise InputError(msg)
        for name in (
            "rural_cap",
            "persons_per_household",
            "floor_area_per_household",
            "default_levels",
            "level_height",
            "max_households_per_building",
        ):
            _positive(getattr(self, name), name)
        if self.split_above is not None:
            _positive(self.split_above, "split_above")
        if self.empty_zones not in ("grid", "join"):
            msg = f"empty_zones must be 'grid' or 'join', got {self.empty_zones!r}"
            raise InputError(msg)
        if self.stranded_share < 0:
            msg = f"stranded_share must be 0 or more, got {self.stranded_share}"
            raise InputError(msg)
        if self.min_zone_area < 0:
            msg = f"min_zone_area must be 0 or more (m²), got {self.min_zone_area}"
            raise InputError(msg)
        if self.min_building_area < 0:
            msg = f"min_building_area must be 0 or more, got {self.min_building_area}"
            raise InputError(msg)
        if self.total_households is not None and self.total_households < 0:
            msg = f"total_households must be 0 or more, got {self.total_households}"
            raise InputError(msg)
        sources = [self.households_column, self.total_households, self.boundary_households]
        if sum(x is not None for x in sources) > 1:
            msg = "give only one source of households: a column, a population grid, a total, or community totals"
            raise InputError(msg)

    # ----------------------------------------------------------------- building

    @classmethod
    def from_keywords(cls, rules: Rules | None = None, /, **keywords: Any) -> Rules:
        """``rules`` (default: the defaults) with ``keywords`` replacing its fields.

        ``household_options`` (a :class:`gridgeo.HouseholdOptions`) is accepted too and
        spread over the household fields. An unknown keyword is an
        :class:`~gridgeo.InputError` that suggests the nearest rule.
        """
        base = rules if rules is not None else cls()
        if not isinstance(base, Rules):
            msg = f"rules must be a gridgeo.rules.Rules, got {type(base).__name__}"
            raise InputError(msg)
        hho = keywords.pop("household_options", None)
        if hho is not None:
            keywords = {**_household_fields(hho), **keywords}
        names = {f.name for f in rule_fields()}
        unknown = [k for k in keywords if k not in names]
        if unknown:
            close = difflib.get_close_matches(unknown[0], names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            msg = f"unknown planning rule {unknown[0]!r}{hint} (rules: {', '.join(sorted(names))})"
            raise InputError(msg)
        return dataclasses.replace(base, **keywords) if keywords else base

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Rules:
        """Rules from a mapping that may hold other keys (a service request, parsed
        CLI arguments as ``vars(args)``): only the rule fields are read."""
        names = {f.name for f in rule_fields()}
        return cls(**{k: v for k, v in values.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready rules (sets as sorted lists), e.g. for a plan's summary."""
        out: dict[str, Any] = {}
        for f in rule_fields():
            v = getattr(self, f.name)
            out[f.name] = (
                sorted(v) if isinstance(v, frozenset) else list(v) if isinstance(v, tuple) else v
            )
        return out

    # ----------------------------------------------------------------- derived

    def grid_band(self, default_target: float = 300.0) -> Band:
        """The accepted households per grid as a :class:`gridgeo.engine.Band`."""
        if self.band is not None:
            lo, hi = self.band
            return Band((lo + hi) / 2, lo, hi)
        target = self.target if self.target is not None else default_target
        return Band.around(_positive(target, "target"), self.tolerance)

    @property
    def household_options(self) -> HouseholdOptions:
        """The footprint estimate's settings as a :class:`gridgeo.HouseholdOptions`."""
        return HouseholdOptions(**{opt: getattr(self, rule) for rule, opt in _HOUSEHOLD.items()})


class RuleKeywords(TypedDict, total=False):
    """The fields of :class:`Rules` as keyword arguments (typed ``**rules``).

    A test checks that these keys and :class:`Rules`' fields are the same.
    """

    target: float | None
    tolerance: float
    band: tuple[float, float] | None
    crs: int | str | None
    split_above: float | None
    locked: Iterable[str]
    lock_column: str | None
    households_column: str | None
    population_column: str
    total_households: int | None
    persons_per_household: float
    floor_area_per_household: float
    default_levels: float
    level_height: float
    min_building_area: float
    building_classes: Mapping[str, Any] | str | None
    max_households_per_building: float
    boundary_id: str | None
    boundary_households: str | None
    rural_column: str | None
    rural_cap: float
    barrier_streets: Iterable[str]
    non_cutting: Iterable[str]
    dedicated_kinds: Iterable[str]
    min_zone_area: float
    empty_zones: str
    stranded_share: float
    weight: str | None
    household_options: Any


def rule_fields() -> tuple[dataclasses.Field, ...]:
    """The fields of :class:`Rules`, in order, with their ``metadata`` (help, group,
    kind, metavar) for the faces that offer them."""
    return dataclasses.fields(Rules)


# --------------------------------------------------------------------------- checks


def _positive(value: Any, name: str) -> float:
    return check_positive(value, name)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_float(value: Any, name: str) -> Any:
    if value is None:
        return value
    if not _is_number(value) or not math.isfinite(value):
        msg = f"{name} must be a finite number, got {value!r}"
        raise InputError(msg)
    return value


def _check_int(value: Any, name: str) -> Any:
    if value is None:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        msg = f"{name} must be a whole number, got {value!r}"
        raise InputError(msg)
    return value


def _check_str(value: Any, name: str) -> Any:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        msg = f"{name} must be a non-empty name, got {value!r}"
        raise InputError(msg)
    return value


def _check_set(value: Any, name: str) -> frozenset[str]:
    if isinstance(value, frozenset) and all(isinstance(v, str) for v in value):
        return value
    if isinstance(value, str):
        value = value.split(",")
    try:
        names = frozenset(str(v).strip() for v in value if str(v).strip())
    except TypeError:
        msg = f"{name} must be a set of names such as {{'motorway'}}, got {value!r}"
        raise InputError(msg) from None
    return names


def _check_range(value: Any, name: str) -> Any:
    if value is None:
        return value
    if isinstance(value, str):
        try:
            value = tuple(float(v) for v in value.replace("–", "-").split("-"))
        except ValueError:
            value = None
    try:
        lo, hi = value
        lo, hi = _positive(lo, f"{name} limit"), _positive(hi, f"{name} limit")
    except (TypeError, ValueError):
        msg = f"{name} must be two numbers (lower, upper) such as 300-500, got {value!r}"
        raise InputError(msg) from None
    return (float(lo), float(hi))


def _check_table(value: Any, name: str) -> Any:
    return check_table(value, name)


def _check_crs(value: Any, _name: str) -> Any:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


_CHECKS = {
    "float": _check_float,
    "int": _check_int,
    "str": _check_str,
    "set": _check_set,
    "range": _check_range,
    "crs": _check_crs,
    "table": _check_table,
}


#: Rules of the footprint estimate → the fields of :class:`gridgeo.HouseholdOptions`.
_HOUSEHOLD = {
    "persons_per_household": "persons_per_household",
    "floor_area_per_household": "floor_area_per_household",
    "default_levels": "default_levels",
    "level_height": "level_height",
    "min_building_area": "min_area",
}


def _household_fields(options: Any) -> dict[str, Any]:
    return {rule: getattr(options, opt) for rule, opt in _HOUSEHOLD.items()}
