"""What travels between the batch runner and its executors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testkey_nb.report.keyreport import KeyJob
from testkey_nb.secrets import Secret

__all__ = ["BatchInputError", "BatchResult", "KeyOutcome", "KeyStatus", "RenderTask", "SealedKey"]


class BatchInputError(ValueError):
    """The batch cannot start: bad keys file, bad option, cluster refused or unreachable. Exit status 2."""


@dataclass(frozen=True, repr=False)
class RenderTask:
    """One key to render: the job (data only) and the secret (kept in memory, never printed)."""

    index: int
    job: KeyJob
    secret: Secret
    retention_s: float = 300

    @property
    def label(self) -> str:
        return self.job.label or self.secret.label

    def __repr__(self) -> str:
        return f"RenderTask(index={self.index}, label={self.label!r})"


class SealedKey:
    """A key on its way to a cluster worker inside a task's arguments.

    Unlike :class:`~testkey_nb.secrets.Secret` it can be pickled (the task must carry it), but its
    ``repr``/``str`` never show the value, so a scheduler or worker log that prints a task's arguments
    shows ``<sealed key>``.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def open(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<sealed key>"

    __str__ = __repr__

    def __getstate__(self) -> tuple[None, dict[str, str]]:
        return (None, {"_value": self._value})

    def __setstate__(self, state: tuple[None, dict[str, str]]) -> None:
        self._value = state[1]["_value"]


@dataclass(frozen=True)
class KeyOutcome:
    """How one render ended. A local executor writes the report itself (``html_path``); a remote one
    returns the page (``html_bytes``) and the runner writes it into the caller's ``--out``."""

    label: str
    summary: Mapping[str, Any] | None
    error: str | None
    seconds: float
    html_path: Path | None = None
    html_bytes: bytes | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class KeyStatus:
    """One key's line in a batch result: ``rendered``, ``unchanged`` (probed, same facts: report kept),
    ``failed`` or ``interrupted``."""

    label: str
    state: str
    error: str | None = None
    report: Path | None = None
    seconds: float = 0.0
    verdict: str | None = None


@dataclass(frozen=True)
class BatchResult:
    keys: tuple[KeyStatus, ...]
    index_html: Path | None
    index_json: Path | None
    interrupted: bool = False
    seconds: float = 0.0

    def count(self, state: str) -> int:
        return sum(1 for k in self.keys if k.state == state)

    @property
    def failed(self) -> tuple[KeyStatus, ...]:
        return tuple(k for k in self.keys if k.state in ("failed", "interrupted"))

    @property
    def ok(self) -> bool:
        """Every key has a report (rendered now or unchanged) and the batch was not interrupted."""
        return not self.interrupted and all(k.state in ("rendered", "unchanged") for k in self.keys)
