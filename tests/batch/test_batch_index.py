"""The fleet index page and JSON from synthetic rows: fields, escaping, offline, links, the chart."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from testkey_nb.batch.fleet import FAILED, ROW_FIELDS, index_html, index_row, write_index
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
    assert BUNDLE_MARKER not in page  # the fleet chart is drawn from counts: no chart runtime
    assert "<script src" not in page.lower()
    assert not re.search(r"https?://", page, re.IGNORECASE)  # not even as text
    assert HOSTILE not in page and "<img" not in page
    assert 'href="acme-prod.html"' in page and 'href="zeta.html"' in page
    assert page.count("<a href=") == 2  # the failed key has no report link
    assert 'class="tk-row-failed"' in page and "&lt;/script&gt;&lt;img" in page
    assert "Content-Security-Policy" in page and "connect-src 'none'" in page
    assert 'id="tk-fleet-chart"' in page


def _bars(page: str) -> dict[str, dict[str, int]]:
    """The fleet chart's counts: provider -> verdict -> keys (each segment's width follows its count)."""
    out: dict[str, dict[str, int]] = {}
    for provider, segs in re.findall(r'<div class="tk-bar-row" data-provider="([^"]*)">.*?<span class="tk-bar">'
                                     r'(.*?)</span><span class="tk-bar-n">', page):  # fmt: skip
        out[provider] = {v: int(n) for v, n in re.findall(r'data-verdict="([^"]*)"[^>]*>(\d+)</span>', segs)}
    return out


def test_batch_index_one_line_per_key_with_the_action_for_its_verdict() -> None:
    from testkey_nb.batch.fleet.page import main_action

    both = [{"action": "add provider config", "reason": "r", "evidence": []},
            {"action": "send to human review", "reason": "r", "evidence": []}]  # fmt: skip
    rows = [index_row("a", summary=summary("a", actions=[*both, {"action": "import inventory"}]), report="a.html"),
            index_row("b", summary=summary("b", "needs_work", actions=both), report="b.html"),
            index_row("c", summary=summary("c", "reject", actions=both), report="c.html"),
            index_row("d", summary=summary("d", "reject", actions=both[:1]), report="d.html"),
            index_row("e", error="boom")]  # fmt: skip
    assert [main_action(r) for r in rows] == ["import inventory", "add provider config", "send to human review",
                                              None, None]  # fmt: skip
    page = index_html(rows)
    heads = re.findall(r'<th data-type="[a-z]+" data-col="([^"]*)"', page)
    assert heads == ["key", "verdict", "provider", "status", "next action", "balance", "limits"]
    cells = re.findall(r'<tr[^>]* data-i="\d+"[^>]*>(.*?)</tr>', page)
    assert len(cells) == 5
    actions = [re.findall(r"<td[^>]*>(.*?)</td>", c)[4] for c in cells]
    assert actions == ['<span class="tk-action">import inventory</span>',
                       '<span class="tk-action">add provider config</span>',
                       '<span class="tk-action">send to human review</span>', "", ""]  # fmt: skip


def test_batch_index_change_column_only_once_a_key_was_checked_before() -> None:
    first = [index_row("a", summary=summary("a"), report="a.html", rendered=True),
             index_row("b", error="boom")]  # fmt: skip
    assert 'data-col="changes"' not in index_html(first)
    kept = [index_row("a", summary=summary("a"), report="a.html", rendered=False, checked_at="t"), first[1]]
    page = index_html(kept)
    assert 'data-col="changes"' in page and '<span class="tk-muted">no change</span>' in page
    changed = [dict(first[0], changes=[{"field": "status", "before": "valid", "after": "invalid", "at": "t"}])]
    assert ">1 change</span>" in index_html(changed)


def test_batch_index_fleet_chart_counts_keys_per_provider_and_verdict() -> None:
    page = index_html(_fleet_rows())
    assert page.index('id="tk-fleet-chart"') < page.index('id="tk-fleet"')
    assert _bars(page) == {"baseten": {"ready": 1}, "openai": {"needs_work": 1, "reject": 1},
                           "unknown": {"failed": 1}}  # fmt: skip


def test_batch_index_empty(tmp_path: Path) -> None:
    html_path, json_path = write_index(tmp_path, [])
    assert json.loads(json_path.read_text()) == []
    assert "0 keys" in html_path.read_text() and "key(s)" not in html_path.read_text()


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
                         # "unknown": what the other lenses say of rows without `lenses` (the lens switch)
                         ("verdict", ["failed", "needs_work", "ready", "reject", "unknown"])):  # fmt: skip
        select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S)
        assert select, name
        assert re.findall(r'<option value="([^"]*)"', select.group(1)) == ["", *values]
    rows = re.findall(r'<tr(?: class="[a-z -]+")? data-i="\d+" data-f-provider="([^"]*)" data-f-status="([^"]*)" '
                      r'data-f-verdict="([^"]*)"[^>]*>', page)  # fmt: skip
    assert rows == [("baseten", "valid", "ready"), ("openai", "invalid", "reject"),
                    ("openai", "valid", "needs_work"), ("unknown", "failed", "failed")]  # fmt: skip


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


def test_batch_index_balance_and_limits_read_or_unknown() -> None:
    bal = {"scope": "account", "currency": "USD", "remaining": 110.0, "granted": 120.0, "used": 10.0,
           "limit": None, "provenance": "observed", "probe": "credits", "exchange": "x3"}  # fmt: skip
    limits = [{"scope": "requests_per_minute", "value": 60, "provenance": "observed", "source": "header"},
              {"scope": "tokens_per_minute", "value": 200000, "provenance": "observed", "source": "header"}]
    rows = [index_row("a", summary=summary("a", balance=bal, limits=limits), report="a.html"),
            index_row("b", summary=summary("b"))]  # fmt: skip
    assert rows[0]["balance"] == bal and rows[0]["limits"] == limits and rows[1]["balance"] is None
    page = index_html(rows)
    assert ">balance<" in page and ">limits<" in page
    # one line: money without ".00", exact thousands as "k"; the exact figures stay in the CSV and the JSON
    assert '<td data-v="110.0" class=\'tk-num\'>$110 left of $120</td>' in page
    assert "<td>60 req/min · 200k tok/min</td>" in page
    assert page.count("class='tk-num tk-u'></td>") == 1 and page.count("class='tk-u'></td>") == 1  # b: unknown


def test_batch_index_runway_cell_says_used_up_or_days_left_with_its_window() -> None:
    rows = _fleet_rows()[:2]
    window = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-06T00:00:00Z", "days": 5.0, "source": "x", "points": 5}
    rows[0]["runway"] = {"runway_days": 20.0, "burn_per_day": 4.0, "currency": "USD", "window": window,
                         "exhausted_at": "2026-11-26T00:00:00Z", "provenance": "derived"}  # fmt: skip
    rows[1]["runway"] = {"runway_days": 0.0, "burn_per_day": 34.6, "currency": "USD", "window": window,
                         "exhausted_at": "2026-11-03T05:00:00Z", "provenance": "derived"}  # fmt: skip
    page = index_html(rows)
    assert 'title="runway 20.0 days (burn 4.00 USD/day over 5.0 days, derived)">runway 20.0 days<' in page
    assert "credits used up on 3 Nov 2026 (burn 34.60 USD/day over 5.0 days, derived)" in page
    assert "runway 0.0 days" not in page  # an exhausted balance is not a runway


def test_batch_index_reads_labels_never_enums() -> None:
    """Verdicts, statuses and filter options read as the one label mapping's words; the codes stay in the
    data attributes the scripts filter by, never in text a person reads."""
    rows = [index_row("a", summary=summary("a", "needs_work", status="valid_not_scoped"), report="a.html"),
            index_row("b", summary=summary("b", status="valid_no_quota"), report="b.html"),
            index_row("c", error="boom")]  # fmt: skip
    page = index_html(rows)
    body = page[page.index("<body>"):]
    visible = re.sub(r"<[^>]+>", " ", re.sub(r"<script\b.*?</script>", " ", body, flags=re.S))
    for words in ("needs work", "valid, no model allowed", "valid, no credits", "check failed", "3 keys"):
        assert words in visible, words
    for enum in ("needs_work", "valid_not_scoped", "valid_no_quota", "key(s)"):
        assert enum not in visible, enum
    assert 'data-f-verdict="needs_work"' in page and 'data-f-status="valid_not_scoped"' in page
    options = re.findall(r'<option value="([^"]*)">([^<]*)</option>', page)
    assert ("needs_work", "needs work") in options and ("valid_not_scoped", "valid, no model allowed") in options
    assert ("onboarding-readiness", "onboarding readiness") in re.findall(
        r'<option value="([^"]*)"(?: selected)?>([^<]*)</option>', page)
