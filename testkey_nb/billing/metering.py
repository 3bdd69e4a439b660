"""Metering: replica lifecycle events -> billed up-intervals, per-phase and hourly usage.

Rules (from the billing docs' lifecycle table; see `testkey_nb.billing.events` for the phase list):

* A row is billable when its phase is billed (build, build_failed, model_load, serving, idle,
  training) and its deployment is not a development deployment.
* **Up-interval**: a maximal run of one replica's billable rows that touch in time (each starts
  exactly when the previous one ends). A non-billed phase or a gap between two billable rows starts a
  new up-interval. A build is its own replica, so its own up-interval.
* **Rounding happens once per up-interval**: ``billed_minutes = ceil(seconds / 60)`` of the whole
  interval (exactly 60 s -> 1, 61 s -> 2, 1 s -> 1, 0 s -> 0). Phases are not rounded separately.
* Price: the row's ``price_per_minute`` if given, else the `PriceTable` (one price per up-interval;
  a replica that changes price inside an up-interval is an error).
* **Minute grid**: billed minute ``k`` of an interval starting at ``s`` begins at ``s + k*60 s`` and is
  charged in the UTC calendar minute containing that instant. Hourly buckets, month boundaries and
  the ledger all use this rule, so an interval across an hour or month boundary is rounded once and
  its minutes land on both sides (10:59:30 + 61 s = 2 minutes: one in hour 10, one in hour 11).
* ``stop_at`` (deactivation): billed minutes charged at or after ``stop_at`` are not metered; the
  interval ends at its last metered minute. Event rows are split there: the part after is kept with
  ``billed = false`` and reason "after deactivation" (``by_phase`` groups it as ``after_deactivation``).
* Per-phase minutes (``by_phase``) are exact seconds / 60 of each billed row; the rounding-up
  remainder of an up-interval goes to its last billed row, so ``by_phase`` sums to the billed total.

Frames (stable column names, for the notebook and charts):

* ``events``: deployment_id, replica_id, instance_type, phase, start, end, development,
  price_per_minute, billed (bool), reason (str), up_interval_id (i64 | null), billed_seconds (f64),
  billed_minutes (f64, fractional share incl. the rounding remainder), usd (f64), billed_us (i64, the
  same share in exact microseconds: what `MeteringResult.by_phase` sums)
* ``up_intervals``: up_interval_id, deployment_id, replica_id, instance_type, start, end,
  seconds (f64), billed_minutes (i64), price_per_minute (f64), usd (f64)
* ``hourly``: deployment_id, hour (datetime UTC, bucket start), minutes (i64), usd (f64)
* ``minute_usage()``: ts (UTC minute), replicas (i64, billed minutes charged in that minute),
  usd_nano (i64, exact nano-dollars), usd (f64); dense from the first to the last charged minute
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from testkey_nb.billing.errors import EventsError, PriceError
from testkey_nb.billing.events import (
    BILLED_PHASES,
    PHASES,
    REASON_DEACTIVATED,
    REASON_DEVELOPMENT,
    REASONS,
    normalize_events,
)
from testkey_nb.billing.prices import PriceTable

if TYPE_CHECKING:
    import polars as pl
    from polars._typing import PolarsDataType

US_PER_MINUTE = 60_000_000
#: the by_phase key of everything after a deactivation (replicas stopped, not billed)
AFTER_DEACTIVATION = "after_deactivation"
NANO_PER_USD = 1_000_000_000


@dataclass(frozen=True)
class MeteringResult:
    """What metering produced; see the module docstring for the frames' columns."""

    events: pl.DataFrame
    up_intervals: pl.DataFrame
    hourly: pl.DataFrame
    prices: PriceTable
    stop_at: datetime | None = None

    @property
    def billed_minutes(self) -> int:
        return int(self.up_intervals["billed_minutes"].sum() or 0)

    @property
    def total_usd(self) -> float:
        return _nano_total(self.up_intervals) / NANO_PER_USD

    def by_phase(self) -> pl.DataFrame:
        """phase, rows, wall_minutes (clock time), billed_minutes, usd: one row per phase present.
        Rows after a deactivation are grouped under ``after_deactivation``. Sums of integer
        microseconds (`phase_table`), so the figures do not depend on the order of the rows."""
        import polars as pl

        key = pl.when(pl.col("reason") == REASON_DEACTIVATED).then(pl.lit(AFTER_DEACTIVATION))
        ev = self.events.with_columns(phase=key.otherwise(pl.col("phase")))
        wall = ev.group_by("phase").agg(
            rows=pl.len(), wall_us=(pl.col("end") - pl.col("start")).dt.total_microseconds().sum()
        )
        billed = ev.group_by("phase", "price_per_minute").agg(pl.col("billed_us").sum())
        return phase_table(
            {r["phase"]: (int(r["rows"]), int(r["wall_us"] or 0)) for r in wall.iter_rows(named=True)},
            [
                (r["phase"], r["price_per_minute"], int(r["billed_us"] or 0))
                for r in billed.iter_rows(named=True)
            ],
        )

    def by_deployment(self) -> pl.DataFrame:
        """deployment_id, up_intervals, billed_minutes, usd (deployments with billed time only)."""
        import polars as pl

        return (
            self.up_intervals.group_by("deployment_id")
            .agg(
                up_intervals=pl.len(),
                billed_minutes=pl.col("billed_minutes").sum(),
                usd_nano=(pl.col("billed_minutes") * _price_nano(pl.col("price_per_minute"))).sum(),
            )
            .with_columns(usd=nano_to_usd(pl.col("usd_nano")))
            .drop("usd_nano")
            .sort("deployment_id")
        )

    def minute_usage(self) -> pl.DataFrame:
        """Workspace usage per UTC minute (dense), the ledger's input."""
        return minute_usage(self.up_intervals)


