"""Offline embedding of Altair (Vega-Lite) charts: the generic half of ``testkey_nb.report.charts``.

Two audiences read a chart:

* JupyterLab, live. :func:`show` displays ``application/vnd.vegalite.v5+json`` (the newest Vega-Lite
  mimetype JupyterLab 4 renders itself, interactive with tooltips) plus a ``text/plain`` fallback.
  It deliberately does NOT add ``text/html``: JupyterLab ranks ``text/html`` (50) above its Vega
  renderer (57), so an HTML twin would win in Lab and show nothing there (no vega on Lab's page).
* The exported HTML report, offline. ``testkey_nb.report.export_html`` turns every Vega-Lite output
  into :func:`chart_html` (a ``<div class="tk-chart">``, the spec as escaped JSON in a
  ``<script type="application/json">`` and one tiny inline script that calls ``vegaEmbed`` when it
  exists) and inlines :func:`vega_bundle_js` once in ``<head>``. No CDN, no ``<script src=``.

Altair embeds every column of the data frame a chart is given, whether the chart shows it or not:
select only the columns a chart encodes (``frame.select(...)``) before building it.

All JSON that lands in HTML goes through :func:`escape_json_for_html`: ``<``, ``>``, ``&``, ``/``,
U+2028 and U+2029 (and every non-ASCII character) become JSON escapes, so a provider string such as
``</script><img src=x onerror=...>`` cannot close the script element or inject markup.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Final

import altair as alt

__all__ = [
    "CHART_INIT_JS",
    "EMBED_OPTIONS",
    "LAB_VEGALITE_MIME",
    "LAB_VEGA_MIME",
    "chart_html",
    "chart_mimebundle",
    "chart_spec",
    "chart_spec_json",
    "escape_json_for_html",
    "escape_markdown",
    "is_vegalite_mime",
    "lab_mimebundle",
    "lab_renderer",
    "script_sha256",
    "show",
    "vega_bundle_js",
]

#: The Vega-Lite mimetype :func:`show` emits. JupyterLab 4 knows v3..v5 only; its vega-lite 5
#: renders Altair 6 specs (it may log a version warning in the browser console).
LAB_VEGALITE_MIME: Final = "application/vnd.vegalite.v5+json"

_VEGALITE_MIME_RE: Final = re.compile(r"^application/vnd\.vegalite\.v\d+\+json$")

#: Options handed to vegaEmbed, in Lab (through output metadata) and in the report.
#: SVG keeps chart text in the DOM (searchable, selectable); the editor/source actions need a
#: network or leak the spec, so only the PNG/SVG export action stays.
EMBED_OPTIONS: Final[Mapping[str, Any]] = {
    "mode": "vega-lite",
    "renderer": "svg",
    "actions": {"export": True, "source": False, "compiled": False, "editor": False},
}

_JSON_HTML_ESCAPES: Final = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "/": "\\/",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_JSON_HTML_ESCAPE_RE: Final = re.compile("[<>&/\u2028\u2029]")

# One script, byte-identical for every chart, so one CSP hash covers them all. It finds its chart
# through its own position: <div class="tk-chart"> <script type="application/json"> <script>.
CHART_INIT_JS: Final = (
    "(function(){var s=document.currentScript,j=s.previousElementSibling,d=j.previousElementSibling;"
    "function go(){if(typeof window.vegaEmbed!=='function'){return false;}"
    "d.textContent='';"
    "window.vegaEmbed(d,JSON.parse(j.textContent),"
    + json.dumps(EMBED_OPTIONS, separators=(",", ":"), sort_keys=True)
    + ").catch(function(e){d.textContent='chart failed to render: '+String(e);});return true;}"
    "if(!go()){document.addEventListener('DOMContentLoaded',go);}})();"
)


def escape_json_for_html(value: object) -> str:
    """JSON text that is safe inside ``<script>`` and inside an HTML attribute value.

    Only ASCII comes out; ``< > & /`` and the JS line separators are JSON escapes, so the text never
    contains ``</script``, ``<!--`` or ``http://``.
    """
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return _JSON_HTML_ESCAPE_RE.sub(lambda m: _JSON_HTML_ESCAPES[m.group(0)], text)


def chart_spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """The chart's Vega-Lite spec as a plain dict (validated by Altair)."""
    spec = chart.to_dict()
    if not isinstance(spec, dict):  # pragma: no cover - Altair always returns a dict
        raise TypeError("chart.to_dict() did not return a dict")
    return spec


def chart_spec_json(chart: alt.TopLevelMixin) -> str:
    """The chart's spec as escaped JSON (what the report embeds)."""
    return escape_json_for_html(chart_spec(chart))


def chart_mimebundle(chart: alt.TopLevelMixin) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(data, metadata)`` for ``IPython.display.display(data, metadata=metadata, raw=True)``."""
    spec = chart_spec(chart)
    data = {LAB_VEGALITE_MIME: spec, "text/plain": "<testkey-nb chart (Vega-Lite)>"}
    metadata = {LAB_VEGALITE_MIME: {"embed_options": dict(EMBED_OPTIONS)}}
    return data, metadata


#: What JupyterLab 4 renders natively: its ``@jupyterlab/vega5-extension`` bundles Vega 5 (5.33) and
#: Vega-Lite 5.6, and warns on every Altair 6 (Vega-Lite 6) spec. Lab gets the chart compiled to a
#: Vega 5 spec instead (by vl-convert's newest Vega-Lite 5), which its Vega 5 renders without a warning.
LAB_VEGA_MIME: Final = "application/vnd.vega.v5+json"


def _vl5_version() -> str:
    """The newest Vega-Lite 5 vl-convert ships (its compiler emits Vega 5 specs)."""
    import vl_convert as vlc

    fives = [v for v in vlc.get_vegalite_versions() if v.startswith("5.")]
    return max(fives, key=lambda v: tuple(int(p) for p in v.split(".")))


def lab_mimebundle(chart: alt.TopLevelMixin) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(data, metadata)`` for a live JupyterLab: the Vega 5 spec Lab renders, plus the Vega-Lite spec
    under its own version's mimetype (``vN`` of Altair's schema; Lab ignores it, exports read it)."""
    return _lab_bundle(chart_spec(chart))


