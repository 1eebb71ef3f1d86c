"""Shops as points: shop, office and craft POIs, street-front amenities and commercial
buildings that hold no such point."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .options import StreetFrontOptions
from .tags import _NOT_A_SHOP, _POI_KEYS, _text

__all__ = ["shop_points"]


def _poi_mask(pois: pd.DataFrame, opt: StreetFrontOptions) -> np.ndarray:
    """Which rows of a POI layer are shops (see :func:`shop_points`)."""
    n = len(pois)
    if "kind" in pois.columns and "value" in pois.columns:
        kind, value = _text(pois["kind"]), _text(pois["value"])
        shop = np.isin(kind, ["shop", "office", "craft"]) & ~np.isin(value, list(_NOT_A_SHOP))
        return shop | ((kind == "amenity") & np.isin(value, list(opt.amenities)))
    keys = [k for k in _POI_KEYS if k in pois.columns]
    if not keys:
        return np.ones(n, dtype=bool)  # a plain layer of shops
    return _tagged_shop(pois, opt)


def _tagged_shop(df: pd.DataFrame, opt: StreetFrontOptions) -> np.ndarray:
    out = np.zeros(len(df), dtype=bool)
    for key in ("shop", "office", "craft"):
        if key in df.columns:
            v = _text(df[key])
            out |= (v != "") & ~np.isin(v, list(_NOT_A_SHOP))
    if "amenity" in df.columns:
        out |= np.isin(_text(df["amenity"]), list(opt.amenities))
    return out


def _column(df: pd.DataFrame, name: str) -> np.ndarray:
    if name in df.columns:
        return df[name].astype(object).where(df[name].notna(), None).to_numpy(dtype=object)
    return np.full(len(df), None, dtype=object)


def _shop_rows(
    source: str, df: gpd.GeoDataFrame, kind: np.ndarray, value: np.ndarray
) -> pd.DataFrame:
    """One row per feature of ``df``: a point on its surface, its kind, value and name."""
    return pd.DataFrame(
        {
            "source": source,
            "kind": kind,
            "value": value,
            "name": _column(df, "name"),
            "ref": df.index.to_numpy(dtype=object),
            "geometry": shapely.point_on_surface(df.geometry.to_numpy()),
        }
    )


def shop_points(
    pois: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    options: StreetFrontOptions | None = None,
) -> gpd.GeoDataFrame:
    """Shops as points, from a POI layer and commercial buildings.

    Parameters
    ----------
    pois : GeoDataFrame, optional
        Points or polygons. With ``kind``/``value`` columns (the ``pois`` layer of
        :func:`gridgeo.read_osm`), rows of kind ``shop``, ``office`` or ``craft`` and
        street-front amenities are shops; with ``shop``/``office``/``craft``/``amenity``
        columns (raw OSM tags), rows carrying one of them; with none of these columns,
        every feature is a shop.
    buildings : GeoDataFrame, optional
        Building polygons in the same CRS. A commercial building (``building`` in
        ``options.commercial_buildings``, or a ``shop``/``office``/``craft``/amenity
        tag) that holds no shop point counts as one shop.
    options : StreetFrontOptions, optional

    Returns
    -------
    GeoDataFrame
        Points: ``source`` (``poi`` or ``building``), ``kind``, ``value``, ``name``,
        ``ref`` (the row label in its layer). Polygons become a point on their surface.
    """
    opt = options or StreetFrontOptions()
    parts = []
    crs = None
    if pois is not None and len(pois):
        crs = pois.crs
        keep = _poi_mask(pois, opt)
        p = pois[keep]
        kind = _column(p, "kind")
        value = _column(p, "value")
        if "kind" not in p.columns:
            kind, value = _first_tag(p)
        parts.append(_shop_rows("poi", p, kind, value))
    if buildings is not None and len(buildings):
        crs = crs or buildings.crs
        commercial = _tagged_shop(buildings, opt)
        if "building" in buildings.columns:
            commercial |= np.isin(_text(buildings["building"]), list(opt.commercial_buildings))
        b = buildings[commercial]
        if len(b) and parts:
            pts = parts[0]["geometry"].to_numpy()
            hit = shapely.STRtree(pts).query(b.geometry.to_numpy(), predicate="intersects")[0]
            b = b[~np.isin(np.arange(len(b)), hit)]
        if len(b):
            kind, value = _first_tag(b)
            no_tag = pd.isna(kind)
            kind = np.where(no_tag, "building", kind)
            value = np.where(no_tag, _column(b, "building"), value)
            parts.append(_shop_rows("building", b, kind, value))
    columns = ["source", "kind", "value", "name", "ref"]
    if not parts:
        empty = {c: pd.Series(dtype=object) for c in columns}
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    df = pd.concat(parts, ignore_index=True)
    return gpd.GeoDataFrame(df[columns], geometry=df["geometry"].to_numpy(), crs=crs)


def _first_tag(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Kind (first of shop/office/craft/amenity present) and its value, per row."""
    kind = np.full(len(df), None, dtype=object)
    value = np.full(len(df), None, dtype=object)
    for key in _POI_KEYS:
        if key in df.columns:
            v = df[key].to_numpy(dtype=object)
            hit = pd.isna(kind) & ~pd.isna(v)
            kind[hit] = key
            value[hit] = v[hit]
    return kind, value
