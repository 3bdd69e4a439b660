"""The JSON object of ``testkey-nb billing --json`` (also what the notebook shows as headline figures)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from testkey_nb.billing.events import BILLED_PHASES
from testkey_nb.billing.ledger import CREDITS_SOURCE, DEFAULT_CREDITS_USD

if TYPE_CHECKING:
    import polars as pl

    from testkey_nb.billing.ledger import LedgerResult
    from testkey_nb.billing.pipeline import BillingRun
    from testkey_nb.billing.prices import PriceTable
    from testkey_nb.billing.simulate import Simulation

RULES: dict[str, str] = {
    "rounding": "partial minutes rounded up once per replica up-interval (consecutive billed phases)",
    "billed_phases": "build, build_failed (up to the failure), model_load, serving, idle, training",
    "not_billed_phases": "scheduling, image_pull, drain, failed_boot, scaled_to_zero; "
    "development deployments",
    "minute_grid": "a billed minute is charged in the UTC minute in which it begins",
    "credits": "applied before any card charge; default $30 per the older billing docs page",
    "invoices": "when usage (before credits) of the open period exceeds the threshold, detected per minute, "
    "or at the end of the UTC calendar month; a threshold invoice closes the period; amounts net of credits",
    "cadence": "monthly only after monthly_after_payments successful payments "
    "(the docs do not give the number)",
    "deactivation": "no payment method: in the minute cumulative usage exceeds credits; "
    "nothing metered after",
}


def iso(ts: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z suffix, or None."""
    if ts is None:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    text = ts.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def _r(x: float | None, digits: int = 6) -> float:
    return round(float(x or 0.0), digits)


def billing_summary(
    run: BillingRun,
    *,
    source: dict[str, Any] | None = None,
    simulation: Simulation | None = None,
    tradeoff: pl.DataFrame | None = None,
) -> dict[str, Any]:
    """One JSON-ready object: billed_minutes, total_usd (before credits), credits_used_usd, net_usd,
    by_phase (phase -> minutes, usd, wall_minutes, billed), by_deployment, invoices (issued_at,
    amount_usd net of credits, reason threshold|month_end, ...), deactivated_at (null when it never
    happens), plus credits, cadence, price provenance and the rules applied. With a simulation, also
    the cold-start trade-off (``tradeoff``)."""
    m = run.metering
    events = m.events
    out = summary_from_parts(
        by_phase=m.by_phase(),
        by_deployment=m.by_deployment(),
        deployments=events["deployment_id"].unique().sort().to_list(),
        billed_minutes=m.billed_minutes,
        period=(events["start"].min(), events["end"].max()) if events.height else (None, None),
        ledger=run.ledger,
        prices=m.prices,
        source=source,
    )
    if simulation is not None:
        out["simulation"] = {
            "cold_starts": simulation.cold_starts,
            "first_request_added_latency_s": _r(simulation.first_request_added_latency_s, 3),
            "replicas": simulation.replicas.height,
            "peak_replicas": int(simulation.minutes["replicas"].max() or 0),  # type: ignore[arg-type]
        }
    if tradeoff is not None:
        out["tradeoff"] = tradeoff_summary(tradeoff, simulation)
    return out


def summary_from_parts(
    *,
    by_phase: pl.DataFrame,
    by_deployment: pl.DataFrame,
    deployments: list[str],
    billed_minutes: int,
    period: tuple[Any, Any],
    ledger: LedgerResult,
    prices: PriceTable,
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The summary object from the figures alone: `billing_summary` (in-process metering) and the
    columnar CLI path (`testkey_nb.billing.columnar`) both build it here, so they cannot drift apart."""
    led = ledger
    cfg = led.config
    phases = {
        row["phase"]: {
            "minutes": _r(row["billed_minutes"]),
            "usd": _r(row["usd"]),
            "wall_minutes": _r(row["wall_minutes"]),
            "billed": row["phase"] in BILLED_PHASES,
        }
        for row in by_phase.iter_rows(named=True)
    }
    per_dep = {
        row["deployment_id"]: {
            "billed_minutes": int(row["billed_minutes"]),
            "usd": _r(row["usd"]),
            "up_intervals": int(row["up_intervals"]),
        }
        for row in by_deployment.iter_rows(named=True)
    }
    for dep in deployments:
        per_dep.setdefault(dep, {"billed_minutes": 0, "usd": 0.0, "up_intervals": 0})
    invoices = [
        {
            "issued_at": iso(row["issued_at"]),
            "amount_usd": _r(row["amount_usd"]),
            "reason": row["reason"],
            "gross_usd": _r(row["gross_usd"]),
            "credits_applied_usd": _r(row["credits_applied_usd"]),
            "paid": bool(row["paid"]),
            "status": row["status"],
            "period_start": iso(row["period_start"]),
            "period_end": iso(row["period_end"]),
        }
        for row in led.invoices.iter_rows(named=True)
    ]
    if cfg.prior_successful_payments >= cfg.monthly_after_payments:
        cadence_from: str | None = "already monthly"
    else:
        cadence_from = iso(led.monthly_cadence_from)
    return {
        "source": source or {},
        "period": {"start": iso(period[0]), "end": iso(period[1])},
        "billed_minutes": billed_minutes,
        "total_usd": _r(led.total_usd),
        "credits_usd": _r(cfg.credits_usd),
        "credits_used_usd": _r(led.credits_used_usd),
        "credits_remaining_usd": _r(led.credits_remaining_usd),
        "net_usd": _r(led.net_usd),
        "payment_method": cfg.payment_method,
        "by_phase": phases,
        "by_deployment": per_dep,
        "invoices": invoices,
        "deactivated_at": iso(led.deactivated_at),
        "monthly_cadence_from": cadence_from,
        "ledger": cfg.as_dict()
        | {"credits_source": CREDITS_SOURCE if cfg.credits_usd == DEFAULT_CREDITS_USD else "given"},
        "prices": prices.provenance_dict(),
        "rules": dict(RULES),
    }


def tradeoff_summary(tradeoff: pl.DataFrame, simulation: Simulation | None = None) -> dict[str, Any]:
    """Rows of `compare_min_replica` plus a one-line statement of the trade-off."""
    rows = [
        {k: (_r(v) if isinstance(v, float) else v) for k, v in row.items()}
        for row in tradeoff.sort("min_replica").iter_rows(named=True)
    ]
    out: dict[str, Any] = {"rows": rows}
    if len(rows) >= 2:
        low, high = rows[0], rows[-1]
        saved = _r(high["total_usd"] - low["total_usd"])
        out["usd_saved"] = saved
        out["compared"] = [low["min_replica"], high["min_replica"]]
        out["cold_starts_added"] = low["cold_starts"] - high["cold_starts"]
        out["first_request_added_latency_s"] = low["first_request_added_latency_s"]
        days = ""
        if simulation is not None:
            n = simulation.scenario.minutes // 1440
            days = f" over {n} day{'s' if n != 1 else ''}"
        out["statement"] = (
            f"min_replica {low['min_replica']} instead of {high['min_replica']} saves ${saved:,.2f}{days}, "
            f"but {out['cold_starts_added']} first request(s) after a quiet stretch wait "
            f"+{low['first_request_added_latency_s']:g} s each (cold start: image pull + model load)"
        )
    return out
