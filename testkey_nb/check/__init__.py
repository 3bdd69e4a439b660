"""One key end to end: run the probes (`run`), combine facts (`profile`), decide (`decide`).

The package is also the public call ``testkey_nb.check(ref, ...)``: calling it runs
:func:`testkey_nb.check.run.check` (the package keeps its name, so ``testkey_nb.check.run`` and
``testkey_nb.check(...)`` both work whatever was imported first).
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CheckPackage(types.ModuleType):
    def __call__(self, ref: Any, **kwargs: Any) -> Any:
        from testkey_nb.check.run import check

        return check(ref, **kwargs)

    @property
    def __signature__(self) -> Any:  # help() and IDEs show check()'s parameters
        import inspect

        from testkey_nb.check.run import check

        return inspect.signature(check)


sys.modules[__name__].__class__ = _CheckPackage
