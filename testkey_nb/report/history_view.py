"""The key report's "Since the last check": what changed, the runway, a timeline chart.

Runs in the kernel. The earlier snapshots come as data (the ``history`` notebook parameter, a JSON
string the rendering process wrote from the history database); the current one is built here from the
check in hand. Every provider string is escaped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from testkey_nb._labels import label, plural
from testkey_nb.history.diff import changes_since
from testkey_nb.history.runway import runway_for
from testkey_nb.history.snapshot import Snapshot, build_snapshot, format_time, parse_time

if TYPE_CHECKING:
    import altair as alt
    import polars as pl

    from testkey_nb.check.result import KeyCheck

__all__ = ["SinceLastCheck", "parse_context", "since_last_check", "timeline_chart", "timeline_frame"]


@dataclass(frozen=True)
class SinceLastCheck:
    html: str
    chart: alt.TopLevelMixin | None


def parse_context(history: str | None) -> list[Snapshot]:
    """The ``history`` parameter -> the key's earlier snapshots (``[]`` for empty or unreadable input)."""
    if not history:
        return []
    try:
        data = json.loads(history)
    except ValueError:
        return []
    if not isinstance(data, Mapping) or not isinstance(data.get("snapshots"), list):
        return []
    label = str(data.get("label") or "")
    return [Snapshot.from_json(label, s) for s in data["snapshots"] if isinstance(s, Mapping)]


def current_snapshot(check: KeyCheck, facts: Mapping[str, Any]) -> Snapshot:
    at = parse_time(check.checked_at) or datetime.now(UTC)
    return build_snapshot({**check.summary(), "report": None, "error": None}, facts, rendered_at=at)


def timeline_frame(snapshots: Sequence[Snapshot]) -> pl.DataFrame:
    """at, status, allowed_models, balance_remaining, currency: one row per snapshot."""
    import polars as pl

    return pl.DataFrame(
        {
            "at": [s.rendered_at for s in snapshots],
            "status": [str(s.get("status") or "unknown") for s in snapshots],
            "allowed_models": [s.get("allowed_models") for s in snapshots],
            "balance_remaining": [s.balance_remaining for s in snapshots],
            "currency": [(s.balance or {}).get("currency") or "" for s in snapshots],
        },
        schema={"at": pl.Datetime("us", "UTC"), "status": pl.String, "allowed_models": pl.Int64,
                "balance_remaining": pl.Float64, "currency": pl.String},
    )


def timeline_chart(frame: pl.DataFrame) -> alt.TopLevelMixin:
    """Status, allowed models and (where known) the remaining balance over the checks, one panel each."""
    import altair as alt

    from testkey_nb.report.charts import count_axis

    data = alt.Data(values=[{**r, "at": r["at"].isoformat()} for r in frame.to_dicts()])
    x = alt.X("at:T", title="check (UTC)", scale=alt.Scale(nice=False))
    tooltip = [alt.Tooltip("at:T", format="%Y-%m-%d %H:%M", title="check"), "status:N", "allowed_models:Q"]
    status = (
        alt.Chart(data)
        .mark_point(filled=True, size=90)
        .encode(x=x, y=alt.Y("status:N", title="status"), color=alt.Color("status:N", legend=None), tooltip=tooltip)
        .properties(width=560, height=alt.Step(26), title="Status")
    )
    models = (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(x=x, y=alt.Y("allowed_models:Q", title="allowed models", axis=count_axis()), tooltip=tooltip)
        .properties(width=560, height=120, title="Allowed models")
    )
    panels: list[Any] = [status, models]
    if frame["balance_remaining"].drop_nulls().len():
        panels.append(
            alt.Chart(data)
            .transform_filter("datum.balance_remaining != null")
            .mark_line(point=True, color="#ef6c00")
            .encode(x=x, y=alt.Y("balance_remaining:Q", title="balance remaining (USD)"),
                    tooltip=[*tooltip, "balance_remaining:Q", "currency:N"])
            .properties(width=560, height=120, title="Balance remaining")
        )
    last = frame.sort("at").row(-1, named=True) if frame.height else {}
    description = (f"Timeline of {plural(frame.height, 'check')}: status, allowed models"
                   + (" and balance remaining" if len(panels) > 2 else "")
                   + (f"; at the last check the status was {last.get('status')} with "
                      f"{plural(last.get('allowed_models') or 0, 'allowed model')}." if last else "."))  # fmt: skip
    return alt.vconcat(*panels).properties(description=description)


