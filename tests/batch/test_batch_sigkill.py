"""A real batch killed with SIGKILL half way, then run again: every key finishes, nothing is left behind."""

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

from testkey_nb.history.store import HistoryStore, default_history_path

pytestmark = pytest.mark.slow

_KEYS = 6


def _kernels_in(raw: Path) -> list[psutil.Process]:
    """Warm kernels (any parent) working inside ``raw``: this test's, not another run's on the machine."""
    inside = os.path.realpath(raw) + os.sep
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "testkey_nb.report.warm_kernel" in " ".join(proc.info["cmdline"] or []) and (
                os.path.realpath(proc.cwd()) + os.sep
            ).startswith(inside) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _gone(procs: list[psutil.Process], wait_s: float) -> list[psutil.Process]:
    """The processes still alive after waiting up to ``wait_s`` for them to end (a bound, not a measure)."""
    _, alive = psutil.wait_procs(procs, timeout=wait_s)
    return [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_a_batch_killed_with_sigkill_finishes_every_key_on_the_rerun(emu: Any, tmp_path: Path) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    env = {**os.environ, "TESTKEY_NB_RAW": str(raw)}
    blocks, keys = [], []
    for i in range(_KEYS):
        key = canary(700 + i)
        emu.add_key(key, "full-access")
        keys.append(key)
        env[f"TK_KILL_{i}"] = key
        blocks.append(f'[keys.k{i}]\nref = "env:TK_KILL_{i}"\nbase_url = "{emu.inference_url}"\n')
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text("\n".join(blocks), encoding="utf-8")
    command = [sys.executable, "-m", "testkey_nb", "render", "--keys-file", str(keys_file), "--out", str(out),
               "--jobs", "2", "--management-url", emu.management_url]  # fmt: skip
    reports = [out / f"k{i}.html" for i in range(_KEYS)]

    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 300
        while not any(r.exists() for r in reports):  # observable progress: the first report
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the first report never appeared"
            time.sleep(0.05)
        kernels = [p for p in psutil.Process(proc.pid).children(recursive=True)
                   if "testkey_nb.report.warm_kernel" in " ".join(p.cmdline())]  # fmt: skip
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    done_before = [r.name for r in reports if r.exists()]
    assert 1 <= len(done_before) < _KEYS, done_before  # killed half way
    assert kernels, "expected kernels of the batch at the time of the kill"
    assert any(d.name.startswith("run-") for d in raw.iterdir())  # its raw data, left by the kill
    # no kernel of the killed run survives it (each watches its parent and kills its process group)
    assert _gone(kernels, 60) == []

    rerun = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    # complete reports, and an index that lists every key as rendered
    assert all(r.is_file() and r.read_text(encoding="utf-8").rstrip().endswith("</html>") for r in reports)
    rows = {r["label"]: r for r in json.loads((out / "index.json").read_text(encoding="utf-8"))}
    assert sorted(rows) == [f"k{i}" for i in range(_KEYS)]
    assert all(r["status"] == "valid" and r["report"] == f"{label}.html" for label, r in rows.items())
    # one snapshot per key: the re-run resumed the killed round
    with HistoryStore(default_history_path(out), read_only=True) as store:
        assert sorted(s.label for s in store.snapshots()) == [f"k{i}" for i in range(_KEYS)]
        assert store.query("SELECT count(DISTINCT run_id), count(*) FROM snapshots").fetchall() == [(1, _KEYS)]
        assert store.query("SELECT count(*), count(finished_at) FROM runs").fetchall() == [(1, 1)]
    # no raw data left, no temporary file, no kernel
    assert list(raw.iterdir()) == []
    assert not list(out.rglob("*.tmp"))
    assert _gone(_kernels_in(raw), 30) == []
    for key in keys:
        for part in secret_parts(key):
            assert part.decode() not in rerun.stdout + rerun.stderr


def test_the_next_run_sweeps_what_a_killed_run_left_half_written(tmp_path: Path) -> None:
    """A run killed between write_atomic's write and its rename leaves ``.NAME.XXXX.tmp`` beside a report or a
    sidecar; the next run (the folder's one writer) removes them, and nothing else."""
    from testkey_nb.batch import LocalExecutor, run_batch

    out = tmp_path / "out"
    (out / ".index").mkdir(parents=True)
    stale = [out / ".k0.html.ab12cd.tmp", out / ".index" / ".k0.json.u4y9x3rq.tmp"]
    for path in stale:
        path.write_text("half a file")
    kept = [out / "k0.html", out / ".index" / "k0.json", out / "notes.tmp"]
    for path in kept:
        path.write_text("{}")
    run_batch([], out, executor=LocalExecutor(1), progress=False)
    assert not any(path.exists() for path in stale)
    assert all(path.exists() for path in kept)
