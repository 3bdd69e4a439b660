"""What the billing-lifecycle notebook shows, for a scenario file or for a key.

A scenario is simulated into replica events, metered, run through the ledger, and compared at
``min_replica`` 0 vs 1. A key shows what the probes could read (usage per deployment per day,
deployments, the month's projection); Baseten's API exposes no replica events, so there is no
replica timeline for a key, and the report says so.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testkey_nb.billing import billing_summary, load_scenario, run_scenario

if TYPE_CHECKING:
    import polars as pl

    from testkey_nb.billing.key_billing import KeyBilling
    from testkey_nb.billing.sweep import Sweep
    from testkey_nb.check.result import KeyCheck

__all__ = ["BillingView", "key_view", "scenario_view"]


@dataclass(frozen=True)
class BillingView:
    title: str
    source: str  # "scenario" | "key"
    events: pl.DataFrame | None = None
    hourly: pl.DataFrame | None = None
    timeline: pl.DataFrame | None = None
    invoices: pl.DataFrame | None = None
    deactivated_at: Any = None
    credits_usd: float | None = None
    tradeoff: pl.DataFrame | None = None
    summary: dict[str, Any] | None = None
    key_billing: KeyBilling | None = None
    unavailable: dict[str, str] | None = None
    #: days simulated and days in the scenario's month (a summary scales the simulated cost to a month)
    period_days: float | None = None
    month_days: int | None = None
    #: the scenario's ``[sweep]``: monthly cost against cold starts per setting (None without one)
    sweep: Sweep | None = None


def scenario_view(path: str | Path) -> BillingView:
    from testkey_nb.billing.sweep import run_sweep

    scenario = load_scenario(path)
    run = run_scenario(scenario)
    sweep = run_sweep(scenario) if scenario.sweep is not None else None
    ledger = run.billing.ledger
    summary = billing_summary(run.billing, source={"scenario": str(Path(path).name)}, simulation=run.simulation,
                              tradeoff=run.tradeoff)  # fmt: skip
    return BillingView(
        title=scenario.name,
        source="scenario",
        events=run.billing.metering.events,
        hourly=run.billing.metering.hourly,
        timeline=ledger.timeline,
        invoices=ledger.invoices,
        deactivated_at=ledger.deactivated_at,
        credits_usd=ledger.config.credits_usd,
        tradeoff=run.tradeoff,
        summary=summary,
        unavailable={
            "reconcile": "the reconciliation compares a workspace's deployments with its usage summary: "
            "run this notebook with a key that can read both"
        },
        period_days=scenario.minutes / 1440,
        month_days=calendar.monthrange(scenario.start.year, scenario.start.month)[1],
        sweep=sweep,
    )


def key_view(check: KeyCheck) -> BillingView:
    from testkey_nb.billing.key_billing import key_billing

    kb = key_billing(check.profile)
    unavailable = {
        "timeline": "Baseten's API exposes no replica lifecycle events: the timeline needs a scenario file",
        "whatif": "the what-if needs a traffic profile: run this notebook with a scenario file",
        "cumulative": "the ledger needs metered minutes: the key's usage summary is shown per day instead",
    }
    if not kb.usage.readable:
        unavailable["daily"] = f"no usage figures: {kb.usage.reason}"
    if kb.reconciliation is None:
        unavailable["reconcile"] = (
            f"no reconciliation: it needs the usage summary ({'readable' if kb.usage.readable else 'not read'}) "
            f"and the deployments ({kb.deployments_readable})"
        )
    return BillingView(
        title=f"workspace of key {check.label}",
        source="key",
        key_billing=kb,
        unavailable=unavailable,
    )
