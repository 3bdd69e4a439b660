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
from datetime import timedelta
from typing import Any, cast

import altair as alt
import polars as pl

from testkey_nb._format import D3_COUNT, D3_NUMBER, D3_USD, count, distinct_names, number, usd
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
    return (
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


VERDICT_COLORS = {"ready": "#2e7d32", "needs_work": "#ef6c00", "reject": "#c62828", "failed": "#6a1b9a",
                  "unknown": "#9e9e9e"}  # fmt: skip


def fleet_verdict_chart(counts: pl.DataFrame) -> alt.Chart:
    """Keys per provider, stacked by verdict (the fleet index's chart on top). Columns: provider, verdict, keys."""
    data = counts.select("provider", "verdict", "keys")
    return (
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
    return (
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


_LIMIT_WORDS = {"rpm": "requests per minute", "tpm": "tokens per minute"}


def limit_matrix(models: pl.DataFrame, tiers: pl.DataFrame) -> alt.Chart:
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
    return (
        (bars + text)
        .properties(width=300, height=alt.Step(20))
        .facet(column=alt.Column("limit:N", title=None, sort=["rpm", "tpm"]))
        .resolve_scale(x="independent")
        .properties(title="Limit matrix: requests and tokens per minute", description=description)
    )


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
    return (
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
    return (
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


_BILLED_COLORS = alt.Scale(domain=["billed", "not billed", "model load"], range=["#d84315", "#b0bec5", "#212121"])

#: Why a billing report can say "124 replicas started" and "93 cold starts" and be right twice.
STARTS_EXPLAINED = (
    "Every replica that starts loads the model, and that load is billed: the timeline marks each one (▼). "
    "A cold start is the subset a request waits for: a start from zero replicas. A replica added while "
    "another one serves (a scale-up) is billed the same but makes no request wait, so there are more "
    "replicas started than cold starts."
)


def _merge_spans(frame: pl.DataFrame) -> pl.DataFrame:
    """Union of overlapping [start, end) spans per (row, billed): a month of replicas -> a few bars per row."""
    return (
        frame.sort("row", "billed", "start")
        .with_columns(pl.col("end").cum_max().shift(1).over("row", "billed").alias("_prev_end"))
        .with_columns(
            (pl.col("_prev_end").is_null() | (pl.col("start") > pl.col("_prev_end")))
            .cum_sum()
            .over("row", "billed")
            .alias("_span")
        )
        .group_by("row", "billed", "_span")
        .agg(
            pl.col("start").min(),
            pl.col("end").max(),
            pl.len().alias("phases"),
            pl.col("phase").unique().sort().str.join(", ").alias("phase"),
        )
        .drop("_span")
    )


def lifecycle_timeline(events: pl.DataFrame, *, max_rows: int = 24, hours: int | None = None) -> alt.LayerChart:
    """The replica lifecycle, readable for a day and for a month: billed and unbilled spans, cold starts marked.

    One row per replica while there are at most ``max_rows`` of them; beyond that one row per deployment,
    where a bar is the union of its replicas' spans (billed over unbilled) and a ▼ marks every
    cold start (a replica's model load). ``hours`` keeps only the first hours of the events.
    ``events``: the metered events (deployment_id, replica_id, phase, start, end, billed).
    """
    if events.is_empty():
        raise NothingToDraw("No replica lifecycle to draw: no replica ran in this period.")
    if hours is not None:
        first = events["start"].min()
        until = first + timedelta(hours=hours)  # type: ignore[operator]
        events = events.filter(pl.col("start") < until).with_columns(
            pl.when(pl.col("end") > until).then(pl.lit(until)).otherwise(pl.col("end")).alias("end")
        )
    replicas = events.filter(pl.col("replica_id") != "-")["replica_id"].n_unique()
    per_replica = replicas <= max_rows
    if per_replica:
        row = (
            pl.when(pl.col("replica_id") == "-")
            .then(pl.col("deployment_id") + " (scaled to zero)")
            .otherwise(pl.col("replica_id"))
        )
    else:
        row = pl.col("deployment_id")
    base = events.with_columns(row.alias("row"))
    span_s = (events["end"].max() - events["start"].min()).total_seconds() if events.height else 0  # type: ignore[operator,union-attr]
    width = 640
    # at a month's scale a 20-minute span is a fraction of a pixel: draw every span at least 2 px wide
    min_s = span_s / width * 2
    spans = _merge_spans(base.select("row", "billed", "start", "end", "phase"))
    cold = base.filter(pl.col("phase") == "model_load")
    day = span_s <= 2 * 86400
    fmt = "%H:%M" if day else "%b %d"
    bars = spans.select(
        "row",
        pl.when(pl.col("billed")).then(pl.lit("billed")).otherwise(pl.lit("not billed")).alias("billed"),
        pl.col("start").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        pl.max_horizontal("end", pl.col("start") + pl.duration(seconds=min_s))
        .dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        .alias("end"),
        pl.col("end").dt.strftime("%Y-%m-%d %H:%M").alias("until"),
        ((pl.col("end") - pl.col("start")).dt.total_seconds() / 60).round(0).cast(pl.Int64).alias("minutes"),
        "phase",
    ).sort("billed", descending=True)  # not billed first, billed drawn on top
    marks = cold.select(
        "row",
        pl.col("start").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        pl.lit("model load").alias("billed"),
        ((pl.col("end") - pl.col("start")).dt.total_seconds()).round(0).cast(pl.Int64).alias("load_s"),
    )
    rows_title = "replica" if per_replica else "deployment (all replicas)"
    axis = alt.Axis(labelExpr=f"utcFormat(datum.value, '{fmt}')", labelOverlap=True, tickCount=8 if day else 10)
    x = alt.X("start:T", title="UTC", scale=alt.Scale(type="utc"), axis=axis)
    order = base.group_by("row").agg(pl.col("start").min()).sort("start", "row")["row"].to_list()
    y = alt.Y("row:N", sort=order, title=rows_title)
    color = alt.Color("billed:N", scale=_BILLED_COLORS, legend=alt.Legend(orient="bottom", title=None))
    when = alt.Tooltip("start:T", format="%Y-%m-%d %H:%M", formatType="utc", title="from (UTC)")
    layer_bars = alt.Chart(bars).mark_bar(height=12).encode(
        x=x, x2="end:T", y=y, color=color,
        tooltip=["row:N", "billed:N", "phase:N", when, alt.Tooltip("until:N", title="to (UTC)"),
                 alt.Tooltip("minutes:Q", format=D3_COUNT, title="minutes")],
    )  # fmt: skip
    triangle: dict[str, Any] = {"shape": "triangle-down", "filled": True, "size": 36, "yOffset": -10, "opacity": 1}
    layer_cold = alt.Chart(marks).mark_point(**triangle).encode(
        x=x, y=y, color=color,
        tooltip=["row:N", alt.Tooltip("start:T", format="%Y-%m-%d %H:%M", formatType="utc", title="model load (UTC)"),
                 alt.Tooltip("load_s:Q", format=D3_COUNT, title="model load (s, billed)")],
    )  # fmt: skip
    period = f"{number(span_s / 3600)} h" if day else f"{number(span_s / 86400)} days"
    title = f"Replica lifecycle over {period}: {plural(replicas, 'replica')} started, each loading the model (billed ▼)"
    billed_min = int(bars.filter(pl.col("billed") == "billed")["minutes"].sum() or 0)
    description = (f"Replica lifecycle over {period}, one row per {rows_title}: {plural(replicas, 'replica')} "
                   f"started, {plural(cold.height, 'model load')}; billed spans cover about "
                   f"{plural(billed_min, 'minute')}.")  # fmt: skip
    layered = alt.layer(layer_bars, layer_cold, title=title, width=width, height=alt.Step(30), description=description)
    return cast(alt.LayerChart, layered)


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


def cumulative_cost_chart(
    timeline: pl.DataFrame, invoices: pl.DataFrame, deactivated_at: object | None, credits_usd: float
) -> alt.LayerChart:
    """Cumulative cost against the free credits, with invoice and deactivation markers."""
    line = timeline.select(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ"), "cumulative_usd")
    layers: list[alt.Chart] = [
        alt.Chart(line)
        .mark_line(color="#1565c0")
        .encode(
            x=alt.X("ts:T", title=None, scale=alt.Scale(type="utc")),
            y=alt.Y("cumulative_usd:Q", title="USD, cumulative", axis=alt.Axis(format=D3_USD)),
            tooltip=[
                alt.Tooltip("ts:T", timeUnit="utcyearmonthdatehoursminutes", title="UTC"),
                alt.Tooltip("cumulative_usd:Q", format=D3_USD, title="cumulative (USD)"),
            ],
        ),
        alt.Chart(pl.DataFrame({"credits_usd": [float(credits_usd)], "what": ["free credits"]}))
        .mark_rule(color="#2e7d32", strokeDash=[4, 4])
        .encode(y="credits_usd:Q", tooltip=["what:N", alt.Tooltip("credits_usd:Q", format=D3_USD, title="USD")]),
    ]
    marks = []
    if invoices.height:
        marks.append(
            invoices.select(
                pl.col("issued_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("ts"),
                pl.concat_str(pl.lit("invoice ("), pl.col("reason"), pl.lit(")")).alias("event"),
                pl.col("amount_usd").round(2).alias("amount_usd"),
            )
        )
    if deactivated_at is not None:
        marks.append(
            pl.DataFrame(
                {
                    "ts": [str(deactivated_at)[:19].replace(" ", "T") + "Z"],
                    "event": ["models deactivated"],
                    "amount_usd": [None],
                },
                schema={"ts": pl.String, "event": pl.String, "amount_usd": pl.Float64},
            )
        )
    if marks:
        layers.append(
            alt.Chart(pl.concat(marks, how="vertical_relaxed"))
            .mark_rule(strokeWidth=2)
            .encode(
                x=alt.X("ts:T", scale=alt.Scale(type="utc")),
                color=alt.Color(
                    "event:N", legend=alt.Legend(orient="bottom", title=None), scale=alt.Scale(scheme="dark2")
                ),
                tooltip=[
                    "event:N",
                    alt.Tooltip("ts:T", timeUnit="utcyearmonthdatehoursminutes", title="UTC"),
                    alt.Tooltip("amount_usd:Q", format=D3_USD, title="amount (USD)"),
                ],
            )
        )
    top = timeline["cumulative_usd"].max() if timeline.height else None
    final = float(top) if isinstance(top, (int, float)) else 0.0
    description = (f"Cumulative cost reaching {usd(final)} against {usd(credits_usd)} of free credits; "
                   f"{plural(invoices.height, 'invoice')}"
                   + (f"; models deactivated at {deactivated_at}." if deactivated_at is not None else "."))  # fmt: skip
    layered = alt.layer(*layers, title="Cumulative cost, credits, invoices", width=620, height=220,
                        description=description)  # fmt: skip
    return cast(alt.LayerChart, layered)


def tradeoff_chart(tradeoff: pl.DataFrame) -> alt.HConcatChart:
    """min_replica what-if: dollars per month vs added first-request latency."""
    data = tradeoff.select(
        pl.col("min_replica").cast(pl.String).alias("min_replica"),
        pl.col("total_usd").round(2),
        "cold_starts",
        pl.col("first_request_added_latency_s"),
    )
    cost = (
        alt.Chart(data, title="Cost over the simulated period")
        .mark_bar(color="#c62828")
        .encode(
            x=alt.X("min_replica:N", title="min_replica"),
            y=alt.Y("total_usd:Q", title="USD", axis=alt.Axis(format=D3_USD)),
            tooltip=["min_replica:N", alt.Tooltip("total_usd:Q", format=D3_USD, title="total (USD)")],
        )
        .properties(width=180, height=180)
    )
    latency = (
        alt.Chart(data, title="Added latency of a first request")
        .mark_bar(color="#1565c0")
        .encode(
            x=alt.X("min_replica:N", title="min_replica"),
            y=alt.Y("first_request_added_latency_s:Q", title="seconds"),
            tooltip=[
                "min_replica:N",
                alt.Tooltip("first_request_added_latency_s:Q", format=D3_NUMBER, title="added latency (s)"),
                alt.Tooltip("cold_starts:Q", format=D3_COUNT, title="cold starts"),
            ],
        )
        .properties(width=180, height=180)
    )
    rows = data.sort("min_replica").to_dicts()
    description = (
        "min_replica what-if: "
        + "; ".join(
            f"min_replica {r['min_replica']} costs {usd(r['total_usd'])} with "
            f"{plural(r['cold_starts'] or 0, 'cold start')}"
            f" adding {number(r['first_request_added_latency_s'] or 0)} s to a first request"
            for r in rows
        )
        + "."
    )
    return alt.hconcat(cost, latency).properties(description=description)
