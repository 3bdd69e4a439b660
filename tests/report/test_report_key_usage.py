"""The key report's "What this key used" (issue 21): figures, charts only where there is something to
draw, the runway only with a balance that was read or given, and the monitoring action naming the
figures. Expected values are computed by hand from the emulator's KEY_TRAFFIC rows (see
tests/providers/test_baseten_key_usage.py for the arithmetic)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from testkey_nb.check.facts import Balance
from testkey_nb.check.key_usage import CostRow, build_key_usage
from testkey_nb.check.result import CheckOptions, KeyCheck
from testkey_nb.check.run import check_key_async
from testkey_nb.emulator import EmulatorConfig, run_emulator
from testkey_nb.report.key_usage_view import by_day_model_frame, cost_chart, key_usage_html, runway, traffic_chart
from testkey_nb.secrets import Secret

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def checks() -> dict[str, KeyCheck]:
    with run_emulator(EmulatorConfig(seed=13, now=NOW)) as emu:
        options = CheckOptions(base_url=emu.base_url, management_url=emu.management_url, timeout_s=5.0,
                               deadline_s=10.0)  # fmt: skip
        return {label: asyncio.run(check_key_async(Secret(emu.keys[label]), options, now=NOW))
                for label in ("full-access", "inference-scoped")}  # fmt: skip


def _given(profile: Any, usd: float) -> Any:
    return replace(profile, balance=Balance("USD", usd, None, None, None, "given", None, scope="account"))


def test_figures_table_and_runway_with_a_given_balance(checks: dict[str, Any]) -> None:
    html = key_usage_html(_given(checks["full-access"].profile, 10.0))
    assert "From 2026-11-02 to 2026-12-02" in html
    assert "<b>61</b> requests, 8,300 input tokens (1,100 cached), 1,250 output tokens" in html
    assert "Cost <b>$6.65</b>" in html and "over 31 days" in html
    assert "<td>openai/gpt-oss-120b</td><td>37</td><td>5,500</td><td>850</td><td>2.45</td>" in html
    assert "<td>zai-org/GLM-4.7</td><td>24</td><td>2,800</td><td>400</td><td>4.20</td>" in html
    # 10 / 0.214516 = 46.62 days
    assert "Runway: <b>46.6 days</b> of $10.00 (given)" in html
    assert "No runway: no balance was read or given" in key_usage_html(checks["full-access"].profile)
    derived = replace(checks["full-access"].profile.balance or _given(checks["full-access"].profile, 1).balance,
                      provenance="derived")  # fmt: skip
    assert "No runway" in key_usage_html(replace(checks["full-access"].profile, balance=derived))


def test_charts_per_day_per_model(checks: dict[str, Any]) -> None:
    frame = by_day_model_frame(checks["full-access"].profile.key_usage)
    # 2 models on 12-01, 2 a day on 20 days, 1 on 11-07
    assert frame.height == 43
    assert frame.filter(frame["date"] == date(2026, 12, 1))["requests"].to_list() == [12, 4]
    assert round(frame["cost_usd"].sum(), 9) == 6.65
    traffic = traffic_chart(frame).to_dict()
    assert [c["title"] for c in traffic["vconcat"]] == ["Requests per day", "Tokens per day (input + output)"]
    assert cost_chart(frame) is not None


def test_nothing_to_draw_is_a_sentence_not_a_chart(checks: dict[str, Any]) -> None:
    idle = build_key_usage(start=date(2026, 11, 2), end=date(2026, 12, 2), usage=[], costs=[],
                           probe="model_api_usage", exchange="x7")  # fmt: skip
    frame = by_day_model_frame(idle)
    assert frame.height == 0 and traffic_chart(frame) is None and cost_chart(frame) is None
    assert [d["requests"] for d in idle.as_json()["by_day"]] == [0] * 31
    profile = replace(_given(checks["full-access"].profile, 10.0), key_usage=idle)
    html = key_usage_html(profile)
    assert "This key used no model in the window." in html and "this key spent nothing" in html
    assert runway(idle, "10", "given") is None
    refused = key_usage_html(checks["inference-scoped"].profile)
    assert refused.startswith("<p>No per-key usage figures for this key (")
    assert "model_api_usage: refused (403) for this key" in refused


def test_cost_only_days_count_even_without_usage() -> None:
    ku = build_key_usage(start=date(2026, 12, 1), end=date(2026, 12, 2), usage=None,
                         costs=[CostRow(date(2026, 12, 2), "m", Decimal("0.30"))],
                         probe="model_api_costs", exchange="x8")  # fmt: skip
    j = ku.as_json()
    assert (j["requests"], j["cost_usd"], j["burn_per_day_usd"]) == (None, 0.3, 0.15)
    assert j["by_day"] == [
        {"date": "2026-12-01", "requests": None, "input_tokens": None, "output_tokens": None, "cost_usd": 0.0},
        {"date": "2026-12-02", "requests": None, "input_tokens": None, "output_tokens": None, "cost_usd": 0.3},
    ]


def test_monitoring_action_names_the_keys_own_figures(checks: dict[str, Any]) -> None:
    action = next(a for a in checks["full-access"].decision.actions if a.action == "add monitoring")
    assert ("this key used 61 requests, 8,300 input and 1,250 output tokens and $6.65 (burn $0.21 per day) on "
            "openai/gpt-oss-120b, zai-org/GLM-4.7 from 2026-11-02 to 2026-12-02") in action.reason  # fmt: skip
    ku = checks["full-access"].profile.key_usage
    assert ku.exchange and f"key_usage: model_api_usage ({ku.exchange})" in action.evidence


def test_the_answer_first_summary_names_what_the_key_used(checks: dict[str, Any]) -> None:
    from testkey_nb.report.summary import key_summary

    facts = {f.label: f for f in key_summary(checks["full-access"]).facts}
    used = facts["What this key used"]
    assert used.value == "61 requests · $6.65"
    assert used.note == "2026-11-02 to 2026-12-02; burn $0.21 per day (observed, model_api_usage)"
    assert "What this key used" not in {f.label for f in key_summary(checks["inference-scoped"]).facts}
    from_dict = {f.label: f for f in key_summary(checks["full-access"].summary()).facts}
    assert from_dict["What this key used"].value == "61 requests · $6.65"
