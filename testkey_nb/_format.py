"""The one number formatter: frames, the terminal, the HTML views, the fleet index and the charts.

Rules (issue 13): dollars with 2 decimals (``$1,234.57``), 4 for per-minute prices (``$0.0201``);
counts with thousands separators (``632,334``); other numbers with at most 2 decimals; units go in
the column header (:func:`column_header`), not in every cell. Charts use the same rules through the
d3-format strings below (Vega-Lite formats its axes and tooltips with d3-format).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any, Final

__all__ = [
    "D3_COUNT",
    "D3_NUMBER",
    "D3_USD",
    "D3_USD_PER_MINUTE",
    "column_header",
    "count",
    "distinct_names",
    "format_cell",
    "moment",
    "number",
    "plain_text",
    "seconds",
    "usd",
]

#: d3-format strings for Vega-Lite axes and tooltips, the same rules as the Python formatters.
D3_USD: Final = "$,.2f"
D3_USD_PER_MINUTE: Final = "$,.4f"
D3_COUNT: Final = ",d"
D3_NUMBER: Final = ",.2~f"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def usd(value: Any, *, per_minute: bool = False) -> str:
    """``$1,234.57``; per-minute prices keep 4 decimals (``$0.0201``). Not a number -> "unknown"."""
    if not _finite(value):
        return "unknown"
    digits = 4 if per_minute else 2
    text = f"{abs(float(value)):,.{digits}f}"
    return f"-${text}" if float(value) < 0 and text.strip("0.,") else f"${text}"


def count(value: Any) -> str:
    """A whole count with separators (``632,334``); a float is rounded. Not a number -> "unknown"."""
    if not _finite(value):
        return "unknown"
    return f"{round(value):,}"


def number(value: Any) -> str:
    """An int with separators, a float with at most 2 decimals (``43,733.2``, ``0.96``)."""
    if not _finite(value):
        return "unknown"
    if isinstance(value, int):
        return f"{value:,}"
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def seconds(value: Any) -> str:
    """``195 s``, ``1.5 s``."""
    return "unknown" if not _finite(value) else f"{number(value)} s"


def plain_text(value: Any) -> str:
    """``None`` -> "unknown", a list -> its items joined (or "(none)"), a number by :func:`number`."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return number(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(map(plain_text, value)) if value else "(none)"
    return str(value)


# Column name -> (header with its unit, kind). Kinds: usd, usd_min, count, number, seconds.
_COLUMNS: Final[dict[str, tuple[str, str]]] = {
    "usd": ("cost (USD)", "usd"),
    "minutes": ("billed minutes", "count"),
    "billed_minutes": ("billed minutes", "count"),
    "idle_billed_minutes": ("idle billed minutes", "count"),
    "days": ("days", "count"),
    "cold_starts": ("cold starts", "count"),
    "inference_requests": ("requests", "count"),
    "min_replica": ("min replica", "count"),
    "max_replica": ("max replica", "count"),
    "total_usd": ("total (USD)", "usd"),
    "floor_usd": ("floor (USD / month)", "usd"),
    "ceiling_usd": ("ceiling (USD / month)", "usd"),
    "observed_mtd_usd": ("observed this month (USD)", "usd"),
    "projected_floor_usd": ("projected floor (USD / month)", "usd"),
    "usd_saved_vs_max": ("saved vs max (USD)", "usd"),
    "usd_per_minute": ("price (USD / min)", "usd_min"),
    "first_request_added_latency_s": ("first-request added latency (s)", "seconds"),
    "total_added_latency_s": ("total added latency (s)", "seconds"),
    "deployment_name": ("deployment", "text"),
    "price_in_per_mtok": ("input (USD / Mtok)", "usd"),
    "price_out_per_mtok": ("output (USD / Mtok)", "usd"),
    "price_cached_in_per_mtok": ("cached input (USD / Mtok)", "usd"),
    "context_length": ("context (tokens)", "count"),
    "rpm": ("requests / min", "count"),
    "tpm": ("tokens / min", "count"),
    "instance_type": ("instance type", "text"),
}


def _kind(column: str) -> str:
    if column in _COLUMNS:
        return _COLUMNS[column][1]
    if column.endswith("_per_minute_usd") or column.endswith("usd_per_minute"):
        return "usd_min"
    if column.endswith("_usd") or column == "usd":
        return "usd"
    if column.endswith("_minutes") or column.endswith("_count"):
        return "count"
    if column.endswith("_s"):
        return "seconds"
    return "number"


def column_header(column: str) -> str:
    """The header of a frame column, with its unit (``floor_usd`` -> "floor (USD / month)")."""
    if column in _COLUMNS:
        return _COLUMNS[column][0]
    kind = _kind(column)
    base = column.replace("_", " ")
    if kind == "usd":
        return f"{base.removesuffix(' usd')} (USD)"
    if kind == "usd_min":
        return f"{base.removesuffix(' usd per minute').removesuffix(' per minute usd')} (USD / min)"
    if kind == "seconds":
        return f"{base.removesuffix(' s')} (s)"
    return base


def format_cell(column: str, value: Any) -> str:
    """One cell of a frame column, by the column's kind; text and missing values by :func:`plain_text`.

    The unit is in the header, so dollars print without the ``$`` sign here (``2,947.55``).
    """
    if not _finite(value):
        return plain_text(value)
    kind = _kind(column)
    if kind == "usd":
        return usd(value).replace("$", "")
    if kind == "usd_min":
        return usd(value, per_minute=True).replace("$", "")
    if kind == "count":
        return count(value)
    return number(value)


def moment(value: Any, *, seconds: bool = False) -> str:
    """A point in time as people read it, in UTC: ``2 Dec 2026, 02:48 UTC`` (from an ISO string, a
    datetime or epoch seconds); a bare date -> ``2 Dec 2026``; not a time -> "unknown" (text that is
    not ISO is returned as it is)."""
    if value is None or value == "":
        return "unknown"
    when: datetime | None
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, date):
        return f"{value.day} {value:%b %Y}"
    elif _finite(value):
        when = datetime.fromtimestamp(float(value), UTC)
    else:
        text = str(value).strip()
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
        if len(text) == 10:  # a date alone
            return f"{when.day} {when:%b %Y}"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    clock = f"{when:%H:%M:%S}" if seconds else f"{when:%H:%M}"
    return f"{when.day} {when:%b %Y}, {clock} UTC"


def distinct_names(names: list[Any], qualifiers: list[Any], fallbacks: list[Any] | None = None) -> list[str]:
    """Names people can tell apart: a name shared by different things gets its qualifier (the model it serves)
    or, failing that, its fallback (an id): two "deployment-1" become "deployment-1 (GLM-4.7)" and
    "deployment-1 (Kimi-K2)". A missing name is the fallback itself."""
    fallbacks = fallbacks if fallbacks is not None else [None] * len(names)
    base = [str(n) if n not in (None, "") else str(f or "unnamed") for n, f in zip(names, fallbacks, strict=True)]
    keys = list(zip(base, qualifiers, fallbacks, strict=True))
    out = []
    for name, qual, fallback in keys:
        twins = {(q, f) for b, q, f in keys if b == name}
        if len(twins) <= 1:
            out.append(name)
            continue
        quals = {q for q, _f in twins}
        extra = qual if qual not in (None, "") and len(quals) == len(twins) else fallback
        out.append(f"{name} ({extra})" if extra not in (None, "") else name)
    return out
