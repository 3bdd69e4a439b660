"""The fleet index's page: ``index.html`` (and, beside it, ``index.json``) for the rows of `rows.py`.

``index.html`` is self-contained and offline like the reports: the vega bundle inlined once, a
Content-Security-Policy that allows no network at all, every string escaped (and no ``http(s)://``
text anywhere in the page source), a table that sorts on a click (a few lines of inline JavaScript),
each label linking to its report by relative path, and the fleet chart: keys x ten capabilities.

The page's style and its three scripts are package data in ``static/`` (``index.css``, ``sort.js``,
``filter.js``, ``csv.js``), read once at import.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from testkey_nb._files import write_atomic
from testkey_nb._format import count
from testkey_nb.batch.fleet.rows import (
    FAILED,
    INDEX_HTML,
    INDEX_JSON,
    ROW_FIELDS,
    balance_text,
    balances_text,
    index_csv,
    limits_text,
)
from testkey_nb.check.profile import CAPABILITIES
from testkey_nb.history.diff import change_text
from testkey_nb.report._embed import CHART_INIT_JS, chart_html, chart_spec, script_sha256, vega_bundle_js
from testkey_nb.report.views import CSS, esc


def _static(name: str) -> str:
    """A file of ``static/`` without its final newline (the scripts' CSP hashes are of this text)."""
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8").removesuffix("\n")


# Click a header to sort by that column (again to reverse). Numbers sort numerically, blanks last.
SORT_JS: Final = _static("sort.js")
# Choose a provider, status or verdict to show only the matching rows (a row's data-f-* attributes);
# the count above the table follows. Every <select> in #tk-filters names the attribute it filters.
FILTER_JS: Final = _static("filter.js")
#: The index's CSV travels gzip-compressed in base64 (a 50-key CSV would otherwise be about 200 KB of
#: the page); on load this script inflates it and makes the link a plain ``data:text/csv`` download.
CSV_DATA_TYPE: Final = "application/x-tk-csv+gzip+base64"
CSV_JS: Final = _static("csv.js")
_STYLE: Final = "\n<style>\n" + _static("index.css") + "\n</style>\n"


def csv_payload(rows: Sequence[Mapping[str, Any]]) -> str:
    """:func:`index_csv` gzip-compressed in base64: what the page embeds for its CSV link."""
    return base64.b64encode(gzip.compress(index_csv(rows).encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")



# --- HTML ------------------------------------------------------------------------------------------------


def _t(value: Any) -> str:
    """Escaped text; ``://`` written as ``:&#47;&#47;`` so the page source holds no URL (it reads the same)."""
    return esc(value).replace("://", ":&#47;&#47;")


def _num(value: Any) -> tuple[str, str]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "", "unknown"
    return str(value), count(value)


def _chart_frame(rows: Sequence[Mapping[str, Any]]) -> Any:
    import polars as pl

    records: list[dict[str, str]] = []
    for row in rows:
        caps = {c["capability"]: c for c in row.get("capabilities") or []}
        failed = row.get("error") is not None
        for name in CAPABILITIES:
            cap = caps.get(name)
            if cap is not None:
                status, evidence = cap.get("status") or "unknown", cap.get("evidence")
            elif failed:
                status, evidence = ("error" if row.get("status") == FAILED else "unknown"), row.get("error")
            else:
                status, evidence = "unknown", "not in this report"
            records.append(
                {"label": str(row["label"]), "capability": name, "status": str(status), "evidence": str(evidence or "")}
            )
    schema = {"label": pl.Utf8, "capability": pl.Utf8, "status": pl.Utf8, "evidence": pl.Utf8}
    return pl.DataFrame(records, schema=schema)


def _verdict_bucket(row: Mapping[str, Any]) -> str:
    return FAILED if row.get("error") is not None else str(row.get("verdict") or "unknown")


def _verdict_frame(rows: Sequence[Mapping[str, Any]]) -> Any:
    """Keys per (provider, verdict) for the chart on top; a failed key counts under ``failed``."""
    import polars as pl

    records = [{"provider": str(r.get("provider") or "unknown"), "verdict": _verdict_bucket(r)} for r in rows]
    frame = pl.DataFrame(records, schema={"provider": pl.Utf8, "verdict": pl.Utf8})
    return frame.group_by("provider", "verdict").agg(pl.len().cast(pl.Int64).alias("keys")).sort("provider", "verdict")


def _csp(scripts: Sequence[str]) -> str:
    hashes = " ".join(script_sha256(s) for s in scripts)
    return (
        f"default-src 'none'; script-src {hashes} 'unsafe-eval'; style-src 'unsafe-inline'; "
        "img-src data: blob:; font-src data:; connect-src 'none'; media-src 'none'; object-src 'none'; "
        "frame-src 'none'; worker-src 'none'; base-uri 'none'; form-action 'none'"
    )


_FILTERS: Final = (("provider", "provider"), ("status", "status"), ("verdict", "verdict"))


def _filter_values(row: Mapping[str, Any]) -> dict[str, str]:
    return {
        "provider": str(row.get("provider") or "unknown"),
        "status": str(row.get("status") or "unknown"),
        "verdict": _verdict_bucket(row),
    }


def _row_html(row: Mapping[str, Any], *, with_balance: bool, with_limits: bool) -> str:
    failed = row.get("error") is not None
    label = str(row["label"])
    if row.get("report") and not failed:
        label_cell = f'<a href="{_t(quote(str(row["report"])))}">{_t(label)}</a>'
    else:
        label_cell = _t(label)
    provider = row.get("provider")
    mismatch = row.get("matches_claim") is False
    provider_cell = _t(provider if provider else "unknown") + (
        ' <span class="tk-status-failed" title="the evidence does not match the claim">&#8800; claim</span>'
        if mismatch
        else ""
    )
    status = str(row.get("status") or "unknown")
    status_cell = f'<span class="tk-status-failed">{_t(status)}</span>' if failed else _t(status)
    verdict = row.get("verdict")
    if verdict:
        verdict_cell = f'<span class="tk-badge tk-{_t(re.sub(r"[^a-z_]", "", str(verdict)))}">{_t(verdict)}</span>'
    else:
        verdict_cell = '<span class="tk-muted">none</span>'
    actions = "".join(
        f'<span class="tk-action" title="{_t(a.get("reason") or "")}">{_t(a.get("action"))}</span>'
        for a in row.get("actions") or []
    )
    reason = row.get("error") if failed else row.get("verdict_summary")
    cells = [
        (str(row["label"]), label_cell, ""),
        (str(row.get("claimed") or ""), _t(row.get("claimed") or "none"), ""),
        (str(provider or ""), provider_cell, ""),
        (status, status_cell, ""),
        (str(verdict or ""), verdict_cell, ""),
        (*_num(row.get("allowed_models")), "tk-num"),
        (*_num(row.get("priced_models")), "tk-num"),
        (*_num(row.get("tokens_per_minute")), "tk-num"),
    ]
    if with_balance:
        bal = row.get("balance") if isinstance(row.get("balance"), Mapping) else {}
        remaining = bal.get("remaining") if bal else None
        text = balances_text(row)
        cells.append((str(remaining) if isinstance(remaining, (int, float)) else "", _t(text or "unknown"), "tk-num"))
    if with_limits:
        text = limits_text(row.get("limits"))
        cells.append((text, _t(text or "unknown"), ""))
    cells += [
        (" ".join(str(a.get("action")) for a in row.get("actions") or []), actions, ""),
        _changes_cell(row),
        (str(reason or ""), _t(reason or ""), ""),
    ]
    tds = "".join(
        f'<td data-v="{_t(value)}"{f" class={cls!r}" if cls else ""}>{content}</td>' for value, content, cls in cells
    )
    data = "".join(f' data-f-{name}="{_t(value)}"' for name, value in _filter_values(row).items())
    classes = ("tk-row-failed" if failed else "tk-row-ok") + (" tk-row-changed" if row.get("changes") else "")
    return f'<tr class="{classes}"{data}>{tds}</tr>'


def _headers(with_balance: bool, with_limits: bool) -> list[tuple[str, str]]:
    headers = [
        ("key", "text"),
        ("claimed", "text"),
        ("real provider", "text"),
        ("status", "text"),
        ("verdict", "text"),
        ("allowed models", "num"),
        ("priced models", "num"),
        ("tokens / min", "num"),
    ]
    if with_balance:
        headers.append(("balance", "num"))  # each currency as it is: never headed as one
    if with_limits:
        headers.append(("limits", "text"))
    return [*headers, ("actions", "text"), ("since the last check", "text"), ("reason", "text")]


def _filters_html(rows: Sequence[Mapping[str, Any]]) -> str:
    selects = []
    for name, title in _FILTERS:
        values = sorted({_filter_values(r)[name] for r in rows}, key=str.lower)
        options = '<option value="">all</option>' + "".join(
            f'<option value="{_t(v)}">{_t(v.replace("_", " "))}</option>' for v in values
        )
        selects.append(f'<label>{_t(title)} <select name="{name}" id="tk-filter-{name}">{options}</select></label>')
    shown = f'<span id="tk-shown" class="tk-muted">{len(rows)} of {len(rows)} shown</span>'
    return f'<div class="tk-filters" id="tk-filters" role="search">{"".join(selects)}{shown}</div>'


def _changes_cell(row: Mapping[str, Any]) -> tuple[str, str, str]:
    """The history column: what changed since the key's previous check, its alerts and its runway."""
    changes = [c for c in row.get("changes") or [] if isinstance(c, Mapping)]
    alerts = [a for a in row.get("alerts") or [] if isinstance(a, Mapping)]
    runway = row.get("runway") if isinstance(row.get("runway"), Mapping) else None
    parts: list[str] = []
    if alerts:
        parts.append("".join(f'<span class="tk-alert">{_t(a.get("message"))}</span>' for a in alerts))
    if changes:
        items = "".join(f"<li>{_t(change_text(c))}</li>" for c in changes)
        parts.append(f'<span class="tk-changed">{len(changes)} change(s)</span><ul class="tk-changes">{items}</ul>')
    if runway and runway.get("runway_days") is not None:
        days, burn = float(runway["runway_days"]), float(runway.get("burn_per_day") or 0)
        currency = runway.get("currency") or "USD"
        window = runway.get("window") if isinstance(runway.get("window"), Mapping) else {}
        over = f" over {float(window['days']):,.1f} days" if isinstance(window.get("days"), (int, float)) else ""
        when = str(runway.get("exhausted_at") or "")[:10]
        head = (f"credits used up{' on ' + when if when else ''}" if days <= 0 else f"runway {days:,.1f} days")
        text = f"{head} (burn {burn:,.2f} {currency}/day{over}, derived)"
        parts.append(f'<span class="tk-muted">{_t(text)}</span>')
    value = " ".join(change_text(c) for c in changes)
    return value, "".join(parts), ""



def index_html(rows: Sequence[Mapping[str, Any]], *, title: str = "testkey-nb fleet index") -> str:
    """The index page for ``rows`` (see :func:`index_row`)."""
    from testkey_nb.report import charts
    from testkey_nb.report.export import check_offline

    counts: dict[str, int] = {}
    for row in rows:
        bucket = _verdict_bucket(row)
        counts[bucket] = counts.get(bucket, 0) + 1
    summary = ", ".join(f"{n} {_t(k.replace('_', ' '))}" for k, n in sorted(counts.items()))
    # a column when some money was read, or the user said how an account pays
    with_balance = any(balance_text(r.get("balance")) or r.get("payment_method") for r in rows)
    with_limits = any(limits_text(r.get("limits")) for r in rows)
    head = "".join(
        f'<th data-type="{kind}" scope="col"><button type="button">{_t(name)}</button></th>'
        for name, kind in _headers(with_balance, with_limits)
    )
    body = "".join(_row_html(row, with_balance=with_balance, with_limits=with_limits) for row in rows)
    chart = verdicts = ""
    if rows:
        verdicts = chart_html(chart_spec(charts.fleet_verdict_chart(_verdict_frame(rows))), "tk-fleet-verdicts")
        spec = chart_spec(charts.fleet_capability_matrix(_chart_frame(rows)))
        chart = chart_html(spec, "tk-fleet-capabilities")
    bundle = vega_bundle_js() if chart else ""
    scripts = [SORT_JS, FILTER_JS, CSV_JS] + ([bundle, CHART_INIT_JS] if chart else [])
    placeholder = "<!--tk-bundle-->"
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_csp(scripts)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_t(title)}</title>{CSS}{_STYLE}{placeholder}</head><body>"
        f"<h1>{_t(title)}</h1>"
        f'<p class="tk-muted">{len(rows)} key(s): {summary or "none"}. Choose a provider, status or verdict to '
        "filter; click a column header to sort; click a key to open its report. "
        '<a id="tk-csv" download="index.csv" aria-disabled="true">Download the table (CSV)</a>.</p>'
        f'<script type="{CSV_DATA_TYPE}" id="tk-csv-data">{csv_payload(rows)}</script>'
        f"{verdicts}{_filters_html(rows)}"
        f'<table class="tk-table tk-fleet" id="tk-fleet"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        f"<h2>Keys x ten capabilities</h2>{chart}"
        f"<script>{SORT_JS}</script><script>{FILTER_JS}</script><script>{CSV_JS}</script></body></html>\n"
    )
    check_offline(page)
    if re.search(r"https?://", page, re.IGNORECASE):  # pragma: no cover - every text goes through _t
        raise ValueError("the fleet index would contain a URL")
    return page.replace(placeholder, f"<script>{bundle}</script>" if bundle else "")


def write_index(out_dir: Path, rows: Sequence[Mapping[str, Any]]) -> tuple[Path, Path]:
    """Write ``out_dir/index.html`` and ``out_dir/index.json`` (a list of rows); return both paths."""
    out_dir = Path(out_dir)
    clean = [{name: row.get(name) for name in ROW_FIELDS} for row in rows]
    for row in clean:  # a row from before the history (an older sidecar) still says "no change"
        row["changes"] = row["changes"] or []
        row["alerts"] = row["alerts"] or []
    json_path = out_dir / INDEX_JSON
    html_path = out_dir / INDEX_HTML
    write_atomic(json_path, (json.dumps(clean, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8"))
    write_atomic(html_path, index_html(clean).encode("utf-8"))
    return html_path, json_path
