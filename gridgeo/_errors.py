"""Exception classes raised by gridgeo.

Every error that reaches a user is a :class:`GridgeoError` whose message says what is
wrong and how to fix it. The CLI prints that message on one line and exits non-zero.
"""

from __future__ import annotations

__all__ = [
    "GridgeoError",
    "InputError",
    "CRSError",
    "EmptyLayerError",
    "MissingColumnError",
    "GeometryError",
    "HouseholdsError",
    "ReadError",
    "DownloadError",
    "DatabaseError",
]


class GridgeoError(Exception):
    """Base class of every error gridgeo raises on purpose."""


class InputError(GridgeoError, ValueError):
    """An input layer or argument is unusable as given."""


class CRSError(InputError):
    """A layer has no CRS, or a CRS that cannot be used as asked."""


class EmptyLayerError(InputError):
    """A layer holds no features (or none of the needed geometry type)."""


class MissingColumnError(InputError, KeyError):
    """A named column is not in the layer."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class GeometryError(InputError):
    """Geometries are missing, of the wrong type, or cannot be repaired."""


class HouseholdsError(InputError):
    """Household counts are missing, negative, or cannot be derived."""


class ReadError(GridgeoError, OSError):
    """A file cannot be found or read."""


class DownloadError(GridgeoError, ConnectionError):
    """OpenStreetMap data could not be downloaded."""


class DatabaseError(GridgeoError, ConnectionError):
    """A PostgreSQL/PostGIS database cannot be reached, or refuses a read or a write."""
