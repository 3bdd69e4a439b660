"""render_notebook end to end: real kernels, real papermill, real export."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from report_helpers import FIXTURES, KEY_ENV, RenderedReport, files_containing, ipython_dir

from testkey_nb.report import RenderError, RenderRequest, render_notebook
from testkey_nb.report.export import BUNDLE_MARKER

pytestmark = pytest.mark.slow

MakeRequest = Callable[..., RenderRequest]


def _raw_leftovers(raw_root: Path) -> list[Path]:
    return list(raw_root.iterdir()) if raw_root.exists() else []


# --- success ---------------------------------------------------------------------------------------


def test_report_written_offline_and_private(charts_report: RenderedReport, canary: str) -> None:
    result, page = charts_report.result, charts_report.html
    assert result.out_html.is_file() and result.bytes == result.out_html.stat().st_size > 0
    assert result.bytes <= 400_000  # the compressed Vega runtime and the pruned CSS
    assert result.label == "fixture-charts" and result.seconds > 0
    assert stat.S_IMODE(result.out_html.stat().st_mode) == 0o644
    assert [p.name for p in result.out_html.parent.iterdir()] == ["charts.html"]  # no temp file left
    assert canary not in page and canary[-12:] not in page
    assert re.search(r"https?://", page) is None
    assert re.search(r"<script[^>]*\bsrc\s*=", page, re.IGNORECASE) is None
    assert page.count(BUNDLE_MARKER) == 1 and page.count("window.tkVegaEmbed=") == 1
    assert page.count('class="tk-chart"') == 2
    assert f"key length: {len(canary)}" in page  # the notebook used the key...
    assert "os.environ" not in page and "import altair" not in page  # ...and its code is hidden
    assert KEY_ENV not in page  # parameters cell hidden too


def test_hostile_strings_escaped(charts_report: RenderedReport) -> None:
    page = charts_report.html
    assert "<script>window.__pwned" not in page and "<img src=x" not in page
    assert "&lt;script&gt;window.__pwned=1" in page  # table cell and markdown as text
    assert "\\u003cscript\\u003ewindow.__pwned=1" in page  # chart data as JSON escapes


def test_raw_folder_gone_after_success(charts_report: RenderedReport) -> None:
    assert charts_report.raw_root.is_dir() and _raw_leftovers(charts_report.raw_root) == []


def _history_hits(root: Path, canary: str) -> list[str]:
    """Where the canary is in IPython's history under ``root``: any file, and the history table's rows."""
    hits = [str(p) for p in files_containing(root, canary)]
    history = root / "profile_default" / "history.sqlite"
    if history.exists():
        with sqlite3.connect(f"file:{history}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT source_raw FROM history WHERE source_raw LIKE ?", (f"%{canary}%",))
            hits += [f"history row: {row[0][:20]}" for row in rows.fetchall()]
    return hits


def _planting_cell() -> str:
    """The fixture's cell that runs a cell holding the key (``store_history=True``)."""
    nb = json.loads((FIXTURES / "report_charts.ipynb").read_text(encoding="utf-8"))
    return next("".join(c["source"]) for c in nb["cells"] if "plants-history" in c["metadata"].get("tags", []))


def test_ipython_history_holds_no_secret(charts_report: RenderedReport, canary: str) -> None:
    """The rendered notebook ran a cell whose source holds the key: the history must still not have it."""
    assert charts_report.history_hits_before == []
    assert _history_hits(ipython_dir(), canary) == []


def test_history_check_would_catch_a_kernel_with_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, canary: str
) -> None:
    """Control: the fixture's planting cell, in a kernel started WITHOUT hist_file=:memory:, lands in
    history.sqlite where the check above looks: so that check can fail."""
    from jupyter_client.manager import start_new_kernel

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    km, kc = start_new_kernel(kernel_name="python3", env={**_min_env(tmp_path), KEY_ENV: canary})
    try:
        kc.execute_interactive(f"import os; secret = os.environ[{KEY_ENV!r}]", timeout=30)
        kc.execute_interactive(_planting_cell(), timeout=30)
    finally:
        kc.stop_channels()
        km.shutdown_kernel()
    hits = _history_hits(tmp_path / "ipython", canary)
    assert any(h.startswith("history row: _planted = ") for h in hits), hits


def _min_env(tmp_path: Path) -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")} | {
        "IPYTHONDIR": str(tmp_path / "ipython")
    }


# --- failures --------------------------------------------------------------------------------------


