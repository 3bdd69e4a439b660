"""Defer the one import that dominates a report's start-up: ``rfc3987_syntax``'s grammar.

jsonschema (imported by altair, nbformat, papermill and nbconvert) does, at import,
``from rfc3987_syntax import is_valid_syntax`` when the ``format-nongpl`` extra is installed (every
Jupyter install has it, through jupyter-events). ``rfc3987_syntax`` 1.1 builds an Earley grammar
with lark *at import*: about 2.8 s on a small machine, in every kernel and every render process
(upstream: python-jsonschema/jsonschema#1428). The maintained fork ``rfc3987-syntax2`` is lazy but
installs a module of another name (``rfc3987_syntax2``), which jsonschema does not import.

:func:`defer_rfc3987_syntax` puts a stand-in under the name ``rfc3987_syntax`` in ``sys.modules``
(no installed file is touched): its ``is_valid_syntax`` imports the real module on its first call
and delegates to it, as does any other attribute. Validating an ``iri`` format still uses the real
grammar; a process that never validates one never builds it. Call it before the first import of
jsonschema; it does nothing when the real module is loaded already or is not installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any, Final

__all__ = ["defer_rfc3987_syntax"]

_NAME: Final = "rfc3987_syntax"


class _Deferred(types.ModuleType):
    """Stands in for ``rfc3987_syntax`` until something of it is used."""

    def __init__(self) -> None:
        super().__init__(_NAME, "deferred by testkey_nb._importtax: loads the real module on first use")
        self._tk_lock = threading.Lock()
        self._tk_real: types.ModuleType | None = None

    def _tk_load(self) -> types.ModuleType:
        with self._tk_lock:
            if self._tk_real is None:
                if sys.modules.get(_NAME) is self:
                    del sys.modules[_NAME]
                try:
                    self._tk_real = importlib.import_module(_NAME)
                except BaseException:
                    sys.modules.setdefault(_NAME, self)
                    raise
            return self._tk_real

    def is_valid_syntax(self, term: str, value: str) -> bool:
        return bool(self._tk_load().is_valid_syntax(term, value))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_tk_") or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._tk_load(), name)


def defer_rfc3987_syntax() -> bool:
    """Install the stand-in; True when it is (now or already) in place."""
    current = sys.modules.get(_NAME)
    if isinstance(current, _Deferred):
        return True
    if current is not None or "jsonschema" in sys.modules:
        return False  # too late: the real module (and its grammar) is loaded already
    try:
        if importlib.util.find_spec(_NAME) is None:
            return False
    except (ImportError, ValueError):
        return False
    sys.modules[_NAME] = _Deferred()
    return True
