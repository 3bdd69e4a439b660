"""The KeyCheck card in a narrow browser window: wide tables wrap instead of running off the page."""

from __future__ import annotations

import os
from typing import Any

import pytest

import testkey_nb as tk
from tests.conftest import CANARY
from tests.report.report_browser_util import CHROMIUM_ARGS, chromium_path

pytestmark = pytest.mark.browser


def test_card_tables_wrap_in_a_narrow_window(emu: Any) -> None:
    executable = chromium_path()
    if executable is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Chromium missing: apt-get install -y chromium (required in CI)")
        pytest.skip("Chromium missing")
    from playwright.sync_api import sync_playwright

    check = tk.check(tk.Secret(CANARY, label="c"), base_url=emu.inference_url, management_url=emu.management_url,
                     claim="baseten")  # fmt: skip
    page_html = "<html><body style='margin:0'>" + check._repr_html_().replace("<details>", "<details open>")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        page = browser.new_page(viewport={"width": 480, "height": 800})
        page.route("**/*", lambda route: route.abort())
        page.set_content(page_html + "</body></html>")
        widths = page.evaluate(
            "() => ({page: document.documentElement.clientWidth, scroll: document.documentElement.scrollWidth,"
            " tables: [...document.querySelectorAll('table')].map(t => t.getBoundingClientRect().right),"
            " boxes: [...document.querySelectorAll('table')].map(t => t.parentElement.getBoundingClientRect().right),"
            " scrolls: [...document.querySelectorAll('table')].map(t => getComputedStyle(t.parentElement).overflowX),"
            " wrap: [...document.querySelectorAll('td')].map(t => getComputedStyle(t).overflowWrap + ' '"
            " + getComputedStyle(t).wordBreak)})"
        )
        browser.close()
    assert widths["scroll"] <= widths["page"], widths
    assert widths["boxes"] and max(widths["boxes"]) <= widths["page"] + 0.5, widths
    for right, scroll in zip(widths["tables"], widths["scrolls"], strict=True):
        assert right <= widths["page"] + 0.5 or scroll == "auto", widths  # too wide: it scrolls in its box
    assert set(widths["wrap"]) == {"normal normal"}, set(widths["wrap"])  # words are never split
