"""The answer first (issue 13): the one number formatter, the key and billing summaries, their HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from summary_structure import first_section

from testkey_nb._files import NOTEBOOKS_DIR, SCENARIOS_DIR
from testkey_nb._format import column_header, count, format_cell, number, plain_text, seconds, usd
from testkey_nb.report.summary import billing_summary, key_summary, summary_html
from testkey_nb.report.views import frame_table

ROOT = Path(__file__).resolve().parents[2]


def test_usd_two_decimals_and_four_for_per_minute_prices() -> None:
    assert usd(2674.0712) == "$2,674.07"
    assert usd(0.41028) == "$0.41"
    assert usd(0.02012, per_minute=True) == "$0.0201"
    assert usd(-3.5) == "-$3.50"
    assert usd(None) == "unknown" and usd(float("nan")) == "unknown" and usd(True) == "unknown"


def test_counts_numbers_and_seconds() -> None:
    assert count(632334) == "632,334"
    assert count(43733.2) == "43,733"
    assert number(891.356) == "891.36" and number(47.1927) == "47.19" and number(0.96) == "0.96"
    assert number(500000) == "500,000" and number(3.0) == "3"
    assert seconds(195.0) == "195 s"
    assert plain_text(None) == "unknown" and plain_text([]) == "(none)" and plain_text([1000, "a"]) == "1,000, a"


def test_frame_cells_by_column_kind_and_units_in_headers() -> None:
    assert format_cell("floor_usd", 2947.5513) == "2,947.55"
    assert format_cell("usd", 0.18108) == "0.18"
    assert format_cell("usd_per_minute", 0.02012) == "0.0201"
    assert format_cell("minutes", 51764.0) == "51,764"
    assert format_cell("idle_billed_minutes", 43733.2) == "43,733"
    assert format_cell("note", None) == "unknown"
    assert column_header("floor_usd") == "floor (USD / month)"
    assert column_header("credits_used_usd") == "credits used (USD)"
    assert column_header("first_request_added_latency_s") == "first-request added latency (s)"


def test_frame_table_formats_one_way() -> None:
    import polars as pl

    frame = pl.DataFrame({"deployment_name": ["d<1>"], "minutes": [5398], "usd": [76.3277], "days": [31]})
    html = frame_table(frame)
    assert "<th>cost (USD)</th>" in html and "<td>76.33</td>" in html and "<td>5,398</td>" in html
    assert "d&lt;1&gt;" in html and "76.3277" not in html


def _summary_dict(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "label": "acme-prod", "provider": "baseten", "confidence": 0.96, "claimed": "baseten",
        "matches_claim": True, "key_valid": True, "status": "valid", "status_reason": "accepted",
        "verdict": "ready", "verdict_summary": "13 model(s) allowed and priced; limits observed",
        "actions": [{"action": "import inventory", "reason": "13 model(s) allowed and priced", "evidence": []},
                    {"action": "fill pricing", "reason": "a", "evidence": []},
                    {"action": "fill pricing", "reason": "b", "evidence": []}],
        "allowed_models": 13, "priced_models": 13, "tokens_per_minute": 500000, "token_role": "full-access",
        "capabilities": [{"capability": "balance", "status": "unsupported",
                          "evidence": "the provider exposes no remaining-balance endpoint"}],
    }  # fmt: skip
    base.update(over)
    return base


def test_ready_sentence_and_facts() -> None:
    s = key_summary(_summary_dict())
    assert s.verdict == "ready"
    assert s.answer == "Ready for inventory: 13 models allowed and priced, limits observed."
    facts = {f.label: f for f in s.facts}
    assert facts["Real provider vs claim"].value == "baseten" and "matches" in facts["Real provider vs claim"].note
    assert facts["Models allowed / priced"].value == "13 / 13"
    assert facts["Tokens per minute"].value == "500,000"
    assert facts["Balance"].value == "not exposed"  # Baseten today: the capability's evidence
    assert [a for a, _ in s.actions] == ["import inventory", "fill pricing", "fill pricing"]


def test_balance_and_limits_objects_win_when_present() -> None:
    s = key_summary(_summary_dict(
        balance={"currency": "USD", "remaining": 110.0, "granted": 120.0, "used": 10.0, "limit": None,
                 "provenance": "observed", "probe": "credits"},
        limits=[{"scope": "tokens_per_minute", "value": 200000, "provenance": "observed", "source": "x-ratelimit"},
                {"scope": "requests_per_minute", "value": 60, "provenance": "observed", "source": "x-ratelimit"}],
    ))  # fmt: skip
    facts = {f.label: f for f in s.facts}
    assert facts["Balance"].value == "$110.00 remaining"
    assert "$120.00 granted" in facts["Balance"].note and "observed (credits)" in facts["Balance"].note
    assert facts["Tokens per minute"].value == "200,000" and "60 requests / min" in facts["Tokens per minute"].note


def test_claim_mismatch_reject_and_needs_work_sentences() -> None:
    s = key_summary(_summary_dict(provider="baseten", claimed="openai", matches_claim=False, verdict="needs_work",
                                  verdict_summary="a; b; c; d"))  # fmt: skip
    assert s.answer == "Not ready for inventory yet: a; b, and 2 more (see the actions)."
    fact = next(f for f in s.facts if f.label == "Real provider vs claim")
    assert fact.tone == "bad" and "does NOT match" in fact.note
    r = key_summary(_summary_dict(verdict="reject", status="invalid", verdict_summary="key invalid: refused"))
    assert r.answer == "Do not onboard: key invalid: refused."


def test_summary_html_is_one_escaped_section() -> None:
    hostile = [{"action": "send to human review", "reason": "<script>x</script>"}]
    s = key_summary(_summary_dict(label="<img src=x onerror=alert(1)>", actions=hostile))
    page = "<html><body>" + summary_html(s) + "<section id='later'></section></body></html>"
    first, before = first_section(page)
    assert first is not None and first["id"] == "summary" and first["data-verdict"] == "ready"
    assert before == []
    assert "<img" not in page and "<script>x" not in page and "&lt;script&gt;x" in page
    assert page.count("<li") == 1


def test_key_summary_from_a_real_check(emu: Any) -> None:
    from testkey_nb.check.result import CheckOptions
    from testkey_nb.check.run import check_key
    from testkey_nb.secrets import Secret

    check = check_key(Secret(emu.keys["lifecycle"]), CheckOptions(base_url=emu.inference_url,
                      management_url=emu.management_url, claim="baseten", deadline_s=30))  # fmt: skip
    s = key_summary(check)
    assert s.verdict == check.decision.verdict == "ready"
    allowed = sum(1 for m in check.profile.models if m.allowed)
    assert s.answer == f"Ready for inventory: {allowed} models allowed and priced, limits observed."
    facts = {f.label: f for f in s.facts}
    assert facts["Key status"].value == "valid"
    rpm = next(x["value"] for x in check.summary()["limits"] if x["scope"] == "requests_per_minute")
    assert facts["Tokens per minute"].note == f"{rpm:,} requests / min; observed"
    assert "credits used" in facts["Balance"].note  # Baseten: no balance endpoint, credits used shown
    assert emu.inference_url in s.subtitle

    class WithBalance:  # a check whose probe --json object carries issue 10's balance (not its summary)
        def __getattr__(self, name: str) -> Any:
            return getattr(check, name)

        def to_json(self) -> dict[str, Any]:
            bal = {"currency": "USD", "remaining": 4.5, "granted": None, "used": None, "limit": None,
                   "provenance": "observed", "probe": "balance"}  # fmt: skip
            return {**check.to_json(), "balance": bal}

    facts = {f.label: f for f in key_summary(WithBalance()).facts}  # type: ignore[arg-type]
    assert facts["Balance"].value == "$4.50 remaining" and "observed (balance)" in facts["Balance"].note


def test_billing_summary_of_a_scenario() -> None:
    from testkey_nb.report.billing_view import scenario_view

    view = scenario_view(SCENARIOS_DIR / "bursty_chatbot.toml")
    s = billing_summary(view)
    rows = {r["min_replica"]: r for r in view.tradeoff.to_dicts()}
    facts = {f.label: f for f in s.facts}
    assert view.period_days == view.month_days == 31  # a whole month: no scaling
    assert facts["min_replica 0"].value == f"{usd(rows[0]['total_usd'])} / month"
    assert facts["min_replica 1"].value == f"{usd(rows[1]['total_usd'])} / month"
    assert facts["Saving"].value == f"{usd(rows[1]['total_usd'] - rows[0]['total_usd'])} / month"
    assert facts["Cold-start penalty"].value == f"+{seconds(rows[0]['first_request_added_latency_s'])}"
    assert s.answer.startswith(f"min_replica 0 costs {usd(rows[0]['total_usd'])} a month against ")
    assert "saves" in s.answer and "first request" in s.answer
    first, before = first_section("<body>" + summary_html(s) + "</body>")
    assert first is not None and first["id"] == "summary" and before == []


def test_billing_summary_scales_a_partial_month(tmp_path: Path) -> None:
    from testkey_nb.report.billing_view import scenario_view

    text = (SCENARIOS_DIR / "bursty_chatbot.toml").read_text()
    path = tmp_path / "week.toml"
    path.write_text(text.replace('month = "2026-03"', 'month = "2026-03"\ndays = 7'))
    view = scenario_view(path)
    s = billing_summary(view)
    row0 = view.tradeoff.sort("min_replica").row(0, named=True)
    assert view.period_days == 7
    assert next(f for f in s.facts if f.label == "min_replica 0").value == f"{usd(row0['total_usd'] * 31 / 7)} / month"
    assert "scaled from 7 simulated days" in s.answer


@pytest.mark.parametrize("name", ["key_report.ipynb", "billing_lifecycle.ipynb"])
def test_notebooks_show_the_summary_in_their_first_visible_cell(name: str) -> None:
    import json

    cells = json.loads((NOTEBOOKS_DIR / name).read_text())["cells"]
    assert "parameters" in cells[0]["metadata"].get("tags", [])  # no output
    assert cells[1]["cell_type"] == "code" and "tk.show_summary(" in "".join(cells[1]["source"])
