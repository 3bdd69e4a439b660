"""The terminal at 80x24 (issue 22): the verdict first and on the last screen, `--brief`, the /v1 hint that
exits non-zero, the emulator's variable names whole. The tmux test runs the real command in an 80x24 pane."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import testkey_nb as tk
from testkey_nb.check.result import CheckError
from testkey_nb.cli.console import MODEL_ROWS, brief_line, closing_line, print_check
from tests.conftest import CANARY

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "testkey_nb", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "80", **(env or {})}, timeout=180)  # fmt: skip


@pytest.fixture(scope="module")
def full(emu: Any) -> tk.KeyCheck:
    return tk.check(tk.Secret(CANARY, label="c"), base_url=emu.inference_url, management_url=emu.management_url,
                    claim="baseten")  # fmt: skip


def _screen(check: tk.KeyCheck) -> list[str]:
    console = Console(width=80, record=True, color_system=None, force_terminal=False)
    print_check(check, console)
    return console.export_text().splitlines()


def test_the_verdict_opens_and_closes_the_output_within_80x24(full: tk.KeyCheck) -> None:
    lines = _screen(full)
    assert full.decision.verdict == "ready" and len(full.profile.models) > MODEL_ROWS
    assert lines[0].startswith("Verdict: ready (inventory fit) - ")
    assert max(len(line) for line in lines) <= 80
    last_screen = " ".join(" ".join(lines[-24:]).split())
    assert "Verdict for c: ready - provider baseten, status valid; first action: " in last_screen
    assert lines[-1].strip() and "Verdict for c" in " ".join(lines[-3:])
    # the model table is capped: the rest are counted, not printed
    more = len(full.profile.models) - MODEL_ROWS
    assert f"... and {more} more models (probe --json lists them all)" in lines
    shown = [m.model for m in full.profile.models[:MODEL_ROWS]]
    hidden = [m.model for m in full.profile.models[MODEL_ROWS:]]
    flat = "\n".join(lines)
    assert all(m in flat for m in shown) and not any(f" {m} " in flat for m in hidden)
    assert "model(s)" not in closing_line(full)


def test_brief_is_one_line_per_key_at_80_columns(emu: Any) -> None:
    env = {"TK_A": CANARY, "TK_B": emu.keys["invalid"], "TK_C": emu.keys["inference-scoped"]}
    proc = run_cli("probe", "env:TK_A", "env:TK_B", "env:TK_C", "--brief", "--base-url", emu.inference_url,
                   "--management-url", emu.management_url, "--claim", "baseten", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3 and all(len(line) <= 80 for line in lines), lines
    assert lines[0].startswith("baseten-") and "  ready  baseten  valid  " in lines[0]
    assert "  reject  baseten  invalid  " in lines[1]
    assert "  needs work  baseten  " in lines[2]
    for secret in env.values():
        assert secret not in proc.stdout + proc.stderr


def test_brief_line_is_cut_to_the_width(full: tk.KeyCheck) -> None:
    line = brief_line(full, width=40)
    assert len(line) == 40 and line.endswith("…") and line.startswith("c  ready  baseten  valid")


def test_several_keys_need_brief_or_json() -> None:
    proc = run_cli("probe", "env:A", "env:B")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "testkey-nb: error: give one KEY_REF, or several with --brief or --json"


def test_a_base_url_without_v1_exits_non_zero_with_the_hint(emu: Any) -> None:
    base = emu.inference_url.rsplit("/v1", 1)[0]
    proc = run_cli("probe", "env:TK_A", "--base-url", base, "--claim", "baseten", env={"TK_A": CANARY})
    assert proc.returncode == 3, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"testkey-nb: error: every request to {base} answered 404: ")
    assert f"{base}/v1" in lines[0]
    assert proc.stdout == ""  # no verdict, no "add provider config" at the wrong URL


def test_emulator_table_keeps_variable_names_whole_at_80_columns() -> None:
    from testkey_nb.cli.emulator import _print_baseten, env_name
    from testkey_nb.emulator.scenarios import SCENARIOS

    class Urls:
        inference_url = management_url = impostor_openai_url = impostor_openai_headers_url = "http://127.0.0.1:1/v1"

    console = Console(width=80, record=True, color_system=None)
    _print_baseten(console, Urls())
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    for scenario in SCENARIOS:
        name = env_name(scenario)
        assert any(line.lstrip().startswith(name + " ") for line in lines), name
    assert "…" not in "\n".join(lines)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")
def test_in_a_real_80x24_terminal_the_last_screen_holds_the_verdict(emu: Any, tmp_path: Path) -> None:
    """tmux runs `testkey-nb probe` in an 80x24 pane; the screen left when it ends shows the verdict."""
    session = f"tk-{uuid.uuid4().hex[:8]}"
    env_file = tmp_path / "env.sh"
    env_file.write_text(f"export TK_A='{CANARY}'\n")
    env_file.chmod(0o600)
    done = tmp_path / "done"
    command = (f"cd {ROOT} && . {env_file} && PYTHONPATH={ROOT} {sys.executable} -m testkey_nb probe env:TK_A "
               f"--base-url {emu.inference_url} --management-url {emu.management_url} --claim baseten; "
               f"touch {done}; sleep 60")  # fmt: skip
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command], check=True)
    try:
        for _ in range(600):
            if done.exists():
                break
            time.sleep(0.1)
        assert done.exists(), "the probe did not finish"
        screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True,
                                check=True).stdout  # fmt: skip
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    rows = screen.splitlines()
    assert len(rows) <= 24
    flat = " ".join(screen.split())
    assert "Verdict for baseten-" in flat and ": ready - provider baseten, status valid" in flat
    assert CANARY not in screen
    from tests.report.report_browser_util import refresh_block

    # the docs' text screenshot (docs/reports.md, when refreshing); the emulator's port varies, so it reads PORT
    shown = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", "\n".join(r.rstrip() for r in rows).strip("\n"))
    assert refresh_block("reports.md", "terminal-80x24", shown).read_text(encoding="utf-8") == shown


@pytest.fixture()
def hanging_host() -> Any:
    """A host that accepts connections and never answers."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/v1"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


