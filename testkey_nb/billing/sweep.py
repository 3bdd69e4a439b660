"""The what-if sweep: monthly cost against cold starts over min replicas x scale-down delay x schedule.

Each setting is the scenario with ``min_replica`` and ``scale_down_delay`` replaced (``max_replica``
raised to ``min_replica`` when lower) and its autoscaling schedules either kept (``schedule`` =
``"as in scenario"``) or removed (``"none"``); it is simulated (`testkey_nb.billing.simulate`) and
metered (`testkey_nb.billing.metering.meter`). A scenario that covers fewer days than its month is
scaled to the month: ``monthly_usd = total_usd x month days / simulated days``, and so are the cold
starts. The **cheapest setting within the bound** is the one with the lowest ``monthly_usd`` among those
with ``cold_starts_per_month <= max_cold_starts`` (ties: fewer cold starts, then the order tried).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from testkey_nb.billing.metering import meter
from testkey_nb.billing.prices import PriceTable
from testkey_nb.billing.schedules import SweepSpec

if TYPE_CHECKING:
    import polars as pl

    from testkey_nb.billing.scenario import Scenario

NO_SCHEDULE = "none"
AS_IN_SCENARIO = "as in scenario"


@dataclass(frozen=True)
class Sweep:
    """``rows``: setting, schedule, min_replica, scale_down_delay, billed_minutes, total_usd (simulated
    days), monthly_usd, cold_starts (simulated days), cold_starts_per_month, within_bound, best."""

    rows: pl.DataFrame
    max_cold_starts: int | None
    month_days: int
    simulated_days: float

    def best(self) -> dict[str, Any] | None:
        hit = self.rows.filter("best")
        return hit.row(0, named=True) if hit.height else None

    def statement(self) -> str:
        best = self.best()
        bound = "" if self.max_cold_starts is None else f" with at most {self.max_cold_starts} cold starts a month"
        if best is None:
            return f"No setting tried keeps cold starts{bound}; raise min_replica or add a schedule."
        return (
            f"Cheapest setting{bound}: {best['setting']}, ${best['monthly_usd']:,.2f} a month "
            f"with {best['cold_starts_per_month']:g} cold starts."
        )


def run_sweep(scenario: Scenario, prices: PriceTable | None = None, spec: SweepSpec | None = None) -> Sweep:
    """Simulate and meter every setting of ``spec`` (default: the scenario's ``[sweep]``, else `SweepSpec()`)."""
    import polars as pl

    from testkey_nb.billing.simulate import check_priced, simulate_detail

    table = prices or PriceTable.default()
    check_priced(scenario, table)
    spec = spec or scenario.sweep or SweepSpec()
    year, month = (int(x) for x in scenario.month.split("-"))
    month_days = calendar.monthrange(year, month)[1]
    days = scenario.minutes / 1440
    scale = month_days / days
    variants = [(NO_SCHEDULE, ())] + ([(AS_IN_SCENARIO, scenario.schedules)] if scenario.schedules else [])
    rows: list[dict[str, Any]] = []
    for label, schedules in variants:
        for min_r in spec.min_replica:
            for delay in spec.scale_down_delay:
                a = scenario.autoscaling
                variant = replace(
                    scenario,
                    schedules=schedules,
                    autoscaling=replace(a, min_replica=min_r, max_replica=max(a.max_replica, min_r),
                                        scale_down_delay=delay),
                )  # fmt: skip
                sim = simulate_detail(variant)
                m = meter(sim.events, table, label=scenario.name)
                rows.append(
                    {
                        "setting": f"min {min_r}, delay {delay} s, schedule {label}",
                        "schedule": label,
                        "min_replica": min_r,
                        "scale_down_delay": delay,
                        "billed_minutes": m.billed_minutes,
                        "total_usd": m.total_usd,
                        "monthly_usd": round(m.total_usd * scale, 6),
                        "cold_starts": sim.cold_starts,
                        "cold_starts_per_month": round(sim.cold_starts * scale, 3),
                    }
                )
    frame = pl.DataFrame(
        rows,
        schema={
            "setting": pl.String,
            "schedule": pl.String,
            "min_replica": pl.Int64,
            "scale_down_delay": pl.Int64,
            "billed_minutes": pl.Int64,
            "total_usd": pl.Float64,
            "monthly_usd": pl.Float64,
            "cold_starts": pl.Int64,
            "cold_starts_per_month": pl.Float64,
        },
    ).with_row_index("_order")
    bound = spec.max_cold_starts
    within = pl.lit(True) if bound is None else pl.col("cold_starts_per_month") <= bound
    frame = frame.with_columns(within_bound=within)
    candidates = frame.filter("within_bound").sort("monthly_usd", "cold_starts_per_month", "_order")
    best_order = candidates["_order"][0] if candidates.height else None
    frame = frame.with_columns(best=pl.col("_order") == best_order if best_order is not None else pl.lit(False))
    return Sweep(rows=frame.drop("_order"), max_cold_starts=bound, month_days=month_days, simulated_days=days)
