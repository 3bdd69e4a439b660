"""The fleet index of the 20-key batch in headless Chromium, offline: chart, sorting, links, nothing leaves file://."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from batch_helpers import FleetRun

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "report"))
from report_browser_util import chromium_path, open_report, wait_for_charts

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def _need_chromium() -> None:
    if chromium_path() is None:
        message = "Chromium missing: apt-get install -y chromium (required in CI)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def _labels(page: Any) -> list[str]:
    return page.eval_on_selector_all("#tk-fleet tbody tr", "rows => rows.map(r => r.cells[0].textContent.trim())")


def test_batch_index_in_chromium(fleet: FleetRun) -> None:
    index = fleet.out / "index.html"
    rows = fleet.index()
    with open_report(index, width=1400) as (page, log):
        assert wait_for_charts(page) == 2  # verdicts per provider, keys x capabilities
        assert page.locator(".tk-chart svg.marks").count() == 2
        cells = page.locator("#tk-fleet-capabilities g.mark-rect path").count()
        assert cells == len(rows) * 10  # keys x ten capabilities
        assert _labels(page) == [r["label"] for r in rows]

        # numeric sort on "allowed models": ascending, blanks (failed keys) last; again: descending
        def allowed(r: dict[str, Any]) -> tuple[bool, int]:
            return (r["allowed_models"] is None, r["allowed_models"] or 0)

        page.locator("#tk-fleet thead button", has_text="allowed models").click()
        ascending = sorted(rows, key=allowed)
        assert _labels(page) == [r["label"] for r in ascending]
        page.locator("#tk-fleet thead button", has_text="allowed models").click()
        descending = sorted(ascending, key=lambda r: (r["allowed_models"] is None, -(r["allowed_models"] or 0)))
        assert _labels(page) == [r["label"] for r in descending]
        sorted_header = page.locator("#tk-fleet thead th[aria-sort]")
        assert sorted_header.get_attribute("aria-sort") == "descending"

        page.locator("#tk-fleet thead button", has_text="key").click()
        assert _labels(page) == sorted((r["label"] for r in rows), key=str.lower)

        hrefs = page.eval_on_selector_all("#tk-fleet a", "as => as.map(a => a.href)")
        assert len(hrefs) == sum(1 for r in rows if r["report"])
        for href in hrefs:
            assert href.startswith("file://")
            assert Path(href.removeprefix("file://")).is_file()

        failed = page.locator("#tk-fleet tr.tk-row-failed")
        assert failed.count() == 2 and "failed" in failed.first.inner_text()
        assert page.evaluate("typeof window.__pwned") == "undefined"

    assert [u for u in log.requests if u.startswith("file://")] == [index.resolve().as_uri()]
    assert log.blocked == []
    assert log.console_errors == [] and log.page_errors == []
    assert log.dialogs == []


def test_fifty_key_index_compressed_spec_draws_offline(tmp_path: Path) -> None:
    """50 keys x 10 capabilities: the spec goes gzip+base64, the page stays under 400 KB and still draws."""
    from testkey_nb.batch.fleet import index_row, write_index
    from testkey_nb.check.profile import CAPABILITIES
    from testkey_nb.report._embed import SPEC_GZIP_TYPE

    hostile = "<script>window.__pwned=1</script>"
    rows = []
    for i in range(50):
        caps = [{"capability": c, "status": "verified", "evidence": f"seen {hostile} for key {i} and {c} " * 2}
                for c in CAPABILITIES]  # fmt: skip
        summary = {"label": f"k{i:02d}", "provider": "baseten", "claimed": "baseten", "matches_claim": True,
                   "key_valid": True, "status": "valid", "verdict": "ready", "allowed_models": 3,
                   "capabilities": caps, "actions": []}  # fmt: skip
        rows.append(index_row(f"k{i:02d}", summary=summary, report=f"k{i:02d}.html"))
    index, _ = write_index(tmp_path, rows)
    page_text = index.read_text(encoding="utf-8")
    # The whole page, the CSV of every row included (it travels gzip-compressed), stays under 400 KB.
    assert len(page_text.encode()) <= 400_000
    assert f'<script type="{SPEC_GZIP_TYPE}" class="tk-chart-spec">' in page_text
    with open_report(index, width=1400) as (page, log):
        assert wait_for_charts(page) == 2  # verdicts per provider, then keys x capabilities
        cells = page.locator("#tk-fleet-capabilities g.mark-rect path")
        assert cells.count() == 500
        cells.nth(3).hover()
        tooltip = page.locator("#vg-tooltip-element")
        tooltip.wait_for(state="visible", timeout=5000)
        assert hostile in (tooltip.text_content() or "") and tooltip.locator("script").count() == 0
        assert page.evaluate("typeof window.__pwned") == "undefined"
    assert log.console_errors == [] and log.page_errors == [] and log.blocked == []


def _visible(page: Any) -> list[str]:
    script = "rows => rows.filter(r => r.offsetParent !== null).map(r => r.cells[0].textContent.trim())"
    return page.eval_on_selector_all("#tk-fleet tbody tr", script)


def ready_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["verdict"] == "ready" and r["error"] is None]


def test_batch_index_filters_hide_rows(fleet: FleetRun) -> None:
    """Choosing a verdict, a status or a provider hides every other row; 'all' brings them back."""
    index = fleet.out / "index.html"
    rows = fleet.index()
    everyone = [r["label"] for r in rows]
    with open_report(index, width=1400) as (page, log):
        assert wait_for_charts(page) == 2  # verdicts per provider on top, capabilities below
        assert _visible(page) == everyone
        page.select_option("#tk-filter-verdict", "ready")
        ready = [r["label"] for r in ready_rows(rows)]
        assert 0 < len(ready) < len(rows) and _visible(page) == ready
        assert page.locator("#tk-shown").inner_text() == f"{len(ready)} of {len(rows)} shown"
        providers = sorted({str(r["provider"] or "unknown") for r in rows})
        assert len(providers) >= 2
        for provider in providers:  # two filters at once
            page.select_option("#tk-filter-provider", provider)
            both = [r["label"] for r in ready_rows(rows) if str(r["provider"] or "unknown") == provider]
            assert _visible(page) == both
        page.select_option("#tk-filter-provider", "")
        page.select_option("#tk-filter-verdict", "")
        page.select_option("#tk-filter-status", "failed")
        assert _visible(page) == [r["label"] for r in rows if r["status"] == "failed"] != []
        page.select_option("#tk-filter-status", "")
        assert _visible(page) == everyone
        page.wait_for_function("document.getElementById('tk-csv').href.startsWith('data:text/csv')")
        csv_href = page.get_attribute("#tk-csv", "href")
        assert csv_href is not None and csv_href.startswith("data:text/csv;charset=utf-8,")
        from urllib.parse import unquote

        from testkey_nb.batch.fleet import index_csv

        assert unquote(csv_href.split(",", 1)[1]) == index_csv(rows)  # the link downloads the whole table
    assert log.blocked == [] and log.page_errors == [] and log.console_errors == []
    if os.environ.get("TESTKEY_NB_UPDATE_SCREENSHOT") == "1":
        from report_browser_util import screenshot_report

        screenshot_report(index, Path(__file__).resolve().parents[2] / "docs" / "fleet-index.png", width=1400,
                          height=900, full_page=False)  # fmt: skip
