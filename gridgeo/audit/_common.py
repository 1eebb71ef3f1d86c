"""Small helpers of the audit modules: ids as text, picking by index, settings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._errors import InputError


def _text_ids(values: pd.Series) -> pd.Series:
    s = values.astype(object).where(values.notna(), None)
    s = s.map(lambda v: None if v is None else str(v).strip())
    return s.where(s != "", None)


def _pick(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``values[idx]``, None where ``idx`` is −1."""
    out = np.full(len(idx), None, dtype=object)
    ok = idx >= 0
    if ok.any():
        out[ok] = np.asarray(values, dtype=object)[idx[ok]]
    return out


def _non_negative(value: float, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not np.isfinite(v) or v < 0:
        msg = f"{name} must be a number, 0 or more, got {value!r}"
        raise InputError(msg)
    return v
