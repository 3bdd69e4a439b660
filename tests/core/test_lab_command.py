"""`testkey-nb lab` starts JupyterLab on notebooks/ with the emulator running, and stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_lab_serves_the_notebooks(tmp_path) -> None:
    port = _free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data")}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "testkey_nb", "lab", "--no-browser", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        contents = None
        for _ in range(240):  # bounded wait for the server to come up, not a timing assertion
            if proc.poll() is not None:
                break
            try:
                contents = httpx.get(f"http://127.0.0.1:{port}/api/contents", timeout=1.0)
                if contents.status_code in (200, 403):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert contents is not None and contents.status_code in (200, 403)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    assert "Emulator: inference http://127.0.0.1:" in out
    assert "b10_" not in out  # the demo keys go into the kernel environment, never to the terminal
