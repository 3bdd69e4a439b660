"""Offline embedding of Altair (Vega-Lite) charts: the generic half of ``testkey_nb.report.charts``.

Two audiences read a chart:

* JupyterLab, live. :func:`show` displays ``application/vnd.vegalite.v5+json`` (the newest Vega-Lite
  mimetype JupyterLab 4 renders itself, interactive with tooltips) plus a ``text/plain`` fallback.
  It deliberately does NOT add ``text/html``: JupyterLab ranks ``text/html`` (50) above its Vega
  renderer (57), so an HTML twin would win in Lab and show nothing there (no vega on Lab's page).
* The exported HTML report, offline. ``testkey_nb.report.export_html`` turns every Vega-Lite output
  into :func:`chart_html`: the spec compiled to Vega once, here, by vl-convert (so the page needs no
  Vega-Lite compiler), in a ``<div class="tk-chart">``, as escaped JSON in a
  ``<script type="application/json">``, and one tiny inline script that calls ``tkVegaEmbed``. It
  inlines :func:`vega_bundle_js` once in ``<head>``: the Vega runtime alone (about 577 KB minified),
  gzip-compressed and base64-encoded (about 270 KB) inside a small loader that inflates it with the
  browser's ``DecompressionStream`` and defines ``tkVegaEmbed`` (SVG view, tooltips, PNG/SVG
  export). The compressed runtime is built once and cached on disk. No CDN, no ``<script src=``.

Altair embeds every column of the data frame a chart is given, whether the chart shows it or not:
select only the columns a chart encodes (``frame.select(...)``) before building it.

All JSON that lands in HTML goes through :func:`escape_json_for_html`: ``<``, ``>``, ``&``, ``/``,
U+2028 and U+2029 (and every non-ASCII character) become JSON escapes, so a provider string such as
``</script><img src=x onerror=...>`` cannot close the script element or inject markup.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import gzip
import hashlib
import html
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import altair as alt

__all__ = [
    "CHART_INIT_JS",
    "COMPRESS_SPEC_OVER",
    "EMBED_OPTIONS",
    "LAB_VEGALITE_MIME",
    "LAB_VEGA_MIME",
    "SPEC_GZIP_TYPE",
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
    "vega_spec",
    "warm_up",
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
    "function go(){if(typeof window.tkVegaEmbed!=='function'){return false;}"
    "d.textContent='';"
    "window.tkVegaEmbed(d,j,"
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
    import altair as alt
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


#: A compiled spec longer than this (its escaped JSON) is embedded gzip + base64 (type SPEC_GZIP_TYPE).
COMPRESS_SPEC_OVER: Final = 32_000
SPEC_GZIP_TYPE: Final = "application/x-tk-json+gzip+base64"


def chart_html(spec: Mapping[str, Any], chart_id: str) -> str:
    """The offline HTML for one chart. ``chart_id`` must match ``[A-Za-z0-9_-]+``.

    The spec is compiled to Vega and embedded as escaped JSON; above ``COMPRESS_SPEC_OVER``
    characters, as that JSON gzip-compressed in base64 (the page's loader inflates it).

    Needs :func:`vega_bundle_js` once on the page (``export_html`` puts it in ``<head>``); until
    vegaEmbed runs, the div holds a plain-text placeholder.
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]+", chart_id):
        raise ValueError("chart_id must match [A-Za-z0-9_-]+")
    description = spec.get("description")
    label = f' aria-label="{html.escape(str(description), quote=True)}"' if description else ""
    text = escape_json_for_html(vega_spec(spec))
    if len(text) > COMPRESS_SPEC_OVER:  # e.g. the fleet index's keys x capabilities, evidence included
        kind = SPEC_GZIP_TYPE
        text = base64.b64encode(gzip.compress(text.encode("ascii"), compresslevel=9, mtime=0)).decode("ascii")
    else:
        kind = "application/json"
    return (
        f'<div class="tk-chart" id="{chart_id}" role="figure"{label}>chart (needs JavaScript)</div>'
        f'<script type="{kind}" class="tk-chart-spec">{text}</script>'
        f"<script>{CHART_INIT_JS}</script>"
    )


def _vl_version() -> str:
    """The Vega-Lite ``major.minor`` Altair targets, if vl-convert ships it (else vl-convert's latest)."""
    import altair as alt
    import vl_convert as vlc

    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    available = list(vlc.get_vegalite_versions())
    return wanted if wanted in available else available[-1]


