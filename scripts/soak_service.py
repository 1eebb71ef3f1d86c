"""Soak test of the gridgeo HTTP service: many small jobs, killed job processes, a restart.

Usage::

    python scripts/soak_service.py                        # 1,000 jobs, 5 kills, 1 crash
    python scripts/soak_service.py --jobs 200 --kills 2 --workers 1 --restart stop

Starts ``python -m gridgeo.service`` on a free loopback port with a temporary data
directory, then submits ``--jobs`` small real partition jobs (a few streets and buildings
of the bundled Kouvola extract, each a fraction of a second) in random bursts. Meanwhile
it kills ``--kills`` job processes at random moments (SIGKILL), restarts the server once
(``--restart crash``: SIGKILL, the default; ``stop``: SIGTERM) on the same data
directory, and once sends 200 ``GET /jobs/{id}`` at the same moment. It then waits
(bounded by ``--time-limit``) for every job to end and prints:

- jobs succeeded, failed with a reason (by error type), lost (unknown to the server:
  must be 0) and stuck (still queued or running at the end: must be 0);
- throughput in jobs per minute;
- p50/p95 latency of the 200 simultaneous ``GET /jobs/{id}``;
- peak resident memory of the server process, of one job process, and of all job
  processes and the fork server together (sampled every 0.1 s).

Exits 1 when a job was lost or stuck. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import shapely.affinity

import gridgeo
from gridgeo.service.runner import private_memory_mb, worker_processes

MiB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _small_bodies(n: int) -> list[dict]:
    """Small real jobs: the streets and buildings within ~130 m of a few points of
    central Kouvola, one grid each."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layers = gridgeo.read_osm(gridgeo.datasets.get_path("kouvola"))
        middle = layers.streets.geometry.union_all().centroid
        bodies = []
        rng = random.Random(0)
        for _ in range(n):
            at = shapely.affinity.translate(
                middle, rng.uniform(-0.004, 0.004), rng.uniform(-0.002, 0.002)
            )
            streets = layers.streets[layers.streets.distance(at) < 0.0012]
            buildings = layers.buildings[layers.buildings.distance(at) < 0.0012]
            if len(streets) < 3 or len(buildings) < 2:
                continue
            bodies.append(
                {
                    "streets": json.loads(streets[["highway", "geometry"]].to_json(drop_id=True)),
                    "buildings": json.loads(
                        buildings[["building", "geometry"]].to_json(drop_id=True)
                    ),
                    "options": {"target": 1000, "map": False},
                }
            )
    return bodies


