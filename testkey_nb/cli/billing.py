"""``testkey-nb billing``: meter replica lifecycle events or simulate a what-if scenario.

Module-level imports stay light (typer only); polars and rich are imported when the command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from testkey_nb.billing.errors import BillingError

_EVENTS = typer.Option(
    None,
    "--events",
    help="CSV of replica lifecycle events: deployment_id, replica_id, instance_type, phase, start, end "
    "(ISO 8601, UTC), optional development and price_per_minute.",
)
_SCENARIO = typer.Option(
    None,
    "--scenario",
    help="TOML what-if scenario: autoscaling, traffic, cold start, credits. A file, or a bundled one by name "
    "(bursty_chatbot, free_credits_no_card).",
)
_CREDITS = typer.Option(None, "--credits", help="Free credits in USD (default: the scenario's, else $30).")
_PAYMENT = typer.Option(
    None,
    "--payment-method/--no-payment-method",
    help="Whether a payment method is on file (default: the scenario's, else yes).",
)
_JSON = typer.Option(False, "--json", help="Print one JSON object instead of tables.")


#: polars allocates through jemalloc (symbols prefixed ``_rjem_``), which keeps freed pages for 10 s by
#: default: metering a fleet-scale CSV piece by piece then peaks ~80 MB higher than it needs. Returning
#: them after 50 ms costs no measurable time (benchmarks/billing_bench.py --cli; docs/billing.md).
#: Only set when polars is not imported yet (jemalloc reads it once) and the user has not set it.
_JEMALLOC_ENV = "_RJEM_MALLOC_CONF"
_JEMALLOC_CONF = "dirty_decay_ms:50,muzzy_decay_ms:0"


def _return_freed_memory_promptly() -> None:
    import os
    import sys

    if "polars" not in sys.modules and _JEMALLOC_ENV not in os.environ:
        os.environ[_JEMALLOC_ENV] = _JEMALLOC_CONF


def billing(
    events: Path | None = _EVENTS,
    scenario: Path | None = _SCENARIO,
    credits: float | None = _CREDITS,
    payment_method: bool | None = _PAYMENT,
    as_json: bool = _JSON,
) -> None:
    """Billed minutes, cost, credits, invoices and deactivation, from events or a scenario."""
    _return_freed_memory_promptly()
    try:
        summary = run_billing(
            events=events, scenario=scenario, credits=credits, payment_method=payment_method
        )
    except (BillingError, OSError) as exc:
        message = " ".join(str(exc).split()) or exc.__class__.__name__
        typer.echo(f"testkey-nb: error: {message}", err=True)
        raise typer.Exit(code=2) from None
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        _print_tables(summary)


def run_billing(
    *,
    events: Path | None = None,
    scenario: Path | None = None,
    credits: float | None = None,
    payment_method: bool | None = None,
) -> dict[str, Any]:
    """The body of the command, returning `billing_summary`'s dict; raises `BillingError`."""
    from dataclasses import replace

    from testkey_nb.billing.ledger import DEFAULT_CREDITS_USD, LedgerConfig
    from testkey_nb.billing.pipeline import bill
    from testkey_nb.billing.prices import PriceTable
    from testkey_nb.billing.summary import billing_summary

    if (events is None) == (scenario is None):
        raise BillingError("give exactly one of --events FILE.csv or --scenario FILE.toml")
    if credits is not None and not credits >= 0:
        raise BillingError(f"--credits must be a number of USD >= 0, got {credits}")
    prices = PriceTable.default()

    if events is not None:
        cfg = LedgerConfig(
            credits_usd=DEFAULT_CREDITS_USD if credits is None else credits,
            payment_method=True if payment_method is None else payment_method,
        )
        source = {"kind": "events", "file": events.name}
        fast = _columnar(events, prices, cfg, source)
        if fast is not None:
            return fast
        from testkey_nb.billing.events import load_events_csv

        run = bill(load_events_csv(events), prices, cfg, label=events.name)
        return billing_summary(run, source=source)

    from testkey_nb._files import scenario_path
    from testkey_nb.billing.scenario import load_scenario
    from testkey_nb.billing.simulate import run_scenario

    assert scenario is not None
    scenario = scenario_path(scenario)
    sc = load_scenario(scenario)
    cfg = sc.billing
    if credits is not None:
        cfg = replace(cfg, credits_usd=credits)
    if payment_method is not None:
        cfg = replace(cfg, payment_method=payment_method)
    result = run_scenario(sc, prices, cfg)
    out = billing_summary(
        result.billing,
        source={"kind": "scenario", "file": scenario.name, "name": sc.name, "month": sc.month},
        simulation=result.simulation,
        tradeoff=result.tradeoff,
    )
    if sc.schedules:
        out["schedules"] = [s.describe() for s in sc.schedules]
    if sc.sweep is not None:
        from testkey_nb.billing.sweep import run_sweep

        sweep = run_sweep(sc, prices)
        out["sweep"] = {
            "max_cold_starts": sweep.max_cold_starts,
            "best": sweep.best(),
            "statement": sweep.statement(),
            "rows": sweep.rows.to_dicts(),
        }
    return out


