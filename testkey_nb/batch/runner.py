"""run_batch: many keys through one executor, a sidecar per key, the fleet index after every run."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import hashlib
import json
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TextIO

from testkey_nb._files import disk_full, sweep_partial_writes, write_atomic
from testkey_nb.batch.executors import Executor
from testkey_nb.batch.fleet import NOT_RENDERED, index_row, write_index
from testkey_nb.batch.keysfile import KeyEntry, check_label
from testkey_nb.batch.models import BatchInputError, BatchResult, KeyOutcome, KeyStatus, RenderTask
from testkey_nb.batch.probing import Probed, Prober, facts_fingerprint, probe_all
from testkey_nb.batch.progress import Progress
from testkey_nb.check.lenses import DEFAULT_LENS
from testkey_nb.history.recorder import HistorySettings, Recorder
from testkey_nb.report.keyreport import KeyJob, report_filename
from testkey_nb.secrets import KeyRefError, Secret, redact, resolve

__all__ = ["SIDECAR_DIR", "run_batch", "sidecar_path"]

#: Per-key summaries the index is built from (``out/.index/<label>.json``): no key, no probe records.
SIDECAR_DIR: Final = ".index"
#: 2: the sidecar holds the fingerprint of the facts its report was rendered from
_SIDECAR_VERSION: Final = 2

log = logging.getLogger(__name__)


def sidecar_path(out_dir: Path, label: str) -> Path:
    return Path(out_dir) / SIDECAR_DIR / (report_filename(label)[: -len(".html")] + ".json")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _config_hash(entry: KeyEntry, secret: Secret, lens: str = DEFAULT_LENS) -> str:
    """What a report depends on (the key by its fingerprint label only, the lens its summary answers), hashed."""
    config = {
        "label": entry.label,
        "ref": entry.ref,
        "claim": entry.claim,
        "base_url": entry.base_url,
        "management_url": entry.management_url,
        "allow_billable": entry.allow_billable,
        "credits_remaining": entry.credits_remaining,
        "payment_method": entry.payment_method,
        "key": secret.label,
    }
    if lens != DEFAULT_LENS:  # the default lens leaves the hash of earlier reports as it was
        config["lens"] = lens
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:32]


@functools.cache
def _render_context() -> tuple[str, str]:
    """The notebook's hash and the package version: a report of another notebook or version is redone."""
    from testkey_nb import __version__
    from testkey_nb._files import NOTEBOOKS_DIR

    try:
        notebook = hashlib.sha256((NOTEBOOKS_DIR / "key_report.ipynb").read_bytes()).hexdigest()[:32]
    except OSError:
        notebook = "missing"
    return notebook, __version__


