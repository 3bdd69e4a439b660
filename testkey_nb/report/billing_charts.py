"""Billing charts: the replica lifecycle, the cumulative cost against the credits, the metering model
against the usage summary (issue 21), and the what-if sweeps (min_replica, settings).

Display them with `testkey_nb.report.charts.show` (offline embedding); each chart gets only the columns
it shows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import altair as alt
import polars as pl

from testkey_nb._format import D3_COUNT, D3_NUMBER, D3_USD, number, usd
from testkey_nb._labels import plural
from testkey_nb.report.charts import NothingToDraw

_SOURCES = alt.Scale(domain=["model", "usage summary"], range=["#5c6bc0", "#ef6c00"])


def reconcile_chart(daily: pl.DataFrame, *, tolerance_pct: float = 5.0) -> alt.VConcatChart:
    """Billed minutes per UTC day: the model's bars beside the usage summary's, and the difference in
    percent of the observed figure below, with the tolerance band and each flagged day marked."""
    bars = daily.select(
        pl.col("date").cast(pl.String),
        model=pl.col("model_minutes"),
        observed=pl.col("observed_minutes"),
    ).unpivot(index="date", variable_name="source", value_name="minutes")
    bars = bars.with_columns(pl.col("source").replace({"observed": "usage summary"}))
    minutes = (
        alt.Chart(bars, title="Billed minutes per day: the billing model and Baseten's usage summary")
        .mark_bar()
        .encode(
            x=alt.X("date:T", title=None, timeUnit="utcyearmonthdate",
                    axis=alt.Axis(tickCount={"interval": "day", "step": 1}, labelOverlap=True)),
            xOffset="source:N",
            y=alt.Y("minutes:Q", title="billed minutes", axis=alt.Axis(format=D3_COUNT)),
            color=alt.Color("source:N", scale=_SOURCES, legend=alt.Legend(orient="bottom", title=None)),
            tooltip=[alt.Tooltip("date:T", timeUnit="utcyearmonthdate"), "source:N",
                     alt.Tooltip("minutes:Q", format=D3_COUNT)],
        )
        .properties(width=560, height=180)
    )  # fmt: skip
    diff = daily.select(
        pl.col("date").cast(pl.String),
        "diff_pct",
        "diff_minutes",
        "diff_usd",
        flag=pl.when(pl.col("flagged")).then(pl.lit("flagged")).otherwise(pl.lit("within bound")),
        why=pl.col("explanation"),
    )
    band = alt.Chart(pl.DataFrame({"lo": [-tolerance_pct], "hi": [tolerance_pct]})).mark_rect(
        color="#e0e0e0", opacity=0.5
    ).encode(y=alt.Y("lo:Q"), y2="hi:Q")
    points = (
        alt.Chart(diff)
        .mark_point(filled=True, size=50)
        .encode(
            x=alt.X("date:T", title=None, timeUnit="utcyearmonthdate"),
            y=alt.Y("diff_pct:Q", title="usage - model, % of usage"),
            color=alt.Color("flag:N", scale=alt.Scale(domain=["within bound", "flagged"],
                                                       range=["#2e7d32", "#c62828"]),
                            legend=alt.Legend(orient="bottom", title=None)),
            tooltip=[alt.Tooltip("date:T", timeUnit="utcyearmonthdate"),
                     alt.Tooltip("diff_minutes:Q", format=D3_COUNT, title="minutes (usage - model)"),
                     alt.Tooltip("diff_usd:Q", format=D3_USD, title="USD (usage - model)"),
                     alt.Tooltip("diff_pct:Q", format=".2f", title="% of usage"), "why:N"],
        )
    )  # fmt: skip
    below = alt.layer(band, points).properties(
        width=560, height=120, title=f"Difference per day (grey band: ±{tolerance_pct:g} %)"
    )
    chart: alt.VConcatChart = alt.vconcat(minutes, below).resolve_scale(color="independent")
    return chart


def sweep_chart(sweep: pl.DataFrame, *, max_cold_starts: int | None = None) -> alt.LayerChart | alt.FacetChart:
    """Monthly cost against cold starts, one point per setting (min replicas x scale-down delay x
    schedule), the cheapest setting under the cold-start bound ringed; hover for the setting."""
    data = sweep.select(
        "setting",
        "schedule",
        "min_replica",
        "scale_down_delay",
        "monthly_usd",
        "cold_starts",
        best=pl.col("best").fill_null(False),
    )
    title = "Monthly cost against cold starts, per autoscaling setting"
    if max_cold_starts is not None:
        title += f" (bound: at most {max_cold_starts} cold starts)"
    base = alt.Chart(data, title=title).encode(
        x=alt.X("cold_starts:Q", title="cold starts from zero per month", axis=alt.Axis(format=D3_COUNT)),
        y=alt.Y("monthly_usd:Q", title="USD per month (before credits)", axis=alt.Axis(format=D3_USD)),
        tooltip=["setting:N", alt.Tooltip("monthly_usd:Q", format=D3_USD, title="USD per month"),
                 alt.Tooltip("cold_starts:Q", format=D3_COUNT)],
    )  # fmt: skip
    points = base.mark_point(filled=True, size=60).encode(
        color=alt.Color("schedule:N", legend=alt.Legend(orient="bottom", title="schedule")),
        shape=alt.Shape("min_replica:N", legend=alt.Legend(orient="bottom", title="min replicas")),
    )
    ring = base.transform_filter(alt.datum.best).mark_point(size=400, color="#212121", strokeWidth=2)
    label = (
        base.transform_filter(alt.datum.best)
        .transform_calculate(text="'cheapest within the bound: ' + datum.setting")
        .mark_text(align="left", dx=14, dy=-12, fontSize=11)
        .encode(text="text:N")
    )
    layers: list[alt.Chart] = [points, ring, label]
    if max_cold_starts is not None:
        rule = alt.Chart(pl.DataFrame({"bound": [max_cold_starts]})).mark_rule(
            strokeDash=[4, 4], color="#c62828"
        ).encode(x="bound:Q")
        layers.append(rule)
    return alt.layer(*layers).properties(width=560, height=260)


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
    span_s = _span_seconds(events) if events.height else 0.0
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


def _span_seconds(events: pl.DataFrame) -> float:
    """Seconds from the first event's start to the last one's end (the frame is not empty)."""
    end: Any = events["end"].max()
    start: Any = events["start"].min()
    return float((end - start).total_seconds())


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
