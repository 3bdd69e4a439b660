"""``--pdf``: print a finished HTML report to ``<stem>.pdf`` beside it, with headless Chromium.

The PDF is printed from the same offline HTML file the renderer wrote (never from raw data, which
is gone by then): Playwright drives Debian's Chromium (``/usr/bin/chromium``, or
``$TESTKEY_NB_CHROMIUM``), every request that is not ``file:`` or ``data:`` is aborted, the browser
context is offline, and the page is printed on A4 once every chart has been drawn. One browser
serves a whole batch of reports.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from testkey_nb._files import write_atomic

if TYPE_CHECKING:
    from playwright._impl._api_structures import PdfMargins

__all__ = ["CHROMIUM_ARGS", "PdfError", "find_chromium", "pdf_path", "print_pdfs", "require_chromium"]

CHROMIUM_ENV: Final = "TESTKEY_NB_CHROMIUM"
CHROMIUM_ARGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Every .tk-chart holds an svg/canvas (drawn) or the failure text the chart-init script writes.
_CHARTS_DRAWN: Final = (
    "() => Array.from(document.querySelectorAll('.tk-chart'))"
    ".every(d => d.querySelector('svg, canvas') || d.textContent.indexOf('chart failed') === 0)"
)


_MARGIN: Final[PdfMargins] = {"top": "12mm", "bottom": "12mm", "left": "10mm", "right": "10mm"}


class PdfError(RuntimeError):
    """A PDF could not be printed. One line, names the fix where there is one."""


def find_chromium() -> str | None:
    """``$TESTKEY_NB_CHROMIUM``, else Debian's ``/usr/bin/chromium``, else ``chromium`` on PATH."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        return configured if Path(configured).is_file() else None
    for candidate in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or ""):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def require_chromium() -> str:
    """The Chromium executable, or :class:`PdfError` saying how to install what is missing."""
    executable = find_chromium()
    if executable is None:
        raise PdfError("--pdf needs headless Chromium, which was not found: apt-get install chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise PdfError("--pdf needs Playwright: pip install playwright (Chromium: apt-get install chromium)") from None
    return executable


def pdf_path(html: Path) -> Path:
    """``reports/acme.html`` -> ``reports/acme.pdf``."""
    return Path(html).with_suffix(".pdf")


def _route(route: Any) -> None:
    url = route.request.url
    if url.startswith(("file:", "data:")):
        route.continue_()
    else:
        route.abort()


def print_pdfs(html_files: Iterable[Path], *, executable: str | None = None, timeout_ms: int = 30_000) -> list[Path]:
    """Print each HTML report to ``<stem>.pdf`` beside it (A4, backgrounds, charts drawn); return the PDFs.

    Raises :class:`PdfError` (one line) when Chromium is missing or a page cannot be printed.
    """
    files = [Path(f) for f in html_files]
    if not files:
        return []
    executable = executable or require_chromium()
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    written: list[Path] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS), headless=True)
            try:
                context = browser.new_context(offline=True, viewport={"width": 1100, "height": 1400})
                context.route("**/*", _route)
                for html in files:
                    page = context.new_page()
                    try:
                        page.goto(html.resolve().as_uri(), wait_until="load", timeout=timeout_ms)
                        page.wait_for_function(_CHARTS_DRAWN, timeout=timeout_ms)
                        page.emulate_media(media="print")
                        data = page.pdf(format="A4", print_background=True, margin=_MARGIN)
                    finally:
                        page.close()
                    target = pdf_path(html)
                    write_atomic(target, data)
                    written.append(target)
            finally:
                browser.close()
    except PlaywrightError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PdfError(f"printing the PDF failed: {first}") from None
    return written
