"""The history database: one DuckDB file of snapshots, with a schema version and its migrations.

Default place: ``<out>/.history/history.duckdb`` (folder mode 0700, file 0600). One writer: the
process that renders (the batch's parent, or the ``render`` command), never a kernel; a second one
gets :class:`HistoryError` ("another testkey-nb process is writing it"). It holds index rows, model
lists, limits, balances and daily usage figures; never a key, never a raw probe body.

Schema (version :data:`SCHEMA_VERSION`):

* ``schema_info(version, migrated_at)``;
* ``snapshots``: one row per snapshot: ``id``, ``label``, ``rendered_at`` (UTC), the index row's scalar
  columns, ``doc`` (the snapshot's ``history --json`` object, as JSON text), ``changes_json`` (its
  changes against what the key's earlier snapshots knew: the items of a JSON list, comma-joined; NULL
  for none) and ``n_changes``, the columns ``load()`` reads (``tpm_limit``, ``allowed_ids``,
  ``balance_remaining``, ``balance_used``, ``currency``, ``burn_per_day``, ``runway_days``,
  ``exhausted_at``) and ``run_id`` (the batch run that wrote it). The version-2 JSON columns
  (``row_json``, ``models``, ``limits``, ``balance``, ``identity``, ``usage_daily``, ``runway``) are
  kept for older rows and left null from version 3 on (``doc`` holds it all).
* ``known(label, rendered_at, run_id, state)``: per key, what its snapshots knew so far (the latest
  snapshot with the facets it could not read carried from earlier ones): the next snapshot is compared
  to it, so recording one snapshot reads one row.
* ``runs(run_id, pid, pid_started, started_at, finished_at)``: batch runs; a run whose process died
  before it finished is resumed by the next writer (the same round), see :meth:`HistoryStore.begin_run`.

Every write is one transaction. The idempotency key of a snapshot is ``(run_id, label)``: recording a
key again in the same run replaces its snapshot (a run killed after the history write and resumed does
not count the key twice). JSON is stored as text so no DuckDB extension is needed. Migrations run in
order when an older file is opened; a file newer than this code is refused with a clear error.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from testkey_nb.history.diff import Change, carry, changes_between
from testkey_nb.history.snapshot import ROW_SCALARS, ModelEntry, Snapshot, build_snapshot, parse_time

__all__ = ["HISTORY_DIR", "HISTORY_FILE", "SCHEMA_VERSION", "HistoryError", "HistoryStore", "default_history_path"]

HISTORY_DIR: Final = ".history"
HISTORY_FILE: Final = "history.duckdb"
SCHEMA_VERSION: Final = 3


class HistoryError(RuntimeError):
    """The history database cannot be used (locked by another writer, newer schema, not a database, disk full)."""


def default_history_path(out_dir: Path) -> Path:
    return Path(out_dir) / HISTORY_DIR / HISTORY_FILE


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
    """Version 3: queried in SQL, not parsed row by row: each snapshot's JSON document and its changes
    (computed once, when it is recorded), the columns ``load()`` reads, the run that wrote it, the
    ``known`` state per key and the ``runs`` table. Older rows are backfilled, key by key, in order."""
    con.execute("ALTER TABLE snapshots ADD COLUMN run_id VARCHAR")
    for name, kind in _V3_COLUMNS.items():
        con.execute(f"ALTER TABLE snapshots ADD COLUMN {name} {kind}")
    con.execute("CREATE TABLE known (label VARCHAR PRIMARY KEY, rendered_at TIMESTAMP NOT NULL, snapshot_id BIGINT, "
                "run_id VARCHAR, state VARCHAR NOT NULL)")  # fmt: skip
    con.execute("CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, pid INTEGER, pid_started DOUBLE, "
                "started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP)")  # fmt: skip
    rows = con.execute(
        "SELECT id, label, rendered_at, row_json, models, limits, balance, identity, usage_daily, runway "
        "FROM snapshots ORDER BY label, rendered_at, id"
    ).fetchall()
    updates: list[list[Any]] = []
    known: Snapshot | None = None
    for r in rows:
        snap = _snapshot_v2(r)
        if known is not None and known.label != snap.label:
            _put_known(con, known, None)
            known = None
        changes = changes_between(known, snap) if known is not None else []
        updates.append([snap.id, *_derived(snap, changes).values()])
        known = carry(known, snap)
    if known is not None:
        _put_known(con, known, None)
    if updates:
        names = ["id", *_V3_COLUMNS]
        con.execute("CREATE TEMP TABLE v3_fill (id BIGINT, " + ", ".join(f"{n} {_V3_COLUMNS[n]}" for n in names[1:])
                    + ")")  # fmt: skip
        con.executemany(f"INSERT INTO v3_fill VALUES ({', '.join('?' for _ in names)})", updates)
        sets = ", ".join(f"{n} = v3_fill.{n}" for n in names[1:])
        con.execute(f"UPDATE snapshots SET {sets} FROM v3_fill WHERE snapshots.id = v3_fill.id")
        con.execute("DROP TABLE v3_fill")


#: version -> the step that brings a database from version-1 to it.
MIGRATIONS: Final[dict[int, Callable[[Any], None]]] = {1: _v1, 2: _v2, 3: _v3}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def _loads(value: Any) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


def _naive(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _snapshot_v2(r: Sequence[Any]) -> Snapshot:
    """A snapshot from its version-2 columns (the migration to version 3 reads these)."""
    snap_id, label, rendered_at, row_json, models, limits, balance, identity, usage_daily, runway = r
    row = _loads(row_json) or {}
    facts = {
        "models": _loads(models),
        "limits": [{"scope": k, **v} for k, v in (_loads(limits) or {}).items() if isinstance(v, dict)],
        "balance": _loads(balance),
        "identity": _loads(identity),
        "usage_daily": _loads(usage_daily),
    }
    snap = build_snapshot({"label": label, **{k: row.get(k) for k in ROW_SCALARS}, "error": None}, facts,
                          rendered_at=_aware(rendered_at))  # fmt: skip
    snap = Snapshot(**{**snap.__dict__, "row": {k: row.get(k) for k in ROW_SCALARS}, "id": int(snap_id)})
    if snap.models is not None:
        snap = Snapshot(**{**snap.__dict__, "models": tuple(m for m in snap.models if isinstance(m, ModelEntry))})
    runway_value = _loads(runway)
    return snap.with_runway(runway_value if isinstance(runway_value, dict) else None)


def _derived(snap: Snapshot, changes: Sequence[Change]) -> dict[str, Any]:
    """The version-3 columns of one snapshot (in :data:`_V3_COLUMNS` order)."""
    runway = snap.runway or {}
    balance = snap.balance or {}
    exhausted = parse_time(runway.get("exhausted_at"))
    used = balance.get("used")
    return {
        "doc": _dumps(snap.to_json()),
        "changes_json": ",".join(_dumps(c.as_dict()) for c in changes) or None,
        "n_changes": len(changes),
        "tpm_limit": (snap.limits.get("tokens_per_minute") or {}).get("value"),
        "allowed_ids": list(snap.allowed_ids) if snap.allowed_ids is not None else None,
        "balance_used": float(used) if isinstance(used, (int, float)) and not isinstance(used, bool) else None,
        "currency": balance.get("currency") if snap.balance is not None else None,
        "burn_per_day": runway.get("burn_per_day"),
        "runway_days": runway.get("runway_days"),
        "exhausted_at": _naive(exhausted) if exhausted is not None else None,
    }


def _put_known(con: Any, known: Snapshot, run_id: str | None) -> None:
    state = _dumps({**known.to_json(), "id": known.id})
    con.execute("INSERT OR REPLACE INTO known VALUES (?, ?, ?, ?, ?)",
                [known.label, _naive(known.rendered_at), known.id, run_id, state])  # fmt: skip


def _from_doc(snap_id: Any, label: str, doc: str) -> Snapshot:
    data = json.loads(doc)
    return Snapshot(**{**Snapshot.from_json(label, data).__dict__, "id": int(snap_id) if snap_id is not None else None})


def _process_started(pid: int) -> float | None:
    """When process ``pid`` started (unix time), or None if there is no such process."""
    try:
        import psutil

        return float(psutil.Process(pid).create_time())
    except ImportError:  # pragma: no cover - psutil is a dependency
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return 0.0
        return 0.0
    except Exception:  # psutil.NoSuchProcess, AccessDenied, ZombieProcess
        return None


def _disk_full(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "no space left" in text or "disk full" in text or getattr(exc, "errno", None) in (28, 122)


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
        with self.transaction():
            if version == 0:
                self._con.execute("CREATE TABLE schema_info (version INTEGER NOT NULL, migrated_at TIMESTAMP)")
            for step in range(version + 1, target + 1):
                MIGRATIONS[step](self._con)
                self._con.execute("INSERT INTO schema_info VALUES (?, ?)", [step, _naive(datetime.now(UTC))])
        return target

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """One transaction: all of it is written, or none of it (a full disk loses nothing already written)."""
        self._con.execute("BEGIN TRANSACTION")
        try:
            yield self._con
            self._con.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(Exception):
                self._con.execute("ROLLBACK")
            if _disk_full(exc):
                raise HistoryError(f"the disk is full: cannot write the history {self.path}") from None
            raise

    def _writable(self) -> None:
        if self.read_only:
            raise HistoryError("the history was opened read-only")
        if self.version < SCHEMA_VERSION:
            raise HistoryError(f"the history has schema version {self.version}, not {SCHEMA_VERSION}")

    # runs -------------------------------------------------------------------------------------------
    def begin_run(self) -> tuple[str, bool]:
        """A run id for this process: the unfinished run of a process that died (resumed: ``True``), or a new one."""
        self._writable()
        pid, started = os.getpid(), _process_started(os.getpid())
        with self.transaction() as con:
            open_runs = con.execute("SELECT run_id, pid, pid_started FROM runs WHERE finished_at IS NULL "
                                    "ORDER BY started_at DESC").fetchall()  # fmt: skip
            dead = [r[0] for r in open_runs if not self._alive(r[1], r[2])]
            if dead:
                run_id = dead[0]
                con.execute("UPDATE runs SET pid = ?, pid_started = ? WHERE run_id = ?", [pid, started, run_id])
                for abandoned in dead[1:]:  # older rounds nobody will finish
                    con.execute("UPDATE runs SET finished_at = started_at WHERE run_id = ?", [abandoned])
                return run_id, True
            run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
            con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, NULL)", [run_id, pid, started, _naive(datetime.now(UTC))])
        return run_id, False

    @staticmethod
    def _alive(pid: Any, pid_started: Any) -> bool:
        if not isinstance(pid, int) or pid <= 0:
            return False
        started = _process_started(pid)
        if started is None:
            return False
        return pid_started is None or started == 0.0 or abs(started - float(pid_started)) < 1.0

    def finish_run(self, run_id: str) -> None:
        with self.transaction() as con:
            con.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", [_naive(datetime.now(UTC)), run_id])

    # writing ----------------------------------------------------------------------------------------
    def known(self, label: str) -> Snapshot | None:
        """What ``label``'s snapshots knew so far (the latest, with earlier facets carried), or None."""
        row = self._con.execute("SELECT snapshot_id, state FROM known WHERE label = ?", [label]).fetchone()
        return _from_doc(row[0], label, row[1]) if row else None

    def append(self, snap: Snapshot, *, run_id: str | None = None) -> Snapshot:
        """Add one snapshot (one transaction); returns it with its id. See :meth:`add`."""
        return self.add(snap, run_id=run_id)[0]

    def add(self, snap: Snapshot, *, run_id: str | None = None) -> tuple[Snapshot, list[Change]]:
        """Add one snapshot and its changes against what the key's earlier snapshots knew.

        With ``run_id``, a snapshot of the same key from the same run is replaced (the idempotency key).
        A snapshot older than the key's latest one is put in its place (its key's changes are redone).
        """
        self._writable()
        with self.transaction() as con:
            row = con.execute("SELECT rendered_at, run_id FROM known WHERE label = ?", [snap.label]).fetchone()
            replaced = bool(run_id) and row is not None and row[1] == run_id
            if replaced:
                con.execute("DELETE FROM snapshots WHERE label = ? AND run_id = ?", [snap.label, run_id])
            in_order = row is None or (not replaced and _aware(row[0]) <= snap.rendered_at)
            known = self.known(snap.label) if in_order and row is not None else None
            changes = changes_between(known, snap) if known is not None else []
            snap_id = self._insert(snap, changes, run_id)
            stored = Snapshot(**{**snap.__dict__, "id": snap_id})
            if in_order:
                _put_known(con, carry(known, stored), run_id)
            else:
                changes = self._redo(snap.label, snap_id)
        return stored, changes

    def _insert(self, snap: Snapshot, changes: Sequence[Change], run_id: str | None) -> int:
        derived = _derived(snap, changes)
        names = ["label", "rendered_at", *_COLUMNS, "balance_remaining", "run_id", *derived]
        values = [snap.label, _naive(snap.rendered_at), *(snap.row.get(n) for n in _COLUMNS), snap.balance_remaining,
                  run_id, *derived.values()]  # fmt: skip
        marks = ", ".join("?" for _ in names)
        row = self._con.execute(f"INSERT INTO snapshots ({', '.join(names)}) VALUES ({marks}) RETURNING id",
                                values).fetchone()  # fmt: skip
        return int(row[0]) if row else 0

    def _redo(self, label: str, snap_id: int) -> list[Change]:
        """Recompute one key's changes and known state, in order (a snapshot came out of order or was replaced)."""
        rows = self._con.execute("SELECT id, doc, run_id FROM snapshots WHERE label = ? ORDER BY rendered_at, id",
                                 [label]).fetchall()  # fmt: skip
        known: Snapshot | None = None
        mine: list[Change] = []
        updates = []
        for sid, doc, run in rows:
            snap = _from_doc(sid, label, doc)
            changes = changes_between(known, snap) if known is not None else []
            if sid == snap_id:
                mine = changes
            updates.append([",".join(_dumps(c.as_dict()) for c in changes) or None, len(changes), sid])
            known = carry(known, snap)
            last_run = run
        self._con.executemany("UPDATE snapshots SET changes_json = ?, n_changes = ? WHERE id = ?", updates)
        if known is not None:
            _put_known(self._con, known, last_run)
        return mine

    def prune(self, before: datetime) -> tuple[int, int]:
        """Delete the snapshots taken before ``before`` (retention); returns (deleted, kept)."""
        self._writable()
        cutoff = _naive(before)
        with self.transaction() as con:
            deleted = con.execute("SELECT count(*) FROM snapshots WHERE rendered_at < ?", [cutoff]).fetchone()
            con.execute("DELETE FROM snapshots WHERE rendered_at < ?", [cutoff])
            con.execute("DELETE FROM known WHERE label NOT IN (SELECT DISTINCT label FROM snapshots)")
            con.execute("DELETE FROM runs WHERE finished_at IS NOT NULL AND finished_at < ?", [cutoff])
            kept = con.execute("SELECT count(*) FROM snapshots").fetchone()
        with contextlib.suppress(Exception):
            self._con.execute("CHECKPOINT")  # the freed blocks are reused by the next writes
        return int(deleted[0] if deleted else 0), int(kept[0] if kept else 0)

    # reading ----------------------------------------------------------------------------------------
    def labels(self) -> list[str]:
        return [r[0] for r in self._con.execute("SELECT DISTINCT label FROM snapshots ORDER BY label").fetchall()]

    def where(self, labels: Iterable[str] | None = None, since: datetime | None = None) -> tuple[str, list[Any]]:
        """A SQL ``WHERE`` clause (or ``""``) and its parameters for ``labels`` and ``since``."""
        where, params = [], []
        if labels is not None:
            wanted = list(labels)
            where.append(f"label IN ({', '.join('?' for _ in wanted)})" if wanted else "FALSE")
            params.extend(wanted)
        if since is not None:
            where.append("rendered_at >= ?")
            params.append(_naive(since))
        return ("WHERE " + " AND ".join(where)) if where else "", params

    def query(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run a read query on the database (the ``history`` readers' SQL)."""
        return self._con.execute(sql, list(params))

    def snapshots(self, labels: Iterable[str] | None = None, *, since: datetime | None = None) -> list[Snapshot]:
        """Snapshots (of ``labels``, or all; at or after ``since``), by label then time."""
        where, params = self.where(labels, since)
        sql = f"SELECT id, label, doc FROM snapshots {where} ORDER BY label, rendered_at, id"
        return [_from_doc(*r) for r in self._con.execute(sql, params).fetchall()]

    def last(self, label: str, limit: int = 1) -> list[Snapshot]:
        """The latest ``limit`` snapshots of ``label``, oldest first."""
        rows = self._con.execute(
            "SELECT id, label, doc FROM snapshots WHERE label = ? ORDER BY rendered_at DESC, id DESC LIMIT ?",
            [label, limit],
        ).fetchall()
        return [_from_doc(*r) for r in reversed(rows)]

    def balances(self, label: str, limit: int = 200) -> list[Snapshot]:
        """The latest ``limit`` snapshots of ``label`` that knew a balance, reduced to their time and
        balance (what the runway from consecutive balances reads), oldest first."""
        rows = self._con.execute(
            "SELECT id, rendered_at, balance_remaining, currency FROM snapshots WHERE label = ? AND "
            "balance_remaining IS NOT NULL ORDER BY rendered_at DESC, id DESC LIMIT ?",
            [label, limit],
        ).fetchall()
        return [Snapshot(label, _aware(at), {}, balance={"remaining": value, "currency": currency}, id=int(sid))
                for sid, at, value, currency in reversed(rows)]  # fmt: skip

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
