"""From a real key: usage summary -> daily frames; deployments -> the month's floor; and nothing
invented when the key could not read them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from testkey_nb.billing import PriceTable, from_usage_summary, project_month

USAGE = {
    "dedicated_usage": {
        "subtotal": "10.5",
        "credits_used": 2,
        "total": 12.5,
        "minutes": 600,
        "breakdown": [
            {
                "billable_resource": {
                    "id": "dep-a",
                    "kind": "MODEL_DEPLOYMENT",
                    "name": "v1",
                    "model_name": "chat",
                    "is_deleted": False,
                    "instance_type": "A10Gx4x16",
                },
                "subtotal": 12.0,
                "minutes": 596,
                "inference_requests": 40,
                "daily": [
                    {"date": "2026-03-01", "subtotal": "2.0", "minutes": 100, "inference_requests": 10},
                    {"date": "2026-03-02", "subtotal": 10, "minutes": 496, "inference_requests": 30},
                ],
            }
        ],
    },
    "training_usage": {
        "subtotal": 0.5,
        "credits_used": 0,
        "total": 0.5,
        "minutes": 4,
        "breakdown": [
            {
                "billable_resource": {"id": "job-1", "kind": "TRAINING_JOB", "is_deleted": False},
                "subtotal": 0.5,
                "minutes": 4,
                "daily": [{"date": "2026-03-02", "subtotal": 0.5, "minutes": 4}],
            }
        ],
    },
    "model_apis_usage": None,
}


def test_usage_summary_to_daily_frames():
    frames = from_usage_summary(USAGE)
    assert frames.readable
    assert frames.daily.select(
        "date", "deployment_id", "kind", "minutes", "usd", "inference_requests"
    ).rows() == [
        (date(2026, 3, 1), "dep-a", "MODEL_DEPLOYMENT", 100, 2.0, 10),
        (date(2026, 3, 2), "dep-a", "MODEL_DEPLOYMENT", 496, 10.0, 30),
        (date(2026, 3, 2), "job-1", "TRAINING_JOB", 4, 0.5, None),
    ]
    assert set(frames.daily["provenance"]) == {"observed"}
    assert frames.totals["dedicated"] == {
        "subtotal_usd": 10.5,
        "credits_used_usd": 2.0,
        "total_usd": 12.5,
        "minutes": 600.0,
    }
    per = {
        r["deployment_id"]: (r["minutes"], r["usd"], r["days"])
        for r in frames.per_deployment().iter_rows(named=True)
    }
    assert per == {"dep-a": (596, 12.0, 2), "job-1": (4, 0.5, 1)}
    assert any("model_apis_usage is null" in n for n in frames.notes)


def test_unreadable_usage_says_so_and_has_no_numbers():
    frames = from_usage_summary(None)
    assert frames.readable is False
    assert "inference-only" in frames.reason
    assert frames.daily.height == 0
    assert frames.totals == {}
    custom = from_usage_summary(None, reason="403 from /v1/billing/usage_summary")
    assert custom.reason == "403 from /v1/billing/usage_summary"
    odd = from_usage_summary({"detail": "forbidden"})
    assert odd.readable is False
    assert odd.daily.height == 0


def dep(**changes):
    base = {
        "id": "dep-a",
        "created_at": "2026-02-01T00:00:00Z",
        "name": "v1",
        "model_id": "m1",
        "is_production": True,
        "is_development": False,
        "status": "ACTIVE",
        "active_replica_count": 2,
        "autoscaling_settings": {
            "min_replica": 2,
            "max_replica": 3,
            "autoscaling_window": 60,
            "scale_down_delay": 900,
            "concurrency_target": 1,
            "target_utilization_percentage": 70,
        },
        "instance_type_name": "A10Gx4x16",
        "environment": "production",
    }
    base.update(changes)
    return base


def test_project_month_floor_from_min_replica():
    now = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)  # 12 hours = 720 minutes left in March
    frame = project_month(
        [
            dep(),
            dep(id="dev", is_development=True),
            dep(id="new", autoscaling_settings=None),
            dep(id="odd", instance_type_name="Z9000"),
            dep(id="zero", autoscaling_settings={**dep()["autoscaling_settings"], "min_replica": 0}),
        ],
        PriceTable.default(),
        now,
    )
    rows = {r["deployment_id"]: r for r in frame.iter_rows(named=True)}
    # 2 replicas x 720 min x $0.02012 = $28.9728; ceiling 3 x 720 x 0.02012 = $43.4592
    assert rows["dep-a"]["minutes_remaining"] == 720
    assert rows["dep-a"]["floor_usd"] == pytest.approx(28.9728)
    assert rows["dep-a"]["ceiling_usd"] == pytest.approx(43.4592)
    assert rows["dep-a"]["provenance"] == "derived"
    assert rows["dev"]["floor_usd"] == 0.0
    assert rows["new"]["floor_usd"] is None
    assert "not finished deploying" in rows["new"]["note"]
    assert rows["odd"]["floor_usd"] is None
    assert rows["odd"]["price_per_minute"] is None
    assert rows["zero"]["floor_usd"] == 0.0
    assert rows["dep-a"]["observed_mtd_usd"] is None  # no usage given: not invented


def test_project_month_adds_observed_month_to_date():
    now = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
    frame = project_month([dep()], PriceTable.default(), now, usage=from_usage_summary(USAGE))
    row = frame.row(0, named=True)
    # observed 2.0 + 10.0 in March, plus the floor $28.9728
    assert row["observed_mtd_usd"] == pytest.approx(12.0)
    assert row["projected_floor_usd"] == pytest.approx(40.9728)
