"""The history database: one DuckDB file of snapshots, with a schema version and its migrations.

Default place: ``<out>/.history/history.duckdb`` (folder mode 0700, file 0600). One writer: the
process that renders (the batch's parent, or the ``render`` command), never a kernel. It holds index
rows, model lists, limits, balances and daily usage figures; never a key, never a raw probe body.

Schema (version :data:`SCHEMA_VERSION`): ``schema_info(version)`` and ``snapshots(id, label,
rendered_at, the index row's scalar columns, row_json, models, limits, balance, identity, usage_daily,
runway, balance_remaining)``; JSON is stored as text so no DuckDB extension is needed. Migrations run
in order when an older file is opened; a file newer than this code is refused with a clear error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from testkey_nb.history.snapshot import ROW_SCALARS, ModelEntry, Snapshot, build_snapshot

__all__ = ["HISTORY_DIR", "HISTORY_FILE", "SCHEMA_VERSION", "HistoryError", "HistoryStore", "default_history_path"]

HISTORY_DIR: Final = ".history"
HISTORY_FILE: Final = "history.duckdb"
SCHEMA_VERSION: Final = 2


class HistoryError(RuntimeError):
    """The history database cannot be used (locked by another writer, newer schema, not a database)."""


def default_history_path(out_dir: Path) -> Path:
    return Path(out_dir) / HISTORY_DIR / HISTORY_FILE


_COLUMNS: Final = {
    "provider": "VARCHAR", "confidence": "DOUBLE", "claimed": "VARCHAR", "matches_claim": "BOOLEAN",
    "key_valid": "BOOLEAN", "status": "VARCHAR", "status_reason": "VARCHAR", "verdict": "VARCHAR",
    "verdict_summary": "VARCHAR", "allowed_models": "BIGINT", "priced_models": "BIGINT",
    "tokens_per_minute": "DOUBLE", "token_role": "VARCHAR", "probe_requests": "BIGINT", "report": "VARCHAR",
    "error": "VARCHAR",
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


#: version -> the step that brings a database from version-1 to it.
MIGRATIONS: Final[dict[int, Callable[[Any], None]]] = {1: _v1, 2: _v2}


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def _loads(value: Any) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


class HistoryStore:
    """A history database. ``read_only`` opens an existing file for reading (``history``, ``load``)."""

    def __init__(self, path: Path, *, read_only: bool = False, target_version: int = SCHEMA_VERSION) -> None:
        import duckdb

        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.is_file():
            raise HistoryError(f"no history at {self.path}")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.parent.name == HISTORY_DIR:
                os.chmod(self.path.parent, 0o700)
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only)
        except (duckdb.IOException, duckdb.Error) as exc:
            message = " ".join(str(exc).split())
            if "lock" in message.lower():
                message = "another testkey-nb process is writing it (one writer at a time)"
            raise HistoryError(f"cannot open the history {self.path}: {message}") from None
        if not read_only:
            os.chmod(self.path, 0o600)
        try:
            self.version = self._migrate(target_version)
        except Exception:
            self._con.close()
            raise

    # schema -----------------------------------------------------------------------------------------
    def _current_version(self) -> int:
        tables = {r[0] for r in self._con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "schema_info" not in tables:
            if "snapshots" in tables:
                raise HistoryError(f"{self.path} has a snapshots table but no schema version")
            return 0
        row = self._con.execute("SELECT max(version) FROM schema_info").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _migrate(self, target: int) -> int:
        version = self._current_version()
        if version > SCHEMA_VERSION:
            raise HistoryError(
                f"the history {self.path} has schema version {version}; this testkey-nb reads up to "
                f"{SCHEMA_VERSION} (upgrade testkey-nb)"
            )
        if version >= target:
            return version
        if self.read_only:
            raise HistoryError(f"the history {self.path} has schema version {version}: open it for writing once "
                               "(any render with history) to migrate it")  # fmt: skip
        self._con.execute("BEGIN TRANSACTION")
        try:
            if version == 0:
                self._con.execute("CREATE TABLE schema_info (version INTEGER NOT NULL, migrated_at TIMESTAMP)")
            for step in range(version + 1, target + 1):
                MIGRATIONS[step](self._con)
                now = datetime.now(UTC).replace(tzinfo=None)
                self._con.execute("INSERT INTO schema_info VALUES (?, ?)", [step, now])
            self._con.execute("COMMIT")
        except Exception:
            self._con.execute("ROLLBACK")
            raise
        return target

    # writing ----------------------------------------------------------------------------------------
    def append(self, snap: Snapshot) -> Snapshot:
        """Add one snapshot; returns it with its id."""
        if self.read_only:
            raise HistoryError("the history was opened read-only")
        if self.version < SCHEMA_VERSION:
            raise HistoryError(f"the history has schema version {self.version}, not {SCHEMA_VERSION}")
        values = [snap.label, snap.rendered_at.astimezone(UTC).replace(tzinfo=None)]
        values += [snap.row.get(name) for name in _COLUMNS]
        values += [
            # key_usage (issue 21) rides in row_json: no schema migration for one optional object
            _dumps({**snap.row, "key_usage": dict(snap.key_usage) if snap.key_usage is not None else None}),
            _dumps([m.as_dict() for m in snap.models] if snap.models is not None else None),
            _dumps({k: dict(v) for k, v in snap.limits.items()}),
            _dumps(dict(snap.balance) if snap.balance is not None else None),
            _dumps(dict(snap.identity) if snap.identity is not None else None),
            _dumps([dict(d) for d in snap.usage_daily] if snap.usage_daily is not None else None),
            _dumps(dict(snap.runway) if snap.runway is not None else None),
            snap.balance_remaining,
        ]
        names = ["label", "rendered_at", *_COLUMNS, "row_json", "models", "limits", "balance", "identity",
                 "usage_daily", "runway", "balance_remaining"]  # fmt: skip
        marks = ", ".join("?" for _ in names)
        row = self._con.execute(
            f"INSERT INTO snapshots ({', '.join(names)}) VALUES ({marks}) RETURNING id", values
        ).fetchone()
        return Snapshot(**{**snap.__dict__, "id": int(row[0]) if row else None})

    # reading ----------------------------------------------------------------------------------------
    def labels(self) -> list[str]:
        return [r[0] for r in self._con.execute("SELECT DISTINCT label FROM snapshots ORDER BY label").fetchall()]

    def snapshots(self, labels: Iterable[str] | None = None, *, since: datetime | None = None) -> list[Snapshot]:
        """Snapshots (of ``labels``, or all; at or after ``since``), by label then time."""
        where, params = [], []
        wanted = list(labels) if labels is not None else None
        if wanted is not None:
            if not wanted:
                return []
            where.append(f"label IN ({', '.join('?' for _ in wanted)})")
            params.extend(wanted)
        if since is not None:
            where.append("rendered_at >= ?")
            params.append(since.astimezone(UTC).replace(tzinfo=None))
        sql = (
            "SELECT id, label, rendered_at, row_json, models, limits, balance, identity, usage_daily, runway "
            f"FROM snapshots {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY label, rendered_at, id"
        )
        return [self._snapshot(r) for r in self._con.execute(sql, params).fetchall()]

    def last(self, label: str, limit: int = 1) -> list[Snapshot]:
        """The latest ``limit`` snapshots of ``label``, oldest first."""
        rows = self._con.execute(
            "SELECT id, label, rendered_at, row_json, models, limits, balance, identity, usage_daily, runway "
            "FROM snapshots WHERE label = ? ORDER BY rendered_at DESC, id DESC LIMIT ?",
            [label, limit],
        ).fetchall()
        return [self._snapshot(r) for r in reversed(rows)]

    @staticmethod
    def _snapshot(r: Sequence[Any]) -> Snapshot:
        snap_id, label, rendered_at, row_json, models, limits, balance, identity, usage_daily, runway = r
        row = _loads(row_json) or {}
        facts = {
            "models": _loads(models),
            "limits": [{"scope": k, **v} for k, v in (_loads(limits) or {}).items() if isinstance(v, dict)],
            "balance": _loads(balance),
            "identity": _loads(identity),
            "usage_daily": _loads(usage_daily),
            "key_usage": row.get("key_usage"),
        }
        at = rendered_at.replace(tzinfo=UTC) if rendered_at.tzinfo is None else rendered_at.astimezone(UTC)
        snap = build_snapshot({"label": label, **{k: row.get(k) for k in ROW_SCALARS}, "error": None}, facts,
                              rendered_at=at)  # fmt: skip
        snap = Snapshot(**{**snap.__dict__, "row": {k: row.get(k) for k in ROW_SCALARS}, "id": int(snap_id)})
        if snap.models is not None:
            snap = Snapshot(**{**snap.__dict__, "models": tuple(m for m in snap.models if isinstance(m, ModelEntry))})
        runway_value = _loads(runway)
        return snap.with_runway(runway_value if isinstance(runway_value, dict) else None)

    # lifecycle --------------------------------------------------------------------------------------
    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()

    def __repr__(self) -> str:
        return f"HistoryStore({str(self.path)!r}, version={self.version})"
