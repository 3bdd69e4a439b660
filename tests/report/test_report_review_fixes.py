"""Regressions found in review: escaped text is not CSS, a render never outlives the retention window."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from testkey_nb.report import OfflineViolation, RenderError, RenderRequest, check_offline, render_notebook
from testkey_nb.report.views import esc


def test_escaped_text_that_looks_like_css_is_not_a_remote_load() -> None:
    check_offline("<html><body><td>" + esc('model @import-v2 url(//cdn.example/x) "@import"') + "</td></body></html>")
    for page in ('<style>@import "x.css";</style>', '<div style="background:url(//evil.example/x.png)">x</div>'):
        with pytest.raises(OfflineViolation):
            check_offline(page)


def test_a_render_never_outlives_the_retention_window(
    make_request: Callable[..., RenderRequest], tmp_path: Path
) -> None:
    request = make_request("sleeps", tmp_path / "out.html", parameters={"key_env": "TESTKEY_NB_KEY", "sleep_s": 30.0})
    with pytest.raises(RenderError, match="retention window"):
        render_notebook(request, raw_root=tmp_path / "raw", retention_s=3)
    assert not (tmp_path / "out.html").exists()
    assert not [p for p in (tmp_path / "raw").iterdir() if p.name.startswith("run-")]


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_retention_must_be_positive(value: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "testkey_nb", "--retention", value, "probe", "env:HOME"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2 and "--retention" in proc.stderr


def test_single_key_label_cannot_take_the_index() -> None:
    args = ["render", "env:HOME", "--label", "index", "--base-url", "http://127.0.0.1:9/v1"]
    proc = subprocess.run([sys.executable, "-m", "testkey_nb", *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "reserved" in proc.stderr
