"""`testkey-nb probe --json` against provider emulators: identity, balance and limits as the issue names them,
and the terminal's account line; the key appears nowhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from testkey_nb.emulator import run_emulator


def _probe(*args: str, key: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TK_PROVIDER_KEY": key, "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "testkey_nb", "probe", "env:TK_PROVIDER_KEY", *args],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip


def test_probe_json_names_identity_balance_and_limits() -> None:
    with run_emulator(provider="deepseek") as emu:
        key = emu.keys["valid"]
        proc = _probe("--base-url", emu.base_url, "--json", key=key)
        term = _probe("--base-url", emu.base_url, key=key)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["provider"]["id"] == "deepseek"
    # GET /user/balance (no /v1): total_balance "110.00", granted_balance "10.00" in CNY, the account's money
    answered = {p["exchange"] for p in data["probes"] if p["probe"] == "balance" and p["status"] == 200}
    assert len(answered) == 1
    assert data["balance"] == {"scope": "account", "currency": "CNY", "remaining": 110.0, "granted": 10.0,
                               "used": None, "limit": None, "provenance": "observed", "probe": "balance",
                               "exchange": answered.pop()}  # fmt: skip
    assert data["balances"] == [data["balance"]]
    assert data["identity"] == {"user": None, "workspace": None, "organization": None, "evidence": None,
                                "exchanges": []}  # fmt: skip
    assert data["limits"] == []
    assert {p["auth"] for p in data["probes"]} == {"Authorization: Bearer"}
    assert "balance: 110 CNY left (balance)" in term.stdout  # the one formatter: no trailing .0
    assert key not in proc.stdout + proc.stderr + term.stdout + term.stderr


def test_probe_takes_the_money_the_user_gives() -> None:
    with run_emulator(provider="groq") as emu:  # Groq shows no balance
        key = emu.keys["valid"]
        proc = _probe("--base-url", emu.base_url, "--json", "--credits-remaining", "40", "--payment-method", "none",
                      key=key)  # fmt: skip
        term = _probe("--base-url", emu.base_url, "--payment-method", "card", key=key)
        bad = _probe("--base-url", emu.base_url, "--payment-method", "cheque", key=key)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["balances"] == [{"scope": "workspace", "currency": "USD", "remaining": 40.0, "limit": None,
                                 "used": None, "granted": None, "provenance": "given", "probe": None,
                                 "exchange": None}]  # fmt: skip
    assert data["payment_method"] == "none"
    assert "balance: not exposed; pays by card;" in term.stdout
    assert bad.returncode == 2 and "--payment-method must be card or none" in bad.stderr
