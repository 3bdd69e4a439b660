"""The credit and invoice ledger of one workspace, on the per-minute usage series.

Rules (billing docs, current and older page) and the interpretation choices made where they are
silent:

* **Clock**: the ledger runs on UTC minutes (`MeteringResult.minute_usage`). A billed minute is charged
  in the UTC minute in which it begins. Cumulative sums are exact integers in nano-dollars, so "exceeds"
  means strictly greater, with no floating-point noise. Hourly buckets would hide when in the hour a
  threshold is crossed; per-minute cumulative usage gives the threshold time to the minute.
* **Credits** (default $30: the older billing page, "Your Baseten account starts with $30 in free
  credits"; the current page only says "free credits") apply first, before any card charge.
* **Invoices**: issued when the usage of the current invoice period *exceeds* the threshold (default
  $50, "usage" read as gross usage before credits) or at the end of the calendar month (UTC), whichever
  comes first. A threshold invoice is stamped with the UTC minute in which usage exceeded the threshold
  and includes that minute; it closes the period (the accumulator restarts at $0). A month-end invoice
  is stamped at 00:00 UTC of the next month and is only issued when the period had usage.
  ``amount_usd`` is net of the credits applied in the period (may be $0 when credits covered it all).
* **Cadence**: "after a history of successful payments, billing moves to a monthly cadence". The docs do
  not say how many: ``monthly_after_payments`` (default 3) successful payments, counting
  ``prior_successful_payments``. A payment is an invoice with ``amount_usd > 0`` and a payment method on
  file. From then on only month-end invoices are issued.
* **Deactivation**: with no payment method, the models are deactivated in the UTC minute in which
  cumulative usage first exceeds the credits (``deactivated_at``, that minute's start). That minute is
  charged in full; nothing after it is metered (replicas are stopped: `testkey_nb.billing.bill`
  re-meters with ``stop_at = deactivated_at + 1 min``). Invoices of a workspace without payment method
  are issued but stay unpaid (``paid = false``).

Frames:

* ``timeline``: ts, cumulative_usd, credits_remaining_usd, event (``usage`` | ``invoice`` |
  ``deactivation``), amount_usd (invoice amount, else null). ``usage`` rows are hourly, stamped at the
  end of the hour, with the cumulative usage through that hour; event rows carry the cumulative usage
  through their minute.
* ``invoices``: issued_at, period_start, period_end (exclusive), gross_usd, credits_applied_usd,
  amount_usd (net of credits), reason (``threshold`` | ``month_end``), paid (bool), status (``paid`` |
  ``unpaid`` (no payment method) | ``covered`` (credits covered it all))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from testkey_nb.billing.metering import NANO_PER_USD, nano_to_usd

if TYPE_CHECKING:
    import polars as pl
    from polars._typing import PolarsDataType

DEFAULT_CREDITS_USD = 30.0
CREDITS_SOURCE = 'docs.baseten.co billing page (older version): "starts with $30 in free credits"'
DEFAULT_THRESHOLD_USD = 50.0
DEFAULT_MONTHLY_AFTER_PAYMENTS = 3


@dataclass(frozen=True)
class LedgerConfig:
    """Workspace billing settings. Money in USD."""

    credits_usd: float = DEFAULT_CREDITS_USD
    payment_method: bool = True
    invoice_threshold_usd: float = DEFAULT_THRESHOLD_USD
    monthly_after_payments: int = DEFAULT_MONTHLY_AFTER_PAYMENTS
    prior_successful_payments: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "credits_usd": self.credits_usd,
            "payment_method": self.payment_method,
            "invoice_threshold_usd": self.invoice_threshold_usd,
            "monthly_after_payments": self.monthly_after_payments,
            "prior_successful_payments": self.prior_successful_payments,
        }


@dataclass(frozen=True)
class Invoice:
    issued_at: datetime
    period_start: datetime
    period_end: datetime
    gross_nano: int
    credits_nano: int
    reason: str
    paid: bool

    @property
    def amount_nano(self) -> int:
        return self.gross_nano - self.credits_nano

    @property
    def status(self) -> str:
        """``paid`` (charged to the payment method), ``unpaid`` (no payment method) or ``covered``
        (credits covered it all, nothing to pay)."""
        if self.amount_nano <= 0:
            return "covered"
        return "paid" if self.paid else "unpaid"


@dataclass(frozen=True)
class LedgerResult:
    """The ledger of one workspace; see the module docstring for the frames."""

    config: LedgerConfig
    timeline: pl.DataFrame
    invoices: pl.DataFrame
    deactivated_at: datetime | None
    total_nano: int
    credits_used_nano: int
    monthly_cadence_from: datetime | None
    invoice_list: tuple[Invoice, ...] = field(default=())

    @property
    def total_usd(self) -> float:
        return self.total_nano / NANO_PER_USD

    @property
    def credits_used_usd(self) -> float:
        return self.credits_used_nano / NANO_PER_USD

    @property
    def net_usd(self) -> float:
        return (self.total_nano - self.credits_used_nano) / NANO_PER_USD

    @property
    def credits_remaining_usd(self) -> float:
        return max(_usd_to_nano(self.config.credits_usd) - self.credits_used_nano, 0) / NANO_PER_USD


def run_ledger(minute_usage: pl.DataFrame, config: LedgerConfig | None = None) -> LedgerResult:
    """Credits, invoices and deactivation over a workspace's per-minute usage.

    ``minute_usage``: (ts, usd_nano) per UTC minute, sorted, as `MeteringResult.minute_usage` returns
    (a ``usd`` float column is accepted instead of ``usd_nano``). Vectorised over minutes; the only
    Python loop is over invoices (months and threshold crossings), each found by a binary search.
    """
    import polars as pl

    cfg = config or LedgerConfig()
    if "usd_nano" not in minute_usage.columns:
        minute_usage = minute_usage.with_columns(
            usd_nano=(pl.col("usd") * NANO_PER_USD).round(0).cast(pl.Int64)
        )
    mu = minute_usage.select("ts", "usd_nano").sort("ts").with_columns(cum=pl.col("usd_nano").cum_sum())
    credits = _usd_to_nano(cfg.credits_usd)
    threshold = _usd_to_nano(cfg.invoice_threshold_usd)

    deactivated_at: datetime | None = None
    if not cfg.payment_method and mu.height:
        over = mu["cum"].search_sorted(credits, side="right")
        if over < mu.height:
            deactivated_at = mu["ts"][over]
            mu = mu.head(over + 1)

    cum = mu["cum"]
    ts = mu["ts"]
    n = mu.height
    invoices: list[Invoice] = []
    payments = cfg.prior_successful_payments
    monthly_from: datetime | None = None
    threshold_active = payments < cfg.monthly_after_payments
    base = 0  # cumulative usage (nano) invoiced so far
    pos = 0  # first minute index of the open period
    period_start = _months(ts[0], ts[0])[0][0] if n else None

    def credits_between(lo: int, hi: int) -> int:
        return min(hi, credits) - min(lo, credits)

    for _month_start, month_end in _months(ts[0], ts[-1]) if n else []:
        assert period_start is not None  # set whenever there is a minute
        end_idx = ts.search_sorted(month_end, side="left")
        while threshold_active and pos < end_idx:
            j = cum.search_sorted(base + threshold, side="right")
            if j >= end_idx:
                break
            hi = int(cum[j])
            inv = Invoice(
                issued_at=ts[j],
                period_start=period_start,
                period_end=ts[j] + timedelta(minutes=1),
                gross_nano=hi - base,
                credits_nano=credits_between(base, hi),
                reason="threshold",
                paid=cfg.payment_method and hi - base - credits_between(base, hi) > 0,
            )
            invoices.append(inv)
            if inv.paid:
                payments += 1
                if payments >= cfg.monthly_after_payments:
                    threshold_active = False
                    monthly_from = inv.issued_at
            base, pos, period_start = hi, j + 1, inv.period_end
        hi = int(cum[end_idx - 1]) if end_idx > 0 else 0
        if hi > base:
            gross = hi - base
            cred = credits_between(base, hi)
            inv = Invoice(
                issued_at=month_end,
                period_start=period_start,
                period_end=month_end,
                gross_nano=gross,
                credits_nano=cred,
                reason="month_end",
                paid=cfg.payment_method and gross - cred > 0,
            )
            invoices.append(inv)
            if inv.paid:
                payments += 1
                if threshold_active and payments >= cfg.monthly_after_payments:
                    threshold_active = False
                    monthly_from = inv.issued_at
            base = hi
        pos, period_start = max(pos, end_idx), month_end

    total = int(cum[-1]) if n else 0
    credits_used = min(total, credits)
    invoices_frame = _invoices_frame(invoices)
    timeline = _timeline(mu, credits, invoices, deactivated_at)
    return LedgerResult(
        config=cfg,
        timeline=timeline,
        invoices=invoices_frame,
        deactivated_at=deactivated_at,
        total_nano=total,
        credits_used_nano=credits_used,
        monthly_cadence_from=monthly_from,
        invoice_list=tuple(invoices),
    )


def deactivation_time(usage: Iterable[tuple[datetime, float]], credits_usd: float) -> datetime | None:
    """When a workspace with no payment method is deactivated: the time of the first usage row at which
    the cumulative usage (exact nano-dollars) *exceeds* the credits; None if it never does.

    The rule :func:`run_ledger` applies to its minutes (``deactivated_at``), without the invoices: for a
    caller that only needs the crossing (the history's runway, once per recorded snapshot). ``usage``:
    ``(ts, usd)`` rows in time order.
    """
    credits = _usd_to_nano(credits_usd)
    total = 0
    for ts, usd in usage:
        total += _usd_to_nano(usd)
        if total > credits:
            return ts
    return None


def _usd_to_nano(usd: float) -> int:
    return round(usd * NANO_PER_USD)


def _months(first: datetime, last: datetime) -> list[tuple[datetime, datetime]]:
    """(month start, next month start) for every UTC calendar month from first to last."""
    out = []
    cur = datetime(first.year, first.month, 1, tzinfo=UTC)
    while cur <= last:
        nxt = datetime(cur.year + (cur.month == 12), cur.month % 12 + 1, 1, tzinfo=UTC)
        out.append((cur, nxt))
        cur = nxt
    return out


def _invoices_frame(invoices: list[Invoice]) -> pl.DataFrame:
    import polars as pl

    ts_t = pl.Datetime("us", "UTC")
    return pl.DataFrame(
        {
            "issued_at": [i.issued_at for i in invoices],
            "period_start": [i.period_start for i in invoices],
            "period_end": [i.period_end for i in invoices],
            "gross_usd": [i.gross_nano / NANO_PER_USD for i in invoices],
            "credits_applied_usd": [i.credits_nano / NANO_PER_USD for i in invoices],
            "amount_usd": [i.amount_nano / NANO_PER_USD for i in invoices],
            "reason": [i.reason for i in invoices],
            "paid": [i.paid for i in invoices],
            "status": [i.status for i in invoices],
        },
        schema={
            "issued_at": ts_t,
            "period_start": ts_t,
            "period_end": ts_t,
            "gross_usd": pl.Float64,
            "credits_applied_usd": pl.Float64,
            "amount_usd": pl.Float64,
            "reason": pl.String,
            "paid": pl.Boolean,
            "status": pl.String,
        },
    )


def _timeline(
    mu: pl.DataFrame, credits: int, invoices: list[Invoice], deactivated_at: datetime | None
) -> pl.DataFrame:
    import polars as pl

    schema: dict[str, PolarsDataType] = {
        "ts": pl.Datetime("us", "UTC"),
        "cumulative_usd": pl.Float64,
        "credits_remaining_usd": pl.Float64,
        "event": pl.String,
        "amount_usd": pl.Float64,
    }
    if mu.height == 0:
        return pl.DataFrame(schema=schema)
    hourly = (
        mu.group_by(hour=pl.col("ts").dt.truncate("1h"))
        .agg(cum=pl.col("cum").max())
        .sort("hour")
        .select(
            ts=pl.col("hour") + pl.duration(hours=1),
            cum=pl.col("cum"),
            event=pl.lit("usage"),
            amount=pl.lit(None),
        )
    )
    cum_at_invoice = [
        (i.issued_at, _cum_through(mu, i.period_end - timedelta(minutes=1)), "invoice", i.amount_nano)
        for i in invoices
    ]
    rows: list[tuple[datetime, int, str, int | None]] = list(cum_at_invoice)
    if deactivated_at is not None:
        rows.append((deactivated_at, _cum_through(mu, deactivated_at), "deactivation", None))
    events = pl.DataFrame(
        {
            "ts": [r[0] for r in rows],
            "cum": [r[1] for r in rows],
            "event": [r[2] for r in rows],
            "amount": [r[3] for r in rows],
        },
        schema={"ts": pl.Datetime("us", "UTC"), "cum": pl.Int64, "event": pl.String, "amount": pl.Int64},
    )
    both = pl.concat([hourly.cast({"cum": pl.Int64, "amount": pl.Int64}), events], how="vertical")
    order = {"usage": 0, "invoice": 1, "deactivation": 2}
    return (
        both.with_columns(_o=pl.col("event").replace_strict(order, return_dtype=pl.Int64))
        .sort("ts", "_o", maintain_order=True)
        .select(
            "ts",
            cumulative_usd=nano_to_usd(pl.col("cum")),
            credits_remaining_usd=nano_to_usd(pl.max_horizontal(pl.lit(credits) - pl.col("cum"), pl.lit(0))),
            event="event",
            amount_usd=nano_to_usd(pl.col("amount")),
        )
    )


def _cum_through(mu: pl.DataFrame, ts: datetime) -> int:
    """Cumulative usage (nano) through the minute ``ts`` (inclusive)."""
    idx = mu["ts"].search_sorted(ts, side="right")
    return int(mu["cum"][idx - 1]) if idx > 0 else 0
