"""Ctrl-C mid-batch: the command stops promptly with 130, kills its kernels and leaves no raw data."""

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


#: enough keys that a Ctrl-C after the first report stops the batch half way
_KEYS = 12


def test_batch_sigint_mid_batch_leaves_no_raw_data(emu: Any, tmp_path: Path) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    env = {**os.environ, "TESTKEY_NB_RAW": str(raw)}
    blocks = []
    keys = []
    for i in range(_KEYS):
        key = canary(500 + i)
        emu.add_key(key, "full-access")
        keys.append(key)
        env[f"TK_INT_{i}"] = key
        # every key is probed first (one round); Ctrl-C comes once the first report is written, while the
        # pool's kernels (forked by its fork server) render the next ones
        blocks.append(f'[keys.k{i}]\nref = "env:TK_INT_{i}"\nbase_url = "{emu.inference_url}"\n')
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text("\n".join(blocks), encoding="utf-8")
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
        kernels = [p for p in psutil.Process(proc.pid).children(recursive=True)
                   if "testkey_nb.report.warm_kernel" in " ".join(p.cmdline())]  # fmt: skip
        assert kernels, "expected running kernels at the time of Ctrl-C"
        assert any(d.name.startswith("run-") for d in raw.iterdir())
        proc.send_signal(signal.SIGINT)
        # a hang guard, not a speed assertion: the batch stops by itself (how fast is the benchmark's business)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    # no raw data and no kernel left behind
    assert list(raw.iterdir()) == []
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in kernels)
    # the finished keys are in the index, the rest are not rendered (the batch stopped half way); nothing
    # half-written
    rows = {r["label"]: r for r in json.loads((out / "index.json").read_text(encoding="utf-8"))}
    assert rows["k0"]["status"] == "valid" and rows["k0"]["report"] == "k0.html"
    done = [label for label, r in rows.items() if r["report"] is not None]
    assert 1 <= len(done) < _KEYS, done
    for label in done:
        assert (out / f"{label}.html").read_text(encoding="utf-8").rstrip().endswith("</html>")
    assert all(rows[label]["status"] == "not rendered" for label in rows if label not in done)
    assert not list(out.rglob("*.tmp"))
    for key in keys:
        for part in secret_parts(key):
            assert part.decode() not in stdout + stderr
