"""Input checks shared by every entry point.

Each check raises a :mod:`gridgeo._errors` exception whose message names the layer, what
is wrong and how to fix it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import (
    CRSError,
    EmptyLayerError,
    GeometryError,
    HouseholdsError,
    InputError,
    MissingColumnError,
)

__all__ = [
    "check_layer",
    "check_column",
    "check_counts",
    "check_positive",
    "check_fraction",
    "head_rows",
    "POLYGONAL",
    "LINEAR",
    "POINTS",
]

log = logging.getLogger(__name__)

POLYGONAL = frozenset({"Polygon", "MultiPolygon"})
LINEAR = frozenset({"LineString", "MultiLineString", "LinearRing"})
POINTS = frozenset({"Point", "MultiPoint"})
_FIX_CRS = "set it with gdf.set_crs(EPSG) if you know it (e.g. 4326 for longitude/latitude)"


def check_layer(
    obj: object,
    name: str,
    *,
    geom_types: Iterable[str] | None = None,
    repair: bool = True,
    drop_other_types: bool = False,
    collapsed: str = "error",
) -> gpd.GeoDataFrame:
    """Validate a layer and return a clean copy.

    Parameters
    ----------
    obj : GeoDataFrame
        The layer.
    name : str
        How the layer is called in messages (``"buildings"``).
    geom_types : iterable of str, optional
        Accepted geometry types (e.g. :data:`POLYGONAL`). Features of other types raise,
        unless ``drop_other_types`` is set, in which case they are dropped and counted
        in the log (used for mixed OSM layers only).
    repair : bool, default True
        Repair invalid geometries with :func:`shapely.make_valid`, keeping the parts of
        the accepted types (without ``geom_types``: of the feature's own kind, so a
        broken polygon stays polygonal), instead of raising.
    drop_other_types : bool, default False
        See ``geom_types``.
    collapsed : {"error", "point"}, default "error"
        What becomes of a broken polygon that collapses to lines or points when
        repaired (a zero-area ring): an error, or — ``"point"`` — a point at its
        location, counted in a warning (so that what it holds, households in a
        buildings layer, stays where it was). Even then the layer is refused when most
        of its features collapse.

    Returns
    -------
    GeoDataFrame
        A copy with a valid, non-empty geometry in every row; the index is kept.
    """
    if isinstance(obj, gpd.GeoSeries):
        obj = gpd.GeoDataFrame(geometry=obj)
    if not isinstance(obj, gpd.GeoDataFrame):
        msg = (
            f"{name} must be a GeoDataFrame, got {type(obj).__name__}; read files with "
            "gridgeo.read_layer(path) or geopandas.read_file(path)"
        )
        raise InputError(msg)
    if len(obj) == 0:
        msg = f"{name} layer is empty: it holds no features; check the file, layer name or filter"
        raise EmptyLayerError(msg)
    if obj.crs is None:
        msg = f"{name} layer has no CRS (coordinate reference system); {_FIX_CRS}"
        raise CRSError(msg)
    gdf = obj.copy()
    geom = gdf.geometry.values
    missing = shapely.is_missing(geom) | shapely.is_empty(geom)
    if missing.all():
        msg = f"{name} layer has no geometries (all {len(gdf)} are missing or empty)"
        raise GeometryError(msg)
    if missing.any():
        msg = (
            f"{name} layer has {int(missing.sum())} features without geometry "
            f"(rows {head_rows(gdf.index[missing])}); drop or fix them, e.g. "
            "gdf[~gdf.geometry.is_empty & gdf.geometry.notna()]"
        )
        raise GeometryError(msg)
    types = set(geom_types) if geom_types is not None else None
    invalid = ~shapely.is_valid(geom)
    if invalid.any():
        if not repair:
            msg = (
                f"{name} layer has {int(invalid.sum())} invalid geometries "
                f"(rows {head_rows(gdf.index[invalid])}); repair them with gdf.make_valid()"
            )
            raise GeometryError(msg)
        geom = _repair(geom, invalid, types, name, gdf.index, collapsed)
        gdf = gdf.set_geometry(gpd.GeoSeries(geom, index=gdf.index, crs=gdf.crs))
        log.info("%s: repaired %d invalid geometries with make_valid", name, int(invalid.sum()))
    if types is not None:
        gtypes = gdf.geometry.geom_type.to_numpy()
        bad = ~np.isin(gtypes, list(types))
        if bad.any():
            if drop_other_types and not bad.all():
                log.info("%s: ignoring %d features that are not %s", name, int(bad.sum()), types)
                gdf = gdf[~bad]
            else:
                found = ", ".join(sorted(set(gtypes[bad])))
                hint = "check that the right file or layer was given"
                if "LineString" in types and "Polygon" in found:
                    hint = (
                        "a layer of road surfaces (道路面) gives no street lines: give the "
                        "road centre lines (道路中心线), or " + hint
                    )
                msg = (
                    f"{name} layer must hold {' or '.join(sorted(types))} geometries, but "
                    f"{int(bad.sum())} are {found}; {hint}"
                )
                raise GeometryError(msg)
    return gdf


def _repair(
    geom: np.ndarray,
    invalid: np.ndarray,
    types: set[str] | None,
    name: str,
    index: pd.Index,
    collapsed: str,
) -> np.ndarray:
    """``geom`` with its ``invalid`` entries repaired by make_valid (see
    :func:`check_layer`)."""
    where = np.flatnonzero(invalid)
    before = geom[where]
    fixed = shapely.make_valid(before)
    if types is not None:
        fixed = np.array([_keep_types(g, types) for g in fixed], dtype=object)
    else:  # each feature keeps its own kind: make_valid may add lines to polygons
        kinds = [_family_of(t) for t in shapely.get_type_id(before)]
        fixed = np.array([_keep_types(g, k) for g, k in zip(fixed, kinds, strict=True)])
    lost = shapely.is_empty(fixed) | shapely.is_missing(fixed)
    if lost.any():
        rows = index[where[lost]]
        polygons = np.isin(shapely.get_type_id(before[lost]), [3, 6])
        if collapsed != "point" or not polygons.all():
            msg = (
                f"{name} layer has {int(lost.sum())} invalid geometries that cannot be repaired "
                f"(rows {head_rows(rows)}): nothing of the expected type remains; "
                "fix or remove them in the source data"
            )
            raise GeometryError(msg)
        if 2 * int(lost.sum()) > len(geom):
            msg = (
                f"{name} layer is mostly unusable: {int(lost.sum())} of its {len(geom)} features "
                f"are broken rings that collapse to lines or points (rows {head_rows(rows)}); "
                "check that it is the right layer, or repair it in the source "
                "(QGIS: Fix geometries) and export it again"
            )
            raise GeometryError(msg)
        fixed[lost] = _vertex_centres(before[lost])
        log.warning(
            "%s: %d broken rings collapse to lines or points when repaired (rows %s): each is "
            "kept as a point where it lies",
            name,
            int(lost.sum()),
            head_rows(rows),
        )
    geom = geom.copy()
    geom[where] = fixed
    return geom


def _vertex_centres(geoms: np.ndarray) -> np.ndarray:
    """A point at the mean of each geometry's vertices (where a collapsed ring lies)."""
    xy, which = shapely.get_coordinates(geoms, return_index=True)
    n = np.maximum(np.bincount(which, minlength=len(geoms)), 1)
    x = np.bincount(which, weights=xy[:, 0], minlength=len(geoms)) / n
    y = np.bincount(which, weights=xy[:, 1], minlength=len(geoms)) / n
    return shapely.points(x, y)


