"""Notebook rendering: papermill execution, offline HTML export, retention sweeper.

    from testkey_nb._files import NOTEBOOKS_DIR
    from testkey_nb.report import RenderRequest, render_notebook

    result = render_notebook(
        RenderRequest(
            notebook=NOTEBOOKS_DIR / "key_report.ipynb",  # inside the package
            out_html=Path("reports/baseten-3f9a2c.html"),
            parameters={"key_env": "TESTKEY_NB_KEY", "label": "baseten-3f9a2c"},  # data only
            kernel_env={"TESTKEY_NB_KEY": secret_value},  # the key: sent once through the kernel's pipe
            redact=[secret_value],
            label="baseten-3f9a2c",
        )
    )

Modules: ``models`` (request/result/error), ``execute`` (kernel + papermill), ``kernels`` (the warm
single-use pool), ``keychannel`` (the kernel side of the key's one-shot pipe), ``warm_kernel`` (the
kernel command), ``export`` (offline HTML), ``_embed``/``_css`` (charts, runtime, CSS pruning),
``retention`` (raw run folders, sweeper), ``redact`` (error and log scrubbing), ``render``.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public names load lazily: the CLI's start-up sweeper imports ``retention`` alone, without papermill.
_WHERE = {
    "OfflineViolation": "export",
    "check_offline": "export",
    "export_html": "export",
    "ParamValue": "models",
    "RenderError": "models",
    "RenderRequest": "models",
    "RenderResult": "models",
    "redact_text": "redact",
    "render_notebook": "render",
    "default_raw_root": "retention",
    "sweep_raw": "retention",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'testkey_nb.report' has no attribute {name!r}")
    return getattr(importlib.import_module(f"testkey_nb.report.{module}"), name)


__all__ = [
    "OfflineViolation",
    "ParamValue",
    "RenderError",
    "RenderRequest",
    "RenderResult",
    "check_offline",
    "default_raw_root",
    "export_html",
    "redact_text",
    "render_notebook",
    "sweep_raw",
]
