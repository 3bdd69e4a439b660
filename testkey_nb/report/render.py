"""render_notebook: sweep, execute in a private run folder, export, write atomically, clean up."""

from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from testkey_nb._files import write_atomic
from testkey_nb._importtax import defer_rfc3987_syntax
from testkey_nb.report._embed import escape_json_for_html
from testkey_nb.report.execute import ExecOutcome, StartedKernel, execute_in_kernel, start_kernel
from testkey_nb.report.models import OUTBOX_ENV, RenderError, RenderRequest, RenderResult
from testkey_nb.report.redact import one_line, redact_text, redacting_logs, variants
from testkey_nb.report.retention import default_raw_root, make_run_dir, remove_run_dir, sweep_raw

if TYPE_CHECKING:
    from testkey_nb.report.kernels import KernelPool

__all__ = ["MIN_SECRET_LEN", "OUTBOX_ENV", "render_notebook"]
_OUTBOX_MAX_BYTES: Final = 1024 * 1024

log = logging.getLogger(__name__)

#: Shorter kernel_env/redact values are not treated as secrets (they would match everywhere).
MIN_SECRET_LEN: Final = 8
#: Loggers that see kernel traffic during a render; a redacting filter sits on them meanwhile.
_KERNEL_LOGGERS: Final = ("papermill", "nbclient", "traitlets", "jupyter_client", "asyncio", __name__)
_PARAM_TYPES: Final = (str, int, float, bool, type(None))


def _secret_values(req: RenderRequest) -> tuple[str, ...]:
    return tuple(v for v in req.secret_values() if len(v) >= MIN_SECRET_LEN)


def _validate(req: RenderRequest, label: str, secret_values: Sequence[str]) -> None:
    for name, value in req.parameters.items():
        if not (isinstance(name, str) and name.isidentifier()):
            raise RenderError(label, "parameter names must be Python identifiers")
        if not isinstance(value, _PARAM_TYPES):
            raise RenderError(label, f"parameter {name!r} is not data (str, int, float, bool or None)")
        if isinstance(value, str) and any(s in value for s in secret_values):
            raise RenderError(
                label,
                f"parameter {name!r} holds a secret value: pass the NAME of a kernel_env variable instead",
            )
    if not req.notebook.is_file():
        raise RenderError(label, f"notebook not found: {req.notebook}")
    if req.timeout_s <= 0 or req.cell_timeout_s <= 0:
        raise RenderError(label, "timeout_s and cell_timeout_s must be positive")


def _failure_reason(outcome: ExecOutcome, req: RenderRequest, retention_s: float) -> str:
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    exc = outcome.error
    stderr_last = next((ln for ln in reversed(outcome.kernel_stderr_tail.splitlines()) if ln.strip()), "")
    if outcome.deadline_hit:
        if retention_s < req.timeout_s:
            return f"render exceeded the retention window ({retention_s:g}s); the kernel was stopped"
        return f"render exceeded timeout_s={req.timeout_s:g}s; the kernel was stopped"
    if isinstance(exc, PapermillExecutionError):
        where = f"cell [{exc.exec_count}]" if exc.exec_count else f"cell #{exc.cell_index}"
        return f"{where} raised {exc.ename}: {exc.evalue}"
    if isinstance(exc, CellTimeoutError):
        return f"a cell ran longer than cell_timeout_s={req.cell_timeout_s:g}s"
    if isinstance(exc, DeadKernelError):
        return "the kernel died" + (f" (kernel stderr: {stderr_last})" if stderr_last else "")
    reason = f"{type(exc).__name__}: {exc}"
    return reason + (f" (kernel stderr: {stderr_last})" if stderr_last else "")


def _leaks(page: str, secret_values: Sequence[str]) -> bool:
    for value in secret_values:
        forms = {*variants(value), html.escape(value), escape_json_for_html(value)[1:-1]}
        if any(form in page for form in forms):
            return True
    return False