def since_last_check(check: KeyCheck, facts: Mapping[str, Any], history: str | None) -> SinceLastCheck:
    """The section's HTML and its chart (None when there is nothing earlier to compare with)."""
    from testkey_nb.report.views import esc

    earlier = parse_context(history)
    if not earlier:
        return SinceLastCheck(
            "<p class='tk-muted'>No earlier check of this key is recorded: this one starts its history. "
            "The next check shows here what changed.</p>",
            None,
        )
    current = current_snapshot(check, facts)
    previous = earlier[-1]
    changes = changes_since(earlier, current)
    when = esc(format_time(previous.rendered_at))
    head = (
        f"<p>Last check <strong>{when}</strong>: status <b>{esc(label('status', previous.get('status')))}</b>, "
        f"verdict <b>{esc(label('verdict', previous.get('verdict')))}</b>; "
        f"{esc(plural(len(earlier), 'earlier check'))} recorded.</p>"
    )
    if changes:
        rows = "".join(
            f"<tr><td><code>{esc(c.field)}</code></td><td>{esc(_plain(c.before))}</td>"
            f"<td>{esc(_plain(c.after))}</td></tr>"
            for c in changes
        )
        body = (
            f"<p><strong>{esc(plural(len(changes), 'change'))}</strong> since then:</p>"
            "<table class='tk-table'><thead><tr>"
            f"<th>field</th><th>before</th><th>now</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    else:
        body = "<p>Nothing changed since the last check.</p>"
    runway = runway_for([*earlier, current])
    body += _runway_html(runway)
    chart = timeline_chart(timeline_frame([*earlier, current]))
    return SinceLastCheck(head + body, chart)


def _plain(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items())
    return str(value)


def _runway_html(runway: Mapping[str, Any] | None) -> str:
    from testkey_nb.report.views import esc

    if not runway:
        return ""
    window = runway.get("window") or {}
    currency = runway.get("currency") or "USD"
    burn = float(runway.get("burn_per_day") or 0.0)
    text = f"Burn {burn:,.2f} {currency} per day"
    if runway.get("runway_days") is not None:
        text += f", runway {float(runway['runway_days']):,.1f} days, exhausted at {runway.get('exhausted_at')}"
    if runway.get("deactivated_at"):
        text += f"; with no payment method the models are deactivated at {runway['deactivated_at']}"
    source = f"{window.get('source')}, {window.get('from')} to {window.get('to')} ({window.get('days')} days)"
    return f"<p>{esc(text)} <span class='tk-muted'>(derived from {esc(source)})</span></p>"


# --- the fleet over time (notebooks/fleet_history.ipynb) ---------------------------------------------------


def fleet_status_chart(frame: pl.DataFrame) -> alt.Chart:
    """Keys x checks: each key's status at each check (hover for verdict, models, balance)."""
    import altair as alt

    values = [
        {"label": r["label"], "at": r["rendered_at"].isoformat(), "status": r["status"] or "unknown",
         "verdict": r["verdict"] or "none", "allowed_models": r["allowed_models"], "changes": r["changes"],
         "balance_remaining": r["balance_remaining"]}
        for r in frame.to_dicts()
    ]  # fmt: skip
    chart: alt.Chart = (
        alt.Chart(alt.Data(values=values))
        .mark_point(filled=True, size=110, shape="square")
        .encode(
            x=alt.X("at:T", title="check (UTC)"),
            y=alt.Y("label:N", title="key"),
            color=alt.Color("status:N", title="status"),
            tooltip=["label:N", alt.Tooltip("at:T", format="%Y-%m-%d %H:%M", title="check"), "status:N",
                     "verdict:N", "allowed_models:Q", "changes:Q", "balance_remaining:Q"],
        )
        .properties(width=560, height=alt.Step(22), title="Status of every key at every check",
                    description=f"Status of {plural(len({v['label'] for v in values}), 'key')} at each of "
                    f"{plural(len(values), 'check')}, one square per check coloured by status.")
    )
    return chart


def fleet_line_chart(frame: pl.DataFrame, column: str, title: str) -> alt.Chart | None:
    """One line per key of ``column`` (allowed_models, balance_remaining, runway_days) over the checks."""
    import altair as alt

    from testkey_nb.report.charts import count_axis

    rows = [
        {"label": r["label"], "at": r["rendered_at"].isoformat(), column: r[column]}
        for r in frame.to_dicts()
        if r[column] is not None
    ]
    if not rows:
        return None
    line: alt.Chart = (
        alt.Chart(alt.Data(values=rows))
        .mark_line(point=True)
        .encode(
            x=alt.X("at:T", title="check (UTC)"),
            y=alt.Y(f"{column}:Q", title=title, axis=count_axis() if column == "allowed_models" else alt.Axis()),
            color=alt.Color("label:N", title="key"),
            tooltip=["label:N", alt.Tooltip("at:T", format="%Y-%m-%d %H:%M", title="check"), f"{column}:Q"],
        )
        .properties(width=560, height=200, title=title,
                    description=f"{title}: one line per key over the checks, "
                    f"{plural(len({r['label'] for r in rows}), 'key')}.")
    )
    return line


def fleet_latest_html(frame: pl.DataFrame) -> str:
    """The latest snapshot of every key: status, verdict, models, balance, burn and runway (derived)."""
    from testkey_nb.report.views import esc

    if frame.height == 0:
        return "<p class='tk-muted'>The history holds no snapshot yet.</p>"
    import polars as pl

    latest = frame.sort("rendered_at").group_by("label", maintain_order=True).last().sort("label")
    head = "".join(f"<th>{esc(h)}</th>" for h in ("key", "last check (UTC)", "status", "verdict", "allowed models",
                                                    "balance", "burn / day", "runway (days)", "changes"))  # fmt: skip

    def num(value: Any, spec: str) -> str:
        return "unknown" if value is None else format(value, spec)

    body = "".join(
        f"<tr><td>{esc(r['label'])}</td><td>{esc(format_time(r['rendered_at']))}</td><td>{esc(r['status'])}</td>"
        f"<td>{esc(r['verdict'] or 'none')}</td><td>{esc(num(r['allowed_models'], 'd'))}</td>"
        f"<td>{esc(num(r['balance_remaining'], ',.2f'))} {esc(r['currency'] or '')}</td>"
        f"<td>{esc(num(r['burn_per_day'], ',.2f'))}</td><td>{esc(num(r['runway_days'], ',.1f'))}</td>"
        f"<td>{esc(r['changes'])}</td></tr>"
        for r in latest.with_columns(pl.col("changes").cast(pl.Int64)).to_dicts()
    )
    return f"<table class='tk-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def fleet_changes_html(history: Sequence[Mapping[str, Any]], limit: int = 200) -> str:
    """Every change of every key (newest first), from :func:`testkey_nb.history.history_json`."""
    from testkey_nb.report.views import esc

    changes = sorted(
        ((c["at"], k["label"], c) for k in history for c in k.get("changes") or []), key=lambda t: t[0], reverse=True
    )
    if not changes:
        return "<p>No key changed between its checks.</p>"
    rows = "".join(
        f"<tr><td>{esc(at)}</td><td>{esc(label)}</td><td><code>{esc(c['field'])}</code></td>"
        f"<td>{esc(_plain(c['before']))}</td><td>{esc(_plain(c['after']))}</td></tr>"
        for at, label, c in changes[:limit]
    )
    more = (f"<p class='tk-muted'>{plural(len(changes) - limit, 'older change')} not shown.</p>"
            if len(changes) > limit else "")  # fmt: skip
    return (
        "<table class='tk-table'><thead><tr><th>at (UTC)</th><th>key</th><th>field</th><th>before</th>"
        f"<th>after</th></tr></thead><tbody>{rows}</tbody></table>{more}"
    )
