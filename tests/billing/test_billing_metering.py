"""Metering rules: one test per row of the billing docs' lifecycle table, plus rounding edge cases.

Prices are $1.00/minute unless a test says otherwise, so dollars == billed minutes. Every expected
number is worked out by hand in the comment next to it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from billing_helpers import events

from testkey_nb.billing import EventsError, PriceError, PriceTable, meter


def billed(frame: pl.DataFrame, price_table: PriceTable | None = None) -> tuple[int, float]:
    m = meter(frame, price_table or PriceTable.default())
    return m.billed_minutes, round(m.total_usd, 9)


# --- the lifecycle table, row by row ------------------------------------------------------------------


def test_image_build_is_billed():
    # builder workload up 300 s -> 5 minutes
    assert billed(events(("build-1", "build", 0, 300))) == (5, 5.0)


def test_image_pull_is_not_billed():
    # pull 120 s free; model_load 120..180 = 60 s -> 1 minute
    m = meter(events(("r1", "image_pull", 0, 120), ("r1", "model_load", 120, 180)), PriceTable.default())
    assert m.billed_minutes == 1
    pull = m.events.filter(pl.col("phase") == "image_pull").row(0, named=True)
    assert pull["billed"] is False
    assert "image pull" in pull["reason"]


def test_cold_start_and_model_load_are_billed():
    # scheduling 30 s + pull 60 s free; model_load 120 s + serving 60 s = 180 s up -> 3 minutes
    frame = events(
        ("r1", "scheduling", 0, 30),
        ("r1", "image_pull", 30, 90),
        ("r1", "model_load", 90, 210),
        ("r1", "serving", 210, 270),
    )
    m = meter(frame, PriceTable.default())
    assert m.billed_minutes == 3
    iv = m.up_intervals.row(0, named=True)
    assert iv["seconds"] == 180.0
    assert iv["start"] == datetime(2026, 3, 10, 12, 1, 30, tzinfo=UTC)  # observed up at model load


def test_serving_is_billed():
    assert billed(events(("r1", "serving", 0, 600))) == (10, 10.0)  # 600 s = 10 min


def test_idle_warm_replica_is_billed():
    assert billed(events(("r1", "idle", 0, 3600))) == (60, 60.0)  # one idle hour


def test_terminated_by_autoscaling_is_billed_up_to_termination():
    # load 60 s, serve 240 s, idle through the scale-down delay 900 s, terminated at 1200 s, drain 30 s
    frame = events(
        ("r1", "model_load", 0, 60),
        ("r1", "serving", 60, 300),
        ("r1", "idle", 300, 1200),
        ("r1", "drain", 1200, 1230),
    )
    m = meter(frame, PriceTable.default())
    assert m.billed_minutes == 20  # 1200 s = 20 min, drain free
    assert m.up_intervals["end"][0] == datetime(2026, 3, 10, 12, 20, tzinfo=UTC)


def test_killed_mid_request_is_billed_up_to_termination_rounded_up():
    # OOM at 130 s during a request: 130 s up -> 3 minutes (2 min 10 s rounded up)
    frame = events(("r1", "model_load", 0, 60), ("r1", "serving", 60, 130))
    assert billed(frame) == (3, 3.0)


def test_failed_boot_is_not_billed():
    frame = events(("r1", "scheduling", 0, 10), ("r1", "image_pull", 10, 70), ("r1", "failed_boot", 70, 200))
    m = meter(frame, PriceTable.default())
    assert m.billed_minutes == 0
    assert m.up_intervals.height == 0
    assert m.events.filter(pl.col("phase") == "failed_boot")["reason"][0].startswith(
        "not billed: failed boot"
    )


def test_scaled_to_zero_is_not_billed():
    assert billed(events(("-", "scaled_to_zero", 0, 86_400))) == (0, 0.0)


def test_development_deployment_is_not_billed():
    frame = events(("r1", "model_load", 0, 60, True), ("r1", "serving", 60, 3600, True))
    m = meter(frame, PriceTable.default())
    assert m.billed_minutes == 0
    assert set(m.events["reason"]) == {"not billed: development deployment (truss push --watch)"}
    assert not m.events["billed"].any()


def test_build_failure_inside_builder_is_billed_up_to_failure():
    # build fails after 95 s -> 2 minutes
    assert billed(events(("build-1", "build_failed", 0, 95))) == (2, 2.0)


def test_drain_and_cleanup_after_termination_are_not_billed():
    frame = events(("r1", "serving", 0, 60), ("r1", "drain", 60, 180))
    assert billed(frame) == (1, 1.0)


def test_training_is_metered_like_serving():
    assert billed(events(("job-1", "training", 0, 3599))) == (60, 60.0)  # 59 min 59 s -> 60


# --- rounding -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "minutes"),
    [(60, 1), (61, 2), (1, 1), (0, 0), (59.999, 1), (60.000001, 2), (120, 2), (3600, 60)],
)
def test_partial_minutes_round_up_per_up_interval(seconds, minutes):
    assert billed(events(("r1", "serving", 0, seconds)))[0] == minutes


def test_rounding_happens_once_per_up_interval_not_per_phase():
    # 30 s load + 30 s serving = one 60 s up-interval -> 1 minute (per-phase rounding would give 2)
    assert billed(events(("r1", "model_load", 0, 30), ("r1", "serving", 30, 60)))[0] == 1


def test_a_gap_or_unbilled_phase_starts_a_new_up_interval():
    # 1 s, then nothing, then 1 s: two up-intervals of 1 s -> 1 + 1 = 2 minutes
    assert billed(events(("r1", "serving", 0, 1), ("r1", "serving", 120, 121)))[0] == 2
    # billed 10 s, drain 10 s (not billed), billed 10 s -> two intervals -> 2 minutes
    frame = events(("r1", "serving", 0, 10), ("r1", "drain", 10, 20), ("r1", "serving", 20, 30))
    assert meter(frame, PriceTable.default()).up_intervals.height == 2


def test_each_replica_and_each_build_is_its_own_up_interval():
    # two replicas of 30 s each at the same time: 1 + 1 minutes; a 30 s build: 1 more
    frame = events(("r1", "serving", 0, 30), ("r2", "serving", 0, 30), ("build-1", "build", 0, 30))
    assert billed(frame)[0] == 3


def test_interval_across_an_hour_boundary_is_rounded_once_and_split_by_minute_start():
    # 12:59:30 .. 13:00:31 = 61 s -> 2 minutes: minute 0 begins 12:59:30 (hour 12), minute 1 at 13:00:30
    base = datetime(2026, 3, 10, 12, 59, 30, tzinfo=UTC)
    m = meter(events(("r1", "serving", 0, 61), base=base), PriceTable.default())
    assert m.billed_minutes == 2
    hourly = m.hourly.select("hour", "minutes").rows()
    assert hourly == [
        (datetime(2026, 3, 10, 12, tzinfo=UTC), 1),
        (datetime(2026, 3, 10, 13, tzinfo=UTC), 1),
    ]


def test_interval_across_a_month_boundary_lands_in_both_months():
    # 31 Mar 23:59:30 .. 1 Apr 00:00:31 = 61 s -> 2 minutes, one in March and one in April
    base = datetime(2026, 3, 31, 23, 59, 30, tzinfo=UTC)
    m = meter(events(("r1", "serving", 0, 61), base=base), PriceTable.default())
    usage = m.minute_usage()
    assert usage.select("ts", "replicas").rows() == [
        (datetime(2026, 3, 31, 23, 59, tzinfo=UTC), 1),
        (datetime(2026, 4, 1, 0, 0, tzinfo=UTC), 1),
    ]


def test_hourly_usage_for_a_long_interval():
    # 10:20 .. 12:10 = 110 min: 40 in hour 10, 60 in hour 11, 10 in hour 12; price $0.5 -> $20, $30, $5
    base = datetime(2026, 3, 10, 10, 20, tzinfo=UTC)
    m = meter(events(("r1", "idle", 0, 110 * 60), base=base, price=0.5), PriceTable.default())
    assert m.hourly.select("minutes", "usd").rows() == [(40, 20.0), (60, 30.0), (10, 5.0)]


def test_by_phase_shares_sum_to_the_billed_minutes():
    # load 90 s + serving 31 s = 121 s -> 3 minutes. Shares: load 1.5 min; serving 31/60 plus the
    # rounding remainder (180 - 121)/60 = 59/60 -> 90/60 = 1.5 min.
    m = meter(events(("r1", "model_load", 0, 90), ("r1", "serving", 90, 121)), PriceTable.default())
    phases = {r["phase"]: r["billed_minutes"] for r in m.by_phase().iter_rows(named=True)}
    assert phases["model_load"] == pytest.approx(1.5)
    assert phases["serving"] == pytest.approx(1.5)


# --- prices ---------------------------------------------------------------------------------------


def test_documented_price_table_and_provenance():
    table = PriceTable.default()
    assert table.provenance == "documented"
    assert "third-party transcriptions Jul–Sep 2026" in table.source
    # 10 minutes of A10Gx4x16 at $0.02012 = $0.2012
    assert billed(events(("r1", "serving", 0, 600), price=None), table) == (10, 0.2012)
    # GPU short names resolve to the documented instance: H100 $0.10833/min
    assert table.price_of("H100") == 0.10833
    assert table.price_of("a10g") == 0.02012
    assert table.price_of("A10G:2x24x96") is None  # multi-GPU variant: not guessed


def test_price_per_minute_column_overrides_the_table():
    assert billed(events(("r1", "serving", 0, 600), price=0.5)) == (10, 5.0)


def test_unknown_instance_type_without_override_is_an_error():
    frame = events(("r1", "serving", 0, 60), price=None, instance_type="Z9000x1x1")
    with pytest.raises(PriceError, match=r"Z9000x1x1.*price_per_minute"):
        meter(frame, PriceTable.default())
    # ... but not for phases that are not billed
    free = events(("r1", "image_pull", 0, 60), price=None, instance_type="Z9000x1x1")
    assert meter(free, PriceTable.default()).billed_minutes == 0


def test_observed_prices_from_instance_type_prices_body():
    body = {
        "instance_types": [
            {
                "instance_type": {
                    "id": "it-a10g",
                    "name": "A10Gx4x16",
                    "memory_limit_mib": 16384,
                    "millicpu_limit": 4000,
                    "gpu_count": 1,
                    "gpu_type": "A10G",
                    "gpu_memory_limit_mib": 24576,
                },
                "price": 0.03,
            },
            {"instance_type": {"id": "cpu-1x2", "name": "1x2"}, "price": "0.00058"},
        ]
    }
    table = PriceTable.from_instance_type_prices(body)
    assert table.provenance == "observed"
    assert table.price_of("A10Gx4x16") == 0.03
    assert table.price_of("it-a10g") == 0.03
    assert table.price_of("1x2") == 0.00058
    assert table.price_of("H100") is None  # not in the observed body
    # 10 minutes at the observed $0.03 = $0.30
    assert billed(events(("r1", "serving", 0, 600), price=None), table) == (10, 0.3)
    with pytest.raises(PriceError, match=r"instance_types\[0\]\.price"):
        PriceTable.from_instance_type_prices(
            {"instance_types": [{"instance_type": {"name": "x"}, "price": -1}]}
        )
    with pytest.raises(PriceError):
        PriceTable.from_instance_type_prices({"items": []})


def test_a_replica_cannot_change_price_inside_an_up_interval():
    frame = pl.concat(
        [events(("r1", "model_load", 0, 60), price=1.0), events(("r1", "serving", 60, 120), price=2.0)]
    )
    with pytest.raises(EventsError, match="changes instance type or price"):
        meter(frame, PriceTable.default())


def test_overlapping_phases_of_one_replica_are_rejected():
    with pytest.raises(EventsError, match="overlaps"):
        meter(events(("r1", "model_load", 0, 60), ("r1", "serving", 30, 120)), PriceTable.default())


def test_events_frame_columns_are_stable():
    m = meter(events(("r1", "serving", 0, 60)), PriceTable.default())
    assert m.events.columns[:10] == [
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
    ]
    assert m.up_intervals.columns == [
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
    ]
    assert m.hourly.columns == ["deployment_id", "hour", "minutes", "usd"]
