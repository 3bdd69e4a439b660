"""testkey-nb: read-only evidence about LLM-provider API keys.

The public surface, imported lazily (``import testkey_nb`` loads none of httpx, polars, papermill,
nbconvert or Altair; each name loads its module on first use)::

    import testkey_nb as tk
    check = tk.check("env:BASETEN_API_KEY", claim="baseten")   # a KeyCheck; shows its card in Jupyter
    check.models_frame().write_csv("models.csv")
    tk.compare([check, tk.check("env:OTHER_KEY", claim="openai")])
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "check": "testkey_nb.check",  # the package, callable: testkey_nb.check(ref, ...) runs api.check
    "check_async": "testkey_nb.api",
    "check_key": "testkey_nb.check.run",
    "check_key_async": "testkey_nb.check.run",
    "compare": "testkey_nb.api",
    "CheckError": "testkey_nb.check.result",
    "CheckOptions": "testkey_nb.check.result",
    "KeyCheck": "testkey_nb.check.result",
    "render_key": "testkey_nb.report.keyreport",
    "KeyJob": "testkey_nb.report.keyreport",
    "run_batch": "testkey_nb.batch",
    "resolve": "testkey_nb.secrets",
    "KeyRef": "testkey_nb.secrets",
    "KeyRefError": "testkey_nb.secrets",
    "Secret": "testkey_nb.secrets",
}

__all__ = [
    "CheckError",
    "CheckOptions",
    "KeyCheck",
    "KeyJob",
    "KeyRef",
    "KeyRefError",
    "Secret",
    "check",
    "check_async",
    "check_key",
    "check_key_async",
    "compare",
    "render_key",
    "resolve",
    "run_batch",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from testkey_nb.api import check, check_async, compare
    from testkey_nb.batch import run_batch
    from testkey_nb.check.result import CheckError, CheckOptions, KeyCheck
    from testkey_nb.check.run import check_key, check_key_async
    from testkey_nb.report.keyreport import KeyJob, render_key
    from testkey_nb.secrets import KeyRef, KeyRefError, Secret, resolve


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'testkey_nb' has no attribute {name!r}")
    value = import_module(module) if module == f"{__name__}.{name}" else getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
