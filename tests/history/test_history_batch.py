"""The batch runner and the render command as the history's one writer (fake renders: no kernels)."""

from __future__ import annotations

import concurrent.futures as cf
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from history_helpers import models, snap

from testkey_nb.batch import BatchInputError, KeyOutcome, Probed, RenderTask, run_batch
from testkey_nb.batch.keysfile import KeyEntry
from testkey_nb.history.recorder import HistorySettings, alerts_for
from testkey_nb.history.snapshot import parse_time
from testkey_nb.history.store import HistoryStore, default_history_path
from testkey_nb.report.keyreport import KeyJob, KeyReportResult
from testkey_nb.secrets import Secret

KEY = "b10_HiStBtch.HISTORYbatchCANARYkeyZZZZZZZZZZZZZZZZ"


class Fake:
    """An executor whose renders return a summary with the given history facts (and remember the jobs)."""

    name = "fake"
    capacity = 1

    def __init__(self, facts: Callable[[str], dict[str, Any] | None]) -> None:
        self.facts = facts
        self.jobs: list[KeyJob] = []

    def start(self, retention_s: float) -> None: ...

    def submit(self, task: RenderTask, out_dir: Path) -> cf.Future[KeyOutcome]:
        self.jobs.append(task.job)
        path = out_dir / f"{task.label}.html"
        path.write_text("<html></html>", encoding="utf-8")
        summary = {**self.summary(task.label), "history_facts": self.facts(task.label)}
        future: cf.Future[KeyOutcome] = cf.Future()
        future.set_result(KeyOutcome(task.label, summary, None, 0.01, html_path=path))
        return future

    @staticmethod
    def summary(label: str) -> dict[str, Any]:
        return {"label": label, "provider": "openrouter", "status": "valid", "verdict": "ready",
                "allowed_models": 2, "priced_models": 2, "tokens_per_minute": 1000, "actions": [],
                "capabilities": []}  # fmt: skip

    def probe(self, tasks: Any) -> dict[int, Probed]:
        """The round's probe (no network): the same summary and facts as the render."""
        return {t.index: Probed(t.label, self.summary(t.label), self.facts(t.label), None, 0.01) for t in tasks}

    def abort(self) -> None: ...

    def close(self) -> None: ...


def _facts(remaining: float, *ids: str) -> dict[str, Any]:
    return {"models": models(*ids), "balance": {"currency": "USD", "remaining": remaining, "used": None},
            "limits": [{"scope": "tokens_per_minute", "value": 1000, "provenance": "observed", "source": "h"}]}


def _entries() -> list[KeyEntry]:
    return [KeyEntry("k1", secret=Secret(KEY), base_url="http://127.0.0.1:9/v1")]


def _index(out: Path) -> list[dict[str, Any]]:
    return json.loads((out / "index.json").read_text(encoding="utf-8"))


