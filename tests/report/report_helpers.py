"""Helpers shared by the report tests (a uniquely named module: tests dirs have no __init__.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from testkey_nb.report import RenderResult

FIXTURES = Path(__file__).parent / "fixtures"
KEY_ENV = "TESTKEY_NB_KEY"


def ipython_dir() -> Path:
    """Where IPython keeps profile_default/history.sqlite for kernels started from here."""
    return Path(os.environ.get("IPYTHONDIR") or Path.home() / ".ipython")


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every regular file under ``root`` whose bytes contain ``needle`` (utf-8)."""
    raw = needle.encode()
    hits: list[Path] = []
    if not root.exists():
        return hits
    for path in root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink() and raw in path.read_bytes():
                hits.append(path)
        except OSError:
            continue
    return hits


@dataclass(frozen=True)
class RenderedReport:
    result: RenderResult
    html: str
    raw_root: Path
    history_hits_before: list[Path]
