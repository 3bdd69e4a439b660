"""Errors of the billing package. Each carries a one-line message meant for the user (the CLI prints
it as is, without a traceback)."""

from __future__ import annotations

import datetime as _dt
from typing import Any


class BillingError(ValueError):
    """Base class: bad input to the billing model, with a message that names the culprit."""


class EventsError(BillingError):
    """A replica-lifecycle events file or frame is malformed (the message names the row and column)."""


class ScenarioError(BillingError):
    """A what-if scenario file is malformed (the message names the table and field)."""


class PriceError(BillingError):
    """An instance type has no price, or an `/v1/instance_type_prices` body has an unexpected shape."""


def shown(value: Any, limit: int = 60) -> str:
    """A value for an error message: dates and times in ISO 8601 (never ``datetime.datetime(...)``),
    anything else as its repr, cut at ``limit`` characters."""
    text = repr(value.isoformat()) if isinstance(value, (_dt.datetime, _dt.date, _dt.time)) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
