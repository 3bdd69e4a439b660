"""Crash safety without kernels: a full disk, a second writer, a resumed round, raw data of a dead owner."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import errno
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from batch_helpers import canary

from testkey_nb.batch import KeyOutcome, RenderTask, render_many, run_batch
from testkey_nb.batch.keysfile import KeyEntry
from testkey_nb.batch.runner import DiskFullError
from testkey_nb.history.store import HistoryStore, default_history_path
from testkey_nb.report.retention import make_run_dir, sweep_raw
from testkey_nb.secrets import Secret


class _Fake:
    """An executor that writes each report itself at once (as the local executor's renders do)."""

    name = "fake"
    capacity = 1

    def __init__(self) -> None:
        self.aborted = 0

    def start(self, retention_s: float) -> None:
        pass

    def submit(self, task: RenderTask, out_dir: Path) -> cf.Future[KeyOutcome]:
        path = out_dir / f"{task.label}.html"
        path.write_text(f"<html>{task.label}</html>", encoding="utf-8")
        summary = {"label": task.label, "provider": "baseten", "key_valid": True, "status": "valid",
                   "verdict": "ready", "allowed_models": 1, "priced_models": 1, "tokens_per_minute": 10}  # fmt: skip
        future: cf.Future[KeyOutcome] = cf.Future()
        future.set_result(KeyOutcome(task.label, summary, None, 0.01, html_path=path))
        return future

    def abort(self) -> None:
        self.aborted += 1

    def close(self) -> None:
        pass


def _entries(n: int = 3) -> list[KeyEntry]:
    return [KeyEntry(f"k{i}", secret=Secret(canary(300 + i)), base_url="http://127.0.0.1:9/v1") for i in range(n)]


def _snapshot_labels(out: Path) -> list[str]:
    with HistoryStore(default_history_path(out), read_only=True) as store:
        return [s.label for s in store.snapshots()]


def test_a_full_disk_stops_with_one_line_keeps_what_was_written_and_the_rerun_counts_each_key_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import testkey_nb.batch.runner as runner

    out = tmp_path / "out"
    real = runner.write_atomic
    calls: list[Path] = []

    def write_until_full(path: Path, data: bytes | str, **kw: Any) -> int:
        calls.append(Path(path))
        if len(calls) == 2:  # k1's sidecar: its snapshot is in the history already
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data, **kw)

    monkeypatch.setattr(runner, "write_atomic", write_until_full)
    executor = _Fake()
    with pytest.raises(DiskFullError) as info:
        run_batch(_entries(), out, executor=executor, progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert message == ("the disk is full: cannot write the record of k1 (history, .index/); the batch stopped, the 1 "
                       "key(s) recorded before are intact (reports, index, history): free some space and run again")
    assert executor.aborted == 1
    # what was written before stays whole: k0's report and sidecar; no temporary file left
    assert (out / ".index" / "k0.json").is_file() and not (out / ".index" / "k1.json").exists()
    assert json.loads((out / ".index" / "k0.json").read_text())["row"]["status"] == "valid"
    assert not list(out.rglob("*.tmp"))
    assert _snapshot_labels(out) == ["k0", "k1"]

    # space again: the re-run finishes the round; k1 is rendered again and replaces its snapshot
    monkeypatch.setattr(runner, "write_atomic", real)
    result = run_batch(_entries(), out, executor=_Fake(), progress=False)
    assert [k.state for k in result.keys] == ["fresh", "rendered", "rendered"]
    assert _snapshot_labels(out) == ["k0", "k1", "k2"]
    with HistoryStore(default_history_path(out), read_only=True) as store:
        runs = store.query("SELECT count(*), count(finished_at) FROM runs").fetchall()
        assert runs == [(1, 1)]  # one round, finished by the re-run


def test_the_command_prints_one_line_for_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import testkey_nb.batch as batch
    import testkey_nb.batch.runner as runner

    def full(path: Path, data: bytes | str, **kw: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(runner, "write_atomic", full)
    monkeypatch.setattr(batch, "LocalExecutor", lambda jobs=None: _Fake())
    monkeypatch.setenv("TK_CRASH_K0", canary(310))
    keys = tmp_path / "keys.toml"
    keys.write_text('[keys.k0]\nref = "env:TK_CRASH_K0"\nbase_url = "http://127.0.0.1:9/v1"\n', encoding="utf-8")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = render_many(keys_file=keys, keys_env=None, out=tmp_path / "out", jobs=1, force=False, dask=None,
                           allow_insecure_cluster=False, retention_s=300.0, claim=None, base_url=None,
                           management_url=None)  # fmt: skip
    assert code == 2
    assert err.getvalue().splitlines() == [
        "testkey-nb: error: the disk is full: cannot write the record of k0 (history, .index/); the batch stopped, "
        "the 0 key(s) recorded before are intact (reports, index, history): free some space and run again"
    ]


def test_a_full_disk_in_the_history_loses_no_snapshot_already_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from testkey_nb.history.snapshot import build_snapshot
    from testkey_nb.history.store import HistoryError

    def snap(day: int, remaining: float = 100.0) -> Any:
        row = {"label": "k1", "status": "valid", "error": None}
        return build_snapshot(row, {"balance": {"currency": "USD", "remaining": remaining}},
                              rendered_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=day))  # fmt: skip

    path = tmp_path / "h.duckdb"
    with HistoryStore(path) as store:
        store.append(snap(0))
        real = store._con

        class _Full:
            def execute(self, sql: str, *args: Any) -> Any:
                if sql.startswith("INSERT INTO snapshots"):
                    raise OSError(errno.ENOSPC, "No space left on device")
                return real.execute(sql, *args)

        monkeypatch.setattr(store, "_con", _Full())
        with pytest.raises(HistoryError, match=r"^the disk is full: cannot write the history .*h\.duckdb$"):
            store.append(snap(1, remaining=50))
        monkeypatch.setattr(store, "_con", real)
    with HistoryStore(path, read_only=True) as store:
        assert [s.balance_remaining for s in store.snapshots()] == [100.0]


def test_a_second_writer_gets_one_clear_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    keys = tmp_path / "keys.toml"
    keys.write_text('[keys.k0]\nref = "env:TK_CRASH_UNSET"\n', encoding="utf-8")
    with HistoryStore(default_history_path(out)):  # this process is writing the history
        for args in (["render", "--keys-file", str(keys), "--out", str(out)],
                     ["history", "prune", "--keep", "90d", "--out", str(out)]):  # fmt: skip
            proc = subprocess.run([sys.executable, "-m", "testkey_nb", *args], capture_output=True, text=True,
                                  timeout=300, env={"TESTKEY_NB_RAW": str(tmp_path / "raw"), "PATH": "/usr/bin:/bin",
                                                    "PYTHONPATH": ":".join(sys.path)})  # fmt: skip
            lines = proc.stderr.splitlines()
            assert proc.returncode in (1, 2), proc.stderr
            assert len(lines) == 1, proc.stderr
            assert lines[0].startswith("testkey-nb: error: ")
            assert lines[0].endswith("history.duckdb: another testkey-nb process is writing it (one writer at a time)")


def test_an_unfinished_round_is_resumed_and_a_finished_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    # a process that began a round and died (SIGKILL: no finish, no close)
    code = (
        "import os, signal, sys\nfrom testkey_nb.history.store import HistoryStore\n"
        f"s = HistoryStore({str(path)!r})\nrun, resumed = s.begin_run()\nprint(run, resumed, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": ":".join(sys.path), "PATH": "/usr/bin:/bin"})  # fmt: skip
    first, resumed_there = proc.stdout.split()
    assert resumed_there == "False"
    with HistoryStore(path) as store:
        assert store.begin_run() == (first, True)  # the same round
        store.finish_run(first)
        fresh, resumed = store.begin_run()
        assert fresh != first and not resumed


