"""run_batch with a fake executor (no kernels): freshness, --force, redaction, Ctrl-C bookkeeping, input errors."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from batch_helpers import canary, files_with, secret_parts, write_private

from testkey_nb.batch import (
    BatchInputError,
    Executor,
    KeyOutcome,
    RenderTask,
    render_many,
    run_batch,
    sidecar_path,
)
from testkey_nb.batch.keysfile import KeyEntry
from testkey_nb.secrets import Secret
from tests.conftest import CANARY_SHAPES

Behaviour = Callable[[RenderTask, Path], KeyOutcome]


def summary_for(task: RenderTask, **over: Any) -> dict[str, Any]:
    base = {"label": task.label, "provider": "baseten", "claimed": task.job.claim, "matches_claim": None,
            "key_valid": True, "status": "valid", "verdict": "ready", "actions": [], "allowed_models": 1,
            "priced_models": 1, "tokens_per_minute": 10, "capabilities": []}  # fmt: skip
    base.update(over)
    return base


def write_report(task: RenderTask, out_dir: Path) -> KeyOutcome:
    path = out_dir / f"{task.label}.html"
    path.write_text(f"<html>{task.label}</html>", encoding="utf-8")
    return KeyOutcome(task.label, summary_for(task), None, 0.01, html_path=path)


class FakeExecutor:
    name = "fake"
    capacity = 2

    def __init__(self, behave: Behaviour = write_report) -> None:
        self.behave = behave
        self.calls: list[str] = []
        self.started = self.closed = self.aborted = 0

    def start(self, retention_s: float) -> None:
        self.started += 1

    def submit(self, task: RenderTask, out_dir: Path) -> cf.Future[KeyOutcome]:
        self.calls.append(task.label)
        future: cf.Future[KeyOutcome] = cf.Future()
        future.set_result(self.behave(task, out_dir))
        return future

    def abort(self) -> None:
        self.aborted += 1

    def close(self) -> None:
        self.closed += 1


def entries(n: int = 3, **over: Any) -> list[KeyEntry]:
    return [KeyEntry(f"k{i}", secret=Secret(canary(100 + i)), base_url="http://127.0.0.1:9/v1", **over)
            for i in range(n)]  # fmt: skip


def test_batch_fake_executor_is_an_executor() -> None:
    assert isinstance(FakeExecutor(), Executor)


def test_batch_fresh_reports_are_skipped_unless_forced(tmp_path: Path) -> None:
    keys = entries()
    first = FakeExecutor()
    result = run_batch(keys, tmp_path, executor=first, progress=False)
    assert result.ok and first.calls == ["k0", "k1", "k2"] and first.started == first.closed == 1
    assert all(sidecar_path(tmp_path, k.label).is_file() for k in keys)

    again = FakeExecutor()
    result = run_batch(keys, tmp_path, executor=again, progress=False)
    assert result.ok and again.calls == [] and again.started == 0
    assert [k.state for k in result.keys] == ["fresh"] * 3

    forced = FakeExecutor()
    assert run_batch(keys, tmp_path, executor=forced, force=True, progress=False).ok
    assert forced.calls == ["k0", "k1", "k2"]

    # a changed entry, an old report, a missing sidecar: rendered again; the rest stays fresh
    changed = [keys[0], KeyEntry("k1", secret=keys[1].secret, base_url="http://127.0.0.1:10/v1"), keys[2]]
    old = time.time() - 7200
    os.utime(tmp_path / "k0.html", (old, old))
    sidecar_path(tmp_path, "k2").unlink()
    partial = FakeExecutor()
    result = run_batch(changed, tmp_path, executor=partial, progress=False)
    assert sorted(partial.calls) == ["k0", "k1", "k2"]
    key_changed = FakeExecutor()
    other_key = [keys[0], keys[1], KeyEntry("k2", secret=Secret(canary(999)), base_url="http://127.0.0.1:9/v1")]
    run_batch(other_key, tmp_path, executor=key_changed, progress=False)
    assert key_changed.calls == ["k1", "k2"]  # k1's settings differ from the last run, k2's key differs


def test_batch_failed_keys_are_retried_and_exit_reflects_them(tmp_path: Path) -> None:
    def fail_k1(task: RenderTask, out_dir: Path) -> KeyOutcome:
        if task.label == "k1":
            return KeyOutcome(task.label, None, "cell [3] raised CheckError: nope", 0.5)
        return write_report(task, out_dir)

    result = run_batch(entries(), tmp_path, executor=FakeExecutor(fail_k1), progress=False)
    assert not result.ok and [k.label for k in result.failed] == ["k1"]
    again = FakeExecutor(fail_k1)
    run_batch(entries(), tmp_path, executor=again, progress=False)
    assert again.calls == ["k1"]
    rows = json.loads((tmp_path / "index.json").read_text())
    assert [r["status"] for r in rows] == ["valid", "failed", "valid"]
    assert rows[1]["error"] == "cell [3] raised CheckError: nope" and rows[1]["report"] is None


@pytest.mark.parametrize("shape", range(len(CANARY_SHAPES)))
def test_batch_errors_and_summaries_never_carry_a_key(tmp_path: Path, shape: int) -> None:
    keys = [KeyEntry(f"k{i}", secret=Secret(f"{CANARY_SHAPES[shape]}{i}"), base_url="http://127.0.0.1:9/v1")
            for i in range(4)]  # fmt: skip
    values = {k.label: k.secret.reveal() for k in keys if k.secret}

    def leaky(task: RenderTask, out_dir: Path) -> KeyOutcome:
        key = values[task.label]
        if task.label == "k0":
            return KeyOutcome(task.label, None, f"provider said: bad key {key}\nsecond line", 0.1)
        if task.label == "k1":
            actions = [{"action": "set route", "reason": f"route with {values['k3']}", "evidence": []}]
            out = write_report(task, out_dir)
            return KeyOutcome(task.label, summary_for(task, actions=actions), None, 0.1, html_path=out.html_path)
        if task.label == "k2":
            return KeyOutcome(task.label, summary_for(task), None, 0.1, html_bytes=f"<p>{key}</p>".encode())
        return KeyOutcome(task.label, summary_for(task), None, 0.1, html_bytes=b"<p>fine</p>")

    result = run_batch(keys, tmp_path, executor=FakeExecutor(leaky), progress=False)
    by_label = {k.label: k for k in result.keys}
    assert by_label["k0"].state == "failed" and f"<secret {keys[0].secret.label}>" in (by_label["k0"].error or "")  # type: ignore[union-attr]
    assert "\n" not in (by_label["k0"].error or "")
    assert by_label["k1"].error == "the summary held a key; it was dropped"
    assert by_label["k2"].state == "failed" and not (tmp_path / "k2.html").exists()
    assert by_label["k3"].state == "rendered" and (tmp_path / "k3.html").read_bytes() == b"<p>fine</p>"
    needles = [part for key in values.values() for part in secret_parts(key)]
    needles += [key[:-1].encode() for key in values.values()]  # the shape itself, without the index
    assert files_with(tmp_path, needles) == []


def test_batch_unresolvable_ref_fails_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TK_BATCH_NEVER_SET", raising=False)
    keys = [KeyEntry("gone", ref="env:TK_BATCH_NEVER_SET"), *entries(1)]
    fake = FakeExecutor()
    result = run_batch(keys, tmp_path, executor=fake, progress=False)
    assert fake.calls == ["k0"]
    assert result.keys[0].state == "failed" and "env:TK_B…(18 chars) is not set" in (result.keys[0].error or "")


def test_batch_missing_summary_is_a_failure(tmp_path: Path) -> None:
    def no_summary(task: RenderTask, out_dir: Path) -> KeyOutcome:
        return KeyOutcome(task.label, None, None, 0.1, html_path=write_report(task, out_dir).html_path)

    result = run_batch(entries(1), tmp_path, executor=FakeExecutor(no_summary), progress=False)
    assert result.keys[0].state == "failed" and "summary did not come back" in (result.keys[0].error or "")


def test_batch_keyboard_interrupt_is_bookkept(tmp_path: Path) -> None:
    def interrupt_at_k1(task: RenderTask, out_dir: Path) -> KeyOutcome:
        if task.label == "k1":
            raise KeyboardInterrupt
        return write_report(task, out_dir)

    handler = signal.getsignal(signal.SIGINT)
    fake = FakeExecutor(interrupt_at_k1)
    result = run_batch(entries(4), tmp_path, executor=fake, progress=False)
    assert result.interrupted and not result.ok and fake.aborted == 1 and fake.closed == 1
    assert [k.state for k in result.keys] == ["rendered", "interrupted", "interrupted", "interrupted"]
    rows = json.loads((tmp_path / "index.json").read_text())
    assert [r["status"] for r in rows] == ["valid", "not rendered", "not rendered", "not rendered"]
    assert signal.getsignal(signal.SIGINT) is handler  # restored after the cleanup


def test_batch_bad_entries_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(BatchInputError, match="duplicate label"):
        run_batch([*entries(1), KeyEntry("K0", ref="env:X")], tmp_path, executor=FakeExecutor(), progress=False)
    with pytest.raises(BatchInputError, match="bad label"):
        run_batch([KeyEntry("../x", ref="env:X")], tmp_path, executor=FakeExecutor(), progress=False)


def test_batch_progress_lines_when_not_a_tty(tmp_path: Path) -> None:
    import io

    stream = io.StringIO()
    run_batch(entries(2), tmp_path, executor=FakeExecutor(), progress=True, stream=stream)
    lines = stream.getvalue().splitlines()
    assert [line[:6] for line in lines] == ["[1/2] ", "[2/2] "]
    assert sorted(line[6:] for line in lines) == ["k0: ok, verdict ready (0.0 s)", "k1: ok, verdict ready (0.0 s)"]
    assert "\x1b[" not in stream.getvalue()


def test_batch_render_many_input_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args: dict[str, Any] = {"keys_file": None, "keys_env": None, "out": tmp_path / "out", "jobs": None,
                            "force": False, "dask": None, "allow_insecure_cluster": False, "retention_s": 300.0,
                            "claim": None, "base_url": None, "management_url": None}  # fmt: skip
    assert render_many(**args) == 2
    bad = tmp_path / "bad.toml"
    bad.write_text('[keys.a]\nref = "env:A"\nregion = "eu"\n')
    assert render_many(**{**args, "keys_file": bad}) == 2
    good = tmp_path / "good.toml"
    good.write_text('[keys.a]\nref = "env:A"\n')
    assert render_many(**{**args, "keys_file": good, "dask": "tcp://203.0.113.5:8786"}) == 2
    assert render_many(**{**args, "keys_file": good, "jobs": 0}) == 2
    loose = write_private(tmp_path / "keys.env", f"A={canary(5)}\n")
    os.chmod(loose, 0o644)
    assert render_many(**{**args, "keys_env": loose}) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 5 and all(line.startswith("testkey-nb: error: ") for line in err)
    assert f"{bad}:3:" in err[1] and "unknown field r…(6 chars)" in err[1]
    assert "without TLS" in err[2] and "--allow-insecure-cluster" in err[2]
    assert "--jobs" in err[3] and "chmod 600" in err[4]
    assert not (tmp_path / "out").exists()


def test_batch_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    keys = entries(2)
    result = run_batch(keys, tmp_path, executor=FakeExecutor(), progress=True, stream=stream)
    assert result.ok
    text = stream.getvalue()
    assert "rendering" in text and "k0: ok, verdict ready" in text and "k1: ok, verdict ready" in text
    assert "2/2" in text
    assert not any(k.secret and k.secret.reveal() in text for k in keys)


#: canaries in several shapes: a value redactor that only knew Baseten's key shape would miss some
_SHAPED = CANARY_SHAPES


def _as_name(key: str) -> str:
    """The key as a valid environment variable name (what a pasted key with no '-' or '.' already is)."""
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in key)


def test_a_keys_file_holding_keys_as_refs_never_echoes_them(tmp_path: Path) -> None:
    """`ref = "env:<the key>"` / `ref = "file:<the key>"`: each key fails alone, and no failure message, index
    file or sidecar holds the key."""
    lines = []
    for i, key in enumerate(_SHAPED):
        lines += [f"[keys.env{i}]", f'ref = "env:{_as_name(key)}"', f"[keys.file{i}]", f'ref = "file:{key}"']
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    code = render_many(keys_file=keys_file, keys_env=None, out=out, jobs=1, force=False, dask=None,
                       allow_insecure_cluster=False, retention_s=300, claim=None, base_url=None,
                       management_url=None)  # fmt: skip
    assert code == 1
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    rows = index["keys"] if isinstance(index, dict) else index
    assert len(rows) == 2 * len(_SHAPED)
    assert all("key reference" in (row.get("error") or "") and "chars)" in row["error"] for row in rows)
    needles = [k.encode() for k in _SHAPED] + [_as_name(k).encode() for k in _SHAPED]
    needles += [k[4:24].encode() for k in _SHAPED]
    assert files_with(out, needles) == []
