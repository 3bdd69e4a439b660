"""Burn and runway: how fast a key's money goes and when it runs out. Every figure is ``derived``.

Money is read, never assumed: a runway rests only on a balance that was read from the provider or given
by the user (``--credits-remaining``); a provider's documented free grant is never one. The deactivation
date is given only when the user said the account has no payment method (``--payment-method none``); with
``card`` the models stay on once the money is gone (invoices follow), and unsaid, no date is claimed.

Two sources, the better one first:

* **The usage summary's daily figures** (Baseten): ``burn_per_day`` = the USD the window's days cost,
  divided by the days from the first day with usage (00:00 UTC) to the check. ``runway_days`` =
  what remains / burn; ``exhausted_at`` = the check + runway. The day the free credits run out and,
  with no payment method, the minute the models are deactivated come from the billing ledger
  (:func:`testkey_nb.billing.ledger.deactivation_time`, ``run_ledger``'s deactivation rule) run over the
  window's usage (spread evenly over each day's hours) followed by the burn rate, hour by hour, with the
  credits the window started with (what remains + what the window used). A crossing more than two
  years ahead is not projected.
* **Consecutive balance snapshots** (any provider that publishes a balance): the latest run of
  snapshots whose balance did not rise (a top-up starts a new run), within ``window_days`` of the
  latest one: ``burn_per_day`` = (first remaining - last remaining) / days between them.

No burn (zero or a rising balance) gives ``burn_per_day`` 0 and no runway: the money does not run out
at that rate. Too little data gives None, never a guess.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from testkey_nb.history.snapshot import Snapshot, format_time, parse_time

__all__ = ["DEFAULT_WINDOW_DAYS", "HORIZON_DAYS", "from_balances", "from_usage", "runway_for"]

DEFAULT_WINDOW_DAYS: Final = 30.0
#: The ledger projection stops here; a later exhaustion is given by the arithmetic alone.
HORIZON_DAYS: Final = 730
_DAY_S: Final = 86400.0


def _result(burn: float, remaining: float, at: datetime, window: dict[str, Any], currency: str,
            note: str) -> dict[str, Any]:  # fmt: skip
    if burn <= 0:
        runway = exhausted = None
        note = (note + "; " if note else "") + "no burn in the window: the balance does not run out at this rate"
        burn = 0.0
    else:
        runway = max(remaining, 0.0) / burn
        exhausted = format_time(at + timedelta(days=runway))
    return {
        "burn_per_day": round(burn, 6),
        "runway_days": round(runway, 4) if runway is not None else None,
        "exhausted_at": exhausted,
        "currency": currency,
        "provenance": "derived",
        "window": window,
        "note": note,
    }


def from_balances(snapshots: Sequence[Snapshot], window_days: float = DEFAULT_WINDOW_DAYS) -> dict[str, Any] | None:
    """Burn and runway from the balances of consecutive snapshots of one key (None: fewer than two
    balances, in one currency, at different times, since the last top-up within the window)."""
    points = sorted(
        ((s.rendered_at, s.balance_remaining, (s.balance or {}).get("currency") or "USD") for s in snapshots
         if s.balance_remaining is not None),
        key=lambda p: p[0],
    )  # fmt: skip
    if len(points) < 2:
        return None
    last_at, last_value, currency = points[-1]
    run = [points[-1]]
    for at, value, cur in reversed(points[:-1]):
        if cur != currency or value < run[0][1] or (last_at - at).total_seconds() > window_days * _DAY_S:
            break  # a top-up (the balance rose after this point), another currency, or out of the window
        run.insert(0, (at, value, cur))
    first_at, first_value, _ = run[0]
    days = (last_at - first_at).total_seconds() / _DAY_S
    if days <= 0:
        return None
    window = {"from": format_time(first_at), "to": format_time(last_at), "days": round(days, 4),
              "source": "balance snapshots", "points": len(run)}  # fmt: skip
    return _result((first_value - last_value) / days, last_value, last_at, window, currency, "")


def _hourly(daily: Sequence[Mapping[str, Any]], at: datetime) -> list[tuple[datetime, float]]:
    """Each day's USD spread evenly over its hours up to ``at`` (the day of the check: its elapsed hours)."""
    rows: list[tuple[datetime, float]] = []
    for item in daily:
        day = parse_time(f"{item['date']}T00:00:00Z")
        if day is None or day > at:
            continue
        hours = min(24, max(1, math.ceil((at - day).total_seconds() / 3600)))
        rows.extend((day + timedelta(hours=h), float(item["usd"]) / hours) for h in range(hours))
    return rows


