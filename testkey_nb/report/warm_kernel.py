"""``python -m testkey_nb.report.warm_kernel -f CONNECTION_FILE``: an IPython kernel, report imports done.

The kernel command of every render (see ``execute.WARM_KERNEL_ARGV``). Once its sockets are
bound and before ipykernel starts serving, this process imports polars, altair (and with it
jsonschema, ``rfc3987_syntax``'s 2.8 s grammar deferred: ``testkey_nb._importtax``) and the
package's notebook glue. A pooled kernel pays that while it waits for a render, so the notebook's
own imports are instant. Nothing runs as a cell: ``In``/``_ih`` and the user namespace stay empty.

No kernel outlives the process that started it: the kernel runs in its own process group (session),
and a watcher thread, started before anything else, kills that group (the kernel and anything a cell
started) as soon as its parent (``TESTKEY_NB_PARENT_PID``, set by ``execute.start_kernel``) is gone,
e.g. a batch killed with SIGKILL. ipykernel's own parent poller only does this once it serves, and
not at all if the parent died during the imports.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

#: The environment variable naming the process that started this kernel (see ``execute.start_kernel``).
PARENT_ENV = "TESTKEY_NB_PARENT_PID"
#: ``python -m testkey_nb.report.warm_kernel --fork-server FD``: the kernel fork server (``forkserver``), FD
#: its end of a socket pair
FORK_SERVER_FLAG = "--fork-server"
_POLL_S = 0.2


def _die() -> None:
    try:
        if os.getpgid(0) == os.getpid():  # our own group (start_new_session): take its members along
            os.killpg(os.getpid(), signal.SIGKILL)
    finally:
        os._exit(1)


def watch_parent(parent: int, poll_s: float = _POLL_S) -> threading.Thread | None:
    """Kill this kernel's process group once ``parent`` is no longer its parent (None: nothing to watch)."""
    if parent <= 1:
        return None
    if os.getppid() != parent:  # it died before we got here
        _die()

    def run() -> None:
        while True:
            if os.getppid() != parent:
                _die()
            time.sleep(poll_s)

    thread = threading.Thread(target=run, name="testkey-nb-parent-watch", daemon=True)
    thread.start()
    return thread


def preload() -> None:
    """The imports every report kernel needs (a kernel fork server does them once for all its kernels)."""
    import altair  # noqa: F401
    import polars  # noqa: F401

    import testkey_nb.report.charts
    import testkey_nb.report.glue
    import testkey_nb.report.views  # noqa: F401


def preload_kernel_machinery() -> None:
    """What ``IPKernelApp.initialize()`` would import in every kernel (measured: 161 modules, about 0.08 s
    of CPU a kernel, most of it the debugger's debugpy): imported once by the fork server instead. None
    of these imports starts a thread, so forking after them stays safe."""
    import faulthandler  # noqa: F401
    import sqlite3  # noqa: F401

    import ipykernel.debugger
    import ipykernel.ipkernel  # noqa: F401
    import IPython.core.completerlib
    import IPython.core.debugger
    import IPython.core.oinspect
    import IPython.extensions.storemagic  # noqa: F401
    import psutil  # noqa: F401
    import tornado.platform.asyncio  # noqa: F401
    from ipykernel import kernelapp  # noqa: F401


def main() -> None:
    watch_parent(int(os.environ.get(PARENT_ENV) or 0))
    # As ipykernel_launcher does: never import from the working folder (the private run folder).
    if sys.path and sys.path[0] in ("", ".", os.getcwd()):
        del sys.path[0]
    from testkey_nb._importtax import defer_rfc3987_syntax

    defer_rfc3987_syntax()  # before jsonschema (through altair): its IRI grammar is built on first use only
    if len(sys.argv) == 3 and sys.argv[1] == FORK_SERVER_FLAG:
        from testkey_nb.report.forkserver import serve

        serve(int(sys.argv[2]), int(os.environ.get(PARENT_ENV) or 0))
        return
    run_kernel()


def run_kernel(*, watch: bool = False) -> None:
    """Serve as the kernel ``sys.argv`` describes. ``watch``: start the parent watch first (a kernel the
    fork server forked: the watcher thread of a forked process does not survive the fork)."""
    if watch:
        watch_parent(int(os.environ.get(PARENT_ENV) or 0))
    from ipykernel.kernelapp import IPKernelApp

    # As IPKernelApp.launch_instance, with the imports between initialize() and start(): the kernel
    # binds the ports jupyter_client chose for it first (another process could take them while it
    # imported), and answers heartbeats meanwhile; requests wait in their sockets until start().
    app = IPKernelApp.instance()
    app.initialize()
    preload()
    app.start()


if __name__ == "__main__":
    main()
