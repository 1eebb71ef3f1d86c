"""Tests of ``gridgeo coverage`` through a parser built from ``add_parser``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

import gridgeo
from gridgeo import datasets
from gridgeo.cli.coverage import add_parser, run

FIXTURES = Path(__file__).parent / "fixtures" / "audit"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gridgeo")
    add_parser(p.add_subparsers(dest="command"))
    return p


def cli(argv: list, capsys) -> tuple[int, str]:
    args = parser().parse_args(["coverage", *(str(a) for a in argv)])
    assert args.run is run  # set_defaults: main may dispatch with args.run(args)
    code = run(args)
    return code, capsys.readouterr().out


@pytest.fixture(scope="module")
def plan(osm):
    layers = osm("kouvola")
    return gridgeo.partition(layers.streets, layers.buildings, target=300)


@pytest.fixture(scope="module")
def files(plan, osm, tmp_path_factory) -> dict[str, Path]:
    """A damaged plan (first grid removed) and its inputs as files."""
    d = tmp_path_factory.mktemp("coverage_inputs")
    paths = {k: d / f"{k}.gpkg" for k in ("grids", "buildings", "streets", "area")}
    grids = plan.grids.iloc[1:].assign(grid_type="residential")
    grids[["grid_id", "grid_type", "geometry"]].to_file(paths["grids"], engine="pyogrio")
    b = plan.buildings[["osm_id", "building", "households", "geometry"]]
    b.to_file(paths["buildings"], engine="pyogrio")
    osm("kouvola").streets.to_file(paths["streets"], engine="pyogrio")
    area = gpd.GeoDataFrame({"name": ["Kouvola"]}, geometry=[plan.study_area], crs=plan.crs)
    area.to_file(paths["area"], engine="pyogrio")
    # a register exported from Excel in GB18030 with Chinese headers; one building twice
    reg = pd.DataFrame({"osm_id": b["osm_id"], "网格编号": plan.buildings["grid_id"]})
    reg = pd.concat([reg, reg.iloc[[7]].assign(网格编号="G9999")], ignore_index=True)
    paths["register"] = d / "register.csv"
    reg.to_csv(paths["register"], index=False, encoding="gb18030")
    return paths


def test_osm_file_and_outputs(plan, files, tmp_path, capsys):
    out = tmp_path / "audit"
    code, text = cli(
        ["--grids", files["grids"], "--osm", datasets.get_path("kouvola"), "--out", out], capsys
    )
    assert code == 0
    for name in ("coverage.gpkg", "coverage.json", "coverage_findings.csv", "coverage.html"):
        assert (out / name).is_file()
        assert str(out / name) in text
    lost = plan.buildings[plan.buildings.grid_id == plan.grids.grid_id.iloc[0]]
    figures = json.loads((out / "coverage.json").read_text(encoding="utf-8"))
    assert figures["uncovered_buildings"] == len(lost)
    assert figures["uncovered_households"] == int(lost["households"].sum())
    assert f"{len(lost):,} buildings ({int(lost['households'].sum()):,} households)" in text
    assert "Street front:" in text


def test_files_register_and_chinese(files, tmp_path, capsys):
    out = tmp_path / "zh"
    argv = [
        "--grids", files["grids"], "--grid-type", "grid_type",
        "--buildings", files["buildings"], "--households-column", "households",
        "--streets", files["streets"], "--boundaries", files["area"], "--boundary-id", "name",
        "--register", files["register"], "--lang", "zh", "--no-map", "--out", out,
    ]  # fmt: skip
    code, text = cli(argv, capsys)
    assert code == 0
    assert "重复登记：1 栋楼/地址登记在两个以上网格" in text
    assert "核查" in text
    assert not (out / "coverage.html").exists()
    table = pd.read_csv(out / "coverage_findings.csv", encoding="utf-8-sig")
    assert (table["类型 Type"] == "重复登记 Registered in two grids").sum() == 1
    assert table["说明 Description"].str.contains("未覆盖|不在任何网格|登记").any()
    load = gpd.read_file(out / "coverage.gpkg", layer="grid_load")
    assert (load["community_id"] == "Kouvola").all()


def test_without_streets_says_so(files, tmp_path, capsys):
    code, text = cli(
        ["--grids", files["grids"], "--buildings", files["buildings"], "--out", tmp_path], capsys
    )
    assert code == 0
    assert "No streets given" in text


def test_register_fixture_with_chinese_columns(files, tmp_path, capsys):
    """A hand-written UTF-8 register keyed by 楼栋编号 (the fixture file)."""
    path = FIXTURES / "register_utf8.csv"
    reg = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    assert reg.columns.tolist() == ["楼栋编号", "网格编号", "地址"]
    argv = [
        "--grids", files["grids"], "--buildings", files["buildings"], "--households-column", "households",
        "--register", path, "--register-key", "楼栋编号", "--out", tmp_path, "--no-map",
    ]  # fmt: skip
    code, _ = cli(argv, capsys)
    assert code == 0
    figures = json.loads((tmp_path / "coverage.json").read_text(encoding="utf-8"))
    assert figures["register_entries"] == 4
    assert figures["double_counted"] == 1  # 楼栋 way/1 in two grids
    assert figures["register_unmatched_keys"] == 2  # made-up ids


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        parser().parse_args(["coverage", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--grids", "--grids-layer", "--buildings", "--streets", "--pois", "--osm", "--boundaries",
        "--boundary-id", "--households-column", "--register", "--target", "--tolerance",
        "--lang", "--out", "--grid-id", "--grid-type", "--frontage-depth",
    ):  # fmt: skip
        assert option in text


def test_grids_required(capsys):
    with pytest.raises(SystemExit) as exc:
        parser().parse_args(["coverage", "--osm", "x.osm"])
    assert exc.value.code == 2
    assert "--grids" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "error", "words"),
    [
        (
            ["--grids", "nope.gpkg", "--buildings", "{buildings}"],
            gridgeo.ReadError,
            ["file not found", "nope.gpkg"],
        ),
        (["--grids", "{grids}"], gridgeo.InputError, ["--buildings FILE"]),
        (
            ["--grids", "{grids}", "--buildings", "{buildings}", "--grid-id", "code"],
            gridgeo.MissingColumnError,
            ["no column 'code'", "grid_type"],
        ),
        (
            [
                "--grids",
                "{grids}",
                "--buildings",
                "{buildings}",
                "--register",
                "{register}",
                "--register-grid",
                "grid",
            ],
            gridgeo.InputError,
            ["register has no column 'grid'", "网格编号"],
        ),
        (
            ["--grids", "{grids}", "--buildings", "{buildings}", "--register", "missing.csv"],
            gridgeo.ReadError,
            ["register file not found"],
        ),
        (
            ["--grids", "{grids}", "--buildings", "{buildings}", "--target", "0"],
            gridgeo.InputError,
            ["target"],
        ),
    ],
)
def test_errors(files, tmp_path, capsys, argv, error, words):
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in argv]
    with pytest.raises(error) as exc:
        cli([*argv, "--out", tmp_path], capsys)
    message = str(exc.value)
    assert "\n" not in message
    for w in words:
        assert w in message


def test_wired_into_main(files, tmp_path, capsys):
    """``gridgeo coverage`` runs through the CLI's main and its error handling."""
    import logging

    from gridgeo import cli as cli_module

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        try:  # argparse itself may reject the call (exit 2 with a usage line)
            code = cli_module.main(
                ["coverage", "--grids", str(files["grids"]), "--out", str(tmp_path)]
            )
        except SystemExit as exit_:
            code = exit_.code
        assert code == 2
        err = capsys.readouterr().err
        assert "gridgeo: error:" in err, err  # the CLI's own one-line error, not argparse's
        assert "invalid choice" not in err
        assert "Traceback" not in err
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
