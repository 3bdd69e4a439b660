"""The autoscaling what-if simulator: Baseten's defaults, scaling rules, and the min_replica 0 vs 1
cold-start trade-off on a fixed traffic profile with hand-checked totals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import polars as pl
import pytest

from testkey_nb.billing import (
    AutoscalingSettings,
    Build,
    ColdStart,
    DeploymentSpec,
    PriceTable,
    Scenario,
    Traffic,
    TrafficSegment,
    compare_min_replica,
    meter,
    simulate,
    simulate_detail,
)


def one_day(**changes) -> Scenario:
    """1 day of March 2026, $0.02/min, two 10-minute bursts (01:00 and 10:00) of 6 rpm x 5 s
    (in flight 0.5 -> ceil(0.5 / 0.7) = 1 replica), cold start 30 s pull + 90 s load."""
    base = Scenario(
        name="test",
        month="2026-03",
        days=1,
        deployment=DeploymentSpec(instance_type="A10Gx4x16", id="chat", price_per_minute=0.02),
        cold_start=ColdStart(image_pull_seconds=30, model_load_seconds=90),
        traffic=Traffic(
            request_duration_seconds=5,
            segments=(TrafficSegment(60, 10, 6), TrafficSegment(600, 10, 6)),
        ),
    )
    return replace(base, **changes)


def test_baseten_defaults():
    d = AutoscalingSettings()
    assert (
        d.min_replica,
        d.max_replica,
        d.concurrency_target,
        d.target_utilization_percentage,
        d.autoscaling_window,
        d.scale_down_delay,
    ) == (0, 1, 1, 70, 60, 900)


def test_min_replica_0_vs_1_trade_off_hand_checked():
    # min_replica 0: each burst wakes a replica at the burst's first minute (01:00, 10:00):
    #   image_pull 30 s (free), model_load 01:00:30..01:02 (billed), serving to 01:10, idle through the
    #   15-minute scale-down delay to 01:25 -> up 01:00:30..01:25 = 24.5 min -> 25 billed minutes.
    #   Two bursts: 50 minutes x $0.02 = $1.00. Two cold starts, first request waits 30 + 90 = 120 s.
    # min_replica 1: one warm replica all day: 1440 minutes x $0.02 = $28.80, no cold start.
    # min_replica 0 saves $28.80 - $1.00 = $27.80.
    table = compare_min_replica(one_day(), (0, 1), PriceTable.default()).sort("min_replica")
    rows = {r["min_replica"]: r for r in table.iter_rows(named=True)}
    assert rows[0]["billed_minutes"] == 50
    assert rows[0]["total_usd"] == pytest.approx(1.00)
    assert rows[0]["cold_starts"] == 2
    assert rows[0]["first_request_added_latency_s"] == 120.0
    assert rows[0]["total_added_latency_s"] == 240.0
    assert rows[1]["billed_minutes"] == 1440
    assert rows[1]["total_usd"] == pytest.approx(28.80)
    assert rows[1]["cold_starts"] == 0
    assert rows[1]["first_request_added_latency_s"] == 0.0
    assert rows[0]["usd_saved_vs_max"] == pytest.approx(27.80)


def test_min_replica_0_events_follow_the_lifecycle():
    ev = simulate(one_day())
    first = ev.filter(pl.col("replica_id") == "chat-r0001").select("phase", "start", "end").rows()
    t = lambda h, m, s=0: datetime(2026, 3, 1, h, m, s, tzinfo=UTC)  # noqa: E731
    assert first == [
        ("image_pull", t(1, 0), t(1, 0, 30)),
        ("model_load", t(1, 0, 30), t(1, 2)),
        ("serving", t(1, 2), t(1, 10)),
        ("idle", t(1, 10), t(1, 25)),
    ]
    zero = ev.filter(pl.col("phase") == "scaled_to_zero").select("start", "end").rows()
    assert zero == [(t(0, 0), t(1, 0)), (t(1, 25), t(10, 0)), (t(10, 25), datetime(2026, 3, 2, tzinfo=UTC))]


def test_desired_replicas_follow_concurrency_and_utilization():
    # 60 rpm x 2 s = 2 in flight; / (1 x 70 %) = 2.86 -> 3 replicas; capped by max_replica
    sc = one_day(
        traffic=Traffic(request_duration_seconds=2, segments=(TrafficSegment(60, 30, 60),)),
        autoscaling=AutoscalingSettings(max_replica=5),
    )
    assert simulate_detail(sc).minutes["replicas"].max() == 3
    assert simulate_detail(sc.with_autoscaling(max_replica=2)).minutes["replicas"].max() == 2
    # concurrency target 4 at 100 %: 2 / 4 = 0.5 -> 1 replica
    sc4 = sc.with_autoscaling(concurrency_target=4, target_utilization_percentage=100)
    assert simulate_detail(sc4).minutes["replicas"].max() == 1


def test_scale_down_delay_zero_terminates_right_after_traffic():
    # burst minutes 60..69; no delay -> replica wanted 01:00..01:10; pull 0, load 60 s:
    # up 01:00..01:10 = 10 minutes (1 load + 9 serving)
    sc = one_day(
        traffic=Traffic(request_duration_seconds=5, segments=(TrafficSegment(60, 10, 6),)),
        cold_start=ColdStart(image_pull_seconds=0, model_load_seconds=60),
        autoscaling=AutoscalingSettings(scale_down_delay=0),
    )
    m = meter(simulate(sc), PriceTable.default())
    assert m.billed_minutes == 10


def test_autoscaling_window_keeps_load_in_view():
    # one minute of traffic at minute 60; a 600 s window keeps the mean load > 0 for minutes 60..69,
    # no scale-down delay -> replica wanted 10 minutes; warm-up 0 -> 10 billed minutes
    sc = one_day(
        traffic=Traffic(request_duration_seconds=5, segments=(TrafficSegment(60, 1, 6),)),
        cold_start=ColdStart(image_pull_seconds=0, model_load_seconds=0),
        autoscaling=AutoscalingSettings(scale_down_delay=0, autoscaling_window=600),
    )
    assert meter(simulate(sc), PriceTable.default()).billed_minutes == 10


def test_development_deployment_is_simulated_but_not_billed():
    sc = one_day(deployment=DeploymentSpec(instance_type="A10Gx4x16", id="dev", development=True))
    ev = simulate(sc)
    assert ev["development"].all()
    assert meter(ev, PriceTable.default()).billed_minutes == 0


def test_build_runs_first_and_is_billed():
    # build 600 s (10 min, billed), then the min replica boots at 00:10: pull 30 s, load 90 s,
    # up 00:10:30..24:00 = 1429.5 min -> 1430; total 1440 minutes
    sc = one_day(build=Build(seconds=600), autoscaling=AutoscalingSettings(min_replica=1))
    ev = simulate(sc)
    assert ev.filter(pl.col("phase") == "build").height == 1
    assert meter(ev, PriceTable.default()).billed_minutes == 1440


def test_failed_build_deploys_nothing_and_is_billed_up_to_the_failure():
    sc = one_day(build=Build(seconds=95, failed=True), autoscaling=AutoscalingSettings(min_replica=1))
    ev = simulate(sc)
    assert ev["phase"].to_list() == ["build_failed"]
    assert meter(ev, PriceTable.default()).billed_minutes == 2  # 95 s -> 2 minutes


def test_drain_after_scale_down_is_emitted_and_not_billed():
    sc = one_day(cold_start=ColdStart(image_pull_seconds=30, model_load_seconds=90, drain_seconds=20))
    m = meter(simulate(sc), PriceTable.default())
    drains = m.events.filter(pl.col("phase") == "drain")
    assert drains.height == 2
    assert not drains["billed"].any()
    assert m.billed_minutes == 50  # unchanged from the hand-checked 50


def test_simulation_is_deterministic():
    assert simulate(one_day()).equals(simulate(one_day()))


def test_hourly_pattern_traffic():
    # 24 values, traffic only at 09:00..09:59 (rpm 6, 5 s -> 1 replica), 2 days, no cold-start time:
    # per day the replica is wanted 09:00..10:15 (60 min + 15 min delay) -> 75 min; 2 days -> 150
    hourly = tuple(6.0 if h == 9 else 0.0 for h in range(24))
    sc = one_day(
        days=2,
        traffic=Traffic(request_duration_seconds=5, hourly_rpm=hourly),
        cold_start=ColdStart(image_pull_seconds=0, model_load_seconds=0),
    )
    assert meter(simulate(sc), PriceTable.default()).billed_minutes == 150
