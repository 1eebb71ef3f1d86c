"""Standard grid codes (统一编码): 15-digit DB11/T 2157 and 20-digit CJ/T 349 codes.

- **DB11/T 2157-2023** (Beijing), 15 digits: 6-digit county-level admin code
  (GB/T 2260) + 3-digit street/town code + 3-digit community/village code + 3-digit
  grid sequence.
- **CJ/T 349-2010** (digital community grids), 20 digits: 6-digit code of the managed
  object class (CJ/T 348) + 6-digit admin code + 3-digit street + 3-digit community +
  2-digit grid sequence, ``00`` when the community is not divided.

Sequences run like a page inside each community — rows from north to south, west to
east along a row (从左到右、从上到下) — and are **stable**: a grid that already has a
valid code keeps it; grids without one take the lowest free numbers of their
community, in reading order; numbers given in ``retired`` (codes of grids that no longer
exist) are not handed out again, so that one code never names two areas.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> grids = gpd.GeoDataFrame(
...     {"community_id": ["A", "A", "A", "B"]},
...     geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(0, -1, 1, 0), box(5, 5, 6, 6)],
...     crs=3857,
... )
>>> assign_codes(grids, admin_code="110105", street_code="001").tolist()
['110105001001001', '110105001001002', '110105001001003', '110105001002001']
>>> assign_codes(grids, admin_code="110105", scheme="cjt349", object_class="010100").tolist()[-1]
'01010011010500100200'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import InputError

__all__ = [
    "SCHEMES",
    "assign_codes",
    "check_code",
    "code_length",
    "community_prefixes",
    "parse_code",
    "reading_rank",
]

log = logging.getLogger(__name__)

#: Code schemes: name → (length, digits of the sequence).
SCHEMES: dict[str, tuple[int, int]] = {"db11": (15, 3), "cjt349": (20, 2)}

_NAMES = {"db11": "15-digit DB11/T 2157", "cjt349": "20-digit CJ/T 349"}


def _scheme(scheme: str) -> str:
    s = str(scheme).lower().replace("-", "").replace("/", "").replace("_", "")
    aliases = {
        "db11": "db11",
        "db11t2157": "db11",
        "15": "db11",
        "cjt349": "cjt349",
        "20": "cjt349",
    }
    if s not in aliases:
        msg = f"unknown code scheme {scheme!r}: use 'db11' (15 digits) or 'cjt349' (20 digits)"
        raise InputError(msg)
    return aliases[s]


def code_length(scheme: str = "db11") -> int:
    """Number of digits of a code of ``scheme`` (``"db11"`` 15, ``"cjt349"`` 20).

    >>> code_length("cjt349")
    20
    """
    return SCHEMES[_scheme(scheme)][0]


def _digits(value: Any, n: int, what: str) -> str:
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():  # a number read from a spreadsheet
        text = text[:-2]
    if text.isdigit() and len(text) < n and what != "admin code":
        text = text.zfill(n)
    if not re.fullmatch(rf"\d{{{n}}}", text):
        msg = f"{what} must be {n} digits, got {value!r}"
        raise InputError(msg)
    return text


def check_code(code: Any, scheme: str = "db11") -> str:
    """Return ``code`` as a string after checking it has the scheme's number of digits.

    Raises
    ------
    InputError
        When the code is not all digits or has the wrong length.

    Examples
    --------
    >>> check_code("110105001001001")
    '110105001001001'
    >>> check_code("11010500100100", "db11")
    Traceback (most recent call last):
    ...
    gridgeo._errors.InputError: grid code '11010500100100' is not a 15-digit DB11/T 2157 code (15 digits)
    """
    scheme = _scheme(scheme)
    n = SCHEMES[scheme][0]
    text = str(code).strip()
    if not re.fullmatch(rf"\d{{{n}}}", text):
        msg = f"grid code {code!r} is not a {_NAMES[scheme]} code ({n} digits)"
        raise InputError(msg)
    return text


def parse_code(code: Any, scheme: str = "db11") -> dict[str, str]:
    """Split a code into its parts: ``object_class`` (CJ/T 349 only), ``admin``,
    ``street``, ``community``, ``sequence``, and the 12-digit ``division``.

    Examples
    --------
    >>> parse_code("110105001002003")["sequence"]
    '003'
    >>> parse_code("01010011010500100200", "cjt349")["community"]
    '002'
    """
    scheme = _scheme(scheme)
    text = check_code(code, scheme)
    head = ""
    if scheme == "cjt349":
        head, text = text[:6], text[6:]
    out = {
        "admin": text[:6],
        "street": text[6:9],
        "community": text[9:12],
        "sequence": text[12:],
        "division": text[:12],
    }
    if head:
        out["object_class"] = head
    return out


def reading_rank(geometry: Any, groups: Any = None) -> np.ndarray:
    """Rank of each polygon inside its group, read like a page (0 first).

    Rows run from north to south, each as high as a typical polygon of the group (the
    square root of the median area); inside a row, west to east (DB11/T 2157: west→east
    then north→south; CJ/T 349: 从左到右、从上到下). Rows start at the northern edge of
    each group.

    Parameters
    ----------
    geometry : array-like of Polygons
        In a projected CRS (metres).
    groups : array-like, optional
        Group of each polygon (community); one group when omitted.

    Returns
    -------
    ndarray of int64

    Examples
    --------
    >>> from shapely import box
    >>> reading_rank([box(1, 0, 2, 1), box(0, 0, 1, 1), box(0, 1, 1, 2)]).tolist()
    [2, 1, 0]
    """
    geoms = np.asarray(geometry, dtype=object)
    n = len(geoms)
    groups = np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups)
    rank = np.zeros(n, dtype=np.int64)
    if n == 0:
        return rank
    pts = shapely.point_on_surface(geoms)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    area = shapely.area(geoms)
    codes = pd.factorize(pd.Series(groups).astype(str), sort=True)[0]
    for g in np.unique(codes):
        idx = np.flatnonzero(codes == g)
        row_h = max(float(np.sqrt(np.median(area[idx]))), 1e-9)
        row = np.floor((y[idx].max() - y[idx]) / row_h)
        order = idx[np.lexsort((x[idx], row))]
        rank[order] = np.arange(len(order))
    return rank


def community_prefixes(
    communities: Iterable[Any],
    *,
    admin_code: str | None = None,
    street_code: str | None = "001",
    community_codes: Mapping[Any, Any] | None = None,
    known: Mapping[Any, str] | None = None,
) -> dict[Any, str]:
    """12-digit division code (admin + street + community) of each community.

    In order of precedence: ``community_codes[c]`` (3 digits, completed with
    ``admin_code`` and ``street_code``, or a full 12-digit statistical division code);
    ``known[c]`` (the prefix the community's existing codes carry); otherwise the
    next community number not yet used under ``admin_code`` + ``street_code``,
    communities taken in sorted order.

    Raises
    ------
    InputError
        When a code is malformed, ``admin_code`` is needed but missing, or two
        communities would get the same division code.

    Examples
    --------
    >>> community_prefixes(["x", "y"], admin_code="110105", street_code="002")
    {'x': '110105002001', 'y': '110105002002'}
    >>> community_prefixes(["x"], community_codes={"x": "110105003201"})
    {'x': '110105003201'}
    """
    given = dict(community_codes or {})
    known = dict(known or {})
    out: dict[Any, str] = {}
    admin = None if admin_code is None else _digits(admin_code, 6, "admin code")
    street = None if street_code is None else _digits(street_code, 3, "street code")
    pending = []
    for c in sorted(set(communities), key=lambda v: (str(type(v)), str(v))):
        if c in given:
            raw = str(given[c]).strip()
            if len(raw) == 12:
                out[c] = _digits(raw, 12, f"division code of community {c!r}")
                continue
            if admin is None or street is None:
                msg = f"community {c!r} has a 3-digit code: give the 6-digit admin code (--admin-code) and the street code (--street-code)"
                raise InputError(msg)
            out[c] = admin + street + _digits(raw, 3, f"code of community {c!r}")
        elif c in known:
            out[c] = known[c]
        else:
            pending.append(c)
    if pending:
        if admin is None or street is None:
            msg = (
                f"{len(pending)} communities have no code yet: give the 6-digit county admin "
                "code (--admin-code, GB/T 2260, e.g. 110105) and the street code (--street-code)"
            )
            raise InputError(msg)
        head = admin + street
        used = {int(p[9:]) for p in out.values() if p.startswith(head)}
        free = (i for i in range(1, 1000) if i not in used)
        for c in pending:
            number = next(free, None)
            if number is None:
                msg = f"street {head} holds more than 999 communities: give community codes (community_codes) for them"
                raise InputError(msg)
            out[c] = f"{head}{number:03d}"
    seen: dict[str, Any] = {}
    for c, p in out.items():
        if p in seen:
            msg = f"communities {seen[p]!r} and {c!r} both get division code {p}: give each its own code"
            raise InputError(msg)
        seen[p] = c
    return out


def assign_codes(
    grids: gpd.GeoDataFrame,
    *,
    admin_code: str | None = None,
    street_code: str | None = "001",
    community_codes: Mapping[Any, Any] | None = None,
    scheme: str = "db11",
    object_class: str | None = None,
    community_column: str | None = "community_id",
    previous: str | pd.Series | None = None,
    retired: Iterable[str] = (),
) -> pd.Series:
    """A standard code for every grid, stable where codes exist already.

    Parameters
    ----------
    grids : GeoDataFrame
        Grid polygons in a projected CRS.
    admin_code : str, optional
        6-digit county-level admin code (GB/T 2260), e.g. ``"110105"`` (Chaoyang).
        Needed unless every community gets a 12-digit code from ``community_codes`` or
        from its grids' ``previous`` codes.
    street_code : str, default "001"
        3-digit street/town code (statistical codes: 001–099 street offices, 100–199
        towns, 200–399 townships).
    community_codes : mapping, optional
        ``{community_id: code}``: 3 digits (001–199 residents' committees, 200–399
        village committees) or the full 12-digit division code. Default: communities
        numbered 001, 002 … in sorted order of ``community_id``.
    scheme : {"db11", "cjt349"}, default "db11"
        15-digit DB11/T 2157 or 20-digit CJ/T 349 codes.
    object_class : str, optional
        6-digit code of the managed object class (CJ/T 348), the head of CJ/T 349 codes;
        required with ``scheme="cjt349"``.
    community_column : str or None, default "community_id"
        Column of ``grids`` with the community; None (or a missing column): one
        community.
    previous : str or Series, optional
        Existing codes (a column name, or a Series aligned to ``grids``); a valid code
        is kept, empty or malformed ones are replaced (with a warning).
    retired : iterable of str
        Codes of grids that no longer exist: their numbers are not handed out again.

    Returns
    -------
    Series of str
        One code per grid, aligned to ``grids.index``.

    Raises
    ------
    InputError
        On a malformed admin, street or community code, a missing ``object_class``,
        or a community needing more grids than the sequence holds (999 for DB11/T
        2157, 99 for CJ/T 349).
    """
    fmt = _format(scheme, object_class)
    comm = _communities(grids, community_column)
    prev_div, prev_seq = _parse_previous(_previous(grids, previous), fmt)
    prefixes = community_prefixes(
        pd.unique(comm),
        admin_code=admin_code,
        street_code=street_code,
        community_codes=community_codes,
        known=_known_prefixes(comm, prev_div),
    )
    retired_by_div = _retired_numbers(retired, fmt)
    rank = reading_rank(grids.geometry.values, comm)
    codes = np.full(len(grids), "", dtype=object)
    for c in pd.unique(comm):
        idx = np.flatnonzero(comm == c)
        idx = idx[np.argsort(rank[idx], kind="stable")]
        div = prefixes[c]
        codes[idx] = _community_codes(
            c, div, prev_div[idx], prev_seq[idx], retired_by_div.get(div, set()), fmt
        )
    return pd.Series(codes.astype(str), index=grids.index, name="code")


@dataclass(frozen=True)
class _Format:
    """A code scheme's layout: its name, length, sequence digits and head."""

    scheme: str
    length: int
    seq_digits: int
    head: str

    @property
    def limit(self) -> int:
        """The highest grid sequence number."""
        return 10**self.seq_digits - 1

    def split(self, code: str) -> tuple[str, int]:
        """The 12-digit division and the sequence number of a code of this format."""
        body = code[len(self.head) :]
        return body[:12], int(body[12:])

    def code(self, division: str, sequence: int) -> str:
        """The code of grid ``sequence`` of ``division``."""
        return f"{self.head}{division}{sequence:0{self.seq_digits}d}"


def _format(scheme: str, object_class: str | None) -> _Format:
    """The layout of ``scheme``'s codes (CJ/T 349: headed by ``object_class``)."""
    scheme = _scheme(scheme)
    length, seq_digits = SCHEMES[scheme]
    head = ""
    if scheme == "cjt349":
        if object_class is None:
            msg = "20-digit CJ/T 349 codes start with the 6-digit object class code (CJ/T 348): give object_class (--object-class)"
            raise InputError(msg)
        head = _digits(object_class, 6, "object class code")
    return _Format(scheme, length, seq_digits, head)


def _communities(grids: gpd.GeoDataFrame, community_column: str | None) -> np.ndarray:
    """The community of every grid (one community without the column)."""
    if community_column is not None and community_column in grids.columns:
        return grids[community_column].to_numpy()
    return np.zeros(len(grids), dtype=np.int64)


def _parse_previous(prev: list[str | None], fmt: _Format) -> tuple[np.ndarray, np.ndarray]:
    """Division (None) and sequence (−1) of every previous code of this format."""
    n = len(prev)
    prev_div = np.full(n, None, dtype=object)
    prev_seq = np.full(n, -1, dtype=np.int64)
    bad = 0
    for i, code in enumerate(prev):
        if code is None:
            continue
        if len(code) != fmt.length or not code.isdigit() or not code.startswith(fmt.head):
            bad += 1
            continue
        prev_div[i], prev_seq[i] = fmt.split(code)
    if bad:
        log.warning(
            "%d existing codes are not %s codes: those grids get new codes",
            bad,
            _NAMES[fmt.scheme],
        )
    return prev_div, prev_seq


def _known_prefixes(comm: np.ndarray, prev_div: np.ndarray) -> dict[Any, str]:
    """The division most of a community's previous codes carry."""
    known: dict[Any, str] = {}
    has_prev = np.array([d is not None for d in prev_div], dtype=bool)
    for c in pd.unique(comm):
        divs = pd.Series(prev_div[(comm == c) & has_prev])
        if len(divs):
            known[c] = str(divs.mode().iloc[0])
    return known


def _retired_numbers(retired: Iterable[str], fmt: _Format) -> dict[str, set[int]]:
    """The retired sequence numbers of every division."""
    retired_by_div: dict[str, set[int]] = {}
    for code in retired:
        text = str(code).strip()
        if len(text) == fmt.length and text.isdigit():
            div, seq = fmt.split(text)
            retired_by_div.setdefault(div, set()).add(seq)
    return retired_by_div


def _community_codes(
    community: Any,
    div: str,
    prev_div: np.ndarray,
    prev_seq: np.ndarray,
    retired: set[int],
    fmt: _Format,
) -> list[str]:
    """The codes of one community's grids, in reading order: valid previous codes kept,
    the others the lowest numbers neither kept nor ``retired``."""
    n = len(prev_div)
    if fmt.scheme == "cjt349" and n == 1:  # the community is not divided
        return [f"{fmt.head}{div}00"]
    if n > fmt.limit:
        msg = (
            f"community {community!r} has {n} grids but {_NAMES[fmt.scheme]} codes number at "
            f"most {fmt.limit} grids per community: give part of it a community code of its own"
        )
        raise InputError(msg)
    keep = _kept_sequences(div, prev_div, prev_seq, fmt.limit)
    blocked = set(prev_seq[keep].tolist()) | retired
    free = (s for s in range(1, fmt.limit + 1) if s not in blocked)
    codes = []
    for j in range(n):
        if keep[j]:
            codes.append(fmt.code(div, prev_seq[j]))
            continue
        s = next(free, None)
        if s is None:
            msg = (
                f"community {community!r} ({div}) has no free {_NAMES[fmt.scheme]} grid number "
                f"left (1–{fmt.limit} used or retired): give part of it a community code of its own"
            )
            raise InputError(msg)
        codes.append(fmt.code(div, s))
    return codes


def _kept_sequences(div: str, prev_div: np.ndarray, prev_seq: np.ndarray, limit: int) -> np.ndarray:
    """Which grids keep their previous number: of this division, in range, first use."""
    used: set[int] = set()
    keep = np.zeros(len(prev_div), dtype=bool)
    for j, (d, s) in enumerate(zip(prev_div, prev_seq, strict=True)):
        if d == div and 1 <= s <= limit and s not in used:
            used.add(int(s))
            keep[j] = True
    return keep


def _previous(grids: gpd.GeoDataFrame, previous: str | pd.Series | None) -> list[str | None]:
    """Existing codes as digit strings (None when empty)."""
    if previous is None:
        return [None] * len(grids)
    if isinstance(previous, str):
        if previous not in grids.columns:
            return [None] * len(grids)
        values = grids[previous]
    else:
        values = pd.Series(previous)
        if len(values) != len(grids):
            msg = f"previous codes: {len(values)} values for {len(grids)} grids; give one per grid"
            raise InputError(msg)
    out: list[str | None] = []
    for v in values.to_numpy():
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            out.append(None)
            continue
        text = str(v).strip()
        if text.endswith(".0") and text[:-2].isdigit():
            text = text[:-2]
        out.append(text or None)
    return out
