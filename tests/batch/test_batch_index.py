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
    spec_json = re.search(r'<script type="application/json" class="tk-chart-spec">(.*?)</script>', page, re.S)
    assert spec_json
    spec = json.loads(spec_json.group(1))  # compiled to Vega: the rows are a data set's inline values
    values = next(d["values"] for d in spec["data"] if d.get("values"))
    assert len(values) == 2 * len(CAPABILITIES) == 20
    assert {v["status"] for v in values if v["label"] == "b"} == {"error"}
    assert {v["evidence"] for v in values if v["label"] == "b"} == {"boom"}


def test_batch_index_empty(tmp_path: Path) -> None:
    html_path, json_path = write_index(tmp_path, [])
    assert json.loads(json_path.read_text()) == []
    assert "0 key(s)" in html_path.read_text()