def _family_of(type_id: int) -> frozenset[str]:
    """The types a repaired geometry of shapely type ``type_id`` may keep: its family."""
    if type_id in (3, 6):
        return POLYGONAL
    if type_id in (1, 2, 5):
        return LINEAR
    if type_id in (0, 4):
        return POINTS
    return POLYGONAL | LINEAR | POINTS


def _keep_types(geom: shapely.Geometry, types: set[str] | frozenset[str]) -> shapely.Geometry:
    """Keep the parts of ``geom`` whose type is accepted (after make_valid)."""
    if geom.geom_type in types:
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in types]
    if not parts:
        return shapely.Polygon() if "Polygon" in types else shapely.LineString()
    if len(parts) == 1:
        return parts[0]
    return shapely.union_all(parts)


def head_rows(index: pd.Index, n: int = 5) -> str:
    """The first ``n`` row labels of ``index`` for a message (``"3, 7, 12, …"``)."""
    items = [str(i) for i in index[:n]]
    return ", ".join(items) + (", …" if len(index) > n else "")


def check_column(gdf: pd.DataFrame, column: str, name: str) -> None:
    """Raise :class:`MissingColumnError` naming the available columns."""
    if column not in gdf.columns:
        cols = ", ".join(str(c) for c in gdf.columns if c != gdf.geometry.name) or "none"
        msg = f"{name} layer has no column {column!r}; available columns: {cols}"
        raise MissingColumnError(msg)


def check_counts(values: pd.Series, name: str, *, allow_missing: bool = False) -> pd.Series:
    """Check non-negative numeric counts (households, people) and return them as float."""
    numeric = pd.to_numeric(values, errors="coerce")
    bad_text = numeric.isna() & values.notna()
    if bad_text.any():
        msg = (
            f"{name} has {int(bad_text.sum())} values that are not numbers "
            f"(rows {head_rows(values.index[bad_text])}, e.g. {values[bad_text].iloc[0]!r}); "
            "clean the column so it holds numbers only"
        )
        raise HouseholdsError(msg)
    if not allow_missing and numeric.isna().any():
        n = int(numeric.isna().sum())
        msg = (
            f"{name} has {n} missing values (rows {head_rows(values.index[numeric.isna()])}); "
            "fill them (e.g. with 0 for non-residential buildings) or leave the column out "
            "to have households estimated"
        )
        raise HouseholdsError(msg)
    arr = numeric.to_numpy(dtype=float)
    if np.isinf(arr).any():
        msg = f"{name} has infinite values; replace them with real counts"
        raise HouseholdsError(msg)
    neg = arr < 0
    if neg.any():
        msg = (
            f"{name} has {int(neg.sum())} negative values (rows {head_rows(values.index[neg])}, "
            f"smallest {arr[neg].min():g}); counts must be 0 or more: correct them in the source"
        )
        raise HouseholdsError(msg)
    return numeric.astype(float)


def check_positive(value: float, name: str) -> float:
    """Check a strictly positive finite number."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        msg = f"{name} must be a number, got {value!r}"
        raise InputError(msg) from None
    if not np.isfinite(v) or v <= 0:
        msg = f"{name} must be a positive number, got {value!r}"
        raise InputError(msg)
    return v


def check_fraction(value: float, name: str, *, upper: float = 1.0) -> float:
    """Check a number in [0, upper)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        msg = f"{name} must be a number, got {value!r}"
        raise InputError(msg) from None
    if not (0 <= v < upper):
        msg = f"{name} must be between 0 and {upper:g} (e.g. 0.1 for ±10 %), got {value!r}"
        raise InputError(msg)
    return v
