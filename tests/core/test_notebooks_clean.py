"""Committed notebooks carry no outputs (outputs can carry secrets) and take only data parameters."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def committed_notebooks() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True, check=True)
        paths = [ROOT / line for line in out.stdout.splitlines() if line]
    except (OSError, subprocess.CalledProcessError):
        paths = []
    return paths or sorted((ROOT / "testkey_nb" / "notebooks").glob("*.ipynb"))


NOTEBOOKS = committed_notebooks()


def test_there_are_notebooks() -> None:
    names = {p.name for p in NOTEBOOKS}
    assert {"key_report.ipynb", "billing_lifecycle.ipynb", "fleet_history.ipynb"} <= names


def test_the_notebooks_are_inside_the_package() -> None:
    """The wheel ships them (importlib.resources finds them): none is left outside ``testkey_nb/``."""
    from testkey_nb._files import NOTEBOOKS_DIR

    report_notebooks = [p for p in NOTEBOOKS if p.parent.name == "notebooks"]
    assert report_notebooks and all(p.parent == ROOT / "testkey_nb" / "notebooks" for p in report_notebooks)
    assert NOTEBOOKS_DIR == ROOT / "testkey_nb" / "notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_has_no_outputs(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name} cell {i} has outputs: clear them before committing"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"
    assert "papermill" not in nb.get("metadata", {}), f"{path.name} holds papermill metadata (parameters)"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.parent.name == "notebooks"], ids=lambda p: p.name)
def test_parameters_are_data_only(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    tree = ast.parse("".join(tagged[0]["source"]))
    for node in tree.body:
        assert isinstance(node, ast.Assign), f"{path.name}: the parameters cell holds only assignments"
        assert isinstance(node.value, ast.Constant), f"{path.name}: parameter values are literals"
    source = "".join("".join(c["source"]) for c in nb["cells"])
    assert not re.search(r"b10_[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}|\bsk-[A-Za-z0-9-]{20,}", source), "a key in a notebook"
