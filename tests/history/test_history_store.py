"""The DuckDB history: round trip, schema version and migration, a newer file refused, one writer."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from history_helpers import T0, row, snap

from testkey_nb.history import load
from testkey_nb.history.store import SCHEMA_VERSION, HistoryError, HistoryStore


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / ".history" / "history.duckdb"
    with HistoryStore(path) as store:
        first = store.append(snap(0, facts={"identity": {"user": "ada", "workspace": "acme"}}))
        store.append(snap(1, remaining=90).with_runway({"burn_per_day": 10.0}))
        store.append(snap(0.5, label="k2"))
    assert first.id is not None
    assert (path.parent.stat().st_mode & 0o777, path.stat().st_mode & 0o777) == (0o700, 0o600)
    with HistoryStore(path, read_only=True) as store:
        assert store.version == SCHEMA_VERSION
        assert store.labels() == ["k1", "k2"]
        got = store.snapshots(["k1"])
        assert [s.rendered_at for s in got] == [T0, T0.replace(day=2)]
        assert got[0].to_json() == snap(0, facts={"identity": {"user": "ada", "workspace": "acme"}}).to_json()
        assert got[1].balance_remaining == 90.0 and got[1].runway == {"burn_per_day": 10.0}
        assert [s.label for s in store.snapshots(since=T0.replace(hour=13))] == ["k1", "k2"]
        assert [s.rendered_at for s in store.last("k1")] == [T0.replace(day=2)]
    frame = load(path)
    assert frame.height == 3
    assert frame.filter(frame["label"] == "k1")["balance_remaining"].to_list() == [100.0, 90.0]
    assert frame.filter(frame["label"] == "k1")["changes"].to_list() == [0, 1]
    assert frame["models"][0].to_list() == ["a/one", "b/two"]


def test_migration_from_version_1(tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    with HistoryStore(path, target_version=1) as old:
        assert old.version == 1
        old._con.execute(
            "INSERT INTO snapshots (label, rendered_at, status, row_json, balance) VALUES (?, ?, ?, ?, ?)",
            ["old-key", T0.replace(tzinfo=None), "valid", '{"status": "valid", "verdict": "ready"}',
             '{"currency": "USD", "remaining": 12.5}'],
        )  # fmt: skip
    with pytest.raises(HistoryError, match="schema version 1"):
        HistoryStore(path, read_only=True)
    with HistoryStore(path) as store:  # a writer migrates it
        assert store.version == 2
        (snapshot,) = store.snapshots(["old-key"])
        assert snapshot.get("verdict") == "ready" and snapshot.balance_remaining == 12.5 and snapshot.runway is None
        backfilled = store._con.execute("SELECT balance_remaining FROM snapshots").fetchone()
        assert backfilled == (12.5,)
        versions = [r[0] for r in store._con.execute("SELECT version FROM schema_info ORDER BY version").fetchall()]
        assert versions == [1, 2]
        store.append(snap(1, label="old-key"))
    assert load(path)["label"].to_list() == ["old-key", "old-key"]


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    HistoryStore(path).close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_info VALUES (99, NULL)")
    con.close()
    with pytest.raises(HistoryError, match="schema version 99; this testkey-nb reads up to 2"):
        HistoryStore(path)


def test_not_a_history(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="no history at"):
        HistoryStore(tmp_path / "missing.duckdb", read_only=True)
    bad = tmp_path / "bad.duckdb"
    bad.write_text("not a database", encoding="utf-8")
    with pytest.raises(HistoryError, match="cannot open the history"):
        HistoryStore(bad)


def test_failed_rows_carry_no_facts() -> None:
    from testkey_nb.history.snapshot import build_snapshot

    failed = build_snapshot(row(error="boom", status="failed"), {"models": [{"id": "x"}], "balance": {"remaining": 1}})
    assert failed.models is None and failed.balance is None and failed.limits == {}
