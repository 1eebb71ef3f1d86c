"""Where the workbench opens plans from (打开方案), under the data directory.

A *source* is a short name the page sends, never a path:

- ``jobs/<id>``: the plan of a finished partition job of ``gridgeo serve``
  (``DATA_DIR/jobs/<id>/results/grids.gpkg``);
- ``plans/<name>``: a plan folder (or ``<name>.gpkg``) copied into ``DATA_DIR/plans``;
- ``uploads/<key>``: a plan uploaded from the page, kept in ``DATA_DIR/uploads/<key>``
  (``key`` is a hash of the files, so the same upload finds its saved versions again).

An upload is a gridgeo GeoPackage (layers ``grids`` and ``buildings``), a zipped plan
folder, or a city's own grid polygons (GeoPackage, GeoJSON or zipped Shapefile) with a
buildings layer, as ``gridgeo rebalance`` and ``gridgeo coverage`` take them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import zipfile
from pathlib import Path
from typing import Any

import pyogrio

from .._errors import GridgeoError, InputError, ReadError
from .session import Session

__all__ = [
    "UPLOADS",
    "grid_id_column",
    "list_sources",
    "open_source",
    "save_upload",
    "source_name",
]

log = logging.getLogger(__name__)

#: Folder of uploaded plans under the data directory.
UPLOADS = "uploads"
#: Unpacked size a zipped upload may reach (bytes).
MAX_UNZIPPED = 4 << 30
_SOURCE = re.compile(r"^(jobs|plans|uploads)/([A-Za-z0-9_.\-\u4e00-\u9fff]{1,120})$")


def _summary(folder: Path) -> dict[str, Any]:
    path = folder / "summary.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def list_sources(data_dir: str | Path) -> list[dict[str, Any]]:
    """The plans the workbench can open from ``data_dir``: ``source``, ``kind``
    (``job``, ``plan``, ``upload``), ``name``, ``grids``, ``households``, newest first
    within each kind."""
    root = Path(data_dir)
    out: list[dict[str, Any]] = []
    jobs = sorted(
        root.glob("jobs/*/results/grids.gpkg"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for gpkg in jobs:
        job = gpkg.parents[1].name
        fig = _summary(gpkg.parent)
        out.append(
            {
                "source": f"jobs/{job}",
                "kind": "job",
                "name": job[:8],
                "grids": fig.get("n_grids"),
                "households": fig.get("households"),
            }
        )
    for entry in sorted((root / "plans").glob("*")):
        gpkg = entry / "grids.gpkg" if entry.is_dir() else entry
        if gpkg.suffix != ".gpkg" or not gpkg.is_file():
            continue
        fig = _summary(gpkg.parent)
        out.append(
            {
                "source": f"plans/{entry.name}",
                "kind": "plan",
                "name": entry.name,
                "grids": fig.get("n_grids"),
                "households": fig.get("households"),
            }
        )
    for meta in sorted((root / UPLOADS).glob("*/meta.json")):
        info = json.loads(meta.read_text(encoding="utf-8"))
        out.append({"source": f"{UPLOADS}/{meta.parent.name}", "kind": "upload", **info})
    return out


def source_name(data_dir: str | Path, path: str | Path) -> str | None:
    """The source name of the plan at ``path`` when it lies in ``data_dir`` (so that
    ``gridgeo edit`` and ``gridgeo serve`` keep the same versions of it), else None."""
    root = Path(data_dir).resolve()
    p = Path(path).resolve()
    if p.name == "grids.gpkg":
        p = p.parent
    for kind, depth in (("plans", 1), ("jobs", 2)):
        base = root / kind
        if base in p.parents:
            parts = p.relative_to(base).parts
            if kind == "jobs" and parts[1:] == ("results",):
                return f"jobs/{parts[0]}"
            if kind == "plans" and len(parts) == depth:
                return f"plans/{parts[0]}"
    return None


def _resolve(data_dir: Path, source: str) -> Path:
    m = _SOURCE.match(source or "")
    if m is None or m.group(2) in {".", ".."}:
        msg = f"unknown plan source {source!r}; give one of GET /api/sources (jobs/ID, plans/NAME, uploads/KEY)"
        raise InputError(msg)
    kind, name = m.groups()
    root = data_dir.resolve()
    path = {
        "jobs": root / "jobs" / name / "results",
        "plans": root / "plans" / name,
        "uploads": root / UPLOADS / name,
    }[kind].resolve()
    if root not in path.parents or not path.exists():
        msg = f"no plan {source!r} in the data directory; give one of GET /api/sources"
        raise InputError(msg)
    return path


def open_source(data_dir: str | Path, source: str) -> Session:
    """A session on the plan ``source`` (see the module notes) of ``data_dir``."""
    path = _resolve(Path(data_dir), source)
    if source.startswith(UPLOADS + "/"):
        return _open_upload(path)
    return Session.open(path)


def _sniff(data: bytes) -> str:
    if data.startswith(b"SQLite format 3\x00"):
        return ".gpkg"
    if data.startswith(b"PK\x03\x04"):
        return ".zip"
    if data.lstrip()[:1] == b"{":
        return ".geojson"
    msg = "the upload is neither a GeoPackage, a GeoJSON file nor a zip archive; export the layer as one of those"
    raise InputError(msg)


def _unzip(path: Path, folder: Path) -> None:
    with zipfile.ZipFile(path) as z:
        names = z.infolist()
        if sum(i.file_size for i in names) > MAX_UNZIPPED:
            msg = f"the zip archive unpacks to more than {MAX_UNZIPPED >> 30} GiB; upload the plan's grids.gpkg instead"
            raise InputError(msg)
        for info in names:
            target = (folder / info.filename).resolve()
            if folder.resolve() not in target.parents:
                msg = f"the zip archive holds a path outside itself ({info.filename}); zip the plan folder again"
                raise InputError(msg)
        z.extractall(folder)


def save_upload(
    data_dir: str | Path,
    plan: bytes,
    *,
    name: str = "",
    buildings: bytes | None = None,
    households_column: str = "households",
) -> tuple[str, Session]:
    """Keep an uploaded plan in ``data_dir/uploads`` and open it; returns its source
    name (``uploads/<key>``) and the session.

    Parameters
    ----------
    plan : bytes
        A gridgeo GeoPackage, a zipped plan folder, or (with ``buildings``) a city's
        own grid polygons: GeoPackage, GeoJSON or zipped Shapefile.
    name : str
        What the planner called the file (shown in the list of sources).
    buildings : bytes, optional
        The buildings of a city's own grids (same formats), with ``households_column``.
    """
    h = hashlib.sha256(plan)
    if buildings is not None:
        h.update(b"\0" + buildings + b"\0" + households_column.encode("utf-8"))
    key = h.hexdigest()[:20]
    folder = Path(data_dir) / UPLOADS / key
    folder.mkdir(parents=True, exist_ok=True)
    grids_file = folder / f"grids_upload{_sniff(plan)}"
    grids_file.write_bytes(plan)
    meta: dict[str, Any] = {"name": name[:120] or key[:8], "households_column": households_column}
    if buildings is not None:
        b_file = folder / f"buildings_upload{_sniff(buildings)}"
        b_file.write_bytes(buildings)
        meta["buildings"] = b_file.name
    meta["grids_file"] = grids_file.name
    (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    try:
        session = _open_upload(folder)
    except Exception as exc:
        for p in sorted(folder.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        folder.rmdir()
        if isinstance(exc, GridgeoError):
            raise
        msg = f"cannot read the upload ({type(exc).__name__}: {exc}); upload a GeoPackage, GeoJSON file or zip archive that GIS software opens"
        raise ReadError(msg) from exc
    return f"{UPLOADS}/{key}", session


def _open_upload(folder: Path) -> Session:
    from ..io import read_layer

    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    grids_file = folder / meta["grids_file"]
    if "buildings" in meta:
        layers = pyogrio.list_layers(grids_file) if grids_file.suffix == ".gpkg" else []
        layer = "grids" if "grids" in [str(r[0]) for r in layers] else None
        grids = read_layer(grids_file, layer=layer, name="grids")
        session = Session.from_layers(
            grids,
            read_layer(folder / meta["buildings"], name="buildings"),
            households=meta["households_column"],
            grid_id=grid_id_column(grids),
        )
    elif grids_file.suffix == ".gpkg":
        session = Session.open(grids_file)
    elif grids_file.suffix == ".zip":
        unpacked = folder / "plan"
        if not unpacked.is_dir():
            _unzip(grids_file, unpacked)
        found = sorted(unpacked.rglob("grids.gpkg"))
        if not found:
            msg = "the zip archive holds no grids.gpkg; zip a plan folder written by `gridgeo partition --out DIR`, or upload a city's grids with a buildings layer"
            raise ReadError(msg)
        session = Session.open(found[0].parent)
    else:
        msg = "a GeoJSON upload is a city's own grids: upload its buildings layer with it"
        raise InputError(msg)
    session.source = f"{UPLOADS}/{folder.name}"
    return session


def grid_id_column(grids: Any) -> str:
    """``grid_id`` when the city's grids have it, else the first of the usual names."""
    for col in ("grid_id", "GRID_ID", "id", "ID", "code", "CODE", "name"):
        if col in grids.columns and grids[col].is_unique:
            return col
    msg = "the grids have no unique id column (grid_id, id, code or name); add one"
    raise InputError(msg)
