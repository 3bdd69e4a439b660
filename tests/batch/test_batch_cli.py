"""`testkey-nb render --keys-file/--keys-env` through the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from batch_helpers import canary, files_with, secret_parts, write_private


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "testkey_nb", "render", *args],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=180,
    )  # fmt: skip


def test_batch_cli_bad_keys_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "keys.toml"
    bad.write_text('[keys.a]\nref = "env:A"\n\n[keys.A]\nref = "env:B"\n', encoding="utf-8")
    proc = run_cli("--keys-file", str(bad), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(f"testkey-nb: error: {bad}:4: duplicate label …(1 chars)")
    refused = run_cli("--keys-file", str(bad), "--dask", "tcp://203.0.113.5:8786")
    assert refused.returncode == 2 and "without TLS" in refused.stderr


@pytest.mark.slow
def test_batch_cli_keys_env_with_defaults(emu: Any, tmp_path: Path) -> None:
    """A dotenv file of raw keys, with the command's --base-url/--management-url as every key's default."""
    key = canary(600)
    emu.add_key(key, "pro")
    keys_env = write_private(tmp_path / "keys.env", f"ACME_PROD={key}\n")
    raw, out = tmp_path / "raw", tmp_path / "out"
    args = ["--keys-env", str(keys_env), "--out", str(out), "--base-url", emu.inference_url,
            "--management-url", emu.management_url, "--claim", "baseten"]  # fmt: skip
    proc = run_cli(*args, env={"TESTKEY_NB_RAW": str(raw)})
    assert proc.returncode == 0, proc.stderr
    assert "1 keys: 1 rendered, 0 fresh (skipped), 0 failed" in proc.stdout
    rows = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert [(r["label"], r["claimed"], r["verdict"], r["report"]) for r in rows] == [
        ("acme-prod", "baseten", "ready", "acme-prod.html")
    ]
    again = run_cli(*args, env={"TESTKEY_NB_RAW": str(raw)})
    assert again.returncode == 0 and "0 rendered, 1 fresh (skipped)" in again.stdout
    assert list(raw.iterdir()) == []
    assert files_with(out, secret_parts(key)) == []
    assert not any(part.decode() in proc.stdout + proc.stderr for part in secret_parts(key))



@pytest.mark.parametrize(
    ("flag", "advice"),
    [
        (["--label", "prod"], "name each key in the keys file (the [keys.NAME] table, or the dotenv variable)"),
        (["--allow-billable"], "set allow_billable = true on the key in the --keys-file TOML"),
        (["--with-billing"], "render the key's billing notebook with render KEY_REF --with-billing"),
        (["--open"], "open the fleet index, index.html in the --out folder, once the batch is done"),
    ],
)
def test_batch_cli_refuses_one_key_flags(tmp_path: Path, flag: list[str], advice: str) -> None:
    """A flag that only a one-key render honours is an error with --keys-file/--keys-env, not ignored."""
    from typer.testing import CliRunner

    from testkey_nb.cli.main import app

    keys_file = tmp_path / "keys.toml"
    keys_file.write_text('[keys.a]\nref = "env:A"\n', encoding="utf-8")
    out = tmp_path / "out"
    for source in ("--keys-file", "--keys-env"):
        result = CliRunner().invoke(app, ["render", source, str(keys_file), "--out", str(out), *flag])
        assert result.exit_code == 2
        expected = f"{flag[0]} cannot be used with --keys-file/--keys-env (it applies to one key): {advice}"
        assert result.stderr == f"testkey-nb: error: {expected}\n"
    assert not out.exists()
