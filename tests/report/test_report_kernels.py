"""The warm single-use kernel pool and the one-shot key channel: what run N leaves, run N+1 cannot see."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from report_helpers import FIXTURES, KEY_ENV, files_containing

from testkey_nb.report import RenderRequest, render_notebook
from testkey_nb.report.kernels import KernelPool

pytestmark = pytest.mark.slow

#: Where a kernel can hold a value, as the inspect notebook dumps them.
PLACES = ("environ", "subprocess_environ", "globals", "In", "_ih", "history", "received", "files")


def _inspect(tmp_path: Path, key: str, plant: bool, pool: KernelPool | None, name: str) -> dict[str, Any]:
    request = RenderRequest(
        notebook=FIXTURES / "report_inspect.ipynb",
        out_html=tmp_path / "out" / f"{name}.html",
        parameters={"key_env": KEY_ENV, "plant": plant},
        kernel_env={KEY_ENV: key},
        redact=[key],
        label=name,
    )
    result = render_notebook(request, raw_root=tmp_path / "raw", pool=pool)
    return json.loads(bytes.fromhex(json.loads(result.outbox["inspect.json"])["hex"]))


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def test_run_n_plants_a_canary_run_n_plus_1_cannot_find_it(tmp_path: Path) -> None:
    planted = f"sk-tkplant-{secrets.token_hex(16)}"
    other = f"sk-tkother-{secrets.token_hex(16)}"
    with KernelPool(1, tmp_path / "raw") as pool:
        first = _inspect(tmp_path, planted, True, pool, "run-n")
        second = _inspect(tmp_path, other, False, pool, "run-n-plus-1")
        idle_pids = pool.pids()
    # Control: the inspection finds the canary everywhere run N planted it (so the search can fail).
    for place in PLACES:
        assert planted in json.dumps(first[place]), f"control: run N's {place} should hold the canary"
    # Run N+1 (the next kernel from the same pool) holds it nowhere.
    for place in (*PLACES, "proc_environ", "fds"):
        assert planted not in json.dumps(second[place]), f"run N's key leaked into run N+1's {place}"
    # Single use: another process; and no key ever in a kernel's start-up environment, not even its own.
    assert first["pid"] != second["pid"]
    assert planted not in first["proc_environ"] and other not in second["proc_environ"]
    assert other not in json.dumps(second["environ"])  # an untaken key stays out of the environment
    # Every kernel is gone after the pool closes, and so is every raw folder and file holding a key.
    for pid in (first["pid"], second["pid"], *idle_pids):
        assert not _alive(pid)
    assert list((tmp_path / "raw").glob("run-*")) == []
    assert files_containing(tmp_path, planted) == [] and files_containing(tmp_path, other) == []


def test_pool_hands_each_kernel_out_once_and_refills(tmp_path: Path) -> None:
    with KernelPool(2, tmp_path / "raw") as pool:
        first, second = pool.take(60), pool.take(60)
        third = pool.take(60)  # the pool refilled in the background
        try:
            pids = {first.pid, second.pid, third.pid}
            assert len(pids) == 3 and None not in pids
            assert len({first.run_dir, second.run_dir, third.run_dir}) == 3
            server = pool.fork_server
            assert server is not None and server.alive()
            for kernel in (first, second, third):
                assert oct(kernel.run_dir.stat().st_mode & 0o777) == "0o700"
                # forked by the pool's warm fork server (imports done once), in a session of its own
                stat = Path(f"/proc/{kernel.pid}/stat").read_text().rsplit(")", 1)[1].split()
                assert int(stat[1]) == server.pid and int(stat[3]) == kernel.pid  # ppid, session id
                assert kernel.km.provisioner.pgid == kernel.pid
        finally:
            for kernel in (first, second, third):
                kernel.shutdown()
        assert pool.started >= 3


def test_subprocess_of_a_cell_does_not_inherit_the_key(emu: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 11 item 6: once the Secret is built, the key is no longer in the kernel's environment."""
    from testkey_nb.report import glue
    from tests.conftest import CANARY

    monkeypatch.setenv("TK_ENV_KEY", CANARY)
    before = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('TK_ENV_KEY'))"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert CANARY in before  # control: a child does inherit the variable while it is set
    check = glue.check_from_env("TK_ENV_KEY", base_url=emu.inference_url, management_url=emu.management_url,
                                deadline_s=30)  # fmt: skip
    assert check.profile is not None
    assert "TK_ENV_KEY" not in os.environ
    after = subprocess.run(["env"], capture_output=True, text=True, check=True).stdout
    assert CANARY not in after
    # A cell run again (same name) gets the same key from memory.
    again = glue.check_from_env("TK_ENV_KEY", base_url=emu.inference_url, management_url=emu.management_url,
                                deadline_s=30)  # fmt: skip
    assert again.label == check.label


def test_pool_total_caps_the_kernels_it_starts(tmp_path: Path) -> None:
    from testkey_nb.report.kernels import PoolClosed

    with KernelPool(1, tmp_path / "raw", total=2) as pool:
        kernels = [pool.take(60), pool.take(60)]
        try:
            with pytest.raises(PoolClosed):
                pool.take(5)
            assert pool.started == 2 and pool.idle == 0
        finally:
            for kernel in kernels:
                kernel.shutdown()


def test_render_with_billing_cli_uses_two_warm_kernels(emu: Any, tmp_path: Path) -> None:
    from tests.conftest import CANARY

    env = {**os.environ, "TK_CLI_KEY": CANARY, "TESTKEY_NB_RAW": str(tmp_path / "raw")}
    proc = subprocess.run(
        [sys.executable, "-m", "testkey_nb", "render", "env:TK_CLI_KEY", "--base-url", emu.inference_url,
         "--management-url", emu.management_url, "--out", str(tmp_path / "out"), "--label", "cli", "--with-billing"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-800:]
    reports = sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_file())
    assert reports == ["cli-billing.html", "cli.html"]  # beside them only the history folder (.history/)
    assert [p.name for p in (tmp_path / "out").iterdir() if p.is_dir()] == [".history"]
    for name in reports:
        page = (tmp_path / "out" / name).read_text(encoding="utf-8")
        assert len(page.encode()) <= 400_000 and CANARY not in page
    assert CANARY not in proc.stdout + proc.stderr
    assert list((tmp_path / "raw").glob("run-*")) == []  # the spare kernel's folder went with the pool
