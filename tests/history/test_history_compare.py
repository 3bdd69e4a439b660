"""``testkey-nb compare LABEL --history DB``: one key across its last two checks, differences first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from history_helpers import snap
from typer.testing import CliRunner

import testkey_nb as tk
from testkey_nb.cli.main import app
from testkey_nb.history.store import HistoryStore


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "history.duckdb"
    with HistoryStore(path) as store:
        store.add(snap(0, remaining=100.0, model_ids=("a/one", "b/two")))
        store.add(snap(1, remaining=80.0, model_ids=("a/one", "b/two")))
        store.add(snap(2, remaining=40.0, model_ids=("a/one", "c/three"), status="rate_limited"))
        store.add(snap(2, label="k2", remaining=5.0))
        store.flush()
    return path


def test_one_label_compares_its_last_two_checks(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp.html"
    done = CliRunner().invoke(app, ["compare", "k1", "--history", str(db), "--out", str(out)])
    assert done.exit_code == 0, done.output
    comparison = tk.compare("k1", history=db)
    assert comparison.mode == "over time" and [c.label for c in comparison.checks] == ["k1", "k1"]
    assert [c.checked_at for c in comparison.checks] == ["2026-11-02T12:00:00Z", "2026-11-03T12:00:00Z"]
    diff = {(r.group, r.name): r.values for r in comparison.differences}
    assert diff[("Key", "balance remaining")] == ("80 USD", "40 USD")
    assert diff[("Key", "status")] == ("valid (ok)", "rate_limited (ok)")
    assert diff[("Models", "b/two")] == ("allowed", "not listed")
    assert diff[("Models", "c/three")] == ("not listed", "allowed")
    assert ("Key", "provider") not in diff
    assert [r.differs for r in comparison.rows] == sorted((r.differs for r in comparison.rows), reverse=True)
    page = out.read_text(encoding="utf-8")
    assert "one key across checks" in done.output and "Comparison: one key across checks" in page
    assert re.search(r"https?://", page) is None and "<script" not in page


def test_two_labels_side_by_side_and_errors(db: Path, tmp_path: Path) -> None:
    assert tk.compare("k1", "k2", history=db).mode == "keys"
    runner = CliRunner()
    missing = runner.invoke(app, ["compare", "nope", "k1", "--history", str(db), "--out", str(tmp_path / "x.html")])
    assert missing.exit_code == 2 and "nope: the history holds no check of this label" in missing.output
    alone = runner.invoke(app, ["compare", str(tmp_path / "a.json"), "--out", str(tmp_path / "x.html")])
    assert alone.exit_code == 2 and "a.json" in alone.output
    with pytest.raises(TypeError, match="history=PATH"):
        tk.compare("k1", "k2")
