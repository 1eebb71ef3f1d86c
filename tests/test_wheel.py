"""A built wheel carries the sample data: installed into a fresh virtual environment,
``gridgeo demo`` runs from it without the repository.

The default test installs the wheel alone (``--no-deps``) and lends the fresh
environment the test environment's dependencies through a ``.pth`` file, so that it
takes seconds; the slow one lets pip resolve every declared dependency (from the
configured index or wheel folder) into the fresh environment, as a user's
``pip install gridgeo`` does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ("helsinki.osm.pbf", "helsinki_population_2020.gpkg", "beijing_wangjing.osm", "README.md")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """gridgeo built as a wheel from the working tree."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (whl,) = out.glob("gridgeo-*.whl")
    return whl


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def _python(env_dir: Path) -> Path:
    return env_dir / "bin" / "python"


def _run_demo(env_dir: Path, cwd: Path) -> None:
    """Run the installed ``gridgeo demo`` outside the repository and check its outputs."""
    py = _python(env_dir)
    where = subprocess.run(
        [
            str(py),
            "-c",
            "import gridgeo, gridgeo.datasets as d; print(gridgeo.__file__); print(d.DATA_DIR)",
        ],
        cwd=cwd,
        env=_clean_env(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert all(Path(p).is_relative_to(env_dir) for p in where), where  # not the checkout
    for name in DATA:
        assert (Path(where[1]) / name).is_file(), name
    done = subprocess.run(
        [str(env_dir / "bin" / "gridgeo"), "-q", "demo", "--out", "demo"],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for place in ("helsinki", "beijing_wangjing"):
        summary = json.loads((cwd / "demo" / place / "summary.json").read_text())
        assert summary["n_grids"] > 5 and summary["households"] > 1000, summary
        assert (cwd / "demo" / place / "map.html").stat().st_size > 10_000


def test_wheel_holds_every_file_of_the_package(wheel):
    """Every file of the package in the checkout is in the wheel: modules, the sample
    data, the map's and the workbench's pages and scripts (a file left out of the
    package data breaks only an installed copy)."""
    import zipfile

    package = ROOT / "gridgeo"
    wanted = {
        p.relative_to(ROOT).as_posix()
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    shipped = set(zipfile.ZipFile(wheel).namelist())
    assert "gridgeo/workbench/static/index.html" in wanted
    assert not wanted - shipped, sorted(wanted - shipped)


def test_wheel_ships_the_data_and_runs_the_demo(wheel, tmp_path):
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=False)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(_python(env_dir)), "install", "-q"]
        + ["--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    # the dependencies of the test environment, behind the fresh one's own packages
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    (site / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run_demo(env_dir, tmp_path)


@pytest.mark.slow
def test_wheel_installs_with_its_dependencies(wheel, tmp_path):
    env_dir = tmp_path / "env"
    try:
        venv.create(env_dir, with_pip=True)
        subprocess.run(
            [str(_python(env_dir)), "-m", "pip", "install", "-q", str(wheel)],
            check=True,
            capture_output=True,
            timeout=900,
        )
        _run_demo(env_dir, tmp_path)
    finally:
        shutil.rmtree(env_dir, ignore_errors=True)  # 800 MB of dependencies