def test_a_hanging_host_is_not_key_valid_and_gets_no_provider_config(emu: Any, hanging_host: str) -> None:
    check = tk.check(tk.Secret(emu.keys["full-access"], label="c"), base_url=hanging_host,
                     management_url=emu.management_url, claim="baseten", timeout_s=1.0, deadline_s=6.0)  # fmt: skip
    assert check.profile.status.code == "unknown"
    data = check.to_json()
    assert data["metrics"]["key_valid"] is None  # follows the status: never True beside "could not tell"
    assert data["provenance"]["key_valid"]["provenance"] == "unknown"
    # Baseten's own management reads wait for the inference host to name it (issue 18: a provider's plan goes
    # out only once it is identified), so nothing proved the key either
    assert not any(o["probe"] == "current_key" and o["status"] == 200 for o in data["probes"])
    assert [a["action"] for a in data["actions"]].count("add provider config") == 0
    assert hanging_host not in " ".join(a["reason"] for a in data["actions"])


def test_python_errors_name_python_arguments_and_the_cli_its_flags() -> None:
    with pytest.raises(CheckError, match=r"^no endpoint to probe: pass base_url=URL, or claim=PROVIDER "):
        tk.check(tk.Secret(CANARY, label="c"))
    with pytest.raises(CheckError, match=r"^base_url is plain http to example\.com: .*pass allow_http=True\)$"):
        tk.check(tk.Secret(CANARY, label="c"), base_url="http://example.com/v1")
    proc = run_cli("probe", "env:TK_A", "--base-url", "http://example.com/v1", env={"TK_A": CANARY})
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("testkey-nb: error: --base-url is plain http to example.com: ")
    assert proc.stderr.strip().endswith("(use https, or pass --allow-http)")
