"""`testkey-nb probe` as a user runs it: JSON on stdout, one-line errors, exit codes, no key anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.conftest import CANARY


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "testkey_nb", *args], capture_output=True, text=True, env=full_env, timeout=120
    )


def test_probe_json(emu: Any) -> None:
    proc = run_cli(
        "probe", "env:TK_CANARY", "--base-url", emu.inference_url, "--management-url", emu.management_url,
        "--claim", "baseten", "--json", "--max-in-flight", "3", env={"TK_CANARY": CANARY},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["provider"]["id"] == "baseten" and data["provider"]["matches_claim"] is True
    assert data["metrics"]["key_valid"] is True
    assert data["verdict"] == "ready"
    assert data["key_ref"] == "env:TK_CANARY"
    assert CANARY not in proc.stdout + proc.stderr


def test_probe_tables(emu: Any) -> None:
    proc = run_cli(
        "probe", "env:TK_CANARY", "--base-url", emu.inference_url, "--management-url", emu.management_url,
        env={"TK_CANARY": CANARY, "COLUMNS": "200"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Sample metrics" in proc.stdout and "Verdict" in proc.stdout
    assert CANARY not in proc.stdout + proc.stderr


def test_impostor_claiming_openai_goes_to_review(emu: Any) -> None:
    proc = run_cli("probe", "env:TK_CANARY", "--base-url", emu.impostor_openai_url, "--claim", "openai", "--json",
                   env={"TK_CANARY": CANARY})  # fmt: skip
    data = json.loads(proc.stdout)
    assert data["provider"]["id"] != "openai"
    assert data["provider"]["matches_claim"] is False
    assert "send to human review" in [a["action"] for a in data["actions"]]
    assert data["verdict"] != "ready"


def test_impostor_with_openai_headers_is_not_openai(emu: Any) -> None:
    proc = run_cli("probe", "env:TK_CANARY", "--base-url", emu.impostor_openai_headers_url, "--json",
                   env={"TK_CANARY": CANARY})  # fmt: skip
    assert json.loads(proc.stdout)["provider"]["id"] != "openai"


def test_bad_key_ref_is_one_line() -> None:
    for args in (["probe", "env:TK_UNSET_VARIABLE"], ["probe", CANARY], ["probe", "file:/nonexistent/key"]):
        proc = run_cli(*args, "--base-url", "http://127.0.0.1:9/v1")
        assert proc.returncode == 2, proc
        assert len(proc.stderr.strip().splitlines()) == 1
        assert "Traceback" not in proc.stderr
        assert CANARY not in proc.stderr + proc.stdout


def test_a_key_given_as_a_reference_target_is_not_printed_back() -> None:
    """`probe env:<the key itself>` and `probe file:<the key itself>` (the issue's report): kind + masked form."""
    gsk = "gsk_" + "W7cAnArY" * 6  # a valid variable name, so it reaches the 'is not set' message
    for args in (["probe", f"env:{gsk}"], ["probe", f"env:{CANARY}"], ["probe", f"file:{CANARY}"],
                 ["render", f"file:{gsk}"]):  # fmt: skip
        proc = run_cli(*args, "--base-url", "http://127.0.0.1:9/v1")
        assert proc.returncode == 2, proc
        for key in (gsk, CANARY):
            assert key not in proc.stderr + proc.stdout and key[4:24] not in proc.stderr + proc.stdout
        assert f"{args[1].split(':')[0]}:" in proc.stderr and "chars)" in proc.stderr, proc.stderr


def test_unknown_claim_and_bad_url() -> None:
    proc = run_cli("probe", "env:TK_CANARY", "--claim", "nope", env={"TK_CANARY": CANARY})
    assert proc.returncode == 2 and "unknown provider" in proc.stderr
    proc = run_cli("probe", "env:TK_CANARY", "--base-url", "ftp://x", env={"TK_CANARY": CANARY})
    assert proc.returncode == 2 and "--base-url" in proc.stderr


def test_unreachable_host_exits_non_zero() -> None:
    proc = run_cli("probe", "env:TK_CANARY", "--base-url", "http://127.0.0.1:9/v1", "--timeout", "2",
                   env={"TK_CANARY": CANARY})  # fmt: skip
    assert proc.returncode == 3
    assert "could not reach" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert CANARY not in proc.stderr


def test_bad_timeouts_and_targets_are_input_errors() -> None:
    env = {"TK_CANARY": CANARY}
    for args in (["--timeout", "0"], ["--timeout", "nan"], ["--deadline", "-5"], ["--deadline", "inf"]):
        proc = run_cli("probe", "env:TK_CANARY", "--base-url", "http://127.0.0.1:9/v1", *args, env=env)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    # the key's shape never picks a host: without --claim or --base-url there is nowhere to send it
    proc = run_cli("probe", "env:TK_CANARY", env=env)
    assert proc.returncode == 2 and "--base-url" in proc.stderr
    # no key in clear text over a network
    proc = run_cli("probe", "env:TK_CANARY", "--base-url", "http://provider.example/v1", env=env)
    assert proc.returncode == 2 and "clear text" in proc.stderr
    assert CANARY not in proc.stderr


def test_claim_is_case_insensitive(emu: Any) -> None:
    proc = run_cli("probe", "env:TK_CANARY", "--base-url", emu.inference_url, "--claim", "Baseten", "--json",
                   env={"TK_CANARY": CANARY})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["provider"]["matches_claim"] is True