def _lab_bundle(spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    import vl_convert as vlc

    major = alt.SCHEMA_VERSION.lstrip("v").split(".")[0]
    vega = vlc.vegalite_to_vega(spec, vl_version=_vl5_version())
    data = {
        LAB_VEGA_MIME: vega,
        f"application/vnd.vegalite.v{major}+json": spec,
        "text/plain": "<testkey-nb chart (Vega-Lite)>",
    }
    return data, {LAB_VEGA_MIME: {"embed_options": {**EMBED_OPTIONS, "mode": "vega"}}}


def show(chart: alt.TopLevelMixin) -> None:
    """Display a chart in a notebook: interactive in JupyterLab, offline in the HTML report.

    Inside a report render (the renderer sets ``TESTKEY_NB_OUTBOX``) the Vega-Lite spec goes out as
    is, for the exporter; anywhere else (Lab) the chart goes out as Lab's own Vega 5.
    """
    import os

    from IPython.display import display  # the kernel has IPython; the package need not import it

    from testkey_nb.report.models import OUTBOX_ENV

    data, metadata = chart_mimebundle(chart) if os.environ.get(OUTBOX_ENV) else lab_mimebundle(chart)
    display(data, metadata=metadata, raw=True)


def lab_renderer(spec: dict[str, Any], **_options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Altair renderer ``testkey-nb`` (``alt.renderers.enable("testkey-nb")``; an entry point): a
    chart left as a cell's value renders in Lab as :func:`show` draws it."""
    return _lab_bundle(dict(spec))


def is_vegalite_mime(mime: str) -> bool:
    """True for ``application/vnd.vegalite.vN+json`` (any N)."""
    return bool(_VEGALITE_MIME_RE.match(mime))


def chart_html(spec: Mapping[str, Any], chart_id: str) -> str:
    """The offline HTML for one chart. ``chart_id`` must match ``[A-Za-z0-9_-]+``.

    Needs :func:`vega_bundle_js` once on the page (``export_html`` puts it in ``<head>``); until
    vegaEmbed runs, the div holds a plain-text placeholder.
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]+", chart_id):
        raise ValueError("chart_id must match [A-Za-z0-9_-]+")
    return (
        f'<div class="tk-chart" id="{chart_id}" role="figure">chart (needs JavaScript)</div>'
        '<script type="application/json" class="tk-chart-spec">'
        f"{escape_json_for_html(dict(spec))}</script>"
        f"<script>{CHART_INIT_JS}</script>"
    )


def _vl_version() -> str:
    """The Vega-Lite ``major.minor`` Altair targets, if vl-convert ships it (else vl-convert's latest)."""
    import vl_convert as vlc

    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    available = list(vlc.get_vegalite_versions())
    return wanted if wanted in available else available[-1]


def vega_bundle_js() -> str:
    """vega + vega-lite + vega-embed as one classic script that sets ``window.vegaEmbed``.

    From vl-convert (about 0.9 MB, no network; vl-convert caches it after the first ~1 s call).
    Its few ``http(s)://`` strings (SVG namespace URIs, links in messages) are string literals;
    ``:\\/\\/`` is the same string at run time, so the report holds no ``http(s)://`` text at all.
    The bundle declares top-level ``const``s: inline it ONCE per page (a second copy throws).
    """
    import vl_convert as vlc

    bundle: str = vlc.javascript_bundle(vl_version=_vl_version())
    bundle = bundle.replace("http://", "http:\\/\\/").replace("https://", "https:\\/\\/")
    bundle = re.sub(r"</(script)", r"<\\/\1", bundle, flags=re.IGNORECASE)
    if "<!--" in bundle:  # pragma: no cover - would need a different escaping strategy
        raise ValueError("vega bundle contains '<!--'; refusing to inline it")
    header = (
        f"/* testkey-nb vega bundle: vega {vlc.get_vega_version()}, vega-lite {_vl_version()}, "
        f"vega-embed {vlc.get_vega_embed_version()} */\n"
    )
    return header + bundle


def script_sha256(script_text: str) -> str:
    """CSP source expression (``'sha256-...'``) for an inline script with exactly this text."""
    digest = hashlib.sha256(script_text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


_MD_ESCAPES: Final = {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&#39;"}
_MD_SPECIAL_RE: Final = re.compile(r"[<>&\"'\\`*_{}\[\]()#+\-.!|~]")


def escape_markdown(text: str) -> str:
    """Provider text for ``IPython.display.Markdown``: HTML-escaped, Markdown punctuation escaped.

    nbconvert renders Markdown with raw HTML passing through, so unescaped provider text in a
    Markdown output would be markup in the report. One pass: entities are never re-escaped.
    """
    one_line = " ".join(text.splitlines())
    return _MD_SPECIAL_RE.sub(lambda m: _MD_ESCAPES.get(m.group(0), "\\" + m.group(0)), one_line)