def test_rows_gain_changes_and_unchanged_keys_are_recorded_without_a_render(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = Fake(lambda label: _facts(50.0, "a/one", "b/two"))
    run_batch(_entries(), out, executor=first, prober=first.probe, progress=False)
    assert _index(out)[0]["changes"] == [] and first.jobs[0].history == ""
    second = Fake(lambda label: _facts(40.0, "a/one"))
    run_batch(_entries(), out, executor=second, prober=second.probe, progress=False, force=True)
    context = json.loads(second.jobs[0].history)  # the kernel gets the earlier snapshot as data
    assert context["label"] == "k1" and context["snapshots"][0]["balance"]["remaining"] == 50.0
    assert KEY not in second.jobs[0].history
    row = _index(out)[0]
    fields = [(c["field"], c["before"], c["after"]) for c in row["changes"]]
    assert fields == [("models.removed", "b/two", None), ("balance.remaining", 50.0, 40.0)]
    # the same facts again: probed and recorded (a snapshot), not rendered; nothing changed since the last one
    third = Fake(lambda label: _facts(40.0, "a/one"))
    time.sleep(1.1)  # the round's second differs from the report's: the snapshot must take the round's
    run_batch(_entries(), out, executor=third, prober=third.probe, progress=False)
    kept = _index(out)[0]
    assert third.jobs == [] and kept["changes"] == [] and kept["rendered"] is False
    assert kept["rendered_at"] == row["rendered_at"] != kept["checked_at"]
    with HistoryStore(default_history_path(out), read_only=True) as store:
        snaps = store.snapshots()
        assert len(snaps) == 3 and snaps[-1].rendered_at == parse_time(kept["checked_at"])
    assert KEY.encode() not in default_history_path(out).read_bytes()


def test_no_history_and_a_chosen_path(tmp_path: Path) -> None:
    out = tmp_path / "out"
    none = Fake(lambda _: None)
    run_batch(_entries(), out, executor=none, prober=none.probe, progress=False,
              history=HistorySettings(enabled=False))  # fmt: skip
    assert not (out / ".history").exists() and _index(out)[0]["changes"] == []
    chosen = tmp_path / "elsewhere" / "fleet.duckdb"
    one = Fake(lambda _: _facts(1.0))
    run_batch(_entries(), out, executor=one, prober=one.probe, progress=False, force=True,
              history=HistorySettings(path=chosen))  # fmt: skip
    assert chosen.is_file() and not (out / ".history").exists()


def test_a_locked_history_stops_the_batch_before_any_render(tmp_path: Path) -> None:
    out = tmp_path / "out"
    fake = Fake(lambda _: None)
    import subprocess
    import sys

    path = default_history_path(out)
    HistoryStore(path).close()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(60)", str(path)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(BatchInputError, match=r"history: .*one writer at a time"):
            run_batch(_entries(), out, executor=fake, prober=fake.probe, progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert fake.jobs == []


def test_a_key_in_the_facts_drops_them(tmp_path: Path) -> None:
    out = tmp_path / "out"
    leaky = Fake(lambda _: {"models": [{"id": KEY}]})
    run_batch(_entries(), out, executor=leaky, prober=leaky.probe, progress=False)
    assert KEY.encode() not in default_history_path(out).read_bytes()
    assert _index(out)[0]["error"] == "the summary held a key; it was dropped"


def test_alerts_worked_out_by_hand() -> None:
    settings = HistorySettings(alert_balance=10.0, alert_limit_percent=80.0)
    low = snap(0, remaining=7.5, facts={"balance": {"currency": "USD", "remaining": 7.5, "used": 42.5,
                                                    "limit": 50.0}})  # fmt: skip
    # 7.50 < 10 -> balance; 42.5 / 50 = 85 % >= 80 % -> limit_used
    assert [a["alert"] for a in alerts_for(low, [], settings)] == ["balance", "limit_used"]
    assert "85.0 % of the limit" in alerts_for(low, [], settings)[1]["message"]
    from testkey_nb.history.diff import Change

    cut = [Change("t", "limits.tokens_per_minute", 1000, 150), Change("t", "limits.requests_per_minute", 100, 90)]
    # 1000 -> 150 fell 85 % (>= 80 %): flagged; 100 -> 90 fell 10 %: not
    got = alerts_for(snap(0, remaining=100.0), cut, settings)
    assert [a["alert"] for a in got] == ["limit_lowered"] and "fell 85.0 %" in got[0]["message"]
    assert alerts_for(snap(0, remaining=None), cut, HistorySettings()) == []


def test_render_one_with_history_records_a_snapshot(tmp_path: Path) -> None:
    from testkey_nb.cli.history import render_one_with_history

    out = tmp_path / "out"
    seen: list[str] = []

    def render(facts: dict[str, Any]) -> Callable[[KeyJob], KeyReportResult]:
        def go(job: KeyJob) -> KeyReportResult:
            seen.append(job.history)
            summary = {"label": job.label, "status": "valid", "verdict": "ready", "history_facts": facts}
            return KeyReportResult(job.label or "x", out / "k1.html", summary, None, 0.1)

        return go

    job = KeyJob(label="k1", ref="env:X")
    _, row = render_one_with_history(job, out, HistorySettings(), render(_facts(5.0, "a/one")))
    assert row is not None and row["changes"] == [] and seen == [""]
    _, row = render_one_with_history(job, out, HistorySettings(alert_balance=10), render(_facts(4.0, "a/one")))
    assert row is not None and json.loads(seen[1])["snapshots"][0]["balance"]["remaining"] == 5.0
    assert [(c["field"], c["before"], c["after"]) for c in row["changes"]] == [("balance.remaining", 5.0, 4.0)]
    assert [a["alert"] for a in row["alerts"]] == ["balance"]
    _, row = render_one_with_history(job, out, HistorySettings(enabled=False), render({}))
    assert row is None and seen[2] == ""
