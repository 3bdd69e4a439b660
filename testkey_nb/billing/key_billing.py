"""A key's profile -> the billing model's frames: observed usage, instance prices, month projection.

Where the key could not read usage, deployments or prices, the result says so (``readable`` and the
reason) instead of inventing numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from testkey_nb.billing import PriceError, PriceTable, UsageFrames, from_usage_summary, project_month
from testkey_nb.check.profile import Profile

if TYPE_CHECKING:
    import polars as pl

    from testkey_nb.billing.reconcile import Reconciliation


@dataclass(frozen=True)
class KeyBilling:
    usage: UsageFrames
    prices: PriceTable
    prices_readable: str
    deployments_readable: str
    projection: pl.DataFrame | None
    #: the metering model against the usage summary per day (None when usage or deployments were not read)
    reconciliation: Reconciliation | None = None


def key_billing(profile: Profile, now: datetime | None = None) -> KeyBilling:
    raw: dict[str, Any] = dict(profile.raw)
    readable = raw.get("readable", {})
    usage_state = readable.get("usage", "not probed")
    usage = from_usage_summary(
        raw.get("usage") if usage_state == "readable" else None,
        reason=None if usage_state == "readable" else f"usage summary {usage_state}",
    )
    prices_state = readable.get("prices", "not probed")
    prices = PriceTable.default()
    if prices_state == "readable":
        try:
            prices = PriceTable.from_instance_type_prices(raw["prices"])
        except PriceError as exc:
            prices_state = f"not usable ({exc}); the documented table is used"
    deployments_state = readable.get("deployments", "not probed")
    projection = None
    reconciliation = None
    at = now or datetime.now(UTC)
    if deployments_state == "readable" and raw.get("deployments"):
        projection = project_month(list(raw["deployments"]), prices, at, usage)
        if usage.readable:
            from testkey_nb.billing.reconcile import reconcile

            days = usage.daily["date"].drop_nulls()
            first = days.min() if days.len() else (at - timedelta(days=30)).date()
            start = datetime.combine(first, time(0), UTC)  # type: ignore[arg-type]
            reconciliation = reconcile(list(raw["deployments"]), usage, prices, start=start, end=at)
    return KeyBilling(usage, prices, prices_state, deployments_state, projection, reconciliation)
