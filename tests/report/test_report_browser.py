"""The rendered report in real headless Chromium, with every non-file:// request blocked."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_browser_util import open_report, screenshot_report, wait_for_charts
from report_helpers import RenderedReport

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("need_chromium")]

HOSTILE_SCRIPT = "<script>window.__pwned=1;alert(1)</script>"
HOSTILE_IMG = '</script><img src=x onerror="window.__pwned=2;alert(2)">'


@pytest.mark.parametrize("bypass_csp", [False, True], ids=["with-csp", "escaping-alone"])
def test_report_renders_offline_and_inert(charts_report: RenderedReport, bypass_csp: bool) -> None:
    """``escaping-alone`` switches the page's CSP off: escaping must hold without the backstop."""
    report = charts_report.result.out_html
    with open_report(report, bypass_csp=bypass_csp) as (page, log):
        assert wait_for_charts(page) == 2
        assert page.locator(".tk-chart svg.marks").count() == 2  # one vega scenegraph per chart
        assert page.locator(".tk-chart .tk-chart-actions button").count() == 4  # Save as SVG / PNG, per chart

        # Hover the bar of the hostile model: the tooltip shows the string as text.
        bar = page.locator(".tk-chart").first.locator("g.mark-rect path").nth(1)
        bar.hover()
        tooltip = page.locator("#vg-tooltip-element")
        tooltip.wait_for(state="visible", timeout=5000)
        tip_text = tooltip.text_content() or ""
        assert HOSTILE_SCRIPT in tip_text
        assert tooltip.locator("img, script").count() == 0

        text = page.evaluate("document.body.textContent")
        assert HOSTILE_IMG in text  # the escaped Markdown output, shown verbatim
        assert HOSTILE_SCRIPT[:30] in text  # table cell and axis label (truncated there)
        assert page.locator("main img").count() == 0
        assert page.evaluate("typeof window.__pwned") == "undefined"

    file_requests = [u for u in log.requests if u.startswith("file://")]
    assert file_requests == [report.resolve().as_uri()]  # no <img src=x> fetched either
    assert log.blocked == []
    assert log.console_errors == [] and log.page_errors == []
    assert log.dialogs == []


def test_screenshot_helper(charts_report: RenderedReport, tmp_path: Path) -> None:
    png = screenshot_report(charts_report.result.out_html, tmp_path / "shot.png")
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 10_000
