"""What this key itself used: requests, tokens and cost per day and per model (``key_usage``).

Provider-neutral: a provider's ``interpret.py`` fills :class:`UsageRow` / :class:`CostRow` from its own
answers (only the rows of this key) and calls :func:`build_key_usage`. Money is summed as
:class:`decimal.Decimal` from the provider's decimal strings and turned into numbers only in
:meth:`KeyUsage.as_json` (a float sum of many "0.1" subtotals drifts; a decimal sum does not).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from testkey_nb.check.facts import Provenance

__all__ = ["CostRow", "KeyUsage", "UsageRow", "build_key_usage", "decimal_or_none"]

_MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class UsageRow:
    """One day of this key's traffic on one model."""

    day: date
    model: str
    requests: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class CostRow:
    """One day of this key's cost on one model, as the provider's exact decimal."""

    day: date
    model: str
    cost: Decimal


@dataclass(frozen=True)
class KeyUsage:
    """``key_usage``: the key's own usage over ``start``..``end`` (inclusive dates).

    ``requests``/tokens are None when usage was not readable, ``cost`` None when cost was not readable;
    ``days`` lists every day of the window, days without usage included (zeros)."""

    start: date
    end: date
    requests: int | None
    input_tokens: int | None
    cached_input_tokens: int | None
    output_tokens: int | None
    cost: Decimal | None
    burn_per_day: Decimal | None
    by_model: tuple[dict[str, Any], ...]
    by_day: tuple[dict[str, Any], ...]
    provenance: Provenance
    probe: str | None
    #: the exchange the figures came from (``Observation.exchange`` of the read's first page)
    exchange: str | None
    note: str = ""
    models_used: tuple[str, ...] = field(default=())
    #: one row per day and model with traffic or cost: ``{date, model, requests, input_tokens,
    #: cached_input_tokens, output_tokens, cost_usd}`` (the report's per-day-per-model chart; not in JSON)
    by_day_model: tuple[dict[str, Any], ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        """The contract of ``key_usage`` (exact names; money as numbers, converted only here)."""
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": _num(self.cost),
            "burn_per_day_usd": _num(self.burn_per_day),
            "by_model": [_jsonable(r) for r in self.by_model],
            "by_day": [_jsonable(r) for r in self.by_day],
            "provenance": self.provenance,
            "probe": self.probe,
            "exchange": self.exchange,
        }


def decimal_or_none(value: Any) -> Decimal | None:
    """A decimal from a decimal string (or a JSON number, through its text); None when not a number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return out if out.is_finite() else None


def build_key_usage(
    *,
    start: date,
    end: date,
    usage: Sequence[UsageRow] | None,
    costs: Sequence[CostRow] | None,
    probe: str,
    exchange: str | None,
    note: str = "",
) -> KeyUsage:
    """Sum the key's rows (``None`` = that side was not readable) into a :class:`KeyUsage`."""
    days = [date.fromordinal(o) for o in range(start.toordinal(), end.toordinal() + 1)]
    by_day: dict[date, dict[str, Any]] = {d: _zero(usage is not None, costs is not None) for d in days}
    by_model: dict[str, dict[str, Any]] = {}
    for r in usage or ():
        for bucket in (by_day.setdefault(r.day, _zero(True, costs is not None)),
                       by_model.setdefault(r.model, _zero(True, costs is not None))):  # fmt: skip
            bucket["requests"] += r.requests
            bucket["input_tokens"] += r.input_tokens
            bucket["output_tokens"] += r.output_tokens
    for c in costs or ():
        for bucket in (by_day.setdefault(c.day, _zero(usage is not None, True)),
                       by_model.setdefault(c.model, _zero(usage is not None, True))):  # fmt: skip
            bucket["cost_usd"] += c.cost
    cells: dict[tuple[date, str], dict[str, Any]] = {}
    for r in usage or ():
        cell = cells.setdefault((r.day, r.model), {**_zero(True, costs is not None), "cached_input_tokens": 0})
        cell["requests"] += r.requests
        cell["input_tokens"] += r.input_tokens
        cell["cached_input_tokens"] += r.cached_input_tokens
        cell["output_tokens"] += r.output_tokens
    for c in costs or ():
        cached = 0 if usage is not None else None
        cell = cells.setdefault((c.day, c.model), {**_zero(usage is not None, True), "cached_input_tokens": cached})
        cell["cost_usd"] += c.cost
    total_cost = sum((c.cost for c in costs or ()), Decimal(0)) if costs is not None else None
    n_days = len(days)
    burn = (total_cost / n_days).quantize(_MICRO) if total_cost is not None and n_days else None
    return KeyUsage(
        start=start,
        end=end,
        requests=_total(usage, "requests"),
        input_tokens=_total(usage, "input_tokens"),
        cached_input_tokens=_total(usage, "cached_input_tokens"),
        output_tokens=_total(usage, "output_tokens"),
        cost=total_cost,
        burn_per_day=burn,
        by_model=tuple({"model": m, **v} for m, v in sorted(by_model.items())),
        by_day=tuple({"date": d.isoformat(), **v} for d, v in sorted(by_day.items())),
        provenance="observed",
        probe=probe,
        exchange=exchange,
        note=note,
        models_used=tuple(sorted({r.model for r in usage or () if r.requests > 0})),
        by_day_model=tuple({"date": d.isoformat(), "model": m, **v} for (d, m), v in sorted(cells.items())),
    )


def _zero(with_usage: bool, with_cost: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"requests": 0 if with_usage else None, "input_tokens": 0 if with_usage else None,
                           "output_tokens": 0 if with_usage else None}  # fmt: skip
    out["cost_usd"] = Decimal(0) if with_cost else None
    return out


def _total(rows: Iterable[UsageRow] | None, name: str) -> int | None:
    return None if rows is None else sum(int(getattr(r, name)) for r in rows)


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _num(v) if isinstance(v, Decimal) else v for k, v in row.items()}
