"""The history table's layout, its migrations and the helpers that turn a snapshot into a row.

``store`` opens the database and runs :data:`MIGRATIONS` in order; see its docstring for the schema.
Names without a leading underscore (and ``table_row``, ``write_known``) are shared with ``store`` and
the benchmark that bulk-loads a database.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from testkey_nb.history.diff import Change, carry, changes_between
from testkey_nb.history.snapshot import ROW_SCALARS, ModelEntry, Snapshot, build_snapshot, parse_time

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "aware", "dumps", "from_doc", "insert_rows", "naive", "table_row",
           "write_known"]  # fmt: skip

SCHEMA_VERSION: Final = 3

_COLUMNS: Final = {
    "provider": "VARCHAR", "confidence": "DOUBLE", "claimed": "VARCHAR", "matches_claim": "BOOLEAN",
    "key_valid": "BOOLEAN", "status": "VARCHAR", "status_reason": "VARCHAR", "verdict": "VARCHAR",
    "verdict_summary": "VARCHAR", "allowed_models": "BIGINT", "priced_models": "BIGINT",
    "tokens_per_minute": "DOUBLE", "token_role": "VARCHAR", "probe_requests": "BIGINT", "report": "VARCHAR",
    "error": "VARCHAR",
}  # fmt: skip
#: Columns added by version 3 (besides ``run_id``), filled from the snapshot by :func:`_derived`.
_V3_COLUMNS: Final = {
    "doc": "VARCHAR", "changes_json": "VARCHAR", "n_changes": "INTEGER", "tpm_limit": "DOUBLE",
    "allowed_ids": "VARCHAR[]", "balance_used": "DOUBLE", "currency": "VARCHAR", "burn_per_day": "DOUBLE",
    "runway_days": "DOUBLE", "exhausted_at": "TIMESTAMP",
}  # fmt: skip


#: The version-3 table, column by column.
_TABLE: Final = {
    "id": "BIGINT NOT NULL", "label": "VARCHAR NOT NULL", "rendered_at": "TIMESTAMP NOT NULL", **_COLUMNS,
    "balance_remaining": "DOUBLE", "run_id": "VARCHAR", **_V3_COLUMNS,
}  # fmt: skip


def _v1(con: Any) -> None:
    """Version 1: the snapshots as first recorded (row scalars, models, limits, balance)."""
    cols = ", ".join(f"{name} {kind}" for name, kind in _COLUMNS.items())
    con.execute("CREATE SEQUENCE IF NOT EXISTS snapshot_id START 1")
    con.execute(
        "CREATE TABLE snapshots (id BIGINT PRIMARY KEY DEFAULT nextval('snapshot_id'), label VARCHAR NOT NULL, "
        f"rendered_at TIMESTAMP NOT NULL, {cols}, row_json VARCHAR, models VARCHAR, limits VARCHAR, "
        "balance VARCHAR)"
    )
    con.execute("CREATE INDEX snapshots_label ON snapshots (label, rendered_at)")


def _v2(con: Any) -> None:
    """Version 2: identity, daily usage and runway per snapshot, and the remaining balance as a column
    (backfilled from the balance JSON) so the fleet's money can be queried without parsing JSON."""
    for name, kind in (("identity", "VARCHAR"), ("usage_daily", "VARCHAR"), ("runway", "VARCHAR"),
                       ("balance_remaining", "DOUBLE")):  # fmt: skip
        con.execute(f"ALTER TABLE snapshots ADD COLUMN {name} {kind}")
    rows = con.execute("SELECT id, balance FROM snapshots WHERE balance IS NOT NULL").fetchall()
    for snap_id, balance in rows:
        try:
            remaining = json.loads(balance).get("remaining")
        except (ValueError, AttributeError):
            remaining = None
        if isinstance(remaining, (int, float)) and not isinstance(remaining, bool):
            con.execute("UPDATE snapshots SET balance_remaining = ? WHERE id = ?", [float(remaining), snap_id])


def _v3(con: Any) -> None:
    """Version 3: queried in SQL, not parsed row by row: the table is rebuilt (no primary key, no index)
    with each snapshot's JSON document and its changes (computed once, when it is recorded), the columns
    ``load()`` reads and the run that wrote it; the ``known`` state per key and the ``runs`` table.
    Older rows are carried over key by key, in order, through one bulk insert."""
    rows = con.execute(
        "SELECT id, label, rendered_at, row_json, models, limits, balance, identity, usage_daily, runway "
        "FROM snapshots ORDER BY label, rendered_at, id"
    ).fetchall()
    con.execute("DROP TABLE snapshots")
    cols = ", ".join(f"{name} {kind}" for name, kind in _TABLE.items())
    con.execute(f"CREATE TABLE snapshots ({cols})")
    con.execute("CREATE TABLE known (label VARCHAR NOT NULL, rendered_at TIMESTAMP NOT NULL, snapshot_id BIGINT, "
                "run_id VARCHAR, state VARCHAR NOT NULL)")  # fmt: skip
    con.execute("CREATE TABLE runs (run_id VARCHAR NOT NULL, pid INTEGER, pid_started DOUBLE, "
                "started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP)")  # fmt: skip
    out: list[dict[str, Any]] = []
    knowns: list[Snapshot] = []
    known: Snapshot | None = None
    for r in rows:
        snap = _snapshot_v2(r)
        if known is not None and known.label != snap.label:
            knowns.append(known)
            known = None
        changes = changes_between(known, snap) if known is not None else []
        out.append(table_row(snap, changes, None))
        known = carry(known, snap)
    if known is not None:
        knowns.append(known)
    insert_rows(con, out)
    write_known(con, [(k, None) for k in knowns])


