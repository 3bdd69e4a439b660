"""The fleet index at 1,000 keys in headless Chromium: page bytes, load, and how long a filter and a sort
take to answer (median of 5 each, measured in the page with performance.now() around the change event /
the header click, through the layout that follows); prints JSON.

Rows: the ``index.json`` of a batch (``--rows FILE``, cycled to ``--keys`` with unique labels), else the
browser test's synthetic rows.

    .venv/bin/python benchmarks/index_bench.py [--keys 1000] [--rows reports/index.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "batch"), str(ROOT / "tests" / "report")]

from report_browser_util import open_report  # noqa: E402

from testkey_nb.batch.fleet import write_index  # noqa: E402

_FILTER = """(value) => { const s = document.getElementById('tk-filter-verdict'); const t0 = performance.now();
s.value = value; s.dispatchEvent(new Event('change')); document.body.offsetHeight; return performance.now() - t0; }"""
_SORT = """(col) => { const b = document.querySelector(`#tk-fleet th[data-col="${col}"] button`);
const t0 = performance.now(); b.click(); document.body.offsetHeight; return performance.now() - t0; }"""


def _rows(keys: int, source: Path | None) -> list[dict[str, Any]]:
    if source is None:
        from test_batch_index_browser import _synthetic_rows

        return _synthetic_rows(keys)
    rows = json.loads(source.read_text(encoding="utf-8"))
    out = []
    for i in range(keys):
        row = dict(rows[i % len(rows)])
        row["label"] = f"{row['label']}-{i:04d}"
        row["report"] = f"{row['label']}.html" if row.get("report") else None
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--rows", type=Path, default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="testkey-nb-index-bench-"))
    index, _ = write_index(folder, _rows(args.keys, args.rows))
    with open_report(index, width=800, height=900) as (page, _log):
        load = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
        filters = [page.evaluate(_FILTER, v) for v in ("reject", "", "ready", "", "needs_work")]
        sorts = [page.evaluate(_SORT, c) for c in ("key", "balance", "status", "key", "balance")]
    print(json.dumps({
        "keys": args.keys, "rows_from": str(args.rows or "synthetic"), "index_html_bytes": index.stat().st_size,
        "load_ms": round(load), "filter_ms_median": round(statistics.median(filters), 1),
        "filter_ms_max": round(max(filters), 1), "sort_ms_median": round(statistics.median(sorts), 1),
        "sort_ms_max": round(max(sorts), 1),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
