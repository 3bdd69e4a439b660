"""Pruning the JupyterLab CSS nbconvert inlines: what a page can match stays, the rest goes."""

from __future__ import annotations

from testkey_nb.report._css import prune_css, used_classes

THEME = ":root{--jp-used:#111;--jp-chain:var(--jp-used);--jp-unused:#222}"
SHEET = (
    ".jp-Cell{color:var(--jp-chain)}"
    ".jp-Toolbar .jp-Button{color:red}"
    "body,.jp-Dialog{margin:0}"
    ".jp-OutputArea:not(.jp-mod-x) table{border:0}"
    "@media print{.jp-Cell{display:block}.jp-Menu{display:none}}"
    "@keyframes spin{from{opacity:0}to{opacity:1}}"
    "@keyframes used-spin{from{opacity:0}to{opacity:1}}"
    ".jp-OutputArea{animation:used-spin 1s}"
    "@import 'x.css';"
)


def test_used_classes_reads_class_attributes() -> None:
    page = '<div class="jp-Cell  jp-OutputArea"><span class=\'tk-x\'>a</span></div>'
    assert used_classes(page) == {"jp-Cell", "jp-OutputArea", "tk-x"}


def test_prune_keeps_what_the_page_can_match() -> None:
    theme, sheet = prune_css([THEME, SHEET], frozenset({"jp-Cell", "jp-OutputArea"}))
    assert ".jp-Cell{color:var(--jp-chain)}" in sheet
    assert "jp-Toolbar" not in sheet and "jp-Menu" not in sheet and "jp-Dialog" not in sheet
    assert "body{margin:0}" in sheet  # a selector without classes always stays
    assert ".jp-OutputArea:not(.jp-mod-x) table" in sheet  # :not() does not count against it
    assert "@media print{.jp-Cell{display:block}}" in sheet
    assert "used-spin" in sheet and "@keyframes spin" not in sheet
    assert "@import" in sheet  # left for the page's offline check to refuse
    # Custom properties across sheets: used (through a chain) stay, unused go.
    assert "--jp-used:#111" in theme and "--jp-chain:var(--jp-used)" in theme
    assert "--jp-unused" not in theme


def test_prune_nothing_matches() -> None:
    (out,) = prune_css([".jp-A{x:1}.jp-B .jp-C{y:2}"], frozenset())
    assert out == ""
