"""A key's profile -> the billing model's frames: observed usage, instance prices, month projection.

Where the key could not read usage, deployments or prices, the result says so (``readable`` and the
reason) instead of inventing numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from testkey_nb.billing import PriceError, PriceTable, UsageFrames, from_usage_summary, project_month
from testkey_nb.check.profile import Profile

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class KeyBilling:
    usage: UsageFrames
    prices: PriceTable
    prices_readable: str
    deployments_readable: str
    projection: pl.DataFrame | None


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
    if deployments_state == "readable" and raw.get("deployments"):
        projection = project_month(list(raw["deployments"]), prices, now or datetime.now(UTC), usage)
    return KeyBilling(usage, prices, prices_state, deployments_state, projection)
