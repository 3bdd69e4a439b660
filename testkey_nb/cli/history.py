"""``testkey-nb history`` (what changed, per key) and ``testkey-nb watch`` (re-check on a schedule).

Also the single-key ``render`` path's history steps (the batch runner has its own): the command is
the one writer there.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from testkey_nb._labels import plural

if TYPE_CHECKING:
    from testkey_nb.history.recorder import HistorySettings
    from testkey_nb.report.keyreport import KeyJob, KeyReportResult

__all__ = ["history", "parse_every", "parse_keep", "render_one_with_history", "settings_from_flags", "watch"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"testkey-nb: error: {message}", err=True)
    raise typer.Exit(code)


def parse_every(text: str) -> float:
    """``90s``, ``30m``, ``1h``, ``2d`` or a number of seconds -> seconds (positive)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text or "")
    if not match:
        raise ValueError(f"--every must look like 90s, 30m, 1h or 2d, got {text!r}")
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise ValueError("--every must be more than zero")
    return seconds


def parse_keep(text: str) -> float:
    """``history prune --keep``: ``90d``, ``12h``, ``2w``, ``30m`` -> seconds (a unit is required)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*", text or "")
    if not match:
        raise ValueError(f"--keep must look like 90d, 12h, 2w or 30m, got {text!r}")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError("--keep must be more than zero")
    return seconds


def settings_from_flags(
    history_path: Path | None, no_history: bool, alert_balance: float | None, alert_limit_percent: float | None
) -> HistorySettings:
    from testkey_nb.history.recorder import HistorySettings

    if no_history and history_path is not None:
        _fail("give --history PATH or --no-history, not both")
    if alert_balance is not None and not alert_balance >= 0:
        _fail("--alert-balance must be a number of USD, zero or more")
    if alert_limit_percent is not None and not 0 < alert_limit_percent <= 100:
        _fail("--alert-limit-percent must be more than 0 and at most 100")
    return HistorySettings(enabled=not no_history, path=history_path, alert_balance=alert_balance,
                           alert_limit_percent=alert_limit_percent)  # fmt: skip


def render_one_with_history(
    job: KeyJob, out: Path, settings: HistorySettings, render: Callable[[KeyJob], KeyReportResult]
) -> tuple[KeyReportResult, dict[str, Any] | None]:
    """The single-key ``render``: give the report its key's history, render, then record the snapshot.

    Returns the result and the recorded row (None with ``--no-history``).
    """
    from dataclasses import replace

    from testkey_nb.batch.fleet import index_row
    from testkey_nb.history.recorder import Recorder
    from testkey_nb.history.store import HistoryError

    if not settings.enabled:
        return render(job), None
    try:
        recorder = Recorder(settings, out)
    except HistoryError as exc:
        _fail(f"history: {exc}")
        raise  # unreachable: _fail exits
    try:
        label = job.label
        result = render(replace(job, history=recorder.context(label)) if label else job)
        if not label:  # the label came from the key's fingerprint: the report had no context, the row has
            label = result.label
        summary = result.summary if result.ok else None
        row = index_row(label, summary=summary, error=result.error, claim=job.claim, seconds=result.seconds,
                        report=result.html.name if result.html is not None else None,
                        rendered_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))  # fmt: skip
        facts = summary.get("history_facts") if isinstance(summary, dict) else None
        return result, recorder.record(row, facts if isinstance(facts, dict) else None)
    finally:
        recorder.close()


def history(
    labels: list[str] | None = typer.Argument(None, metavar="[LABEL...] | prune",
                                              help="keys to show (default: all); or `prune --keep 90d`"),
    out: Path = typer.Option(Path("reports"), "--out", help="the reports folder whose history to read"),
    history_path: Path | None = typer.Option(None, "--history", help="a history database (instead of --out)"),
    since: str | None = typer.Option(None, "--since", help="only snapshots at or after DATE (ISO 8601, UTC)"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list: {label, snapshots, changes}"),
    report: bool = typer.Option(False, "--report", help="also render fleet-history.html (the fleet over time)"),
    keep: str | None = typer.Option(None, "--keep", help="with prune: keep this much (90d, 12h, 2w); delete older"),
) -> None:
    """Per key: its snapshots and what changed between consecutive ones. `history prune --keep 90d`
    deletes the snapshots older than 90 days (retention)."""
    from testkey_nb.history.query import history_json_chunks
    from testkey_nb.history.snapshot import parse_time
    from testkey_nb.history.store import HistoryError, HistoryStore, default_history_path

    if history_path is not None and out != Path("reports"):
        _fail("give --out DIR or --history PATH, not both")
    path = history_path or default_history_path(out)
    if labels and labels[0] == "prune":
        _prune(path, labels[1:], keep, since=since, as_json=as_json, report=report)
        return
    if keep is not None:
        _fail("--keep goes with prune: testkey-nb history prune --keep 90d")
    when = None
    if since is not None:
        when = parse_time(since if "T" in since else f"{since}T00:00:00Z")
        if when is None:
            _fail(f"--since must be a date or an ISO 8601 time, got {since!r}")
    try:
        with HistoryStore(path, read_only=True) as store:
            known = set(store.labels())
            missing = [label for label in labels or [] if label not in known]
            if missing:
                _fail(f"no snapshots of {', '.join(missing)} in {path}")
            text = history_json_chunks(store, labels or None, when)
            if as_json:
                sys.stdout.flush()
                for chunk in text:
                    sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.write(b"\n")
                sys.stdout.buffer.flush()
            else:
                _print_history(json.loads(b"".join(text)))
    except HistoryError as exc:
        _fail(str(exc))
        return
    if report:
        from testkey_nb.report.fleet_history import render_fleet_history

        result = render_fleet_history(path, path.parent.parent if history_path is None else path.parent)
        if not result.ok:
            _fail(f"fleet history: {result.error}", code=1)
        typer.echo(f"fleet history: {result.html}", err=as_json)


def _prune(path: Path, extra: list[str], keep: str | None, *, since: str | None, as_json: bool, report: bool) -> None:
    """``history prune --keep 90d``: delete the snapshots older than the window, in one transaction."""
    from datetime import timedelta

    from testkey_nb.history.snapshot import format_time
    from testkey_nb.history.store import HistoryError, HistoryStore

    if extra or since is not None or as_json or report:
        _fail("history prune takes --keep (and --out or --history) only")
    if keep is None:
        _fail("history prune needs --keep, e.g. --keep 90d")
        return
    try:
        seconds = parse_keep(keep)
    except ValueError as exc:
        _fail(str(exc))
        return
    if not path.is_file():
        _fail(f"no history at {path}")
    cutoff = datetime.now(UTC) - timedelta(seconds=seconds)
    try:
        with HistoryStore(path) as store:
            deleted, kept = store.prune(cutoff)
    except HistoryError as exc:
        _fail(str(exc), code=1)
        return
    typer.echo(f"history: pruned {plural(deleted, 'snapshot')} taken before {format_time(cutoff)} from {path}; "
               f"{kept} kept")  # fmt: skip


def _print_history(data: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    from testkey_nb.cli.console import _clean

    console = Console()
    if not data:
        console.print("no snapshots")
        return
    for key in data:
        snaps = key["snapshots"]
        table = Table(title=f"{_clean(key['label'])}: {plural(len(snaps), 'snapshot')}", title_justify="left")
        for name in ("checked (UTC)", "status", "verdict", "allowed", "balance", "runway (days)"):
            table.add_column(name)
        for s in snaps:
            balance = (s.get("balance") or {}).get("remaining")
            runway = (s.get("runway") or {}).get("runway_days")
            table.add_row(_clean(s["rendered_at"]), _clean(s.get("status")), _clean(s.get("verdict") or "none"),
                          _clean(s.get("allowed_models")), "unknown" if balance is None else f"{balance:,.2f}",
                          "" if runway is None else f"{runway:,.1f}")  # fmt: skip
        console.print(table)
        if key["changes"]:
            changes = Table(show_header=True, box=None, padding=(0, 2))
            for name in ("at", "field", "before", "after"):
                changes.add_column(name)
            for c in key["changes"]:
                changes.add_row(*(_clean(c[n] if n in ("at", "field") else json.dumps(c[n], default=str))
                                  for n in ("at", "field", "before", "after")))  # fmt: skip
            console.print(changes)
        else:
            console.print("  no changes")


def watch(
    ctx: typer.Context,
    keys_file: Path | None = typer.Option(None, "--keys-file", help="TOML file of key references"),
    keys_env: Path | None = typer.Option(None, "--keys-env", help="dotenv file of keys (mode 0600)"),
    every: str = typer.Option("1h", "--every", help="time between rounds: 90s, 30m, 1h, 2d"),
    count: int | None = typer.Option(None, "--count", min=1, help="stop after N rounds (default: run until Ctrl-C)"),
    out: Path = typer.Option(Path("reports"), "--out", help="folder for the HTML reports"),
    jobs: int | None = typer.Option(None, "--jobs", help="parallel renders"),
    claim: str | None = typer.Option(None, "--claim", help="default claim for keys that set none"),
    base_url: str | None = typer.Option(None, "--base-url", help="default inference base URL"),
    management_url: str | None = typer.Option(None, "--management-url", help="default management base URL"),
    history_path: Path | None = typer.Option(None, "--history", help="history database (default <out>/.history)"),
    alert_balance: float | None = typer.Option(None, "--alert-balance", help="flag keys with less than USD left"),
    alert_limit_percent: float | None = typer.Option(
        None, "--alert-limit-percent", help="flag keys at N % of a limit, or whose limit fell N %"
    ),
    dask: str | None = typer.Option(
        None, "--dask", help="render on this Dask scheduler every round (tls://host:8786; given once)"
    ),
    allow_insecure_cluster: bool = typer.Option(
        False, "--allow-insecure-cluster", help="allow a non-TLS scheduler address that is not loopback"
    ),
    max_in_flight: int = typer.Option(16, "--max-in-flight", min=1, help="requests in flight per host, at most"),
) -> None:
    """Re-check a fleet on a schedule: each round probes every key, records history and renders the
    reports of the keys whose facts changed.

    ``--dask ADDRESS`` is given once: every round renders on that cluster (its workers keep warm kernel
    parents between rounds). Ctrl-C stops between or during rounds.
    """
    from testkey_nb.batch import EXIT_INTERRUPTED, render_many

    try:
        interval = parse_every(every)
    except ValueError as exc:
        _fail(str(exc))
        return
    if keys_file is None and keys_env is None:
        _fail("give --keys-file FILE (TOML) or --keys-env FILE (dotenv, mode 0600)")
    settings = settings_from_flags(history_path, False, alert_balance, alert_limit_percent)
    retention = float((ctx.obj or {}).get("retention", 300.0))
    stop = threading.Event()
    code = 0
    round_no = 0
    try:
        while True:
            round_no += 1
            started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            print(f"watch: round {round_no}{f'/{count}' if count else ''} at {started}", flush=True)
            code = render_many(
                keys_file=keys_file, keys_env=keys_env, out=out, jobs=jobs, force=False, dask=dask,
                allow_insecure_cluster=allow_insecure_cluster, retention_s=retention, claim=claim,
                base_url=base_url, management_url=management_url, history=settings, max_in_flight=max_in_flight,
            )  # fmt: skip
            if code in (2, EXIT_INTERRUPTED) or (count is not None and round_no >= count):
                break
            print(f"watch: next round in {every}", flush=True)
            if stop.wait(interval):
                break
    except KeyboardInterrupt:
        print("testkey-nb: interrupted", file=sys.stderr, flush=True)
        code = EXIT_INTERRUPTED
    raise typer.Exit(code)
