"""Run a notebook with papermill in a kernel we start ourselves.

Why our own kernel: papermill writes parameters into the notebook (injected cell and
``metadata.papermill.parameters``), so the key travels in the kernel's environment instead, and the
kernel is started with ``--HistoryManager.hist_file=:memory:`` so IPython keeps no history file.
The kernel runs in the private run folder (its cwd, connection file and stderr live there), with a
minimal environment: an allowlist of ``os.environ`` plus the request's ``kernel_env``.
No process-wide state is changed (no ``chdir``; papermill's ``cwd=`` would), so renders may run in
parallel threads.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import papermill
import zmq
from jupyter_client import AsyncKernelManager
from jupyter_client.client import KernelClient
from jupyter_core.utils import run_sync
from nbformat import NotebookNode

__all__ = ["ENV_ALLOWLIST", "ExecOutcome", "execute_in_run_dir", "kernel_environment"]

log = logging.getLogger(__name__)

#: Parent environment variables a kernel inherits (everything else, e.g. other API keys, is left out).
ENV_ALLOWLIST: Final = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE",
        "LC_NUMERIC", "LC_TIME", "LC_COLLATE", "LC_MONETARY", "LC_MESSAGES", "TZ", "TMPDIR",
        "TEMP", "TMP", "TERM", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHASHSEED", "PYTHONUTF8",
        "PYTHONIOENCODING", "IPYTHONDIR", "JUPYTER_PATH", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR",
        "JUPYTER_RUNTIME_DIR", "JUPYTER_PLATFORM_DIRS", "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
        "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "MPLCONFIGDIR", "SSL_CERT_FILE", "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy",
        "https_proxy", "no_proxy", "all_proxy", "SYSTEMROOT", "COMSPEC",
    }
)  # fmt: skip
_KERNEL_ARGS: Final = ("--HistoryManager.hist_file=:memory:",)
KERNEL_STDERR_NAME: Final = "kernel.stderr"
CONNECTION_FILE_NAME: Final = "kernel.json"
EXECUTED_NAME: Final = "executed.ipynb"


def kernel_environment(extra: Mapping[str, str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allowlisted part of ``base`` (default ``os.environ``) plus ``extra``."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if k in ENV_ALLOWLIST}
    env.update(extra)
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # quiets a debugger warning on stderr
    return env


class _OwnedKernelManager(AsyncKernelManager):
    """An async kernel manager that remembers the clients it handed out, to close their channels.

    Async, as nbclient's own default: with a blocking manager nbclient's client blocks its event
    loop on iopub, so a kernel that dies mid-cell is never noticed (the render hangs forever).
    nbclient does not stop the channels of a client made from a kernel manager it was given.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tk_clients: list[KernelClient] = []

    def client(self, **kwargs: Any) -> KernelClient:
        kc = super().client(**kwargs)
        self._tk_clients.append(kc)
        return kc

    def close_clients(self) -> None:
        for kc in self._tk_clients:
            try:
                kc.stop_channels()
            except Exception:  # pragma: no cover - best effort during cleanup
                log.debug("stop_channels failed", exc_info=False)
        self._tk_clients.clear()

    def kill_now(self) -> None:
        """SIGKILL the kernel's process group; safe from another thread (no zmq, no asyncio)."""
        provisioner = self.provisioner
        pgid = getattr(provisioner, "pgid", None)
        pid = getattr(provisioner, "pid", None)
        try:
            if pgid and hasattr(os, "killpg"):
                os.killpg(pgid, signal.SIGKILL)
            elif pid:
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass(frozen=True)
class ExecOutcome:
    """How execution ended: the executed notebook, or the exception (still unredacted) and flags."""

    nb: NotebookNode | None
    error: BaseException | None
    deadline_hit: bool
    kernel_stderr_tail: str


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def execute_in_run_dir(
    notebook: Path,
    run_dir: Path,
    *,
    parameters: Mapping[str, object],
    kernel_env: Mapping[str, str],
    timeout_s: float,
    cell_timeout_s: float,
    start_timeout_s: float = 60,
) -> ExecOutcome:
    """Start a kernel in ``run_dir``, execute ``notebook`` into it, always shut the kernel down.

    Never raises for notebook or kernel failures: they come back in ``ExecOutcome.error`` (their
    text may contain secrets; the caller redacts). ``timeout_s`` bounds the whole run: when it
    passes, the kernel is killed and the run ends with ``deadline_hit``.
    """
    km = _OwnedKernelManager(
        kernel_name="python3",
        connection_file=str(run_dir / CONNECTION_FILE_NAME),
        # CurveZMQ between us and the kernel where pyzmq and the kernelspec support it.
        transport_encryption="auto" if zmq.has("curve") else "disabled",
    )
    deadline_hit = threading.Event()
    timer = threading.Timer(timeout_s, lambda: (deadline_hit.set(), km.kill_now()))
    timer.daemon = True
    nb: NotebookNode | None = None
    error: BaseException | None = None
    stderr_path = run_dir / KERNEL_STDERR_NAME
    stderr_fh: IO[bytes] = open(stderr_path, "wb")  # noqa: SIM115 - closed in finally
    try:
        timer.start()
        run_sync(km.start_kernel)(
            env=kernel_environment(kernel_env),
            cwd=str(run_dir),
            extra_arguments=list(_KERNEL_ARGS),
            stdin=None,
            stdout=stderr_fh,
            stderr=stderr_fh,
        )
        if deadline_hit.is_set():  # the timer fired while the kernel was still being launched
            km.kill_now()
        nb = papermill.execute_notebook(
            str(notebook),
            str(run_dir / EXECUTED_NAME),
            parameters=dict(parameters),
            kernel_name="python3",
            progress_bar=False,
            log_output=False,
            report_mode=False,
            request_save_on_cell_execute=False,
            start_timeout=start_timeout_s,
            execution_timeout=cell_timeout_s,
            km=km,
        )
    except Exception as exc:  # the caller maps (and redacts) every failure
        error = exc
    finally:
        timer.cancel()
        km.close_clients()
        try:
            if km.has_kernel:
                run_sync(km.shutdown_kernel)(now=True)
        except Exception:  # pragma: no cover - best effort; the kill is the backstop
            km.kill_now()
            try:
                run_sync(km.cleanup_resources)()
            except Exception:
                log.debug("kernel resource cleanup failed", exc_info=False)
        finally:
            stderr_fh.close()
    return ExecOutcome(
        nb=None if error else nb,
        error=error,
        deadline_hit=deadline_hit.is_set(),
        kernel_stderr_tail=_tail(stderr_path) if error else "",
    )
