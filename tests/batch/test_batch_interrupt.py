"""Ctrl-C mid-batch: the command stops with 130 without waiting for the checks in flight, kills its kernels and
leaves no raw data. Promptness is asserted on what is observable (the hung checks were never answered nor
rendered), never on a stopwatch: speed is measured in benchmarks/."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from batch_helpers import canary, secret_parts

pytestmark = pytest.mark.slow


def test_batch_sigint_mid_batch_leaves_no_raw_data(emu: Any, tmp_path: Path) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    env = {**os.environ, "TESTKEY_NB_RAW": str(raw)}
    blocks = []
    keys = []
    for i in range(6):
        key = canary(500 + i)
        emu.add_key(key, "full-access")
        keys.append(key)
        env[f"TK_INT_{i}"] = key
        # the first key renders at once; the others hang at the provider (30 s a request) until stopped
        url = emu.inference_url if i == 0 else emu.fault_url("inference", "hang")
        blocks.append(f'[keys.k{i}]\nref = "env:TK_INT_{i}"\nbase_url = "{url}"\n')
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text("\n".join(blocks), encoding="utf-8")
    logged_before = len(emu.request_log())  # the emulator is shared by the session's tests
    proc = subprocess.Popen(
        [sys.executable, "-m", "testkey_nb", "render", "--keys-file", str(keys_file), "--out", str(out),
         "--jobs", "2", "--management-url", emu.management_url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (out / "k0.html").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the first report never appeared"
            time.sleep(0.1)
        # wait (a hang guard, not a speed assertion) until the next renders are inside their kernels, their
        # checks waiting on the provider's hung answer
        kernels: list[psutil.Process] = []
        while not (kernels and any(d.name.startswith("run-") for d in raw.iterdir())):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no render reached its kernel"
            time.sleep(0.1)
            kernels = [p for p in psutil.Process(proc.pid).children(recursive=True)
                       if "testkey_nb.report.warm_kernel" in " ".join(p.cmdline())]  # fmt: skip
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)  # a hang guard: the assertions below say "promptly"
        answered_hangs = [e for e in emu.request_log()[logged_before:] if e.fault and "hang" in e.fault]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    # the command did not wait for the checks in flight: no hung request (30 s at the provider) had been
    # answered when it exited, and none of the interrupted keys was rendered (below)
    assert answered_hangs == []
    assert "interrupted" in stderr
    # no raw data and no kernel left behind
    assert list(raw.iterdir()) == []
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in kernels)
    # the finished key is in the index; the rest are not rendered; nothing half-written
    rows = {r["label"]: r for r in json.loads((out / "index.json").read_text(encoding="utf-8"))}
    assert rows["k0"]["status"] == "valid" and rows["k0"]["report"] == "k0.html"
    assert all(rows[f"k{i}"]["report"] is None for i in range(1, 6))
    assert not list(out.rglob("*.tmp"))
    for key in keys:
        for part in secret_parts(key):
            assert part.decode() not in stdout + stderr
