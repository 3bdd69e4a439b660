"""The key report's "What this key used": its own requests, tokens and cost per day and per model.

Frames are polars, charts Altair, HTML escaped here. Nothing to draw -> a sentence, never an empty chart.
Figures come from ``key_usage`` (the provider's per-key usage and cost reads) and name their probe; the
runway needs a balance that was read (``observed``) or given by the user, never an assumed grant.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import altair as alt
import polars as pl

from testkey_nb._format import D3_COUNT, D3_USD, count, usd
from testkey_nb.check.key_usage import KeyUsage
from testkey_nb.check.profile import Profile
from testkey_nb.report.views import esc, frame_table

__all__ = [
    "by_day_model_frame",
    "cost_chart",
    "key_usage_html",
    "runway",
    "traffic_chart",
]

_SCHEMA = {
    "date": pl.Date, "model": pl.String, "requests": pl.Int64, "input_tokens": pl.Int64,
    "cached_input_tokens": pl.Int64, "output_tokens": pl.Int64, "cost_usd": pl.Float64,
}  # fmt: skip


def by_day_model_frame(ku: KeyUsage) -> pl.DataFrame:
    """One row per UTC day and model this key used (requests, tokens, cost)."""
    rows = [{**r, "cost_usd": None if r["cost_usd"] is None else float(r["cost_usd"])} for r in ku.by_day_model]
    frame = pl.DataFrame(rows, schema={k: (pl.String if k == "date" else v) for k, v in _SCHEMA.items()})
    return frame.with_columns(pl.col("date").str.to_date())


def traffic_chart(frame: pl.DataFrame) -> alt.VConcatChart | None:
    """Requests and tokens per day, stacked by model; None when the key made no request."""
    data = frame.filter(pl.col("requests").fill_null(0) > 0).with_columns(
        (pl.col("input_tokens") + pl.col("output_tokens")).alias("tokens"), pl.col("date").cast(pl.String)
    )
    if data.height == 0:
        return None

    def bars(field: str, title: str) -> alt.Chart:
        chart: alt.Chart = (
            alt.Chart(data, title=title)
            .mark_bar()
            .encode(
                x=alt.X("date:T", title=None, timeUnit="utcyearmonthdate",
                        axis=alt.Axis(tickCount={"interval": "day", "step": 1}, labelOverlap=True)),
                y=alt.Y(f"{field}:Q", title=title, stack=True, axis=alt.Axis(format=D3_COUNT)),
                color=alt.Color("model:N", legend=alt.Legend(orient="bottom", title=None)),
                tooltip=[
                    alt.Tooltip("date:T", timeUnit="utcyearmonthdate"), "model:N",
                    alt.Tooltip("requests:Q", format=D3_COUNT), alt.Tooltip("input_tokens:Q", format=D3_COUNT),
                    alt.Tooltip("cached_input_tokens:Q", format=D3_COUNT),
                    alt.Tooltip("output_tokens:Q", format=D3_COUNT),
                ],
            )
            .properties(width=560, height=150)
        )
        return chart

    return alt.vconcat(bars("requests", "Requests per day"), bars("tokens", "Tokens per day (input + output)"))


def cost_chart(frame: pl.DataFrame) -> alt.Chart | None:
    """Cost per day, stacked by model; None when no cost was read or every day cost nothing."""
    data = frame.filter(pl.col("cost_usd").fill_null(0) > 0).with_columns(pl.col("date").cast(pl.String))
    if data.height == 0:
        return None
    chart: alt.Chart = (
        alt.Chart(data, title="Cost per day (USD, may differ from the finalized invoice)")
        .mark_bar()
        .encode(
            x=alt.X("date:T", title=None, timeUnit="utcyearmonthdate",
                    axis=alt.Axis(tickCount={"interval": "day", "step": 1}, labelOverlap=True)),
            y=alt.Y("cost_usd:Q", title="USD per day", stack=True, axis=alt.Axis(format=D3_USD)),
            color=alt.Color("model:N", legend=alt.Legend(orient="bottom", title=None)),
            tooltip=[alt.Tooltip("date:T", timeUnit="utcyearmonthdate"), "model:N",
                     alt.Tooltip("cost_usd:Q", format=D3_USD, title="USD")],
        )
        .properties(width=560, height=180)
    )
    return chart


def runway(ku: KeyUsage, balance_usd: Any, provenance: str) -> dict[str, Any] | None:
    """Days the balance lasts at this key's burn: ``{balance_usd, burn_per_day_usd, days, provenance}``;
    None without a balance or a burn (a key that spent nothing has no runway to speak of)."""
    try:
        balance = Decimal(str(balance_usd)) if balance_usd not in (None, "") else None
    except (InvalidOperation, ValueError):
        balance = None
    if balance is None or ku.burn_per_day is None or ku.burn_per_day <= 0:
        return None
    days = (balance / ku.burn_per_day).quantize(Decimal("0.1"))
    return {"balance_usd": float(balance), "burn_per_day_usd": float(ku.burn_per_day), "days": float(days),
            "provenance": "derived", "balance_provenance": provenance}  # fmt: skip


def runway_balance(profile: Profile) -> tuple[float, str] | None:
    """The balance for the runway, in USD: the headline balance when it was read (``observed``) or given by
    the user (``--credits-remaining``); never a derived or assumed one."""
    bal = profile.balance
    if bal is None or bal.remaining is None or bal.currency not in (None, "USD"):
        return None
    if bal.provenance == "given":
        return bal.remaining, "given"
    if bal.provenance == "observed":
        return bal.remaining, f"observed, {bal.probe}" + (f", exchange {bal.exchange}" if bal.exchange else "")
    return None


def key_usage_html(profile: Profile) -> str:
    """The figures: totals, per model, burn and runway; or why there are none."""
    ku = profile.key_usage
    if ku is None:
        readable: Mapping[str, str] = profile.raw.get("readable", {})
        states = {p: readable[p] for p in ("model_api_usage", "model_api_costs") if p in readable}
        why = "; ".join(f"{p}: {s}" for p, s in states.items()) or "the provider publishes no per-key usage"
        return f"<p>No per-key usage figures for this key ({esc(why)}).</p>"
    j = ku.as_json()
    src = f"{ku.provenance}, {ku.probe}, exchange {ku.exchange}"
    parts = [f"<p>From {esc(j['from'])} to {esc(j['to'])} (UTC days; {esc(src)}):</p>"]
    if ku.requests is not None:
        parts.append(
            f"<p><b>{esc(count(ku.requests))}</b> requests, {esc(count(ku.input_tokens))} input tokens "
            f"({esc(count(ku.cached_input_tokens))} cached), {esc(count(ku.output_tokens))} output tokens.</p>"
        )
    if ku.cost is not None:
        parts.append(f"<p>Cost <b>{esc(usd(j['cost_usd']))}</b>; burn <b>{esc(usd(j['burn_per_day_usd']))}</b> "
                     f"per day (the cost over {esc((ku.end - ku.start).days + 1)} days).</p>")  # fmt: skip
    if ku.note:
        parts.append(f'<p class="tk-muted">{esc(ku.note)}</p>')
    if ku.by_model:
        frame = pl.DataFrame([dict(r) for r in j["by_model"]], schema={
            "model": pl.String, "requests": pl.Int64, "input_tokens": pl.Int64, "output_tokens": pl.Int64,
            "cost_usd": pl.Float64})  # fmt: skip
        parts.append(frame_table(frame))
    else:
        parts.append("<p>This key used no model in the window.</p>")
    given = runway_balance(profile)
    way = runway(ku, *given) if given is not None else None
    if way is not None:
        parts.append(f"<p>Runway: <b>{way['days']:,.1f} days</b> of {esc(usd(way['balance_usd']))} "
                     f"({esc(way['balance_provenance'])}) at {esc(usd(way['burn_per_day_usd']))} per day "
                     "(derived).</p>")  # fmt: skip
    elif given is None:
        parts.append('<p class="tk-muted">No runway: no balance was read or given for this key.</p>')
    else:
        parts.append('<p class="tk-muted">No runway: this key spent nothing in the window.</p>')
    return "".join(parts)
