"""Find a provider's interpreter: ``providers/<id>/interpret.py`` if the folder has one, else the
data-driven :func:`~testkey_nb.check.facts.header_facts`.

The file is loaded by path from the provider's folder (the registry knows where it is), so a provider
added as a folder, in the package or in another registry root, needs no code change here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from testkey_nb.check.facts import InterpretContext, ProviderFacts, cite_exchanges, header_facts

if TYPE_CHECKING:
    from testkey_nb.identify.schema import ProviderSpec
    from testkey_nb.probe.observation import Observation

__all__ = ["Interpreter", "interpret", "load_interpreter"]

Interpreter = Callable[[Sequence["Observation"], InterpretContext], ProviderFacts]


def load_interpreter(spec: ProviderSpec | None) -> Interpreter:
    """The provider's ``interpret`` function (``interpret.py`` in its folder), or :func:`header_facts`."""
    if spec is None:
        return header_facts
    path = spec.file("interpret.py")
    if path is None:
        return header_facts
    module = _load(spec.id, Path(str(path)))
    fn = getattr(module, "interpret", None)
    if not callable(fn):
        raise TypeError(f"providers/{spec.id}/interpret.py defines no interpret(observations, context)")
    return fn  # type: ignore[no-any-return]


def interpret(
    spec: ProviderSpec | None, observations: Sequence[Observation], context: InterpretContext
) -> ProviderFacts:
    """The provider's facts, each naming the exchange it rests on (:func:`cite_exchanges`)."""
    return cite_exchanges(load_interpreter(spec)(observations, context), observations)


def _load(provider_id: str, path: Path) -> ModuleType:
    # one module per file (a fixture registry's folder never shadows the package's own)
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    name = f"testkey_nb._providers.{provider_id}_{digest}"
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
