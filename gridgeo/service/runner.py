"""The job runner: the store is the queue, each job runs in a process of its own.

One dispatcher thread per server *claims* the oldest queued job from the store (a
transaction: several runners sharing a store never take the same job), starts a process
for it, and watches that process until it ends: it relays the job's progress to the
store, stops a job over its time or memory limit, and records the outcome. Because
every job has its own process, a job that dies — killed, out of memory, a crash in
GEOS — fails alone, with the reason, and the next queued job starts as usual: there is
no pool to break or to deadlock (``ProcessPoolExecutor(max_tasks_per_child=…)`` stalls
for good when tasks wait while a worker retires, CPython 3.11).

Job processes are forked from a *fork server* that has imported the pipeline once, so a
job starts in milliseconds and returns all its memory when it ends.

A running job is leased by its runner and the lease renewed every few seconds. When a
server stops in order, its running jobs are stopped and put back in the queue; when it
dies, its running jobs are taken back by the next runner that looks (at once on the same
host, else when the lease runs out) and run once more; after a second such death they
fail (``Interrupted``). Queued jobs simply wait in the store for the next start.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from .security import remove_tree
from .store import Job, JobStore, StoreUnavailable

__all__ = ["Runner", "RunnerState", "machine_memory_mb", "worker_processes"]

log = logging.getLogger(__name__)

#: Modules the fork server imports once, so that job processes start ready.
PRELOAD = ["gridgeo.service.worker", "gridgeo.pipeline", "gridgeo.audit", "gridgeo.io"]
#: Seconds a runner holds a running job without renewing its lease.
LEASE = 30.0
#: Seconds between two looks at the running jobs (limits, progress).
TICK = 0.25
_MB = 1024 * 1024


@dataclass
class _Running:
    """A job and its process, as the dispatcher watches them."""

    job: Job
    process: BaseProcess
    conn: Connection | None
    started: float
    oom_kills: int | None
    outcome: tuple[str, Any, Any] | None = None
    stopped: tuple[str, str] | None = None  # (error type, message) when the runner stopped it
    peak_mb: float = 0.0


@dataclass(frozen=True)
class RunnerState:
    """What the runner is doing, for ``/health``."""

    alive: bool
    slots: int
    busy: int
    pids: tuple[int, ...]


class Runner:
    """Runs the store's queued jobs, each in its own process, ``slots`` at a time.

    Parameters
    ----------
    store : JobStore
    slots : int, default 1
        Jobs that run at the same time.
    job_timeout : float, default 1800
        Seconds a job may run; then it is stopped and fails (``TimeLimit``).
    job_memory_mb : float, optional
        MiB of its own memory a job process may use (what it does not share with the
        fork server); then it is stopped and fails (``MemoryLimit``). None: no limit.
    lease : float, default :data:`LEASE`
    """

    def __init__(
        self,
        store: JobStore,
        *,
        slots: int = 1,
        job_timeout: float = 1800.0,
        job_memory_mb: float | None = None,
        lease: float = LEASE,
    ) -> None:
        self.store = store
        self.slots = slots
        self.job_timeout = job_timeout
        self.job_memory_mb = job_memory_mb
        self.lease = lease
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._running: dict[str, _Running] = {}
        self._thread = threading.Thread(target=self._loop, name="gridgeo-runner", daemon=True)
        methods = multiprocessing.get_all_start_methods()
        self._ctx = multiprocessing.get_context(
            "forkserver" if "forkserver" in methods else "spawn"
        )
        if self._ctx.get_start_method() == "forkserver":
            self._ctx.set_forkserver_preload(PRELOAD)

    # ------------------------------------------------------------ control

    def start(self) -> Runner:
        """Take back the jobs of dead runners on this host, then start dispatching."""
        self._reclaim()
        self._thread.start()
        return self

    def wake(self) -> None:
        """Look at the queue now (a job was submitted)."""
        with contextlib.suppress(OSError):  # already woken (the buffer is full), or shut down
            self._wake_w.send(b"\0")

    def shutdown(self, timeout: float = 20.0) -> None:
        """Stop dispatching; running jobs are stopped and queued again (not counted as an
        attempt), queued jobs stay queued: both run at the next start."""
        self._stop.set()
        self.wake()
        if self._thread.is_alive():
            self._thread.join(timeout)
        for r in tuple(self._running.values()):  # the dispatcher did not get there in time:
            r.process.kill()  # job processes ignore SIGTERM, which the exit would send them
        for sock in (self._wake_r, self._wake_w):
            sock.close()

    def state(self) -> RunnerState:
        running = tuple(self._running.values())
        return RunnerState(
            alive=self._thread.is_alive() and not self._stop.is_set(),
            slots=self.slots,
            busy=len(running),
            pids=tuple(r.process.pid for r in running if r.process.pid is not None),
        )

    # ------------------------------------------------------------ the dispatcher

    def _loop(self) -> None:
        if self._ctx.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()  # import the pipeline once, before the first job
        next_lease = time.monotonic() + self.lease / 6
        while not self._stop.is_set():
            try:
                self._fill()
                self._watch()
                if time.monotonic() >= next_lease:
                    next_lease = time.monotonic() + self.lease / 6
                    try:
                        self.store.renew(self.owner, list(self._running), lease=self.lease)
                    except StoreUnavailable as exc:
                        for r in self._running.values():
                            self._lost(r, exc)
                        raise
                    self._reclaim()
            except StoreUnavailable as exc:  # jobs running meanwhile fail (see _lost)
                log.warning("job runner: %s; trying again in a second", exc)
                self._stop.wait(1.0)
            except Exception:  # the dispatcher must outlive any one failure
                log.exception("job runner: unexpected error; going on in a second")
                self._stop.wait(1.0)
        self._stop_all()

    def _fill(self) -> None:
        """Start queued jobs while there are free slots."""
        while len(self._running) < self.slots and not self._stop.is_set():
            job = self.store.claim(self.owner, lease=self.lease)
            if job is None:
                return
            try:
                self._start(job)
            except Exception:
                self.store.release(job.id, self.owner)
                raise

    def _start(self, job: Job) -> None:
        receive, send = self._ctx.Pipe(duplex=False)
        extra = None if self.job_memory_mb is None else int((self.job_memory_mb + 256) * _MB)
        from .worker import run_job

        process = self._ctx.Process(
            target=run_job,
            args=(send, str(self.store.job_dir(job.id)), job.kind, job.params, job.attempts, extra),
            name=f"gridgeo-job-{job.id[:8]}",
            daemon=True,
        )
        oom = _oom_kills()
        process.start()
        send.close()
        self._running[job.id] = _Running(job, process, receive, time.monotonic(), oom)
        log.info(
            "job %s (%s) started, attempt %d, process %s",
            job.id,
            job.kind,
            job.attempts,
            process.pid,
        )

    def _watch(self) -> None:
        """Wait a tick for messages and ends; relay progress; enforce the limits."""
        waitables: list[Any] = [self._wake_r]
        for r in self._running.values():
            waitables.append(r.process.sentinel)
            if r.conn is not None:
                waitables.append(r.conn)
        wait(waitables, timeout=TICK)
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        for job_id, r in list(self._running.items()):
            self._read(r)
            if not r.process.is_alive():
                self._read(r)  # what it sent just before it ended
                self._finish(r)
                del self._running[job_id]
            elif r.stopped is None:
                self._enforce(r)

    def _read(self, r: _Running) -> None:
        while r.conn is not None:
            try:
                if not r.conn.poll():
                    return
                message = r.conn.recv()
            except (EOFError, OSError):
                r.conn.close()
                r.conn = None
                return
            if message[0] == "progress":
                try:
                    self.store.progress(r.job.id, message[1], message[2], owner=self.owner)
                except StoreUnavailable as exc:
                    self._lost(r, exc)
                    raise
            else:
                r.outcome = message

    def _enforce(self, r: _Running) -> None:
        elapsed = time.monotonic() - r.started
        if elapsed > self.job_timeout:
            self._stop_job(r, "TimeLimit", _time_message(elapsed, self.job_timeout))
            return
        if self.job_memory_mb is None:
            return
        used = private_memory_mb(r.process.pid)
        if used is None:
            return
        r.peak_mb = max(r.peak_mb, used)
        if used > self.job_memory_mb:
            self._stop_job(r, "MemoryLimit", _memory_message(used, self.job_memory_mb))

    def _stop_job(self, r: _Running, error_type: str, message: str) -> None:
        log.warning("job %s: %s", r.job.id, message)
        r.stopped = (error_type, message)
        r.process.kill()

    def _lost(self, r: _Running, exc: StoreUnavailable) -> None:
        """The store could not record a running job's state: the job stops and fails,
        with the reason, once the store answers again (a job whose progress, lease and
        outcome cannot be recorded could otherwise be taken back and run twice)."""
        r.outcome = None
        if r.stopped is None:
            log.warning("job %s: stopped, the store is unreachable (%s)", r.job.id, exc)
            r.stopped = (
                "StoreUnavailable",
                f"the job was stopped: {exc}; submit it again",
            )
        r.process.kill()

    def _finish(self, r: _Running) -> None:
        """Record how a job whose process ended went (again, later, when the store is
        unreachable)."""
        try:
            self._record(r)
        except StoreUnavailable as exc:
            self._lost(r, exc)
            raise

    def _record(self, r: _Running) -> None:
        r.process.join(1)
        job_id = r.job.id
        outcome = r.outcome
        if outcome is not None and r.process.exitcode:
            log.info(
                "job %s: its process ended with %s after telling how the job went; that stands",
                job_id,
                r.process.exitcode,
            )
        kind = None if outcome is None else outcome[0]
        if kind == "succeeded":
            recorded = self._publish(r, outcome[1], outcome[2])
        elif kind == "failed":
            recorded = self._fail(job_id, outcome[1], outcome[2])
        elif kind == "memory" and self.job_memory_mb is not None:
            used = max(r.peak_mb, self.job_memory_mb)
            recorded = self._fail(job_id, "MemoryLimit", _memory_message(used, self.job_memory_mb))
        elif kind == "memory":
            recorded = self._fail(job_id, "OutOfMemory", _oom_message(r.peak_mb))
        elif r.stopped is not None:
            recorded = self._fail(job_id, *r.stopped)
        else:
            recorded = self._fail(job_id, *self._death(r))
        if not recorded:  # taken back meanwhile (our lease ran out): the other run decides
            log.warning("job %s ended here but is no longer this runner's; dropped", job_id)
            remove_tree(self.store.job_dir(job_id) / "scratch" / f"attempt-{r.job.attempts}")
            return
        self.store.drop_inputs(job_id)
        log.info("job %s ended after %.1f s", job_id, time.monotonic() - r.started)

    def _fail(self, job_id: str, error_type: str, message: str) -> bool:
        return self.store.fail(job_id, error_type, message, owner=self.owner)

    def _publish(self, r: _Running, summary: dict, files: dict[str, tuple[str, str]]) -> bool:
        """Move a finished job's results into ``results/`` and mark it succeeded, if the
        job is still this runner's."""
        job = self.store.get(r.job.id)
        if job is None or job.status != "running" or job.owner != self.owner:
            return False
        job_dir = self.store.job_dir(r.job.id)
        final = job_dir / "results"
        remove_tree(final)
        os.replace(job_dir / "scratch" / f"attempt-{r.job.attempts}", final)
        results = {name: (f"results/{file}", media) for name, (file, media) in files.items()}
        return self.store.succeed(r.job.id, summary, results, owner=self.owner)

    def _death(self, r: _Running) -> tuple[str, str]:
        """Why a job's process ended without saying how the job went."""
        code = r.process.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            oom = _oom_kills()
            if -code == signal.SIGKILL and None not in (oom, r.oom_kills) and oom > r.oom_kills:
                return "OutOfMemory", _oom_message(r.peak_mb)
            if -code in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
                return "Killed", (
                    f"the job's process was killed ({name}) by something outside the service "
                    "(an administrator, or the system short of memory); submit the job again"
                )
            return "Crashed", (
                f"the job's process crashed ({name}), in gridgeo or a library it uses; submit "
                "it again, and report it with its inputs if it crashes again"
            )
        return "Crashed", (
            f"the job's process ended (exit status {code}) without saying how the job went; "
            "submit it again, and report it with its inputs if it happens again"
        )

    def _stop_all(self) -> None:
        """At shutdown: running jobs back to the queue (or their outcome, if they have one)."""
        running = list(self._running.values())
        for r in running:  # first stop them all: nothing slow before
            self._read(r)
            if r.outcome is None:
                r.process.kill()
        for r in running:
            if r.outcome is None:
                r.process.join(5)
                self.store.release(r.job.id, self.owner)
                log.info("job %s stopped with the server; queued again", r.job.id)
            else:
                self._finish(r)
        self._running.clear()

    def _reclaim(self) -> None:
        """Take back running jobs whose runner is dead (this host) or silent (lease)."""
        host = socket.gethostname()
        dead = []
        for owner in self.store.running_owners():
            name, _, rest = owner.partition(":")
            pid = rest.partition(":")[0]
            if owner != self.owner and name == host and pid.isdigit() and not _alive(int(pid)):
                dead.append(owner)
        again, _ = self.store.reclaim(dead)
        if again:
            self.wake()


