"""Batch rendering for a fleet of keys: one kernel per key, a local pool or a Dask cluster, a fleet index.

    from testkey_nb.batch import LocalExecutor, run_batch
    from testkey_nb.batch.keysfile import load_keys_file

    result = run_batch(load_keys_file("keys.toml"), Path("reports"), executor=LocalExecutor(jobs=4))

:func:`render_many` is the ``testkey-nb render --keys-file/--keys-env`` command's body.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from testkey_nb._labels import plural
from testkey_nb.batch.executors import (
    DaskExecutor,
    Executor,
    InsecureClusterError,
    LocalExecutor,
    check_cluster_address,
    default_jobs,
    render_on_worker,
)
from testkey_nb.batch.models import BatchInputError, BatchResult, KeyOutcome, KeyStatus, RenderTask, SealedKey
from testkey_nb.batch.probing import Probed, Prober, probe_all
from testkey_nb.batch.runner import SIDECAR_DIR, run_batch, sidecar_path

if TYPE_CHECKING:
    from testkey_nb.history.recorder import HistorySettings

__all__ = [
    "SIDECAR_DIR",
    "BatchInputError",
    "BatchResult",
    "DaskExecutor",
    "Executor",
    "InsecureClusterError",
    "KeyOutcome",
    "KeyStatus",
    "LocalExecutor",
    "Probed",
    "Prober",
    "RenderTask",
    "SealedKey",
    "check_cluster_address",
    "default_jobs",
    "probe_all",
    "render_many",
    "render_on_worker",
    "run_batch",
    "sidecar_path",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def _error(message: str) -> int:
    print(f"testkey-nb: error: {' '.join(message.split())}", file=sys.stderr, flush=True)
    return EXIT_BAD_INPUT


def render_many(
    keys_file: Path | None,
    keys_env: Path | None,
    out: Path,
    jobs: int | None,
    force: bool,
    dask: str | None,
    allow_insecure_cluster: bool,
    retention_s: float,
    claim: str | None,
    base_url: str | None,
    management_url: str | None,
    max_in_flight: int = 16,
    pdf: bool = False,
    history: HistorySettings | None = None,
    lens: str = "inventory-fit",
    credits_remaining: float | None = None,
    payment_method: str | None = None,
) -> int:
    """Render every key of a keys file and/or a dotenv file of keys into ``out``, plus the fleet index.

    ``claim``/``base_url``/``management_url``/``credits_remaining``/``payment_method`` are defaults for
    entries that set none. Returns the exit
    status: 0 every key has a report, 1 some failed, 2 bad input (one ``testkey-nb: error:`` line on
    stderr), 130 interrupted (Ctrl-C).
    """
    from testkey_nb.batch.keysfile import KeyEntry, KeysFileError, load_keys_env, load_keys_file

    try:
        if keys_file is None and keys_env is None:
            return _error("give --keys-file FILE (TOML) or --keys-env FILE (dotenv, mode 0600)")
        try:  # the executor first: an insecure cluster is refused before any key is read
            executor: Executor = DaskExecutor(dask, allow_insecure_cluster, jobs=jobs) if dask else LocalExecutor(jobs)
        except BatchInputError as exc:
            return _error(str(exc))
        entries: list[KeyEntry] = []
        try:
            if keys_file is not None:
                entries.extend(load_keys_file(keys_file))
            if keys_env is not None:
                entries.extend(
                    KeyEntry(label=label, secret=secret, origin=str(keys_env))
                    for label, secret in load_keys_env(keys_env)
                )
        except KeysFileError as exc:
            return _error(str(exc))
        entries = [e.with_defaults(claim=claim, base_url=base_url, management_url=management_url,
                                   credits_remaining=credits_remaining, payment_method=payment_method)
                   for e in entries]  # fmt: skip
        if isinstance(executor, DaskExecutor) and executor.insecure:
            print(f"testkey-nb: warning: keys travel to {dask} without TLS (--allow-insecure-cluster)",
                  file=sys.stderr, flush=True)  # fmt: skip
        try:
            result = run_batch(entries, Path(out), executor=executor, force=force, progress=True,
                               retention_s=retention_s, max_in_flight=max_in_flight, history=history,
                               lens=lens)  # fmt: skip
        except BatchInputError as exc:
            return _error(str(exc))
    except KeyboardInterrupt:
        print("testkey-nb: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    counts = (
        f"{result.count('rendered')} rendered, {result.count('unchanged')} unchanged (probed, report kept), "
        f"{result.count('failed')} failed"
    )
    if result.interrupted:
        counts += f", {result.count('interrupted')} interrupted"
    print(f"{len(result.keys)} keys: {counts} in {result.seconds:.1f} s; index: {result.index_html}", flush=True)
    if pdf and not result.interrupted:
        from testkey_nb._labels import plural
        from testkey_nb.report.pdf import PdfError, print_pdfs

        reports = [Path(k.report) for k in result.keys if k.report is not None and Path(k.report).is_file()]
        index = [Path(result.index_html)] if result.index_html and Path(result.index_html).is_file() else []
        try:
            pdfs = print_pdfs([*reports, *index])  # the index too: index.html -> index.pdf
        except PdfError as exc:
            return _error(str(exc))
        done = plural(len(pdfs) - len(index), "report PDF") + (", and the index's" if index else "")
        print(f"{done} beside the reports in {out}", flush=True)
    if history is None or history.enabled:
        _print_history_line(result, Path(out))
    if result.interrupted:
        if isinstance(executor, DaskExecutor):
            message = (
                "queued renders cancelled; renders already running on workers finish there and their workers "
                "delete their raw data"
            )
        else:
            message = "running renders stopped, raw data removed"
        print(f"testkey-nb: interrupted: {message}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    return EXIT_OK if result.ok else EXIT_FAILED


def _print_history_line(result: BatchResult, out: Path) -> None:
    """One line: how many keys changed since their last check and how many alerts the index flags."""
    import json

    if result.index_json is None:
        return
    try:
        rows = json.loads(result.index_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    changed = sum(1 for r in rows if r.get("changes"))
    alerts = sum(len(r.get("alerts") or []) for r in rows)
    print(f"history: {plural(changed, 'key')} changed since their last check, {plural(alerts, 'alert')}; "
          f"`testkey-nb history --out {out}` lists them", flush=True)  # fmt: skip