#: version -> the step that brings a database from version-1 to it.
MIGRATIONS: Final[dict[int, Callable[[Any], None]]] = {1: _v1, 2: _v2, 3: _v3}


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def loads(value: Any) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


def naive(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


def aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _snapshot_v2(r: Sequence[Any]) -> Snapshot:
    """A snapshot from its version-2 columns (the migration to version 3 reads these)."""
    snap_id, label, rendered_at, row_json, models, limits, balance, identity, usage_daily, runway = r
    row = loads(row_json) or {}
    facts = {
        "models": loads(models),
        "limits": [{"scope": k, **v} for k, v in (loads(limits) or {}).items() if isinstance(v, dict)],
        "balance": loads(balance),
        "identity": loads(identity),
        "usage_daily": loads(usage_daily),
    }
    snap = build_snapshot({"label": label, **{k: row.get(k) for k in ROW_SCALARS}, "error": None}, facts,
                          rendered_at=aware(rendered_at))  # fmt: skip
    snap = Snapshot(**{**snap.__dict__, "row": {k: row.get(k) for k in ROW_SCALARS}, "id": int(snap_id)})
    if snap.models is not None:
        snap = Snapshot(**{**snap.__dict__, "models": tuple(m for m in snap.models if isinstance(m, ModelEntry))})
    runway_value = loads(runway)
    return snap.with_runway(runway_value if isinstance(runway_value, dict) else None)


def _derived(snap: Snapshot, changes: Sequence[Change]) -> dict[str, Any]:
    """The version-3 columns of one snapshot (in :data:`_V3_COLUMNS` order)."""
    runway = snap.runway or {}
    balance = snap.balance or {}
    exhausted = parse_time(runway.get("exhausted_at"))
    used = balance.get("used")
    return {
        "doc": dumps(snap.to_json()),
        "changes_json": ",".join(dumps(c.as_dict()) for c in changes) or None,
        "n_changes": len(changes),
        "tpm_limit": (snap.limits.get("tokens_per_minute") or {}).get("value"),
        "allowed_ids": list(snap.allowed_ids) if snap.allowed_ids is not None else None,
        "balance_used": float(used) if isinstance(used, (int, float)) and not isinstance(used, bool) else None,
        "currency": balance.get("currency") if snap.balance is not None else None,
        "burn_per_day": runway.get("burn_per_day"),
        "runway_days": runway.get("runway_days"),
        "exhausted_at": naive(exhausted) if exhausted is not None else None,
    }


def table_row(snap: Snapshot, changes: Sequence[Change], run_id: str | None) -> dict[str, Any]:
    """One ``snapshots`` row (``snap.id`` must be set), in :data:`_TABLE` order."""
    return {"id": snap.id, "label": snap.label, "rendered_at": naive(snap.rendered_at),
            **{n: snap.row.get(n) for n in _COLUMNS}, "balance_remaining": snap.balance_remaining,
            "run_id": run_id, **_derived(snap, changes)}  # fmt: skip


def _polars_type(kind: str) -> Any:
    import polars as pl

    base = kind.split()[0]
    return {"BIGINT": pl.Int64(), "INTEGER": pl.Int32(), "DOUBLE": pl.Float64(), "BOOLEAN": pl.Boolean(),
            "TIMESTAMP": pl.Datetime("us"), "VARCHAR[]": pl.List(pl.String())}.get(base, pl.String())  # fmt: skip


def insert_rows(con: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Many ``snapshots`` rows (from :func:`_table_row`) in one ``INSERT`` through a private Parquet file."""
    if not rows:
        return
    import polars as pl

    schema = {name: _polars_type(kind) for name, kind in _TABLE.items()}
    frame = pl.DataFrame({name: [r[name] for r in rows] for name in _TABLE}, schema=schema)
    with tempfile.TemporaryDirectory(prefix="testkey-nb-history-") as tmp:
        target = (Path(tmp) / "rows.parquet").as_posix()
        frame.write_parquet(target)
        names = ", ".join(_TABLE)
        quoted = target.replace("'", "''")
        con.execute(f"INSERT INTO snapshots ({names}) SELECT {names} FROM read_parquet('{quoted}')")


def write_known(con: Any, knowns: Sequence[tuple[Snapshot, str | None]]) -> None:
    """Replace the known state of these keys (inside the caller's transaction)."""
    if not knowns:
        return
    labels = [k.label for k, _ in knowns]
    con.execute(f"DELETE FROM known WHERE label IN ({', '.join('?' for _ in labels)})", labels)
    con.executemany("INSERT INTO known VALUES (?, ?, ?, ?, ?)",
                    [[k.label, naive(k.rendered_at), k.id, run, dumps({**k.to_json(), "id": k.id})]
                     for k, run in knowns])  # fmt: skip


def from_doc(snap_id: Any, label: str, doc: str) -> Snapshot:
    data = json.loads(doc)
    return Snapshot(**{**Snapshot.from_json(label, data).__dict__, "id": int(snap_id) if snap_id is not None else None})
