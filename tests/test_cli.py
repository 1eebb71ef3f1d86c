"""Tests of the ``gridgeo`` command: error messages, exit codes and written outputs."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest

import gridgeo
from gridgeo import datasets
from gridgeo.cli import main

OPTIONS = [
    "--osm",
    "--streets",
    "--buildings",
    "--households-column",
    "--population",
    "--population-column",
    "--total-households",
    "--boundaries",
    "--boundary-id",
    "--target",
    "--tolerance",
    "--crs",
    "--random-state",
    "--out",
]


@pytest.fixture(scope="module")
def kouvola(osm):
    """The bundled Kouvola extract (read once per session by conftest's ``osm``)."""
    return osm("kouvola")


@pytest.fixture(scope="module")
def files(kouvola, tmp_path_factory) -> dict[str, Path]:
    """Input files built from the Kouvola extract."""
    d = tmp_path_factory.mktemp("inputs")
    streets, buildings = kouvola.streets, kouvola.buildings
    paths = {
        "streets": d / "s.gpkg",
        "buildings": d / "b.gpkg",
        "negative": d / "negative.gpkg",
        "empty": d / "empty.gpkg",
        "nocrs_shp": d / "nocrs.shp",
        "nocrs_parquet": d / "nocrs.parquet",
        "garbage": d / "x.gpkg",
    }
    streets.to_file(paths["streets"], engine="pyogrio")
    buildings.assign(hh=3).to_file(paths["buildings"], engine="pyogrio")
    hh = np.full(len(buildings), 3)
    hh[5] = -2
    buildings.assign(hh=hh).to_file(paths["negative"], engine="pyogrio")
    streets.iloc[:0].to_file(paths["empty"], engine="pyogrio")
    no_crs = streets[["highway", "geometry"]].set_crs(None, allow_override=True)
    with pytest.warns(UserWarning, match="crs"):
        no_crs.to_file(paths["nocrs_shp"], engine="pyogrio")
    assert not paths["nocrs_shp"].with_suffix(".prj").exists()
    no_crs.to_parquet(paths["nocrs_parquet"])
    paths["garbage"].write_bytes(np.random.default_rng(0).bytes(4096))
    return paths


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("gridgeo: error:")]
    assert len(lines) == 1, err
    return lines[0]


# ------------------------------------------------------------------------------ errors


def _cases(f: dict[str, Path]) -> dict[str, tuple[list, list[str]]]:
    s, b = ["--streets", f["streets"]], ["--buildings", f["buildings"]]
    return {
        "missing file": (
            ["--streets", f["streets"].parent / "nope.gpkg"],
            ["file not found", "nope.gpkg"],
        ),
        "unreadable file": (["--streets", f["garbage"]], ["cannot read", "x.gpkg", "GeoPackage"]),
        "no CRS (shapefile)": (["--streets", f["nocrs_shp"]], ["no CRS", "set_crs"]),
        "no CRS (geoparquet)": (["--streets", f["nocrs_parquet"]], ["no CRS", "set_crs"]),
        "empty streets": (
            ["--streets", f["empty"], "--total-households", 100],
            ["streets layer is empty"],
        ),
        "negative households": (
            [*s, "--buildings", f["negative"], "--households-column", "hh"],
            ["'hh'", "negative", "0 or more"],
        ),
        "missing column": (
            [*s, *b, "--households-column", "flats"],
            ["no column 'flats'", "available columns", "building_levels", "hh"],
        ),
        "tolerance": ([*s, *b, "--tolerance", 1.5], ["tolerance", "between 0 and 1", "1.5"]),
        "negative target": ([*s, *b, "--target", -3], ["target", "positive", "-3"]),
        "geographic crs": ([*s, *b, "--crs", 4326], ["geographic", "EPSG:4326", "projected"]),
        "no inputs": ([], ["give exactly one input", "--osm", "--streets"]),
        "osm and streets": (
            ["--osm", datasets.get_path("kouvola"), *s],
            ["give exactly one input"],
        ),
        "buildings without streets": (
            ["--buildings", f["buildings"]],
            ["give exactly one input", "--streets FILE (with optional --buildings FILE)"],
        ),
        "households column without buildings": (
            [*s, "--households-column", "hh"],
            ["households_column needs a buildings layer", "--buildings"],
        ),
        "osm and buildings": (
            ["--osm", datasets.get_path("kouvola"), *b],
            ["--buildings goes with --streets"],
        ),
    }


CASES = [
    "missing file",
    "unreadable file",
    "no CRS (shapefile)",
    "no CRS (geoparquet)",
    "empty streets",
    "negative households",
    "missing column",
    "tolerance",
    "negative target",
    "geographic crs",
    "no inputs",
    "osm and streets",
    "buildings without streets",
    "households column without buildings",
    "osm and buildings",
]


