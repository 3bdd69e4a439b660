"""Where renders run: a local pool of threads (each render runs its own kernel process) or a Dask cluster.

Both follow :class:`Executor`: ``start`` / ``submit(task, out_dir) -> Future[KeyOutcome]`` / ``abort`` /
``close``. Keys never share a kernel: every render starts its own.

Raw data. A local executor gives its renders one private folder for the whole batch, made like any run
folder (``run-<time>-<hex>`` with its marker, mode 0700) under the raw root, so the start-up sweeper
removes it after a crash; while the batch lives its marker is refreshed, so another process's sweeper
leaves it alone. At the end (and on Ctrl-C, after the running kernels are killed) the executor removes
that folder: it never touches raw data of another batch or render.

Dask. The key travels only inside its task's arguments, in memory (a :class:`SealedKey`, whose repr
shows nothing), the task's name is ``render-<n>-<uuid>``, and the worker renders into a private run
folder of its own raw root, sends back the page and the summary, and deletes the folder. A scheduler
address that is not loopback and not TLS is refused unless the caller allows it.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from testkey_nb.batch.models import BatchInputError, KeyOutcome, RenderTask, SealedKey
from testkey_nb.check.targets import is_loopback
from testkey_nb.report.keyreport import KeyJob, render_key
from testkey_nb.report.retention import MARKER_NAME, default_raw_root, make_run_dir, remove_run_dir, sweep_raw
from testkey_nb.secrets import Secret, redact

if TYPE_CHECKING:
    from testkey_nb.report.kernels import KernelPool

__all__ = [
    "DaskExecutor",
    "Executor",
    "InsecureClusterError",
    "LocalExecutor",
    "check_cluster_address",
    "default_jobs",
    "render_on_worker",
]

_ABORT_WAIT_S = 30.0


@runtime_checkable
class Executor(Protocol):
    """Runs renders. ``capacity``: how many renders the runner keeps in flight."""

    name: str

    @property
    def capacity(self) -> int: ...

    def start(self, retention_s: float) -> None: ...

    def submit(self, task: RenderTask, out_dir: Path) -> cf.Future[KeyOutcome]: ...

    def abort(self) -> None:
        """Ctrl-C: cancel what has not started, stop what runs, return when it has ended (bounded)."""

    def close(self) -> None: ...


def default_jobs() -> int:
    """About one render per core (each render is one kernel process)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, cores)


def _failure(task: RenderTask, reason: str, seconds: float = 0.0) -> KeyOutcome:
    return KeyOutcome(task.label, None, redact(" ".join(reason.split()), [task.secret]), seconds)


# --- local ------------------------------------------------------------------------------------------------


def _render_here(task: RenderTask, out_dir: Path, raw_root: Path, pool: KernelPool | None = None) -> KeyOutcome:
    started = time.perf_counter()
    try:
        result = render_key(
            task.job, out_dir, secret=task.secret, raw_root=raw_root, retention_s=task.retention_s, pool=pool
        )
    except Exception as exc:  # render_key maps per-key failures itself; this is the backstop
        return _failure(task, f"{type(exc).__name__}: {exc}", time.perf_counter() - started)
    summary = dict(result.summary) if result.summary is not None else None
    return KeyOutcome(result.label, summary, result.error, result.seconds, html_path=result.html)