def test_failing_cell_is_redacted_everywhere(
    tmp_path: Path,
    make_request: MakeRequest,
    canary: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "out" / "fails.html"
    with pytest.raises(RenderError) as info:
        render_notebook(make_request("fails", out), raw_root=tmp_path / "raw")
    err = info.value
    assert err.label == "fixture-fails"
    assert "ValueError: provider rejected key [redacted] (status 401)" in err.reason
    assert canary not in str(err) and canary not in repr(err) and "\n" not in err.reason
    assert err.__cause__ is None and err.__context__ is None
    assert not out.exists() and _raw_leftovers(tmp_path / "raw") == []
    captured = capfd.readouterr()
    assert canary not in captured.out and canary not in captured.err
    assert canary not in caplog.text
    assert any("content:" in r.getMessage() for r in caplog.records)  # nbclient's DEBUG traffic was seen
    assert "render failed: fixture-fails: cell" in caplog.text


def test_report_that_would_show_the_secret_is_refused(tmp_path: Path, make_request: MakeRequest, canary: str) -> None:
    out = tmp_path / "leaks.html"
    with pytest.raises(RenderError, match="would contain a secret value") as info:
        render_notebook(make_request("leaks", out), raw_root=tmp_path / "raw")
    assert canary not in str(info.value)
    assert not out.exists() and _raw_leftovers(tmp_path / "raw") == []


def test_cell_timeout(tmp_path: Path, make_request: MakeRequest) -> None:
    req = make_request(
        "sleeps", tmp_path / "t.html", parameters={"key_env": KEY_ENV, "sleep_s": 30.0}, cell_timeout_s=1
    )
    with pytest.raises(RenderError, match=r"a cell ran longer than cell_timeout_s=1s"):
        render_notebook(req, raw_root=tmp_path / "raw")
    assert _raw_leftovers(tmp_path / "raw") == []


def test_overall_timeout_kills_the_kernel(tmp_path: Path, make_request: MakeRequest) -> None:
    req = make_request("sleeps", tmp_path / "t.html", parameters={"key_env": KEY_ENV, "sleep_s": 30.0}, timeout_s=2.5)
    with pytest.raises(RenderError, match=r"render exceeded timeout_s=2.5s; the kernel was stopped"):
        render_notebook(req, raw_root=tmp_path / "raw")
    assert _raw_leftovers(tmp_path / "raw") == []


def test_dead_kernel(tmp_path: Path, make_request: MakeRequest) -> None:
    with pytest.raises(RenderError, match=r"^fixture-dies: the kernel died"):
        render_notebook(make_request("dies", tmp_path / "d.html"), raw_root=tmp_path / "raw")
    assert _raw_leftovers(tmp_path / "raw") == []


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"key_env": "sk-tkcanary-"}, "holds a secret value"),  # completed with the canary below
        ({"key_env": KEY_ENV, "frame": [1, 2]}, "is not data"),
        ({"not an identifier": 1}, "must be Python identifiers"),
    ],
)
def test_parameters_are_data_only(
    tmp_path: Path, make_request: MakeRequest, canary: str, parameters: dict[str, object], message: str
) -> None:
    if parameters.get("key_env") == "sk-tkcanary-":
        parameters = {"key_env": f"url?key={canary}"}
    with pytest.raises(RenderError, match=message) as info:
        render_notebook(make_request("charts", tmp_path / "x.html", parameters=parameters), raw_root=tmp_path)
    assert canary not in str(info.value)
    assert list(tmp_path.iterdir()) == []  # refused before any raw folder


def test_missing_notebook(tmp_path: Path, make_request: MakeRequest) -> None:
    req = make_request("charts", tmp_path / "x.html", notebook=tmp_path / "missing.ipynb")
    with pytest.raises(RenderError, match="notebook not found"):
        render_notebook(req, raw_root=tmp_path / "raw")


# --- parallel --------------------------------------------------------------------------------------


def test_two_renders_in_two_threads(tmp_path: Path, make_request: MakeRequest, canary: str) -> None:
    raw_root = tmp_path / "raw"
    results: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            results[name] = render_notebook(
                make_request("charts", tmp_path / f"{name}.html", label=name), raw_root=raw_root
            )
        except BaseException as exc:  # reported below
            results[name] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in ("alpha", "beta")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    for name in ("alpha", "beta"):
        result = results[name]
        assert not isinstance(result, BaseException), result
        page = (tmp_path / f"{name}.html").read_text(encoding="utf-8")
        assert f"<title>{name}</title>" in page and page.count('class="tk-chart"') == 2
        assert canary not in page
    assert _raw_leftovers(raw_root) == []
