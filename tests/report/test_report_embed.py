"""The generic chart embedding: escaping, mimebundle, offline chart HTML, the vega bundle."""

from __future__ import annotations

import json
import re

import altair as alt
import polars as pl
import pytest

from testkey_nb.report import charts
from testkey_nb.report._embed import (
    CHART_INIT_JS,
    LAB_VEGALITE_MIME,
    chart_html,
    chart_mimebundle,
    escape_json_for_html,
    escape_markdown,
    is_vegalite_mime,
    vega_bundle_js,
)

HOSTILE = [
    "<script>window.__pwned=1;alert(1)</script>",
    '</script><img src=x onerror="window.__pwned=2;alert(2)">',
    "<!-- \u2028 \u2029 & 'q' \"dq\" https://evil.example/x",
]


def _chart() -> alt.Chart:
    frame = pl.DataFrame({"model": HOSTILE, "requests": [1, 2, 3]})
    return alt.Chart(frame).mark_bar().encode(x="requests:Q", y="model:N", tooltip=["model:N"])


def test_escaped_json_round_trips_and_holds_no_markup() -> None:
    payload = {"s": HOSTILE, "n": 1.5, "ok": True}
    text = escape_json_for_html(payload)
    assert json.loads(text) == payload
    assert text.isascii()
    for forbidden in ("<", ">", "&", "\u2028", "\u2029", "//"):
        assert forbidden not in text


def test_chart_spec_json_escapes_provider_strings() -> None:
    text = charts.chart_spec_json(_chart())
    assert "</script" not in text.lower() and "<img" not in text and "https://" not in text
    spec = json.loads(text)
    values = next(iter(spec["datasets"].values()))
    assert [row["model"] for row in values] == HOSTILE


def test_mimebundle_is_lab_vegalite_without_html() -> None:
    data, metadata = chart_mimebundle(_chart())
    assert set(data) == {LAB_VEGALITE_MIME, "text/plain"}
    assert data[LAB_VEGALITE_MIME]["mark"] == {"type": "bar"}
    assert metadata[LAB_VEGALITE_MIME]["embed_options"]["actions"]["editor"] is False
    assert is_vegalite_mime(LAB_VEGALITE_MIME) and is_vegalite_mime("application/vnd.vegalite.v6+json")
    assert not is_vegalite_mime("text/html")


def test_show_displays_the_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[object, dict[str, object]]] = []
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: seen.append((obj, kw)))
    monkeypatch.setenv("TESTKEY_NB_OUTBOX", "/nonexistent")  # a report render (Lab: test_lab_charts.py)
    charts.show(_chart())
    (obj, kwargs), *rest = seen
    assert not rest and kwargs["raw"] is True
    assert isinstance(obj, dict) and LAB_VEGALITE_MIME in obj


def test_chart_html_is_inert_markup_plus_the_shared_init_script() -> None:
    spec = charts.chart_spec(_chart())
    page = chart_html(spec, "tk-chart-7")
    assert page.startswith('<div class="tk-chart" id="tk-chart-7"')
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.DOTALL)
    assert [attrs for attrs, _ in scripts] == [' type="application/json" class="tk-chart-spec"', ""]
    assert json.loads(scripts[0][1]) == spec
    assert scripts[1][1] == CHART_INIT_JS
    assert "<img" not in page and "://" not in page and page.count("<script") == 2
    with pytest.raises(ValueError):
        chart_html(spec, 'x" onmouseover="alert(1)')


def test_vega_bundle_is_inlinable_once() -> None:
    bundle = vega_bundle_js()
    assert 500_000 < len(bundle) < 3_000_000
    assert bundle.count("window.vegaEmbed=") == 1
    assert re.search(r"</script", bundle, re.IGNORECASE) is None and "<!--" not in bundle
    assert re.search(r"https?://", bundle) is None
    assert bundle == vega_bundle_js()  # deterministic (vl-convert caches it)


def test_escape_markdown_neutralises_markup_and_markdown() -> None:
    out = escape_markdown('</script><img src=x onerror="alert(1)">\n# [link](javascript:x) *b* `c`')
    assert "<" not in out and ">" not in out and '"' not in out and "\n" not in out
    assert "\\[link\\]\\(javascript:x\\)" in out and "\\*b\\*" in out and "\\#" in out
    assert escape_markdown("it's a & b") == "it&#39;s a &amp; b"