def from_usage(
    daily: Sequence[Mapping[str, Any]],
    remaining: float,
    at: datetime,
    *,
    used: float | None = None,
    currency: str = "USD",
    payment_method: str | None = None,
) -> dict[str, Any] | None:
    """Burn and runway from a usage summary's daily figures (USD per UTC day) and what remains.

    ``used``: the credits the window used (with ``remaining`` they give the credits it started with;
    without it what remains is taken as of the check and only the future is projected); the result adds
    ``credits_exhausted_at`` from the billing ledger and ``deactivated_at``: that time when
    ``payment_method`` is ``none``, else None (``card``: never deactivated; unsaid: not claimed).
    """
    days = [d for d in daily if parse_time(f"{d.get('date')}T00:00:00Z") is not None]
    if not days:
        return None
    start = parse_time(f"{days[0]['date']}T00:00:00Z")
    assert start is not None
    span = (at - start).total_seconds() / _DAY_S
    if span <= 0:
        return None
    total = sum(float(d["usd"]) for d in days)
    window = {"from": format_time(start), "to": format_time(at), "days": round(span, 4),
              "source": "usage_summary daily figures", "points": len(days)}  # fmt: skip
    out = _result(total / span, remaining, at, window, currency, "")
    credits = max(remaining, 0.0) + (used if used is not None else 0.0)
    past = _hourly(days, at) if used is not None else []
    crossing = _ledger_crossing(past, out["burn_per_day"], at, credits, out["runway_days"])
    out["credits_exhausted_at"] = format_time(crossing)
    method = payment_method if payment_method in ("card", "none") else "unknown"
    out["deactivated_at"] = format_time(crossing) if method == "none" else None
    out["payment_method"] = method
    out["note"] = {
        "none": "credits_exhausted_at and deactivated_at come from the billing ledger (to the hour): no payment "
                "method, so the models are deactivated when the credits run out",
        "card": "credits_exhausted_at comes from the billing ledger (to the hour); the account pays by card, so "
                "the models stay on and invoices follow",
        "unknown": "credits_exhausted_at comes from the billing ledger (to the hour); whether the models are then "
                   "deactivated depends on the payment method, which was not given (--payment-method card|none)",
    }[method]  # fmt: skip
    if crossing is None and out["runway_days"] is not None and out["runway_days"] > HORIZON_DAYS:
        out["note"] += f"; the crossing is more than {HORIZON_DAYS} days ahead: not projected through the ledger"
    if remaining <= 0:
        out["runway_days"] = 0.0
        out["exhausted_at"] = format_time(crossing)
        if crossing is None:
            out["note"] += "; the credits ran out before the usage window"
    return out


def _ledger_crossing(past: list[tuple[datetime, float]], burn: float, at: datetime, credits: float,
                     runway_days: float | None) -> datetime | None:  # fmt: skip
    """The hour in which cumulative usage first exceeds ``credits``: the ledger's deactivation minute."""
    from testkey_nb.billing.ledger import deactivation_time

    if credits <= 0:
        return None
    rows = list(past)
    if burn > 0 and runway_days is not None and runway_days <= HORIZON_DAYS:
        hours = math.ceil(runway_days * 24) + 2
        first = at.replace(minute=0, second=0, microsecond=0)
        first = first if first == at else first + timedelta(hours=1)
        if rows and first <= rows[-1][0]:
            first = rows[-1][0] + timedelta(hours=1)
        rows.extend((first + timedelta(hours=h), burn / 24) for h in range(hours))
    if not rows:
        return None
    deactivated = deactivation_time(sorted(rows, key=lambda r: r[0]), credits)
    if deactivated is None:
        return None
    return deactivated.replace(tzinfo=UTC) if deactivated.tzinfo is None else deactivated.astimezone(UTC)


def runway_for(history: Sequence[Snapshot], window_days: float = DEFAULT_WINDOW_DAYS) -> dict[str, Any] | None:
    """The runway of a key at its latest snapshot: from its daily usage if the snapshot has it and a
    known balance, else from its balance snapshots."""
    if not history:
        return None
    ordered = sorted(history, key=lambda s: (s.rendered_at, s.id or 0))
    latest = ordered[-1]
    remaining = latest.balance_remaining
    if latest.usage_daily and remaining is not None:
        balance = latest.balance or {}
        used = balance.get("used")
        return from_usage(latest.usage_daily, remaining, latest.rendered_at,
                          used=float(used) if isinstance(used, (int, float)) else None,
                          currency=balance.get("currency") or "USD",
                          payment_method=balance.get("payment_method"))  # fmt: skip
    return from_balances(ordered, window_days)
