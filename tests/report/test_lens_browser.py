"""In headless Chromium: the report's summary answers the lens asked (each of the three), the evidence
grades under the capability matrix, and the compare page (offline, escaped, differences first)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from report_browser_util import first_screen_summary, open_report, refreshing, screenshot_report, wait_for_charts

import testkey_nb as tk
from testkey_nb.report.keyreport import KeyJob, render_key
from testkey_nb.secrets import Secret

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("need_chromium")]
DOCS = Path(__file__).resolve().parents[2] / "docs"

#: the no-credits key: its lenses disagree (inventory fit needs work, onboarding ready, launch rejected)
EXPECTED = {
    "inventory-fit": ("needs_work", "Inventory fit", "Not ready for inventory yet:"),
    "onboarding-readiness": ("ready", "Onboarding readiness", "Onboarding readiness \u2014 ready: baseten identified"),
    "commercial-launch": ("reject", "Commercial launch",
                          "Commercial launch \u2014 no: the account cannot pay for calls (a model call was refused"),
}


@pytest.fixture(scope="module")
def lens_reports(emu: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Any]]:
    out = tmp_path_factory.mktemp("lens-reports")
    reports = {}
    for lens in EXPECTED:
        job = KeyJob(label=f"nc-{lens}", base_url=emu.inference_url, management_url=emu.management_url,
                     claim="baseten", deadline_s=30, lens=lens)  # fmt: skip
        result = render_key(job, out, secret=Secret(emu.keys["no-credits"]), raw_root=out / "raw")
        assert result.ok, result.error
        reports[lens] = (result.html, result.summary)
    return reports


@pytest.mark.parametrize("lens", list(EXPECTED))
def test_the_summary_answers_the_lens_asked(lens: str, lens_reports: dict[str, tuple[Path, Any]]) -> None:
    html, summary = lens_reports[lens]
    verdict, title, answer = EXPECTED[lens]
    assert summary["lens"] == lens and summary["lenses"][lens]["verdict"] == verdict
    with open_report(html, width=1280, height=800) as (page, log):
        wait_for_charts(page)
        box = first_screen_summary(page)
        lens_attr = page.evaluate("document.querySelector('#summary').dataset.lens")
        lens_line = page.inner_text("#summary .tk-lens")
        others = page.evaluate(
            "Array.from(document.querySelectorAll('#summary .tk-other-lens'))"
            ".map(e => [e.dataset.lens, e.dataset.verdict])"
        )
        actions = page.evaluate("Array.from(document.querySelectorAll('#summary .tk-actions b')).map(b => b.innerText)")
    assert box["id"] == "summary" and 0 <= box["top"] < box["bottom"] <= 800, box
    assert lens_attr == lens and box["verdict"] == verdict
    assert lens_line.startswith(f"Lens: {title}")
    assert answer in box["text"]
    assert others == [[name, EXPECTED[name][0]] for name in EXPECTED if name != lens]
    assert actions == list(dict.fromkeys(a["action"] for a in summary["lenses"][lens]["actions"]))
    assert log.page_errors == [] and log.blocked == []


def test_the_capability_matrix_shows_the_grades(lens_reports: dict[str, tuple[Path, Any]]) -> None:
    html, summary = lens_reports["inventory-fit"]
    with open_report(html) as (page, log):
        wait_for_charts(page)
        rows = page.evaluate(
            "Array.from(document.querySelectorAll('table.tk-grades tbody tr'))"
            ".map(r => [r.dataset.capability, r.dataset.grade, r.cells[1].innerText])"
        )
    words = {"confirmed": "confirmed", "partially_visible": "partially visible", "invisible": "invisible",
             "not_exposed": "not exposed"}  # fmt: skip
    assert [(c, g) for c, g, _ in rows] == [(c["capability"], c["grade"]) for c in summary["capabilities"]]
    assert all(word == words[grade] for _, grade, word in rows)
    grades = dict((c, g) for c, g, _ in rows)
    # Baseten has no balance endpoint; a key whose account cannot pay gets no model call past the gateway
    assert grades["balance"] == "not_exposed" and grades["routing"] == "invisible"
    assert grades["model catalog"] == "confirmed"
    assert log.page_errors == []


def test_compare_page_offline_escaped_differences_first(emu: Any, tmp_path: Path) -> None:
    docs = []
    for scenario in ("full-access", "no-credits"):
        check = tk.check(tk.Secret(emu.keys[scenario]), base_url=emu.inference_url,
                         management_url=emu.management_url, claim="baseten", label=scenario)  # fmt: skip
        path = tmp_path / f"{scenario}.json"
        doc = check.to_json()
        path.write_text(json.dumps(doc), encoding="utf-8")
        docs.append(path)
    hostile = tmp_path / "hostile.json"
    hostile.write_text(json.dumps({**doc, "label": "<script>window.__pwned=1</script>"}), encoding="utf-8")
    clean = tk.compare(*docs, out=tmp_path / "compare.html")
    page_path = tk.compare(docs[0], hostile).write_html(tmp_path / "hostile.html")
    with open_report(page_path, width=1000, height=900) as (page, log):
        info = page.evaluate(
            "() => ({h2: Array.from(document.querySelectorAll('h2')).map(h => h.id),"
            " heads: Array.from(document.querySelectorAll('table.tk-c-diff thead th')).map(t => t.innerText),"
            " diff: Array.from(document.querySelectorAll('table.tk-c-diff tbody tr')).map(r =>"
            "   Array.from(r.querySelectorAll('td')).map(td => td.innerText)),"
            " same: Array.from(document.querySelectorAll('table.tk-c-same tbody tr')).map(r =>"
            "   Array.from(r.querySelectorAll('td')).map(td => td.innerText)),"
            " scripts: document.querySelectorAll('script').length, pwned: typeof window.__pwned,"
            " mode: document.querySelector('#compare').dataset.mode,"
            " scroll: document.documentElement.scrollWidth, width: document.documentElement.clientWidth})"
        )
        page.emulate_media(color_scheme="dark")
        dark = page.evaluate("getComputedStyle(document.querySelector('.tk-compare')).backgroundColor")
    assert info["h2"] == ["differences", "same"]
    assert info["scripts"] == 0 and info["pwned"] == "undefined" and info["mode"] == "keys"
    assert info["heads"][1].startswith("full-access") and info["heads"][2].startswith("<script>window.__pwned=1")
    assert info["diff"] and all(len(set(cells)) == 2 for cells in info["diff"])
    assert info["same"] and all(len(set(cells)) == 1 for cells in info["same"])
    assert ["ready: 13 models allowed and priced; limits observed", "needs work: the key works but the account "
            "has no money left: top up (add credits or a payment method); not an invalid key (auth_check: 402 on "
            "a model call: billing or credits)"] in info["diff"]  # fmt: skip
    # verdicts lead: inventory fit, then commercial launch (onboarding readiness is the same for both keys)
    assert info["diff"][0][0].startswith("ready") and info["diff"][1][1].startswith("reject")
    assert info["scroll"] <= info["width"]
    assert dark == "rgb(18, 18, 18)"
    assert log.requests == [page_path.resolve().as_uri()] and log.blocked == []
    assert log.console_errors == [] and log.page_errors == []
    assert (tmp_path / "compare.html").read_text(encoding="utf-8") == clean.html()
    png = screenshot_report(tmp_path / "compare.html", tmp_path / "compare.png", width=1100, height=700,
                            full_page=False)  # fmt: skip
    assert png.read_bytes().startswith(b"\x89PNG")
    if refreshing():  # docs/lenses.md shows it
        shutil.copyfile(png, DOCS / "compare-screenshot.png")


def test_lens_summary_screenshot(lens_reports: dict[str, tuple[Path, Any]], tmp_path: Path) -> None:
    """The summary answering commercial launch, as docs/lenses.md shows it."""
    html, _ = lens_reports["commercial-launch"]
    png = screenshot_report(html, tmp_path / "lens.png", width=1280, height=520, full_page=False)
    assert png.read_bytes().startswith(b"\x89PNG")
    if refreshing():
        shutil.copyfile(png, DOCS / "lens-summary.png")
