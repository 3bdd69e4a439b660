"""The terminal: verdict first at 80 columns, the /v1 hint, progress on a terminal, --open."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

import testkey_nb as tk
from testkey_nb.check.result import CheckOptions
from testkey_nb.check.run import check_key
from testkey_nb.cli.console import MODEL_ROWS, print_check
from testkey_nb.cli.progress import ProgressTransport, probe_progress, waiting_text
from tests.conftest import CANARY


@pytest.fixture(scope="module")
def full(emu: Any) -> tk.KeyCheck:
    return tk.check(tk.Secret(CANARY, label="c"), base_url=emu.inference_url, management_url=emu.management_url,
                    claim="baseten")  # fmt: skip


def _render(check: tk.KeyCheck, width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None, force_terminal=False)
    print_check(check, console)
    return console.export_text()


def test_terminal_leads_with_the_verdict_and_reads_at_80_columns(full: tk.KeyCheck) -> None:
    text = _render(full)
    lines = text.splitlines()
    assert lines[0].startswith(f"Verdict: {full.decision.verdict}")
    assert max(len(line) for line in lines) <= 80
    flat = " ".join(text.split())
    # every word the tables hold appears whole: nothing was split across lines
    words: set[str] = set()
    for c in full.profile.capabilities:
        words.update(c.evidence.split())
    for m in full.profile.metrics.values():
        words.update(m.note.split())
    for a in full.decision.actions:
        words.update(a.reason.split())
    shown = full.profile.models[:MODEL_ROWS]  # the rest are counted (test_terminal_80x24)
    words.update(m.model for m in shown)
    words.update(f"{m.context_length:,}" for m in shown if m.context_length)  # numbers whole too
    for word in words:
        if len(word) <= 40:
            assert word.strip("…") in flat, word
    assert CANARY not in text


def test_a_base_url_without_v1_gets_a_hint(emu: Any) -> None:
    base = emu.inference_url.rsplit("/v1", 1)[0]
    check = tk.check(tk.Secret(CANARY, label="c"), base_url=base, claim="baseten")
    detail = check.profile.status.detail
    assert "answered 404" in detail and "documents its base URL as https://inference.baseten.co/v1" in detail
    assert f"try the base URL {base}/v1" in detail and "--base-url" not in detail  # Python words, not flags
    line = next(line for line in _render(check, width=400).splitlines() if line.startswith("Status:"))
    assert f"try the base URL {base}/v1" in line
    good = tk.check(tk.Secret(CANARY, label="c"), base_url=emu.inference_url, claim="baseten")
    assert "answered 404" not in good.profile.status.detail


def test_progress_names_the_waiting_requests(emu: Any) -> None:
    seen: list[str] = []
    transport = ProgressTransport(lambda waiting, done: seen.append(waiting_text(waiting, done)))

    async def go() -> int:
        async with httpx.AsyncClient(transport=transport) as client:
            r = await client.get(f"{emu.inference_url}/models", headers={"Authorization": f"Bearer {CANARY}"})
            return r.status_code

    assert asyncio.run(go()) == 200
    assert seen[0] == "probing: 0 done; waiting for GET /v1/models" and seen[-1] == "probing: 1 done"
    assert all(CANARY not in s for s in seen)
    with probe_progress(enabled=False) as off:  # not a terminal, or --json: no status, the default transport
        assert off is None


def test_probe_through_the_progress_transport(emu: Any) -> None:
    seen: list[str] = []
    transport = ProgressTransport(lambda waiting, done: seen.append(waiting_text(waiting, done)))
    check = check_key(tk.Secret(CANARY, label="c"), CheckOptions(base_url=emu.inference_url, claim="baseten"),
                      transport=transport)  # fmt: skip
    assert check.profile.status.code == "valid"
    assert any("waiting for POST /v1/chat/completions" in s for s in seen)
    assert re.fullmatch(r"probing: \d+ done", seen[-1])


def test_render_open_opens_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    main = importlib.import_module("testkey_nb.cli.main")

    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url, *a, **k: opened.append(url) or True)
    html = tmp_path / "k.html"
    html.write_text("<html></html>")

    class Result:
        ok, label, summary, error = True, "k", {"verdict": "ready"}, None

    Result.html = html  # type: ignore[attr-defined]
    main._report_result(Result(), open_report=True)  # type: ignore[arg-type]
    assert opened == [html.resolve().as_uri()]
    main._report_result(Result())  # type: ignore[arg-type]
    assert len(opened) == 1


def test_route_flag_beside_claim(monkeypatch: pytest.MonkeyPatch) -> None:
    """--route picks the claimed provider's hosts on that route; a route the provider lacks, or one the named host
    contradicts, is one line and exit 2 before any request (issue 19)."""
    from typer.testing import CliRunner

    from testkey_nb.cli.main import app

    monkeypatch.setenv("TK_ROUTE_TEST_KEY", "sk-" + "a" * 48)
    runner = CliRunner()
    no_host = runner.invoke(app, ["probe", "env:TK_ROUTE_TEST_KEY", "--claim", "openai", "--route", "china"])
    assert no_host.exit_code == 2 and "provider openai has no official china host" in no_host.output
    other = runner.invoke(app, ["probe", "env:TK_ROUTE_TEST_KEY", "--base-url", "https://api.moonshot.cn/v1",
                                "--route", "global"])  # fmt: skip
    assert other.exit_code == 2 and "is a china-route host" in other.output
    bad = runner.invoke(app, ["probe", "env:TK_ROUTE_TEST_KEY", "--claim", "moonshot", "--route", "mainland"])
    assert bad.exit_code == 2 and "--route must be one of global, china" in bad.output
    many = runner.invoke(app, ["render", "--keys-file", "k.toml", "--route", "china"])
    assert many.exit_code == 2 and "--route cannot be used with --keys-file" in many.output