# ---------------------------------------------------------------------- measurements


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def private_memory_mb(pid: int | None) -> float | None:
    """MiB of memory a process has of its own (private pages and swap; Linux), else its
    resident size, or None when it cannot be read."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            kb = 0
            for line in f:
                key, _, value = line.partition(":")
                if key in ("Private_Clean", "Private_Dirty", "Swap"):
                    kb += int(value.split()[0])
        return kb / 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / _MB
    except Exception:  # no psutil, or the process is gone
        return None


def worker_processes(pid: int) -> tuple[list[Any], list[Any]]:
    """The processes that run the jobs of the server in process ``pid``: its fork
    servers (its children running multiprocessing's fork server) and the job processes
    they started, as ``psutil.Process`` objects; ``([], [])`` when the server is gone.
    Needs psutil (for measuring a server and in tests, not in the runner itself)."""
    import psutil

    def parent(p: psutil.Process) -> int | None:
        try:
            return p.ppid()
        except psutil.Error:  # gone meanwhile
            return None

    def is_forkserver(p: psutil.Process) -> bool:
        try:
            return "forkserver" in " ".join(p.cmdline())
        except psutil.Error:
            return False

    try:
        tree = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return [], []
    forks = [p for p in tree if parent(p) == pid and is_forkserver(p)]
    ids = {p.pid for p in forks}
    return forks, [p for p in tree if parent(p) in ids]


def machine_memory_mb() -> float:
    """The machine's memory in MiB (or the container's limit, when lower)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / _MB
    except (ValueError, OSError, AttributeError):
        total = 4096.0
    limit = _cgroup_file("memory.max")
    if limit is not None and limit.strip().isdigit():
        total = min(total, int(limit) / _MB)
    return total