def vega_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A Vega-Lite spec compiled to Vega by vl-convert (a Vega spec is returned as it is)."""
    schema = str(spec.get("$schema", ""))
    if "/vega-lite/" not in schema:
        return dict(spec)
    import vl_convert as vlc

    compiled = vlc.vegalite_to_vega(dict(spec), vl_version=_vl_version())
    if not isinstance(compiled, dict):  # pragma: no cover - vl-convert returns a dict
        raise TypeError("vl-convert did not return a Vega spec")
    return compiled


def warm_up() -> None:
    """Build (or load) the compressed runtime and start vl-convert's compiler, ahead of the first export."""
    vega_bundle_js()
    vega_spec({"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "mark": "point", "data": {"values": []}})


# The loader around the compressed runtime. `tkVegaEmbed(el, spec, opts)` is defined at once (the
# chart scripts below it call it) and draws when the runtime has been inflated: a vega View in SVG,
# vega-tooltip's handler (it writes text, never markup), and PNG/SVG export buttons that render
# through vega's own toImageURL (data: URLs, allowed by the page's CSP).
_LOADER_JS: Final = r"""(function(){
var z="@@RUNTIME@@";
function unzip(t){var b=atob(t),u=new Uint8Array(b.length);for(var i=0;i<b.length;i++){u[i]=b.charCodeAt(i);}
return new Response(new Blob([u]).stream().pipeThrough(new DecompressionStream("gzip"))).text();}
function inflate(){return unzip(z).then(function(src){(0,eval)(src);return window.vega;});}
function specOf(s){if(!(s instanceof Element)){return Promise.resolve(s);}
return s.type==="@@SPEC_GZIP_TYPE@@"?unzip(s.textContent).then(JSON.parse):Promise.resolve(JSON.parse(s.textContent));}
var ready=null,tooltip=null;
function actions(el,view){var bar=document.createElement("div");bar.className="tk-chart-actions";
["svg","png"].forEach(function(type){var b=document.createElement("button");b.type="button";
b.textContent="Save as "+type.toUpperCase();b.addEventListener("click",function(){
view.toImageURL(type,type==="png"?2:1).then(function(url){var a=document.createElement("a");a.href=url;
a.download="chart."+type;document.body.appendChild(a);a.click();a.remove();});});bar.appendChild(b);});
el.appendChild(bar);}
window.tkVegaEmbed=function(el,source,opts){opts=opts||{};ready=ready||inflate();
return Promise.all([ready,specOf(source)]).then(function(got){var vega=got[0],spec=got[1];
var box=document.createElement("div");box.className="vega-embed";el.appendChild(box);
var view=new vega.View(vega.parse(spec),{renderer:opts.renderer||"svg",container:box,hover:true});
if(window.vegaTooltipHandler){tooltip=tooltip||new window.vegaTooltipHandler();view.tooltip(tooltip.call);}
return view.runAsync().then(function(){if(opts.actions&&opts.actions.export){actions(el,view);}
return {view:view};});});};
})();"""
#: vl-convert vendors its JavaScript under these specifiers (vega's version comes from vl-convert).
_JSDELIVR: Final = "https://cdn.jsdelivr.net/npm"
_VEGA_TOOLTIP_VERSION: Final = "1.0.0"


def _runtime_cache_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "testkey-nb"


_B64_RE: Final = re.compile(r"H4sI[A-Za-z0-9+/]*={0,2}")


@functools.cache
def _compressed_runtime(vega_version: str) -> str:
    """The Vega runtime (vl-convert's bundle of vega alone), gzip + base64; built once, then cached on disk.

    Keyed by the vega and vl-convert versions. A cache file that is not a gzip stream in base64 is
    rebuilt; one that cannot be written is not an error (the next process builds it again).
    """
    import vl_convert as vlc

    from testkey_nb._files import write_atomic

    version = getattr(vlc, "__version__", "0")
    path = _runtime_cache_dir() / f"vega-runtime-{vega_version}-tooltip{_VEGA_TOOLTIP_VERSION}-vlc{version}.js.gz.b64"
    try:
        cached = path.read_text(encoding="ascii")
        if _B64_RE.fullmatch(cached):
            return cached
    except (OSError, UnicodeDecodeError):
        pass
    # Only the modules named here are bundled (no Vega-Lite compiler, no vega-embed): vl-convert
    # resolves them from the copies it ships, without a network.
    # (The snippet's own names must differ from the vegaEmbed/vega/vegaLite vl-convert predefines.)
    vega = f'import * as tkVega from "{_JSDELIVR}/vega@{vega_version}/+esm";'
    tooltip = f'import {{Handler as TkHandler}} from "{_JSDELIVR}/vega-tooltip@{_VEGA_TOOLTIP_VERSION}/+esm";'
    try:
        source: str = vlc.javascript_bundle(
            snippet=f"{vega} {tooltip} window.vega = tkVega; window.vegaTooltipHandler = TkHandler;"
        )
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # (vl-convert panics are BaseException) no such vega-tooltip: vega's title tooltips
        source = vlc.javascript_bundle(snippet=f"{vega} window.vega = tkVega;")
    encoded = base64.b64encode(gzip.compress(source.encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")
    with contextlib.suppress(OSError):
        write_atomic(path, encoded)
    return encoded


def vega_bundle_js() -> str:
    """One classic script that defines ``window.tkVegaEmbed``: the loader with the compressed Vega runtime.

    About 270 KB (the runtime is about 577 KB minified). Built from vl-convert (no network) once per
    machine and cached (``$XDG_CACHE_HOME/testkey-nb``), then once per process in memory. The
    compressed runtime is base64 (``[A-Za-z0-9+/=]``), so the script holds no ``</script``, no
    ``<!--`` and no ``http(s)://`` text. Inline it ONCE per page, in ``<head>``, before the charts.
    """
    import vl_convert as vlc

    vega_version = vlc.get_vega_version()
    header = f"/* testkey-nb vega bundle: vega {vega_version} (compiled specs, gzip+base64) */\n"
    loader = _LOADER_JS.replace("@@SPEC_GZIP_TYPE@@", SPEC_GZIP_TYPE)
    return header + loader.replace("@@RUNTIME@@", _compressed_runtime(vega_version))


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
