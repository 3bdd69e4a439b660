"""Charts on honest scales: the limit matrix is linear from zero; daily charts tick each date once."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest
import vl_convert as vlc

from testkey_nb.report.charts import limit_matrix, observed_usage_chart


def _svg(chart: object) -> str:
    return vlc.vegalite_to_svg(chart.to_dict(), vl_version="6.4")  # type: ignore[attr-defined]


def _texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_limit_matrix_draws_values_to_scale() -> None:
    models = pl.DataFrame({"model": ["a"], "rpm": [120], "tpm": [100_000], "limits_provenance": ["observed"]})
    tiers = pl.DataFrame({"tier": ["tier 1"], "rpm": [60], "tpm": [500_000]})
    chart = limit_matrix(models, tiers)
    scale = chart.to_dict()["spec"]["layer"][0]["encoding"]["x"]["scale"]
    assert scale["type"] == "linear" and scale["zero"] is True
    svg = _svg(chart)
    widths = [float(w) for w in re.findall(r'd="M0,\d+h([\d.]+)v18h', svg)]  # the bars, facet by facet
    rpm, tpm = widths[:2], widths[2:4]
    assert tpm[0] / tpm[1] == pytest.approx(100_000 / 500_000, abs=0.01)  # symlog drew it at 0.85
    assert rpm[1] / rpm[0] == pytest.approx(60 / 120, abs=0.01)
    assert "500,000" in _texts(svg) and not any("e+" in t for t in _texts(svg))


@pytest.mark.parametrize("days", [1, 2, 3, 30])
def test_daily_chart_ticks_each_date_once(days: int) -> None:
    dates = [(dt.date(2026, 11, 1) + dt.timedelta(days=i)).isoformat() for i in range(days)]
    daily = pl.DataFrame({"date": dates, "deployment_name": ["a"] * days, "deployment_id": ["1"] * days,
                          "minutes": [10] * days, "usd": [1.0] * days, "inference_requests": [1] * days})  # fmt: skip
    labels = [t for t in _texts(_svg(observed_usage_chart(daily))) if re.match(r"[A-Z][a-z]{2} \d\d", t)]
    assert labels and len(labels) == len(set(labels)), labels
