"""Typed reads from one table of a scenario file (TOML), with messages naming the file, table and field.

The one reader of scenario tables (:mod:`testkey_nb.billing.scenario` reads each of its tables with it).
"""

from __future__ import annotations

import math
from typing import Any

from testkey_nb.billing.errors import ScenarioError, shown

__all__ = ["Table"]


class Table:
    """Typed reads from one TOML table, with messages naming the file, table and field."""

    def __init__(self, label: str, name: str, data: Any, known: tuple[str, ...]):
        self.label, self.name = label, name
        if not isinstance(data, dict):
            raise ScenarioError(f"{label}: [{name}] must be a table, got {shown(data)}")
        self.data = data
        for key in data:
            if key not in known:
                raise ScenarioError(
                    f"{label}: [{name}].{key} is not a known field (known: {', '.join(known)})"
                )

    def _fail(self, key: str, what: str, value: Any) -> ScenarioError:
        return ScenarioError(f"{self.label}: [{self.name}].{key} must be {what}, got {shown(value)}")

    def _missing(self, key: str, example: str) -> ScenarioError:
        return ScenarioError(f"{self.label}: [{self.name}].{key} is required (e.g. {key} = {example})")

    def integer(
        self, key: str, default: int | None, lo: int | None = None, hi: int | None = None, example: str = "1"
    ) -> int:
        if key not in self.data:
            if default is None:
                raise self._missing(key, example)
            return default
        value = self.data[key]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or (lo is not None and value < lo)
            or (hi is not None and value > hi)
        ):
            raise self._fail(key, _range("an integer", lo, hi), self.data[key])
        return value

    def number(
        self,
        key: str,
        default: float | None,
        lo: float | None = None,
        hi: float | None = None,
        *,
        positive: bool = False,
        example: str = "1.0",
    ) -> float:
        if key not in self.data:
            if default is None:
                raise self._missing(key, example)
            return default
        value = self.data[key]
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        ok = (
            ok and (lo is None or value >= lo) and (hi is None or value <= hi) and (not positive or value > 0)
        )
        if not ok:
            what = "a number > 0" if positive else _range("a number", lo, hi)
            raise self._fail(key, what, value)
        return float(value)

    def optional_number(self, key: str, lo: float) -> float | None:
        return self.number(key, None, lo) if key in self.data else None

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false", value)
        return value

    def string(self, key: str, default: str | None, example: str = "'x'") -> str:
        if key not in self.data:
            if default is None:
                raise self._missing(key, example)
            return default
        value = self.data[key]
        if not isinstance(value, str) or not value.strip():
            raise self._fail(key, "a non-empty string", value)
        return value.strip()


def _range(kind: str, lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"{kind} between {lo:g} and {hi:g}"
    if lo is not None:
        return f"{kind} >= {lo:g}"
    if hi is not None:
        return f"{kind} <= {hi:g}"
    return kind
