"""Altair charts from polars frames.

Inside a notebook, display every chart with :func:`show` (not by leaving the chart as the cell's last
expression: Altair 6's own HTML renderer loads vega from a CDN). Give a chart only the columns it
shows: Altair embeds every column of its data frame in the report.
"""

# ---------------------------------------------------------------------------------------------------
# Generic offline embedding (owned by the report machinery; implementation in testkey_nb/_embed.py).
# Product chart builders go below this section.
# ---------------------------------------------------------------------------------------------------
from testkey_nb.report._embed import (
    chart_html,
    chart_mimebundle,
    chart_spec,
    chart_spec_json,
    escape_json_for_html,
    escape_markdown,
    show,
)

__all__ = [
    "NothingToDraw",
    "chart_html",
    "chart_mimebundle",
    "chart_spec",
    "chart_spec_json",
    "escape_json_for_html",
    "escape_markdown",
    "show",
]

# ---------------------------------------------------------------------------------------------------
# Product chart builders
# ---------------------------------------------------------------------------------------------------
from typing import Any, cast

import altair as alt
import polars as pl

from testkey_nb._format import D3_COUNT, D3_USD, count, distinct_names, usd
from testkey_nb._labels import plural


class NothingToDraw(ValueError):
    """There is nothing to draw: the report shows this sentence instead of an empty frame."""


def count_axis(title: str | None = None) -> alt.Axis:
    """An axis of whole counts: integer ticks only (never "0 1 1 2 2"), with separators."""
    return alt.Axis(format=D3_COUNT, tickMinStep=1, title=title)


STATUS_COLORS = {
    "verified": "#2e7d32",
    "denied": "#c62828",
    "unsupported": "#9e9e9e",
    "unknown": "#f9a825",
    "error": "#6a1b9a",
}
_CAP_STATUSES = list(STATUS_COLORS)
_YES_NO = {"yes": "#2e7d32", "no": "#c62828", "unknown": "#f9a825"}


def _status_scale() -> alt.Scale:
    return alt.Scale(domain=list(STATUS_COLORS), range=list(STATUS_COLORS.values()))


def capability_matrix(capabilities: pl.DataFrame, *, title: str = "Ten key capabilities") -> alt.LayerChart:
    """One compact row per capability: a cell coloured by status with the status written in it; evidence in
    the tooltip (and in the table below the chart in the report).

    ``capabilities``: the profile's frame (capability, status, evidence).
    """
    data = capabilities.select("capability", "status", "evidence")
    base = alt.Chart(data, title=title).encode(
        y=alt.Y("capability:N", sort=None, title=None, axis=alt.Axis(labelLimit=220)),
        tooltip=["capability:N", "status:N", "evidence:N"],
    )
    cells = base.mark_rect(stroke="white", strokeWidth=2).encode(
        x=alt.value(0), x2=alt.value(110),
        color=alt.Color("status:N", scale=_status_scale(), legend=alt.Legend(orient="right", title=None)),
    )  # fmt: skip
    text = base.mark_text(align="left", dx=8, color="white", fontWeight="bold").encode(x=alt.value(0), text="status:N")
    counts = capabilities.group_by("status").len().sort("status").iter_rows()
    described = ", ".join(f"{n} {status}" for status, n in counts)
    layered = alt.layer(cells, text, width=110, height=alt.Step(20),
                        description=f"{title}: one row per capability, coloured by its status ({described}).")
    return cast(alt.LayerChart, layered)


def fleet_capability_matrix(rows: pl.DataFrame) -> alt.Chart:
    """Keys x ten capabilities for the fleet index (columns: label, capability, status, evidence)."""
    data = rows.select("label", "capability", "status", "evidence")
    chart: alt.Chart = (
        alt.Chart(data, title="Fleet: keys x capabilities")
        .mark_rect(stroke="white", strokeWidth=1)
        .encode(
            x=alt.X("capability:N", sort=None, title=None, axis=alt.Axis(labelAngle=-35, orient="top")),
            y=alt.Y("label:N", sort=None, title=None),
            color=alt.Color("status:N", scale=_status_scale(), legend=alt.Legend(orient="bottom", title=None)),
            tooltip=["label:N", "capability:N", "status:N", "evidence:N"],
        )
        .properties(
            width=alt.Step(38), height=alt.Step(18),
            description=f"Keys x capabilities: {plural(data['label'].n_unique(), 'key')}, one cell per capability "
            "coloured by its status.",
        )
    )  # fmt: skip
    return chart


