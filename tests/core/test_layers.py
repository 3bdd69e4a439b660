"""Data flows one way (issue 20): key ref -> secret -> identify -> probes -> observations -> facts ->
profile -> decision -> frames -> charts -> notebook -> HTML. The rooms below ``report`` never import it,
not even lazily inside a function; the notebook face of a check lives above them (``testkey_nb.api``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "testkey_nb"
BELOW_REPORT = ("check", "history", "probe", "identify")


def _imported(source: str, package: tuple[str, ...]) -> list[str]:
    """Every module ``source`` (a module of ``package``) imports, at any depth (functions,
    ``TYPE_CHECKING`` blocks), relative ones resolved, and every string given to ``import_module``."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names += [module, *(f"{module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names.append(node.args[0].value)
    return names


def _reaches_report(name: str) -> bool:
    return name.split(".")[:2] == ["testkey_nb", "report"]


@pytest.mark.parametrize("room", BELOW_REPORT)
def test_rooms_below_report_never_import_it(room: str) -> None:
    files = sorted((PACKAGE / room).rglob("*.py"))
    assert files, room
    offenders = [
        f"{p.relative_to(PACKAGE)}: {n}"
        for p in files
        for n in _imported(p.read_text(encoding="utf-8"), p.relative_to(PACKAGE.parent).parent.parts)
        if _reaches_report(n)
    ]
    assert offenders == []


def test_the_scan_sees_lazy_relative_and_dynamic_imports() -> None:
    """The scan itself can fail: each spelling of an import of ``report`` is found."""
    room = ("testkey_nb", "check")
    spellings = {
        "def f():\n    from testkey_nb.report.card import key_card_html\n": "testkey_nb.report.card",
        "if TYPE_CHECKING:\n    import testkey_nb.report.frames\n": "testkey_nb.report.frames",
        "from testkey_nb import report\n": "testkey_nb.report",
        "from ..report import frames\n": "testkey_nb.report.frames",
        "def f():\n    return importlib.import_module('testkey_nb.report')\n": "testkey_nb.report",
    }
    for source, expected in spellings.items():
        assert expected in [n for n in _imported(source, room) if _reaches_report(n)], source
    clean = "from testkey_nb.check.decide import decide\nfrom . import result\nfrom .. import api\n"
    assert [n for n in _imported(clean, room) if _reaches_report(n)] == []
