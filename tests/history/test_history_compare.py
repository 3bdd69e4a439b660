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
    assert diff[("Key", "status")] == ("valid (ok)", "rate limited (ok)")  # labels, not enums
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


def test_the_page_reads_labels_and_dates_never_enums() -> None:
    """Every enum on the page goes through the one label mapping; a check's time reads as a date."""
    from testkey_nb.report.compare import build_comparison

    lenses = {"inventory-fit": {"verdict": "needs_work", "summary": "no model allowed"},
              "onboarding-readiness": {"verdict": "reject", "summary": "refused"},
              "commercial-launch": {"verdict": "needs_work", "summary": "no prices"}}  # fmt: skip
    a = {"label": "a", "checked_at": "2026-12-02T02:48:00Z", "verdict": "needs_work", "status": "valid_not_scoped",
         "status_reason": "no_model_allowed", "token_role": "metrics-only", "lenses": lenses,
         "capabilities": [{"capability": "balance", "status": "verified", "grade": "partially_visible"},
                          {"capability": "routing", "status": "unsupported", "grade": "not_exposed"}]}  # fmt: skip
    b = {"label": "b", "checked_at": "2026-12-01T23:05:00Z", "verdict": "ready", "status": "valid_no_quota",
         "status_reason": "no_balance", "token_role": "full-access",
         "capabilities": [{"capability": "balance", "status": "denied", "grade": "invisible"}]}  # fmt: skip
    comparison = build_comparison([(a, "a.json"), (b, "b.json")])
    values = {(r.group, r.name): r.values for r in comparison.rows}
    assert values[("Verdicts", "Inventory fit")] == ("needs work: no model allowed", "ready")
    assert values[("Verdicts", "Onboarding readiness")][0] == "reject: refused"
    assert values[("Key", "status")] == ("valid, no model allowed (no probed model allowed)",
                                         "valid, no credits (no money left: top up)")  # fmt: skip
    assert values[("Key", "key role")] == ("metrics only", "full access")
    assert values[("Capabilities", "balance")] == ("verified (partially visible)", "denied (invisible)")
    assert values[("Capabilities", "routing")][0] == "unsupported (not exposed)"
    page = comparison.html()
    assert "2 Dec 2026, 02:48 UTC" in page and "1 Dec 2026, 23:05 UTC" in page
    for enum in ("needs_work", "valid_not_scoped", "no_model_allowed", "valid_no_quota", "no_balance",
                 "partially_visible", "not_exposed", "metrics-only", "full-access", "2026-12-02T"):
        assert enum not in page, enum
