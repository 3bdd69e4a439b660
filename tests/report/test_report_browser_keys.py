"""A real key report (emulator, hostile catalog) in headless Chromium: charts render, nothing runs, no network."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from report_browser_util import open_report, screenshot_report, wait_for_charts

from testkey_nb.report.keyreport import KeyJob, render_key
from testkey_nb.secrets import Secret

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("need_chromium")]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "report-screenshot.png"


@pytest.fixture(scope="module")
def hostile_report(emu: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser-reports")
    job = KeyJob(label="browser-hostile", base_url=emu.fault_url("inference", "hostile_strings"),
                 management_url=emu.management_url, deadline_s=30)  # fmt: skip
    result = render_key(job, out, secret=Secret(emu.keys["full-access"]), raw_root=tmp_path_factory.mktemp("raw"))
    assert result.ok, result.error
    return result.html


def test_key_report_in_chromium(hostile_report: Path) -> None:
    with open_report(hostile_report) as (page, log):
        charts = wait_for_charts(page)
        assert charts >= 5  # capabilities, permissions, limits, prices, usage
        assert page.locator(".tk-chart svg.marks, .tk-chart canvas").count() == charts
        text = page.evaluate("document.body.textContent")
        assert "<script>alert(1)</script>" in text  # the hostile model id, shown as text
        assert page.locator("main img, main iframe, main svg[onload]").count() == 0
        assert page.evaluate("typeof window.__pwned") == "undefined"
    assert [u for u in log.requests if not u.startswith("file://")] == []
    assert log.blocked == []
    assert log.console_errors == [] and log.page_errors == []
    assert log.dialogs == []


def test_readme_screenshot(emu: Any, tmp_path: Path) -> None:
    """Makes the README's screenshot of a report; writes docs/report-screenshot.png when asked to."""
    job = KeyJob(label="baseten-demo", base_url=emu.inference_url, management_url=emu.management_url,
                 claim="baseten", deadline_s=30)  # fmt: skip
    result = render_key(job, tmp_path, secret=Secret(emu.keys["lifecycle"]), raw_root=tmp_path / "raw")
    assert result.ok, result.error
    png = screenshot_report(result.html, tmp_path / "report.png", width=1200, full_page=False)
    assert png.read_bytes().startswith(b"\x89PNG")
    if os.environ.get("TESTKEY_NB_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(png, SCREENSHOT)
