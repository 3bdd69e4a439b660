"""The credit and invoice ledger: threshold invoices, month-end invoices, credits, cadence, deactivation.

Usage frames are written by hand ($1.00 per minute unless stated), so cumulative usage after k minutes
is $k and every expected timestamp can be counted on fingers.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from billing_helpers import events, minute_usage

from testkey_nb.billing import LedgerConfig, PriceTable, bill, run_ledger

START = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)
APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)


def invoices(result) -> list[tuple]:
    return result.invoices.select(
        "issued_at", "gross_usd", "credits_applied_usd", "amount_usd", "reason"
    ).rows()


def test_threshold_invoice_when_usage_exceeds_50_mid_month():
    # $1/min from 10 Mar 00:00: after 50 minutes usage is exactly $50 (not "exceeds"); the 51st minute
    # (index 50, 00:50) takes it to $51 -> invoice at 00:50. The other 49 minutes go to the month end.
    led = run_ledger(minute_usage(START, 1.0, 100), LedgerConfig(credits_usd=0))
    assert invoices(led) == [
        (datetime(2026, 3, 10, 0, 50, tzinfo=UTC), 51.0, 0.0, 51.0, "threshold"),
        (APRIL_1, 49.0, 0.0, 49.0, "month_end"),
    ]
    assert led.invoices["paid"].to_list() == [True, True]


def test_exactly_50_does_not_trigger_a_threshold_invoice():
    led = run_ledger(minute_usage(START, 1.0, 50), LedgerConfig(credits_usd=0))
    assert invoices(led) == [(APRIL_1, 50.0, 0.0, 50.0, "month_end")]


def test_month_end_invoices_for_each_calendar_month():
    # $0.5/min for 10 minutes on 31 Mar 23:55 .. 1 Apr 00:05: $2.50 in March, $2.50 in April
    usage = minute_usage(datetime(2026, 3, 31, 23, 55, tzinfo=UTC), 0.5, 10)
    led = run_ledger(usage, LedgerConfig(credits_usd=0))
    assert invoices(led) == [
        (APRIL_1, 2.5, 0.0, 2.5, "month_end"),
        (datetime(2026, 5, 1, tzinfo=UTC), 2.5, 0.0, 2.5, "month_end"),
    ]
    # the invoice periods are the calendar months
    assert led.invoices["period_start"].to_list() == [datetime(2026, 3, 1, tzinfo=UTC), APRIL_1]


def test_credits_apply_first_and_invoices_are_net_of_credits():
    # 100 minutes at $1, $30 credits: threshold invoice at 00:50 for $51 usage - $30 credits = $21;
    # the remaining $49 at month end, no credits left.
    led = run_ledger(minute_usage(START, 1.0, 100), LedgerConfig(credits_usd=30))
    assert invoices(led) == [
        (datetime(2026, 3, 10, 0, 50, tzinfo=UTC), 51.0, 30.0, 21.0, "threshold"),
        (APRIL_1, 49.0, 0.0, 49.0, "month_end"),
    ]
    assert (led.total_usd, led.credits_used_usd, led.net_usd) == (100.0, 30.0, 70.0)
    assert led.deactivated_at is None


def test_threshold_invoice_resets_the_accumulator_and_cadence_turns_monthly_after_3_payments():
    # $1/min for 200 minutes, no credits. Invoices when the open period exceeds $50:
    #   index 50 (cum 51), index 101 (cum 102 > 51 + 50), index 152 (cum 153 > 102 + 50) -> 3 payments,
    #   then only the month end: 200 - 153 = $47.
    led = run_ledger(minute_usage(START, 1.0, 200), LedgerConfig(credits_usd=0))
    assert invoices(led) == [
        (datetime(2026, 3, 10, 0, 50, tzinfo=UTC), 51.0, 0.0, 51.0, "threshold"),
        (datetime(2026, 3, 10, 1, 41, tzinfo=UTC), 51.0, 0.0, 51.0, "threshold"),
        (datetime(2026, 3, 10, 2, 32, tzinfo=UTC), 51.0, 0.0, 51.0, "threshold"),
        (APRIL_1, 47.0, 0.0, 47.0, "month_end"),
    ]
    assert led.monthly_cadence_from == datetime(2026, 3, 10, 2, 32, tzinfo=UTC)


def test_cadence_threshold_is_a_parameter_and_history_counts():
    usage = minute_usage(START, 1.0, 200)
    one = run_ledger(usage, LedgerConfig(credits_usd=0, monthly_after_payments=1))
    # one threshold payment at 00:50, then the other $149 at month end
    assert [r[4] for r in invoices(one)] == ["threshold", "month_end"]
    assert one.invoices["amount_usd"].to_list() == [51.0, 149.0]
    already = run_ledger(usage, LedgerConfig(credits_usd=0, prior_successful_payments=3))
    assert invoices(already) == [(APRIL_1, 200.0, 0.0, 200.0, "month_end")]


def test_invoices_covered_by_credits_are_not_payments():
    # $100 credits, 200 minutes at $1:
    #   index 50: usage 51, credits 51, net 0 (covered, not a payment)
    #   index 101: usage 51, credits min(102,100) - 51 = 49, net 2 -> payment 1
    #   index 152: usage 51, credits 0, net 51 -> payment 2
    #   month end: 47 -> payment 3
    led = run_ledger(minute_usage(START, 1.0, 200), LedgerConfig(credits_usd=100))
    assert led.invoices.select("amount_usd", "status").rows() == [
        (0.0, "covered"),
        (2.0, "paid"),
        (51.0, "paid"),
        (47.0, "paid"),
    ]
    assert led.monthly_cadence_from == APRIL_1


def test_credits_run_out_without_payment_method_deactivates():
    # $30 credits, $1/min, no card: cumulative exceeds $30 with the 31st minute (index 30, 00:30).
    led = run_ledger(minute_usage(START, 1.0, 100), LedgerConfig(credits_usd=30, payment_method=False))
    assert led.deactivated_at == datetime(2026, 3, 10, 0, 30, tzinfo=UTC)
    assert (led.total_usd, led.credits_used_usd, led.net_usd) == (31.0, 30.0, 1.0)
    # the $1 beyond the credits is invoiced at month end and stays unpaid
    assert led.invoices.select("amount_usd", "reason", "status").rows() == [(1.0, "month_end", "unpaid")]
    tl = led.timeline.filter(pl.col("event") == "deactivation").row(0, named=True)
    assert (tl["cumulative_usd"], tl["credits_remaining_usd"]) == (31.0, 0.0)


def test_credits_run_out_with_payment_method_keeps_running():
    led = run_ledger(minute_usage(START, 1.0, 100), LedgerConfig(credits_usd=30, payment_method=True))
    assert led.deactivated_at is None
    assert (led.total_usd, led.credits_used_usd, led.net_usd) == (100.0, 30.0, 70.0)


def test_no_credits_no_card_deactivates_in_the_first_billed_minute():
    led = run_ledger(minute_usage(START, 0.02, 10), LedgerConfig(credits_usd=0, payment_method=False))
    assert led.deactivated_at == START


def test_documented_price_deactivation_minute_is_exact():
    # A10G at $0.02012/min: 1491 min = $29.99892 <= $30, 1492 min = $30.01904 > $30 -> index 1491:
    # 10 Mar 00:00 + 1491 min = 11 Mar 00:51
    led = run_ledger(minute_usage(START, 0.02012, 2000), LedgerConfig(credits_usd=30, payment_method=False))
    assert led.deactivated_at == datetime(2026, 3, 11, 0, 51, tzinfo=UTC)
    assert led.total_usd == pytest.approx(30.01904, abs=1e-9)


def test_bill_stops_metering_after_deactivation():
    # one replica serving 100 minutes at $1 from 12:00, a second replica booting at 13:00;
    # $30 credits, no card: deactivated in the minute 12:30; 31 minutes billed, nothing after.
    frame = events(
        ("r1", "serving", 0, 6000),
        ("r2", "image_pull", 3600, 3660),
        ("r2", "model_load", 3660, 3720),
    )
    run = bill(frame, PriceTable.default(), LedgerConfig(credits_usd=30, payment_method=False))
    assert run.ledger.deactivated_at == datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
    assert run.metering.billed_minutes == 31
    assert run.metering.up_intervals.select("replica_id", "billed_minutes").rows() == [("r1", 31)]
    ev = run.metering.events
    after = ev.filter(pl.col("reason").str.contains("after deactivation"))
    # r1's serving row is split at 12:31; r2 never runs
    assert after.select("replica_id", "phase").rows() == [
        ("r1", "serving"),
        ("r2", "image_pull"),
        ("r2", "model_load"),
    ]
    assert after["billed"].any() is False
    phases = {r["phase"]: r["wall_minutes"] for r in run.metering.by_phase().iter_rows(named=True)}
    assert phases["serving"] == 31.0
    assert phases["after_deactivation"] == 69.0 + 2.0  # 69 min of r1 + r2's 2 min of boot


def test_timeline_columns_and_final_cumulative():
    led = run_ledger(minute_usage(START, 1.0, 100), LedgerConfig(credits_usd=30))
    tl = led.timeline
    assert tl.columns == ["ts", "cumulative_usd", "credits_remaining_usd", "event", "amount_usd"]
    usage_rows = tl.filter(pl.col("event") == "usage")
    # 100 minutes from 00:00 -> hours 00 and 01 -> rows stamped at 01:00 ($60) and 02:00 ($100)
    assert usage_rows.select("ts", "cumulative_usd", "credits_remaining_usd").rows() == [
        (datetime(2026, 3, 10, 1, tzinfo=UTC), 60.0, 0.0),
        (datetime(2026, 3, 10, 2, tzinfo=UTC), 100.0, 0.0),
    ]
    assert tl.filter(pl.col("event") == "invoice")["amount_usd"].to_list() == [21.0, 49.0]


def test_empty_usage_gives_an_empty_ledger():
    empty = minute_usage(START, [])
    led = run_ledger(empty, LedgerConfig(payment_method=False))
    assert led.invoices.height == 0
    assert led.deactivated_at is None
    assert led.total_usd == 0.0