def _columnar(path: Path, prices: Any, cfg: Any, source: dict[str, Any]) -> dict[str, Any] | None:
    """The fleet-scale path (`testkey_nb.billing.columnar`); None when the in-process path must run
    (a problem to report with its line, or a deactivation that re-meters the events)."""
    from testkey_nb.billing.columnar import meter_csv
    from testkey_nb.billing.ledger import run_ledger
    from testkey_nb.billing.summary import summary_from_parts

    cm = meter_csv(path, prices)
    if cm is None:
        return None
    ledger = run_ledger(cm.minute_usage, cfg)
    if ledger.deactivated_at is not None:
        return None
    return summary_from_parts(
        by_phase=cm.by_phase,
        by_deployment=cm.by_deployment,
        deployments=cm.deployments,
        billed_minutes=cm.billed_minutes,
        period=cm.period,
        ledger=ledger,
        prices=cm.prices,
        source=source,
    )


def _usd(x: float) -> str:
    return f"${x:,.2f}" if abs(x) >= 0.01 or x == 0 else f"${x:,.6f}"


def _print_tables(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    src = summary.get("source") or {}
    title = src.get("name") or src.get("file") or "billing"
    head = Table(title=f"Billing: {title}", show_header=False)
    head.add_column("", style="bold")
    head.add_column("")
    period = summary["period"]
    head.add_row("period", f"{period['start']} .. {period['end']}")
    head.add_row("billed minutes", f"{summary['billed_minutes']:,}")
    head.add_row("usage (before credits)", _usd(summary["total_usd"]))
    used, given = _usd(summary["credits_used_usd"]), _usd(summary["credits_usd"])
    head.add_row("credits used / given", f"{used} / {given}")
    head.add_row("net of credits", _usd(summary["net_usd"]))
    head.add_row("payment method", "yes" if summary["payment_method"] else "no")
    head.add_row("deactivated at", summary["deactivated_at"] or "never")
    head.add_row("monthly cadence from", summary["monthly_cadence_from"] or "not reached")
    prices = summary["prices"]
    head.add_row("prices", f"{prices['provenance']}: {prices['source']}")
    console.print(head)

    phases = Table(title="By phase")
    for col in ("phase", "billed", "wall minutes", "billed minutes", "usd"):
        phases.add_column(col, justify="left" if col == "phase" else "right")
    for phase, row in summary["by_phase"].items():
        phases.add_row(
            phase,
            "yes" if row["billed"] else "no",
            f"{row['wall_minutes']:,.2f}",
            f"{row['minutes']:,.2f}",
            _usd(row["usd"]),
        )
    console.print(phases)

    deps = Table(title="By deployment")
    for col in ("deployment", "up-intervals", "billed minutes", "usd"):
        deps.add_column(col, justify="left" if col == "deployment" else "right")
    for dep, row in summary["by_deployment"].items():
        deps.add_row(dep, str(row["up_intervals"]), f"{row['billed_minutes']:,}", _usd(row["usd"]))
    console.print(deps)

    inv = Table(title="Invoices")
    for col in ("issued at", "reason", "usage", "credits", "amount (net)", "status"):
        inv.add_column(col, justify="left" if col in ("issued at", "reason") else "right")
    for row in summary["invoices"]:
        inv.add_row(
            row["issued_at"],
            row["reason"],
            _usd(row["gross_usd"]),
            _usd(row["credits_applied_usd"]),
            _usd(row["amount_usd"]),
            row["status"],
        )
    console.print(inv)

    trade = summary.get("tradeoff")
    if trade:
        t = Table(title="Cold-start trade-off (usage before credits)")
        for col in ("min_replica", "billed minutes", "usd", "cold starts", "first-request +latency"):
            t.add_column(col, justify="right")
        for row in trade["rows"]:
            t.add_row(
                str(row["min_replica"]),
                f"{row['billed_minutes']:,}",
                _usd(row["total_usd"]),
                str(row["cold_starts"]),
                f"{row['first_request_added_latency_s']:g} s",
            )
        console.print(t)
        if trade.get("statement"):
            console.print(trade["statement"])
