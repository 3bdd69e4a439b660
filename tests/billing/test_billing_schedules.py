"""The what-if's newer controls (issue 21, part 5): max_scale_down_rate, autoscaling schedules (recurring,
one-time, a time zone, null = inherit) and the sweep of monthly cost against cold starts. Hand counts."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from testkey_nb.billing import ScenarioError, meter, parse_scenario, simulate_detail
from testkey_nb.billing.prices import PriceTable
from testkey_nb.billing.schedules import SweepSpec
from testkey_nb.billing.sweep import run_sweep

A10G = 0.02012


def scenario(autoscaling: dict, traffic: dict | None = None, days: int = 1, sweep: dict | None = None):
    data = {
        "scenario": {"name": "t", "month": "2026-03", "days": days},
        "deployment": {"instance_type": "A10Gx4x16"},
        "autoscaling": autoscaling,
        "cold_start": {"image_pull_seconds": 30, "model_load_seconds": 90},
        "traffic": traffic or {"request_duration_seconds": 60},
    }
    if sweep is not None:
        data["sweep"] = sweep
    return parse_scenario(data)


def billed(sc) -> tuple[int, int]:
    sim = simulate_detail(sc)
    return meter(sim.events, PriceTable.default()).billed_minutes, sim.cold_starts


# 4 requests a minute of 60 s each from 10:00 to 10:10 with concurrency 1 at 100 % -> 4 replicas.
BURST = {"request_duration_seconds": 60, "segments": [{"start_minute": 600, "duration_minutes": 10, "rpm": 4}]}
FAST = {"min_replica": 0, "max_replica": 4, "target_utilization_percentage": 100, "autoscaling_window": 60,
        "scale_down_delay": 0}  # fmt: skip


@pytest.mark.parametrize(
    ("rate", "minutes"),
    [
        # straight down at 10:10: 4 replicas up 10:00-10:10, each billed from 10:00:30 -> 4 x 10 = 40
        (None, 40),
        # 50 %: 4 -> 2 at 10:10, 2 -> 1 at 10:11, 1 -> 0 at 10:12 (one step per 1-minute window):
        # replicas up 12, 11, 10, 10 min, less 30 s of image pull each, rounded up: 12 + 11 + 10 + 10 = 43
        (50, 43),
        # 25 %: 4 -> 3 -> 2 -> 1 -> 0 at 10:10 .. 10:13: 13 + 12 + 11 + 10 = 46
        (25, 46),
    ],
)
def test_max_scale_down_rate_keeps_replicas_while_stepping_down(rate, minutes):
    settings = FAST | ({} if rate is None else {"max_scale_down_rate": rate})
    assert billed(scenario(settings, BURST)) == (minutes, 1)


def test_a_longer_window_spaces_the_steps():
    # autoscaling window 120 s: the autoscaler averages the last 2 minutes and steps down once per 2 minutes.
    # Wanted: 10:00 mean(0, 4) = 2, 10:01-10:09 4, 10:10 mean(4, 0) = 2, then 0. Replicas: 2, then 4 until
    # 10:09; 10:10 one step 4 -> 2 (50 %); 10:11 no step (window); 10:12 2 -> 1; 10:14 1 -> 0.
    # Up: slot 1 10:00-10:14, slot 2 10:00-10:12, slots 3-4 10:01-10:10 -> less 30 s of image pull each,
    # rounded up: 14 + 12 + 9 + 9 = 44.
    settings = FAST | {"autoscaling_window": 120, "max_scale_down_rate": 50}
    assert billed(scenario(settings, BURST)) == (44, 1)


def test_recurring_and_one_time_schedules():
    # 1 and 2 March 2026 (a Sunday and a Monday), no traffic, min_replica 0 outside the windows.
    # Weekdays 08:00-10:00: one replica on Monday only, up 08:00-10:00, billed from 08:00:30 -> 120 min.
    # One-time 1 March 12:00-12:30 with min 2: two replicas, 30 min each less 30 s -> 2 x 30 = 60 min.
    sc = scenario(
        {"min_replica": 0, "max_replica": 2, "schedules": [
            {"name": "office", "weekdays": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "10:00",
             "min_replica": 1, "max_replica": 1},
            {"name": "launch", "start_at": "2026-03-01T12:00:00Z", "end_at": "2026-03-01T12:30:00Z",
             "min_replica": 2, "max_replica": 2},
        ]},
        days=2,
    )  # fmt: skip
    sim = simulate_detail(sc)
    m = meter(sim.events, PriceTable.default())
    assert (m.billed_minutes, sim.cold_starts) == (180, 0)  # no traffic waited: no cold start from zero
    starts = sorted(sim.replicas["start"].to_list())
    assert starts == [datetime(2026, 3, 1, 12, 0, tzinfo=UTC)] * 2 + [datetime(2026, 3, 2, 8, 0, tzinfo=UTC)]
    assert m.total_usd == pytest.approx(180 * A10G, abs=1e-9)


def test_a_schedule_window_is_read_in_the_environment_time_zone():
    # 08:00-10:00 in New York on Monday 2 March 2026 (EST, UTC-5) is 13:00-15:00 UTC
    window = {"weekdays": ["mon"], "start": "08:00", "end": "10:00", "min_replica": 1, "max_replica": 1}
    sc = scenario({"min_replica": 0, "max_replica": 1, "timezone": "America/New_York", "schedules": [window]}, days=2)
    sim = simulate_detail(sc)
    assert sim.replicas.select("start", "end").rows() == [
        (datetime(2026, 3, 2, 13, 0, tzinfo=UTC), datetime(2026, 3, 2, 15, 0, tzinfo=UTC))
    ]


def test_null_inherits_and_an_override_applies_inside_the_window_only():
    # the burst at 10:00 inside a window that sets scale_down_delay 600 s (10 min) and inherits the rest:
    # 4 replicas stay until 10:20 (10 min after the last wanted minute 10:09 + 1) -> 4 x (20 min - 30 s) = 80
    window = {"start": "09:00", "end": "11:00", "min_replica": 0, "max_replica": 4, "scale_down_delay": 600}
    inside = scenario(FAST | {"schedules": [window]}, BURST)
    assert billed(inside) == (80, 1)
    outside = scenario(FAST | {"schedules": [window | {"start": "11:00", "end": "12:00"}]}, BURST)
    assert billed(outside) == (40, 1)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"start": "08:00", "end": "10:00", "max_replica": 1}, r"schedules.1\].min_replica is required"),
        ({"start": "8am", "end": "10:00", "min_replica": 1, "max_replica": 1}, r"\.start must be a time of day"),
        ({"start": "08:00", "end": "10:00", "min_replica": 1, "max_replica": 1, "max_scale_down_rate": 80},
         r"max_scale_down_rate must be an integer between 1 and 50"),
        ({"start_at": "2026-03-01T12:00:00Z", "end_at": "2026-03-01T11:00:00Z", "min_replica": 1,
          "max_replica": 1}, r"end_at must be after start_at"),
        ({"weekdays": ["someday"], "start": "08:00", "end": "10:00", "min_replica": 1, "max_replica": 1},
         r"weekdays must be a list of days"),
    ],
)  # fmt: skip
def test_bad_schedules_name_the_field(entry, message):
    with pytest.raises(ScenarioError, match=message):
        scenario({"max_replica": 2, "schedules": [entry]})


# one request a minute of 30 s from 09:00 to 09:10: 0.5 in flight / (1 x 70 %) -> one replica
MORNING = {"request_duration_seconds": 30, "segments": [{"start_minute": 540, "duration_minutes": 10, "rpm": 1}]}


def test_sweep_finds_the_cheapest_setting_under_the_cold_start_bound():
    sc = scenario({"min_replica": 0, "max_replica": 1}, MORNING, days=1)
    sweep = run_sweep(sc, spec=SweepSpec(min_replica=(0, 1), scale_down_delay=(60, 900), max_cold_starts=0))
    rows = {(r["min_replica"], r["scale_down_delay"]): r for r in sweep.rows.iter_rows(named=True)}
    # min 0, delay 60 s: up 09:00-09:11 (the last wanted minute 09:09 + 1 min of delay), billed from 09:00:30
    # -> 11 min; delay 900 s: up to 09:25 -> 25 min; min 1: warm all day, 1,440 min. One day of March x 31.
    assert rows[(0, 60)]["billed_minutes"] == 11 and rows[(0, 900)]["billed_minutes"] == 25
    assert rows[(1, 60)]["billed_minutes"] == rows[(1, 900)]["billed_minutes"] == 1440
    assert rows[(0, 60)]["monthly_usd"] == pytest.approx(11 * A10G * 31, abs=1e-6)
    assert rows[(0, 60)]["cold_starts_per_month"] == 31.0 and rows[(1, 900)]["cold_starts_per_month"] == 0.0
    best = sweep.best()
    assert best is not None and (best["min_replica"], best["scale_down_delay"]) == (1, 60)
    assert best["monthly_usd"] == pytest.approx(1440 * A10G * 31, abs=1e-6)
    assert "Cheapest setting with at most 0 cold starts a month: min 1, delay 60 s" in sweep.statement()
    unbounded = run_sweep(sc, spec=SweepSpec(min_replica=(0, 1), scale_down_delay=(60, 900)))
    assert (unbounded.best()["min_replica"], unbounded.best()["scale_down_delay"]) == (0, 60)


def test_sweep_tries_the_schedule_and_a_warm_window_removes_the_cold_start():
    # a weekday window 08:55-09:30 keeps one replica warm for the 09:00 burst: no cold start, and
    # 35 min (booted 08:55, billed from 08:55:30: 34.5 -> 35) instead of 11
    sc = scenario({"min_replica": 0, "max_replica": 1, "schedules": [
        {"name": "pre-warm", "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "08:55",
         "end": "09:30", "min_replica": 1, "max_replica": 1}]}, MORNING, days=1,
        sweep={"min_replica": [0], "scale_down_delay": [60], "max_cold_starts": 0})  # fmt: skip
    sweep = run_sweep(sc)
    got = {r["schedule"]: (r["billed_minutes"], r["cold_starts"], r["best"]) for r in sweep.rows.iter_rows(named=True)}
    assert got == {"none": (11, 1, False), "as in scenario": (35, 0, True)}
    assert sweep.rows.filter(pl.col("best")).height == 1


def test_the_example_scenario_through_the_cli_and_the_report_pieces():
    """notebooks/scenarios/business_hours.toml: traffic every day of March 2026, an office-hours schedule
    on weekdays. Without it the first request of every day waits for a cold start (31); with it, only on
    the 9 weekend days (1, 7, 8, 14, 15, 21, 22, 28, 29 March)."""
    from testkey_nb._files import SCENARIOS_DIR
    from testkey_nb.cli.billing import run_billing
    from testkey_nb.report.billing_charts import sweep_chart
    from testkey_nb.report.charts import chart_spec
    from testkey_nb.report.views import sweep_html

    path = SCENARIOS_DIR / "business_hours.toml"
    out = run_billing(scenario=path)
    assert out["schedules"] == ["office hours: mon,tue,wed,thu,fri 08:45-18:00",
                                "all-hands demo: 2026-03-19 14:00 to 2026-03-19 16:00"]  # fmt: skip
    rows = out["sweep"]["rows"]
    assert {r["cold_starts"] for r in rows if r["schedule"] == "none" and r["min_replica"] == 0} == {31}
    assert {r["cold_starts"] for r in rows if r["schedule"] == "as in scenario" and r["min_replica"] == 0} == {9}
    within = [r for r in rows if r["cold_starts_per_month"] <= 30]
    best = out["sweep"]["best"]
    assert best == min(within, key=lambda r: r["monthly_usd"]) and best["schedule"] == "as in scenario"
    from testkey_nb.billing import load_scenario

    sweep = run_sweep(load_scenario(path))
    assert "Cheapest setting with at most 30 cold starts a month" in sweep_html(sweep)
    spec = chart_spec(sweep_chart(sweep.rows, max_cold_starts=30))
    assert len(spec["layer"]) == 4  # points, the ring on the best, its label, the bound