class LocalExecutor:
    """Renders in a pool of ``jobs`` threads on this machine; each render runs its own kernel process,
    taken from a warm single-use :class:`~testkey_nb.report.kernels.KernelPool` of ``jobs`` kernels
    (``warm=False``: each render starts its kernel itself)."""

    name = "local"

    def __init__(self, jobs: int | None = None, *, raw_root: Path | None = None, warm: bool = True) -> None:
        if jobs is not None and jobs < 1:
            raise BatchInputError("--jobs must be at least 1")
        self.jobs = jobs or default_jobs()
        self.raw_root = raw_root
        self.warm = warm
        self.kernel_pool: KernelPool | None = None
        self.batch_dir: Path | None = None
        self._pool: cf.ThreadPoolExecutor | None = None
        self._futures: set[cf.Future[KeyOutcome]] = set()
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    @property
    def capacity(self) -> int:
        return self.jobs

    def start(self, retention_s: float) -> None:
        root = default_raw_root() if self.raw_root is None else Path(self.raw_root).absolute()
        sweep_raw(root, retention_s)
        self.batch_dir = make_run_dir(root)
        self._stop.clear()
        interval = max(1.0, min(30.0, retention_s / 4))
        self._heartbeat = threading.Thread(
            target=self._beat, args=(self.batch_dir, interval), name="testkey-nb-batch-heartbeat", daemon=True
        )
        self._heartbeat.start()
        if self.warm:
            from testkey_nb.report.kernels import KernelPool

            self.kernel_pool = KernelPool(self.jobs, self.batch_dir, retention_s=retention_s).start()
        self._pool = cf.ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="testkey-nb-render")

    def _beat(self, folder: Path, interval: float) -> None:
        """Keep the batch folder's marker young while the batch lives (sweepers go by its time)."""
        while not self._stop.wait(interval):
            tmp = folder / f"{MARKER_NAME}.tmp"
            try:
                with open(tmp, "w", encoding="utf-8") as fh:
                    json.dump({"created": time.time(), "pid": os.getpid()}, fh)
                os.replace(tmp, folder / MARKER_NAME)
            except OSError:
                return  # the folder is gone: nothing left to keep

    def submit(self, task: RenderTask, out_dir: Path) -> cf.Future[KeyOutcome]:
        if self._pool is None or self.batch_dir is None:
            raise RuntimeError("LocalExecutor.start() first")
        future = self._pool.submit(_render_here, task, out_dir, self.batch_dir, self.kernel_pool)
        self._futures.add(future)
        future.add_done_callback(self._futures.discard)
        return future

    def abort(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self.kernel_pool is not None:
            self.kernel_pool.close()
        deadline = time.monotonic() + _ABORT_WAIT_S
        while True:
            live = [f for f in list(self._futures) if not f.done()]
            if not live or time.monotonic() > deadline:
                break
            self._kill_kernels()
            cf.wait(live, timeout=0.2)

    def _kill_kernels(self) -> None:
        """SIGKILL the kernels of this batch: processes whose working folder is inside its private folder."""
        if self.batch_dir is None:
            return
        inside = os.path.realpath(self.batch_dir) + os.sep
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil comes with ipykernel; /proc where it does not
            _kill_by_proc_cwd(inside)
            return
        try:
            children = psutil.Process().children(recursive=True)
        except psutil.Error:  # pragma: no cover
            return
        for child in children:
            try:
                if (os.path.realpath(child.cwd()) + os.sep).startswith(inside):
                    for sub in child.children(recursive=True):
                        with contextlib.suppress(psutil.Error):
                            sub.kill()
                    child.kill()
            except psutil.Error:
                continue

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self.kernel_pool is not None:
            self.kernel_pool.close()
            self.kernel_pool = None
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(5)
            self._heartbeat = None
        if self.batch_dir is not None:
            remove_run_dir(self.batch_dir)
            self.batch_dir = None

    def __repr__(self) -> str:
        return f"LocalExecutor(jobs={self.jobs})"


def _kill_by_proc_cwd(inside: str) -> None:  # pragma: no cover - used without psutil only
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if (os.path.realpath(os.readlink(entry / "cwd")) + os.sep).startswith(inside):
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


# --- Dask -------------------------------------------------------------------------------------------------


class InsecureClusterError(BatchInputError):
    """A scheduler address that is neither TLS nor loopback, and the caller did not allow it."""


def _split_address(address: str) -> tuple[str, str]:
    text = address.strip()
    if "://" in text:
        scheme, rest = text.split("://", 1)
    else:
        scheme, rest = "tcp", text  # Dask's default protocol
    rest = rest.split("/", 1)[0]
    if rest.startswith("["):
        host = rest[1 : rest.find("]")] if "]" in rest else rest[1:]
    elif rest.count(":") == 1:
        host = rest.split(":", 1)[0]
    else:
        host = rest  # a bare IPv6 address or a host without port
    return scheme.lower(), host


def check_cluster_address(address: str, allow_insecure: bool = False) -> bool:
    """Refuse a scheduler address keys would reach in clear text over a network.

    ``tls://`` (and ``wss://``) are always accepted, as is ``inproc://``; any other protocol only on
    loopback (127.0.0.0/8, ::1, localhost) unless ``allow_insecure``. Returns True when the address is
    insecure but allowed (the caller may warn).
    """
    if not address or not address.strip():
        raise BatchInputError("--dask needs a scheduler address, e.g. tls://scheduler:8786")
    scheme, host = _split_address(address)
    if scheme in ("tls", "wss", "inproc"):
        return False
    if not host:
        raise BatchInputError(f"--dask {address}: no host in the scheduler address")
    if is_loopback(host):
        return False
    if allow_insecure:
        return True
    raise InsecureClusterError(
        f"refusing to send keys to the Dask scheduler at {address} without TLS: use a tls:// address "
        "(certificates from Dask's distributed.comm.tls configuration), a loopback address, or pass "
        "--allow-insecure-cluster"
    )


def render_on_worker(job: KeyJob, sealed: SealedKey, retention_s: float) -> dict[str, Any]:
    """The task a Dask worker runs: render one key in a private run folder, return page and summary.

    Never raises (a failed task would be logged by Dask with its arguments): every failure comes back
    as a redacted ``error``.
    """
    started = time.perf_counter()
    label = job.label or "key"
    outcome: dict[str, Any] = {"label": label, "summary": None, "error": None, "seconds": 0.0, "html_bytes": None}
    try:
        secret = Secret(sealed.open())
    except Exception:
        outcome["error"] = "the key did not reach the worker intact"
        return outcome
    label = outcome["label"] = job.label or secret.label
    run_dir: Path | None = None
    try:
        root = default_raw_root()
        sweep_raw(root, retention_s)  # a worker host's raw data obeys the window too
        run_dir = make_run_dir(root)
        result = render_key(job, run_dir / "out", secret=secret, raw_root=run_dir, retention_s=retention_s)
        outcome.update(
            label=result.label,
            summary=dict(result.summary) if result.summary is not None else None,
            error=result.error,
            seconds=result.seconds,
            html_bytes=result.html.read_bytes() if result.html is not None and result.error is None else None,
        )
    except Exception as exc:
        outcome["error"] = redact(" ".join(f"on the worker: {type(exc).__name__}: {exc}".split()), [secret])
        outcome["seconds"] = time.perf_counter() - started
    finally:
        if run_dir is not None:
            with contextlib.suppress(OSError):
                remove_run_dir(run_dir)
    return outcome


class DaskExecutor:
    """Renders on a Dask distributed cluster (``testkey-nb[cluster]``); reports come back to the caller."""

    name = "dask"

    def __init__(
        self,
        address: str,
        allow_insecure: bool = False,
        *,
        jobs: int | None = None,
        security: Any = None,
        connect_timeout_s: float = 30.0,
    ) -> None:
        if jobs is not None and jobs < 1:
            raise BatchInputError("--jobs must be at least 1")
        self.insecure = check_cluster_address(address, allow_insecure)
        self.address = address.strip()
        self.jobs = jobs
        self.security = security
        self.connect_timeout_s = connect_timeout_s
        self.task_names: list[str] = []
        self._client: Any = None
        self._capacity = jobs or 1
        self._futures: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        return self._capacity

    def start(self, retention_s: float) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise BatchInputError(
                "--dask needs the cluster extra: pip install 'testkey-nb[cluster]' (dask.distributed)"
            ) from None
        kwargs: dict[str, Any] = {"timeout": self.connect_timeout_s, "set_as_default": False}
        if self.security is not None:
            kwargs["security"] = self.security
        try:
            self._client = Client(self.address, **kwargs)
        except Exception as exc:
            raise BatchInputError(
                f"cannot connect to the Dask scheduler at {self.address}: {type(exc).__name__}: {exc}"
            ) from None
        threads = sum(self._client.nthreads().values())
        self._capacity = self.jobs or max(1, threads)

    @property
    def client(self) -> Any:
        return self._client

    def submit(self, task: RenderTask, out_dir: Path) -> cf.Future[KeyOutcome]:
        if self._client is None:
            raise RuntimeError("DaskExecutor.start() first")
        name = f"render-{task.index}-{uuid.uuid4().hex}"  # no label, no key
        result: cf.Future[KeyOutcome] = cf.Future()
        result.set_running_or_notify_cancel()
        remote = self._client.submit(
            render_on_worker, task.job, SealedKey(task.secret.reveal()), task.retention_s, key=name, pure=False
        )
        with self._lock:
            self._futures[name] = remote
            self.task_names.append(name)

        def finished(done: Any) -> None:
            with self._lock:
                self._futures.pop(name, None)
            try:
                payload = done.result()
                outcome = KeyOutcome(
                    label=str(payload["label"]),
                    summary=payload.get("summary"),
                    error=payload.get("error"),
                    seconds=float(payload.get("seconds") or 0.0),
                    html_bytes=payload.get("html_bytes"),
                )
            except BaseException as exc:  # cancelled, worker lost, ...
                outcome = _failure(task, f"cluster task failed: {type(exc).__name__}: {exc}")
            with contextlib.suppress(cf.InvalidStateError):
                result.set_result(outcome)

        remote.add_done_callback(finished)
        return result

    def abort(self) -> None:
        """Cancel every task still queued or running. A task already running on a worker cannot be
        interrupted by Dask: it ends on its own and its worker deletes its run folder."""
        with self._lock:
            remote = list(self._futures.values())
        if self._client is not None and remote:
            with contextlib.suppress(Exception):
                self._client.cancel(remote, force=True)

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close(timeout=10)
            self._client = None

    def __repr__(self) -> str:
        return f"DaskExecutor(address={self.address!r})"
