"""Load test of the gridgeo HTTP service: many concurrent requests on 127.0.0.1.

Usage::

    python scripts/load_service.py                       # starts its own server
    python scripts/load_service.py --requests 600 --concurrency 80 --jobs 12
    python scripts/load_service.py --url http://127.0.0.1:8765 --token T

Starts ``python -m gridgeo.service`` on a free loopback port with a temporary data
directory (or uses ``--url``, which must be a loopback address), then keeps
``--concurrency`` requests in flight at once until ``--requests`` have been sent: job
submissions (the real Kouvola extract as GeoJSON), status polls, job lists, result
downloads, the schema, and invalid requests that must get their 4xx. Bounded in count
and in time (``--time-limit``). Prints the failures (transport errors, 5xx, or any
status other than the expected ones), latencies, the peak number of requests in flight
and the peak resident memory of the server (with its child processes), sampled every
0.1 s. Exits 1 when a request failed or a job did not succeed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

import gridgeo
from gridgeo.service import is_loopback


@dataclass
class Stats:
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RSSSampler(threading.Thread):
    """Peak resident memory of a process and its children, sampled every 0.1 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in procs if p.is_running())
                self.peak = max(self.peak, rss)
            except psutil.Error:
                pass
            self.stop.wait(0.1)


def _body(layers: gridgeo.OSMLayers, i: int) -> dict:
    cols = ["osm_id", "building", "building_levels", "building_flats", "height"]
    return {
        "streets": json.loads(layers.streets[["highway", "geometry"]].to_json(drop_id=True)),
        "buildings": json.loads(layers.buildings.iloc[i % 3 :: 3][[*cols, "geometry"]].to_json()),
        "options": {"random_state": i, "map": i % 2 == 0},
    }


async def _call(
    client: httpx.AsyncClient,
    stats: Stats,
    kind: str,
    method: str,
    url: str,
    expect: set[int],
    **kwargs,
) -> httpx.Response | None:
    stats.sent += 1
    stats.by_kind[kind] = stats.by_kind.get(kind, 0) + 1
    stats.in_flight += 1
    stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
    t0 = time.perf_counter()
    try:
        r = await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        stats.failures.append(f"{kind} {method} {url}: {type(exc).__name__}: {exc}")
        return None
    finally:
        stats.in_flight -= 1
        stats.latencies.append(time.perf_counter() - t0)
    if r.status_code not in expect:
        stats.failures.append(f"{kind} {method} {url}: {r.status_code} {r.text[:200]}")
    return r


