"""Paths to the real sample data shipped inside the package, in ``gridgeo/data/``
(sources and licences: ``gridgeo/data/README.md``), so that an installed wheel has them.

Examples
--------
>>> from gridgeo import datasets
>>> datasets.get_path("kouvola").name
'kouvola.osm.pbf'
"""

from __future__ import annotations

from pathlib import Path

from ._errors import InputError

__all__ = ["available", "get_path", "DATA_DIR"]

#: Folder holding the bundled data: ``gridgeo/data/``, installed with the package.
DATA_DIR = Path(__file__).resolve().parent / "data"

_FILES = {
    "helsinki": "helsinki.osm.pbf",
    "helsinki_population": "helsinki_population_2020.gpkg",
    "kouvola": "kouvola.osm.pbf",
    "monaco": "monaco.osm.pbf",
    "beijing_wangjing": "beijing_wangjing.osm",
}


def available() -> list[str]:
    """Names accepted by :func:`get_path`."""
    return sorted(_FILES)


def get_path(name: str) -> Path:
    """Return the path of a bundled dataset.

    Parameters
    ----------
    name : str
        One of :func:`available`: ``"helsinki"`` (OSM extract of central Helsinki),
        ``"helsinki_population"`` (HSY 250 m population grid 2020), ``"kouvola"``,
        ``"monaco"`` or ``"beijing_wangjing"`` (OSM XML, Chaoyang district, Beijing).

    Returns
    -------
    pathlib.Path
    """
    if name not in _FILES:
        msg = f"unknown dataset {name!r}; choose one of {', '.join(available())}"
        raise InputError(msg)
    path = DATA_DIR / _FILES[name]
    if not path.exists():
        msg = (
            f"bundled dataset {name!r} is missing at {path}; gridgeo's sample data ships "
            "inside the package (gridgeo/data/): reinstall gridgeo (pip install --force-reinstall gridgeo)"
        )
        raise InputError(msg)
    return path
