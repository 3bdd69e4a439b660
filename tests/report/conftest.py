"""Shared fixtures for the report tests: a per-session canary secret and one rendered report."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from report_helpers import FIXTURES, KEY_ENV, RenderedReport, files_containing, ipython_dir

from testkey_nb.report import RenderRequest, render_notebook


@pytest.fixture(scope="session")
def canary() -> str:
    """A fresh secret per session: grep for it anywhere and you find only leaks. 40 random letters, no
    digit: the redactor's key-shape regex (3+ digits) cannot catch it, only redaction by value can (the
    unit tests in test_report_redact.py cover the other shapes: sk-, sk-ant-, gsk_, b10_)."""
    return "".join(secrets.choice(string.ascii_letters) for _ in range(40))


@pytest.fixture(scope="session")
def make_request(canary: str) -> Callable[..., RenderRequest]:
    def make(name: str, out_html: Path, **overrides: object) -> RenderRequest:
        fields: dict[str, object] = {
            "notebook": FIXTURES / f"report_{name}.ipynb",
            "out_html": out_html,
            "parameters": {"key_env": KEY_ENV},
            "kernel_env": {KEY_ENV: canary},
            "redact": [canary],
            "label": f"fixture-{name}",
        }
        fields.update(overrides)
        return RenderRequest(**fields)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def charts_report(
    tmp_path_factory: pytest.TempPathFactory, make_request: Callable[..., RenderRequest], canary: str
) -> Iterator[RenderedReport]:
    """The two-chart fixture notebook, rendered once per session (tests only read it)."""
    base = tmp_path_factory.mktemp("charts-report")
    raw_root = base / "raw"
    before = files_containing(ipython_dir(), canary)
    result = render_notebook(make_request("charts", base / "out" / "charts.html"), raw_root=raw_root)
    yield RenderedReport(result, result.out_html.read_text(encoding="utf-8"), raw_root, before)


@pytest.fixture(scope="module")
def need_chromium() -> None:
    """Browser tests need Debian's chromium: skip outside CI when it is missing, fail in CI."""
    import os

    from report_browser_util import chromium_path

    if chromium_path() is None:
        message = "Chromium missing: apt-get install -y chromium (required in CI)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
