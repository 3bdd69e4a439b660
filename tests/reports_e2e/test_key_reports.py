"""Every emulator scenario rendered as a report through papermill: verdict, charts, offline, no secret."""

from __future__ import annotations

import json
import logging
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from testkey_nb._files import SCENARIOS_DIR
from testkey_nb.report import check_offline
from testkey_nb.report.keyreport import KeyJob, KeyReportResult, render_key, render_scenario
from testkey_nb.secrets import Secret

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "report"))
from summary_structure import first_section

pytestmark = pytest.mark.slow

SCENARIOS = ["full-access", "personal", "inference-scoped", "metrics-only", "revoked", "invalid", "old-format",
             "basic-unverified", "pro", "lifecycle", "no-credits", "rate-limited"]  # fmt: skip
EXPECTED_VERDICT = {
    "full-access": "ready", "personal": "ready", "inference-scoped": "needs_work", "metrics-only": "reject",
    "revoked": "reject", "invalid": "reject", "old-format": "ready", "basic-unverified": "ready", "pro": "ready",
    "lifecycle": "ready", "no-credits": "needs_work", "rate-limited": "needs_work",
}  # fmt: skip


def canary_for(i: int) -> str:
    """A distinct canary per scenario, in Baseten's new key shape."""
    return f"b10_CnRy{i:04d}." + f"CANARYcanary{i:04d}" + "Q" * 16


@pytest.fixture(scope="module")
def rendered(emu: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("reports")
    raw = tmp_path_factory.mktemp("raw")
    history = Path.home() / ".ipython" / "profile_default" / "history.sqlite"
    history_before = history.read_bytes() if history.exists() else b""
    canaries = {}
    for i, label in enumerate(SCENARIOS):
        canaries[label] = canary_for(i)
        emu.add_key(canaries[label], label)

    def one(label: str) -> KeyReportResult:
        job = KeyJob(label=f"e2e-{label}", base_url=emu.inference_url, management_url=emu.management_url,
                     claim="baseten", deadline_s=30)  # fmt: skip
        return render_key(job, out, secret=Secret(canaries[label]), raw_root=raw)

    # capture every log record of the renders (they run here, in this module fixture)
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Collect(level=logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = dict(zip(SCENARIOS, pool.map(one, SCENARIOS), strict=True))
        hostile_job = KeyJob(label="e2e-hostile", base_url=emu.fault_url("inference", "hostile_strings"),
                             management_url=emu.management_url, deadline_s=30)  # fmt: skip
        results["hostile"] = render_key(hostile_job, out, secret=Secret(canaries["full-access"]), raw_root=raw)
        failing = KeyJob(label="e2e-failing", base_url="ftp://not-a-provider", deadline_s=5)
        results["failing"] = render_key(failing, out, secret=Secret(canaries["full-access"]), raw_root=raw)
        scenario = render_scenario(SCENARIOS_DIR / "free_credits_no_card.toml", out, raw_root=raw)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    history_after = history.read_bytes() if history.exists() else b""
    return {"out": out, "raw": raw, "results": results, "scenario": scenario, "canaries": canaries,
            "history": history_before + history_after, "logs": "\n".join(records)}  # fmt: skip


@pytest.mark.parametrize("label", SCENARIOS)
def test_report_exists_with_expected_verdict(rendered: dict[str, Any], label: str) -> None:
    result = rendered["results"][label]
    assert result.ok, result.error
    html = result.html.read_text(encoding="utf-8")
    assert result.summary["verdict"] == EXPECTED_VERDICT[label]
    assert f"tk-{EXPECTED_VERDICT[label]}" in html  # the verdict badge
    # capability, permission, limit and price charts; where there is nothing to draw, a sentence says so
    assert html.count('class="tk-chart"') + html.count('class="tk-chart-note"') >= 4
    assert "Ten key capabilities" in html
    # the answer first: the body's first <section> is the summary, with nothing visible before it
    first, before = first_section(html)
    assert first is not None and first.get("id") == "summary", first
    assert first.get("data-verdict") == EXPECTED_VERDICT[label] and before == []


def test_no_secret_anywhere(rendered: dict[str, Any]) -> None:
    assert rendered["logs"], "the renders logged nothing: the log capture is not working"
    blobs = [p.read_bytes() for p in Path(rendered["out"]).rglob("*") if p.is_file()]
    blobs.append(rendered["history"])
    blobs.append(rendered["logs"].encode())
    blobs.append(json.dumps([r.summary for r in rendered["results"].values()], default=str).encode())
    blobs.append(" ".join(str(r.error) for r in rendered["results"].values()).encode())
    for canary in rendered["canaries"].values():
        secret_part = canary.split(".")[1].encode()
        for blob in blobs:
            assert canary.encode() not in blob
            assert secret_part not in blob


def test_raw_folder_is_gone(rendered: dict[str, Any]) -> None:
    assert list(Path(rendered["raw"]).iterdir()) == []


def test_reports_are_offline(rendered: dict[str, Any]) -> None:
    for path in Path(rendered["out"]).glob("*.html"):
        html = path.read_text(encoding="utf-8")
        assert path.stat().st_size <= 400_000, path.name  # key and billing reports: at most 400 KB
        assert "<script src=" not in html.lower()
        check_offline(html)  # no remote src/href, <link>, CSS url()/@import
        # URLs appear only as escaped text (e.g. the probed base URL), never as a resource reference
        assert not re.search(r"""(?:src|href|action|poster)\s*=\s*["']?\s*https?://""", html, re.I), path.name
        assert "outbox" not in html and str(rendered["raw"]) not in html


def test_hostile_model_names_are_escaped(rendered: dict[str, Any]) -> None:
    result = rendered["results"]["hostile"]
    assert result.ok, result.error
    html = result.html.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    assert "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")  # only escaped text may hold it
    assert "&lt;script&gt;" in html or "\\u003cscript" in html


def test_failing_notebook_gives_a_redacted_reason(rendered: dict[str, Any]) -> None:
    result = rendered["results"]["failing"]
    assert not result.ok and result.html is None
    assert "base-url" in result.error or "URL" in result.error
    assert rendered["canaries"]["full-access"] not in result.error


def test_scenario_report(rendered: dict[str, Any]) -> None:
    result = rendered["scenario"]
    assert result.ok, result.error
    html = result.html.read_text(encoding="utf-8")
    assert "models deactivated" in html
    assert html.count('class="tk-chart"') == 5  # lifecycle (a day, the month), daily, cumulative, what-if
    first, before = first_section(html)
    assert first is not None and first.get("id") == "summary" and before == []
    assert "Cold-start penalty" in html and "/ month" in html


def test_render_cli_single_key(emu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    env = {"TK_KEY": canary_for(99), "TESTKEY_NB_RAW": str(tmp_path / "raw"), "PATH": "/usr/bin:/bin"}
    emu.add_key(env["TK_KEY"], "pro")
    proc = subprocess.run(
        [sys.executable, "-m", "testkey_nb", "render", "env:TK_KEY", "--base-url", emu.inference_url,
         "--management-url", emu.management_url, "--out", str(tmp_path / "out"), "--label", "cli-pro"],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "verdict ready" in proc.stdout
    assert (tmp_path / "out" / "cli-pro.html").exists()
    assert env["TK_KEY"] not in proc.stdout + proc.stderr
    logging.getLogger(__name__).info("rendered %s", proc.stdout.strip())
