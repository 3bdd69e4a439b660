"""The page-level stylesheet of every exported report: readable words, print and PDF, dark mode.

One ``<style>`` in the page's ``<head>`` (``export.py`` puts it there), after JupyterLab's CSS so it
wins ties:

* **Words** wrap between words only (``overflow-wrap: normal; word-break: normal; hyphens: manual``)
  and tables lay out automatically (JupyterLab's ``table-layout: fixed`` split "permission_matr ix"):
  a narrow column widens to its longest word instead of breaking it.
* **Print** (Ctrl+P and ``render --pdf``): A4; no buttons (the charts' "Save as SVG/PNG"); nothing cut
  with "…" (the summary's notes and action reasons wrap, whole); headings kept with what follows;
  tables break between rows and repeat their header; charts are not split; JupyterLab's
  ``break-inside: avoid-page`` on whole outputs (which pushed a long table to a fresh page) is undone;
  a smaller type so one key's report fits on a few pages.
* **Dark mode** from ``prefers-color-scheme``: JupyterLab's colour variables and the report's own
  colours; charts keep a light panel of their own (their colours were chosen on white).
"""

from __future__ import annotations

from typing import Final

__all__ = ["PAGE_CSS"]

_WORDS: Final = """
.tk-table{table-layout:auto !important;max-width:100%}
.tk-table th,.tk-table td,.tk-summary,.tk-toc{overflow-wrap:normal;word-break:normal;hyphens:manual}
.tk-table td code,.tk-table td .tk-path{overflow-wrap:anywhere}
.tk-toc{font-size:13px;margin:0 0 12px 0;max-width:1100px}
.tk-toc ol{list-style:none;margin:2px 0 0 0;padding:0;display:flex;flex-wrap:wrap;gap:2px 14px}
.tk-toc a,.tk-back{color:#1565c0;text-decoration:none}
.tk-toc a:hover,.tk-back:hover{text-decoration:underline}
.tk-back{font-size:13px;display:inline-block;margin:0 0 4px 0}
.tk-chart-note{font-size:13px;color:#616161;margin:4px 0 12px 0}
.tk-nw{white-space:nowrap}
"""

_PRINT: Final = """
@page{size:A4;margin:10mm 9mm}
@media print{
 html{font-size:11px}
 body{zoom:0.70;background:#fff !important;color:#000 !important}
 main{padding:0 !important}
 .jp-Cell{padding:0 !important}
 .jp-Notebook,.jp-Cell-outputWrapper,.jp-OutputArea-output{padding:0 !important;margin:0 !important}
 .jp-OutputArea-child{break-inside:auto !important;page-break-inside:auto !important}
 .jp-RenderedHTMLCommon h2,.jp-RenderedHTMLCommon h3{margin:10px 0 3px 0 !important;font-size:15px}
 .jp-RenderedHTMLCommon p{margin:0 0 4px 0 !important}
 .jp-RenderedHTMLCommon table,.tk-table{font-size:9.5px !important;margin:2px 0 6px 0 !important;line-height:1.25}
 .jp-RenderedHTMLCommon td,.jp-RenderedHTMLCommon th,.tk-table th,.tk-table td{padding:1px 4px !important}
 h1,h2,h3,h4,.tk-fact-label{break-after:avoid;page-break-after:avoid}
 .jp-MarkdownCell{break-after:avoid;page-break-after:avoid;break-inside:avoid}
 tr,li,.tk-fact,.tk-chart,.tk-chart svg,figure{break-inside:avoid;page-break-inside:avoid}
 thead{display:table-header-group}
 .tk-chart-actions,.tk-noprint,button{display:none !important}
 .tk-scroll{overflow:visible !important}
 .tk-summary{border:none !important;padding:0 !important;max-width:none !important}
 .tk-summary .tk-note,.tk-summary ul.tk-actions li{white-space:normal !important;overflow:visible !important;
  text-overflow:clip !important}
 .tk-summary ul.tk-actions b{min-width:0 !important;margin-right:4px}
 .tk-toc a,.tk-back{color:#000}
 .tk-back{display:none}
}
"""

_DARK: Final = """
@media (prefers-color-scheme: dark){
 :root,body{--jp-layout-color0:#161616;--jp-layout-color1:#1e1e1e;--jp-layout-color2:#2a2a2a;
  --jp-content-font-color1:#e6e6e6;--jp-ui-font-color1:#e6e6e6;--jp-ui-font-color2:#bdbdbd;
  --jp-border-color0:#555;--jp-border-color1:#444;--jp-border-color2:#333;--jp-content-link-color:#90caf9;
  --jp-rendermime-table-row-background:#1f1f1f;--jp-rendermime-table-row-hover-background:#2c2c2c}
 html,body,.jp-Notebook{background:#161616;color:#e6e6e6;color-scheme:dark}
 .jp-RenderedHTMLCommon,.jp-RenderedHTMLCommon p,.jp-RenderedHTMLCommon li,.jp-RenderedHTMLCommon h2,
 .jp-RenderedHTMLCommon h3{color:#e6e6e6}
 .tk-table th{background:#262626 !important;color:#e6e6e6}
 .tk-table th,.tk-table td{border-bottom-color:#3a3a3a !important;color:#e6e6e6}
 .tk-summary{background:#1e1e1e !important;border-color:#3a3a3a !important;color:#e6e6e6}
 .tk-summary .tk-fact{border-left-color:#555}
 .tk-summary .tk-fact-label,.tk-summary .tk-note,.tk-muted,.tk-chart-note{color:#b0b0b0 !important}
 .tk-prov-observed{color:#81c784}.tk-prov-derived{color:#90caf9}.tk-prov-documented{color:#bcaaa4}
 .tk-toc a,.tk-back{color:#90caf9}
 code{color:#e6e6e6;background:#262626}
 .tk-chart .vega-embed{background:#fff;border-radius:6px;padding:6px;color:#000}
}
@media print and (prefers-color-scheme: dark){
 html,body,.jp-Notebook{background:#fff !important;color:#000 !important}
}
"""

#: The page stylesheet (no comments: the exporter strips them anyway).
PAGE_CSS: Final = _WORDS + _PRINT + _DARK
