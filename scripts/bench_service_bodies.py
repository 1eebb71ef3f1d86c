"""What large request bodies cost the gridgeo service: memory, and /health meanwhile.

Usage::

    python scripts/bench_service_bodies.py                 # bodies of about 5 and 19 MiB
    python scripts/bench_service_bodies.py --copies 4 24

Starts ``python -m gridgeo.service`` with an API token on a free loopback port, builds
real GeoJSON bodies (Kouvola's streets, and its buildings repeated ``--copies`` times),
and for each body sends it three times without the token and once with it, while
another client polls ``GET /health`` every 20 ms. Prints, per body: its size, the
server's peak resident memory above its level before the request (sampled every 3 ms)
as MiB and as a multiple of the body, and the /health latencies (p50, max). Only
127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import httpx
import psutil

import gridgeo

MiB = 1024 * 1024
TOKEN = "bench-token-0123456789"


class Peak(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.base = self.peak = self.proc.memory_info().rss
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.003)


def _measure(url: str, pid: int, raw: bytes, token: str | None) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        with httpx.Client(trust_env=False, timeout=30) as c:
            while not stop.is_set():
                t0 = time.perf_counter()
                c.get(url + "/health")
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.02)

    headers = {"content-type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    poller = threading.Thread(target=poll)
    peak = Peak(pid)
    peak.start()
    poller.start()
    try:
        with httpx.Client(trust_env=False, timeout=300) as c:
            r = c.post(url + "/jobs/partition", content=raw, headers=headers)
    finally:
        stop.set()
        poller.join()
        peak.done.set()
        peak.join()
    return (peak.peak - peak.base) / MiB, latencies, r.status_code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--copies", type=int, nargs="+", default=[6, 24], help="copies of the buildings"
    )
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layers = gridgeo.read_osm(gridgeo.datasets.get_path("kouvola"))
    streets = json.loads(layers.streets[["highway", "geometry"]].to_json(drop_id=True))
    cols = ["osm_id", "building", "building_levels", "building_flats", "height", "geometry"]
    buildings = json.loads(layers.buildings[cols].to_json(drop_id=True))["features"]
    with tempfile.TemporaryDirectory(prefix="gridgeo-bodies-") as tmp:
        port = _port()
        url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "gridgeo.service", "--port", str(port)]
        cmd += ["--data-dir", str(Path(tmp) / "data"), "--max-upload-mb", "200"]
        env = {**os.environ, "GRIDGEO_TOKEN": TOKEN}
        server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            for _ in range(600):
                try:
                    httpx.get(url + "/health", timeout=2, trust_env=False)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            print("| body | token | answer | server memory above before | /health p50, max |")
            print("|---|---|---|---|---|")
            for copies in args.copies:
                body = {
                    "streets": streets,
                    "buildings": {"type": "FeatureCollection", "features": buildings * copies},
                    "options": {"map": False, "target": 1_000_000},
                }
                raw = json.dumps(body).encode()
                size = len(raw) / MiB
                for token in (None, None, None, TOKEN):
                    grown, lat, status = _measure(url, server.pid, raw, token)
                    p50 = statistics.median(lat) * 1000 if lat else float("nan")
                    top = max(lat) * 1000 if lat else float("nan")
                    print(
                        f"| {size:.1f} MiB | {'yes' if token else 'no'} | {status} | "
                        f"{grown:.1f} MiB ({grown / size:.2f}×) | {p50:.0f} ms, {top:.0f} ms |"
                    )
        finally:
            server.terminate()
            server.wait(timeout=30)
    return 0


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
