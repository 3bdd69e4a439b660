"""``python -m testkey_nb.report.warm_kernel -f CONNECTION_FILE``: an IPython kernel, report imports done.

The kernel command of every render (see ``execute.WARM_KERNEL_ARGV``). Before ipykernel starts
serving, this process imports polars, altair (and with it jsonschema, with ``rfc3987_syntax``'s
2.8 s grammar deferred: ``testkey_nb._importtax``) and the package's notebook glue. A pooled kernel pays
that while it waits for a render, so the notebook's own imports are instant. Nothing runs as a cell:
``In``/``_ih`` and the user namespace stay empty.
"""

from __future__ import annotations

import os
import sys


def _preload() -> None:
    from testkey_nb._importtax import defer_rfc3987_syntax

    defer_rfc3987_syntax()  # before jsonschema (through altair): its IRI grammar is built on first use only
    import altair  # noqa: F401
    import polars  # noqa: F401

    import testkey_nb.report.charts
    import testkey_nb.report.glue
    import testkey_nb.report.views  # noqa: F401


def main() -> None:
    # As ipykernel_launcher does: never import from the working folder (the private run folder).
    if sys.path and sys.path[0] in ("", ".", os.getcwd()):
        del sys.path[0]
    _preload()
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
