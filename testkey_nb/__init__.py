"""testkey-nb: read-only evidence about LLM-provider API keys.

The public surface, imported lazily (``import testkey_nb`` loads none of httpx, polars, papermill,
nbconvert or Altair; each name loads its module on first use)::

    import testkey_nb as tk
    check = tk.check("env:BASETEN_API_KEY", claim="baseten")   # a KeyCheck; shows its card in Jupyter
    check.models_frame().write_csv("models.csv")
    tk.compare([check, tk.check("env:OTHER_KEY", claim="openai")])
    tk.load_history("reports/.history/history.duckdb")      # every snapshot so far, one row each
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> "module" (the name is defined there) or "module:name" (defined there as ``name``)
_EXPORTS: dict[str, str] = {
    "check": "testkey_nb.check",  # the package, callable: testkey_nb.check(ref, ...) runs api.check
    "check_async": "testkey_nb.api",
    "compare": "testkey_nb.api",
    "load_history": "testkey_nb.history:load",
    "render_key": "testkey_nb.report.keyreport",
    "run_batch": "testkey_nb.batch",
    "Secret": "testkey_nb.secrets",
    "KeyCheck": "testkey_nb.api",
}

__all__ = ["KeyCheck", "Secret", "check", "check_async", "compare", "load_history", "render_key", "run_batch"]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from testkey_nb.api import KeyCheck, check, check_async, compare
    from testkey_nb.batch import run_batch
    from testkey_nb.history import load as load_history
    from testkey_nb.report.keyreport import render_key
    from testkey_nb.secrets import Secret


def __getattr__(name: str) -> Any:
    where = _EXPORTS.get(name)
    if where is None:
        raise AttributeError(f"module 'testkey_nb' has no attribute {name!r}")
    module, _, attr = where.partition(":")
    value = import_module(module) if module == f"{__name__}.{name}" else getattr(import_module(module), attr or name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