async def _run(args: argparse.Namespace, url: str, headers: dict[str, str]) -> tuple[Stats, dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layers = gridgeo.read_osm(gridgeo.datasets.get_path("kouvola"))
    bodies = [_body(layers, i) for i in range(min(args.jobs, 3))]
    stats = Stats()
    job_ids: list[str] = []
    rng = random.Random(0)
    deadline = time.monotonic() + args.time_limit
    limits = httpx.Limits(
        max_connections=args.concurrency,
        max_keepalive_connections=args.concurrency,
        keepalive_expiry=15,
    )
    timeout = httpx.Timeout(120.0)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=timeout, trust_env=False
    ) as client:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(args.requests):
            queue.put_nowait(i)
        submitted = 0
        start = asyncio.Event()
        ready = 0

        async def one(i: int) -> None:
            nonlocal submitted
            if submitted < args.jobs and i % max(1, args.requests // args.jobs) == 0:
                submitted += 1
                r = await _call(
                    client,
                    stats,
                    "submit",
                    "POST",
                    "/jobs/partition",
                    {202},
                    json=bodies[submitted % len(bodies)],
                )
                if r is not None and r.status_code == 202:
                    job_ids.append(r.json()["id"])
                return
            pick = rng.random()
            if job_ids and pick < 0.35:
                await _call(client, stats, "status", "GET", f"/jobs/{rng.choice(job_ids)}", {200})
            elif job_ids and pick < 0.5:
                name = rng.choice(["geojson", "summary", "gpkg"])
                await _call(
                    client,
                    stats,
                    "result",
                    "GET",
                    f"/jobs/{rng.choice(job_ids)}/results/{name}",
                    {200, 409},
                )
            elif pick < 0.65:
                await _call(client, stats, "list", "GET", "/jobs", {200}, params={"limit": 20})
            elif pick < 0.75:
                await _call(client, stats, "health", "GET", "/health", {200})
            elif pick < 0.82:
                await _call(client, stats, "schema", "GET", "/openapi.json", {200})
            elif pick < 0.9:
                await _call(
                    client,
                    stats,
                    "invalid",
                    "POST",
                    "/jobs/partition",
                    {422},
                    json={"streets": {"type": "FeatureCollection", "features": "no"}},
                )
            else:
                await _call(client, stats, "unknown", "GET", f"/jobs/{'0' * 32}", {404})

        async def worker() -> None:
            nonlocal ready
            ready += 1
            if ready == args.concurrency:
                start.set()
            await start.wait()  # all workers go at once: the first wave is fully concurrent
            while time.monotonic() < deadline:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await one(i)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - t0
        # the jobs: wait (bounded) until they end
        outcomes: dict[str, int] = {}
        pending = list(job_ids)
        while pending and time.monotonic() < deadline:
            still = []
            for job_id in pending:
                r = await _call(client, stats, "status", "GET", f"/jobs/{job_id}", {200})
                status = r.json()["status"] if r is not None and r.status_code == 200 else "error"
                if status in ("queued", "running"):
                    still.append(job_id)
                else:
                    outcomes[status] = outcomes.get(status, 0) + 1
            pending = still
            if pending:
                await asyncio.sleep(0.5)
        if pending:
            outcomes["unfinished"] = len(pending)
    return stats, {"outcomes": outcomes, "elapsed": elapsed, "jobs": len(job_ids)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server on loopback (default: start one)")
    parser.add_argument("--token", help="API token of --url")
    parser.add_argument("--requests", type=int, default=400, help="requests to send (default 400)")
    parser.add_argument(
        "--concurrency", type=int, default=64, help="in flight at once (default 64)"
    )
    parser.add_argument("--jobs", type=int, default=8, help="partition jobs among them (default 8)")
    parser.add_argument(
        "--time-limit", type=float, default=600, help="seconds at most (default 600)"
    )
    args = parser.parse_args()
    if not 1 <= args.requests <= 100_000 or not 1 <= args.concurrency <= 1000:
        parser.error("--requests must be 1…100000 and --concurrency 1…1000")
    if args.jobs > args.requests:
        parser.error("--jobs cannot exceed --requests")

    server = None
    tmp = None
    if args.url:
        host = urlsplit(args.url).hostname or ""
        if not is_loopback(host):
            parser.error(f"--url must be a loopback address (127.0.0.1, localhost), got {host!r}")
        url = args.url.rstrip("/")
        pid = None
    else:
        tmp = tempfile.TemporaryDirectory(prefix="gridgeo-load-")
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log = open(Path(tmp.name) / "server.log", "wb")  # noqa: SIM115
        cmd = [sys.executable, "-m", "gridgeo.service", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--data-dir", str(Path(tmp.name) / "data"), "--max-queue", str(args.jobs + 16)]
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        pid = server.pid
        for _ in range(300):
            try:
                if httpx.get(url + "/health", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            print("the server did not start", file=sys.stderr)
            server.kill()
            return 1
    sampler = None
    if pid is not None:
        sampler = RSSSampler(pid)
        sampler.start()
        idle_rss = psutil.Process(pid).memory_info().rss
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    print(
        f"load test of {url}: {args.requests} requests, {args.concurrency} in flight, {args.jobs} jobs"
    )
    print(f"load average before: {os.getloadavg()}")
    try:
        stats, info = asyncio.run(_run(args, url, headers))
    finally:
        if sampler is not None:
            sampler.stop.set()
            sampler.join()
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        if tmp is not None:
            text = (Path(tmp.name) / "server.log").read_text(errors="replace")
            errors = [ln for ln in text.splitlines() if "Error" in ln or "Traceback" in ln]
            if errors:
                print("server log, errors:", *errors[-20:], sep="\n  ")
            tmp.cleanup()
    lat = sorted(stats.latencies)
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000  # noqa: E731
    print(
        f"requests sent: {stats.sent} in {info['elapsed']:.1f} s (+ polling until the jobs ended)"
    )
    print(f"by kind: {json.dumps(stats.by_kind, sort_keys=True)}")
    print(f"peak in flight: {stats.peak_in_flight}")
    print(f"latency ms: p50 {q(0.5):.0f}, p95 {q(0.95):.0f}, max {lat[-1] * 1000:.0f}")
    print(f"jobs: {info['jobs']} submitted, outcomes {info['outcomes']}")
    if sampler is not None:
        print(
            f"server memory: idle {idle_rss / 2**20:.0f} MiB, peak RSS {sampler.peak / 2**20:.0f} MiB"
        )
    print(f"failures: {len(stats.failures)}")
    for line in stats.failures[:20]:
        print("  " + line)
    print(f"load average after: {os.getloadavg()}")
    ok = not stats.failures and info["outcomes"].get("succeeded", 0) == info["jobs"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
