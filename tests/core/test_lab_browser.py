"""JupyterLab in headless Chromium with a real-key workflow: KEYS.md opens rendered, the KeyCheck card,
a chart and a compact frame render, with no Vega version warning and no news prompt; the key shows
nowhere on the page.

Also makes the README's screenshot::

    TESTKEY_NB_SCREENSHOT=docs/lab-real-key.png .venv/bin/python -m pytest -q tests/core/test_lab_browser.py
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CANARY
from tests.core.test_lab_command import running_lab
from tests.report.report_browser_util import CHROMIUM_ARGS, chromium_path

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _cells(emu: Any) -> list[str]:
    return [
        "import testkey_nb as tk\n"
        "# the key is read by reference from the kernel's environment (testkey-nb lab --keys-env keys.env)\n"
        f'check = tk.check("env:BASETEN_API_KEY", claim="baseten",\n'
        f'                 base_url="{emu.inference_url}", management_url="{emu.management_url}")\n'
        "check",
        "from testkey_nb.report import charts\n"
        "charts.show(charts.limit_matrix(check.models_frame(join_lists=False), check.tiers_frame()))",
        'check.models_frame().select("model", "allowed", "price_in_per_mtok", "context_length").head(5)',
    ]


def test_lab_shows_the_card_and_charts_without_warnings(tmp_path: Path, emu: Any) -> None:
    executable = chromium_path()
    if executable is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Chromium missing: apt-get install -y chromium (required in CI)")
        pytest.skip("Chromium missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    keys = tmp_path / "keys.env"
    keys.write_text(f"BASETEN_API_KEY={CANARY}\n")
    keys.chmod(0o600)
    workspace = tmp_path / "work"
    with running_lab(tmp_path, "--keys-env", str(keys), "--workspace", str(workspace)) as lab:
        cells = [{"cell_type": "code", "source": src, "metadata": {}, "outputs": [], "execution_count": None}
                 for src in _cells(emu)]  # fmt: skip
        nb = {"type": "notebook", "content": {"cells": cells, "metadata": {"kernelspec": {"name": "python3",
              "display_name": "Python 3", "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}}  # fmt: skip
        assert lab.api("PUT", "/api/contents/check_a_key.ipynb", json=nb).status_code in (200, 201)
        console: list[str] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(lab.url)
                       or route.request.url.startswith("data:") else route.abort())  # fmt: skip
            page.goto(f"{lab.url}?token={lab.token}")  # Lab's first tab: KEYS.md, rendered (not its source)
            keys_md = page.wait_for_selector(".jp-RenderedMarkdown h1", timeout=120_000)
            assert keys_md is not None and keys_md.inner_text() == "Keys in this Lab"
            assert page.query_selector(".jp-RenderedMarkdown table code") is not None  # the variable names
            page.goto(f"{lab.url}lab/tree/check_a_key.ipynb?token={lab.token}")
            page.wait_for_selector(".jp-Notebook", timeout=120_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=120_000)
            for attempt in range(3):  # a Run All sent while the kernel still connects is dropped: send it again
                page.click(".jp-Notebook .jp-Cell:first-child .jp-InputArea-editor")
                page.get_by_role("menuitem", name="Run").first.click()
                page.get_by_text("Run All Cells", exact=True).first.click()
                try:
                    page.wait_for_selector(".tk-card", timeout=120_000)
                    break
                except Exception:
                    if attempt == 2:
                        page.screenshot(path=str(tmp_path / "failed.png"))
                        raise AssertionError(page.inner_text(".jp-Notebook")[-2000:]) from None
            page.wait_for_selector(".jp-OutputArea-output svg.marks", timeout=180_000)
            page.wait_for_selector(".jp-OutputArea-output table.dataframe, .jp-RenderedHTMLCommon table",
                                   timeout=120_000)  # fmt: skip
            page.wait_for_timeout(500)  # let the last output settle before the picture (not an assertion)
            shot = Path(os.environ.get("TESTKEY_NB_SCREENSHOT") or tmp_path / "lab.png")
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=False)
            text = page.inner_text("body")
            html = page.content()
            browser.close()
    assert "ready" in text and "baseten" in text
    assert "BASETEN_API_KEY" in text and "5 models x 4 columns" in text  # the variable's name; a compact frame
    assert "official Jupyter news" not in text  # no news prompt
    warnings = [m for m in console if "Vega" in m and ("version" in m.lower() or "uses" in m)]
    assert not warnings, warnings
    assert CANARY not in text and CANARY not in html
    assert CANARY not in (workspace / "check_a_key.ipynb").read_text()
    assert CANARY not in lab.output()
