"""Small builders shared by the billing tests (plain data, no billing logic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def at(seconds: float, base: datetime = T0) -> datetime:
    return base + timedelta(seconds=seconds)


def events(
    *rows: tuple,
    price: float | None = 1.0,
    base: datetime = T0,
    instance_type: str = "A10Gx4x16",
) -> pl.DataFrame:
    """rows: (replica_id, phase, start_s, end_s[, development[, deployment_id]]), seconds from ``base``.
    ``price`` fills price_per_minute (None: use the price table)."""
    out = []
    for row in rows:
        replica, phase, s, e = row[:4]
        dev = row[4] if len(row) > 4 else False
        dep = row[5] if len(row) > 5 else "dep-1"
        out.append(
            {
                "deployment_id": dep,
                "replica_id": replica,
                "instance_type": instance_type,
                "phase": phase,
                "start": at(s, base),
                "end": at(e, base),
                "development": dev,
                "price_per_minute": price,
            }
        )
    return pl.DataFrame(
        out,
        schema={
            "deployment_id": pl.String,
            "replica_id": pl.String,
            "instance_type": pl.String,
            "phase": pl.String,
            "start": pl.Datetime("us", "UTC"),
            "end": pl.Datetime("us", "UTC"),
            "development": pl.Boolean,
            "price_per_minute": pl.Float64,
        },
    )


def minute_usage(
    start: datetime, usd_per_minute: list[float] | float, minutes: int | None = None
) -> pl.DataFrame:
    """A dense per-minute usage frame (ts, usd) starting at ``start``."""
    values = usd_per_minute if isinstance(usd_per_minute, list) else [usd_per_minute] * (minutes or 0)
    return pl.DataFrame(
        {"ts": [start + timedelta(minutes=i) for i in range(len(values))], "usd": values},
        schema={"ts": pl.Datetime("us", "UTC"), "usd": pl.Float64},
    )
