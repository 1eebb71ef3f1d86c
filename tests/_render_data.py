"""Real plans and system packages shared by the map tests (not a test module).

Plans are drawn once per process from the bundled OpenStreetMap extracts (Beijing
Wangjing, Kouvola) and must not be modified by the tests: copy before changing.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

import gridgeo
from gridgeo import datasets

#: Folder where the browser tests leave a copy of their screenshots for a person to look at.
SCREENS = Path("/tmp/gridgeo_screens")

# Made-up grid workers for the tests (the OSM extracts have none).
_WORKERS = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄勇"]


@functools.cache
def layers(name: str) -> gridgeo.OSMLayers:
    """OSM layers of a bundled extract."""
    return gridgeo.read_osm(datasets.get_path(name))


@functools.cache
def plan(name: str) -> gridgeo.Plan:
    """The plan gridgeo draws on a bundled extract with the default options."""
    lay = layers(name)
    return gridgeo.partition(lay.streets, lay.buildings)


def with_workers(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy of ``grids`` with made-up ``worker`` and ``phone`` columns."""
    out = grids.copy()
    out["worker"] = [_WORKERS[i % len(_WORKERS)] for i in range(len(out))]
    out["phone"] = [f"1380013{i:04d}" for i in range(len(out))]
    return out


def two_communities(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy with ``community_id`` "west" / "east" by the grids' centroids."""
    out = grids.copy()
    x = out.geometry.centroid.x.to_numpy()
    out["community_id"] = np.where(x < np.median(x), "west", "east")
    return out


def street_front_zones(name: str, n: int = 6) -> gpd.GeoDataFrame:
    """15 m buffers around the ``n`` longest streets of an extract (in its metric CRS)."""
    p = plan(name)
    streets = layers(name).streets.to_crs(p.crs)
    longest = streets.assign(length=streets.length).nlargest(n, "length")
    return gpd.GeoDataFrame(
        {
            "zone": [f"Z{i + 1:02d}" for i in range(n)],
            "shops": np.arange(n) * 3 + 4,
        },
        geometry=longest.buffer(15).to_numpy(),
        crs=p.crs,
    )


def findings(name: str, n: int = 5) -> gpd.GeoDataFrame:
    """Points at the first ``n`` buildings of a plan, as audit findings."""
    bld = plan(name).buildings.iloc[:n]
    return gpd.GeoDataFrame(
        {"finding": ["building in two grids"] * n, "building": bld["osm_id"].astype(str)},
        geometry=bld.geometry.representative_point().to_numpy(),
        crs=bld.crs,
    )


# --------------------------------------------------------------------------- Debian


def ensure_debian(packages: Sequence[str], present: Callable[[], bool], what: str) -> None:
    """Install Debian ``packages`` with apt-get when ``present()`` is false; fail if impossible.

    Serialised with a lock file, so that pytest-xdist workers do not run apt-get at once.
    """
    if present():
        return
    with open("/tmp/gridgeo-apt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if present():
            return
        apt = shutil.which("apt-get")
        if apt is None:
            pytest.fail(f"{what} missing and apt-get not found: install {' '.join(packages)}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = [apt, "-o", "DPkg::Lock::Timeout=600", "install", "-y", *packages]
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:  # stale package lists: update once and try again
            subprocess.run([apt, "update"], capture_output=True, env=env, check=False)
            result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0 or not present():
            tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            pytest.fail(
                f"{what} missing and `apt-get install -y {' '.join(packages)}` failed "
                f"(exit {result.returncode}; root and access to Debian's mirrors needed):\n"
                + "\n".join(tail)
            )
