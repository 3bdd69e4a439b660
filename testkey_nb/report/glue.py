"""Kernel-side glue for the notebooks: run the package's calls and display their results.

Notebooks stay narrative + calls; everything here is thin and the logic it calls is tested in the
package. Notebooks pass the *name* of the key (``key_env``), never the key: a render hands the key to
its kernel through a one-shot channel, an analyst's kernel finds it in its environment; either way
``testkey_nb.report.keychannel.take`` reads it once and leaves it in neither place.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from testkey_nb.api import check
from testkey_nb.check.result import KeyCheck
from testkey_nb.check.run import run_sync
from testkey_nb.check.targets import BASE_URL_ENV, EMULATOR_KEYS_ENV, MANAGEMENT_URL_ENV
from testkey_nb.report import keychannel
from testkey_nb.report.models import OUTBOX_ENV
from testkey_nb.secrets import Secret

__all__ = [
    "BASE_URL_ENV",
    "EMULATOR_KEYS_ENV",
    "MANAGEMENT_URL_ENV",
    "OUTBOX_ENV",
    "check_from_env",
    "run_sync",
    "show",
    "show_chart",
    "show_html",
    "show_summary",
    "write_outbox",
]

def check_from_env(
    key_env: str,
    *,
    label: str | None = None,
    base_url: str | None = None,
    management_url: str | None = None,
    claim: str | None = None,
    allow_billable: bool = False,
    timeout_s: float = 10.0,
    deadline_s: float = 60.0,
    max_in_flight: int = 16,
    lens: str = "inventory-fit",
    history: str = "",
    credits_remaining: float | None = None,
    payment_method: str = "",
    route: str | None = None,
) -> KeyCheck:
    """Probe the key named ``key_env``: sent by the renderer, or held in that environment variable.

    Once read, the key is in neither the channel nor ``os.environ`` (a subprocess a cell starts does
    not inherit it); calling again with the same name gets the same key from memory. An empty
    ``base_url`` means the claimed provider's official hosts; only the demo keys of ``testkey-nb lab
    --emulator`` default to the emulator (see :data:`EMULATOR_KEYS_ENV`).

    ``lens`` is the question the report's summary answers; ``history`` (the key's earlier snapshots, as
    the renderer hands them) lets the commercial-launch lens judge the stability of past checks.
    """
    sent = keychannel.take_check()  # a batch round probed the key already: its check, not a second probe
    if isinstance(sent, KeyCheck):
        return sent
    value = keychannel.take(key_env)
    ref: str | Secret = f"env:{key_env}" if value is None else Secret(value, source=f"env:{key_env}")
    result = check(
        ref, label=label, base_url=base_url, management_url=management_url, claim=claim, route=route or None,
        allow_billable=allow_billable, timeout_s=timeout_s, deadline_s=deadline_s, max_in_flight=int(max_in_flight),
        lens=lens or "inventory-fit",
        credits_remaining=None if credits_remaining is None else float(credits_remaining),
        payment_method=payment_method or None,
    )  # fmt: skip
    if history:
        from testkey_nb.report.history_view import parse_context

        rows = [dict(s.row) for s in sorted(parse_context(history), key=lambda s: s.rendered_at)]
        if rows:
            result = result.with_history(rows)
    return result


def show_html(fragment: str) -> None:
    from IPython.display import HTML, display

    from testkey_nb.report.views import CSS

    display(HTML(CSS + fragment))


def show(chart: Any) -> None:
    from testkey_nb.report.charts import show as show_chart

    show_chart(chart)


def show_chart(builder: Any, *args: Any, **kwargs: Any) -> None:
    """Draw ``builder(*args, **kwargs)``, or, when there is nothing to draw, the sentence that says so."""
    from testkey_nb.report.charts import NothingToDraw
    from testkey_nb.report.views import esc

    try:
        chart = builder(*args, **kwargs)
    except NothingToDraw as why:
        show_html(f'<p class="tk-chart-note">{esc(why)}</p>')
        return
    show(chart)


def show_summary(subject: Any, index_href: str = "") -> None:
    """The report's first section (``<section id="summary">``): a KeyCheck's or a BillingView's answer.

    ``index_href``: the fleet index the report belongs to (set by a batch), linked above the title.
    """
    from testkey_nb.report.summary import billing_summary, key_summary, summary_html

    summary = key_summary(subject) if isinstance(subject, KeyCheck) else billing_summary(subject)
    show_html(summary_html(summary, index_href=index_href))


def show_usage(check: KeyCheck) -> None:
    """The usage section of a key report: figures, the daily chart, or why there are none."""
    from testkey_nb.billing.key_billing import key_billing
    from testkey_nb.report.charts import observed_usage_chart
    from testkey_nb.report.views import usage_html

    kb = key_billing(check.profile)
    capability = next((c for c in check.profile.capabilities if c.name == "usage and billing"), None)
    show_html(usage_html(kb, capability))
    if kb.usage.readable and kb.usage.daily.height:
        show_chart(observed_usage_chart, kb.usage.daily)


def show_key_usage(check: KeyCheck) -> None:
    """"What this key used": its figures, then requests and tokens per day per model and cost per day
    (charts only where there is something to draw; a sentence otherwise); the runway with a balance that
    was read or given (``--credits-remaining``)."""
    from testkey_nb.report.key_usage_view import by_day_model_frame, cost_chart, key_usage_html, traffic_chart

    show_html(key_usage_html(check.profile))
    ku = check.profile.key_usage
    if ku is None:
        return
    frame = by_day_model_frame(ku)
    traffic = traffic_chart(frame) if ku.requests is not None else None
    if traffic is not None:
        show(traffic)
    elif ku.requests is not None:
        show_html("<p>No requests to chart: this key made none in the window.</p>")
    cost = cost_chart(frame) if ku.cost is not None else None
    if cost is not None:
        show(cost)
    elif ku.cost is not None:
        show_html("<p>No cost to chart: this key cost nothing in the window.</p>")


def billing_view(
    *,
    scenario: str = "",
    key_env: str = "",
    label: str = "",
    base_url: str = "",
    management_url: str = "",
    claim: str = "",
    deadline_s: float = 60.0,
) -> Any:
    """A scenario file's simulation, or what a key's probes could read of its workspace's billing."""
    from testkey_nb.report.billing_view import key_view, scenario_view

    if scenario:
        return scenario_view(scenario)
    if not key_env:
        raise ValueError("give a scenario file (scenario) or a key (key_env)")
    check = check_from_env(key_env, label=label, base_url=base_url, management_url=management_url, claim=claim,
                           deadline_s=deadline_s)  # fmt: skip
    return key_view(check)


