"""The render boundary: request, result, error."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ParamValue", "RenderError", "RenderRequest", "RenderResult"]

#: What a notebook parameter may hold: data only, never the key (pass the NAME of an env var).
ParamValue = str | int | float | bool | None


@dataclass(frozen=True, repr=False)
class RenderRequest:
    """One notebook to execute and export.

    ``parameters`` are written into the executed notebook (papermill's injected cell and its
    metadata): data only, never a secret. The key reaches the kernel through ``kernel_env``
    (e.g. ``{"TESTKEY_NB_KEY": <value>}``), written once into the kernel's own pipe (never its
    environment); the notebook reads it with ``keychannel.take(NAME)``, NAME being a parameter.
    Every ``kernel_env`` value and every ``redact`` value is scrubbed from error text and logs, and
    a report containing one of them is refused.
    """

    notebook: Path
    out_html: Path
    parameters: Mapping[str, ParamValue]
    kernel_env: Mapping[str, str]
    redact: Sequence[str]
    label: str
    timeout_s: float = 300
    cell_timeout_s: float = 120

    def __repr__(self) -> str:  # kernel_env and redact hold secrets: never print them
        return (
            f"RenderRequest(notebook={self.notebook!r}, out_html={self.out_html!r}, "
            f"parameters={dict(self.parameters)!r}, kernel_env=<{len(self.kernel_env)} hidden>, "
            f"redact=<{len(self.redact)} hidden>, label={self.label!r}, timeout_s={self.timeout_s!r}, "
            f"cell_timeout_s={self.cell_timeout_s!r})"
        )

    def secret_values(self) -> tuple[str, ...]:
        """Everything to scrub: the kernel_env values and the redact list (non-empty, unique)."""
        values = [*self.kernel_env.values(), *self.redact]
        return tuple(dict.fromkeys(v for v in values if isinstance(v, str) and v))


#: The kernel finds its outbox folder (inside the private run folder) in this variable.
OUTBOX_ENV = "TESTKEY_NB_OUTBOX"


@dataclass(frozen=True)
class RenderResult:
    """A written report."""

    label: str
    out_html: Path
    seconds: float
    bytes: int
    #: JSON files the notebook left in its outbox (``TESTKEY_NB_OUTBOX``), read before the raw folder went.
    outbox: Mapping[str, builtins.bytes] = field(default_factory=dict)


class RenderError(Exception):
    """A render failed. ``reason`` is one line and already redacted; ``str()`` is ``label: reason``."""

    def __init__(self, label: str, reason: str) -> None:
        super().__init__(f"{label}: {reason}")
        self.label = label
        self.reason = reason

    def __reduce__(self) -> tuple[type[RenderError], tuple[str, str]]:
        return (RenderError, (self.label, self.reason))
