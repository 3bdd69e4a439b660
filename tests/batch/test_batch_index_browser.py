"""The fleet index in headless Chromium, offline: the 20-key batch (chart, sorting, links, filters, nothing leaves
file://) and 1,000 synthetic rows at 800 px (one line per key, filters, sort, details, the chart follows)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from batch_helpers import FleetRun

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "report"))
from report_browser_util import chromium_path, open_report

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def _need_chromium() -> None:
    if chromium_path() is None:
        message = "Chromium missing: apt-get install -y chromium (required in CI)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def _labels(page: Any) -> list[str]:
    script = "rows => rows.map(r => r.cells[0].dataset.v)"
    return page.eval_on_selector_all("#tk-fleet tbody tr:not(.tk-detail)", script)


def test_batch_index_in_chromium(fleet: FleetRun) -> None:
    index = fleet.out / "index.html"
    rows = fleet.index()
    with open_report(index, width=1400) as (page, log):
        providers = sorted({str(r["provider"] or "unknown") for r in rows}, key=str.lower)
        names = page.eval_on_selector_all("#tk-bars .tk-bar-row", "bs => bs.map(b => b.dataset.provider)")
        assert names == providers  # the fleet chart: keys per provider and verdict, from counts
        assert _labels(page) == [r["label"] for r in rows]

        # sort on "status": ascending (a stable sort: ties keep their order); again: descending
        page.locator("#tk-fleet thead button", has_text="status").click()
        ascending = sorted(rows, key=lambda r: str(r["status"]).lower())
        assert [r["label"] for r in rows] != [r["label"] for r in ascending]  # the sort has work to do
        assert _labels(page) == [r["label"] for r in ascending]
        page.locator("#tk-fleet thead button", has_text="status").click()
        descending = sorted(rows, key=lambda r: str(r["status"]).lower(), reverse=True)
        assert [str(r["status"]) for r in descending] == [  # ties may come in either order
            next(str(r["status"]) for r in rows if r["label"] == label) for label in _labels(page)]
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


def _visible(page: Any) -> list[str]:
    script = "rows => rows.filter(r => r.offsetParent !== null).map(r => r.cells[0].dataset.v)"
    return page.eval_on_selector_all("#tk-fleet tbody tr:not(.tk-detail)", script)


def ready_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["verdict"] == "ready" and r["error"] is None]


def test_batch_index_filters_hide_rows(fleet: FleetRun) -> None:
    """Choosing a verdict, a status or a provider hides every other row; 'all' brings them back."""
    index = fleet.out / "index.html"
    rows = fleet.index()
    everyone = [r["label"] for r in rows]
    with open_report(index, width=1400) as (page, log):
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
    from report_browser_util import screenshot_report, screenshot_target

    screenshot_report(index, screenshot_target("fleet-index.png"), width=1400, height=900, full_page=False)


_VERDICTS = ("ready", "needs_work", "reject")
_ACTIONS = {
    "ready": ["add monitoring", "import inventory"],
    "needs_work": ["fill pricing", "add provider config", "send to human review"],
    "reject": ["add provider config", "send to human review"],  # the decision may list both; the row shows one
}


def _synthetic_rows(n: int) -> list[dict[str, Any]]:
    """``n`` rows as a batch writes them: three verdicts, four providers, a failed key every 50th."""
    from testkey_nb.batch.fleet import index_row

    rows = []
    for i in range(n):
        label = f"key-{i:04d}"
        if i % 50 == 49:
            rows.append(index_row(label, error="probe: CheckError: every request timed out", claim="baseten"))
            continue
        verdict = _VERDICTS[i % 3]
        summary = {
            "label": label, "provider": ("baseten", "openai", "openrouter", "deepseek")[i % 4], "claimed": "baseten",
            "matches_claim": i % 4 == 0, "key_valid": verdict != "reject", "verdict": verdict,
            "status": {"ready": "valid", "needs_work": "valid_no_quota", "reject": "invalid"}[verdict],
            "verdict_summary": f"summary of {label}", "allowed_models": i % 17, "priced_models": i % 5,
            "actions": [{"action": a, "reason": f"{a} because of {label}", "evidence": ["catalog"]}
                        for a in _ACTIONS[verdict]],
            "balance": {"currency": "USD", "remaining": float((i * 37) % 500), "granted": 500.0},
            "limits": [{"scope": "requests_per_minute", "value": 60 + i % 7, "provenance": "observed"},
                       {"scope": "tokens_per_minute", "value": 200000, "provenance": "observed"}],
        }  # fmt: skip
        rows.append(index_row(label, summary=summary, report=f"{label}.html", rendered=i % 2 == 0,
                              checked_at="2026-12-02T06:00:00Z", rendered_at="2026-12-02T05:00:00Z"))  # fmt: skip
    return rows


def test_a_thousand_key_index_at_800_px(tmp_path: Path) -> None:
    """One line per key at 800 px without a horizontal scroll bar; filters and sorting over 1,000 rows; the
    chart follows the filters; a row's details on expand; the action a row shows depends on its verdict;
    dark mode and the print style. The page with its CSV stays under 1 MB."""
    from testkey_nb.batch.fleet import write_index

    rows = _synthetic_rows(1000)
    index, _ = write_index(tmp_path, rows)
    assert index.stat().st_size <= 1_000_000
    with open_report(index, width=800, height=900) as (page, log):
        assert len(_labels(page)) == 1000
        assert page.evaluate("document.documentElement.scrollWidth") <= 800  # no horizontal overflow
        _screenshot(page, "fleet-index-800.png", height=640)  # docs/batch.md: the index at 800 px
        heights = page.eval_on_selector_all("#tk-fleet tbody tr", "rs => rs.map(r => r.getBoundingClientRect().height)")
        assert max(heights) < 1.5 * min(heights)  # one line per key
        head = page.eval_on_selector_all("#tk-fleet thead th", "hs => hs.map(h => h.dataset.col)")
        assert head == ["key", "verdict", "provider", "status", "next action", "balance", "limits", "changes"]

        # the one action a row shows follows its verdict: a rejected key is never told to add a provider config
        shown = page.eval_on_selector_all(
            "#tk-fleet tbody tr", "rs => rs.map(r => [r.dataset.fVerdict, r.cells[4].textContent])"
        )
        expected = {"ready": "import inventory", "needs_work": "add provider config",
                    "reject": "send to human review", "failed": ""}  # fmt: skip
        assert shown == [[v, expected[v]] for v in (_bucket(r) for r in rows)]

        page.select_option("#tk-filter-verdict", "reject")
        rejected = [r["label"] for r in rows if r["error"] is None and r["verdict"] == "reject"]
        assert _visible(page) == rejected
        assert page.locator("#tk-shown").inner_text() == f"{len(rejected)} of 1000 shown"
        bars = page.eval_on_selector_all("#tk-bars .tk-bar-row:not([hidden])", "bs => bs.map(b => "
                                         "[b.dataset.provider, b.querySelector('.tk-bar-n').textContent])")  # fmt: skip
        per_provider: dict[str, int] = {}
        for r in rows:
            if r["error"] is None and r["verdict"] == "reject":
                per_provider[r["provider"]] = per_provider.get(r["provider"], 0) + 1
        assert bars == [[p, str(n)] for p, n in sorted(per_provider.items())]  # the chart follows the filter

        page.locator("#tk-fleet thead button", has_text="key").click()
        page.locator("#tk-fleet thead button", has_text="key").click()
        assert _visible(page) == sorted(rejected, reverse=True)
        page.select_option("#tk-filter-verdict", "")
        page.select_option("#tk-filter-provider", "openai")
        openai = sorted((r["label"] for r in rows if r.get("provider") == "openai"), reverse=True)
        assert _visible(page) == openai

        first = page.locator("#tk-fleet tbody tr:not([hidden]) button.tk-x").first
        first.click()
        detail = page.locator("#tk-fleet tbody tr.tk-detail")
        detail.wait_for(state="visible", timeout=5000)
        assert f"fill pricing because of {openai[0]}" in detail.inner_text() or (
            f"add monitoring because of {openai[0]}" in detail.inner_text()
        )
        # times read as dates, as everywhere (_format.moment), never as ISO stamps
        assert "2 Dec 2026, 06:00 UTC" in detail.inner_text() and "2 Dec 2026, 05:00 UTC" in detail.inner_text()
        assert "2026-12-02T" not in detail.inner_text()
        first.click()
        assert detail.count() == 0

        page.emulate_media(color_scheme="dark")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(18, 18, 18)"
        page.evaluate("window.scrollTo(0, 0)")
        _screenshot(page, "fleet-index-dark.png", height=640)
        page.emulate_media(media="print", color_scheme="light")
        assert page.evaluate("getComputedStyle(document.getElementById('tk-filters')).display") == "none"
        assert page.evaluate("getComputedStyle(document.querySelector('.tk-x')).display") == "none"
    assert log.console_errors == [] and log.page_errors == [] and log.blocked == []


def _bucket(row: dict[str, Any]) -> str:
    return "failed" if row["error"] is not None else str(row["verdict"])


def _lens_rows(asked: str = "inventory-fit") -> list[dict[str, Any]]:
    """Three keys: one whose three lenses disagree, one ready in all three, one whose check failed;
    ``asked``: the lens their reports answer (a batch's ``--lens``)."""
    from testkey_nb.batch.fleet import index_row

    def lens(verdict: str, summary: str, *actions: str) -> dict[str, Any]:
        return {"verdict": verdict, "summary": summary,
                "actions": [{"action": a, "reason": f"{a}: {summary}", "evidence": []} for a in actions]}  # fmt: skip

    def summary(label: str, provider: str, lenses: dict[str, Any]) -> dict[str, Any]:
        first = lenses["inventory-fit"]
        return {"label": label, "provider": provider, "status": "valid", "status_reason": "accepted",
                "verdict": first["verdict"], "verdict_summary": first["summary"], "actions": first["actions"],
                "lens": asked, "lenses": lenses}  # fmt: skip

    split = {"inventory-fit": lens("ready", "2 models allowed and priced", "import inventory", "add monitoring"),
             "onboarding-readiness": lens("needs_work", "limited coverage, confirm identity first",
                                          "confirm identity", "widen coverage"),
             "commercial-launch": lens("reject", "the account cannot pay", "add credits")}  # fmt: skip
    ready = {name: lens("ready", f"{name} ready", "start onboarding" if "onboarding" in name else "import inventory")
             for name in split}  # fmt: skip
    return [index_row("split-key", summary=summary("split-key", "openai", split), report="split-key.html"),
            index_row("steady-key", summary=summary("steady-key", "openai", ready), report="steady-key.html"),
            index_row("broken-key", error="probe: CheckError: every request timed out")]  # fmt: skip


def test_the_lens_switch_changes_the_verdict_action_filters_and_chart(tmp_path: Path) -> None:
    """Switching the lens shows that lens's verdict and first action for a key whose lenses differ; the
    verdict filter, the counts and the chart follow; the details speak of the lens; all offline."""
    from testkey_nb.batch.fleet import write_index

    index, _ = write_index(tmp_path, _lens_rows())
    cells = ("rs => rs.map(r => [r.cells[0].dataset.v, r.cells[1].textContent, r.cells[4].textContent, "
             "r.dataset.fVerdict])")  # fmt: skip
    bars = "bs => bs.map(b => Array.from(b.querySelectorAll('.tk-seg')).filter(s => s.textContent).map(" \
           "s => [s.dataset.verdict, s.textContent]))"
    with open_report(index, width=800, height=700) as (page, log):
        assert page.locator("#tk-lens").input_value() == "inventory-fit"
        rows = page.eval_on_selector_all("#tk-fleet tbody tr", cells)
        assert rows == [["split-key", "ready", "import inventory", "ready"],
                        ["steady-key", "ready", "import inventory", "ready"],
                        ["broken-key", "check failed", "", "failed"]]  # fmt: skip
        assert page.locator("#tk-counts").inner_text() == "2 ready, 1 check failed"

        page.select_option("#tk-lens", "onboarding-readiness")
        rows = page.eval_on_selector_all("#tk-fleet tbody tr", cells)
        assert rows == [["split-key", "needs work", "confirm identity", "needs_work"],
                        ["steady-key", "ready", "start onboarding", "ready"],
                        ["broken-key", "check failed", "", "failed"]]  # fmt: skip
        assert page.locator("#tk-counts").inner_text() == "1 ready, 1 needs work, 1 check failed"
        assert page.eval_on_selector_all("#tk-bars .tk-bar-row:not([hidden])", bars) == [
            [["ready", "1"], ["needs_work", "1"]], [["failed", "1"]]]
        page.select_option("#tk-filter-verdict", "needs_work")
        assert _visible(page) == ["split-key"]
        page.locator("#tk-fleet tbody tr:not([hidden]) button.tk-x").first.click()
        detail = page.locator("#tk-fleet tbody tr.tk-detail")
        detail.wait_for(state="visible", timeout=5000)
        text = detail.inner_text()
        assert "onboarding readiness: needs work" in text and "limited coverage, confirm identity first" in text
        assert "widen coverage" in text and "import inventory" not in text
        page.select_option("#tk-filter-verdict", "")

        page.select_option("#tk-lens", "commercial-launch")
        assert detail.count() == 0  # the details of another lens are closed
        rows = page.eval_on_selector_all("#tk-fleet tbody tr", cells)
        assert [r[1:] for r in rows] == [["reject", "add credits", "reject"], ["ready", "import inventory", "ready"],
                                         ["check failed", "", "failed"]]  # fmt: skip
        page.locator("#tk-fleet thead button", has_text="verdict").click()  # sorts by the lens shown
        assert _visible(page) == ["broken-key", "steady-key", "split-key"]
        _screenshot(page, "fleet-index-lens.png", below="#tk-fleet")

        page.select_option("#tk-lens", "inventory-fit")
        assert page.locator("#tk-counts").inner_text() == "2 ready, 1 check failed"
        assert page.locator("#tk-fleet tbody tr[data-f-verdict=ready]").count() == 2
    assert log.requests == [index.resolve().as_uri()] and log.blocked == []
    assert log.console_errors == [] and log.page_errors == []


def test_the_index_opens_on_the_lens_the_reports_answer(tmp_path: Path) -> None:
    """Reports rendered with --lens commercial-launch: the index opens on that lens, its verdicts and actions
    drawn at load; switching back to inventory fit still works."""
    from testkey_nb.batch.fleet import write_index

    index, _ = write_index(tmp_path, _lens_rows("commercial-launch"))
    cells = "rs => rs.map(r => [r.cells[1].textContent, r.cells[4].textContent])"
    with open_report(index, width=800, height=700) as (page, log):
        assert page.locator("#tk-lens").input_value() == "commercial-launch"
        assert page.eval_on_selector_all("#tk-fleet tbody tr", cells) == [
            ["reject", "add credits"], ["ready", "import inventory"], ["check failed", ""]]
        assert page.locator("#tk-counts").inner_text() == "1 ready, 1 reject, 1 check failed"
        page.select_option("#tk-lens", "inventory-fit")
        assert page.locator("#tk-counts").inner_text() == "2 ready, 1 check failed"
    assert log.console_errors == [] and log.page_errors == []


def _screenshot(page: Any, name: str, *, below: str = "", height: int = 0) -> None:
    """The page as it is now into tmp, and into docs/ when TESTKEY_NB_UPDATE_SCREENSHOT=1: down to the
    bottom of ``below``, or its first ``height`` px."""
    from report_browser_util import clip_to, screenshot_target

    if below:
        clip = clip_to(page, below)
    else:
        clip = {"x": 0, "y": 0, "width": page.evaluate("document.documentElement.clientWidth"), "height": height}
    png = screenshot_target(name)
    page.screenshot(path=str(png), clip=clip)
    assert png.stat().st_size > 5_000  # a picture of the page, not of nothing
