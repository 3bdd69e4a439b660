"""rfc3987_syntax's grammar is built on first use only, and the IRI format check still works."""

from __future__ import annotations

import subprocess
import sys

_CODE = """
import sys
from testkey_nb._importtax import defer_rfc3987_syntax
if {defer}:
    assert defer_rfc3987_syntax()
import altair, jsonschema
print("lark-after-import", "lark" in sys.modules)
from jsonschema import Draft202012Validator, FormatChecker
v = Draft202012Validator({{"type": "string", "format": "iri"}}, format_checker=FormatChecker())
print("valid", v.is_valid("https://example.org/a?b#c"), "invalid", v.is_valid("no scheme here"))
print("lark-after-use", "lark" in sys.modules)
"""


def _run(defer: bool) -> str:
    return subprocess.run([sys.executable, "-c", _CODE.format(defer=defer)], capture_output=True, text=True,
                          timeout=180, check=True).stdout  # fmt: skip


def test_deferred_grammar_loads_on_first_use_only() -> None:
    out = _run(True)
    assert "lark-after-import False" in out  # altair and jsonschema imported, no grammar built
    assert "valid True invalid False" in out  # the real validator answers
    assert "lark-after-use True" in out


def test_control_without_deferral_the_grammar_is_built_at_import() -> None:
    out = _run(False)
    assert "lark-after-import True" in out
    assert "valid True invalid False" in out