VERDICT_COLORS = {"ready": "#2e7d32", "needs_work": "#ef6c00", "reject": "#c62828", "failed": "#6a1b9a",
                  "unknown": "#9e9e9e"}  # fmt: skip


def fleet_verdict_chart(counts: pl.DataFrame) -> alt.Chart:
    """Keys per provider, stacked by verdict (the fleet index's chart on top). Columns: provider, verdict, keys."""
    data = counts.select("provider", "verdict", "keys")
    chart: alt.Chart = (
        alt.Chart(data, title="Verdicts per provider")
        .mark_bar()
        .encode(
            y=alt.Y("provider:N", title=None, sort="-x"),
            x=alt.X("sum(keys):Q", title="keys", axis=count_axis()),
            color=alt.Color(
                "verdict:N",
                scale=alt.Scale(domain=list(VERDICT_COLORS), range=list(VERDICT_COLORS.values())),
                legend=alt.Legend(orient="right", title=None),
            ),
            order=alt.Order("verdict:N"),
            tooltip=["provider:N", "verdict:N", alt.Tooltip("keys:Q", format=D3_COUNT)],
        )
        .properties(
            width=360, height=alt.Step(18),
            description=f"Verdicts per provider: {plural(int(data['keys'].sum()), 'key')} of "
            f"{plural(data['provider'].n_unique(), 'provider')}, stacked by verdict.",
        )
    )  # fmt: skip
    return chart


def model_permission_matrix(models: pl.DataFrame, *, limit: int = 60) -> alt.Chart:
    """Model x listed / allowed / priced, with the evidence for 'allowed' in the tooltip."""

    def yes_no(col: str) -> pl.Expr:
        return (
            pl.when(pl.col(col).is_null())
            .then(pl.lit("unknown"))
            .when(pl.col(col))
            .then(pl.lit("yes"))
            .otherwise(pl.lit("no"))
        )

    wide = models.head(limit).select(
        "model",
        yes_no("listed").alias("listed"),
        yes_no("allowed").alias("allowed"),
        yes_no("priced").alias("priced"),
        pl.col("allowed_evidence").alias("evidence"),
    )
    if wide.is_empty():
        raise NothingToDraw("No model permission matrix: the key's catalog listed no model to check.")
    long = wide.unpivot(
        index=["model", "evidence"], on=["listed", "allowed", "priced"], variable_name="check", value_name="answer"
    )
    allowed = int((wide["allowed"] == "yes").sum())
    priced = int((wide["priced"] == "yes").sum())
    description = (f"Model permission matrix: {plural(wide.height, 'model')}; {count(allowed)} allowed for this key, "
                   f"{count(priced)} priced.")  # fmt: skip
    chart: alt.Chart = (
        alt.Chart(long, title="Model permission matrix")
        .mark_rect(stroke="white", strokeWidth=2)
        .encode(
            x=alt.X("check:N", sort=["listed", "allowed", "priced"], title=None, axis=alt.Axis(orient="top")),
            y=alt.Y("model:N", sort=None, title=None),
            color=alt.Color(
                "answer:N",
                scale=alt.Scale(domain=list(_YES_NO), range=list(_YES_NO.values())),
                legend=alt.Legend(orient="bottom", title=None),
            ),
            tooltip=["model:N", "check:N", "answer:N", "evidence:N"],
        )
        .properties(width=alt.Step(70), height=alt.Step(16), description=description)
    )
    return chart


_LIMIT_WORDS = {"rpm": "requests per minute", "tpm": "tokens per minute"}