class Server:
    """The service in a subprocess; restartable on the same port and data directory."""

    def __init__(self, data_dir: Path, workers: int, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.workers = workers
        self.log = open(log, "ab")  # noqa: SIM115
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "gridgeo.service", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--data-dir", str(self.data_dir)]
        cmd += ["--workers", str(self.workers), "--max-queue", "5000"]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(600):
            try:
                if httpx.get(self.url + "/health", timeout=2, trust_env=False).status_code:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def stop(self, how: str = "stop") -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if how == "crash" else signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def processes(self) -> tuple[psutil.Process | None, list[psutil.Process], list[psutil.Process]]:
        """(server, fork servers, job processes)."""
        try:
            server = psutil.Process(self.proc.pid)
        except (psutil.Error, AttributeError):
            return None, [], []
        return server, *worker_processes(server.pid)


def _running(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _rss(procs: list[psutil.Process]) -> int:
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


class Sampler(threading.Thread):
    """Peak memory of the server, of one job process, of all workers together."""

    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.peak_server = self.peak_job = self.peak_workers = 0
        self.peak_job_own = self.peak_workers_own = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            main, forks, jobs = self.server.processes()
            if main is not None:
                self.peak_server = max(self.peak_server, _rss([main]))
                self.peak_workers = max(self.peak_workers, _rss(forks + jobs))
                own = [private_memory_mb(p.pid) or 0.0 for p in jobs]
                self.peak_job = max([self.peak_job, *(_rss([p]) for p in jobs)])
                self.peak_job_own = max([self.peak_job_own, *own])
                together = _rss(forks) / MiB + sum(own)  # shared pages counted once
                self.peak_workers_own = max(self.peak_workers_own, together)
            self.stop.wait(0.1)


@dataclass
class Soak:
    ids: list[str] = field(default_factory=list)
    retries: int = 0
    kills: int = 0
    killed: list[int] = field(default_factory=list)
    probe: list[float] = field(default_factory=list)
    first: float = 0.0


async def _submit(client: httpx.AsyncClient, soak: Soak, body: dict, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            r = await client.post("/jobs/partition", json=body)
        except httpx.HTTPError:  # the server is restarting
            soak.retries += 1
            await asyncio.sleep(0.5)
            continue
        if r.status_code == 202:
            soak.ids.append(r.json()["id"])
            return
        soak.retries += 1  # 503 (queue full) or a restart: as a client would, retry
        await asyncio.sleep(1.0)
    raise RuntimeError("time limit reached while submitting")


async def _kill_one(server: Server, soak: Soak, rng: random.Random) -> None:
    for _ in range(400):
        _, _, jobs = server.processes()
        jobs = [p for p in jobs if p.pid not in soak.killed and _running(p)]
        if jobs:
            try:
                victim = rng.choice(jobs)
                victim.send_signal(signal.SIGKILL)
                soak.kills += 1
                soak.killed.append(victim.pid)
                await asyncio.sleep(0.5)  # the runner records the death before anything else
                return
            except psutil.Error:
                pass
        await asyncio.sleep(0.05)


async def _probe(server: Server, soak: Soak, rng: random.Random) -> None:
    """200 GET /jobs/{id} arriving at the same moment, each on a connection of its own
    (plain sockets: the figures are the server's, not a client pool's)."""
    ids = [rng.choice(soak.ids) for _ in range(200)]
    go = asyncio.Event()

    async def one(job_id: str) -> float:
        await go.wait()
        t0 = time.perf_counter()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        request = f"GET /jobs/{job_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        writer.write(request.encode())
        await writer.drain()
        answer = await reader.read()
        writer.close()
        if not answer.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"GET /jobs/{job_id}: {answer[:80]!r}")
        return time.perf_counter() - t0

    tasks = [asyncio.create_task(one(i)) for i in ids]
    await asyncio.sleep(0.05)
    go.set()
    soak.probe = sorted(await asyncio.gather(*tasks))


async def _run(args: argparse.Namespace, server: Server, bodies: list[dict]) -> dict:
    rng = random.Random(args.seed)
    soak = Soak()
    deadline = time.monotonic() + args.time_limit
    kill_at = sorted(rng.sample(range(args.jobs // 10, args.jobs * 9 // 10), args.kills))
    restart_at = args.jobs // 2 if args.restart != "none" else -1
    probe_at = args.jobs * 3 // 4
    limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
    async with httpx.AsyncClient(
        base_url=server.url, timeout=120, limits=limits, trust_env=False
    ) as client:
        soak.first = time.monotonic()
        while len(soak.ids) < args.jobs:
            size = min(rng.randint(1, args.burst), args.jobs - len(soak.ids))
            before = len(soak.ids)
            await asyncio.gather(
                *(_submit(client, soak, rng.choice(bodies), deadline) for _ in range(size))
            )
            now = len(soak.ids)
            while kill_at and kill_at[0] < now:
                kill_at.pop(0)
                await _kill_one(server, soak, rng)
            if before <= restart_at < now:
                await asyncio.sleep(rng.uniform(0, 1))
                server.stop(args.restart)
                server.start()
            if before <= probe_at < now:
                await _probe(server, soak, rng)
            await asyncio.sleep(rng.uniform(0, args.pause))
        # every job to its end (bounded)
        states: dict[str, dict] = {}
        pending = list(soak.ids)
        while pending and time.monotonic() < deadline:
            still = []
            for k in range(0, len(pending), 50):
                chunk = pending[k : k + 50]
                answers = await asyncio.gather(
                    *(client.get(f"/jobs/{i}") for i in chunk), return_exceptions=True
                )
                for job_id, r in zip(chunk, answers, strict=True):
                    if isinstance(r, Exception) or r.status_code not in (200, 404):
                        still.append(job_id)
                    elif r.status_code == 404:
                        states[job_id] = {"status": "lost"}
                    elif r.json()["status"] in ("queued", "running"):
                        still.append(job_id)
                    else:
                        states[job_id] = r.json()
            pending = still
            if pending:
                await asyncio.sleep(1.0)
        elapsed = max(
            (_ts(s["finished_at"]) for s in states.values() if s.get("finished_at")), default=0
        )
        started = min(
            (_ts(s["created_at"]) for s in states.values() if s.get("created_at")), default=0
        )
    return {
        "soak": soak,
        "states": states,
        "stuck": pending,
        "minutes": max(elapsed - started, 1e-9) / 60,
    }


def _ts(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs to submit (default 1000)")
    parser.add_argument("--kills", type=int, default=5, help="job processes to kill (default 5)")
    parser.add_argument(
        "--restart",
        choices=["crash", "stop", "none"],
        default="crash",
        help="how the server is restarted halfway (default: crash, SIGKILL)",
    )
    parser.add_argument("--workers", type=int, default=2, help="server --workers (default 2)")
    parser.add_argument("--burst", type=int, default=25, help="largest burst (default 25)")
    parser.add_argument(
        "--pause", type=float, default=1.5, help="longest pause between bursts, s (default 1.5)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log", help="keep the server's log in this file")
    parser.add_argument(
        "--time-limit", type=float, default=1800, help="seconds at most (default 1800)"
    )
    args = parser.parse_args()
    if not 1 <= args.jobs <= 20_000 or not 0 <= args.kills <= args.jobs // 2:
        parser.error("--jobs must be 1…20000 and --kills at most half of them")

    # stopped from outside: still stop the server it started (the finally blocks)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    bodies = _small_bodies(8)
    with tempfile.TemporaryDirectory(prefix="gridgeo-soak-") as tmp:
        server = Server(Path(tmp) / "data", args.workers, Path(tmp) / "server.log")
        server.start()
        sampler = Sampler(server)
        sampler.start()
        print(
            f"soak test of {server.url}: {args.jobs} jobs in bursts of 1–{args.burst}, "
            f"{args.kills} job processes killed, restart: {args.restart}, "
            f"{args.workers} worker(s); load average before {os.getloadavg()}"
        )
        t0 = time.monotonic()
        try:
            out = asyncio.run(_run(args, server, bodies))
        finally:
            sampler.stop.set()
            sampler.join()
            server.stop()
            text = (Path(tmp) / "server.log").read_text(errors="replace")
            tracebacks = text.count("Traceback")
            if args.log:
                Path(args.log).write_text(text)
        wall = time.monotonic() - t0
    soak, states = out["soak"], out["states"]
    statuses = Counter(s["status"] for s in states.values())
    reasons = Counter(
        s["error"]["type"] for s in states.values() if s["status"] == "failed" and s.get("error")
    )
    no_reason = sum(
        1
        for s in states.values()
        if s["status"] == "failed" and not (s.get("error") or {}).get("message")
    )
    lost, stuck = statuses.get("lost", 0), len(out["stuck"])
    done = statuses.get("succeeded", 0) + statuses.get("failed", 0)
    q = lambda p: soak.probe[min(len(soak.probe) - 1, int(p * len(soak.probe)))] * 1000  # noqa: E731
    print(f"wall time: {wall:.0f} s; submissions retried (503 or restart): {soak.retries}")
    print(f"jobs submitted:         {len(soak.ids)}")
    print(f"succeeded:              {statuses.get('succeeded', 0)}")
    print(f"failed with a reason:   {statuses.get('failed', 0) - no_reason} {dict(reasons)}")
    print(f"failed without reason:  {no_reason}")
    print(f"lost:                   {lost}")
    print(f"stuck:                  {stuck}")
    print(f"job processes killed:   {soak.kills} (pids {soak.killed})")
    print(f"throughput:             {done / out['minutes']:.0f} jobs/min")
    if soak.probe:
        print(
            f"GET /jobs/{{id}}, 200 at once: p50 {q(0.5):.0f} ms, p95 {q(0.95):.0f} ms, "
            f"max {soak.probe[-1] * 1000:.0f} ms"
        )
    print(
        f"peak memory (RSS): server {sampler.peak_server / MiB:.0f} MiB, one job process "
        f"{sampler.peak_job / MiB:.0f} MiB, fork server + job processes "
        f"{sampler.peak_workers / MiB:.0f} MiB (shared pages counted in each)"
    )
    print(
        f"peak memory of their own: one job process {sampler.peak_job_own:.0f} MiB, fork "
        f"server + job processes {sampler.peak_workers_own:.0f} MiB (shared pages once)"
    )
    print(f"tracebacks in the server log: {tracebacks}")
    print(f"load average after: {os.getloadavg()}")
    return 0 if lost == 0 and stuck == 0 and no_reason == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
