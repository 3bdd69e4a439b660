"""Burn and runway on synthetic timelines; the expected values were worked out by hand (in the comments)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from history_helpers import snap

from testkey_nb.history.runway import from_balances, from_usage, runway_for


def test_burn_from_consecutive_balances() -> None:
    # 100 -> 90 -> 80 -> (failed, no balance) -> 70 at days 0, 1, 2, 4: (100 - 70) / 4 days = 7.5 a day;
    # 70 / 7.5 = 9.3333 days; day 4 (Nov 5, 12:00) + 9 d 8 h = Nov 14, 20:00
    snaps = [snap(0), snap(1, remaining=90), snap(2, remaining=80), snap(3, remaining=None, status="failed",
             error="down"), snap(4, remaining=70)]  # fmt: skip
    got = from_balances(snaps)
    assert got == {
        "burn_per_day": 7.5, "runway_days": 9.3333, "exhausted_at": "2026-11-14T20:00:00Z", "currency": "USD",
        "provenance": "derived", "note": "",
        "window": {"from": "2026-11-01T12:00:00Z", "to": "2026-11-05T12:00:00Z", "days": 4.0,
                   "source": "balance snapshots", "points": 4},
    }  # fmt: skip
    assert runway_for(snaps) == got


def test_a_top_up_starts_a_new_window() -> None:
    # 50, 40, then a top-up to 100, then 80 two days later: 20 / 2 = 10 a day; 80 / 10 = 8 days from Nov 5
    got = from_balances([snap(0, remaining=50), snap(1, remaining=40), snap(2, remaining=100),
                         snap(4, remaining=80)])  # fmt: skip
    assert got is not None
    assert (got["burn_per_day"], got["runway_days"], got["exhausted_at"]) == (10.0, 8.0, "2026-11-13T12:00:00Z")
    assert got["window"]["from"] == "2026-11-03T12:00:00Z" and got["window"]["points"] == 2


def test_the_window_bounds_the_points() -> None:
    # day 0 is 45 days before the latest: outside a 30-day window; (60 - 50) / 5 days = 2 a day; 50 / 2 = 25
    got = from_balances([snap(0, remaining=100), snap(40, remaining=60), snap(45, remaining=50)], window_days=30)
    assert got is not None and (got["burn_per_day"], got["runway_days"]) == (2.0, 25.0)


def test_no_burn_and_too_little_data() -> None:
    flat = from_balances([snap(0, remaining=50), snap(1, remaining=50)])
    assert flat is not None
    assert (flat["burn_per_day"], flat["runway_days"], flat["exhausted_at"]) == (0.0, None, None)
    assert from_balances([snap(0, remaining=50)]) is None
    assert from_balances([snap(0, remaining=None), snap(1, remaining=None)]) is None


def test_usage_days_and_the_ledger() -> None:
    # $2.40 on Nov 1 and on Nov 2, checked Nov 3 00:00: 4.80 / 2 days = 2.40 a day; $10 left -> 10 / 2.4 =
    # 4.1667 days = exactly 100 hours -> Nov 7 04:00. The ledger starts with 10 + 4.80 used = $14.80 of
    # credits: $0.10 an hour, the 101st projected hour exceeds them -> the same hour.
    at = datetime(2026, 11, 3, tzinfo=UTC)
    got = from_usage([{"date": "2026-11-01", "usd": 2.4}, {"date": "2026-11-02", "usd": 2.4}], 10.0, at, used=4.8,
                     payment_method="none")  # fmt: skip
    assert got is not None
    assert (got["burn_per_day"], got["runway_days"], got["exhausted_at"]) == (2.4, 4.1667, "2026-11-07T04:00:00Z")
    assert got["credits_exhausted_at"] == got["deactivated_at"] == "2026-11-07T04:00:00Z"
    assert got["provenance"] == "derived" and got["payment_method"] == "none"
    assert got["window"] == {"from": "2026-11-01T00:00:00Z", "to": "2026-11-03T00:00:00Z", "days": 2.0,
                             "source": "usage_summary daily figures", "points": 2}  # fmt: skip


def test_credits_that_ran_out_inside_the_window() -> None:
    # $20 a day on Nov 1 and 2, $30 of credits, none left: $20/24 an hour, the 37th hour (Nov 2 12:00)
    # is the first in which the cumulative usage exceeds $30: that is when the models went off
    at = datetime(2026, 11, 3, tzinfo=UTC)
    got = from_usage([{"date": "2026-11-01", "usd": 20.0}, {"date": "2026-11-02", "usd": 20.0}], 0.0, at, used=30.0,
                     payment_method="none")  # fmt: skip
    assert got is not None
    assert (got["burn_per_day"], got["runway_days"], got["exhausted_at"]) == (20.0, 0.0, "2026-11-02T12:00:00Z")
    assert got["deactivated_at"] == "2026-11-02T12:00:00Z"
    # gone before the window (no credits applied in it): not placed in time
    before = from_usage([{"date": "2026-11-01", "usd": 20.0}], 0.0, at, used=0.0)
    assert before is not None and before["exhausted_at"] is None and "before the usage window" in before["note"]


def test_the_deactivation_date_needs_the_payment_method() -> None:
    # the same window as test_usage_days_and_the_ledger: the credits run out Nov 7 04:00
    at = datetime(2026, 11, 3, tzinfo=UTC)
    days = [{"date": "2026-11-01", "usd": 2.4}, {"date": "2026-11-02", "usd": 2.4}]
    none = from_usage(days, 10.0, at, used=4.8, payment_method="none")
    card = from_usage(days, 10.0, at, used=4.8, payment_method="card")
    unsaid = from_usage(days, 10.0, at, used=4.8)
    assert none is not None and card is not None and unsaid is not None
    assert none["deactivated_at"] == "2026-11-07T04:00:00Z" and none["payment_method"] == "none"
    assert card["deactivated_at"] is None and card["credits_exhausted_at"] == "2026-11-07T04:00:00Z"
    assert "pays by card" in card["note"]
    assert unsaid["deactivated_at"] is None and unsaid["payment_method"] == "unknown"
    assert "--payment-method" in unsaid["note"]


def test_a_given_balance_without_used_projects_from_the_check_only() -> None:
    # $10 given at the check, $2.40 a day: 100 hours ahead -> Nov 7 04:00; the window's past usage is not
    # charged against the $10 (it is what remains now), so the ledger crosses in the same hour
    at = datetime(2026, 11, 3, tzinfo=UTC)
    got = from_usage([{"date": "2026-11-01", "usd": 2.4}, {"date": "2026-11-02", "usd": 2.4}], 10.0, at,
                     payment_method="none")  # fmt: skip
    assert got is not None and got["credits_exhausted_at"] == got["deactivated_at"] == "2026-11-07T04:00:00Z"


def test_a_runway_follows_the_payment_method_of_the_latest_balance() -> None:
    given = {"currency": "USD", "remaining": 10.0, "provenance": "given", "scope": "workspace"}
    days = [{"date": "2026-11-01", "usd": 2.4}]
    got = runway_for([snap(2, facts={"balance": {**given, "payment_method": "card"}, "usage_daily": days})])
    assert got is not None and got["payment_method"] == "card" and got["deactivated_at"] is None


def test_deactivation_time_is_the_ledgers_rule() -> None:
    """The runway's crossing (no invoices) falls on the minute run_ledger deactivates, for usage around the credits."""
    import polars as pl

    from testkey_nb.billing.ledger import LedgerConfig, deactivation_time, run_ledger

    start = datetime(2026, 11, 1, tzinfo=UTC)
    usage = [(start + timedelta(hours=h), 0.37 + (h % 5) * 0.11) for h in range(120)]
    frame = pl.DataFrame({"ts": [u[0] for u in usage], "usd": [u[1] for u in usage]},
                         schema={"ts": pl.Datetime("us", "UTC"), "usd": pl.Float64})  # fmt: skip
    for credits in (0.2, 5.0, 30.0, 57.31, 1000.0):
        ledger = run_ledger(frame, LedgerConfig(credits_usd=credits, payment_method=False)).deactivated_at
        expected = None if ledger is None else ledger.replace(tzinfo=UTC) if ledger.tzinfo is None else ledger
        assert deactivation_time(usage, credits) == expected, credits
    assert deactivation_time(usage, 1000.0) is None
    assert deactivation_time(usage, 0.2) == start