def limit_matrix(models: pl.DataFrame, tiers: pl.DataFrame) -> alt.FacetChart:
    """RPM and TPM in effect (per model where known, else the workspace) beside the documented tiers.

    ``tiers``: tier, rpm, tpm (the registry's documented tiers).
    """
    observed = (
        models.filter(pl.col("tpm").is_not_null() | pl.col("rpm").is_not_null())
        .select(
            pl.lit("this key").alias("source"),
            pl.col("model").alias("name"),
            "rpm",
            "tpm",
            pl.col("limits_provenance").alias("provenance"),
        )
        .unique(subset=["rpm", "tpm"], keep="first", maintain_order=True)
        .with_columns(pl.lit("workspace (observed)").alias("name"))
    )
    documented = tiers.select(
        pl.lit("documented tier").alias("source"),
        pl.col("tier").alias("name"),
        pl.col("rpm").cast(pl.Int64),
        pl.col("tpm").cast(pl.Int64),
        pl.lit("documented").alias("provenance"),
    ).filter(pl.col("tpm").is_not_null())
    frames = [
        f.with_columns(pl.col("rpm").cast(pl.Int64), pl.col("tpm").cast(pl.Int64)) for f in (observed, documented)
    ]
    data = (
        pl.concat(frames, how="vertical_relaxed")
        .unpivot(
            index=["source", "name", "provenance"], on=["rpm", "tpm"], variable_name="limit", value_name="per_minute"
        )
        .drop_nulls("per_minute")
    )
    if data.is_empty():
        raise NothingToDraw("No rate limits to draw: this key could read none and the provider documents no tiers.")
    seen = observed.height > 0
    described = "; ".join(
        f"{name}: "
        + ", ".join(
            f"{count(v)} {_LIMIT_WORDS.get(lim, lim)}"
            for lim, v in zip(group["limit"], group["per_minute"], strict=True)
        )
        for (name,), group in data.group_by("name", maintain_order=True)
    )
    description = ("Limit matrix, per minute: " + described + "."
                   + ("" if seen else " No limit was read for this key; only documented tiers are drawn."))  # fmt: skip
    base = alt.Chart(data).encode(
        y=alt.Y("name:N", sort=None, title=None),
        # linear from zero, one scale per facet: a bar's length is its value (symlog drew 100,000 at 85 % of 500,000)
        x=alt.X(
            "per_minute:Q",
            title="per minute",
            scale=alt.Scale(type="linear", zero=True, nice=True),
            axis=alt.Axis(format=",.0f", tickCount=4),
        ),
        color=alt.Color(
            "source:N",
            scale=alt.Scale(domain=["this key", "documented tier"], range=["#1565c0", "#bdbdbd"]),
            legend=alt.Legend(orient="bottom", title=None),
        ),
        tooltip=["name:N", "limit:N", alt.Tooltip("per_minute:Q", format=D3_COUNT), "provenance:N"],
    )
    bars = base.mark_bar()
    text = base.mark_text(align="left", dx=3).encode(text=alt.Text("per_minute:Q", format=D3_COUNT))
    chart: alt.FacetChart = (
        (bars + text)
        .properties(width=300, height=alt.Step(20))
        .facet(column=alt.Column("limit:N", title=None, sort=["rpm", "tpm"]))
        .resolve_scale(x="independent")
        .properties(title="Limit matrix: requests and tokens per minute", description=description)
    )
    return chart


def price_chart(models: pl.DataFrame, *, limit: int = 40) -> alt.Chart:
    """USD per million tokens (input, output, cached input) per listed model."""
    wide = (
        models.filter(pl.col("listed"))
        .head(limit)
        .select(
            "model",
            pl.col("price_in_per_mtok").alias("input"),
            pl.col("price_out_per_mtok").alias("output"),
            pl.col("price_cached_in_per_mtok").alias("cached input"),
        )
    )
    long = wide.unpivot(index="model", variable_name="kind", value_name="usd_per_mtok").drop_nulls("usd_per_mtok")
    if long.is_empty():
        raise NothingToDraw("No prices to draw: the provider's catalog publishes no token prices for these models.")
    models_priced = long["model"].n_unique()
    top = long.sort("usd_per_mtok", descending=True).row(0, named=True)
    description = (f"Prices in USD per million tokens for {plural(models_priced, 'model')}; the highest is "
                   f"{top['model']} at ${top['usd_per_mtok']:,.2f} ({top['kind']}).")  # fmt: skip
    chart: alt.Chart = (
        alt.Chart(long, title="Prices, USD per million tokens")
        .mark_bar()
        .encode(
            y=alt.Y("model:N", sort=None, title=None),
            yOffset=alt.YOffset("kind:N", sort=["input", "cached input", "output"]),
            x=alt.X("usd_per_mtok:Q", title="USD per million tokens", axis=alt.Axis(format=D3_USD)),
            color=alt.Color(
                "kind:N",
                sort=["input", "cached input", "output"],
                scale=alt.Scale(range=["#1565c0", "#90caf9", "#ef6c00"]),
                legend=alt.Legend(orient="bottom", title=None),
            ),
            tooltip=["model:N", "kind:N", alt.Tooltip("usd_per_mtok:Q", format=D3_USD, title="USD / Mtok")],
        )
        .properties(width=360, height=alt.Step(7), description=description)
    )
    return chart


