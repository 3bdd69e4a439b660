"""Executed notebook -> one self-contained, offline HTML page.

nbconvert's ``lab`` template, narrowed by a template kept in this module (``extra_loaders``, so the
package ships no template files):

* code cells and prompts hidden (``exclude_input``, ``exclude_*_prompt``), no anchor links;
* the head blocks that load require.js, MathJax, Mermaid and the widget manager from a CDN emptied,
  JavaScript and widget outputs dropped, stderr streams (warnings) dropped;
* every Vega-Lite output turned into ``testkey_nb.report._embed.chart_html`` and the vega bundle inlined once
  in ``<head>`` (only when there is a chart);
* CSS comments removed (JupyterLab's CSS cites URLs in them): the page holds no ``http(s)://``
  unless a notebook's own text does; CSS rules no element of the page can match removed
  (``_css.prune_css``: the ~210 KB of JupyterLab CSS nbconvert inlines becomes a few KB);
* Vega-Lite specs compiled to Vega (``_embed.chart_html``), the compressed Vega runtime inlined once;
* a Content-Security-Policy ``<meta>``: scripts only by hash (the bundle and the one chart-init
  script), no network at all (``default-src 'none'``, images and fonts from ``data:`` only). It backs
  up escaping: a provider string that slipped through as markup could not run script or load anything.

A page that would still load a remote resource (``<script src>``, ``<img src="https://...">``, CSS
``url(//...)``) is refused with ``OfflineViolation``.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from typing import Any, Final, cast

import jinja2
from nbconvert import HTMLExporter
from nbformat import NotebookNode

from testkey_nb.report._css import prune_css, used_classes
from testkey_nb.report._embed import CHART_INIT_JS, chart_html, is_vegalite_mime, script_sha256, vega_bundle_js
from testkey_nb.report.page_css import PAGE_CSS

__all__ = ["BUNDLE_MARKER", "OfflineViolation", "add_contents", "export_html"]

#: Comment that opens the inlined bundle: count it to check "exactly once".
BUNDLE_MARKER: Final = "/* testkey-nb vega bundle:"
_TEMPLATE_NAME: Final = "testkey_nb_report.html.j2"
_DROP_MIMES: Final = frozenset(
    {
        "application/javascript",
        "application/vnd.jupyter.widget-view+json",
        "application/vnd.jupyter.widget-state+json",
    }
)

# Extends lab/index.html.j2 (found through template_name="lab").
_TEMPLATE: Final = r"""{%- extends 'index.html.j2' -%}
{%- block html_head -%}
<meta http-equiv="Content-Security-Policy" content="{{ resources.tk_csp_token }}">
{{ super() }}
{%- endblock html_head -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_css -%}
<style type="text/css">
.tk-chart { min-height: 2em; margin: 0.5em 0; }
.tk-chart .vega-embed { max-width: 100%; }
</style>
<style type="text/css">{{ resources.tk_page_css }}</style>
<!--{{ resources.tk_bundle_token }}-->
{%- endblock html_head_css -%}
{%- block data_javascript scoped -%}{%- endblock data_javascript -%}
{%- block data_widget_view scoped -%}{%- endblock data_widget_view -%}
"""

_STYLE_RE: Final = re.compile(r"(<style\b[^>]*>)(.*?)(</style\s*>)", re.IGNORECASE | re.DOTALL)
_CSS_COMMENT_RE: Final = re.compile(r"/\*.*?\*/", re.DOTALL)
_SCRIPT_SRC_RE: Final = re.compile(r"<script\b[^>]*\bsrc\s*=", re.IGNORECASE)
_LINK_RE: Final = re.compile(r"<link\b[^>]*\bhref\s*=", re.IGNORECASE)
_REMOTE_ATTR_RE: Final = re.compile(
    r"<(?!a[\s>])[a-z][a-z0-9-]*\b[^>]*\s(?:src|srcset|href|data|poster|action|formaction|background)"
    r"\s*=\s*[\"']?\s*(?:[a-z][a-z0-9+.-]*:)?//",
    re.IGNORECASE,
)
_REMOTE_CSS_RE: Final = re.compile(r"url\(\s*[\"']?\s*(?:[a-z][a-z0-9+.-]*:)?//|@import\b", re.IGNORECASE)


class OfflineViolation(ValueError):
    """The exported page would load something from outside itself."""


def _csp(script_texts: list[str]) -> str:
    scripts = " ".join(script_sha256(s) for s in script_texts)
    script_src = f"{scripts} 'unsafe-eval'" if scripts else "'none'"
    return (
        f"default-src 'none'; script-src {script_src}; style-src 'unsafe-inline'; "
        "img-src data: blob:; font-src data:; connect-src 'none'; media-src 'none'; "
        "object-src 'none'; frame-src 'none'; worker-src 'none'; base-uri 'none'; form-action 'none'"
    )


def _outputs_copy(nb: NotebookNode) -> NotebookNode:
    """A copy of ``nb`` deep enough for `_prepare` and the title: the notebook, its metadata, every cell, its
    outputs and their ``data`` are new containers; the values inside are shared. (nbconvert deep-copies
    the notebook again before it exports, so a full ``copy.deepcopy`` here was paid twice.)"""
    from nbformat import NotebookNode

    node = cast(Callable[[Any], NotebookNode], NotebookNode)  # a dict: the copy is shallow

    def output(o: Any) -> NotebookNode:
        out = node(o)
        if "data" in o:
            out["data"] = node(o["data"])
        return out

    def cell(c: Any) -> NotebookNode:
        out = node(c)
        if "outputs" in c:
            out["outputs"] = [output(o) for o in c["outputs"]]
        return out

    copied = node(nb)
    copied["metadata"] = node(nb.get("metadata", {}))
    copied["cells"] = [cell(c) for c in nb.get("cells", [])]
    return copied


def _prepare(nb: NotebookNode) -> int:
    """Rewrite outputs in place for the offline page; return the number of charts."""
    charts = 0
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        kept: list[Any] = []
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream" and output.get("name") == "stderr":
                continue
            if kind in ("display_data", "execute_result"):
                data = output.get("data", {})
                vl = next((m for m in data if is_vegalite_mime(m)), None)
                if vl is not None:
                    output["data"] = {"text/html": chart_html(data[vl], f"tk-chart-{charts}")}
                    output["metadata"] = {}
                    charts += 1
                else:
                    for mime in _DROP_MIMES.intersection(data):
                        del data[mime]
                    if not data:
                        continue
            kept.append(output)
        cell["outputs"] = kept
    return charts


def _strip_css_comments(page: str) -> str:
    return _STYLE_RE.sub(lambda m: m.group(1) + _CSS_COMMENT_RE.sub("", m.group(2)) + m.group(3), page)


#: Classes the chart runtime adds at run time (not in the page's markup).
_RUNTIME_CLASSES: Final = frozenset({"vega-embed", "tk-chart-actions"})


def _prune_styles(page: str) -> str:
    """Every ``<style>`` block without the rules nothing on the page can match."""
    classes = used_classes(_STYLE_RE.sub("", page)) | _RUNTIME_CLASSES
    pruned = iter(prune_css([m.group(2) for m in _STYLE_RE.finditer(page)], classes))
    return _STYLE_RE.sub(lambda m: m.group(1) + next(pruned) + m.group(3), page)


def _css_of(page: str) -> str:
    """Only what a browser reads as CSS: ``<style>`` blocks and ``style=`` attributes (escaped text is not)."""
    blocks = [m.group(2) for m in _STYLE_RE.finditer(page)]
    attrs = re.findall(r"""\sstyle\s*=\s*(?:"([^"]*)"|'([^']*)')""", page, re.IGNORECASE)
    return "\n".join([*blocks, *(a or b for a, b in attrs)])


