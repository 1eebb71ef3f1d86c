"""The text encoding of a Shapefile that does not say it.

A Shapefile names the encoding of its attribute table in a ``.cpg`` file beside it (or
in a code-page byte of the ``.dbf``). Many Chinese Shapefiles have neither: written by
software on Chinese Windows, their text is GBK, and GDAL, told nothing, reads it as
Latin-1, so ``户数`` arrives as ``»§Êý`` and no column can be named. Text read that way
is recognised: its bytes, taken back from Latin-1, decode cleanly as UTF-8, or as
GB 18030 in byte pairs that make Chinese characters. Latin-1 text of European names
(``Kävelykatu``) has single high bytes between ASCII letters and is left as it is.

Examples
--------
>>> misread = "户数,名称".encode("gbk").decode("latin-1")
>>> misread
'»§Êý,Ãû³Æ'
>>> guess_encoding([misread])
'GB18030'
>>> guess_encoding(["Kävelykatu", "Töölö"]) is None
True
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd

__all__ = ["guess_encoding", "misread_text", "has_cpg"]

_HIGH_RUN = re.compile(r"[\x80-\xff]+")
_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
#: Values of each text column looked at (the names are always looked at).
_SAMPLE = 200


def has_cpg(path: Path) -> bool:
    """Whether the Shapefile at ``path`` (``.shp`` or a ``.zip`` of one) has a ``.cpg``."""
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as z:
                return any(n.lower().endswith(".cpg") for n in z.namelist())
        except (OSError, zipfile.BadZipFile):
            return True  # not ours to judge: the reader says what is wrong
    return any(path.with_suffix(s).is_file() for s in (".cpg", ".CPG"))


def misread_text(gdf: gpd.GeoDataFrame) -> list[str]:
    """The column names and a sample of the text values of ``gdf``."""
    text = [str(c) for c in gdf.columns]
    for col in gdf.columns:
        if col != gdf.geometry.name and gdf[col].dtype == object:
            text.extend(str(v) for v in gdf[col].dropna().head(_SAMPLE) if isinstance(v, str))
    return text


def guess_encoding(text: Iterable[str]) -> str | None:
    """``"UTF-8"`` or ``"GB18030"`` when ``text`` is such text read as Latin-1, else None."""
    joined = "\n".join(text)
    if not _HIGH_RUN.search(joined) or any(ord(ch) > 0xFF for ch in joined):
        return None  # plain ASCII, or not read as Latin-1
    raw = joined.encode("latin-1")
    try:
        raw.decode("utf-8")
        return "UTF-8"
    except UnicodeDecodeError:
        pass
    if any(len(run) % 2 for run in _HIGH_RUN.findall(joined)):
        return None  # a single high byte: Latin-1 letters among ASCII ones
    try:
        decoded = raw.decode("gb18030")
    except UnicodeDecodeError:
        return None
    wide = [ch for ch in decoded if ord(ch) > 0x7F]
    return "GB18030" if len(_CJK.findall(decoded)) >= 0.8 * len(wide) else None