def _daily_bars(
    data: pl.DataFrame, *, day: str, series: str, title: str, y_title: str, extra: list[Any], width: int, height: int
) -> alt.Chart:
    """Dollars per series per UTC day, stacked, with minutes (and ``extra`` columns) in the tooltip."""
    if data.is_empty():
        raise NothingToDraw(f"{title}: nothing was billed in this period.")
    total = float(data["usd"].fill_null(0).sum())
    days = data[day].n_unique()
    description = (f"{title}: {usd(total)} over {plural(days, 'day')}, "
                   f"{plural(data[series].n_unique(), series.split('_')[0])}.")  # fmt: skip
    chart: alt.Chart = (
        alt.Chart(data, title=title)
        .mark_bar()
        .encode(
            # one tick per UTC day at most (a short range would otherwise repeat a date at 12-hour ticks)
            x=alt.X(
                f"{day}:T",
                title=None,
                timeUnit="utcyearmonthdate",
                axis=alt.Axis(tickCount={"interval": "day", "step": 1}, labelOverlap=True),
            ),
            y=alt.Y("usd:Q", title=y_title, stack=True, axis=alt.Axis(format=D3_USD)),
            color=alt.Color(f"{series}:N", legend=alt.Legend(orient="bottom", title=None)),
            tooltip=[
                alt.Tooltip(f"{day}:T", timeUnit="utcyearmonthdate"),
                f"{series}:N",
                alt.Tooltip("minutes:Q", format=D3_COUNT, title="billed minutes"),
                alt.Tooltip("usd:Q", format=D3_USD, title="USD"),
                *extra,
            ],
        )
        .properties(width=width, height=height, description=description)
    )
    return chart


def observed_usage_chart(daily: pl.DataFrame) -> alt.Chart:
    """Observed dollars per deployment per day (the usage summary's daily breakdown)."""
    names = distinct_names(daily["deployment_name"].to_list(), daily["model_name"].to_list()
                           if "model_name" in daily.columns else [None] * daily.height,
                           daily["deployment_id"].to_list())  # fmt: skip
    data = daily.with_columns(pl.Series("deployment", names, dtype=pl.String)).select(
        pl.col("date").cast(pl.String),
        "deployment",
        "minutes",
        "usd",
        "inference_requests",
    )
    return _daily_bars(
        data, day="date", series="deployment", title="Observed usage per deployment per day",
        y_title="USD per day", extra=[alt.Tooltip("inference_requests:Q", format=D3_COUNT, title="requests")],
        width=560, height=200,
    )  # fmt: skip


def daily_billed_chart(hourly: pl.DataFrame) -> alt.Chart:
    """Billed minutes and dollars per deployment per day (from the hourly buckets)."""
    data = (
        hourly.group_by("deployment_id", pl.col("hour").dt.date().alias("day"))
        .agg(pl.col("minutes").sum(), pl.col("usd").sum())
        .sort("day")
        .select(pl.col("day").cast(pl.String), "deployment_id", "minutes", pl.col("usd").round(4))
    )
    return _daily_bars(
        data, day="day", series="deployment_id", title="Billed per deployment per day", y_title="USD per day",
        extra=[], width=620, height=180,
    )  # fmt: skip
