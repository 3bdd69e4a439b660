"""A render SIGKILLed mid-way: its raw folder is swept later, and no file holds the secret."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from jupyter_core.paths import jupyter_runtime_dir
from report_helpers import FIXTURES, KEY_ENV, files_containing, ipython_dir

from testkey_nb.report import sweep_raw

pytestmark = pytest.mark.slow

_RENDER_SCRIPT = f"""
import os, sys
from pathlib import Path
from testkey_nb.report import RenderRequest, render_notebook

secret = os.environ.pop("TK_TEST_SECRET")
render_notebook(
    RenderRequest(
        notebook=Path(sys.argv[1]),
        out_html=Path(sys.argv[2]),
        parameters={{"key_env": {KEY_ENV!r}, "sleep_s": 60.0}},
        kernel_env={{{KEY_ENV!r}: secret}},
        redact=[secret],
        label="crash",
    ),
    raw_root=Path(sys.argv[3]),
)
"""


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def _wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_sigkill_mid_render_then_sweep(tmp_path: Path, canary: str) -> None:
    raw_root, out = tmp_path / "raw", tmp_path / "out" / "crash.html"
    stdout, stderr = tmp_path / "child.out", tmp_path / "child.err"
    kernel_pid = 0
    with open(stdout, "wb") as so, open(stderr, "wb") as se:
        child = subprocess.Popen(
            [sys.executable, "-c", _RENDER_SCRIPT, str(FIXTURES / "report_sleeps.ipynb"), str(out), str(raw_root)],
            env={**os.environ, "TK_TEST_SECRET": canary},
            stdout=so,
            stderr=se,
        )
    try:
        pid_files: list[Path] = []

        def kernel_started() -> bool:
            pid_files[:] = list(raw_root.glob("run-*/kernel.pid"))
            return bool(pid_files) and pid_files[0].read_text().strip().isdigit()

        assert _wait_for(kernel_started, 60), "the kernel never reached the sleeping cell"
        kernel_pid = int(pid_files[0].read_text())
        run_dir = pid_files[0].parent
        assert _alive(kernel_pid)

        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert run_dir.is_dir(), "a SIGKILLed render leaves its raw folder behind"

        # The orphaned kernel notices its parent is gone (ipykernel's parent poller) and exits,
        # taking the secret in its environment with it.
        assert _wait_for(lambda: not _alive(kernel_pid), 15), "orphaned kernel still running"

        # No file anywhere holds the secret: the raw folder, IPython's dir, Jupyter's runtime dir,
        # the render's own stdout/stderr.
        for root in (raw_root, ipython_dir(), Path(jupyter_runtime_dir()), tmp_path):
            assert files_containing(root, canary) == [], root
        assert not out.exists()

        # Its owner is dead: the next start sweeps the folder at once, inside the retention window too
        # (issue 23: raw data of a killed run is swept at the next start).
        assert sweep_raw(raw_root, retention_s=300) == [run_dir]
        assert not run_dir.exists() and list(raw_root.iterdir()) == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        if kernel_pid and _alive(kernel_pid):
            os.kill(kernel_pid, signal.SIGKILL)
