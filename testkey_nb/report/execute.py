"""Run a notebook with papermill in a kernel we start ourselves (possibly ahead of time, see ``kernels``).

Why our own kernel: papermill writes parameters into the notebook (injected cell and
``metadata.papermill.parameters``), so the key cannot be a parameter. It reaches the kernel through a
one-shot channel instead: every kernel is started with the read end of its own pipe (``pass_fds``,
its number in ``TESTKEY_NB_KEY_FD``); :meth:`StartedKernel.send` writes the render's values into
it once and closes it; ``testkey_nb.report.keychannel.take`` reads it in the kernel. The key is
never in a kernel's environment, in executed code or in a file. Kernels are started with
``--HistoryManager.hist_file=:memory:`` (no history file), by ``testkey_nb.report.warm_kernel``
(polars, altair and the package already imported), in the private run folder (cwd, connection file,
stderr, outbox), with a minimal environment: an allowlist of ``os.environ`` and three variables that
hold no secret (the channel's fd number, the outbox folder, this process's id). Each kernel runs in
its own process group (jupyter_client starts it in a new session; ``kill_now`` kills the group) and
kills that group itself when this process is gone (``warm_kernel.watch_parent``): a batch killed with
SIGKILL leaves no kernel behind.
No process-wide state is changed (no ``chdir``; papermill's ``cwd=`` would), so renders may run in
parallel threads. papermill still executes the notebook (``km=`` the started kernel's manager).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import IO, TYPE_CHECKING, Any, Final

import zmq
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.client import KernelClient
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from traitlets import DottedObjectName, Type

from testkey_nb.report.keychannel import KEY_FD_ENV
from testkey_nb.report.models import OUTBOX_ENV
from testkey_nb.report.warm_kernel import PARENT_ENV

if TYPE_CHECKING:
    from nbformat import NotebookNode

    from testkey_nb.report.forkserver import ForkServer

__all__ = [
    "ENV_ALLOWLIST",
    "ExecOutcome",
    "StartedKernel",
    "execute_in_kernel",
    "execute_in_run_dir",
    "kernel_environment",
    "start_kernel",
]

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
OUTBOX_NAME: Final = "outbox"
#: The kernel command: ipykernel behind a module that imports the report's libraries first.
WARM_KERNEL_MODULE: Final = "testkey_nb.report.warm_kernel"
WARM_KERNEL_ARGV: Final = (sys.executable, "-m", WARM_KERNEL_MODULE, "-f", "{connection_file}")


def kernel_environment(extra: Mapping[str, str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allowlisted part of ``base`` (default ``os.environ``) plus ``extra``."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if k in ENV_ALLOWLIST}
    env.update(extra)
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # quiets a debugger warning on stderr
    return env


#: How long `_ReadyClient` drains IOPub after the kernel answered ``kernel_info`` (jupyter_client waits 0.2 s).
_IOPUB_DRAIN_S: Final = 0.01
#: How often a killed kernel is looked at until it is gone (jupyter_client looks every 0.1 s).
_EXIT_POLL_S: Final = 0.005


async def _drained(channel: Any, timeout: float) -> bool:
    """True once ``channel`` gave nothing for ``timeout`` seconds (a message read meanwhile is dropped)."""
    try:
        await channel.get_msg(timeout=timeout)
    except Empty:
        return True
    return False


class _ReadyClient(AsyncKernelClient):
    """jupyter_client's async client, ready as soon as the kernel has answered ``kernel_info`` on shell
    and IOPub is connected (one IOPub message seen).

    jupyter_client then drains IOPub until it has been quiet for 0.2 s: a fixed fifth of a second on
    every render, for messages nbclient ignores anyway (it reads only replies to its own requests). Here
    the drain stops after `_IOPUB_DRAIN_S` of quiet. Everything else is jupyter_client's own loop.
    """

    async def _ready_soon(self, timeout: float | None = None) -> None:
        limit = time.time() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                msg = await self.shell_channel.get_msg(timeout=1)
            except Empty:  # no answer yet
                msg = None
            # IOPub is connected once the kernel's status for this request arrives on it
            answered = msg is not None and msg["msg_type"] == "kernel_info_reply"
            if answered and not await _drained(self.iopub_channel, 0.2):
                self._handle_kernel_info_reply(msg)
                break
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.time() > limit:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")
        while not await _drained(self.iopub_channel, _IOPUB_DRAIN_S):
            pass

    wait_for_ready = _ready_soon


class _OwnedKernelManager(AsyncKernelManager):
    """An async kernel manager that remembers the clients it handed out, to close their channels.

    Async, as nbclient's own default: with a blocking manager nbclient's client blocks its event
    loop on iopub, so a kernel that dies mid-cell is never noticed (the render hangs forever).
    nbclient does not stop the channels of a client made from a kernel manager it was given.
    """

    client_class = DottedObjectName("testkey_nb.report.execute._ReadyClient")
    client_factory = Type(_ReadyClient, klass=KernelClient)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tk_clients: list[KernelClient] = []
        self._tk_spec: KernelSpec | None = None

    @property
    def kernel_spec(self) -> KernelSpec | None:
        """The ``python3`` kernelspec (language, encryption support), launched as the warm kernel."""
        if self._tk_spec is None:
            base = super().kernel_spec
            if base is None:  # pragma: no cover - ipykernel always installs python3
                return None
            self._tk_spec = KernelSpec(
                argv=list(WARM_KERNEL_ARGV),
                display_name=base.display_name,
                language=base.language,
                interrupt_mode=base.interrupt_mode,
                metadata=dict(base.metadata),
                resource_dir=base.resource_dir,
            )
        return self._tk_spec

    def client(self, **kwargs: Any) -> KernelClient:  # type: ignore[override]  # what papermill's client is
        kc = super().client(**kwargs)
        self._tk_clients.append(kc)
        return kc

    async def _async_wait(self, pollinterval: float = _EXIT_POLL_S) -> None:
        """Until the (killed) kernel is gone, looked at every `_EXIT_POLL_S` instead of every 0.1 s."""
        while await self._async_is_alive():
            await asyncio.sleep(min(pollinterval, _EXIT_POLL_S))

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


@dataclass(eq=False)
class StartedKernel:
    """One kernel process, started in its own private run folder; used for one render, then shut down.

    ``run_dir`` holds its connection file, stderr and ``outbox/``; the render writes the executed
    notebook there too. The channel's write end is held until :meth:`send` (or :meth:`shutdown`).
    """

    km: _OwnedKernelManager
    run_dir: Path
    started_at: float
    _stderr: IO[bytes] = field(repr=False)
    _channel: int | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def stderr_path(self) -> Path:
        return self.run_dir / KERNEL_STDERR_NAME

    @property
    def outbox(self) -> Path:
        return self.run_dir / OUTBOX_NAME

    @property
    def pid(self) -> int | None:
        return getattr(self.km.provisioner, "pid", None)

    def exited(self) -> bool:
        """True once the kernel process has ended (it crashed, or was shut down)."""
        process = getattr(self.km.provisioner, "process", None)
        return process is None or process.poll() is not None

    def send(self, values: Mapping[str, str]) -> None:
        """Hand ``values`` to the kernel through its one-shot channel and close it (once only)."""
        with self._lock:
            fd, self._channel = self._channel, None
        if fd is None:
            raise RuntimeError("this kernel's channel was used already")
        data = json.dumps(dict(values), ensure_ascii=True).encode("ascii")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def kill_now(self) -> None:
        self.km.kill_now()

    def shutdown(self) -> None:
        """Stop its clients, shut the kernel down (SIGKILL as the backstop), close what it held."""
        with self._lock:
            fd, self._channel = self._channel, None
        if fd is not None:
            os.close(fd)
        km = self.km
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
            self._stderr.close()


def start_kernel(run_dir: Path, fork_server: ForkServer | None = None) -> StartedKernel:
    """Launch a warm kernel in ``run_dir`` (an existing private run folder); do not wait for it.

    The kernel's environment holds no secret: the allowlist, the channel's fd number, the outbox.
    With ``fork_server`` the kernel is forked by it (imports done) instead of started as a new program.
    """
    outbox = run_dir / OUTBOX_NAME
    outbox.mkdir(mode=0o700, exist_ok=True)
    km = _OwnedKernelManager(
        kernel_name="python3",
        connection_file=str(run_dir / CONNECTION_FILE_NAME),
        # CurveZMQ between us and the kernel where pyzmq and the kernelspec support it.
        transport_encryption="auto" if zmq.has("curve") else "disabled",
    )
    if fork_server is not None and fork_server.alive():
        import uuid

        from testkey_nb.report.forkserver import ForkProvisioner

        km.kernel_id = str(uuid.uuid4())
        provisioner = ForkProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
        provisioner.fork_server = fork_server
        km.provisioner = provisioner
    stderr_fh: IO[bytes] = open(run_dir / KERNEL_STDERR_NAME, "wb")  # noqa: SIM115 - closed by shutdown()
    read_end, write_end = os.pipe()  # neither end is inheritable; pass_fds hands the read end to this kernel
    try:
        run_sync(km.start_kernel)(
            # the kernel dies with this process (warm_kernel.watch_parent), in its own process group
            env=kernel_environment({KEY_FD_ENV: str(read_end), OUTBOX_ENV: str(outbox), PARENT_ENV: str(os.getpid())}),
            cwd=str(run_dir),
            extra_arguments=list(_KERNEL_ARGS),
            stdin=None,
            stdout=stderr_fh,
            stderr=stderr_fh,
            pass_fds=(read_end,),
        )
    except BaseException:
        os.close(write_end)
        stderr_fh.close()
        km.kill_now()
        raise
    finally:
        os.close(read_end)
    return StartedKernel(km=km, run_dir=run_dir, started_at=time.time(), _stderr=stderr_fh, _channel=write_end)


def execute_in_kernel(
    kernel: StartedKernel,
    notebook: Path,
    *,
    parameters: Mapping[str, object],
    values: Mapping[str, str],
    timeout_s: float,
    cell_timeout_s: float,
    start_timeout_s: float = 120,
) -> ExecOutcome:
    """Send ``values`` to ``kernel``, execute ``notebook`` into its run folder, always shut it down.

    Never raises for notebook or kernel failures: they come back in ``ExecOutcome.error`` (their
    text may contain secrets; the caller redacts). ``timeout_s`` bounds the whole run: when it
    passes, the kernel is killed and the run ends with ``deadline_hit``.
    """
    deadline_hit = threading.Event()

    def on_deadline() -> None:
        deadline_hit.set()
        kernel.kill_now()

    timer = threading.Timer(timeout_s, on_deadline)
    timer.daemon = True
    nb: NotebookNode | None = None
    error: BaseException | None = None
    try:
        timer.start()
        kernel.send(values)
        nb = _papermill_execute(  # papermill imported inside: a kernel started before warms up meanwhile
            notebook, parameters, start_timeout_s=start_timeout_s, cell_timeout_s=cell_timeout_s, km=kernel.km
        )
    except Exception as exc:  # the caller maps (and redacts) every failure
        error = exc
    finally:
        timer.cancel()
        kernel.shutdown()
    return ExecOutcome(
        nb=None if error else nb,
        error=error,
        deadline_hit=deadline_hit.is_set(),
        kernel_stderr_tail=_tail(kernel.stderr_path) if error else "",
    )


def _papermill_execute(
    notebook: Path,
    parameters: Mapping[str, object],
    *,
    start_timeout_s: float,
    cell_timeout_s: float,
    km: _OwnedKernelManager,
) -> NotebookNode:
    """``papermill.execute_notebook``'s steps for a render: load the notebook, inject ``parameters`` (papermill's
    own cell and metadata), record papermill's metadata, execute in ``km``'s kernel, raise on a failed cell.

    Not its last step: papermill serialises the executed notebook to JSON for its output path even when there
    is none (``write_ipynb(nb, None)`` dumps, then discards): about 0.04 s of CPU a report, in the process that
    renders every key. The executed notebook stays in memory here, never on disk."""
    from papermill.engines import papermill_engines
    from papermill.execute import prepare_notebook_metadata, raise_for_execution_errors, remove_error_markers
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(notebook))
    if parameters:
        nb = parameterize_notebook(nb, dict(parameters), False, kernel_name="python3")
    nb = remove_error_markers(prepare_notebook_metadata(nb, str(notebook), None, False))
    nb = papermill_engines.execute_notebook_with_engine(
        None,
        nb,
        kernel_name="python3",
        input_path=str(notebook),
        output_path=None,
        progress_bar=False,
        log_output=False,
        start_timeout=start_timeout_s,
        execution_timeout=cell_timeout_s,
        km=km,
    )
    raise_for_execution_errors(nb, None)
    return nb  # type: ignore[no-any-return]


def execute_in_run_dir(
    notebook: Path,
    run_dir: Path,
    *,
    parameters: Mapping[str, object],
    kernel_env: Mapping[str, str],
    timeout_s: float,
    cell_timeout_s: float,
    start_timeout_s: float = 120,
) -> ExecOutcome:
    """Start a kernel in ``run_dir`` now and run :func:`execute_in_kernel` (``kernel_env`` = the values sent)."""
    try:
        kernel = start_kernel(run_dir)
    except Exception as exc:
        return ExecOutcome(None, exc, False, _tail(run_dir / KERNEL_STDERR_NAME))
    return execute_in_kernel(
        kernel, notebook, parameters=parameters, values=kernel_env, timeout_s=timeout_s,
        cell_timeout_s=cell_timeout_s, start_timeout_s=start_timeout_s,
    )  # fmt: skip
