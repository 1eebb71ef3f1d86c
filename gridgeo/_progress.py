"""Progress reporting: a tqdm bar on a terminal, nothing otherwise."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

__all__ = ["progress", "step"]

log = logging.getLogger("gridgeo")


def _enabled(show: bool | None) -> bool:
    if show is not None:
        return show
    return sys.stderr.isatty()


def progress(iterable, *, desc: str, total: int | None = None, show: bool | None = None):
    """Wrap ``iterable`` in a progress bar when stderr is a terminal (or ``show=True``)."""
    return tqdm(iterable, desc=desc, total=total, disable=not _enabled(show), leave=False)


@contextmanager
def step(name: str) -> Iterator[None]:
    """Log the start and duration of a pipeline step (``gridgeo`` logger, INFO level)."""
    t0 = time.perf_counter()
    log.info("%s …", name)
    yield
    log.info("%s done in %.2f s", name, time.perf_counter() - t0)
