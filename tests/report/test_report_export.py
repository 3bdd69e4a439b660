"""export_html on hand-made executed notebooks (no kernel): offline, hidden code, escaping, CSP."""

from __future__ import annotations

import re

import altair as alt
import nbformat
import polars as pl
import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from testkey_nb.report import OfflineViolation, check_offline, export_html
from testkey_nb.report._embed import CHART_INIT_JS, chart_mimebundle, script_sha256
from testkey_nb.report.export import BUNDLE_MARKER

HOSTILE = '</script><img src=x onerror="window.__pwned=2;alert(2)">'


def _chart_output(title: str) -> NotebookNode:
    frame = pl.DataFrame({"model": [HOSTILE, "ok"], "n": [1, 2]})
    chart = alt.Chart(frame).mark_bar().encode(x="n:Q", y="model:N", tooltip=["model:N"]).properties(title=title)
    data, metadata = chart_mimebundle(chart)
    return new_output("display_data", data=data, metadata=metadata)


def _notebook(*cells: NotebookNode) -> NotebookNode:
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _code(source: str, *outputs: NotebookNode) -> NotebookNode:
    cell = new_code_cell(source)
    cell.outputs = list(outputs)
    return cell


def _two_chart_nb() -> NotebookNode:
    table = pl.DataFrame({"model": [HOSTILE]})
    return _notebook(
        new_markdown_cell("# Title\n\nSome *text*."),
        _code("SECRET_CODE_MARKER = 1", new_output("stream", name="stdout", text="visible stdout\n")),
        _code("show(a)", _chart_output("first")),
        _code("show(b)", _chart_output("second")),
        _code(
            "display(table)",
            new_output("display_data", data={"text/html": table._repr_html_(), "text/plain": "table"}, metadata={}),
            new_output("stream", name="stderr", text="DeprecationWarning: noisy\n"),
            new_output(
                "display_data",
                data={"application/javascript": "window.__pwned=3", "text/plain": "js fallback"},
                metadata={},
            ),
        ),
    )


@pytest.fixture(scope="module")
def page() -> str:
    return export_html(_two_chart_nb(), title='Report <b>"x"</b>')


def test_no_remote_reference_at_all(page: str) -> None:
    assert re.search(r"https?://", page) is None
    assert re.search(r"<script[^>]*\bsrc\s*=", page, re.IGNORECASE) is None
    assert re.search(r"<link\b", page, re.IGNORECASE) is None
    for cdn in ("require.js", "mathjax", "mermaid", "cdnjs", "jsdelivr", "unpkg"):
        assert cdn not in page.lower()
    check_offline(page)


def test_bundle_inlined_exactly_once_in_head(page: str) -> None:
    head, body = page.split("</head>", 1)
    assert head.count(BUNDLE_MARKER) == 1 and BUNDLE_MARKER not in body
    assert page.count("window.tkVegaEmbed=") == 1
    assert body.count('class="tk-chart"') == 2
    assert body.count(CHART_INIT_JS) == 2


def test_code_prompts_and_noise_hidden(page: str) -> None:
    assert "SECRET_CODE_MARKER" not in page and "show(a)" not in page
    assert "In&nbsp;[" not in page and "Out[" not in page
    assert "visible stdout" in page
    assert "DeprecationWarning" not in page  # stderr dropped
    assert "window.__pwned=3" not in page and "js fallback" in page  # JavaScript outputs dropped


def test_provider_strings_escaped(page: str) -> None:
    assert "<img src=x" not in page
    assert "&lt;/script&gt;&lt;img src=x" in page  # the polars table, as text
    assert "\\u003c\\/script\\u003e\\u003cimg src=x" in page  # the chart data, as JSON escapes
    assert '<title>Report &lt;b&gt;"x"&lt;/b&gt;</title>' in page


def test_csp_allows_only_our_scripts(page: str) -> None:
    csp = re.search(r'<meta content="([^"]+)" http-equiv="Content-Security-Policy"', page)
    assert csp is not None
    policy = csp.group(1)
    assert "default-src 'none'" in policy and "connect-src 'none'" in policy
    assert script_sha256(CHART_INIT_JS) in policy
    bundle = re.search(r"<script>(/\* testkey-nb vega bundle:.*?)</script>", page, re.DOTALL)
    assert bundle is not None and script_sha256(bundle.group(1)) in policy
    scripts = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    assert {script_sha256(s) for s in scripts} == {script_sha256(CHART_INIT_JS), script_sha256(bundle.group(1))}


def test_no_chart_no_bundle() -> None:
    nb = _notebook(new_markdown_cell("# Just text"), _code("1", new_output("stream", name="stdout", text="1\n")))
    out = export_html(nb, title="plain")
    assert BUNDLE_MARKER not in out and "<script" not in out
    assert "script-src 'none'" in out
    assert re.search(r"https?://", out) is None


def test_input_notebook_not_modified() -> None:
    nb = _two_chart_nb()
    before = nbformat.writes(nb)
    export_html(nb, title="t")
    assert nbformat.writes(nb) == before


@pytest.mark.parametrize(
    "markdown",
    [
        "![logo](https://cdn.example.com/logo.png)",
        '<img src="//cdn.example.com/x.png">',
        '<script src="lib.js"></script>',
        "<style>@import 'x.css';</style>",
        '<div style="background: url(https://x.example/y.png)">x</div>',
    ],
)
def test_remote_resources_refused(markdown: str) -> None:
    with pytest.raises(OfflineViolation):
        export_html(_notebook(new_markdown_cell(markdown)), title="t")


def test_plain_links_are_not_resources() -> None:
    check_offline('<a href="https://example.com/docs">docs</a>')