def meter(
    events: pl.DataFrame,
    prices: PriceTable,
    *,
    stop_at: datetime | None = None,
    label: str = "events",
) -> MeteringResult:
    """Apply the metering rules to an events frame (see the module docstring).

    Raises `EventsError` for malformed events and `PriceError` when a billable row's instance type has
    no price and no ``price_per_minute`` override.
    """
    import polars as pl

    ev = normalize_events(events, label=label)
    where = "line" if "line" in events.columns else "row"
    lookup = prices.lookup_map()
    ev = ev.with_columns(
        price_per_minute=pl.coalesce(
            pl.col("price_per_minute"),
            pl.col("instance_type")
            .str.to_lowercase()
            .replace_strict(lookup, default=None, return_dtype=pl.Float64),
        ),
        _billable=pl.col("phase").is_in(list(BILLED_PHASES)) & ~pl.col("development"),
        _i=pl.int_range(pl.len(), dtype=pl.Int64),
    )
    unpriced = ev.filter(pl.col("_billable") & pl.col("price_per_minute").is_null())
    if unpriced.height:
        row = unpriced.row(0, named=True)
        known = ", ".join(sorted(prices.prices))
        raise PriceError(
            f"{label}: {where} {row['line']}: instance type {row['instance_type']!r} has no price in the "
            f"{prices.provenance} price table (known: {known}); add a price_per_minute column"
        )

    # --- up-intervals: consecutive, touching billable rows of one replica ---------------------------
    billable = ev.filter(pl.col("_billable")).sort("deployment_id", "replica_id", "start", "end")
    prev_end = pl.col("end").shift(1).over("deployment_id", "replica_id")
    billable = billable.with_columns(
        up_interval_id=((prev_end.is_null() | (pl.col("start") != prev_end)).cum_sum() - 1).cast(pl.Int64)
    )
    mixed = (
        billable.group_by("up_interval_id")
        .agg(
            n=pl.col("price_per_minute").n_unique(),
            line=pl.col("line").max(),
            replica=pl.col("replica_id").first(),
        )
        .filter(pl.col("n") > 1)
    )
    if mixed.height:
        row = mixed.sort("line").row(0, named=True)
        raise EventsError(
            f"{label}: {where} {row['line']}: column 'price_per_minute': replica {row['replica']!r} changes "
            "instance type or price inside one up-interval"
        )
    iv = (
        billable.group_by("up_interval_id")
        .agg(
            pl.col("deployment_id").first(),
            pl.col("replica_id").first(),
            pl.col("instance_type").first(),
            pl.col("start").min(),
            pl.col("end").max(),
            pl.col("price_per_minute").first(),
        )
        .sort("up_interval_id")
        .with_columns(
            _us=(pl.col("end") - pl.col("start")).dt.total_microseconds(),
            _fm=pl.col("start").dt.epoch("us") // US_PER_MINUTE,
        )
        .with_columns(
            _full_end=pl.col("end"), billed_minutes=(pl.col("_us") + US_PER_MINUTE - 1) // US_PER_MINUTE
        )
    )
    if stop_at is not None:
        stop_minute = _epoch_minute(stop_at)
        kept = pl.min_horizontal(
            pl.max_horizontal(pl.lit(stop_minute) - pl.col("_fm"), pl.lit(0)), "billed_minutes"
        )
        iv = iv.with_columns(billed_minutes=kept).with_columns(
            end=pl.min_horizontal(
                pl.col("end"), pl.col("start") + pl.duration(minutes=pl.col("billed_minutes"))
            )
        )
    iv = iv.with_columns(
        seconds=(pl.col("end") - pl.col("start")).dt.total_microseconds() / 1_000_000,
        usd=nano_to_usd(pl.col("billed_minutes") * _price_nano(pl.col("price_per_minute"))),
    )
    kept_iv = iv.filter(pl.col("billed_minutes") > 0) if stop_at is not None else iv

    # --- per-event shares -----------------------------------------------------------------------------
    ev = ev.join(billable.select("_i", "up_interval_id"), on="_i", how="left").join(
        iv.select(
            "up_interval_id",
            _iv_start=pl.col("start"),
            _iv_end=pl.col("end"),
            _iv_full_end=pl.col("_full_end"),
            _iv_seconds=pl.col("seconds"),
            _iv_us=(pl.col("end") - pl.col("start")).dt.total_microseconds(),
            _iv_minutes=pl.col("billed_minutes"),
        ),
        on="up_interval_id",
        how="left",
    )
    ev = ev.sort("_i")
    if stop_at is None:
        ev = ev.with_columns(_after=pl.lit(False))
    else:
        # replicas are stopped: split rows at the cut (a billable row at its interval's last metered
        # minute, any other row at stop_at); the part after is not billed, reason "after deactivation"
        stop_lit = pl.lit(stop_at).cast(pl.Datetime("us", "UTC"))
        cut_at = (
            pl.when(~pl.col("_billable"))
            .then(stop_lit)
            .when(pl.col("_iv_end") < pl.col("_iv_full_end"))
            .then(pl.col("_iv_end"))
        )
        ev = ev.with_columns(_cut_at=cut_at)
        head = ev.filter(pl.col("_cut_at").is_null() | (pl.col("start") < pl.col("_cut_at"))).with_columns(
            end=pl.min_horizontal("end", pl.col("_cut_at")), _after=pl.lit(False)
        )
        tail = ev.filter(pl.col("_cut_at").is_not_null() & (pl.col("end") > pl.col("_cut_at"))).with_columns(
            start=pl.max_horizontal("start", pl.col("_cut_at")), _after=pl.lit(True)
        )
        zero_at_cut = ev.filter(
            pl.col("_cut_at").is_not_null()
            & (pl.col("start") >= pl.col("_cut_at"))
            & (pl.col("end") <= pl.col("_cut_at"))
        ).with_columns(_after=pl.lit(True))
        ev = pl.concat([head, tail, zero_at_cut], how="vertical").drop("_cut_at").sort("_i", "start")
    overlap_us = (
        pl.min_horizontal("end", "_iv_end") - pl.max_horizontal("start", "_iv_start")
    ).dt.total_microseconds()
    ev = ev.with_columns(
        billed_seconds=pl.when(pl.col("_billable") & ~pl.col("_after"))
        .then(pl.max_horizontal(overlap_us, pl.lit(0)) / 1_000_000)
        .otherwise(0.0)
        .fill_null(0.0),
        _overlap_us=pl.when(pl.col("_billable") & ~pl.col("_after"))
        .then(pl.max_horizontal(overlap_us, pl.lit(0)))
        .otherwise(0)
        .fill_null(0),
        _cut=pl.col("_after"),
    )
    last_key = pl.when(pl.col("billed_seconds") > 0).then(pl.col("start"))
    is_last = (last_key == last_key.max().over("up_interval_id")).fill_null(False)
    remainder = (pl.col("_iv_minutes") * 60 - pl.col("_iv_seconds")) / 60
    ev = ev.with_columns(
        billed=pl.col("_billable") & ~pl.col("_cut"),
        reason=pl.when(pl.col("development"))
        .then(pl.lit(REASON_DEVELOPMENT))
        .when(pl.col("_cut"))
        .then(pl.lit(REASON_DEACTIVATED))
        .otherwise(pl.col("phase").replace_strict(REASONS, return_dtype=pl.String)),
        billed_minutes=(
            pl.col("billed_seconds") / 60 + pl.when(is_last).then(remainder).otherwise(0.0)
        ).fill_null(0.0),
        billed_us=(
            pl.col("_overlap_us")
            + pl.when(is_last).then(pl.col("_iv_minutes") * US_PER_MINUTE - pl.col("_iv_us")).otherwise(0)
        ).fill_null(0),
    ).with_columns(
        usd=pl.col("billed_minutes") * pl.col("price_per_minute").fill_null(0.0),
        up_interval_id=pl.when(pl.col("billed")).then(pl.col("up_interval_id")),
    )
    events_out = ev.select(
        "deployment_id",
        "replica_id",
        "instance_type",
        "phase",
        "start",
        "end",
        "development",
        "price_per_minute",
        "billed",
        "reason",
        "up_interval_id",
        "billed_seconds",
        "billed_minutes",
        "usd",
        pl.col("billed_us").cast(pl.Int64),
    )
    up_intervals = kept_iv.select(
        "up_interval_id",
        "deployment_id",
        "replica_id",
        "instance_type",
        "start",
        "end",
        "seconds",
        "billed_minutes",
        "price_per_minute",
        "usd",
    )
    return MeteringResult(
        events=events_out,
        up_intervals=up_intervals,
        hourly=hourly_usage(up_intervals),
        prices=prices,
        stop_at=stop_at,
    )


