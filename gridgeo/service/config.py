"""Settings of the HTTP service, checked before it starts."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .._errors import InputError

__all__ = ["DEFAULT_PORT", "ServiceConfig", "default_job_memory_mb", "is_loopback", "read_token"]

DEFAULT_PORT = 8765
#: Seconds a job may run by default (30 min).
DEFAULT_JOB_TIMEOUT = 1800.0
#: Share of the machine's memory the job processes may use together by default.
JOB_MEMORY_SHARE = 0.5
_MB = 1024 * 1024
#: Environment variable naming the Dask scheduler partition jobs run on (set by
#: ``gridgeo serve --scheduler``; job processes inherit it).
SCHEDULER_ENV = "GRIDGEO_DASK_SCHEDULER"


def default_job_memory_mb(workers: int) -> float:
    """MiB a job may use by default: half the machine's memory, shared by the workers
    (at least 512 MiB)."""
    from .runner import machine_memory_mb

    return max(512.0, round(machine_memory_mb() * JOB_MEMORY_SHARE / max(workers, 1)))


def read_token(path: str | Path) -> str:
    """The API token kept in a file (its first line, stripped).

    Raises :class:`~gridgeo.InputError` when the file cannot be read or is empty.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the token file {path}: {exc.strerror or exc}") from None
    token = (text.splitlines() or [""])[0].strip()
    if not token:
        raise InputError(f"the token file {path} is empty: write the token on its first line")
    return token


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1) or ``localhost``.

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


@dataclass
class ServiceConfig:
    """Settings of ``gridgeo serve``.

    Attributes
    ----------
    data_dir : Path
        Where jobs (``jobs.sqlite``) and their inputs and results live.
    host : str, default "127.0.0.1"
        Address to listen on. Anything but loopback needs a ``token``.
    port : int, default 8765
    token : str, optional
        API token: when set, every ``/jobs`` request must carry it as
        ``Authorization: Bearer TOKEN`` or ``X-API-Token: TOKEN``. Default: the
        ``GRIDGEO_TOKEN`` environment variable.
    max_upload_mb : float, default 100
        Largest request body (GeoJSON or upload), in MiB; larger ones get 413.
    max_unzipped_mb : float, optional
        Largest total size of a zip archive's contents (default: 10 × ``max_upload_mb``).
    workers : int, default 1
        Jobs run at the same time, each in a worker process; the others wait in the
        queue.
    max_queue : int, default 64
        Jobs waiting or running at most; further submissions get 503.
    job_timeout : float, default 1800
        Seconds a job may run (30 min); then it is stopped and fails, saying so.
    job_memory_mb : float, optional
        MiB of its own memory a job may use; then it is stopped and fails, saying so.
        Default: half the machine's memory shared by the workers
        (:func:`default_job_memory_mb`).
    store : str, optional
        The job store (and the workbench's plan versions): a PostgreSQL URL,
        ``postgresql://user@host/db[?schema=NAME]``, shared by every process started
        with it (see :mod:`gridgeo.service.pgstore`). Default: SQLite in ``data_dir``.
        May hold a password: never shown (see :attr:`store_display`).
    public_url : str, optional
        The service's address as clients reach it (``https://gis.example.org/gridgeo``):
        result links are built from it. Default: links relative to the request's path
        (never from its ``Host`` header).
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://10.0.0.5:8786``): partition jobs then run
        every stage per tile on that cluster
        (:func:`gridgeo.distributed.partition_tiles`). ``gridgeo serve`` hands it to
        the job processes in the :data:`SCHEDULER_ENV` environment variable.
    """

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = field(default_factory=lambda: os.environ.get("GRIDGEO_TOKEN") or None)
    max_upload_mb: float = 100.0
    max_unzipped_mb: float | None = None
    workers: int = 1
    max_queue: int = 64
    job_timeout: float = DEFAULT_JOB_TIMEOUT
    job_memory_mb: float | None = None
    public_url: str | None = None
    store: str | None = field(default=None, repr=False)
    scheduler: str | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if self.public_url is not None:
            self.public_url = self.public_url.strip().rstrip("/") or None

    @property
    def job_memory_limit_mb(self) -> float:
        """``job_memory_mb``, or its default for the number of workers."""
        if self.job_memory_mb is not None:
            return self.job_memory_mb
        return default_job_memory_mb(self.workers)

    @property
    def store_display(self) -> str:
        """Where jobs are kept, safe to show (a database URL without its password)."""
        if self.store is None:
            return str(self.data_dir / "jobs.sqlite")
        from ..io import is_db_url, parse_db_url

        if not is_db_url(self.store):
            return "(not a database URL)"
        try:
            return parse_db_url(self.store).display
        except InputError:
            return "(an invalid database URL)"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * _MB)

    @property
    def max_unzipped_bytes(self) -> int:
        mb = self.max_unzipped_mb if self.max_unzipped_mb is not None else 10 * self.max_upload_mb
        return int(mb * _MB)

    def check(self) -> ServiceConfig:
        """Raise :class:`~gridgeo.InputError` for unusable settings; returns itself.

        Refuses a non-loopback ``host`` without a token: the API would be open to the
        network.
        """
        if not is_loopback(self.host) and not self.token:
            msg = (
                f"refusing to listen on {self.host} without an API token: pass --token-file FILE "
                "(or set GRIDGEO_TOKEN), or listen on 127.0.0.1"
            )
            raise InputError(msg)
        if self.token is not None and len(self.token) < 8:
            raise InputError("the API token must be at least 8 characters long")
        if not 0 < self.port < 65536:
            raise InputError(f"port must be between 1 and 65535, got {self.port}")
        if not self.max_upload_mb > 0:
            raise InputError(f"max upload must be more than 0 MiB, got {self.max_upload_mb}")
        if self.max_unzipped_mb is not None and not self.max_unzipped_mb > 0:
            raise InputError(
                f"max unzipped size must be more than 0 MiB, got {self.max_unzipped_mb}"
            )
        if self.workers < 1:
            raise InputError(f"workers must be 1 or more, got {self.workers}")
        if self.max_queue < 1:
            raise InputError(f"max_queue must be 1 or more, got {self.max_queue}")
        if not self.job_timeout > 0:
            raise InputError(f"--job-timeout must be more than 0 seconds, got {self.job_timeout}")
        if self.job_memory_mb is not None and not self.job_memory_mb >= 16:
            raise InputError(f"--job-memory-mb must be 16 or more, got {self.job_memory_mb:g}")
        if self.store is not None:
            from ..io import is_db_url

            if not is_db_url(self.store):
                msg = (
                    "--store takes a PostgreSQL URL, postgresql://user@host/db[?schema=NAME]; "
                    "leave it out to keep jobs in SQLite under --data-dir"
                )
                raise InputError(msg)
        if self.scheduler is not None and "://" not in self.scheduler:
            msg = f"--scheduler must be a Dask scheduler address such as tcp://10.0.0.5:8786, got {self.scheduler!r}"
            raise InputError(msg)
        if self.public_url is not None:
            url = urlsplit(self.public_url)
            if url.scheme not in ("http", "https") or not url.netloc or url.query or url.fragment:
                msg = (
                    f"--public-url must be an http(s) address without query, e.g. "
                    f"https://gis.example.org/gridgeo, got {self.public_url!r}"
                )
                raise InputError(msg)
        return self
