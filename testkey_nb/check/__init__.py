"""One key end to end: the result (`result`), where the key may go (`targets`), the scheme trials
(`session`), the run (`run`), combining facts (`profile`), deciding (`decide`).

The package is also the public call ``testkey_nb.check(ref, ...)``: calling it forwards to
:func:`testkey_nb.api.check` (the package keeps its name, so ``testkey_nb.check.run`` and
``testkey_nb.check(...)`` both work whatever was imported first). That forward, imported when called,
is the only place ``check`` names a module above it.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CheckPackage(types.ModuleType):
    def __call__(self, ref: Any, **kwargs: Any) -> Any:
        from testkey_nb.api import check

        return check(ref, **kwargs)

    @property
    def __signature__(self) -> Any:  # help() and IDEs show check()'s parameters
        import inspect

        from testkey_nb.api import check

        return inspect.signature(check)


sys.modules[__name__].__class__ = _CheckPackage
