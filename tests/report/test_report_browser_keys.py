"""A real key report (emulator, hostile catalog) in headless Chromium: charts render, nothing runs, no network."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from report_browser_util import first_screen_summary, open_report, refreshing, screenshot_report, wait_for_charts

from testkey_nb.report.keyreport import KeyJob, render_key
from testkey_nb.secrets import Secret

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("need_chromium")]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "report-screenshot.png"
VERDICT_WORDS = {"ready": "ready", "needs_work": "needs work", "reject": "reject"}


def assert_summary_on_first_screen(html: Path, verdict: str) -> dict[str, Any]:
    """At 1280x800 the body's first <section> is the summary, wholly on screen, naming the verdict."""
    with open_report(html, width=1280, height=800) as (page, log):
        wait_for_charts(page)
        box = first_screen_summary(page)
    assert box["id"] == "summary", box
    assert 0 <= box["top"] < box["bottom"] <= 800, box
    assert box["verdict"] == verdict and VERDICT_WORDS[verdict] in box["text"]
    assert log.page_errors == [] and log.blocked == []
    return box


@pytest.fixture(scope="module")
def hostile_report(emu: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser-reports")
    job = KeyJob(label="browser-hostile", base_url=emu.fault_url("inference", "hostile_strings"),
                 management_url=emu.management_url, deadline_s=30)  # fmt: skip
    result = render_key(job, out, secret=Secret(emu.keys["full-access"]), raw_root=tmp_path_factory.mktemp("raw"))
    assert result.ok, result.error
    return result.html


def test_summary_first_even_with_hostile_strings(hostile_report: Path, emu: Any, tmp_path: Path) -> None:
    assert_summary_on_first_screen(hostile_report, "ready")
    # the longest summary: an impostor claimed as OpenAI (human review, conflicts) still fits
    job = KeyJob(label="browser-impostor", base_url=emu.impostor_openai_url, claim="openai", deadline_s=30)
    result = render_key(job, tmp_path, secret=Secret(emu.keys["full-access"]), raw_root=tmp_path / "raw")
    assert result.ok, result.error
    box = assert_summary_on_first_screen(result.html, result.summary["verdict"])
    assert "does NOT match" in box["text"] and "send to human review" in box["text"]


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
    box = assert_summary_on_first_screen(result.html, "ready")
    assert "Ready for inventory:" in box["text"] and "TOKENS PER MINUTE" in box["text"].upper()
    png = screenshot_report(result.html, tmp_path / "report.png", width=1280, height=800, full_page=False)
    assert png.read_bytes().startswith(b"\x89PNG")
    if refreshing():
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(png, SCREENSHOT)
