"""Billing charts of issue 21: the metering model against the usage summary, and the what-if sweep.

Display them with `testkey_nb.report.charts.show` (offline embedding); each chart gets only the columns
it shows.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from testkey_nb._format import D3_COUNT, D3_USD

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
