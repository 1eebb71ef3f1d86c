"""Real gridgeo servers for the service tests: ``python -m gridgeo.service`` subprocesses
on free loopback ports with their own data directories. No traffic leaves 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from urllib.parse import urljoin

import httpx
import psutil

import gridgeo
from gridgeo.service.runner import worker_processes

TOKEN = "test-token-0123456789"
LOOPBACK = "127.0.0.1"
BUILDING_COLUMNS = ["osm_id", "building", "building_levels", "building_flats", "height"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def get(url: str, **kwargs) -> httpx.Response:
    """GET straight to the loopback server (no proxy from the environment)."""
    with httpx.Client(trust_env=False, timeout=10) as c:
        return c.get(url, **kwargs)


class Server:
    """``python -m gridgeo.service`` in a subprocess on a free loopback port."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.args = args
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.log = None

    def start(self) -> Server:
        port = free_port()
        self.url = f"http://{LOOPBACK}:{port}"
        cmd = [sys.executable, "-m", "gridgeo.service", "--host", LOOPBACK, "--port", str(port)]
        cmd += ["--data-dir", str(self.data_dir), *self.args]
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(self.data_dir.parent / f"server-{port}.log", "wb")  # noqa: SIM115
        env = {**os.environ, **(self.env or {})}
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        return self

    def wait(self, timeout: float = 90) -> Server:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_text()}")
            try:
                if get(self.url + "/health").status_code in (200, 503):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not start: {self.log_text()}")

    def log_text(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-5000:]

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server: SIGTERM (in order) or SIGKILL (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.log is not None:
            self.log.close()

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, headers=headers, trust_env=False)

    def job_processes(self) -> list[psutil.Process]:
        """The server's job processes (children of its fork server)."""
        return worker_processes(self.proc.pid)[1]


# ------------------------------------------------------------------------------ data


def kouvola() -> gridgeo.OSMLayers:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gridgeo.read_osm(gridgeo.datasets.get_path("kouvola"))


def fc(gdf, columns) -> dict:
    """A GeoJSON FeatureCollection (dict) of ``columns`` of a layer."""
    return json.loads(gdf[[*columns, "geometry"]].to_json(drop_id=True))


def tiny_body(layers: gridgeo.OSMLayers) -> dict:
    """A real job that takes a fraction of a second: the few streets and buildings of
    central Kouvola within about 130 m of its middle, one grid."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        middle = layers.streets.geometry.union_all().centroid
        streets = layers.streets[layers.streets.distance(middle) < 0.0012]
        buildings = layers.buildings[layers.buildings.distance(middle) < 0.0012]
    return {
        "streets": fc(streets, ["highway"]),
        "buildings": fc(buildings, BUILDING_COLUMNS),
        "options": {"target": 1000, "map": False},
    }


def long_body() -> dict:
    """A real job of several seconds (about 8 on an idle machine): all of Monaco in grids
    of 100 households. Long enough that the runner's limits, kills and restarts always
    catch it running, however fast the machine."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layers = gridgeo.read_osm(gridgeo.datasets.get_path("monaco"))
    columns = [c for c in BUILDING_COLUMNS if c in layers.buildings]
    return {
        "streets": fc(layers.streets, ["highway"]),
        "buildings": fc(layers.buildings, columns),
        "options": {"target": 100, "map": False},
    }


# ------------------------------------------------------------------------------ jobs


def submit(client: httpx.Client, path: str, **kwargs) -> dict:
    r = client.post(path, **kwargs)
    assert r.status_code == 202, r.text
    job = r.json()
    # the Location header is relative to the request: it resolves to the job
    assert urljoin(str(r.url), r.headers["location"]).endswith(f"/jobs/{job['id']}")
    return job


def wait_job(client: httpx.Client, job_id: str, timeout: float = 180) -> dict:
    end = time.monotonic() + timeout
    job = None
    while time.monotonic() < end:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert 0 <= job["progress"] <= 1
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def wait_running(client: httpx.Client, job_id: str, timeout: float = 60) -> dict:
    end = time.monotonic() + timeout
    job = None
    while time.monotonic() < end:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] == "running" and job["progress"] >= 0.05:  # inputs read
            return job
        assert job["status"] in ("queued", "running"), job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not start: {job}")


class PeakRSS(threading.Thread):
    """Peak resident memory of one process, sampled every few milliseconds."""

    def __init__(self, pid: int, every: float = 0.003) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.every = every
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(self.every)

    def __enter__(self) -> PeakRSS:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.join()

    @property
    def growth(self) -> int:
        return self.peak - self.base
