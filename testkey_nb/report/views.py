"""HTML fragments for the reports: every provider-controlled string is escaped here.

Functions return strings; :mod:`testkey_nb.report.glue` displays them. Nothing here fetches anything:
the CSS is inline and small.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from testkey_nb._format import column_header, count, distinct_names, format_cell, moment, plain_text, seconds, usd
from testkey_nb._labels import label, plural
from testkey_nb.check.decide import Decision
from testkey_nb.check.profile import STATUS_MEANINGS, Profile
from testkey_nb.identify.score import Identification

if TYPE_CHECKING:
    from testkey_nb.billing.key_billing import KeyBilling

CSS = """
<style>
.tk-table{border-collapse:collapse;font-size:13px;margin:6px 0 14px 0}
.tk-table th,.tk-table td{border-bottom:1px solid #e0e0e0;padding:4px 8px;text-align:left !important;vertical-align:top}
.tk-table th{background:#fafafa;font-weight:600}
.tk-badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:600}
.tk-ready{background:#2e7d32}.tk-needs_work{background:#ef6c00}.tk-reject{background:#c62828}
.tk-prov-observed{color:#2e7d32}.tk-prov-derived{color:#1565c0}.tk-prov-documented{color:#6d4c41}
.tk-prov-unknown{color:#9e9e9e}
.tk-muted{color:#757575}
.tk-table{max-width:100%;table-layout:auto !important}
.tk-table th,.tk-table td{overflow-wrap:normal;word-break:normal;hyphens:manual}
.tk-scroll{max-width:100%;overflow-x:auto}
</style>
"""


def esc(value: Any) -> str:
    """Escape for HTML text; control characters become U+FFFD so nothing invisible hides in a report."""
    text = "" if value is None else str(value)
    text = "".join(ch if ch.isprintable() or ch in " \n" else "\ufffd" for ch in text)
    return html.escape(text, quote=True)


def plain(value: Any) -> str:
    """:func:`plain_text` (the one formatter), with yes/no for booleans."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return plain_text(value)


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str], *, raw_cols: Sequence[int] = ()) -> str:
    """An HTML table; cells are escaped unless their column index is in ``raw_cols`` (pre-escaped)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(f"<td>{cell if i in raw_cols else esc(plain(cell))}</td>" for i, cell in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return (f'<div class="tk-scroll"><table class="tk-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')  # fmt: skip


def frame_table(frame: Any, columns: Sequence[str] | None = None, *, limit: int = 200) -> str:
    """A polars frame as an escaped HTML table (at most ``limit`` rows)."""
    cols = list(columns or frame.columns)
    rows = [
        [cell if isinstance(cell, bool) else format_cell(c, cell) for c, cell in zip(cols, r, strict=True)]
        for r in frame.select(cols).head(limit).iter_rows()
    ]
    more = f'<p class="tk-muted">{frame.height - limit} more rows not shown</p>' if frame.height > limit else ""
    return table(rows, [column_header(c) for c in cols]) + more


def identification_html(ident: Identification) -> str:
    claim = "no claim given"
    if ident.claimed:
        verdict = "matches" if ident.matches_claim else "does NOT match"
        claim = f"claimed <b>{esc(ident.claimed)}</b>: the evidence {verdict}"
    parts = [
        f"<p>Real provider: <b>{esc(ident.provider)}</b> (confidence {ident.confidence:.2f}); {claim}.</p>",
    ]
    if ident.conflicts:
        items = "".join(f"<li>{esc(c)}</li>" for c in ident.conflicts)
        parts.append(f"<p>Conflicting evidence:</p><ul>{items}</ul>")
    rows = [(e.source, e.probe or "", e.provider, f"{e.weight:+.1f}", e.detail) for e in ident.evidence]
    parts.append(table(rows, ["source", "probe", "points to", "weight", "detail"]))
    return "".join(parts)


def metrics_html(profile: Profile) -> str:
    rows = []
    for m in profile.metrics.values():
        prov = f'<span class="tk-prov-{esc(m.provenance)}">{esc(label("provenance", m.provenance))}</span>'
        rows.append((esc(m.name), esc(plain(m.value)), prov, esc(m.probe or ""), esc(m.note)))
    return table(rows, ["metric", "value", "provenance", "probe", "note"], raw_cols=(0, 1, 2, 3, 4))


def status_html(profile: Profile) -> str:
    s = profile.status
    meaning = STATUS_MEANINGS.get(s.code, "")
    return (
        f"<p>Key status: <b>{esc(label('status', s.code))}</b> ({esc(label('status_reason', s.reason))}): "
        f"{esc(s.detail)}</p>"
        f'<p class="tk-muted">{esc(meaning)}</p>'
    )


#: What each evidence grade means, in the words the report shows (docs/lenses.md states the rule).
GRADE_MEANINGS: dict[str, tuple[str, str]] = {
    "confirmed": ("confirmed", "seen whole in an answer to a request this check sent"),
    "partially_visible": ("partially visible", "seen, but only in part (or the provider exposes only part of it)"),
    "invisible": ("invisible", "the provider may expose it, but this check saw nothing of it"),
    "not_exposed": ("not exposed", "the provider offers no read-only way to see it"),
}


def grades_html(profile: Profile) -> str:
    """The evidence grade of each capability: a table (capability, grade, status, evidence)."""
    rows = []
    for c in profile.capabilities:
        word, meaning = GRADE_MEANINGS.get(c.grade, (c.grade, ""))
        rows.append(
            f'<tr data-capability="{esc(c.name)}" data-grade="{esc(c.grade)}"><td>{esc(c.name)}</td>'
            f'<td class="tk-grade tk-grade-{esc(c.grade)}" title="{esc(meaning)}">{esc(word)}</td>'
            f"<td>{esc(c.status)}</td><td>{esc(c.evidence)}</td></tr>"
        )
    counts = {g: sum(1 for c in profile.capabilities if c.grade == g) for g in GRADE_MEANINGS}
    line = ", ".join(f"{n} {GRADE_MEANINGS[g][0]}" for g, n in counts.items() if n)
    return (
        '<style>.tk-grade-confirmed{color:#2e7d32;font-weight:600}.tk-grade-partially_visible{color:#1565c0}'
        ".tk-grade-invisible{color:#c62828}.tk-grade-not_exposed{color:#757575}</style>"
        f'<p class="tk-muted">Evidence grades: {esc(line)}.</p>'
        '<table class="tk-table tk-grades"><thead><tr><th>capability</th><th>grade</th><th>status</th>'
        f'<th>evidence</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def verdict_html(decision: Decision) -> str:
    badge = f'<span class="tk-badge tk-{esc(decision.verdict)}">{esc(label("verdict", decision.verdict))}</span>'
    rows = [(a.action, a.reason, "; ".join(a.evidence)) for a in decision.actions]
    return f"<p>Verdict: {badge} {esc(decision.summary)}</p>" + table(rows, ["action", "reason", "evidence"])


def probes_html(summaries: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        (esc(s["probe"]), esc(s.get("item") or ""), esc(s["method"]), path_html(s["path"]),
         _nowrap(label("cost", s["cost"])), esc(plain(s["status"] or "")), _nowrap(label("outcome", s["outcome"])),
         esc(plain(s["attempts"])), esc(s.get("detail") or ""))
        for s in summaries
    ]  # fmt: skip
    return table(rows, ["probe", "item", "method", "path", "cost", "status", "outcome", "attempts", "detail"],
                 raw_cols=range(9))  # fmt: skip


def _nowrap(words: str) -> str:
    """A short label kept on one line ("refused by design"): two lines a row would lengthen the probe table."""
    return f'<span class="tk-nw">{esc(words)}</span>'


def path_html(path: Any) -> str:
    """A URL path, escaped, that may wrap after ``/``, ``?`` and ``&`` (its words), never inside a segment."""
    text = esc(path)
    for sep in ("/", "?", "&amp;"):
        text = text.replace(sep, sep + "<wbr>")
    return text


def report_header(label: str, checked_at: str, targets: Mapping[str, Any]) -> str:
    where = ", ".join(f"{esc(role)}: <code>{esc(url)}</code>" for role, url in targets.items() if url)
    return (
        f"<h2>Key {esc(label)}</h2>"
        f'<p class="tk-muted">Checked {esc(moment(checked_at))} against {where or "no host"}. '
        "Read-only probes; the key itself appears nowhere in this report.</p>"
    )


def usage_html(kb: KeyBilling, capability: Any = None) -> str:
    """Observed usage totals per deployment, the month projection, or why they are not shown.

    Instance prices, deployments and the projection appear only for a provider whose data declares
    per-minute deployment billing (``kb.deployment_billing``); for any other the section says what the
    probes read of usage and billing (``capability``: the profile's ``usage and billing`` row)."""
    if not kb.deployment_billing:
        if capability is None:
            return "<p>No usage figures were read for this key.</p>"
        grade = GRADE_MEANINGS.get(getattr(capability, "grade", ""), ("", ""))[0]
        return (f"<p>Usage and billing: {esc(capability.status)}" + (f" ({esc(grade)})" if grade else "")
                + f": {esc(capability.evidence)}.</p>")  # fmt: skip
    parts = []
    if kb.usage.readable:
        per = kb.usage.per_deployment()
        parts.append(f"<p>Usage over the last 30 days (observed, {plural(per.height, 'billable resource')}):</p>")
        if per.height:
            per = per.with_columns(deployment_name=_named_apart(per, kb.usage.daily))
            parts.append(frame_table(per, ["deployment_name", "kind", "instance_type", "minutes", "usd", "days"]))
        for category, totals in kb.usage.totals.items():
            figures = ", ".join(f"{column_header(k)} {format_cell(k, v)}" for k, v in totals.items())
            parts.append(f'<p class="tk-muted">{esc(category)}: {esc(figures)}</p>')
        for note in kb.usage.notes:
            parts.append(f'<p class="tk-muted">{esc(note)}</p>')
    else:
        parts.append(f"<p>No usage figures: {esc(kb.usage.reason)}.</p>")
    p = kb.prices.provenance_dict()
    source = f"{p['provenance']}: {p['source']}" + (f", as of {p['as_of']}" if p.get("as_of") else "")
    if kb.prices_readable != "readable":
        source += f" (instance prices {kb.prices_readable})"
    parts.append(f'<p class="tk-muted">Instance prices per minute: {esc(source)}.</p>')
    if kb.projection is not None and kb.projection.height:
        parts.append("<p>Projection of this month at the current autoscaling settings (derived):</p>")
        projection = kb.projection.with_columns(
            name=_named_apart_projection(kb.projection, kb.usage.daily if kb.usage.readable else None)
        )
        cols = [c for c in ("name", "status", "instance_type", "min_replica", "max_replica", "floor_usd",
                            "ceiling_usd", "observed_mtd_usd", "projected_floor_usd", "note")
                if c in kb.projection.columns]  # fmt: skip
        parts.append(frame_table(projection, cols))
    else:
        parts.append(f"<p>No deployment projection: deployments {esc(kb.deployments_readable)}.</p>")
    return "".join(parts)


def reconcile_html(rec: Any) -> str:
    """The reconciliation table: model against usage summary per day, the difference explained."""
    t = rec.totals()
    start, end = rec.window
    pct_min, pct_usd, bound = f"{t['diff_pct']:+.2f}", f"{t['diff_usd_pct']:+.2f}", f"{rec.tolerance_pct:g}"
    head = (
        f"<p>From {esc(start.date())} to {esc(end.strftime('%Y-%m-%d %H:%M'))} UTC the billing model counts "
        f"{esc(count(t['model_minutes']))} billed minutes ({esc(usd(t['model_usd']))}) for the replicas the "
        f"deployments' records show; the usage summary bills {esc(count(t['observed_minutes']))} minutes "
        f"({esc(usd(t['observed_usd']))}): {esc(pct_min)} % in minutes, {esc(pct_usd)} % in dollars. "
        f"Days beyond ±{esc(bound)} %: {esc(t['flagged_days'])}.</p>"
    )
    cols = ["date", "model_minutes", "observed_minutes", "diff_minutes", "diff_pct", "model_usd", "observed_usd",
            "diff_usd", "flagged", "explanation"]  # fmt: skip
    notes = "".join(f'<p class="tk-muted">{esc(n)}</p>' for n in rec.notes)
    p = rec.prices
    source = f'<p class="tk-muted">Model: derived (deployments + instance prices, {esc(p["provenance"])}); ' + (
        "usage summary: observed (GET /v1/billing/usage_summary).</p>"
    )
    return head + frame_table(rec.daily, cols) + notes + source


def sweep_html(sweep: Any) -> str:
    """The sweep's answer (the cheapest setting under the cold-start bound) and its rows, cheapest first."""
    cols = ["setting", "monthly_usd", "cold_starts_per_month", "billed_minutes", "within_bound", "best"]
    rows = sweep.rows.sort("monthly_usd")
    scaled = ""
    if sweep.simulated_days < sweep.month_days:
        scaled = f" (simulated {sweep.simulated_days:g} days, scaled to the month's {sweep.month_days})"
    return f"<p><strong>{esc(sweep.statement())}</strong>{esc(scaled)}</p>" + frame_table(rows, cols)


def billing_summary_html(view: Any) -> str:
    """The headline figures of a simulated scenario (or where a key's figures come from)."""
    if view.summary is None:
        return f"<p>Billing for the {esc(view.title)}: figures read from the provider, below.</p>"
    s = view.summary
    deact = s.get("deactivated_at")
    rows = [
        ("billed minutes", count(s.get("billed_minutes"))),
        ("total before credits", usd(s.get("total_usd"))),
        ("credits used", usd(s.get("credits_used_usd"))),
        ("net of credits", usd(s.get("net_usd"))),
        ("invoices", count(len(s.get("invoices") or []))),
        ("models deactivated at", moment(deact) if deact else "never"),
    ]
    phases = [(p, count(v.get("minutes")), format_cell("usd", v.get("usd")), "yes" if v.get("billed") else "no")
              for p, v in (s.get("by_phase") or {}).items()]  # fmt: skip
    inv = [(moment(i.get("issued_at")), i.get("reason"), format_cell("usd", i.get("amount_usd")))
           for i in s.get("invoices") or []]  # fmt: skip
    return (
        f"<h3>{esc(view.title)}</h3>"
        + table(rows, ["figure", "value"])
        + "<p>By lifecycle phase:</p>"
        + table(phases, ["phase", "billed minutes", "cost (USD)", "billed"])
        + (
            "<p>Invoices (net of credits):</p>" + table(inv, ["issued", "reason", "amount (USD)"])
            if inv
            else ""
        )
    )


def tradeoff_html(tradeoff: Any) -> str:
    rows = tradeoff.to_dicts()
    if len(rows) >= 2:
        lo, hi = rows[0], rows[-1]
        saved = (hi["total_usd"] or 0) - (lo["total_usd"] or 0)
        text = (
            f"<p>Over the simulated period, min_replica {lo['min_replica']} saves <b>{usd(saved)}</b> "
            f"against min_replica {hi['min_replica']}, and moves model load into the first request "
            "after a quiet stretch: "
            f"<b>+{seconds(lo['first_request_added_latency_s'])}</b> for that request, {count(lo['cold_starts'])} "
            "cold starts. The what-if compares usage before credits; it does not apply a deactivation.</p>"
        )
    else:
        text = ""
    return text + frame_table(tradeoff)


def account_html(profile: Profile) -> str:
    """Identity, balance and key-wide limits: what the provider said about the key's account, each with the
    probe it was read from (or the page that documents it)."""
    ident = profile.identity_json()
    names = ("user", "workspace", "organization")
    rows: list[tuple[Any, ...]] = [(name, ident.get(name) or "not seen") for name in names]
    parts = [table(rows, ["identity", "value"])]
    if ident.get("evidence"):
        parts.append(f'<p class="tk-muted">Read from: {esc(ident["evidence"])}.</p>')
    balances = profile.balances_json()
    said = {"card": "the account pays by card (as you said)", "none": "the account has no payment method (as you "
            "said)"}.get(str(profile.payment_method), "")  # fmt: skip
    if not balances:
        cap = next((c for c in profile.capabilities if c.name == "balance"), None)
        parts.append(f"<p>Balance: {esc(cap.status if cap else 'unknown')}: {esc(cap.evidence if cap else '')}"
                     f"{esc('; ' + said) if said else ''}.</p>")  # fmt: skip
    else:
        head = profile.balance_json()

        def cell(v: Any) -> Any:
            return "" if v is None else v

        rows = [
            (b["scope"] + (" (headline)" if b == head and len(balances) > 1 else ""), b["currency"] or "not given",
             cell(b["remaining"]), cell(b["limit"]), cell(b["used"]), cell(b["granted"]), b["provenance"],
             (f"<code>{esc(b['probe'])}</code> " if b["probe"] else "") + esc(b["exchange"] or ""))
            for b in balances
        ]  # fmt: skip
        parts.append("<p>Balances read (each in its own currency; the headline is the most binding):</p>"
                     + table(rows, ["scope", "currency", "remaining", "limit", "used", "granted", "provenance",
                                    "probe, exchange"], raw_cols=(7,))
                     + (f"<p>{esc(said)}.</p>" if said else ""))  # fmt: skip
    limits = [lim for lim in profile.limits if lim.model is None]
    if limits:
        rows = [
            (lim.scope.replace("_", " "), lim.value, "" if lim.remaining is None else lim.remaining,
             "" if lim.reset_s is None else f"{lim.reset_s:g} s", lim.provenance, lim.source)
            for lim in limits
        ]  # fmt: skip
        parts.append(table(rows, ["limit", "value", "remaining", "resets in", "provenance", "source"]))
    else:
        parts.append("<p>No key-wide rate limit was readable with this key.</p>")
    return "".join(parts)


def _models_by_deployment(daily: Any) -> dict[Any, Any]:
    if daily is None or "model_name" not in daily.columns:
        return {}
    return dict(zip(daily["deployment_id"], daily["model_name"], strict=True))


def _named_apart(per: Any, daily: Any) -> Any:
    """Deployment names people can tell apart: the model each serves is added where a name repeats."""
    import polars as pl

    models = _models_by_deployment(daily)
    ids = per["deployment_id"].to_list()
    return pl.Series(distinct_names(per["deployment_name"].to_list(), [models.get(i) for i in ids], ids),
                     dtype=pl.String)  # fmt: skip


def _named_apart_projection(projection: Any, daily: Any) -> Any:
    import polars as pl

    models = _models_by_deployment(daily)
    ids = projection["deployment_id"].to_list()
    model_ids = projection["model_id"].to_list() if "model_id" in projection.columns else [None] * len(ids)
    quals = [models.get(i) or m for i, m in zip(ids, model_ids, strict=True)]
    return pl.Series(distinct_names(projection["name"].to_list(), quals, ids), dtype=pl.String)
