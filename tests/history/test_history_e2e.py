"""Two batch runs against the emulator, a model withdrawn and $5 spent between them: the history, the index
and the key report show exactly those changes, and none for a key they did not touch. Then ``watch``.

Baseten shows no balance (its documented free grant is not one): the user gives what is left in the keys
file (``credits_remaining``: $30, then $25 after the $5 spent), and the runway rests on that."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from testkey_nb.batch import LocalExecutor, run_batch
from testkey_nb.batch.keysfile import load_keys_file
from testkey_nb.emulator import run_emulator

pytestmark = pytest.mark.slow

CHANGED_KEY = "b10_HiStOry1.HISTORYcanaryCHANGEDkeyZZZZZZZZZZZZZ"
STEADY_KEY = "b10_HiStOry2.HISTORYcanarySTEADYkeyZZZZZZZZZZZZZZ"
WITHDRAWN = "zai-org/GLM-4.7"
#: a string only a raw /v1/models body holds (the catalog's description of gpt-oss-120b)
RAW_BODY_TEXT = b"Extremely capable general-purpose LLM with strong, controllable reasoning"


@dataclass
class TwoRuns:
    out: Path
    keys_file: Path
    env: dict[str, str]
    first: list[dict[str, Any]]
    second: list[dict[str, Any]]
    emu: Any


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "testkey_nb", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=600)  # fmt: skip


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoRuns]:
    folder = tmp_path_factory.mktemp("history")
    with run_emulator() as emu:  # its own emulator: withdrawing a model must not touch the session's
        emu.add_key(CHANGED_KEY, "basic-unverified")  # workspace solo-dev: credits left, readable usage
        emu.add_key(STEADY_KEY, "inference-scoped")  # scoped to one model; no management access
        env = {"TK_HIST_CHANGED": CHANGED_KEY, "TK_HIST_STEADY": STEADY_KEY}
        keys_file = folder / "keys.toml"

        def write_keys(credits: float) -> None:
            keys_file.write_text(
                "".join(
                    f'[keys.{label}]\nref = "env:{var}"\nbase_url = "{emu.inference_url}"\n'
                    f'management_url = "{emu.management_url}"\n'
                    + (f'credits_remaining = {credits}\npayment_method = "none"\n' if label == "changed" else "")
                    + "\n"
                    for label, var in (("changed", "TK_HIST_CHANGED"), ("steady", "TK_HIST_STEADY"))
                ),
                encoding="utf-8",
            )

        write_keys(30.0)
        out = folder / "reports"

        def batch() -> list[dict[str, Any]]:
            result = run_batch(load_keys_file(keys_file), out, executor=LocalExecutor(jobs=2), progress=False,
                               environ=env, force=True)  # fmt: skip
            assert result.ok, result.keys
            return json.loads((out / "index.json").read_text(encoding="utf-8"))

        first = batch()
        emu.withdraw_model(WITHDRAWN)
        emu.spend("solo-dev", 5)
        write_keys(25.0)  # the user's figure after the $5 spent
        second = batch()
        yield TwoRuns(out, keys_file, env, first, second, emu)


def _row(rows: list[dict[str, Any]], label: str) -> dict[str, Any]:
    return next(r for r in rows if r["label"] == label)


def _expected(first: dict[str, Any], second_at: str) -> list[dict[str, Any]]:
    return [
        {"at": second_at, "field": "models.removed", "before": WITHDRAWN, "after": None},
        {"at": second_at, "field": "balance.remaining", "before": pytest.approx(first["remaining"]),
         "after": pytest.approx(first["remaining"] - 5.0)},
    ]  # fmt: skip


def test_index_rows_show_exactly_the_changes(two_runs: TwoRuns) -> None:
    assert [r["changes"] for r in two_runs.first] == [[], []]  # a first run: nothing to compare with
    changed = _row(two_runs.second, "changed")
    proc = _cli("history", "changed", "--out", str(two_runs.out), "--json", env=two_runs.env)
    assert proc.returncode == 0, proc.stderr
    with_history = json.loads(proc.stdout)
    first_balance = with_history[0]["snapshots"][0]["balance"]
    remaining = first_balance["remaining"]
    assert remaining == 30.0 and first_balance["provenance"] == "given"  # the user's figure, not a grant
    assert changed["changes"] == _expected({"remaining": remaining}, changed["rendered_at"])
    assert _row(two_runs.second, "steady")["changes"] == []
    assert changed["runway"]["provenance"] == "derived" and changed["runway"]["burn_per_day"] > 0
    page = (two_runs.out / "index.html").read_text(encoding="utf-8")
    assert page.count("tk-row-changed") == 2  # the style rule and the one changed row
    assert f"models.removed: {WITHDRAWN}" in page


def test_history_json_shows_exactly_the_changes(two_runs: TwoRuns) -> None:
    proc = _cli("history", "--out", str(two_runs.out), "--json", env={})
    assert proc.returncode == 0, proc.stderr
    data = {k["label"]: k for k in json.loads(proc.stdout)}
    assert sorted(data) == ["changed", "steady"]
    changed, steady = data["changed"], data["steady"]
    assert len(changed["snapshots"]) == len(steady["snapshots"]) == 2
    first, second = changed["snapshots"]
    assert {"rendered_at", "status", "verdict", "allowed_models", "balance"} <= set(first)
    assert first["allowed_models"] - second["allowed_models"] == 1
    assert WITHDRAWN in [m["id"] for m in first["models"]] and WITHDRAWN not in [m["id"] for m in second["models"]]
    assert changed["changes"] == _expected(first["balance"], second["rendered_at"])
    assert steady["changes"] == []
    table = _cli("history", "--out", str(two_runs.out), env={})
    assert table.returncode == 0 and "balance.remaining" in table.stdout and "no changes" in table.stdout


def test_the_key_report_says_what_changed(two_runs: TwoRuns) -> None:
    report = (two_runs.out / "changed.html").read_text(encoding="utf-8")
    assert "Since the last check" in report and "2 changes" in report and WITHDRAWN in report
    steady = (two_runs.out / "steady.html").read_text(encoding="utf-8")
    assert "Nothing changed since the last check" in steady


def test_the_history_holds_no_key_and_no_raw_body(two_runs: TwoRuns) -> None:
    data = (two_runs.out / ".history" / "history.duckdb").read_bytes()
    for key in (CHANGED_KEY, STEADY_KEY):
        for part in (key, key.split(".", 1)[1], key.split(".", 1)[0]):
            assert part.encode() not in data
    assert RAW_BODY_TEXT not in data
    for path in two_runs.out.rglob("*"):
        if path.is_file():
            assert CHANGED_KEY.encode() not in path.read_bytes(), path


def test_watch_runs_rounds_and_records_them(two_runs: TwoRuns, tmp_path: Path) -> None:
    keys_file = tmp_path / "one.toml"  # one key keeps the test lean: two rounds, two renders
    text = two_runs.keys_file.read_text(encoding="utf-8")
    keys_file.write_text(text[: text.index("[keys.steady]")], encoding="utf-8")
    out = tmp_path / "watched"
    proc = _cli("watch", "--keys-file", str(keys_file), "--every", "1s", "--count", "2", "--out", str(out),
                "--alert-balance", "1000", env=two_runs.env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "round 1/2" in proc.stdout and "round 2/2" in proc.stdout and "round 3" not in proc.stdout
    # the second round probed the key again and recorded it; nothing changed, so its report was kept
    assert proc.stdout.count("1 keys: 1 rendered, 0 unchanged") == 1
    assert proc.stdout.count("1 keys: 0 rendered, 1 unchanged") == 1
    data = json.loads(_cli("history", "--out", str(out), "--json", env={}).stdout)
    assert [(k["label"], len(k["snapshots"]), k["changes"]) for k in data] == [("changed", 2, [])]
    (row,) = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert [a["alert"] for a in row["alerts"]] == ["balance"]  # less than $1000 left


def test_fleet_history_notebook_renders(two_runs: TwoRuns) -> None:
    proc = _cli("history", "--out", str(two_runs.out), "--report", env={})
    assert proc.returncode == 0, proc.stderr
    page = (two_runs.out / "fleet-history.html").read_text(encoding="utf-8")
    assert "The fleet over time" in page and "2 keys, 4 snapshots, 2 changes" in page
    assert "models.removed" in page and WITHDRAWN in page
    assert CHANGED_KEY not in page and STEADY_KEY not in page


def test_render_one_key_records_its_snapshot(two_runs: TwoRuns, tmp_path: Path) -> None:
    db = tmp_path / "one.duckdb"
    emu = two_runs.emu
    proc = _cli("render", "env:TK_HIST_CHANGED", "--base-url", emu.inference_url, "--management-url",
                emu.management_url, "--out", str(tmp_path / "out"), "--label", "changed", "--history", str(db),
                "--credits-remaining", "20", "--payment-method", "none", env=two_runs.env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "since the last check" not in proc.stdout  # a first snapshot in this database
    (key,) = json.loads(_cli("history", "--history", str(db), "--json", env={}).stdout)
    assert key["label"] == "changed" and len(key["snapshots"]) == 1 and key["changes"] == []
    runway = key["snapshots"][0]["runway"]
    assert runway["provenance"] == "derived" and runway["payment_method"] == "none" and runway["deactivated_at"]
    assert key["snapshots"][0]["balance"]["remaining"] == 20.0
    assert CHANGED_KEY.encode() not in db.read_bytes()
    assert not (tmp_path / "out" / ".history").exists()
