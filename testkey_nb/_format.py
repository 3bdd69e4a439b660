"""Plain-text rendering of metric values, shared by the frames, the terminal and the HTML views."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["number", "plain_text"]


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number(value: Any) -> str:
    """An int with separators, a float with at most 2 decimals (``43,733.2``, ``0.96``)."""
    if not _finite(value):
        return "unknown"
    if isinstance(value, int):
        return f"{value:,}"
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def plain_text(value: Any) -> str:
    """``None`` -> "unknown", a list -> its items joined (or "(none)"), anything else -> ``str``."""
    if value is None:
        return "unknown"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) if value else "(none)"
    return str(value)
