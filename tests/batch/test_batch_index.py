"""The fleet index page and JSON from synthetic rows: fields, escaping, offline, links, the chart."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from testkey_nb.batch.fleet import FAILED, ROW_FIELDS, balances_text, index_html, index_row, write_index
from testkey_nb.check.profile import CAPABILITIES
from testkey_nb.report import check_offline
from testkey_nb.report.export import BUNDLE_MARKER

HOSTILE = "</script><img src=x onerror=alert(1)>\u202e"


def summary(label: str, verdict: str = "ready", **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "label": label, "provider": "baseten", "confidence": 0.9, "claimed": "baseten", "matches_claim": True,
        "key_valid": True, "status": "valid", "status_reason": "accepted", "verdict": verdict,
        "verdict_summary": "3 model(s) allowed and priced; see https://example.com/x",
        "actions": [{"action": "import inventory", "reason": f"3 models: {HOSTILE}", "evidence": ["catalog"]}],
        "allowed_models": 3, "priced_models": 2, "tokens_per_minute": 500000, "token_role": "full-access",
        "capabilities": [{"capability": c, "status": "verified", "evidence": f"seen {HOSTILE}"} for c in CAPABILITIES],
        "probe_requests": 9,
    }  # fmt: skip
    base.update(over)
    return base


def chart_data(page: str, chart_id: str) -> dict[str, Any]:
    found = re.search(rf'id="{chart_id}"[^>]*>[^<]*</div><script type="application/json" class="tk-chart-spec">'
                      r"(.*?)</script>", page, re.S)  # fmt: skip
    assert found, chart_id
    return json.loads(found.group(1))


def chart_values(page: str, chart_id: str) -> list[dict[str, Any]]:
    """The rows a chart was given: the inline values of its compiled (Vega) spec."""
    return next(d["values"] for d in chart_data(page, chart_id)["data"] if d.get("values"))


def test_batch_index_row_fields() -> None:
    ok = index_row("a", summary=summary("a"), report="a.html", seconds=2.345, rendered_at="2026-01-01T00:00:00Z")
    assert list(ok) == list(ROW_FIELDS)
    assert ok["report"] == "a.html" and ok["error"] is None and ok["seconds"] == 2.35
    assert ok["actions"][0]["action"] == "import inventory" and ok["verdict"] == "ready"
    bad = index_row("b", error="cell [3] raised X", claim="openai")
    assert bad["status"] == FAILED and bad["verdict"] is None and bad["report"] is None
    assert bad["claimed"] == "openai" and bad["actions"] == [] and bad["error"] == "cell [3] raised X"


def test_batch_index_files(tmp_path: Path) -> None:
    rows = [
        index_row("acme-prod", summary=summary("acme-prod"), report="acme-prod.html"),
        index_row(
            "zeta",
            summary=summary("zeta", "reject", allowed_models=0, matches_claim=False, claimed="openai"),
            report="zeta.html",
        ),
        index_row("broken", error=f"cell [3] raised CheckError: {HOSTILE} at http://127.0.0.1:1/v1"),
    ]
    html_path, json_path = write_index(tmp_path, rows)
    assert (html_path, json_path) == (tmp_path / "index.html", tmp_path / "index.json")
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert [r["label"] for r in data] == ["acme-prod", "zeta", "broken"]
    for row in data:
        for name in ("label", "provider", "claimed", "key_valid", "status", "verdict", "actions", "report", "error"):
            assert name in row
    page = html_path.read_text(encoding="utf-8")
    check_offline(page)
    assert html_path.stat().st_size <= 400_000
    assert page.count(BUNDLE_MARKER) == 1
    assert "<script src" not in page.lower()
    assert not re.search(r"https?://", page, re.IGNORECASE)  # not even as text
    outside_bundle = re.sub(r"<script>/\* testkey-nb vega bundle.*?</script>", "", page, flags=re.S)
    assert HOSTILE not in page and "<img" not in outside_bundle
    assert 'href="acme-prod.html"' in page and 'href="zeta.html"' in page
    assert page.count("<a href=") == 2  # the failed key has no report link
    assert 'class="tk-row-failed"' in page and "&lt;/script&gt;&lt;img" in page
    assert "Content-Security-Policy" in page and "connect-src 'none'" in page
    assert 'id="tk-fleet-capabilities"' in page


def test_batch_index_chart_is_keys_by_ten_capabilities() -> None:
    rows = [index_row("a", summary=summary("a")), index_row("b", error="boom")]
    page = index_html(rows)
    values = chart_values(page, "tk-fleet-capabilities")
    assert len(values) == 2 * len(CAPABILITIES) == 20
    assert {v["status"] for v in values if v["label"] == "b"} == {"error"}
    assert {v["evidence"] for v in values if v["label"] == "b"} == {"boom"}


def test_batch_index_empty(tmp_path: Path) -> None:
    html_path, json_path = write_index(tmp_path, [])
    assert json.loads(json_path.read_text()) == []
    assert "0 key(s)" in html_path.read_text()


def _fleet_rows() -> list[dict[str, Any]]:
    return [
        index_row("a", summary=summary("a"), report="a.html"),
        index_row("b", summary=summary("b", "reject", status="invalid", provider="openai"), report="b.html"),
        index_row("c", summary=summary("c", "needs_work", provider="openai")),
        index_row("d", error="boom"),
    ]


def test_batch_index_filters_cover_every_value_and_their_script_is_allowed() -> None:
    from testkey_nb.batch.fleet import FILTER_JS
    from testkey_nb.report._embed import script_sha256

    page = index_html(_fleet_rows())
    assert script_sha256(FILTER_JS) in page and f"<script>{FILTER_JS}</script>" in page
    for name, values in (("provider", ["baseten", "openai", "unknown"]), ("status", ["failed", "invalid", "valid"]),
                         ("verdict", ["failed", "needs_work", "ready", "reject"])):  # fmt: skip
        select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S)
        assert select, name
        assert re.findall(r'<option value="([^"]*)"', select.group(1)) == ["", *values]
    rows = re.findall(r'<tr class="tk-row-[a-z]+" data-f-provider="([^"]*)" data-f-status="([^"]*)" '
                      r'data-f-verdict="([^"]*)">', page)  # fmt: skip
    assert rows == [("baseten", "valid", "ready"), ("openai", "invalid", "reject"),
                    ("openai", "valid", "needs_work"), ("unknown", "failed", "failed")]  # fmt: skip


def test_batch_index_verdicts_per_provider_chart_on_top() -> None:
    page = index_html(_fleet_rows())
    assert page.index('id="tk-fleet-verdicts"') < page.index('id="tk-fleet"') < page.index('id="tk-fleet-capabilities"')
    values = chart_values(page, "tk-fleet-verdicts")
    counts = {(v["provider"], v["verdict"]): v["keys"] for v in values}
    assert counts == {("baseten", "ready"): 1, ("openai", "reject"): 1, ("openai", "needs_work"): 1,
                      ("unknown", "failed"): 1}  # fmt: skip


def test_batch_index_csv_is_an_offline_data_link_with_every_field() -> None:
    import base64
    import csv
    import gzip
    import io

    from testkey_nb.batch.fleet import CSV_DATA_TYPE, CSV_JS, index_csv

    rows = _fleet_rows()
    rows[0]["verdict_summary"] = "=HYPERLINK(1) " + HOSTILE
    page = index_html(rows)
    assert '<a id="tk-csv" download="index.csv" aria-disabled="true">' in page
    payload = re.search(rf'<script type="{re.escape(CSV_DATA_TYPE)}" id="tk-csv-data">([^<]*)</script>', page)
    assert payload and f"<script>{CSV_JS}</script>" in page  # the script that turns it into the data: link
    text = gzip.decompress(base64.b64decode(payload.group(1))).decode("utf-8")
    assert text == index_csv(rows)
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == list(ROW_FIELDS)  # a field added to ROW_FIELDS shows up in the CSV
    assert [r[0] for r in table[1:]] == ["a", "b", "c", "d"]
    got = dict(zip(table[0], table[1], strict=True))
    assert got["verdict_summary"].startswith("'=HYPERLINK")  # no formula runs in a spreadsheet
    assert json.loads(got["actions"])[0]["action"] == "import inventory"
    assert dict(zip(table[0], table[4], strict=True))["error"] == "boom"


def test_batch_index_balance_and_limit_columns_when_known() -> None:
    plain = index_html(_fleet_rows())
    assert ">balance<" not in plain and ">limits<" not in plain
    bal = {"scope": "account", "currency": "USD", "remaining": 110.0, "limit": None, "used": 10.0, "granted": 120.0,
           "provenance": "observed", "probe": "credits", "exchange": "x3"}  # fmt: skip
    limits = [{"scope": "requests_per_minute", "value": 60, "provenance": "observed", "source": "header"},
              {"scope": "tokens_per_minute", "value": 200000, "provenance": "observed", "source": "header"}]
    rows = [index_row("a", summary=summary("a", balance=bal, limits=limits), report="a.html"),
            index_row("b", summary=summary("b"))]  # fmt: skip
    assert rows[0]["balance"] == bal and rows[0]["limits"] == limits and rows[1]["balance"] is None
    page = index_html(rows)
    assert ">balance<" in page and "balance (USD)" not in page and ">limits<" in page
    assert "$110.00 left of $120.00" in page and "60 req / min · 200,000 tok / min" in page
    assert page.count(">unknown</td>") >= 2  # row b: balance and limits unknown


def test_batch_index_runway_cell_says_used_up_or_days_left_with_its_window() -> None:
    rows = _fleet_rows()[:2]
    window = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-06T00:00:00Z", "days": 5.0, "source": "x", "points": 5}
    rows[0]["runway"] = {"runway_days": 20.0, "burn_per_day": 4.0, "currency": "USD", "window": window,
                         "exhausted_at": "2026-11-26T00:00:00Z", "provenance": "derived"}  # fmt: skip
    rows[1]["runway"] = {"runway_days": 0.0, "burn_per_day": 34.6, "currency": "USD", "window": window,
                         "exhausted_at": "2026-11-03T05:00:00Z", "provenance": "derived"}  # fmt: skip
    page = index_html(rows)
    assert "runway 20.0 days (burn 4.00 USD/day over 5.0 days, derived)" in page
    assert "credits used up on 2026-11-03 (burn 34.60 USD/day over 5.0 days, derived)" in page
    assert "runway 0.0 days" not in page  # an exhausted balance is not a runway


def test_batch_index_balance_cell_shows_each_currency_and_scope_as_read() -> None:
    # OpenRouter: GET /key (scope key: limit 10 - usage 2.5) and GET /credits (scope account: 25 - 12.5);
    # DeepSeek: one balance in CNY; a Baseten key with no balance whose owner said it pays by card
    key = {"scope": "key", "currency": "USD", "remaining": 7.5, "limit": 10.0, "used": 2.5, "granted": None,
           "provenance": "derived", "probe": "key_info", "exchange": "x4"}  # fmt: skip
    account = {"scope": "account", "currency": "USD", "remaining": 12.5, "limit": None, "used": 12.5,
               "granted": 25.0, "provenance": "derived", "probe": "credits", "exchange": "x5"}  # fmt: skip
    cny = {"scope": "account", "currency": "CNY", "remaining": 110.0, "limit": None, "used": None, "granted": 10.0,
           "provenance": "observed", "probe": "balance", "exchange": "x2"}  # fmt: skip
    caps = [{"capability": "balance", "status": "unsupported", "evidence": "no read-only balance endpoint"}]
    rows = [
        index_row("or", summary=summary("or", balance=key, balances=[key, account]), report="or.html"),
        index_row("ds", summary=summary("ds", balance=cny, balances=[cny]), report="ds.html"),
        index_row("bt", summary=summary("bt", capabilities=caps, payment_method="card"), report="bt.html"),
        index_row("b2", summary=summary("b2", capabilities=caps), report="b2.html"),
    ]
    assert rows[0]["balances"] == [key, account] and rows[2]["payment_method"] == "card"
    assert balances_text(rows[0]) == "$7.50 left of $10.00 (key) · $12.50 left of $25.00"
    assert balances_text(rows[1]) == "110 CNY left, 10 CNY granted"  # the grant is a part of it, not its total
    assert balances_text(rows[2]) == "pays by card; balance not exposed"
    assert balances_text(rows[3]) == "not exposed"
    page = index_html(rows)
    assert "balance (USD)" not in page and "110 CNY left, 10 CNY granted" in page
    assert "$7.50 left of $10.00 (key) · $12.50 left of $25.00" in page and "pays by card; balance not exposed" in page
