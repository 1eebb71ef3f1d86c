"""The job runner, end to end on real servers: bursts, killed job processes, restarts,
limits; and the store's claims and take-backs in process.

Jobs are real partitions of bundled extracts: a tiny one (a few streets of Kouvola,
one grid, a fraction of a second) and a long one (all of Monaco, several seconds).
"""

from __future__ import annotations

import contextlib
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import psutil
import pytest
from _service import Server, kouvola, long_body, submit, tiny_body, wait_job, wait_running

from gridgeo.service.app import health_report
from gridgeo.service.runner import RunnerState
from gridgeo.service.store import MAX_ATTEMPTS, QueueFull, QueueInfo, SQLiteJobStore


@pytest.fixture(scope="module")
def bodies():
    layers = kouvola()
    return {"tiny": tiny_body(layers), "long": long_body()}


def _t(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _gone(pids: list[int], timeout: float) -> bool:
    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            procs.append(psutil.Process(pid))
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    return not alive


# ------------------------------------------------------------------------- bursts


@pytest.mark.parametrize("n", [30, pytest.param(200, marks=pytest.mark.slow)])
def test_bursts_through_one_worker_all_finish(bodies, tmp_path, n):
    """The queue never stalls: n jobs submitted in random bursts to one worker all run,
    one at a time (the old pool stalled for good after about 20)."""
    server = Server(tmp_path / "data", "--workers", "1", "--max-queue", "1000").start().wait()
    rng = random.Random(0)
    ids: list[str] = []
    health: list[dict] = []
    try:
        with server.client() as c, ThreadPoolExecutor(8) as pool:
            while len(ids) < n:
                size = min(rng.randint(1, 12), n - len(ids))
                burst = [
                    pool.submit(submit, c, "/jobs/partition", json=bodies["tiny"])
                    for _ in range(size)
                ]
                ids += [f.result()["id"] for f in burst]
                health.append(c.get("/health").json())
                time.sleep(rng.uniform(0, 0.6))
            jobs = [wait_job(c, job_id, timeout=60 + 3 * n) for job_id in ids]
            after = c.get("/health")
    finally:
        server.stop()
    assert [j["status"] for j in jobs].count("succeeded") == n, [
        j["error"] for j in jobs if j["error"]
    ]
    # one worker: the jobs ran one after another, none overlapping the next
    spans = sorted((_t(j["started_at"]), _t(j["finished_at"])) for j in jobs)
    assert all(spans[k][1] <= spans[k + 1][0] + 0.002 for k in range(n - 1))
    # /health told the truth all along: jobs queued, one worker at most busy, never stalled
    assert max(h["queued"] for h in health) >= 2
    assert all(h["status"] in ("ok", "busy") and h["workers_busy"] <= 1 for h in health)
    assert after.status_code == 200 and after.json()["status"] == "ok"
    figures = after.json()
    assert figures["queued"] == figures["running"] == 0 and figures["jobs"]["succeeded"] == n
    assert figures["oldest_queued_seconds"] is None and figures["runner_alive"]


# ----------------------------------------------------------------- dying processes


def test_killed_job_process_fails_that_job_alone(bodies, tmp_path):
    server = Server(tmp_path / "data", "--workers", "1").start().wait()
    try:
        with server.client() as c:
            killed = submit(c, "/jobs/partition", json=bodies["long"])
            crashed = submit(c, "/jobs/partition", json=bodies["long"])
            behind = [submit(c, "/jobs/partition", json=bodies["tiny"]) for _ in range(3)]
            for job, sig in ((killed, signal.SIGKILL), (crashed, signal.SIGSEGV)):
                wait_running(c, job["id"])
                procs = server.job_processes()
                assert len(procs) == 1
                procs[0].send_signal(sig)
            killed, crashed = (wait_job(c, j["id"]) for j in (killed, crashed))
            behind = [wait_job(c, j["id"]) for j in behind]
            health = c.get("/health").json()
    finally:
        server.stop()
    assert killed["status"] == "failed" and killed["error"]["type"] == "Killed"
    assert "SIGKILL" in killed["error"]["message"]
    assert crashed["status"] == "failed" and crashed["error"]["type"] == "Crashed"
    assert "SIGSEGV" in crashed["error"]["message"]
    assert [j["status"] for j in behind] == ["succeeded"] * 3
    assert health["status"] == "ok" and health["jobs"] == {
        "queued": 0,
        "running": 0,
        "succeeded": 3,
        "failed": 2,
    }


# ------------------------------------------------------------------------ restarts


def test_restart_runs_queued_jobs_and_a_running_one_again(bodies, tmp_path):
    data = tmp_path / "data"
    # 1. stopped in order while a job runs and two wait, SIGTERM to every process as a
    # service manager does: all three run after the start
    server = Server(data, "--workers", "1").start().wait()
    try:
        with server.client() as c:
            running = submit(c, "/jobs/partition", json=bodies["long"])
            queued = [submit(c, "/jobs/partition", json=bodies["tiny"]) for _ in range(2)]
            wait_running(c, running["id"])
            procs = server.job_processes()
            pids = [p.pid for p in procs]
            for p in procs:
                p.send_signal(signal.SIGTERM)
    finally:
        server.stop()
    first_log = server.log_text()
    assert len(pids) == 1 and _gone(pids, 15), pids
    # 2. then a crash (SIGKILL) while the retried job runs again: it runs once more
    server = Server(data, "--workers", "1").start().wait()
    try:
        with server.client() as c:
            wait_running(c, running["id"])
            late = submit(c, "/jobs/partition", json=bodies["tiny"])
            pids = [p.pid for p in server.job_processes()]
    finally:
        server.stop(kill=True)
    assert len(pids) == 1 and _gone(pids, 15), pids  # the orphaned job process stops itself
    server = Server(data, "--workers", "1").start().wait()
    try:
        with server.client() as c:
            jobs = [wait_job(c, j["id"]) for j in (running, *queued, late)]
            counts = c.get("/health").json()["jobs"]
    finally:
        server.stop()
    assert [j["status"] for j in jobs] == ["succeeded"] * 4, ([j["error"] for j in jobs], first_log)
    assert counts == {"queued": 0, "running": 0, "succeeded": 4, "failed": 0}


@pytest.mark.slow
def test_a_job_running_through_two_crashes_fails_with_the_reason(bodies, tmp_path):
    data = tmp_path / "data"
    server = Server(data, "--workers", "1").start().wait()
    try:
        with server.client() as c:
            twice = submit(c, "/jobs/partition", json=bodies["long"])
            wait_running(c, twice["id"])
    finally:
        server.stop(kill=True)
    server = Server(data, "--workers", "1").start().wait()
    try:
        with server.client() as c:
            wait_running(c, twice["id"])  # run once more
    finally:
        server.stop(kill=True)
    server = Server(data, "--workers", "1").start().wait()
    try:
        with server.client() as c:
            twice = wait_job(c, twice["id"], timeout=30)
            after = wait_job(c, submit(c, "/jobs/partition", json=bodies["tiny"])["id"])
            counts = c.get("/health").json()["jobs"]
    finally:
        server.stop()
    assert twice["status"] == "failed" and twice["error"]["type"] == "Interrupted"
    assert "stopped twice" in twice["error"]["message"]
    assert after["status"] == "succeeded"
    assert counts == {"queued": 0, "running": 0, "succeeded": 1, "failed": 1}


# -------------------------------------------------------------------------- limits


def test_jobs_over_their_time_or_memory_limit_are_stopped_with_the_reason(bodies, tmp_path):
    timed = Server(tmp_path / "t" / "data", "--job-timeout", "1").start()
    capped = Server(tmp_path / "m" / "data", "--job-memory-mb", "64").start()
    try:
        timed.wait()
        capped.wait()
        with timed.client() as t, capped.client() as m:
            slow = submit(t, "/jobs/partition", json=bodies["long"])
            big = submit(m, "/jobs/partition", json=bodies["long"])
            slow, big = wait_job(t, slow["id"]), wait_job(m, big["id"])
            alive = t.get("/health").json(), m.get("/health").json()
    finally:
        timed.stop()
        capped.stop()
    assert slow["status"] == "failed" and slow["error"]["type"] == "TimeLimit"
    message = slow["error"]["message"]
    assert "time limit of 1 s" in message and "larger --job-timeout" in message
    # stopped after 1 s of running, within a few looks of the runner (0.25 s apart; a
    # loaded machine delays them, so the bound is loose)
    after = float(message.split("stopped after ")[1].split(" s")[0])
    assert 1.0 <= after < 4.0, message
    # the job's own clock: the message rounds to 0.1 s and the stored times to the
    # millisecond, taken a moment apart from the runner's, hence the 0.1 s slack
    ran = _t(slow["finished_at"]) - _t(slow["started_at"])  # with the fork, on a busy machine
    assert after - 0.1 <= ran < 15, (after, ran)
    assert big["status"] == "failed" and big["error"]["type"] == "MemoryLimit"
    message = big["error"]["message"]
    assert "memory limit of 64 MiB" in message and "larger --job-memory-mb" in message
    used = float(message.split("stopped at ")[1].split(" MiB")[0].replace(",", ""))
    assert used > 64
    assert all(h["status"] == "ok" and h["runner_alive"] for h in alive)


# ------------------------------------------------------------------- in process


def test_claims_are_transactions_no_job_taken_twice(tmp_path):
    store = SQLiteJobStore(tmp_path / "data")
    ids = [store.new_id() for _ in range(120)]
    for job_id in ids:
        store.create(job_id, "partition", {"inputs": {}, "options": {}})
    taken: dict[str, list[str]] = {f"runner-{k}": [] for k in range(4)}
    start = threading.Barrier(len(taken))

    def claim_all(owner: str) -> None:
        other = SQLiteJobStore(tmp_path / "data")  # a runner of its own, its own connection
        start.wait()
        while (job := other.claim(owner, lease=30)) is not None:
            taken[owner].append(job.id)
            time.sleep(0.001)  # a job starting: the others claim meanwhile

    threads = [threading.Thread(target=claim_all, args=(o,)) for o in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [i for got in taken.values() for i in got]
    assert sorted(claimed) == sorted(ids)  # every job once, none twice
    assert sum(1 for got in taken.values() if got) >= 2  # they really raced
    assert store.counts() == {"queued": 0, "running": 120, "succeeded": 0, "failed": 0}
    # claims go oldest first
    first = SQLiteJobStore(tmp_path / "other")
    order = [first.new_id() for _ in range(3)]
    for job_id in order:
        first.create(job_id, "audit", {"inputs": {}, "options": {}})
    assert [first.claim("r", lease=30).id for _ in order] == order


def test_jobs_of_a_dead_runner_run_once_more_then_fail(tmp_path):
    store = SQLiteJobStore(tmp_path / "data")
    ids = [store.new_id() for _ in range(3)]
    for job_id in ids:
        store.create(job_id, "partition", {"inputs": {}, "options": {}}, max_queue=3)
    with pytest.raises(QueueFull):
        store.create(store.new_id(), "partition", {}, max_queue=3)
    a, b = store.claim("host:1:a", lease=30), store.claim("host:2:b", lease=-1)
    assert (a.id, b.id, a.attempts) == (ids[0], ids[1], 1)
    store.progress(a.id, 0.5, "partitioning")
    store.progress(a.id, 0.2, "later")  # progress never goes back
    assert store.get(a.id).progress == 0.5 and store.get(a.id).stage == "later"
    assert store.running_owners() == {"host:1:a", "host:2:b"}
    # b's lease ran out, a's owner is dead: both queued again, their first attempt counted
    assert sorted(store.reclaim(["host:1:a"])[0]) == sorted(ids[:2])
    assert store.counts()["queued"] == 3
    again = store.claim("host:3:c", lease=-1)
    assert again.id == ids[0] and again.attempts == 2
    # the first runner, back from the dead, can no longer record anything for it
    assert not store.succeed(again.id, {}, {}, owner="host:1:a")
    assert not store.fail(again.id, "Killed", "late", owner="host:1:a")
    assert store.get(again.id).status == "running"
    assert store.reclaim() == ([], [ids[0]])  # a second death: failed, with the reason
    failed = store.get(ids[0])
    assert failed.status == "failed" and failed.error_type == "Interrupted"
    assert not store.succeed(ids[0], {}, {})  # a late process cannot revive a failed job
    # stopping in order puts a running job back without counting the attempt
    job = store.claim("host:4:d", lease=30)
    assert store.release(job.id, "host:4:d") and store.get(job.id).attempts == job.attempts - 1
    assert not store.release(job.id, "host:4:d")  # not running any more
    assert store.get("../" + ids[0]) is None
    with pytest.raises(ValueError, match="not a job id"):
        store.job_dir("../../etc")
    assert MAX_ATTEMPTS == 2


def test_health_says_stalled_only_when_a_free_worker_takes_nothing():
    def report(queued, busy, waited, since, alive=True):
        def old(seconds):
            if seconds is None:
                return None
            return datetime.fromtimestamp(time.time() - seconds).astimezone().isoformat()

        counts = {"queued": queued, "running": busy, "succeeded": 0, "failed": 0}
        info = QueueInfo(counts, oldest_queued_at=old(waited), last_claim_at=old(since))
        return health_report(info, RunnerState(alive=alive, slots=1, busy=busy, pids=()))

    assert report(0, 0, None, None).status == "ok"
    assert report(3, 0, 5, 5).status == "ok"  # waiting a little: fine
    stalled = report(3, 0, 90, 75)
    assert stalled.status == "stalled" and stalled.oldest_queued_seconds >= 90
    assert "3 jobs have waited 90 s" in stalled.detail
    assert report(3, 0, 90, 10).status == "ok"  # one was taken 10 s ago
    assert report(3, 1, 90, 600).status == "busy"  # the worker runs a long job
    assert report(0, 0, None, None, alive=False).status == "down"
