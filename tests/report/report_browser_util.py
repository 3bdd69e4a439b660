"""Open a rendered report in real headless Chromium, offline, and watch what it does.

Used by the browser test and reusable for the README screenshot:

    .venv/bin/python tests/report/report_browser_util.py reports/x.html docs/report.png
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str | None:
    """Debian's Chromium, if installed (``$TESTKEY_NB_CHROMIUM`` overrides)."""
    configured = os.environ.get("TESTKEY_NB_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for candidate in ("/usr/bin/chromium", shutil.which("chromium") or ""):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@dataclass
class PageLog:
    """What the page did: requests (allowed or blocked), console errors, page errors, dialogs."""

    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@contextmanager
def open_report(
    html_path: Path, *, width: int = 1100, height: int = 900, bypass_csp: bool = False,
    color_scheme: str = "light",
) -> Iterator[tuple[Any, PageLog]]:
    """Yield ``(page, log)`` with ``html_path`` loaded over file://; every other URL is aborted."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("Chromium not found: apt-get install -y chromium")
    log = PageLog()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS), headless=True)
        try:
            context = browser.new_context(
                viewport={"width": width, "height": height}, bypass_csp=bypass_csp, offline=True,
                color_scheme=color_scheme,
            )
            page = context.new_page()

            def route(r: Any) -> None:
                url = r.request.url
                log.requests.append(url)
                if url.startswith("file://"):
                    r.continue_()
                else:
                    log.blocked.append(url)
                    r.abort()

            page.route("**/*", route)
            page.on("console", lambda m: log.console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: log.page_errors.append(str(e)))

            def on_dialog(d: Any) -> None:
                log.dialogs.append(f"{d.type}: {d.message}")
                d.dismiss()

            page.on("dialog", on_dialog)
            page.goto(Path(html_path).resolve().as_uri(), wait_until="load")
            yield page, log
        finally:
            browser.close()


def wait_for_charts(page: Any, timeout_ms: int = 15_000) -> int:
    """Wait until every ``.tk-chart`` holds an ``svg`` or ``canvas``; return the chart count."""
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.tk-chart')).every(d => d.querySelector('svg, canvas'))",
        timeout=timeout_ms,
    )
    return int(page.evaluate("document.querySelectorAll('.tk-chart').length"))


def first_screen_summary(page: Any) -> dict[str, Any]:
    """Where the body's first ``<section>`` is: its id, its box (top, bottom in CSS px) and its text."""
    return dict(page.evaluate(
        "() => { const s = document.body.querySelector('section'); if (!s) { return {id: null}; }"
        " const r = s.getBoundingClientRect();"
        " return {id: s.id, top: r.top + window.scrollY, bottom: r.bottom + window.scrollY,"
        " verdict: s.getAttribute('data-verdict'), text: s.innerText}; }"
    ))  # fmt: skip


DOCS = Path(__file__).resolve().parents[2] / "docs"
#: the environment variable that makes the browser and terminal tests refresh the docs' screenshots
REFRESH = "TESTKEY_NB_UPDATE_SCREENSHOT"


def refreshing() -> bool:
    """Whether this run refreshes the screenshots in docs/ (``TESTKEY_NB_UPDATE_SCREENSHOT=1``, or
    ``TESTKEY_REFRESH_SCREENSHOTS=1``)."""
    return os.environ.get(REFRESH) == "1" or os.environ.get("TESTKEY_REFRESH_SCREENSHOTS") == "1"


def screenshot_target(name: str) -> Path:
    """Where a test writes the screenshot ``name``: ``docs/NAME`` when :func:`refreshing` (the docs embed
    it), else a temporary folder (so the test always takes it)."""
    import tempfile

    folder = DOCS if refreshing() else Path(tempfile.gettempdir()) / "testkey-nb-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def clip_to(page: Any, selector: str, *, margin: int = 12) -> dict[str, float]:
    """A screenshot clip from the page's top left to the bottom of ``selector`` (the page's width): a
    screenshot of what there is, not of the empty viewport below it."""
    bottom = page.evaluate(f"document.querySelector({selector!r}).getBoundingClientRect().bottom + window.scrollY")
    width = page.evaluate("document.documentElement.clientWidth")
    return {"x": 0, "y": 0, "width": float(width), "height": float(bottom) + margin}


def refresh_block(page_name: str, block: str, text: str) -> Path:
    """The text screenshot ``text`` into a temporary file, and, when :func:`refreshing`, into the docs
    page ``page_name`` between ``<!-- BLOCK:start -->`` and ``<!-- BLOCK:end -->`` as a code block."""
    import tempfile

    folder = Path(tempfile.gettempdir()) / "testkey-nb-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{block}.txt").write_text(text, encoding="utf-8")
    doc = DOCS / page_name
    if refreshing():
        source = doc.read_text(encoding="utf-8")
        start, end = f"<!-- {block}:start -->", f"<!-- {block}:end -->"
        head, rest = source.split(start, 1)
        _old, tail = rest.split(end, 1)
        doc.write_text(f"{head}{start}\n```text\n{text.rstrip()}\n```\n{end}{tail}", encoding="utf-8")
    return folder / f"{block}.txt"


def screenshot_report(
    html_path: Path, png_path: Path, *, width: int = 1100, height: int = 900, full_page: bool = True,
    color_scheme: str = "light",
) -> Path:
    """Render ``html_path`` offline in headless Chromium and save a PNG screenshot to ``png_path``."""
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    with open_report(Path(html_path), width=width, height=height, color_scheme=color_scheme) as (page, _log):
        wait_for_charts(page)
        page.screenshot(path=str(png_path), full_page=full_page)
    return png_path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: report_browser_util.py REPORT.html OUT.png")
    print(screenshot_report(Path(sys.argv[1]), Path(sys.argv[2])))