@pytest.mark.parametrize("case", CASES)
def test_errors_exit_2_with_one_line(case, files, capsys, tmp_path):
    args, hints = _cases(files)[case]
    code, out, err = run(["partition", *args, "--out", tmp_path / "out"], capsys)
    assert code == 2
    line = error_line(err)
    for hint in hints:
        assert hint in line, (hint, line)
    assert not (tmp_path / "out").exists()  # nothing written
    assert out == ""


def test_the_geographic_crs_error_is_a_crs_error(files):
    layers = [gpd.read_file(files[k]) for k in ("streets", "buildings")]
    with pytest.raises(gridgeo.CRSError):
        gridgeo.partition(*layers, crs=4326)


@pytest.mark.parametrize("case", ["unreadable file", "negative households"])
def test_subprocess_exit_code_and_no_traceback(case, files, tmp_path):
    args, hints = _cases(files)[case]
    argv = ["partition", *(str(a) for a in args), "--out", str(tmp_path / "out")]
    proc = subprocess.run(
        [sys.executable, "-m", "gridgeo.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    line = error_line(proc.stderr)
    assert all(h in line for h in hints), line
    assert proc.stdout == ""


def test_no_command_prints_help_and_exits_2(capsys):
    code, out, _ = run([], capsys)
    assert code == 2
    assert "partition" in out


# ---------------------------------------------------------------------------------- help


def test_partition_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["partition", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in OPTIONS:
        assert option in out, option
    assert "grids.gpkg" in out and "summary.json" in out


# ------------------------------------------------------------------------------- success


@pytest.fixture(scope="module")
def kouvola_run(files, kouvola, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("kouvola_out")
    argv = [
        "partition",
        "--streets",
        files["streets"],
        "--buildings",
        files["buildings"],
        "--households-column",
        "hh",
        "--target",
        300,
        "--out",
        out_dir,
    ]
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main([str(a) for a in argv])
    root.handlers[:] = handlers
    root.setLevel(level)
    return code, stdout.getvalue(), stderr.getvalue(), out_dir, len(kouvola.buildings)


def test_partition_exits_0(kouvola_run):
    code, _, err, _, _ = kouvola_run
    assert code == 0, err
    assert "error" not in err


def test_partition_writes_the_outputs(kouvola_run):
    _, _, _, out_dir, n_buildings = kouvola_run
    for name in ("grids.gpkg", "grids.geojson", "summary.json", "map.html"):
        assert (out_dir / name).is_file(), name
    layers = {name for name, _ in pyogrio.list_layers(out_dir / "grids.gpkg")}
    assert layers == {"grids", "buildings"}
    grids = gpd.read_file(out_dir / "grids.gpkg", layer="grids")
    buildings = gpd.read_file(out_dir / "grids.gpkg", layer="buildings")
    assert len(buildings) == n_buildings
    assert (buildings["households"] == 3).all()
    assert buildings["grid_id"].notna().all()
    assert set(buildings["grid_id"]) == set(grids["grid_id"])
    assert grids["households"].sum() == 3 * n_buildings
    geojson = gpd.read_file(out_dir / "grids.geojson")
    assert geojson.crs.to_epsg() == 4326
    assert len(geojson) == len(grids)
    assert "<html" in (out_dir / "map.html").read_text(encoding="utf-8")[:1000].lower()


def test_partition_summary_json(kouvola_run):
    _, _, _, out_dir, n_buildings = kouvola_run
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    keys = ["target", "n_grids", "households", "min", "median", "max"]
    keys += ["within_10pct", "within_20pct", "seconds"]
    assert set(keys) <= set(summary)
    assert summary["target"] == 300
    assert summary["households"] == 3 * n_buildings
    assert summary["n_grids"] > 1
    assert summary["min"] <= summary["median"] <= summary["max"]
    assert 0 <= summary["within_10pct"] <= summary["within_20pct"] <= 1
    assert summary["seconds"] >= 0


def test_partition_prints_the_summary(kouvola_run):
    _, out, _, out_dir, n_buildings = kouvola_run
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    lines = out.strip().splitlines()
    # the plain-language summary, then the files written
    expected = (
        f"{summary['n_grids']} grids cover {3 * n_buildings} households in {n_buildings} buildings"
    )
    assert lines[0].startswith(expected), lines[0]
    assert "Target 300 households per grid" in lines[0]
    assert [ln.split()[0] for ln in lines[1:]] == ["gpkg", "geojson", "summary", "staffing", "map"]
    assert lines[-1].endswith("map.html")


def test_streets_only_with_a_total(files, capsys, tmp_path):
    out_dir = tmp_path / "plan"
    argv = ["partition", "--streets", files["streets"], "--total-households", 5000]
    code, out, err = run([*argv, "--no-map", "--out", out_dir], capsys)
    assert code == 0, err
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["households"] == 5000
    grids = gpd.read_file(out_dir / "grids.gpkg", layer="grids")
    assert grids["households"].sum() == 5000
    assert [n for n, _ in pyogrio.list_layers(out_dir / "grids.gpkg")] == ["grids"]
    assert not (out_dir / "map.html").exists()
    assert "grids cover 5000 households" in out