def test_raw_data_of_a_dead_owner_is_swept_at_the_next_start(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    code = (f"from pathlib import Path\nfrom testkey_nb.report.retention import make_run_dir\n"
            f"make_run_dir(Path({str(root)!r}))\n")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120,
                   env={"PYTHONPATH": ":".join(sys.path), "PATH": "/usr/bin:/bin"})  # fmt: skip
    (dead,) = list(root.iterdir())
    live = make_run_dir(root)  # this process owns it: kept, however young
    assert sweep_raw(root, retention_s=300) == [dead]
    assert [p.name for p in root.iterdir()] == [live.name]


def test_a_kernel_kills_its_process_group_when_its_parent_dies(tmp_path: Path) -> None:
    """warm_kernel.watch_parent, without ipykernel: the watched process and what it started go with the parent."""
    import signal

    import psutil

    child = (
        "import os, subprocess, sys, time\nfrom testkey_nb.report.warm_kernel import watch_parent\n"
        "watch_parent(os.getppid())\ngrand = subprocess.Popen(['sleep', '600'])\n"
        "print(os.getpid(), grand.pid, flush=True)\ntime.sleep(600)\n"
    )
    parent = (
        "import subprocess, sys, time\n"
        f"c = subprocess.Popen([sys.executable, '-c', {child!r}], start_new_session=True, stdout=subprocess.PIPE,"
        " text=True)\nprint(c.stdout.readline().strip(), flush=True)\ntime.sleep(600)\n"
    )
    env = {"PYTHONPATH": ":".join(sys.path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        pids = [int(p) for p in proc.stdout.readline().split()]  # the watched process and its own child
        watched = [psutil.Process(p) for p in pids]
        assert len(watched) == 2 and all(p.is_running() for p in watched)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        _, alive = psutil.wait_procs(watched, timeout=60)
        assert [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_full_disk_in_the_history_stops_the_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import testkey_nb.history.store as store_module

    out = tmp_path / "out"
    real = store_module.HistoryStore.transaction  # maps the OSError to a HistoryError that keeps its errno
    inserts: list[int] = []

    @contextlib.contextmanager
    def full_on_second_insert(self: Any) -> Any:
        with real(self) as con:
            class _Con:
                def execute(self, sql: str, *args: Any) -> Any:
                    if sql.startswith("INSERT INTO snapshots"):
                        inserts.append(1)
                        if len(inserts) == 2:
                            raise OSError(errno.ENOSPC, "No space left on device")
                    return con.execute(sql, *args)

                def executemany(self, sql: str, *args: Any) -> Any:
                    return con.executemany(sql, *args)

            yield _Con()

    monkeypatch.setattr(store_module.HistoryStore, "transaction", full_on_second_insert)
    with pytest.raises(DiskFullError, match=r"^the disk is full: cannot write the record of k1 \(history, \.index/\)"):
        run_batch(_entries(), out, executor=_Fake(), progress=False)
    monkeypatch.setattr(store_module.HistoryStore, "transaction", real)
    assert _snapshot_labels(out) == ["k0"]  # k1's transaction was rolled back whole
    assert (out / ".index" / "k0.json").is_file() and not (out / ".index" / "k1.json").exists()
