"""Billing lifecycle: Baseten's metering rules, the autoscaling what-if simulator and the credit/invoice
ledger. Pure domain code with polars frames at its edges (polars is imported lazily, so importing this
package stays cheap for the CLI).

Flow: events (CSV or `simulate`) -> `meter` -> `MeteringResult.minute_usage` -> `run_ledger`;
`bill` runs the three (with deactivation feeding back into metering) and `billing_summary` turns the
result into the JSON object of ``testkey-nb billing --json``. For a real key, `from_usage_summary` and
`project_month` read what the probes saw, and say so when they saw nothing.

Frame columns are documented in `testkey_nb.billing.events` (events), `testkey_nb.billing.metering`
(events with billed/reason, up_intervals, hourly, minute usage), `testkey_nb.billing.ledger` (timeline,
invoices), `testkey_nb.billing.simulate` (minutes, replicas) and `testkey_nb.billing.observed`.
"""

from __future__ import annotations

from testkey_nb.billing.errors import BillingError, EventsError, PriceError, ScenarioError
from testkey_nb.billing.events import BILLED_PHASES, PHASES, REASONS, load_events_csv, normalize_events
from testkey_nb.billing.ledger import LedgerConfig, LedgerResult, run_ledger
from testkey_nb.billing.metering import MeteringResult, hourly_usage, meter, minute_usage
from testkey_nb.billing.observed import UsageFrames, from_usage_summary, project_month
from testkey_nb.billing.pipeline import BillingRun, bill
from testkey_nb.billing.prices import PriceTable
from testkey_nb.billing.scenario import (
    AutoscalingSettings,
    Build,
    ColdStart,
    DeploymentSpec,
    Scenario,
    Traffic,
    TrafficSegment,
    load_scenario,
    parse_scenario,
)
from testkey_nb.billing.simulate import (
    ScenarioRun,
    Simulation,
    compare_min_replica,
    run_scenario,
    simulate,
    simulate_detail,
)
from testkey_nb.billing.summary import billing_summary

__all__ = [
    "BILLED_PHASES",
    "PHASES",
    "REASONS",
    "AutoscalingSettings",
    "BillingError",
    "BillingRun",
    "Build",
    "ColdStart",
    "DeploymentSpec",
    "EventsError",
    "LedgerConfig",
    "LedgerResult",
    "MeteringResult",
    "PriceError",
    "PriceTable",
    "Scenario",
    "ScenarioError",
    "ScenarioRun",
    "Simulation",
    "Traffic",
    "TrafficSegment",
    "UsageFrames",
    "bill",
    "billing_summary",
    "compare_min_replica",
    "from_usage_summary",
    "hourly_usage",
    "load_events_csv",
    "load_scenario",
    "meter",
    "minute_usage",
    "normalize_events",
    "parse_scenario",
    "project_month",
    "run_ledger",
    "run_scenario",
    "simulate",
    "simulate_detail",
]