def show_billing_section(view: Any, section: str) -> None:
    """One section of the billing notebook: a chart, or the reason it cannot be drawn."""
    from testkey_nb.report import billing_charts, charts, views

    reason = (view.unavailable or {}).get(section)
    if reason:
        show_html(f"<p class='tk-muted'>{views.esc(reason)}.</p>")
        return
    if section == "summary":
        show_html(views.billing_summary_html(view))
    elif section == "timeline" and view.events is not None:
        # the first day, one row per replica; then the whole period (a row per deployment when many)
        if (view.period_days or 0) > 1:
            show_chart(billing_charts.lifecycle_timeline, view.events, hours=24)
        show_chart(billing_charts.lifecycle_timeline, view.events)
        if not view.events.is_empty():
            show_html(f'<p class="tk-chart-note">{views.esc(billing_charts.STARTS_EXPLAINED)}</p>')
    elif section == "daily":
        if view.hourly is not None:
            show_chart(charts.daily_billed_chart, view.hourly)
        elif view.key_billing is not None and view.key_billing.usage.readable:
            show_chart(charts.observed_usage_chart, view.key_billing.usage.daily)
            show_html(views.usage_html(view.key_billing))
    elif section == "cumulative" and view.timeline is not None:
        show_chart(billing_charts.cumulative_cost_chart, view.timeline, view.invoices, view.deactivated_at,
                   view.credits_usd or 0)  # fmt: skip
    elif section == "whatif" and view.tradeoff is not None:
        show_chart(billing_charts.tradeoff_chart, view.tradeoff)
        show_html(views.tradeoff_html(view.tradeoff))
        if getattr(view, "sweep", None) is not None:
            from testkey_nb.report.billing_charts import sweep_chart

            show(sweep_chart(view.sweep.rows, max_cold_starts=view.sweep.max_cold_starts))
            show_html(views.sweep_html(view.sweep))
    elif section == "reconcile" and view.key_billing is not None and view.key_billing.reconciliation is not None:
        from testkey_nb.report.billing_charts import reconcile_chart

        rec = view.key_billing.reconciliation
        show(reconcile_chart(rec.daily, tolerance_pct=rec.tolerance_pct))
        show_html(views.reconcile_html(rec))


def write_outbox(name: str, payload: dict[str, Any]) -> None:
    """Hand a JSON summary to the renderer (the folder it named in ``TESTKEY_NB_OUTBOX``), if any.

    The outbox lives inside the private raw run folder and is deleted with it.
    """
    folder = os.environ.get(OUTBOX_ENV)
    if folder:
        path = Path(folder) / f"{Path(name).name}.json"
        path.write_text(json.dumps(payload, default=str), encoding="utf-8")


def history_facts(check: KeyCheck) -> dict[str, Any]:
    """What the history records of this check beyond its index row, handed to the renderer's outbox."""
    from testkey_nb.history.snapshot import facts_from_check

    facts = facts_from_check(check)
    write_outbox("history_facts", facts)
    return facts


def show_since_last_check(check: KeyCheck, facts: dict[str, Any], history: str = "") -> None:
    """The "Since the last check" section: changes, runway and a timeline (``history``: earlier snapshots)."""
    from testkey_nb.report.history_view import since_last_check

    section = since_last_check(check, facts, history)
    show_html(section.html)
    if section.chart is not None:
        show(section.chart)
