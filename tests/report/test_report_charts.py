"""Charts people can read (issue 13): the replica lifecycle for a day and a month, the compact capability
matrix, the fleet's verdicts per provider, and the one formatter in axes and tooltips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from testkey_nb._files import SCENARIOS_DIR
from testkey_nb._format import D3_COUNT, D3_USD
from testkey_nb.report import billing_charts, charts

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    from testkey_nb.report.billing_view import scenario_view

    return scenario_view(SCENARIOS_DIR / "bursty_chatbot.toml").events


def _layers(chart: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    spec = chart.to_dict()
    bars, ticks = (spec["datasets"][layer["data"]["name"]] for layer in spec["layer"])
    return bars, ticks, spec


def test_lifecycle_a_day_has_a_row_per_replica_and_marks_each_cold_start(events: pl.DataFrame) -> None:
    bars, ticks, spec = _layers(billing_charts.lifecycle_timeline(events, hours=24))
    day = events.filter(pl.col("start") < events["start"].min() + pl.duration(hours=24))
    replicas = set(day.filter(pl.col("replica_id") != "-")["replica_id"])
    assert {b["row"] for b in bars} == replicas | {"chatbot-prod (scaled to zero)"}
    assert {b["billed"] for b in bars} == {"billed", "not billed"}
    assert len(ticks) == day.filter(pl.col("phase") == "model_load").height == len(replicas)
    assert all(t["billed"] == "model load" for t in ticks)
    assert max(b["end"] for b in bars) <= "2026-03-02T00:00:00Z"  # clipped to the window
    assert spec["title"].startswith("Replica lifecycle over 24 h: ")
    assert "%H:%M" in json.dumps(spec["layer"][0]["encoding"]["x"]["axis"])


def test_lifecycle_a_month_aggregates_per_deployment(events: pl.DataFrame) -> None:
    bars, ticks, spec = _layers(billing_charts.lifecycle_timeline(events))
    assert events["replica_id"].n_unique() > 24  # many replicas: one row per deployment
    assert {b["row"] for b in bars} == {"chatbot-prod"}
    assert len(bars) < events.height / 2  # spans merged, not one bar per phase
    assert len(ticks) == events.filter(pl.col("phase") == "model_load").height
    billed = pl.DataFrame(bars).filter(pl.col("billed") == "billed")
    # the merged billed spans cover exactly the time at least one replica was billed (replicas overlap in
    # the evening spike): the union, computed here by a sweep of its own
    covered, reach = 0.0, None
    for start, end in sorted(events.filter(pl.col("billed")).select("start", "end").iter_rows()):
        if reach is None or start > reach:
            covered += (end - start).total_seconds()
            reach = end
        elif end > reach:
            covered += (end - reach).total_seconds()
            reach = end
    assert abs(billed["minutes"].sum() - covered / 60) <= billed.height  # each span rounded to whole minutes
    assert spec["title"].startswith("Replica lifecycle over 31 days: ")
    assert "%b %d" in json.dumps(spec["layer"][0]["encoding"]["x"]["axis"])


def test_lifecycle_without_events() -> None:
    empty = pl.DataFrame(schema={"deployment_id": pl.String, "replica_id": pl.String, "phase": pl.String,
                                 "billed": pl.Boolean, "start": pl.Datetime("us", "UTC"),
                                 "end": pl.Datetime("us", "UTC")})  # fmt: skip
    with pytest.raises(charts.NothingToDraw, match=r"^No replica lifecycle to draw: no replica ran in this period\.$"):
        billing_charts.lifecycle_timeline(empty)


def test_capability_matrix_is_one_row_per_capability() -> None:
    caps = pl.DataFrame({"capability": ["key identity", "balance"], "status": ["verified", "unsupported"],
                         "evidence": ["200", "no endpoint"]})  # fmt: skip
    spec = charts.capability_matrix(caps).to_dict()
    data = next(iter(spec["datasets"].values()))
    assert [d["capability"] for d in data] == ["key identity", "balance"]
    assert spec["layer"][1]["mark"]["type"] == "text"  # the status is written in its cell
    assert spec["layer"][0]["encoding"]["x2"]["value"] <= 120  # compact: one narrow column


def test_fleet_verdict_chart() -> None:
    counts = pl.DataFrame({"provider": ["baseten", "openai"], "verdict": ["ready", "failed"], "keys": [3, 1]})
    spec = charts.fleet_verdict_chart(counts).to_dict()
    assert spec["encoding"]["x"]["axis"]["format"] == D3_COUNT
    assert spec["encoding"]["color"]["scale"]["domain"][:3] == ["ready", "needs_work", "reject"]


def test_money_axes_and_tooltips_use_the_one_formatter() -> None:
    daily = pl.DataFrame({"date": ["2026-03-01"], "deployment_name": ["d"], "deployment_id": ["x"],
                          "minutes": [10], "usd": [1.23456], "inference_requests": [1000]})  # fmt: skip
    spec = json.dumps(charts.observed_usage_chart(daily).to_dict())
    assert f'"format": "{D3_USD}"' in spec and f'"format": "{D3_COUNT}"' in spec
    assert '"$.3f"' not in spec and '"format": ","' not in spec
