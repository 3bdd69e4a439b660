"""A key report on paper and in the dark (issue 22): `render --pdf` of the full-access key fits on 4 A4 pages,
keeps every action reason whole (no "…"), prints no button and leaves no heading alone at a page's foot;
the page has a table of contents; dark mode follows `prefers-color-scheme`; every chart carries a text
description; a report rendered in a batch links back to its index."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CANARY

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("need_chromium")]

SECTIONS = ("How this report was made", "Who really serves this key?", "Status and verdict",
            "Identity, balance and limits", "The eight sample metrics", "Ten key capabilities",
            "Model permission matrix", "Limit matrix", "Prices", "Usage and billing", "What this key used",
            "Since the last check", "What the probe sent")  # fmt: skip


def _squash(text: str) -> str:
    """NFKC (PDF ligatures: "ﬁ" -> "fi") without any whitespace: a line break in the PDF is not a cut."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


@pytest.fixture(scope="module")
def printed(emu: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("print") / "out"
    env = {**os.environ, "TK_PRINT": CANARY, "TESTKEY_NB_RAW": str(out.parent / "raw")}
    proc = subprocess.run(
        [sys.executable, "-m", "testkey_nb", "render", "env:TK_PRINT", "--base-url", emu.inference_url,
         "--management-url", emu.management_url, "--claim", "baseten", "--label", "print-full", "--out", str(out),
         "--pdf", "--no-history"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    probe = subprocess.run(
        [sys.executable, "-m", "testkey_nb", "probe", "env:TK_PRINT", "--base-url", emu.inference_url,
         "--management-url", emu.management_url, "--claim", "baseten", "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    from pypdf import PdfReader

    reader = PdfReader(str(out / "print-full.pdf"))
    pages = [page.extract_text() or "" for page in reader.pages]
    return {"html": out / "print-full.html", "pages": pages, "check": json.loads(probe.stdout)}


def test_the_key_report_fits_on_four_a4_pages(printed: dict[str, Any]) -> None:
    assert 1 <= len(printed["pages"]) <= 4, len(printed["pages"])


def test_the_pdf_holds_every_action_reason_whole(printed: dict[str, Any]) -> None:
    actions = printed["check"]["actions"]
    assert len(actions) >= 4 and all(len(a["reason"]) > 60 for a in actions[:3])  # long enough to be cut on screen
    text = _squash("\n".join(printed["pages"]))
    first_page = _squash(printed["pages"][0])
    for action in actions:
        assert _squash(action["reason"]) in first_page, action["reason"]  # the summary, on page 1, whole
    # no "…" but those inside the reasons' own words: nothing was cut for lack of room
    assert printed["pages"][0].count("…") == sum(a["reason"].count("…") for a in actions)
    assert "SaveasSVG" not in text and "SaveasPNG" not in text  # no buttons on paper
    assert CANARY not in text


def test_no_heading_is_left_alone_at_the_foot_of_a_page(printed: dict[str, Any]) -> None:
    for number, page in enumerate(printed["pages"][:-1], start=1):
        lines = [line.strip() for line in page.splitlines() if line.strip()]
        assert lines and lines[-1] not in SECTIONS, f"page {number} ends with the heading {lines[-1]!r}"
    everything = "\n".join(printed["pages"])
    assert all(heading in everything for heading in SECTIONS)


def test_contents_dark_mode_and_chart_descriptions(printed: dict[str, Any]) -> None:
    from report_browser_util import open_report, screenshot_report, screenshot_target, wait_for_charts

    with open_report(printed["html"], width=1280, height=800, color_scheme="dark") as (page, log):
        charts = wait_for_charts(page)
        toc = page.eval_on_selector_all("nav.tk-toc a", "els => els.map(e => [e.textContent, e.getAttribute('href')])")
        targets = page.evaluate("hrefs => hrefs.map(h => !!document.querySelector(h))", [h for _, h in toc])
        colours = page.evaluate(
            "() => [getComputedStyle(document.body).backgroundColor,"
            " getComputedStyle(document.querySelector('.tk-summary')).backgroundColor,"
            " getComputedStyle(document.querySelector('.tk-summary h1')).color]"
        )
        described = page.eval_on_selector_all(".tk-chart", "els => els.map(e => e.getAttribute('aria-label') || '')")
        buttons = page.eval_on_selector_all(".tk-chart-actions button", "els => els.length")
        page.emulate_media(media="print")
        printed_buttons = page.evaluate(
            "() => Array.from(document.querySelectorAll('.tk-chart-actions')).filter(e => e.offsetParent).length"
        )
    assert [text for text, _ in toc] == list(SECTIONS) and all(targets)
    assert colours[0] == "rgb(22, 22, 22)" and colours[1] == "rgb(30, 30, 30)" and colours[2] != "rgb(0, 0, 0)"
    assert charts == len(described) >= 4 and all(len(d) > 30 for d in described), described
    assert buttons > 0 and printed_buttons == 0  # "Save as" on screen, not on paper
    assert not log.blocked and not log.page_errors
    # the docs' dark-mode screenshot (docs/ when refreshing, else a temporary folder)
    png = screenshot_report(printed["html"], screenshot_target("report-dark.png"), width=1280, height=800,
                            full_page=False, color_scheme="dark")  # fmt: skip
    assert png.read_bytes().startswith(b"\x89PNG")


def test_a_report_in_a_batch_links_back_to_its_index(emu: Any, tmp_path: Path) -> None:
    keys = tmp_path / "keys.env"
    keys.write_text(f"TK_BACK={CANARY}\n")
    keys.chmod(0o600)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "testkey_nb", "render", "--keys-env", str(keys), "--base-url", emu.inference_url,
         "--management-url", emu.management_url, "--claim", "baseten", "--out", str(out), "--no-history"],
        capture_output=True, text=True, env={**os.environ, "TESTKEY_NB_RAW": str(tmp_path / "raw")}, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    [report] = [p for p in out.glob("*.html") if p.name != "index.html"]
    page = report.read_text(encoding="utf-8")
    assert page.count('<a class="tk-back" href="index.html">') == 1 and (out / "index.html").is_file()
