"""The faces of the Dask run: ``gridgeo partition --workers/--scheduler`` and the
service's ``--scheduler`` (partition jobs drawn tile by tile on the cluster).

Real data: Kouvola, 4 tiles. Errors are one line with exit status 2.
"""

from __future__ import annotations

import json

import distributed  # noqa: F401  (the test extra installs it: a missing one must fail)
import pytest
from distributed import Client, LocalCluster

import gridgeo
from gridgeo import datasets
from gridgeo import distributed as gd
from gridgeo.cli import main
from gridgeo.distributed import _client as client_mod
from gridgeo.service import worker
from gridgeo.service.config import SCHEDULER_ENV, ServiceConfig

KOUVOLA = str(datasets.get_path("kouvola"))


def test_cli_workers_draws_tile_by_tile(tmp_path, capsys):
    """Tile by tile on 2 workers: the same households and buildings as one process
    (every building in the tile holding most of it, as the pipeline counts it)."""
    args = ["-q", "partition", "--osm", KOUVOLA, "--no-dedicated", "--no-map"]
    summaries = []
    for name, extra in (("one", []), ("tiles", ["--workers", "2", "--tile-streets", "100"])):
        assert main([*args, *extra, "--out", str(tmp_path / name)]) == 0, capsys.readouterr().err
        summaries.append(json.loads((tmp_path / name / "summary.json").read_text("utf-8")))
    one, tiles = summaries
    assert tiles["households"] == one["households"] > 8000
    assert tiles["buildings"] == one["buildings"]
    assert tiles["within_10pct"] >= 0.9 and tiles["n_grids"] >= 0.9 * one["n_grids"]


def test_cli_execution_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(client_mod, "CONNECT_TIMEOUT", "1s")
    args = ["partition", "--osm", KOUVOLA, "--out", str(tmp_path / "o")]
    assert main([*args, "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gridgeo: error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'")
    assert "\n" not in err
    assert main([*args, "--scheduler", "tcp://127.0.0.1:9", "--workers", "2"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main([*args, "--tile-streets", "100"]) == 2
    assert "--tile-streets goes with" in capsys.readouterr().err
    assert main([*args, "--workers", "0"]) == 2
    assert "--workers must be 1 or more" in capsys.readouterr().err


def test_cli_without_dask_says_which_extra(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)
    rc = main(["partition", "--osm", KOUVOLA, "--workers", "1", "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "pip install 'gridgeo[dask]'" in capsys.readouterr().err


def test_service_partition_job_runs_on_the_scheduler(tmp_path, monkeypatch, osm):
    """``gridgeo serve --scheduler`` hands the address to the job processes, whose
    partition jobs then draw tile by tile on that cluster."""
    layers = osm("kouvola")
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            protocol="tcp",
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        Client(cluster) as client,
    ):
        monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)
        with distributed.get_task_stream(client) as ts:
            worker._run_partition(
                {"streets": layers.streets, "buildings": layers.buildings},
                {"target": 300, "random_state": 0, "lang": "en", "map": False},
                tmp_path,
                lambda *_: None,
            )
        assert sum("gridgeo-tiles" in str(t.get("key")) for t in ts.data) >= 1
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    whole = gridgeo.partition(layers.streets, layers.buildings, target=300).summary()
    assert summary["households"] == whole["households"] > 9000
    with pytest.raises(Exception, match="Dask scheduler address"):
        ServiceConfig(data_dir=tmp_path, scheduler="127.0.0.1:8786").check()
    assert ServiceConfig(data_dir=tmp_path, scheduler="tcp://127.0.0.1:8786").check()


def test_check_scheduler_reaches_a_running_one():
    with LocalCluster(
        n_workers=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        gd.check_scheduler(cluster.scheduler_address)  # no error