def render_notebook(
    req: RenderRequest, *, raw_root: Path | None = None, retention_s: float = 300, pool: KernelPool | None = None
) -> RenderResult:
    """Execute ``req.notebook`` and write its offline HTML report to ``req.out_html`` (mode 0644).

    Sweeps stale raw folders first (older than ``retention_s``), executes in a fresh private run
    folder under ``raw_root`` (default :func:`default_raw_root`), and deletes that folder whatever
    happens. With ``pool``, the kernel (and its run folder) is a warm one taken from the pool;
    without, one is started here, before papermill and nbconvert are imported, so the kernel warms
    up while this process imports them. ``req.kernel_env`` reaches the kernel through its one-shot
    channel, never its environment. Every failure (cell error, cell or overall timeout, dead kernel,
    export problem, a secret in the page) raises :class:`RenderError` with a redacted one-line
    reason and no chained exception. Thread-safe: no process-wide state changes (a logging filter is
    attached to the kernel-traffic loggers for the duration, one per render).
    """
    started = time.perf_counter()
    secret_values = _secret_values(req)
    label = " ".join(redact_text(req.label, secret_values).split()) or "report"
    _validate(req, label, secret_values)
    defer_rfc3987_syntax()  # before papermill/nbconvert import jsonschema (a no-op once they have)

    root = default_raw_root() if raw_root is None else raw_root
    for removed in sweep_raw(root, retention_s):
        log.info("swept stale raw folder %s", removed.name)
    kernel: StartedKernel | None = None
    reason: str | None = None
    if pool is not None:
        try:
            kernel = pool.take(timeout_s=min(req.timeout_s, retention_s))
        except Exception as exc:
            raise RenderError(label, f"no kernel: {type(exc).__name__}: {exc}") from None
        run_dir = kernel.run_dir
    else:
        run_dir = make_run_dir(root)
        try:
            kernel = start_kernel(run_dir)
        except Exception as exc:
            reason = f"cannot start a kernel: {type(exc).__name__}: {exc}"
    # While the kernel works, this process imports nbconvert and warms the chart compiler (once per process).
    threading.Thread(target=_warm_export, name="testkey-nb-warm-export", daemon=True).start()
    size = 0
    outbox: dict[str, bytes] = {}
    try:
        with redacting_logs(secret_values, _KERNEL_LOGGERS):
            page: str | None = None
            if kernel is not None:
                page, reason = _execute_and_export(kernel, req, label, secret_values, retention_s, outbox)
            if page is not None:
                try:
                    size = write_atomic(req.out_html, page)
                except OSError as exc:
                    reason = f"cannot write the report: {type(exc).__name__}: {exc.strerror}"
    finally:
        remove_run_dir(run_dir)
    if reason is not None:
        error = RenderError(label, one_line(reason, secret_values))
        log.info("render failed: %s", error)  # the caller reports it; a warning would print twice
        raise error
    seconds = time.perf_counter() - started
    log.info("rendered %s: %d bytes in %.2f s", label, size, seconds)
    return RenderResult(label=label, out_html=req.out_html, seconds=seconds, bytes=size, outbox=outbox)


def _warm_export() -> None:
    try:
        from testkey_nb.report import _embed, export  # noqa: F401 - the import is the warm-up

        _embed.warm_up()
    except Exception:  # the export itself reports any real problem
        log.debug("export warm-up failed", exc_info=True)


def _execute_and_export(
    kernel: StartedKernel,
    req: RenderRequest,
    label: str,
    secret_values: Sequence[str],
    retention_s: float,
    outbox: dict[str, bytes],
) -> tuple[str | None, str | None]:
    """Run the notebook in ``kernel`` (always shut down after) and export it: ``(page, None)`` or
    ``(None, reason)``. The notebook's outbox files land in ``outbox``."""
    outcome = execute_in_kernel(
        kernel,
        req.notebook.resolve(),
        parameters=req.parameters,
        values={**req.kernel_data, **req.kernel_env},
        # a render never outlives the retention window: its raw data could not be kept longer
        timeout_s=min(req.timeout_s, retention_s),
        cell_timeout_s=req.cell_timeout_s,
    )
    if outcome.error is not None or outcome.nb is None:
        return None, _failure_reason(outcome, req, retention_s)
    from testkey_nb.report.export import OfflineViolation, export_html

    try:
        page = export_html(outcome.nb, title=label)
    except OfflineViolation as exc:
        return None, str(exc)
    except Exception as exc:
        return None, f"HTML export failed: {type(exc).__name__}: {exc}"
    if _leaks(page, secret_values):
        return None, "the report would contain a secret value; nothing was written"
    outbox.update(_read_outbox(kernel.outbox, secret_values))
    return page, None


def _read_outbox(folder: Path, secret_values: Sequence[str]) -> dict[str, bytes]:
    """The notebook's JSON hand-offs (capped, and dropped if they hold a secret)."""
    found: dict[str, bytes] = {}
    for path in sorted(folder.glob("*.json")):
        if not path.is_file() or path.is_symlink() or path.stat().st_size > _OUTBOX_MAX_BYTES:
            continue
        data = path.read_bytes()
        if _leaks(data.decode("utf-8", errors="replace"), secret_values):
            log.warning("dropped outbox file %s: it held a secret value", path.name)
            continue
        found[path.name] = data
    return found
