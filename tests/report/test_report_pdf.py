"""`render --pdf` (issue 13): a PDF beside each report, printed by headless Chromium from the same HTML."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from testkey_nb._files import SCENARIOS_DIR
from testkey_nb.report.pdf import PdfError, print_pdfs, require_chromium

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = SCENARIOS_DIR / "bursty_chatbot.toml"
A4_POINTS = (595, 842)  # 210 x 297 mm


def is_a4(size: tuple[int, int]) -> bool:
    return abs(size[0] - A4_POINTS[0]) <= 2 and abs(size[1] - A4_POINTS[1]) <= 2


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "testkey_nb", "render", *args],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=240,
    )  # fmt: skip


def pdf_text(path: Path) -> tuple[int, str, tuple[int, int]]:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    box = reader.pages[0].mediabox
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    return len(reader.pages), " ".join(text.split()), (round(float(box.width)), round(float(box.height)))


def test_without_chromium_one_line_naming_apt_get(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTKEY_NB_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(PdfError, match="apt-get install chromium"):
        require_chromium()
    proc = run_cli("--scenario", str(SCENARIO), "--out", str(tmp_path / "out"), "--pdf",
                   env={"TESTKEY_NB_CHROMIUM": str(tmp_path / "no-such-chromium")})  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("testkey-nb: error: ") and "apt-get install chromium" in lines[0]
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []  # nothing rendered


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.usefixtures("need_chromium")
def test_scenario_pdf_has_the_report_text(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli("--scenario", str(SCENARIO), "--out", str(out), "--pdf", env={"TESTKEY_NB_RAW": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    html, pdf = out / "scenario-bursty_chatbot.html", out / "scenario-bursty_chatbot.pdf"
    assert html.is_file() and pdf.is_file() and str(pdf) in proc.stdout
    pages, text, size = pdf_text(pdf)
    assert pages >= 2 and is_a4(size)
    assert "cold-start penalty" in text.lower() and "/ month" in text  # the summary
    assert "Replica lifecycle" in text and "Cumulative cost" in text  # the evidence below it
    assert "chart (needs JavaScript)" not in text  # every chart was drawn before printing
    # the billing report opens with its answer, wholly on the first screen
    from report_browser_util import first_screen_summary, open_report, refreshing, wait_for_charts

    with open_report(html, width=1280, height=800) as (page, _log):
        wait_for_charts(page)
        box = first_screen_summary(page)
    assert box["id"] == "summary" and 0 <= box["top"] < box["bottom"] <= 800, box
    assert "saves" in box["text"] and "/ month" in box["text"] and "cold-start penalty" in box["text"].lower()
    if refreshing():  # the README's billing screenshot
        from report_browser_util import screenshot_report

        screenshot_report(html, ROOT / "docs" / "billing-screenshot.png", width=1280, height=800, full_page=False)


@pytest.mark.browser
@pytest.mark.usefixtures("need_chromium")
def test_printing_loads_nothing_from_the_network(emu: Any, tmp_path: Path) -> None:
    """A page that asks for a loopback URL (CSP bypassed by nothing: a plain <img>) makes no request."""
    before = len(emu.request_log())
    page = tmp_path / "probe.html"
    page.write_text(f'<html><body><p>offline text</p><img src="{emu.inference_url}/models"></body></html>')
    [pdf] = print_pdfs([page])
    assert pdf == tmp_path / "probe.pdf"
    assert "offline text" in pdf_text(pdf)[1]
    assert len(emu.request_log()) == before


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.usefixtures("need_chromium")
def test_batch_pdf_beside_each_report(emu: Any, tmp_path: Path) -> None:
    key = "b10_PdFbAtCh." + "PDFbatchPDFbatchPDFbatchPDFbatch"
    emu.add_key(key, "pro")
    keys_env = tmp_path / "keys.env"
    keys_env.write_text(f"ACME_PDF={key}\n")
    keys_env.chmod(0o600)
    out = tmp_path / "out"
    proc = run_cli("--keys-env", str(keys_env), "--out", str(out), "--base-url", emu.inference_url,
                   "--management-url", emu.management_url, "--claim", "baseten", "--pdf",
                   env={"TESTKEY_NB_RAW": str(tmp_path / "raw")})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"1 report PDF, and the index's beside the reports in {out}" in proc.stdout
    rows = json.loads((out / "index.json").read_text())
    pages, text, size = pdf_text(out / "acme-pdf.pdf")
    assert rows[0]["verdict"] == "ready" and is_a4(size) and pages >= 2
    assert "Ready for inventory" in text and "Key acme-pdf" in text
    assert key not in text and key.split(".")[1] not in (out / "acme-pdf.pdf").read_bytes().decode("latin-1")
    index_pages, index_text, index_size = pdf_text(out / "index.pdf")  # the index prints too
    assert index_pages >= 1 and is_a4(index_size) and "acme-pdf" in index_text and key not in index_text