def _read_sidecar(out_dir: Path, label: str) -> dict[str, Any] | None:
    try:
        data = json.loads(sidecar_path(out_dir, label).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != _SIDECAR_VERSION or not isinstance(data.get("row"), dict):
        return None
    return data


def _unchanged_row(out_dir: Path, label: str, fingerprint: str) -> dict[str, Any] | None:
    """The sidecar's row when the key's report was rendered from the same facts and still exists."""
    data = _read_sidecar(out_dir, label)
    if data is None or data.get("fingerprint") != fingerprint:
        return None
    row: dict[str, Any] = data["row"]
    if row.get("error") is not None or not row.get("report") or not (out_dir / str(row["report"])).is_file():
        return None
    return row


class _SigintGuard:
    """After the first Ctrl-C, ignore the next ones until the cleanup is done (main thread only)."""

    def __init__(self) -> None:
        self._previous: Any = None
        self._active = False

    def ignore(self) -> None:
        if threading.current_thread() is threading.main_thread() and not self._active:
            self._previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            self._active = True

    def restore(self) -> None:
        if self._active:
            signal.signal(signal.SIGINT, self._previous)
            self._active = False


@contextlib.contextmanager
def _sigint_guard() -> Iterator[_SigintGuard]:
    guard = _SigintGuard()
    try:
        yield guard
    finally:
        guard.restore()


# --- the batch ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold a Ctrl-C that arrives while a finished key is recorded (report, sidecar, history) until it is."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous in (signal.SIG_IGN, None):
        yield
        return
    caught: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _closing(recorder: Recorder | None, unfinished: list[bool]) -> Iterator[None]:
    """Close the history at the end; a round that did not end (Ctrl-C, a full disk) stays open to resume."""
    try:
        yield
    finally:
        if recorder is not None:
            try:
                recorder.close(finished=not unfinished)
            except Exception as exc:  # the disk may be full: the history's last transaction is already whole
                log.warning("the history was not closed cleanly: %s", _one_line(f"{type(exc).__name__}: {exc}"))


class DiskFullError(BatchInputError):
    """The disk (or the quota) is full: the batch stops; what was written before stays whole."""

    def __init__(self, what: str, done: int) -> None:
        super().__init__(
            f"the disk is full: cannot write {what}; the batch stopped, the {done} key(s) recorded before are "
            "intact (reports, index, history): free some space and run again"
        )


def _with_history(recorder: Recorder, row: dict[str, Any], facts: Mapping[str, Any] | None) -> dict[str, Any]:
    """Record the row's snapshot; a history that fails loses no report (the row says nothing changed).
    A full disk is not swallowed: it stops the batch (:class:`DiskFullError`)."""
    try:
        return recorder.record(row, facts)
    except Exception as exc:
        if disk_full(exc):
            raise
        log.warning("the history could not record %s: %s", row.get("label"), _one_line(f"{type(exc).__name__}: {exc}"))
        return row


@dataclass
class _Item:
    entry: KeyEntry
    task: RenderTask
    config: str
    probed: Probed | None = None
    fingerprint: str | None = None
    checked_at: str | None = None


def _check_entries(entries: Sequence[KeyEntry]) -> None:
    seen: dict[str, str] = {}
    for entry in entries:
        problem = check_label(entry.label)
        if problem:
            raise BatchInputError(f"bad label {entry.label!r}: {problem}")
        if entry.label.lower() in seen:
            raise BatchInputError(
                f"duplicate label {entry.label!r} (labels are case-insensitive; {seen[entry.label.lower()]!r} "
                "is already used)"
            )
        seen[entry.label.lower()] = entry.label
        if entry.secret is None and not entry.ref:
            raise BatchInputError(f"key {entry.label!r} has neither a ref nor a key")


def _one_line(text: str, limit: int = 600) -> str:
    line = " ".join(text.split()) or "failed (no reason given)"
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _contains_secret(text: str, secrets: Sequence[Secret]) -> bool:
    return any(s.reveal() in text for s in secrets)


def run_batch(
    entries: Sequence[KeyEntry],
    out_dir: Path,
    *,
    executor: Executor,
    force: bool = False,
    progress: bool = True,
    retention_s: float = 300,
    environ: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
    max_in_flight: int = 16,
    history: HistorySettings | None = None,
    lens: str = DEFAULT_LENS,
    prober: Prober | None = None,
) -> BatchResult:
    """Probe every entry, render a report per key whose facts changed through ``executor``, then
    (re)build ``out_dir/index.html`` and ``index.json``.

    A round probes every key first, concurrently in one event loop (``prober``, default
    :func:`~testkey_nb.batch.probing.probe_all`: ``max_in_flight`` requests at most per host). A key
    whose facts (summary and history facts), settings, notebook and package version give the
    fingerprint its report was rendered from keeps its report (``unchanged``, row ``rendered: false``);
    the others are rendered from the check the round made (the kernel does not probe again, and never
    gets the key); ``force`` renders every key. A key's failure (unresolvable ref, invalid key,
    provider down, notebook error) is recorded with a redacted reason and never stops the batch.
    Ctrl-C (KeyboardInterrupt in the main thread) stops submitting, stops the running renders and
    returns with ``interrupted=True`` once the executor has removed its raw data. Raises
    :class:`BatchInputError` for unusable entries.

    ``history`` (default: on, in ``out_dir/.history/history.duckdb``): this process, the one writer,
    appends a snapshot per key it checked (rendered or not, or failed) and fills each row's
    ``changes``, ``runway`` and ``alerts``; each kernel gets its key's earlier snapshots as data for
    "Since the last check". The history is written before the sidecar (a crash between the two
    re-renders the key; its snapshot is not counted twice: the run id).
    """
    started = time.perf_counter()
    entries = list(entries)
    _check_entries(entries)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    statuses: dict[str, KeyStatus] = {}
    items: list[_Item] = []
    secrets: list[Secret] = [e.secret for e in entries if e.secret is not None]
    resolve_errors: dict[str, str] = {}
    settings = history or HistorySettings()
    recorder: Recorder | None = None
    if settings.enabled:
        from testkey_nb.history.store import HistoryError

        try:
            recorder = Recorder(settings, out_dir)
        except HistoryError as exc:
            raise BatchInputError(f"history: {exc}") from None
    for folder in (out_dir, out_dir / SIDECAR_DIR):  # a killed run's half-written reports and sidecars
        sweep_partial_writes(folder)
    for index, entry in enumerate(entries):
        secret = entry.secret
        if secret is None:
            try:
                secret = resolve(entry.ref or "", environ)
            except KeyRefError as exc:
                resolve_errors[entry.label] = f"key reference: {exc}"
                continue
            secrets.append(secret)
        job = KeyJob(
            label=entry.label,
            ref=entry.ref,
            claim=entry.claim,
            base_url=entry.base_url,
            management_url=entry.management_url,
            allow_billable=entry.allow_billable,
            max_in_flight=max_in_flight,
            credits_remaining=entry.credits_remaining,
            payment_method=entry.payment_method,
            lens=lens,
            index_href="index.html",  # the index is written beside the reports
        )
        items.append(_Item(entry, RenderTask(index, job, secret, retention_s), _config_hash(entry, secret, lens)))

    def record(entry: KeyEntry, row: dict[str, Any], fingerprint: str | None,
               facts: Mapping[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        text = json.dumps([row, facts], default=str)
        if _contains_secret(text, secrets):
            row = index_row(entry.label, error="the summary held a key; it was dropped", claim=entry.claim,
                            rendered_at=row.get("rendered_at"), checked_at=row.get("checked_at"))  # fmt: skip
            facts = fingerprint = None
        try:
            if recorder is not None:  # the history first, then the sidecar (see the docstring)
                row = _with_history(recorder, row, facts)
            payload = {"version": _SIDECAR_VERSION, "fingerprint": fingerprint, "row": row}
            sidecar = sidecar_path(out_dir, entry.label)
            write_atomic(sidecar, (json.dumps(payload, indent=1, default=str) + "\n").encode())
        except Exception as exc:
            if disk_full(exc):
                raise DiskFullError(f"the record of {entry.label} (history, {SIDECAR_DIR}/)", len(statuses)) from None
            raise
        return row

    def finish(item: _Item, outcome: KeyOutcome) -> KeyStatus:
        label = item.entry.label
        if disk_full(outcome.error):  # the render could not write its report: stop, record nothing of it
            raise DiskFullError(f"the report of {label}", len(statuses))
        error = _one_line(redact(outcome.error, secrets)) if outcome.error is not None else None
        report: Path | None = None
        if error is None:
            try:
                if outcome.html_bytes is not None:
                    if _contains_secret(outcome.html_bytes.decode("utf-8", "replace"), secrets):
                        raise ValueError("the report would contain a key; nothing was written")
                    report = out_dir / report_filename(label)
                    write_atomic(report, outcome.html_bytes)
                else:
                    report = outcome.html_path
                if report is None:
                    error = "no report came back"
            except (OSError, ValueError) as exc:
                if disk_full(exc):
                    raise DiskFullError(f"the report of {label}", len(statuses)) from None
                error = redact(f"cannot write the report: {exc}", secrets)
        probed = item.probed
        summary: Mapping[str, Any] | None = None
        facts: Mapping[str, Any] | None = None
        if error is None:
            if probed is not None and probed.payload:  # the kernel rendered the round's own check
                summary, facts = probed.summary, probed.facts
            elif isinstance(outcome.summary, Mapping):
                summary = outcome.summary
                got = summary.get("history_facts")
                facts = got if isinstance(got, Mapping) else None
        if error is None and summary is None:
            error = "the report was written but its summary did not come back"
        rel = report.name if report is not None else None
        row = index_row(label, summary=summary, error=error, report=rel, claim=item.entry.claim,
                        seconds=outcome.seconds, rendered_at=_now(), rendered=error is None,
                        checked_at=item.checked_at or _now())  # fmt: skip
        row = record(item.entry, row, item.fingerprint if error is None else None, facts)
        state = "failed" if row["error"] is not None else "rendered"
        status = KeyStatus(label, state, row["error"], report if state == "rendered" else None, outcome.seconds,
                           row.get("verdict"))  # fmt: skip
        statuses[label] = status
        return status

    def sort(bar: Progress) -> list[_Item]:
        """Probe every key; record the failed and the unchanged ones; return those to render."""
        todo: list[_Item] = []
        if not items:
            return todo
        bar.stage(f"probing {len(items)} key(s), at most {max_in_flight} request(s) in flight per host")
        probed = (prober or probe_all)([i.task for i in items])
        checked_at = _now()
        for item in items:
            label = item.entry.label
            got = probed.get(item.task.index) or Probed(label, None, None, "probe: no result came back", 0.0)
            item.checked_at = checked_at
            if not got.ok:
                row = index_row(label, error=_one_line(redact(got.error or "probe failed", secrets)),
                                claim=item.entry.claim, seconds=got.seconds, checked_at=checked_at)  # fmt: skip
                row = record(item.entry, row, None)
                statuses[label] = KeyStatus(label, "failed", row["error"], seconds=got.seconds)
                bar.key(statuses[label])
                continue
            item.probed = got
            item.fingerprint = facts_fingerprint(got.summary, got.facts, item.config, *_render_context())
            old = None if force else _unchanged_row(out_dir, label, item.fingerprint)
            if old is None:
                todo.append(item)
                continue
            row = index_row(label, summary=got.summary, report=str(old["report"]), claim=item.entry.claim,
                            seconds=got.seconds, rendered_at=old.get("rendered_at"), rendered=False,
                            checked_at=checked_at)  # fmt: skip
            row = record(item.entry, row, item.fingerprint, got.facts)
            statuses[label] = KeyStatus(label, "unchanged", None, out_dir / str(old["report"]), got.seconds,
                                        row.get("verdict"))  # fmt: skip
            bar.key(statuses[label])
        for item in todo:  # what the kernel needs: the key's earlier snapshots and the round's check
            history_json = recorder.context(item.entry.label) if recorder is not None else ""
            job = replace(item.task.job, history=history_json, check=item.probed.payload or "" if item.probed else "")
            item.task = replace(item.task, job=job)
        return todo

    interrupted = False
    full: DiskFullError | None = None
    running: dict[cf.Future[KeyOutcome], _Item] = {}
    pending: deque[_Item] = deque()
    unfinished: list[bool] = []  # an interrupted round is resumed by the next run (see Recorder)
    with Progress(progress, len(entries), stream) as bar, _sigint_guard() as guard, _closing(recorder, unfinished):
        try:
            for label, reason in resolve_errors.items():
                entry = next(e for e in entries if e.label == label)
                row = record(entry, index_row(label, error=reason, claim=entry.claim, checked_at=_now()), None)
                statuses[label] = KeyStatus(label, "failed", row["error"])
                bar.key(statuses[label])
            pending.extend(sort(bar))
            if pending:
                executor.start(retention_s)
                try:
                    while pending or running:
                        while pending and len(running) < executor.capacity:
                            item = pending.popleft()
                            running[executor.submit(item.task, out_dir)] = item
                            bar.running([i.entry.label for i in running.values()])
                        done, _ = cf.wait(list(running), timeout=0.25, return_when=cf.FIRST_COMPLETED)
                        for future in done:
                            item = running.pop(future)
                            with _sigint_deferred():  # a finished key is recorded whole, then Ctrl-C counts
                                status = finish(item, future.result())
                            bar.key(status)
                            bar.running([i.entry.label for i in running.values()])
                except (KeyboardInterrupt, DiskFullError) as exc:
                    interrupted = True
                    full = exc if isinstance(exc, DiskFullError) else None
                    guard.ignore()
                    if full is None:  # a full disk is told in one line, by the caller
                        bar.note(f"interrupted: stopping {len(running)} running render(s), skipping {len(pending)}")
                    executor.abort()
                    for future, item in running.items():
                        outcome = None
                        if future.done() and not future.cancelled() and full is None:
                            with contextlib.suppress(Exception):
                                outcome = future.result()
                        if outcome is not None and outcome.ok:
                            bar.key(finish(item, outcome))
                        else:
                            statuses[item.entry.label] = KeyStatus(item.entry.label, "interrupted", "interrupted")
                            bar.key(statuses[item.entry.label])
                    running.clear()
                    for item in pending:
                        statuses[item.entry.label] = KeyStatus(item.entry.label, "interrupted", "interrupted")
                    pending.clear()
                finally:
                    executor.close()
        except (KeyboardInterrupt, DiskFullError) as exc:  # during start-up or bookkeeping: nothing runs any more
            interrupted = True
            full = exc if isinstance(exc, DiskFullError) else full
            guard.ignore()
            with contextlib.suppress(Exception):
                executor.abort()
                executor.close()
        rows = []
        for entry in entries:
            # after an interruption, a key this run never reached must not show an older run's row as current
            data = _read_sidecar(out_dir, entry.label) if entry.label in statuses or not interrupted else None
            if data is not None:
                rows.append(data["row"])
            else:
                reason = "not rendered: the batch was interrupted" if interrupted else "not rendered"
                rows.append(index_row(entry.label, error=reason, claim=entry.claim, status=NOT_RENDERED))
        index_html_path: Path | None
        index_json_path: Path | None
        try:
            index_html_path, index_json_path = write_index(out_dir, rows)
        except Exception as exc:  # the reports stand on their own: a failed index must not lose them
            index_html_path = index_json_path = None
            if not disk_full(exc):
                log.warning("the fleet index could not be written: %s", _one_line(f"{type(exc).__name__}: {exc}"))
        if interrupted:
            unfinished.append(True)
    if full is not None:
        raise full
    keys = tuple(statuses.get(e.label) or KeyStatus(e.label, "interrupted", "interrupted") for e in entries)
    return BatchResult(keys, index_html_path, index_json_path, interrupted, time.perf_counter() - started)