def hourly_usage(up_intervals: pl.DataFrame) -> pl.DataFrame:
    """Per deployment and UTC hour (the dashboard's buckets): minutes and usd, hours with usage only."""
    import polars as pl

    fm = pl.col("start").dt.epoch("us") // US_PER_MINUTE
    iv = up_intervals.filter(pl.col("billed_minutes") > 0).select(
        "deployment_id",
        _fm=fm,
        _n=pl.col("billed_minutes"),
        _p=_price_nano(pl.col("price_per_minute")),
    )
    expanded = iv.with_columns(
        _h=pl.int_ranges(pl.col("_fm") // 60, (pl.col("_fm") + pl.col("_n") - 1) // 60 + 1, dtype=pl.Int64)
    ).explode("_h")
    minutes = pl.min_horizontal(pl.col("_fm") + pl.col("_n"), (pl.col("_h") + 1) * 60) - pl.max_horizontal(
        pl.col("_fm"), pl.col("_h") * 60
    )
    return (
        expanded.with_columns(_m=minutes)
        .group_by("deployment_id", "_h")
        .agg(minutes=pl.col("_m").sum(), _nano=(pl.col("_m") * pl.col("_p")).sum())
        .with_columns(hour=_minute_to_ts(pl.col("_h") * 60), usd=nano_to_usd(pl.col("_nano")))
        .sort("deployment_id", "hour")
        .select("deployment_id", "hour", pl.col("minutes").cast(pl.Int64), "usd")
    )


def minute_usage(up_intervals: pl.DataFrame) -> pl.DataFrame:
    """Workspace usage per UTC minute: ts, replicas, usd_nano, usd; dense between first and last charge.

    Built from a difference array over interval starts/ends (two rows per up-interval), not by
    expanding replica-minutes.
    """
    import polars as pl

    iv = up_intervals.filter(pl.col("billed_minutes") > 0).select(
        _fm=pl.col("start").dt.epoch("us") // US_PER_MINUTE,
        _n=pl.col("billed_minutes"),
        _p=_price_nano(pl.col("price_per_minute")),
    )
    schema: dict[str, PolarsDataType] = {
        "ts": pl.Datetime("us", "UTC"), "replicas": pl.Int64, "usd_nano": pl.Int64, "usd": pl.Float64
    }
    if iv.height == 0:
        return pl.DataFrame(schema=schema)
    diffs = pl.concat(
        [
            iv.select(minute=pl.col("_fm"), d_nano=pl.col("_p"), d_rep=pl.lit(1, dtype=pl.Int64)),
            iv.select(
                minute=pl.col("_fm") + pl.col("_n"), d_nano=-pl.col("_p"), d_rep=pl.lit(-1, dtype=pl.Int64)
            ),
        ]
    )
    changes = (
        diffs.group_by("minute")
        .agg(pl.col("d_nano").sum(), pl.col("d_rep").sum())
        .sort("minute")
        .with_columns(usd_nano=pl.col("d_nano").cum_sum(), replicas=pl.col("d_rep").cum_sum())
    )
    first, last = int(changes["minute"][0]), int(changes["minute"][-1])
    grid = pl.DataFrame({"minute": pl.int_range(first, last, dtype=pl.Int64, eager=True)})
    dense = (
        grid.join(changes.select("minute", "usd_nano", "replicas"), on="minute", how="left")
        .sort("minute")
        .with_columns(pl.col("usd_nano").forward_fill(), pl.col("replicas").forward_fill())
    )
    return dense.select(
        ts=_minute_to_ts(pl.col("minute")),
        replicas=pl.col("replicas").cast(pl.Int64),
        usd_nano=pl.col("usd_nano").cast(pl.Int64),
        usd=nano_to_usd(pl.col("usd_nano")),
    )


# --- helpers ----------------------------------------------------------------------------------------


def nano_to_usd(expr: pl.Expr) -> pl.Expr:
    """Integer nano-dollars -> USD. Rounded to 9 decimals because polars divides a column by a scalar
    through its reciprocal (30e9 / 1e9 would give 30.000000000000004)."""
    return (expr / NANO_PER_USD).round(9)


def _price_nano(expr: pl.Expr) -> pl.Expr:
    import polars as pl

    return (expr * NANO_PER_USD).round(0).cast(pl.Int64)


def _minute_to_ts(expr: pl.Expr) -> pl.Expr:
    import polars as pl

    return pl.from_epoch(expr * 60, time_unit="s").dt.cast_time_unit("us").dt.replace_time_zone("UTC")


def _epoch_minute(ts: datetime) -> int:
    from datetime import UTC

    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return int(ts.timestamp() // 60)


def _nano_total(up_intervals: pl.DataFrame) -> int:
    import polars as pl

    if up_intervals.height == 0:
        return 0
    return int(
        up_intervals.select((pl.col("billed_minutes") * _price_nano(pl.col("price_per_minute"))).sum()).item()
        or 0
    )


def phase_table(
    wall: dict[str, tuple[int, int]], billed: list[tuple[str, float | None, int]]
) -> pl.DataFrame:
    """The by-phase frame from (phase -> rows, wall µs) and (phase, price per minute, billed µs) groups.

    Minutes = µs / 60e6; dollars = sum(µs x nano-price) / (60e6 x 1e9) as one correctly rounded division
    of Python integers, rounded to 9 decimals: two paths that sum the same integers in another order
    (`MeteringResult.by_phase`, `testkey_nb.billing.columnar`) give the same figures, bit for bit."""
    import polars as pl

    us: dict[str, int] = {}
    nano_us: dict[str, int] = {}
    for phase, price, n_us in billed:
        us[phase] = us.get(phase, 0) + n_us
        nano_us[phase] = nano_us.get(phase, 0) + n_us * round((price or 0.0) * NANO_PER_USD)
    order = {p: i for i, p in enumerate((*PHASES, AFTER_DEACTIVATION))}
    names = sorted(wall, key=lambda p: order.get(p, len(order)))
    return pl.DataFrame(
        {
            "phase": names,
            "rows": [wall[p][0] for p in names],
            "wall_minutes": [wall[p][1] / US_PER_MINUTE for p in names],
            "billed_minutes": [us.get(p, 0) / US_PER_MINUTE for p in names],
            "usd": [round(nano_us.get(p, 0) / (US_PER_MINUTE * NANO_PER_USD), 9) for p in names],
        },
        schema={
            "phase": pl.String,
            "rows": pl.Int64,
            "wall_minutes": pl.Float64,
            "billed_minutes": pl.Float64,
            "usd": pl.Float64,
        },
    )
