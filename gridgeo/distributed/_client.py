"""Dask clients: a LocalCluster, a scheduler address, or no Dask at all."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .._errors import GridgeoError, InputError

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

log = logging.getLogger(__name__)

_INSTALL_HINT = (
    "gridgeo.distributed needs dask: pip install 'gridgeo[dask]' "
    "(or pip install 'dask[distributed]' dask-geopandas)"
)

# --------------------------------------------------------------------------- clients


#: How long to try reaching a scheduler given by its address.
CONNECT_TIMEOUT = "10s"


class DaskMissingError(GridgeoError, ImportError):
    """dask or distributed is not installed (says which install command adds them)."""


def _require_dask() -> None:
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise DaskMissingError(_INSTALL_HINT) from err


def check_scheduler(address: str) -> None:
    """Connect to the Dask scheduler at ``address`` and leave; raise
    :class:`~gridgeo.InputError` saying so when it cannot be reached (within
    :data:`CONNECT_TIMEOUT`), :class:`DaskMissingError` without dask."""
    with _client(address, 1):
        pass


def _check_scheduler(scheduler: Any) -> None:
    """Raise early for a ``scheduler`` that is none of the accepted kinds."""
    if scheduler is None or (isinstance(scheduler, str) and scheduler):
        return
    if hasattr(scheduler, "scheduler_address"):  # a cluster
        return
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - depends on the environment
        Client = ()  # noqa: N806 - nothing is a Client without distributed
    if isinstance(scheduler, Client):
        return
    msg = f"scheduler must be 'local', a scheduler address, a distributed.Client or None, got {scheduler!r}"
    raise InputError(msg)


@contextmanager
def local_client(n_workers: int = 2) -> Iterator[Client]:
    """A ``distributed.Client`` on a new ``LocalCluster`` of ``n_workers`` processes
    (one thread each, everything on 127.0.0.1), both closed afterwards."""
    if not isinstance(n_workers, int) or n_workers < 1:
        msg = f"n_workers must be 1 or more, got {n_workers!r}"
        raise InputError(msg)
    _require_dask()
    from distributed import Client, LocalCluster

    # the scheduler runs in this process: its comings and goings are not the user's news
    logging.getLogger("distributed").setLevel(logging.WARNING)
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",  # HTTP routes on loopback only
            worker_dashboard_address="127.0.0.1:0",
            host="127.0.0.1",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@contextmanager
def _client(scheduler: Any, n_workers: int) -> Iterator[Client | None]:
    """A ``distributed.Client`` for ``scheduler`` (None: no Dask), closed afterwards
    when made here."""
    _check_scheduler(scheduler)
    if scheduler is None:
        yield None
        return
    _require_dask()
    from distributed import Client

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if hasattr(scheduler, "scheduler_address"):  # a cluster object
        with Client(scheduler) as client:
            yield client
        return
    if scheduler == "local":
        with local_client(n_workers) as client:
            yield client
        return
    # what _check_scheduler leaves: a scheduler address
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, ValueError) as err:
        msg = f"cannot reach the Dask scheduler at {scheduler!r}: {err}; check the address (tcp://host:8786) and that the scheduler runs"
        raise InputError(msg) from None
    with client:
        yield client
