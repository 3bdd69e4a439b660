"""``notebooks/fleet_history.ipynb`` -> one offline HTML page of the fleet over time."""

from __future__ import annotations

import time
from pathlib import Path

from testkey_nb._files import NOTEBOOKS_DIR
from testkey_nb.report import RenderError, RenderRequest, render_notebook
from testkey_nb.report.keyreport import KeyReportResult, report_filename

__all__ = ["FLEET_HISTORY_LABEL", "render_fleet_history"]

FLEET_HISTORY_LABEL = "fleet-history"


def render_fleet_history(
    history_path: Path, out_dir: Path, *, raw_root: Path | None = None, retention_s: float = 300
) -> KeyReportResult:
    """Render the fleet-history notebook for the database at ``history_path`` into ``out_dir``.

    The kernel only reads the database (read-only); no key is involved.
    """
    started = time.perf_counter()
    label = FLEET_HISTORY_LABEL
    if not Path(history_path).is_file():
        return KeyReportResult(label, None, None, f"no history at {history_path}", 0.0)
    request = RenderRequest(
        notebook=NOTEBOOKS_DIR / "fleet_history.ipynb",
        out_html=Path(out_dir) / report_filename(label),
        parameters={"history_path": str(Path(history_path).resolve())},
        kernel_env={},
        redact=[],
        label=label,
    )
    try:
        result = render_notebook(request, raw_root=raw_root, retention_s=retention_s)
    except RenderError as exc:
        return KeyReportResult(label, None, None, exc.reason, time.perf_counter() - started)
    return KeyReportResult(label, result.out_html, None, None, time.perf_counter() - started)
