"""The planning rules live in one place (gridgeo.rules.Rules) and reach every face.

Every field of Rules must be a keyword of partition, prepare, rebalance and
distributed.partition, a flag of ``gridgeo partition`` and ``gridgeo rebalance`` and a
field of the service's partition options; the checks and their messages are those of
Rules whatever the face; rebalance honours the rules partition honours.
"""

from __future__ import annotations

import argparse
import inspect
import json
import typing
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely import box

import gridgeo
from gridgeo import distributed
from gridgeo._errors import InputError
from gridgeo.adjust import core as adjust_core
from gridgeo.cli import partition as cli_partition
from gridgeo.cli import rebalance as cli_rebalance
from gridgeo.cli._rules import flag_of, rules_from_args
from gridgeo.rules import RuleKeywords, Rules, rule_fields
from gridgeo.service.models import PartitionOptions, PartitionUploadForm

#: The building class rules of tests/fixtures/building_classes.json.
TABLE_FILE = Path(__file__).parent / "fixtures" / "building_classes.json"
TABLE = json.loads(TABLE_FILE.read_text(encoding="utf-8"))

#: A value unlike the default for every kind of rule, as Python, a flag, and JSON.
SAMPLES = {
    "float": (123.0, "123", 123.0),
    "int": (4567, "4567", 4567),
    "str": ("hh_col", "hh_col", "hh_col"),
    "set": (frozenset({"motorway", "trunk"}), "motorway,trunk", ["motorway", "trunk"]),
    "range": ((250.0, 450.0), "250-450", [250, 450]),
    "crs": (32635, "32635", 32635),
    "table": (TABLE, str(TABLE_FILE), TABLE),
}


def _sample(f):
    value = SAMPLES[f.metadata["kind"]]
    if f.name == "tolerance":
        return (0.25, "0.25", 0.25)
    if f.name == "empty_zones":
        return ("grid", "grid", "grid")
    return value


def test_typed_keywords_are_the_rules():
    keys = set(typing.get_type_hints(RuleKeywords)) - {"household_options"}
    assert keys == {f.name for f in rule_fields()}


def _parser(module) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridgeo")
    module.add_parser(parser.add_subparsers(dest="command"))
    return parser


@pytest.mark.parametrize("command", ["partition", "rebalance"])
def test_every_rule_is_a_flag(command):
    parser = _parser(cli_partition if command == "partition" else cli_rebalance)
    base = ["--plan", "p.gpkg"] if command == "rebalance" else []
    for f in rule_fields():
        value, text, _ = _sample(f)
        args = parser.parse_args([command, *base, flag_of(f.name), text])
        assert getattr(rules_from_args(args), f.name) == value, f.name
    defaults = rules_from_args(parser.parse_args([command, *base]))
    assert defaults == Rules()


@pytest.mark.parametrize("model", [PartitionOptions, PartitionUploadForm])
def test_every_rule_is_a_service_field(model):
    for f in rule_fields():
        value, _, json_value = _sample(f)
        assert f.name in model.model_fields, f.name
        options = model.model_validate({f.name: json_value})
        assert getattr(Rules.from_mapping(options.model_dump()), f.name) == value, f.name
    assert Rules.from_mapping(model().model_dump()) == Rules()


class _Reached(Exception):
    """Raised in place of the first stage, carrying the rules a face built."""


@pytest.fixture
def stop_at_inputs(monkeypatch):
    def stop(*_args, rules, **_kw):
        raise _Reached(rules)

    monkeypatch.setattr("gridgeo.workspace.check_inputs", stop)
    monkeypatch.setattr(adjust_core, "check_inputs", stop)


def _faces():
    streets = gpd.GeoDataFrame(geometry=[], crs=3857)
    grids = gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)], crs=3857)
    return {
        "partition": lambda **kw: gridgeo.partition(streets, None, **kw),
        "prepare": lambda **kw: gridgeo.pipeline.prepare(streets, None, **kw),
        "rebalance": lambda **kw: gridgeo.rebalance(grids, grids, **kw),
        "distributed": lambda **kw: distributed.partition(streets, None, scheduler=None, **kw),
    }


@pytest.mark.usefixtures("stop_at_inputs")
@pytest.mark.parametrize("face", ["partition", "prepare", "rebalance", "distributed"])
def test_every_python_face_takes_every_rule(face):
    call = _faces()[face]
    for f in rule_fields():
        value, _, _ = _sample(f)
        with pytest.raises(_Reached) as got:
            call(**{f.name: value})
        assert getattr(got.value.args[0], f.name) == value, f.name
    base = Rules(target=250, weight="households")
    with pytest.raises(_Reached) as got:
        call(rules=base, tolerance=0.2)
    assert got.value.args[0] == Rules(target=250, weight="households", tolerance=0.2)
    with pytest.raises(
        InputError, match="unknown planning rule 'tolerence'; did you mean 'tolerance'"
    ):
        call(tolerence=0.2)


