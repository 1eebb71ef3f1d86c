"""The gridgeo HTTP service: partition and audit jobs over a small JSON API.

``gridgeo serve`` (or :func:`serve`) starts it with uvicorn, on 127.0.0.1:8765 by
default. Jobs run each in a process of its own, not in the requests, within a time and a
memory limit; the store (SQLite under the data directory, or PostgreSQL with
``--store``: :mod:`gridgeo.service.pgstore`) is the queue, so a restart
loses nothing: queued jobs run after it, a job that was running runs once more. See
:mod:`gridgeo.service.app` for the endpoints, :mod:`gridgeo.service.runner` for how
jobs run.

Needs the optional dependencies ``fastapi``, ``uvicorn``, ``python-multipart`` and
``ijson``.

Examples
--------
>>> from gridgeo.service import ServiceConfig
>>> ServiceConfig("/tmp/gridgeo-data", host="0.0.0.0", token=None).check()
Traceback (most recent call last):
...
gridgeo._errors.InputError: refusing to listen on 0.0.0.0 without an API token: pass --token-file FILE (or set GRIDGEO_TOKEN), or listen on 127.0.0.1
"""

from __future__ import annotations

import logging
from typing import Any

from .config import DEFAULT_PORT, ServiceConfig, is_loopback

__all__ = ["DEFAULT_PORT", "ServiceConfig", "create_app", "is_loopback", "serve"]

log = logging.getLogger(__name__)

_INSTALL_HINT = (
    "the gridgeo service needs fastapi, uvicorn, python-multipart and ijson: "
    "pip install 'gridgeo[service]'"
)


def create_app(config: ServiceConfig) -> Any:
    """The FastAPI application (see :func:`gridgeo.service.app.create_app`)."""
    try:
        from .app import create_app as _create
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(_INSTALL_HINT) from err
    return _create(config)


def serve(config: ServiceConfig, *, log_level: str = "info") -> None:
    """Run the service with uvicorn until interrupted.

    Parameters
    ----------
    config : ServiceConfig
        Checked first: a non-loopback host without a token is refused.
    log_level : str, default "info"
        uvicorn's log level.
    """
    config.check()
    try:
        import uvicorn
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(_INSTALL_HINT) from err
    app = create_app(config)
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level=log_level,
        server_header=False,
        timeout_graceful_shutdown=10,
        # longer than clients' pool expiry (httpx: 5 s), so that a client never reuses
        # a connection the server is closing
        timeout_keep_alive=30,
    )
