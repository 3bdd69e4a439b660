"""The history database: one DuckDB file of snapshots, with a schema version and its migrations.

Default place: ``<out>/.history/history.duckdb`` (folder mode 0700, file 0600). One writer: the
process that renders (the batch's parent, or the ``render`` command), never a kernel; a second one
gets :class:`HistoryError` ("another testkey-nb process is writing it"). It holds index rows, model
lists, limits, balances and daily usage figures; never a key, never a raw probe body.

Schema (version :data:`SCHEMA_VERSION`):

* ``schema_info(version, migrated_at)``;
* ``snapshots``: one row per snapshot: ``id``, ``label``, ``rendered_at`` (UTC), the index row's scalar
  columns, ``balance_remaining``, ``run_id`` (the batch run that wrote it), ``doc`` (the snapshot's
  ``history --json`` object, as JSON text), ``changes_json`` (its changes against what the key's
  earlier snapshots knew: the items of a JSON list, comma-joined; NULL for none), ``n_changes`` and the
  columns ``load()`` reads (``tpm_limit``, ``allowed_ids``, ``balance_used``, ``currency``,
  ``burn_per_day``, ``runway_days``, ``exhausted_at``). No index: DuckDB scans columns (an index
  would cost an insert more than it saves a query here).
* ``known(label, rendered_at, snapshot_id, run_id, state)``: per key, what its snapshots knew up to
  ``snapshot_id`` (the latest snapshot with the facets it could not read carried from earlier ones):
  the next snapshot is compared to it. The writer keeps it in memory and writes it back when it closes;
  a writer that died leaves it behind by a few snapshots, which the next one carries over.
* ``runs(run_id, pid, pid_started, started_at, finished_at)``: batch runs; a run whose process died
  before it finished is resumed by the next writer (the same round), see :meth:`HistoryStore.begin_run`.

Every write is one transaction (recording a snapshot: one ``INSERT``). The idempotency key of a
snapshot is ``(run_id, label)``: recording a key again in the same run replaces its snapshot (a run
killed after the history write and resumed does not count the key twice). JSON is stored as text so no
DuckDB extension is needed. Migrations (``schema``) run in order when an older file is opened; a file
newer than this code is refused with a clear error.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from testkey_nb._files import disk_full
from testkey_nb._procs import process_started
from testkey_nb.history.diff import Change, carry, changes_between
from testkey_nb.history.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    aware,
    dumps,
    from_doc,
    naive,
    table_row,
    write_known,
)
from testkey_nb.history.snapshot import Snapshot

__all__ = ["HISTORY_DIR", "HISTORY_FILE", "SCHEMA_VERSION", "HistoryError", "HistoryStore", "default_history_path"]

HISTORY_DIR: Final = ".history"
HISTORY_FILE: Final = "history.duckdb"

log = logging.getLogger(__name__)


class HistoryError(RuntimeError):
    """The history database cannot be used (locked by another writer, newer schema, not a database, disk full)."""


def default_history_path(out_dir: Path) -> Path:
    return Path(out_dir) / HISTORY_DIR / HISTORY_FILE


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
        with contextlib.suppress(duckdb.Error):  # in Jupyter DuckDB refuses the setting (its bar is a widget there)
            self._con.execute("SET enable_progress_bar = false")  # a long query must not print into stdout
        self._known: dict[str, tuple[Snapshot, str | None] | None] | None = None
        self._dirty: set[str] = set()
        self._next_id: int | None = None
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
                self._con.execute("INSERT INTO schema_info VALUES (?, ?)", [step, naive(datetime.now(UTC))])
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
            if disk_full(exc):
                full = HistoryError(f"the disk is full: cannot write the history {self.path}")
                full.errno = errno.ENOSPC  # type: ignore[attr-defined]  # disk_full() knows it again upstream
                raise full from None
            raise

    def _writable(self) -> None:
        if self.read_only:
            raise HistoryError("the history was opened read-only")
        if self.version < SCHEMA_VERSION:
            raise HistoryError(f"the history has schema version {self.version}, not {SCHEMA_VERSION}")

    # runs -------------------------------------------------------------------------------------------
    def begin_run(self) -> tuple[str, bool]:
        """A run id for this process: the unfinished run of a process that died, or of this process (resumed:
        ``True``), or a new one. A run is finished by :meth:`finish_run` (a batch that ran to its end)."""
        self._writable()
        pid, started = os.getpid(), process_started(os.getpid())
        with self.transaction() as con:
            open_runs = con.execute("SELECT run_id, pid, pid_started FROM runs WHERE finished_at IS NULL "
                                    "ORDER BY started_at DESC").fetchall()  # fmt: skip
            # the process that ran it died, or it is this one (its earlier run in this process ended unfinished)
            dead = [r[0] for r in open_runs if r[1] == pid or not self._alive(r[1], r[2])]
            if dead:
                run_id = dead[0]
                con.execute("UPDATE runs SET pid = ?, pid_started = ? WHERE run_id = ?", [pid, started, run_id])
                for abandoned in dead[1:]:  # older rounds nobody will finish
                    con.execute("UPDATE runs SET finished_at = started_at WHERE run_id = ?", [abandoned])
                return run_id, True
            run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
            con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, NULL)", [run_id, pid, started, naive(datetime.now(UTC))])
        return run_id, False

    @staticmethod
    def _alive(pid: Any, pid_started: Any) -> bool:
        if not isinstance(pid, int) or pid <= 0:
            return False
        started = process_started(pid)
        if started is None:
            return False
        return pid_started is None or started == 0.0 or abs(started - float(pid_started)) < 1.0

    def finish_run(self, run_id: str) -> None:
        self.flush()
        with self.transaction() as con:
            con.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", [naive(datetime.now(UTC)), run_id])

    # writing ----------------------------------------------------------------------------------------
    def _entry(self, label: str) -> tuple[Snapshot, str | None] | None:
        """``label``'s known state and the run of its latest snapshot (read once, then kept in memory)."""
        if self._known is None:  # first use: fold in what a writer that died did not write back
            self._known = {}
            newer = self._con.execute(
                "SELECT s.id, s.label, s.doc, s.run_id FROM snapshots s LEFT JOIN known k ON s.label = k.label "
                "WHERE k.snapshot_id IS NULL OR s.id > k.snapshot_id ORDER BY s.label, s.rendered_at, s.id"
            ).fetchall()
            for snap_id, name, doc, run_id in newer:
                before = self._known[name] if name in self._known else self._stored(name)
                self._known[name] = (carry(before[0] if before else None, from_doc(snap_id, name, doc)), run_id)
                self._dirty.add(name)
        if label not in self._known:
            self._known[label] = self._stored(label)
        return self._known[label]

    def _stored(self, label: str) -> tuple[Snapshot, str | None] | None:
        row = self._con.execute("SELECT snapshot_id, run_id, state FROM known WHERE label = ?", [label]).fetchone()
        return (from_doc(row[0], label, row[2]), row[1]) if row else None

    def known(self, label: str) -> Snapshot | None:
        """What ``label``'s snapshots knew so far (the latest, with earlier facets carried), or None."""
        entry = self._entry(label)
        return entry[0] if entry else None

    def append(self, snap: Snapshot, *, run_id: str | None = None) -> Snapshot:
        """Add one snapshot (one transaction); returns it with its id. See :meth:`add`."""
        return self.add(snap, run_id=run_id)[0]

    def add(self, snap: Snapshot, *, run_id: str | None = None) -> tuple[Snapshot, list[Change]]:
        """Add one snapshot and its changes against what the key's earlier snapshots knew (one transaction).

        With ``run_id``, a snapshot of the same key from the same run is replaced (the idempotency key).
        A snapshot older than the key's latest one is put in its place (its key's changes are redone).
        """
        self._writable()
        entry = self._entry(snap.label)
        known = self._known
        assert known is not None
        replaced = bool(run_id) and entry is not None and entry[1] == run_id
        if self._next_id is None:
            row = self._con.execute("SELECT coalesce(max(id), 0) FROM snapshots").fetchone()
            self._next_id = int(row[0] if row else 0) + 1
        stored = Snapshot(**{**snap.__dict__, "id": self._next_id})
        if entry is None or (not replaced and entry[0].rendered_at <= snap.rendered_at):
            changes = changes_between(entry[0], stored) if entry is not None else []
            values = table_row(stored, changes, run_id)
            with self.transaction() as con:
                con.execute(f"INSERT INTO snapshots ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})",
                            list(values.values()))  # fmt: skip
            known[snap.label] = (carry(entry[0] if entry else None, stored), run_id)
            self._dirty.add(snap.label)
        else:
            with self.transaction() as con:
                if replaced:
                    con.execute("DELETE FROM snapshots WHERE label = ? AND run_id = ?", [snap.label, run_id])
                values = table_row(stored, [], run_id)
                con.execute(f"INSERT INTO snapshots ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})",
                            list(values.values()))  # fmt: skip
                changes = self._redo(snap.label, stored.id or 0)
        self._next_id += 1
        return stored, changes

    def _redo(self, label: str, snap_id: int) -> list[Change]:
        """Recompute one key's changes and known state, in order (a snapshot came out of order or was replaced)."""
        rows = self._con.execute("SELECT id, doc, run_id FROM snapshots WHERE label = ? ORDER BY rendered_at, id",
                                 [label]).fetchall()  # fmt: skip
        known: Snapshot | None = None
        mine: list[Change] = []
        updates = []
        last_run = None
        for sid, doc, run in rows:
            snap = from_doc(sid, label, doc)
            changes = changes_between(known, snap) if known is not None else []
            if sid == snap_id:
                mine = changes
            updates.append([",".join(dumps(c.as_dict()) for c in changes) or None, len(changes), sid])
            known = carry(known, snap)
            last_run = run
        self._con.executemany("UPDATE snapshots SET changes_json = ?, n_changes = ? WHERE id = ?", updates)
        if known is not None:
            write_known(self._con, [(known, last_run)])
            if self._known is not None:
                self._known[label] = (known, last_run)
            self._dirty.discard(label)
        return mine

    def flush(self) -> None:
        """Write the known state of the keys recorded since the last flush (one transaction)."""
        if self.read_only or not self._dirty or self._known is None:
            return
        known = self._known
        with self.transaction() as con:
            write_known(con, [entry for label in sorted(self._dirty) if (entry := known.get(label)) is not None])
        self._dirty.clear()

    def prune(self, before: datetime) -> tuple[int, int]:
        """Delete the snapshots taken before ``before`` (retention); returns (deleted, kept)."""
        self._writable()
        self.flush()
        cutoff = naive(before)
        with self.transaction() as con:
            deleted = con.execute("SELECT count(*) FROM snapshots WHERE rendered_at < ?", [cutoff]).fetchone()
            con.execute("DELETE FROM snapshots WHERE rendered_at < ?", [cutoff])
            con.execute("DELETE FROM known WHERE label NOT IN (SELECT DISTINCT label FROM snapshots)")
            con.execute("DELETE FROM runs WHERE finished_at IS NOT NULL AND finished_at < ?", [cutoff])
            kept = con.execute("SELECT count(*) FROM snapshots").fetchone()
        self._known = None
        with contextlib.suppress(Exception):
            self._con.execute("CHECKPOINT")  # the freed blocks are reused by the next writes
        return int(deleted[0] if deleted else 0), int(kept[0] if kept else 0)

    # reading ----------------------------------------------------------------------------------------
    def labels(self) -> list[str]:
        return [r[0] for r in self._con.execute("SELECT DISTINCT label FROM snapshots ORDER BY label").fetchall()]

    def where(self, labels: Iterable[str] | None = None, since: datetime | None = None) -> tuple[str, list[Any]]:
        """A SQL ``WHERE`` clause (or ``""``) and its parameters for ``labels`` and ``since``."""
        where: list[str] = []
        params: list[Any] = []
        if labels is not None:
            wanted = list(labels)
            where.append(f"label IN ({', '.join('?' for _ in wanted)})" if wanted else "FALSE")
            params.extend(wanted)
        if since is not None:
            where.append("rendered_at >= ?")
            params.append(naive(since))
        return ("WHERE " + " AND ".join(where)) if where else "", params

    def query(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run a read query on the database (the ``history`` readers' SQL)."""
        return self._con.execute(sql, list(params))

    def snapshots(self, labels: Iterable[str] | None = None, *, since: datetime | None = None) -> list[Snapshot]:
        """Snapshots (of ``labels``, or all; at or after ``since``), by label then time."""
        where, params = self.where(labels, since)
        sql = f"SELECT id, label, doc FROM snapshots {where} ORDER BY label, rendered_at, id"
        return [from_doc(*r) for r in self._con.execute(sql, params).fetchall()]

    def last(self, label: str, limit: int = 1) -> list[Snapshot]:
        """The latest ``limit`` snapshots of ``label``, oldest first."""
        rows = self._con.execute(
            "SELECT id, label, doc FROM snapshots WHERE label = ? ORDER BY rendered_at DESC, id DESC LIMIT ?",
            [label, limit],
        ).fetchall()
        return [from_doc(*r) for r in reversed(rows)]

    def last_docs(self, label: str, limit: int = 1) -> list[str]:
        """The ``history --json`` documents of the latest ``limit`` snapshots of ``label``, oldest first."""
        rows = self._con.execute(
            "SELECT doc FROM snapshots WHERE label = ? ORDER BY rendered_at DESC, id DESC LIMIT ?", [label, limit]
        ).fetchall()
        return [r[0] for r in reversed(rows)]

    def balances(self, label: str, limit: int = 200) -> list[Snapshot]:
        """The latest ``limit`` snapshots of ``label`` that knew a balance, reduced to their time and
        balance (what the runway from consecutive balances reads), oldest first."""
        rows = self._con.execute(
            "SELECT id, rendered_at, balance_remaining, currency FROM snapshots WHERE label = ? AND "
            "balance_remaining IS NOT NULL ORDER BY rendered_at DESC, id DESC LIMIT ?",
            [label, limit],
        ).fetchall()
        return [Snapshot(label, aware(at), {}, balance={"remaining": value, "currency": currency}, id=int(sid))
                for sid, at, value, currency in reversed(rows)]  # fmt: skip

    # lifecycle --------------------------------------------------------------------------------------
    def close(self) -> None:
        """Write the known state back (a failure loses nothing: the next writer carries it over) and close."""
        try:
            self.flush()
        except Exception as exc:
            log.warning("the history's known state was not written back (%s): the next writer rebuilds it", exc)
        finally:
            self._con.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()

    def __repr__(self) -> str:
        return f"HistoryStore({str(self.path)!r}, version={self.version})"
