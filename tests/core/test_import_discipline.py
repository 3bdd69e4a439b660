"""`testkey-nb --help` and `testkey-nb probe` stay light: no papermill, nbconvert, altair or jsonschema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import CANARY

HEAVY = ("papermill", "nbconvert", "nbclient", "altair", "jsonschema", "rfc3987_syntax", "vl_convert", "polars")

# Runs the real entry point, then reports which heavy modules the process imported.
_RUN = (
    "import atexit, json, sys\n"
    "atexit.register(lambda: sys.stderr.write('\\nTK-MODULES ' + json.dumps("
    f"[m for m in {HEAVY!r} if m in sys.modules]) + '\\n'))\n"
    "sys.argv = ['testkey-nb', *sys.argv[1:]]\n"
    "from testkey_nb.cli import main\n"
    "main()\n"
)


def _heavy_modules(*args: str, env: dict[str, str] | None = None) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    proc = subprocess.run([sys.executable, "-c", _RUN, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})  # fmt: skip
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("TK-MODULES "))
    return json.loads(line.removeprefix("TK-MODULES ")), proc


def test_json_models_are_the_models_frame(emu: Any) -> None:
    """``probe --json`` builds its model rows without polars; they are the rows of ``models_frame``."""
    from testkey_nb.check.result import CheckOptions
    from testkey_nb.check.run import check_key
    from testkey_nb.secrets import Secret

    check = check_key(Secret(CANARY), CheckOptions(base_url=emu.inference_url, management_url=emu.management_url))
    rows = check.profile.model_rows()
    assert rows and rows == check.profile.models_frame().to_dicts()
    assert check.to_json()["models"] == rows


def test_help_imports_nothing_heavy() -> None:
    heavy, proc = _heavy_modules("--help")
    assert proc.returncode == 0 and "probe" in proc.stdout
    assert heavy == []


def test_probe_imports_nothing_heavy(emu: Any) -> None:
    heavy, proc = _heavy_modules(
        "probe", "env:TK_IMPORT_KEY", "--base-url", emu.inference_url, "--management-url", emu.management_url,
        "--json", env={"TK_IMPORT_KEY": CANARY},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-500:]
    assert json.loads(proc.stdout)["metrics"]["key_valid"] is True
    assert json.loads(proc.stdout)["models"]
    assert heavy == []


def test_probe_tables_import_nothing_heavy(emu: Any) -> None:
    heavy, proc = _heavy_modules(
        "probe", "env:TK_IMPORT_KEY", "--base-url", emu.inference_url, "--management-url", emu.management_url,
        env={"TK_IMPORT_KEY": CANARY, "COLUMNS": "120"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-500:]
    assert "Verdict" in proc.stdout
    assert heavy == []


@pytest.mark.parametrize("module", ["testkey_nb.report.render", "testkey_nb.report.keyreport"])
def test_render_modules_defer_papermill_and_nbconvert(module: str) -> None:
    """A render imports papermill/nbconvert only after its kernel is started (they load while it warms up)."""
    code = f"import sys, {module}; print([m for m in ('papermill', 'nbconvert', 'altair') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_the_check_catches_a_heavy_import() -> None:
    """Control: the same harness does see altair when the command imports it."""
    code = _RUN.replace("from testkey_nb.cli import main\n", "import altair\nfrom testkey_nb.cli import main\n")
    proc = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True, timeout=120)
    assert '"altair"' in proc.stderr and '"jsonschema"' in proc.stderr
