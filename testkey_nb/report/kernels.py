"""A warm, single-use kernel pool: kernels started ahead, each used for one render, then shut down.

    with KernelPool(size=2, raw_root=root) as pool:
        render_notebook(request, raw_root=root, pool=pool)   # takes a started kernel

Each kernel is a ``testkey_nb.report.warm_kernel`` process (polars, altair and the package imported
before it serves) in its own private run folder, started with its own one-shot key channel (see
``execute``). :meth:`KernelPool.take` hands a started kernel to exactly one render, which shuts it
down when it ends: a kernel is never reused, so nothing one render left in a kernel (globals,
history, files, the key) can reach the next. A background thread keeps ``size`` kernels started;
a kernel idle for half the retention window is replaced (its folder would otherwise be swept while
it waits). The pool holds no key: keys go to a kernel only when a render takes it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Final

from testkey_nb.report.execute import StartedKernel, start_kernel
from testkey_nb.report.forkserver import ForkServer
from testkey_nb.report.retention import MARKER_NAME, make_run_dir, remove_run_dir

__all__ = ["KernelPool", "PoolClosed"]

log = logging.getLogger(__name__)
_RETRY_S: Final = 2.0


class PoolClosed(RuntimeError):
    """take() on a pool that is closed."""


def _touch_marker(folder: Path) -> None:
    """Restart a run folder's retention clock (the render that takes a kernel owns the folder from now)."""
    tmp = folder / f"{MARKER_NAME}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"created": time.time(), "pid": os.getpid()}, fh)
    os.replace(tmp, folder / MARKER_NAME)


class KernelPool:
    """Keeps ``size`` warm kernels started under ``raw_root``; :meth:`take` gives each out once."""

    def __init__(
        self, size: int, raw_root: Path, *, retention_s: float = 300, total: int | None = None, fork: bool = True
    ) -> None:
        """``total``: start at most this many kernels over the pool's life (when the number of renders is
        known). ``fork``: kernels are forked by a fork server that has done the imports (``forkserver``);
        if it cannot start, kernels start the usual way."""
        if size < 1:
            raise ValueError("a kernel pool needs size >= 1")
        self.size = size
        self.total = total
        self.raw_root = Path(raw_root)
        self.max_idle_s = max(1.0, retention_s / 2)
        self.started = 0  # kernels started and not discarded unused (stale or dead)
        self._idle: deque[StartedKernel] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.fork = fork
        self.fork_server: ForkServer | None = None
        self._server_dir: Path | None = None

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> KernelPool:
        if self.fork and self.fork_server is None and self._server_dir is None:
            self._server_dir = make_run_dir(self.raw_root)
            try:
                self.fork_server = ForkServer(self._server_dir).start()
            except Exception as exc:  # kernels start the usual way
                log.warning("the kernel fork server did not start: %s: %s", type(exc).__name__, exc)
                self.fork_server = None
        if self._thread is None:
            self._thread = threading.Thread(target=self._refill, name="testkey-nb-kernel-pool", daemon=True)
            self._thread.start()
        return self

    def __enter__(self) -> KernelPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop refilling and shut every idle kernel down (kernels already taken belong to their render)."""
        with self._cond:
            self._closed = True
            idle = list(self._idle)
            self._idle.clear()
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(30)
            self._thread = None
        for kernel in idle:
            self._discard(kernel)
        if self.fork_server is not None:
            self.fork_server.close()
            self.fork_server = None
        if self._server_dir is not None:
            remove_run_dir(self._server_dir)
            self._server_dir = None

    @property
    def idle(self) -> int:
        with self._cond:
            return len(self._idle)

    def pids(self) -> list[int]:
        """Process ids of the idle kernels (tests and benchmarks look at them)."""
        with self._cond:
            return [k.pid for k in self._idle if k.pid is not None]

    # --- the pool ---------------------------------------------------------------------------------------

    def take(self, timeout_s: float | None = None) -> StartedKernel:
        """A started kernel of its own for one render (the caller shuts it down). Waits for one if none is idle."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        dead: list[StartedKernel] = []
        try:
            kernel = self._take(deadline, dead)
        finally:
            for corpse in dead:
                self._discard(corpse)
        with contextlib.suppress(OSError):  # the folder is gone: the render will fail with its own reason
            _touch_marker(kernel.run_dir)
        return kernel

    def _take(self, deadline: float | None, dead: list[StartedKernel]) -> StartedKernel:
        with self._cond:
            while True:
                if self._closed:
                    raise PoolClosed("the kernel pool is closed")
                if not self._idle and self._spent():
                    raise PoolClosed(f"the kernel pool has handed out all {self.total} kernels it may start")
                if self._idle:
                    kernel = self._idle.popleft()
                    self._cond.notify_all()  # the refill thread starts the next one
                    if kernel.exited():  # died while it waited: never hand out a dead kernel
                        dead.append(kernel)
                        self.started -= 1  # a replacement may be started
                        continue
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("no kernel became available in time")
                self._cond.wait(remaining)
        return kernel

    def _refill(self) -> None:
        while True:
            if self._server_dir is not None:  # the fork server's folder lives as long as the pool
                with contextlib.suppress(OSError):
                    _touch_marker(self._server_dir)
            with self._cond:
                while not self._closed and (len(self._idle) >= self.size or self._spent()) and not self._stale_locked():
                    self._cond.wait(min(self.max_idle_s, 30.0))
                if self._closed:
                    return
                stale = self._pop_stale_locked()
            for kernel in stale:
                self._discard(kernel)
            with self._cond:
                if self._closed or len(self._idle) >= self.size or self._spent():
                    continue
            try:
                kernel = start_kernel(make_run_dir(self.raw_root), self.fork_server)
            except Exception as exc:  # retried: a render that waits in take() is not failed by one bad start
                log.warning("could not start a pooled kernel: %s: %s", type(exc).__name__, exc)
                time.sleep(_RETRY_S)
                continue
            with self._cond:
                self.started += 1
                if self._closed:
                    closed = True
                else:
                    closed = False
                    self._idle.append(kernel)
                    self._cond.notify_all()
            if closed:
                self._discard(kernel)

    def _spent(self) -> bool:
        return self.total is not None and self.started >= self.total

    def _stale_locked(self) -> bool:
        now = time.time()
        return any(now - k.started_at > self.max_idle_s for k in self._idle)

    def _pop_stale_locked(self) -> list[StartedKernel]:
        now = time.time()
        stale = [k for k in self._idle if now - k.started_at > self.max_idle_s]
        for kernel in stale:
            self._idle.remove(kernel)
            self.started -= 1  # replaced, not handed out
        return stale

    @staticmethod
    def _discard(kernel: StartedKernel) -> None:
        try:
            kernel.shutdown()
        finally:
            remove_run_dir(kernel.run_dir)

    def __repr__(self) -> str:
        return f"KernelPool(size={self.size}, idle={self.idle})"