def check_offline(page: str) -> None:
    """Raise :class:`OfflineViolation` if ``page`` references a remote or external resource."""
    problems = [
        name
        for name, regex, text in (
            ("<script src>", _SCRIPT_SRC_RE, page),
            ("<link href>", _LINK_RE, page),
            ("remote src/href attribute", _REMOTE_ATTR_RE, page),
            ("remote CSS url()/import", _REMOTE_CSS_RE, _css_of(page)),
        )
        if regex.search(text)
    ]
    if problems:
        raise OfflineViolation("report would load external resources: " + ", ".join(problems))


_H2_RE: Final = re.compile(r"<h2>(.*?)</h2>", re.DOTALL)
_SUMMARY_END_RE: Final = re.compile(r"(<section\b[^>]*\bid=\"summary\"[^>]*>.*?</section>)", re.DOTALL)


def _slug(text: str, taken: set[str]) -> str:
    words = re.sub(r"<[^>]+>|&[a-z]+;|&#\d+;", "", text).lower()
    base = "s-" + (re.sub(r"[^a-z0-9]+", "-", words).strip("-") or "section")
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def add_contents(page: str) -> str:
    """Give each section heading (a bare ``<h2>``, from the notebook's Markdown) an id and put a table of
    contents (``<nav class="tk-toc">``) right after the summary, or first in ``<main>`` without one.

    Headings with attributes (the summary's own) are not sections. The heading text is already escaped.
    """
    taken: set[str] = set()
    entries: list[tuple[str, str]] = []

    def name(match: re.Match[str]) -> str:
        slug = _slug(match.group(1), taken)
        entries.append((slug, match.group(1)))
        return f'<h2 id="{slug}">{match.group(1)}</h2>'

    page = _H2_RE.sub(name, page)
    if len(entries) < 2:
        return page
    items = "".join(f'<li><a href="#{slug}">{text}</a></li>' for slug, text in entries)
    nav = f'<nav class="tk-toc" aria-label="Contents"><b>Contents</b><ol>{items}</ol></nav>'
    if _SUMMARY_END_RE.search(page):
        return _SUMMARY_END_RE.sub(lambda m: m.group(1) + nav, page, count=1)
    return page.replace("<main>", "<main>" + nav, 1)


