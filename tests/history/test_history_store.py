"""The DuckDB history: round trip, schema version and migration, a newer file refused, one writer."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from history_helpers import T0, row, snap

from testkey_nb.history import history_json, load
from testkey_nb.history.query import history_json_chunks
from testkey_nb.history.snapshot import Snapshot
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
        assert store.version == 3
        (snapshot,) = store.snapshots(["old-key"])
        assert snapshot.get("verdict") == "ready" and snapshot.balance_remaining == 12.5 and snapshot.runway is None
        backfilled = store._con.execute("SELECT balance_remaining FROM snapshots").fetchone()
        assert backfilled == (12.5,)
        versions = [r[0] for r in store._con.execute("SELECT version FROM schema_info ORDER BY version").fetchall()]
        assert versions == [1, 2, 3]
        store.append(snap(1, label="old-key"))
    assert load(path)["label"].to_list() == ["old-key", "old-key"]


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    HistoryStore(path).close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_info VALUES (99, NULL)")
    con.close()
    with pytest.raises(HistoryError, match="schema version 99; this testkey-nb reads up to 3"):
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


def _insert_v2(con: duckdb.DuckDBPyConnection, s: Snapshot) -> None:
    """A snapshot as version 2 wrote it (its JSON columns), for the migration test."""
    def dumps(value: object) -> str | None:
        return None if value is None else json.dumps(value, sort_keys=True)

    con.execute(
        "INSERT INTO snapshots (label, rendered_at, status, verdict, row_json, models, limits, balance, identity, "
        "usage_daily, runway, balance_remaining) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [s.label, s.rendered_at.replace(tzinfo=None), s.get("status"), s.get("verdict"), dumps(dict(s.row)),
         dumps([m.as_dict() for m in s.models] if s.models is not None else None),
         dumps({k: dict(v) for k, v in s.limits.items()}), dumps(dict(s.balance) if s.balance else None),
         dumps(dict(s.identity) if s.identity else None), None,
         dumps(dict(s.runway) if s.runway else None), s.balance_remaining],
    )  # fmt: skip


def test_migration_from_version_2_backfills_documents_changes_and_known_state(tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    v2 = [snap(0), snap(1, remaining=80), snap(2, remaining=None, model_ids=("a/one",)),
          snap(3, remaining=70, model_ids=("a/one",)), snap(0.5, label="k2", tpm=None)]  # fmt: skip
    with HistoryStore(path, target_version=2) as old:
        for s in v2:
            _insert_v2(old._con, s)
    with HistoryStore(path) as store:
        assert store.version == 3
        # what the key knew: the balance of day 3, the model list of day 2 (day 3's is the same)
        known = store.known("k1")
        assert known is not None and known.balance_remaining == 70.0
        # the next snapshot is compared with what was known, not with the previous row alone
        _, changes = store.add(snap(4, remaining=70, model_ids=("a/one", "c/three")))
        assert [(c.field, c.before, c.after) for c in changes] == [("models.added", None, "c/three")]
    data = json.loads(b"".join(history_json_chunks(HistoryStore(path, read_only=True))))
    assert [k["label"] for k in data] == ["k1", "k2"]
    assert [(c["at"], c["field"], c["before"], c["after"]) for c in data[0]["changes"]] == [
        ("2026-11-02T12:00:00Z", "balance.remaining", 100.0, 80.0),
        ("2026-11-03T12:00:00Z", "models.removed", "b/two", None),
        ("2026-11-04T12:00:00Z", "balance.remaining", 80.0, 70.0),
        ("2026-11-05T12:00:00Z", "models.added", None, "c/three"),
    ]
    assert data[1]["changes"] == [] and data[1]["snapshots"][0]["limits"] == []
    frame = load(path)
    assert frame.filter(frame["label"] == "k1")["changes"].to_list() == [0, 1, 1, 1, 1]
    assert frame.filter(frame["label"] == "k1")["balance_remaining"].to_list() == [100.0, 80.0, None, 70.0, 70.0]


def test_json_in_sql_equals_the_python_timeline(tmp_path: Path) -> None:
    """``history --json`` from SQL equals :func:`history_json` over the same snapshots (two implementations)."""
    path = tmp_path / "h.duckdb"
    odd = {"identity": {"user": 'a\\b "q" \\x41 é ✓', "workspace": "w\\n"}}  # backslashes, quotes, non-ASCII
    snaps = [snap(0, facts=odd), snap(3, remaining=50, tpm=2000), snap(1, remaining=90),
             snap(2, status="failed", error="x"), snap(0, label="k2"),
             snap(4, label="k2", model_ids=("b/two",))]  # fmt: skip
    with HistoryStore(path) as store:
        for s in snaps:  # day 1 comes after day 3: the key's changes are redone in order
            store.append(s)
    with HistoryStore(path, read_only=True) as store:
        from_sql = json.loads(b"".join(history_json_chunks(store)))
        assert from_sql == history_json(store.snapshots())
        assert from_sql[0]["snapshots"][0]["identity"]["user"] == 'a\\b "q" \\x41 é ✓'
    assert [c["field"] for c in from_sql[0]["changes"]] == [
        "balance.remaining", "status", "status", "limits.tokens_per_minute", "balance.remaining"]


def test_same_run_same_key_is_one_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    with HistoryStore(path) as store:
        store.append(snap(0), run_id="r1")
        store.append(snap(1, remaining=90), run_id="r2")
        _, changes = store.add(snap(1.5, remaining=85), run_id="r2")  # r2 records k1 again: replaced
        assert [(c.field, c.before, c.after) for c in changes] == [("balance.remaining", 100.0, 85.0)]
        assert [s.balance_remaining for s in store.snapshots()] == [100.0, 85.0]
        assert store.known("k1").balance_remaining == 85.0  # type: ignore[union-attr]


def test_prune_keeps_the_window_and_the_known_state(tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    with HistoryStore(path) as store:
        for s in (snap(0), snap(1, remaining=90), snap(2, remaining=80), snap(0, label="gone")):
            store.append(s)
        assert store.prune(T0.replace(day=2, hour=13)) == (3, 1)
        assert store.labels() == ["k1"] and store.known("gone") is None
        _, changes = store.add(snap(3, remaining=75))
        assert [(c.field, c.before, c.after) for c in changes] == [("balance.remaining", 80.0, 75.0)]
    # the first snapshot left shows no changes (they were against pruned ones)
    data = json.loads(b"".join(history_json_chunks(HistoryStore(path, read_only=True))))
    assert [c["before"] for c in data[0]["changes"]] == [80.0]


def test_history_never_imports_report() -> None:
    """Data flows one way: report reads the history, the history never reaches into report."""
    import ast

    import testkey_nb.history as history

    offenders = []
    for path in sorted(Path(history.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[:2] == ["testkey_nb", "report"]]
    assert offenders == []
