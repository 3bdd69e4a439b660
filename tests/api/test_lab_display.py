"""What Lab shows for a check (issue 22): the label is the variable's name, the frames and compare() display
as compact formatted tables (not polars' full-width ones), the card's counts agree, KEYS.md's example names
the emulator's URLs. Displays go through IPython's own formatter, as a notebook's would; widths are measured
in Chromium."""

from __future__ import annotations

import os
from typing import Any

import polars as pl
import pytest

import testkey_nb as tk
from testkey_nb.report.labframe import ROWS, LabFrame
from tests.conftest import CANARY


@pytest.fixture(scope="module")
def lab_check(emu: Any) -> tk.KeyCheck:
    return tk.check("env:DEMO_FULL_ACCESS", base_url=emu.inference_url, management_url=emu.management_url,
                    claim="baseten", environ={"DEMO_FULL_ACCESS": CANARY})  # fmt: skip


def _html(obj: Any) -> str:
    from IPython.core.formatters import DisplayFormatter

    data, _meta = DisplayFormatter().format(obj)
    return str(data["text/html"])


def test_the_label_is_the_variables_name(lab_check: tk.KeyCheck, emu: Any) -> None:
    assert lab_check.label == "DEMO_FULL_ACCESS"
    named = tk.check("env:DEMO_FULL_ACCESS", label="mine", base_url=emu.inference_url,
                     environ={"DEMO_FULL_ACCESS": CANARY})  # fmt: skip
    assert named.label == "mine"  # a label given wins


def test_frames_and_compare_are_compact_formatted_tables(lab_check: tk.KeyCheck) -> None:
    models = lab_check.models_frame()
    assert isinstance(models, LabFrame) and isinstance(models, pl.DataFrame)
    html = _html(models)
    assert 'class="tk-lab-frame"' in html and "dataframe" not in html
    assert f"{models.height} models x {models.width} columns" in html
    assert "input (USD / Mtok)" in html and "context (tokens)" in html  # headers with units
    assert "1,048,576" in html and "price_in_per_mtok" not in html  # the one formatter, not raw names
    both = tk.compare([lab_check, lab_check])  # a Comparison: its own compact table, and a frame
    assert both.frame().height == 2
    cmp_html = _html(both)
    assert "needs_work" not in cmp_html and "dataframe" not in cmp_html
    assert models.write_csv().splitlines()[0].startswith("model,")  # still a polars frame for files
    picked = models.select("model", "allowed", "price_in_per_mtok").head(3)  # a selection stays compact
    assert isinstance(picked, LabFrame) and "3 models x 3 columns" in _html(picked)
    big = pl.DataFrame({"n": list(range(ROWS + 5))})
    from testkey_nb.report.labframe import frame_html

    assert f"{ROWS + 5} rows x 1 column, the first {ROWS} shown" in frame_html(big)
    assert frame_html(big).count("<tr>") == ROWS + 1


def test_card_counts_agree(lab_check: tk.KeyCheck) -> None:
    html = _html(lab_check)
    probes = len(lab_check.observations)
    sent = lab_check.profile.probe_requests
    assert f"{probes} probes, {sent} HTTP requests sent" in html
    assert f"Probes ({probes} probes, {sent} HTTP requests sent)" in html
    assert CANARY not in html


@pytest.mark.browser
def test_lab_tables_fit_a_lab_window(lab_check: tk.KeyCheck) -> None:
    from tests.report.report_browser_util import CHROMIUM_ARGS, chromium_path

    executable = chromium_path()
    if executable is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Chromium missing: apt-get install -y chromium (required in CI)")
        pytest.skip("Chromium missing")
    from playwright.sync_api import sync_playwright

    pages = {"models": _html(lab_check.models_frame()), "compare": _html(tk.compare([lab_check, lab_check]))}
    polars_models = pl.DataFrame(lab_check.models_frame())._repr_html_()
    widths = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.route("**/*", lambda route: route.abort())
        for name, body in {**pages, "polars": polars_models}.items():
            page.set_content(f"<html><body style='margin:0'>{body}</body></html>")
            widths[name] = page.evaluate("() => document.querySelector('table').getBoundingClientRect().width")
        browser.close()
    assert widths["polars"] > 1000  # polars' own table runs off a Lab window (the complaint)
    assert widths["models"] < widths["polars"] * 0.75, widths


def test_keys_md_example_uses_the_emulators_urls() -> None:
    from testkey_nb.cli.lab import _SETTINGS_OVERRIDES, LabKey, keys_markdown

    demo = LabKey(name="DEMO_FULL_ACCESS", label="demo-full-access", origin="emulator", demo=True)
    urls = {"inference": "http://127.0.0.1:4100/v1", "management": "http://127.0.0.1:4101/v1"}
    md = keys_markdown([demo], urls)
    assert ('tk.check("env:DEMO_FULL_ACCESS", base_url="http://127.0.0.1:4100/v1",\n'
            '                 management_url="http://127.0.0.1:4101/v1", claim="baseten")') in md  # fmt: skip
    viewers = _SETTINGS_OVERRIDES["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers == {"markdown": "Markdown Preview"}  # KEYS.md opens rendered


def test_card_shows_each_capabilitys_evidence_grade(lab_check: tk.KeyCheck) -> None:
    """The card's capability table has a grade column in words (the one label mapping), and the fold's
    title counts the grades."""
    import re
    from collections import Counter

    from testkey_nb._labels import label

    html = _html(lab_check)
    caps = lab_check.profile.capabilities
    assert len(caps) == 10
    fold = re.search(r"<details><summary>Ten capabilities \(([^)]*)\)</summary>(.*?)</details>", html, re.S)
    assert fold, "the capabilities fold"
    counted = Counter(c.grade for c in caps)
    assert fold.group(1) == ", ".join(f"{counted[g]} {label('grade', g)}" for g in
                                      ("confirmed", "partially_visible", "invisible", "not_exposed") if counted[g])
    assert len(counted) >= 2  # the emulator's full-access key: grades that differ, so the column says something
    table = fold.group(2)
    assert "evidence grade" in table
    for cap in caps:
        row = re.search(rf"<tr><td>{re.escape(cap.name)}</td>(.*?)</tr>", table, re.S)
        assert row, cap.name
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
        assert cells[1] == label("grade", cap.grade), cap.name
    assert "partially_visible" not in html and "not_exposed" not in html
