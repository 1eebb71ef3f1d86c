"""Shared fixtures: real bundled data, read once per test session (per xdist worker)."""

from __future__ import annotations

import logging
import warnings

import pyogrio
import pytest
from _postgres import postgres_fixture  # noqa: F401 (the `postgres` fixture)

import gridgeo
from gridgeo import datasets


@pytest.fixture(scope="session")
def osm():
    """OSM layers of every bundled extract, read lazily and cached."""
    cache: dict[str, gridgeo.OSMLayers] = {}

    def get(name: str) -> gridgeo.OSMLayers:
        if name not in cache:
            cache[name] = gridgeo.read_osm(datasets.get_path(name))
        return cache[name]

    return get


@pytest.fixture(scope="session")
def kouvola_plan(osm):
    """Kouvola partitioned with the defaults, its grids coded (DB11/T 2157, 110105/001):
    ``layers``, ``plan`` and the coded ``grids``. Copy before changing."""
    from gridgeo.codes import assign_codes

    layers = osm("kouvola")
    plan = gridgeo.partition(layers.streets, layers.buildings)
    grids = plan.grids.copy()
    grids["code"] = assign_codes(grids, admin_code="110105", street_code="001")
    return {"layers": layers, "plan": plan, "grids": grids}


@pytest.fixture(scope="session")
def helsinki_population():
    return gridgeo.read_layer(datasets.get_path("helsinki_population"), name="population grid")


@pytest.fixture(scope="session")
def monaco_quarters():
    """The real quarters of Monaco (OSM admin_level=10) as community boundaries."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = pyogrio.read_dataframe(
            datasets.get_path("monaco"),
            layer="multipolygons",
            where="boundary = 'administrative' AND admin_level = '10'",
            on_invalid="ignore",
        )
    return b[["name", "geometry"]].reset_index(drop=True)


@pytest.fixture(autouse=True)
def _restore_logging():
    """gridgeo.cli.main() reconfigures the root logger (basicConfig(force=True)): put it back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(autouse=True)
def _quiet_logs(caplog):
    caplog.set_level(logging.WARNING, logger="gridgeo")