def _cgroup_file(name: str) -> str | None:
    """A file of this process's cgroup (v2), or None."""
    try:
        with open("/proc/self/cgroup") as f:
            path = next(line.split("::", 1)[1].strip() for line in f if line.startswith("0::"))
        with open(f"/sys/fs/cgroup{path.rstrip('/')}/{name}") as f:
            return f.read()
    except (OSError, StopIteration, IndexError):
        return None


def _oom_kills() -> int | None:
    """Processes of this cgroup the kernel's OOM killer ended so far, when known."""
    text = _cgroup_file("memory.events")
    if text is None:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return None


# ---------------------------------------------------------------------- messages


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def _time_message(elapsed: float, limit: float) -> str:
    return (
        f"stopped after {_duration(elapsed)}: over the time limit of {limit:g} s a job "
        f"(--job-timeout {limit:g}); split the area into smaller pieces, or start the "
        "server with a larger --job-timeout"
    )


def _memory_message(used: float, limit: float) -> str:
    return (
        f"stopped at {used:,.0f} MiB: over the memory limit of {limit:,.0f} MiB a job "
        f"(--job-memory-mb {limit:g}); split the area into smaller pieces, or start the "
        f"server with a larger --job-memory-mb (this machine has {machine_memory_mb():,.0f} MiB)"
    )


def _oom_message(peak: float) -> str:
    seen = f" (last seen using {peak:,.0f} MiB)" if peak else ""
    return (
        f"the job's process ran out of memory{seen}: the system stopped it; start the server "
        "with a --job-memory-mb below what the machine can give, so that the service stops "
        "such jobs itself, or split the area into smaller pieces"
    )