@pytest.mark.parametrize(
    "fn", [gridgeo.partition, gridgeo.pipeline.prepare, gridgeo.rebalance, distributed.partition]
)
def test_signatures_are_typed(fn):
    params = inspect.signature(fn).parameters
    assert params["rules"].kind is inspect.Parameter.KEYWORD_ONLY
    kw = [p for p in params.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
    assert len(kw) == 1 and "PlanKeywords" in str(kw[0].annotation)


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"target": 0}, "target must be a positive number, got 0"),
        ({"target": float("nan")}, "target must be a finite number"),
        ({"tolerance": 1.5}, "tolerance must be between 0 and 1"),
        ({"band": (500, 300)}, "lower < upper"),
        ({"band": "300-abc"}, "band must be two numbers"),
        ({"rural_cap": -5}, "rural_cap must be a positive number"),
        ({"total_households": 2.5}, "total_households must be a whole number"),
        ({"total_households": -1}, "total_households must be 0 or more"),
        ({"households_column": ""}, "households_column must be a non-empty name"),
        ({"min_zone_area": -1}, "min_zone_area must be 0 or more"),
        (
            {"households_column": "hh", "total_households": 10},
            "give only one source of households",
        ),
    ],
)
def test_bad_rules_say_what_is_wrong(keywords, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        Rules.from_keywords(**keywords)


def test_household_options_spread_over_rules():
    hho = gridgeo.HouseholdOptions(persons_per_household=3.1, floor_area_per_household=80)
    r = Rules.from_keywords(household_options=hho, target=200)
    assert r.household_options == gridgeo.HouseholdOptions(
        persons_per_household=3.1, floor_area_per_household=80
    )
    assert r.target == 200


def test_min_zone_area_reaches_blocks(osm):
    """The rule added end to end: zones under ``min_zone_area`` stay ordinary land."""
    layers = osm("kouvola")
    common = {"dedicated": layers.landuse, "barriers": layers.barriers}
    default = gridgeo.pipeline.prepare(layers.streets, layers.buildings, **common)
    none = gridgeo.pipeline.prepare(layers.streets, layers.buildings, **common, min_zone_area=1e12)
    assert len(default.zones) > 0 and len(none.zones) == 0
    assert default.whole.any() and not none.whole.any()
    small = gridgeo.pipeline.prepare(layers.streets, layers.buildings, **common, min_zone_area=100)
    assert len(small.zones) >= len(default.zones)


# --------------------------------------------------------------- rebalance honours the rules


def _four_grids(households):
    """Four 100 m grids (A B over C D), six buildings in each."""
    grids = gpd.GeoDataFrame(
        {"grid_id": ["A", "B", "C", "D"]},
        geometry=[box(x, y, x + 100, y + 100) for y in (100, 0) for x in (0, 100)],
        crs=3857,
    )
    xy = [
        (x + dx, y + dy)
        for y in (100, 0)
        for x in (0, 100)
        for dx in (10, 41, 73)
        for dy in (12, 63)
    ]
    bld = gpd.GeoDataFrame(
        {"households": np.repeat(households, 6)},
        geometry=[box(x, y, x + 17, y + 23) for x, y in xy],
        crs=3857,
    )
    return grids, bld


def test_rebalance_balances_the_weight_rule():
    grids, bld = _four_grids([100, 50, 50, 50])
    bld["stalls"] = np.where(np.arange(24) < 6, 0, 50)  # A: more homes, others shops
    plain = gridgeo.rebalance(grids, bld, households_column="households", target=300)
    weighted = gridgeo.rebalance(
        grids, bld, households_column="households", weight="households + stalls", target=600
    )
    assert plain.figures["out_of_band_before"] == 1  # A: 600 households
    assert weighted.figures["out_of_band_before"] == 0  # 600 each: all in band
    assert (weighted.grids["status"] == "kept").all()
    assert weighted.grids["weight"].tolist() == [600.0] * 4
    assert weighted.grids["households"].sum() == bld["households"].sum()


def test_rebalance_keeps_grids_of_dedicated_zones():
    grids, bld = _four_grids([100, 50, 50, 50])
    campus = gpd.GeoDataFrame({"kind": ["school"]}, geometry=[box(-5, 95, 105, 205)], crs=3857)
    free = gridgeo.rebalance(grids, bld, households_column="households", target=300)
    kept = gridgeo.rebalance(
        grids, bld, households_column="households", target=300, dedicated=campus
    )
    assert free.grids.set_index("grid_id").loc["A", "status"] != "kept"
    assert kept.figures["exempt_grids"] == 1
    assert kept.grids.set_index("grid_id").loc["A", "status"] == "kept"
    assert kept.grids.geometry[0].equals(grids.geometry[0])


def test_rebalance_takes_a_total_like_partition():
    grids, bld = _four_grids([1, 1, 1, 1])
    r = gridgeo.rebalance(grids, bld.drop(columns="households"), total_households=1200)
    assert int(r.grids["households"].sum()) == 1200
    assert int(r.buildings["households"].sum()) == 1200
    with pytest.raises(InputError, match="give only one source of households"):
        gridgeo.rebalance(grids, bld, households_column="households", total_households=1200)
