"""OpenStreetMap tag values: GDAL ``other_tags`` strings, text columns and numbers.

:func:`parse_other_tags` and :func:`extract_tags` read the hstore strings in which
GDAL's OSM driver keeps the tags that have no column of their own; the private parsers
turn ``building:levels``, ``building:flats`` and ``height`` into floats.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

__all__ = ["parse_other_tags", "extract_tags"]

# Tag keys of shops and services, in the order that names a point of interest.
_POI_KEYS = ("shop", "amenity", "office", "craft")

# Tag keys that say what a building is used for, beside the POI keys (read with it).
BUILDING_USE_KEYS = ("tourism", "historic", "leisure", "military", "man_made", "aeroway")

# Tag keys the splitter reads; every other tag is ignored.
_KEYS = (
    "name",
    "highway",
    "building",
    "building:levels",
    "building:flats",
    "height",
    *_POI_KEYS,
    "industrial",
    "railway",
    "waterway",
    "natural",
    "landuse",
    *BUILDING_USE_KEYS,
    "tunnel",
)

# --------------------------------------------------------------------------- OSM tags


def _tag_pattern(key: str) -> str:
    quoted = key.replace("\\", "\\\\").replace('"', '\\"')
    return rf'(?:^|,)"{re.escape(quoted)}"=>"((?:[^"\\]|\\.)*)"'


_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(.)")


def _unescape(text: str) -> str:
    return _ESCAPE.sub(r"\1", text)


def parse_other_tags(series: Iterable[str | None]) -> list[dict[str, str]]:
    """Parse GDAL ``other_tags`` hstore strings into dictionaries.

    Parameters
    ----------
    series : iterable of str or None
        Values like ``'"building:levels"=>"5","height"=>"12 m"'``. Quotes and
        backslashes inside keys and values are backslash-escaped, as GDAL writes them.
        Missing values give an empty dict.

    Returns
    -------
    list of dict
        One ``{key: value}`` dict per input value, unescaped.

    Examples
    --------
    >>> parse_other_tags(['"height"=>"12 m","note"=>"say \\\\"hi\\\\""', None])
    [{'height': '12 m', 'note': 'say "hi"'}, {}]
    """
    out: list[dict[str, str]] = []
    for text in series:
        if not isinstance(text, str) or not text:
            out.append({})
            continue
        out.append({_unescape(k): _unescape(v) for k, v in _PAIR.findall(text)})
    return out


def extract_tags(series: pd.Series, keys: Iterable[str]) -> pd.DataFrame:
    """Extract the values of some keys from GDAL ``other_tags`` hstore strings.

    Vectorised counterpart of :func:`parse_other_tags` for a few keys.

    Parameters
    ----------
    series : pandas.Series
        ``other_tags`` strings (missing values allowed).
    keys : iterable of str
        Tag keys to extract, e.g. ``["building:levels", "height"]``.

    Returns
    -------
    pandas.DataFrame
        One column per key, same index as ``series``; ``None`` where the key is absent.
    """
    text = series.astype(object).where(series.notna(), "").astype(str)
    out = {}
    for key in keys:
        values = text.str.extract(_tag_pattern(key), expand=False)
        has_escape = values.str.contains("\\", regex=False, na=False)
        if has_escape.any():
            values[has_escape] = values[has_escape].map(_unescape)
        out[key] = _as_text(values)
    return pd.DataFrame(out, index=series.index)


def _as_text(values: pd.Series) -> pd.Series:
    """Object Series holding ``str`` or ``None`` (empty strings count as missing)."""
    text = values.astype(object).map(str, na_action="ignore").astype(object)
    missing = values.isna().to_numpy() | (text == "").to_numpy()
    return text.where(~missing, None)


# ------------------------------------------------------------------ numeric tag values

_NUMBER = r"(\d+(?:[.,]\d+)?|[.,]\d+)"
_LEVELS_RE = re.compile(rf"\s*{_NUMBER}\s*")
_HEIGHT_RE = re.compile(
    rf"\s*{_NUMBER}\s*(m|meters?|metres?|ft|feet|foot|')?\s*", flags=re.IGNORECASE
)
_FEET_INCHES_RE = re.compile(r"""\s*(\d+)\s*'\s*(\d+(?:\.\d+)?)\s*(?:"|'')\s*""")
_FOOT = 0.3048


def _to_float(text: str) -> float:
    return float(text.replace(",", "."))


def _parse_count(text: str) -> float:
    """``"5"``, ``"5.5"``, ``"3;4"`` (largest value) → float; anything else → NaN."""
    best = np.nan
    for part in text.split(";"):
        m = _LEVELS_RE.fullmatch(part)
        if m is None:
            return np.nan
        value = _to_float(m.group(1))
        best = value if np.isnan(best) else max(best, value)
    return best


def _parse_height(text: str) -> float:
    """``"12"``, ``"12 m"``, ``"12.5m"``, ``"40'"``, ``"40 ft"``, ``"4'6\""`` → metres."""
    m = _HEIGHT_RE.fullmatch(text)
    if m is not None:
        unit = (m.group(2) or "m").lower()
        factor = _FOOT if unit in {"ft", "feet", "foot", "'"} else 1.0
        return _to_float(m.group(1)) * factor
    m = _FEET_INCHES_RE.fullmatch(text)
    if m is not None:
        return (float(m.group(1)) + float(m.group(2)) / 12) * _FOOT
    return np.nan


def _parse_numbers(values: pd.Series, parse: Callable[[str], float]) -> pd.Series:
    """Parse each distinct text value once; missing or unparseable values become NaN."""
    present = values.dropna()
    lut = {v: parse(str(v)) for v in pd.unique(present)}
    out = pd.Series(np.nan, index=values.index, dtype=float)
    out[present.index] = present.map(lut).astype(float)
    return out
