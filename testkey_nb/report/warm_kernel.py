"""``python -m testkey_nb.report.warm_kernel -f CONNECTION_FILE``: an IPython kernel, report imports done.

The kernel command of every render (see ``execute.WARM_KERNEL_ARGV``). Once its sockets are
bound and before ipykernel starts serving, this process imports polars, altair (and with it
jsonschema, ``rfc3987_syntax``'s 2.8 s grammar deferred: ``testkey_nb._importtax``) and the
package's notebook glue. A pooled kernel pays that while it waits for a render, so the notebook's
own imports are instant. Nothing runs as a cell: ``In``/``_ih`` and the user namespace stay empty.
"""

from __future__ import annotations

import os
import sys


def _preload() -> None:
    import altair  # noqa: F401
    import polars  # noqa: F401

    import testkey_nb.report.charts
    import testkey_nb.report.glue
    import testkey_nb.report.views  # noqa: F401


def main() -> None:
    # As ipykernel_launcher does: never import from the working folder (the private run folder).
    if sys.path and sys.path[0] in ("", ".", os.getcwd()):
        del sys.path[0]
    from testkey_nb._importtax import defer_rfc3987_syntax

    defer_rfc3987_syntax()  # before jsonschema (through altair): its IRI grammar is built on first use only
    from ipykernel.kernelapp import IPKernelApp

    # As IPKernelApp.launch_instance, with the imports between initialize() and start(): the kernel
    # binds the ports jupyter_client chose for it first (another process could take them while it
    # imported), and answers heartbeats meanwhile; requests wait in their sockets until start().
    app = IPKernelApp.instance()
    app.initialize()
    _preload()
    app.start()


if __name__ == "__main__":
    main()
