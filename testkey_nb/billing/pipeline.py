"""Events -> metering -> ledger, with deactivation feeding back into metering."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from testkey_nb.billing.ledger import LedgerConfig, LedgerResult, run_ledger
from testkey_nb.billing.metering import MeteringResult, meter
from testkey_nb.billing.prices import PriceTable

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class BillingRun:
    """Metering and ledger of one workspace's events."""

    metering: MeteringResult
    ledger: LedgerResult
    minute_usage: pl.DataFrame

    @property
    def config(self) -> LedgerConfig:
        return self.ledger.config


def bill(
    events: pl.DataFrame,
    prices: PriceTable | None = None,
    config: LedgerConfig | None = None,
    *,
    label: str = "events",
) -> BillingRun:
    """Meter the events, run the ledger, and when the workspace is deactivated (credits exhausted, no
    payment method) meter again with nothing billed after the deactivation minute."""
    table = prices or PriceTable.default()
    cfg = config or LedgerConfig()
    metering = meter(events, table, label=label)
    usage = metering.minute_usage()
    ledger = run_ledger(usage, cfg)
    if ledger.deactivated_at is not None:
        metering = meter(events, table, stop_at=ledger.deactivated_at + timedelta(minutes=1), label=label)
        usage = metering.minute_usage()
        ledger = run_ledger(usage, cfg)
    return BillingRun(metering=metering, ledger=ledger, minute_usage=usage)
