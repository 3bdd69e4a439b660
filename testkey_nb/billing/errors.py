"""Errors of the billing package. Each carries a one-line message meant for the user (the CLI prints
it as is, without a traceback)."""

from __future__ import annotations


class BillingError(ValueError):
    """Base class: bad input to the billing model, with a message that names the culprit."""


class EventsError(BillingError):
    """A replica-lifecycle events file or frame is malformed (the message names the row and column)."""


class ScenarioError(BillingError):
    """A what-if scenario file is malformed (the message names the table and field)."""


class PriceError(BillingError):
    """An instance type has no price, or an `/v1/instance_type_prices` body has an unexpected shape."""
