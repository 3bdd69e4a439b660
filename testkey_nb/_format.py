"""Plain-text rendering of metric values, shared by the frames, the terminal and the HTML views."""

from __future__ import annotations

from typing import Any

__all__ = ["plain_text"]


def plain_text(value: Any) -> str:
    """``None`` -> "unknown", a list -> its items joined (or "(none)"), anything else -> ``str``."""
    if value is None:
        return "unknown"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) if value else "(none)"
    return str(value)
