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
    vega_spec,
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
    embedded = json.loads(scripts[0][1])
    assert embedded == vega_spec(spec) and "/vega/" in embedded["$schema"]  # compiled: no Vega-Lite on the page
    assert scripts[1][1] == CHART_INIT_JS
    assert "<img" not in page and "://" not in page and page.count("<script") == 2
    with pytest.raises(ValueError):
        chart_html(spec, 'x" onmouseover="alert(1)')


def test_vega_bundle_is_inlinable_once() -> None:
    bundle = vega_bundle_js()
    assert 150_000 < len(bundle) < 320_000  # the Vega runtime (~590 KB minified), gzip + base64
    assert bundle.count("window.tkVegaEmbed=") == 1
    assert re.search(r"</script", bundle, re.IGNORECASE) is None and "<!--" not in bundle
    assert re.search(r"https?://", bundle) is None
    assert bundle == vega_bundle_js()  # deterministic (vl-convert caches it)


def test_escape_markdown_neutralises_markup_and_markdown() -> None:
    out = escape_markdown('</script><img src=x onerror="alert(1)">\n# [link](javascript:x) *b* `c`')
    assert "<" not in out and ">" not in out and '"' not in out and "\n" not in out
    assert "\\[link\\]\\(javascript:x\\)" in out and "\\*b\\*" in out and "\\#" in out
    assert escape_markdown("it's a & b") == "it&#39;s a &amp; b"


def test_vega_runtime_inflates_to_vega_and_tooltips() -> None:
    """The compressed runtime is the Vega library (and vega-tooltip), not Vega-Lite or vega-embed."""
    import base64
    import gzip

    bundle = vega_bundle_js()
    payload = re.search(r'var z="([A-Za-z0-9+/=]+)"', bundle)
    assert payload is not None
    source = gzip.decompress(base64.b64decode(payload.group(1))).decode("utf-8")
    assert "window.vegaTooltipHandler=" in source and "window.vega=" in source and "vg-tooltip-element" in source
    assert "vegaLite" not in source and "vegaEmbed" not in source
    assert 400_000 < len(source) < 900_000


def test_large_spec_embedded_compressed_small_as_json() -> None:
    import base64
    import gzip

    from testkey_nb.report._embed import COMPRESS_SPEC_OVER, SPEC_GZIP_TYPE

    big = alt.Chart(pl.DataFrame({"model": [f"m{i} {HOSTILE[0]}" for i in range(800)], "n": list(range(800))}))
    spec = charts.chart_spec(big.mark_bar().encode(x="n:Q", y="model:N"))
    page = chart_html(spec, "tk-chart-big")
    found = re.search(r'<script type="([^"]+)" class="tk-chart-spec">(.*?)</script>', page, flags=re.DOTALL)
    assert found is not None and found.group(1) == SPEC_GZIP_TYPE
    text = gzip.decompress(base64.b64decode(found.group(2))).decode("ascii")
    assert len(text) > COMPRESS_SPEC_OVER and json.loads(text) == vega_spec(spec)
    assert "<" not in found.group(2) and HOSTILE[0] not in page
    small = chart_html(charts.chart_spec(_chart()), "tk-chart-small")
    assert '<script type="application/json" class="tk-chart-spec">' in small