#: A cache, not state: one configured exporter per thread, so its compiled Jinja templates are compiled once per
#: thread instead of once per page (about 0.1 s of CPU a report). It holds nothing of a page it exported.
_EXPORTERS = threading.local()


def _exporter() -> HTMLExporter:
    cached: HTMLExporter | None = getattr(_EXPORTERS, "exporter", None)
    if cached is None:
        cached = _EXPORTERS.exporter = _new_exporter()
    return cached


def _new_exporter() -> HTMLExporter:
    return HTMLExporter(
        template_name="lab",
        template_file=_TEMPLATE_NAME,
        extra_loaders=[jinja2.DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        exclude_anchor_links=True,
        # validate the notebook once after the preprocessors, not after each of them (six times a page)
        optimistic_validation=True,
    )


def export_html(executed_nb: NotebookNode, *, title: str) -> str:
    """The executed notebook as one offline HTML page (code and prompts hidden).

    ``executed_nb`` is not modified. ``title`` is escaped. Raises :class:`OfflineViolation` when the
    notebook's own content references remote resources (e.g. a Markdown image from a URL).
    """
    nb = _outputs_copy(executed_nb)
    nb.metadata["title"] = title
    charts = _prepare(nb)
    csp_token = f"tk-csp-{secrets.token_hex(8)}"
    bundle_token = f"tk-bundle-{secrets.token_hex(8)}"
    page, _ = _exporter().from_notebook_node(
        nb, resources={"tk_csp_token": csp_token, "tk_bundle_token": bundle_token, "tk_page_css": PAGE_CSS}
    )
    page = add_contents(page)
    bundle_placeholder = f"<!--{bundle_token}-->"
    page = _prune_styles(_strip_css_comments(page))
    scripts: list[str] = []
    bundle_tag = ""
    if charts:
        bundle = vega_bundle_js()
        bundle_tag = f"<script>{bundle}</script>"
        scripts = [bundle, CHART_INIT_JS]
    if page.count(bundle_placeholder) != 1 or page.count(csp_token) != 1:
        raise RuntimeError("report template placeholders missing or repeated")  # pragma: no cover
    page = page.replace(csp_token, _csp(scripts))
    check_offline(page)
    # Last, so the 0.9 MB bundle is neither re-parsed nor scanned (its URLs are escaped already).
    return page.replace(bundle_placeholder, bundle_tag)
