"""The fleet index: one row per key over a batch of reports, as ``index.json`` and ``index.html``.

``index.html`` is self-contained and offline like the reports: the vega bundle inlined once, a
Content-Security-Policy that allows no network at all, every string escaped (and no ``http(s)://``
text anywhere in the page source), a table that sorts on a click (a few lines of inline JavaScript),
each label linking to its report by relative path, and the fleet chart: keys x ten capabilities.

A row is built from a report's summary (:meth:`testkey_nb.check.run.KeyCheck.summary`) or from the
redacted reason its render failed; it never holds a key or raw probe records.
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from testkey_nb._files import write_atomic
from testkey_nb._format import count, number, usd
from testkey_nb.check.profile import CAPABILITIES
from testkey_nb.history.diff import change_text
from testkey_nb.report._embed import CHART_INIT_JS, chart_html, chart_spec, script_sha256, vega_bundle_js
from testkey_nb.report.views import CSS, esc

__all__ = [
    "CSV_DATA_TYPE",
    "CSV_JS",
    "FAILED",
    "FILTER_JS",
    "INDEX_HTML",
    "INDEX_JSON",
    "NOT_RENDERED",
    "ROW_FIELDS",
    "SORT_JS",
    "balance_text",
    "csv_payload",
    "index_csv",
    "index_html",
    "index_row",
    "limits_text",
    "write_index",
]

INDEX_HTML: Final = "index.html"
INDEX_JSON: Final = "index.json"
#: ``status`` of a key whose render failed (its ``error`` says why).
FAILED: Final = "failed"
#: ``status`` of a key of the batch that has no report yet (e.g. the batch was interrupted).
NOT_RENDERED: Final = "not rendered"

#: The fields of an index row, in order (index.json objects have exactly these).
ROW_FIELDS: Final = (
    "label",
    "provider",
    "confidence",
    "claimed",
    "matches_claim",
    "key_valid",
    "status",
    "status_reason",
    "verdict",
    "verdict_summary",
    "actions",
    "allowed_models",
    "priced_models",
    "tokens_per_minute",
    "token_role",
    "balance",
    "limits",
    "identity",
    "tokens_limit",
    "tokens_limit_day",
    "capabilities",
    "probe_requests",
    "report",
    "error",
    "seconds",
    "rendered_at",
    "changes",
    "runway",
    "alerts",
)
_FROM_SUMMARY: Final = (
    "provider",
    "confidence",
    "claimed",
    "matches_claim",
    "key_valid",
    "status",
    "status_reason",
    "verdict",
    "verdict_summary",
    "allowed_models",
    "priced_models",
    "tokens_per_minute",
    "token_role",
    "probe_requests",
    "identity",
    "tokens_limit",
    "tokens_limit_day",
)

# Click a header to sort by that column (again to reverse). Numbers sort numerically, blanks last.
SORT_JS: Final = (
    "(function(){var t=document.getElementById('tk-fleet');if(!t){return;}"
    "var hs=t.tHead.rows[0].cells;"
    "function val(r,i,num){var c=r.cells[i];var v=c.getAttribute('data-v');if(v===null){v=c.textContent;}"
    "if(num){var n=parseFloat(v);return isNaN(n)?null:n;}return v.toLowerCase();}"
    "Array.prototype.forEach.call(hs,function(h,i){var b=h.querySelector('button');if(!b){return;}"
    "b.addEventListener('click',function(){var num=h.getAttribute('data-type')==='num';"
    "var dir=h.getAttribute('aria-sort')==='ascending'?-1:1;"
    "Array.prototype.forEach.call(hs,function(o){o.removeAttribute('aria-sort');});"
    "h.setAttribute('aria-sort',dir>0?'ascending':'descending');"
    "var body=t.tBodies[0];var rows=Array.prototype.slice.call(body.rows);"
    "rows.sort(function(a,c){var x=val(a,i,num),y=val(c,i,num);"
    "if(x===y){return 0;}if(x===null){return 1;}if(y===null){return -1;}return x<y?-dir:dir;});"
    "rows.forEach(function(r){body.appendChild(r);});});});})();"
)

# Choose a provider, status or verdict to show only the matching rows (a row's data-f-* attributes);
# the count above the table follows. Every <select> in #tk-filters names the attribute it filters.
FILTER_JS: Final = (
    "(function(){var f=document.getElementById('tk-filters'),t=document.getElementById('tk-fleet');"
    "if(!f||!t){return;}var ss=f.querySelectorAll('select'),n=document.getElementById('tk-shown');"
    "function apply(){var rows=t.tBodies[0].rows,shown=0;"
    "Array.prototype.forEach.call(rows,function(r){var ok=true;"
    "Array.prototype.forEach.call(ss,function(s){if(s.value!==''&&r.getAttribute('data-f-'+s.name)!==s.value)"
    "{ok=false;}});r.hidden=!ok;if(ok){shown++;}});"
    "if(n){n.textContent=shown+' of '+rows.length+' shown';}}"
    "Array.prototype.forEach.call(ss,function(s){s.addEventListener('change',apply);});apply();})();"
)

#: The index's CSV travels gzip-compressed in base64 (a 50-key CSV would otherwise be about 200 KB of
#: the page); on load this script inflates it and makes the link a plain ``data:text/csv`` download.
CSV_DATA_TYPE: Final = "application/x-tk-csv+gzip+base64"
CSV_JS: Final = (
    "(function(){var d=document.getElementById('tk-csv-data'),a=document.getElementById('tk-csv');"
    "if(!d||!a){return;}var b=atob(d.textContent),u=new Uint8Array(b.length);"
    "for(var i=0;i<b.length;i++){u[i]=b.charCodeAt(i);}"
    "new Response(new Blob([u]).stream().pipeThrough(new DecompressionStream('gzip'))).text()"
    ".then(function(text){a.href='data:text/csv;charset=utf-8,'+encodeURIComponent(text);"
    "a.removeAttribute('aria-disabled');});})();"
)


def csv_payload(rows: Sequence[Mapping[str, Any]]) -> str:
    """:func:`index_csv` gzip-compressed in base64: what the page embeds for its CSV link."""
    return base64.b64encode(gzip.compress(index_csv(rows).encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")


_STYLE: Final = """
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#212121}
h1{font-size:22px;margin:0 0 4px 0}
.tk-fleet th,.tk-fleet td{overflow-wrap:break-word}
.tk-fleet th button{all:unset;cursor:pointer}
.tk-fleet th[aria-sort=ascending] button::after{content:" \\25B2"}
.tk-fleet th[aria-sort=descending] button::after{content:" \\25BC"}
.tk-fleet tr.tk-row-failed td{background:#fdecea}
.tk-status-failed{color:#c62828;font-weight:600}
.tk-action{display:inline-block;border:1px solid #bdbdbd;border-radius:8px;padding:0 6px;margin:1px;font-size:12px}
.tk-chart{min-height:2em;margin:0.5em 0}
.tk-chart .vega-embed{max-width:100%}
.tk-num{text-align:right !important}
.tk-filters{display:flex;gap:14px;align-items:center;flex-wrap:wrap;margin:10px 0 4px 0;font-size:13px}
.tk-filters select{font:inherit;padding:2px 4px}
.tk-fleet tr[hidden]{display:none}
.tk-fleet tr.tk-row-changed td:first-child{box-shadow:inset 4px 0 0 #ef6c00}
.tk-changed{color:#ef6c00;font-weight:600}
.tk-alert{display:inline-block;background:#fdecea;color:#b71c1c;border-radius:8px;padding:0 6px;margin:1px;
font-size:12px}
.tk-changes{margin:0;padding-left:1.1em;font-size:12px}
</style>
"""


def index_row(
    label: str,
    *,
    summary: Mapping[str, Any] | None = None,
    error: str | None = None,
    report: str | None = None,
    claim: str | None = None,
    seconds: float | None = None,
    rendered_at: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """One row of the index (fields :data:`ROW_FIELDS`).

    A row with an ``error`` (or without a ``summary``) is a failed key: status ``failed`` (or the given
    ``status``, e.g. :data:`NOT_RENDERED`), no verdict, no actions, no report link.
    """
    row: dict[str, Any] = dict.fromkeys(ROW_FIELDS)
    row["label"] = label
    row["claimed"] = claim or None
    row["actions"] = []
    row["capabilities"] = []
    row["changes"] = []  # since the key's previous snapshot (the history fills them in)
    row["alerts"] = []
    if summary is not None and error is None:
        for name in _FROM_SUMMARY:
            row[name] = summary.get(name)
        row["claimed"] = summary.get("claimed") or claim or None
        row["actions"] = [_action(a) for a in summary.get("actions") or []]
        row["balance"] = _balance(summary.get("balance"))
        row["limits"] = [_limit(x) for x in summary.get("limits") or [] if isinstance(x, Mapping)] or None
        row["capabilities"] = [
            {"capability": str(c.get("capability")), "status": str(c.get("status")), "evidence": c.get("evidence")}
            for c in summary.get("capabilities") or []
            if isinstance(c, Mapping)
        ]
        row["report"] = report
    else:
        row["status"] = status or FAILED
        row["error"] = error or "no summary came back from the report"
    row["seconds"] = round(seconds, 2) if isinstance(seconds, (int, float)) else None
    row["rendered_at"] = rendered_at
    return row


_BALANCE_FIELDS: Final = ("currency", "remaining", "granted", "used", "limit", "provenance", "probe")
_LIMIT_FIELDS: Final = ("scope", "value", "provenance", "source")


def _balance(value: Any) -> dict[str, Any] | None:
    """The summary's ``balance`` object (issue 10), its known fields only; None when absent."""
    return {k: value.get(k) for k in _BALANCE_FIELDS} if isinstance(value, Mapping) else None


def _limit(value: Mapping[str, Any]) -> dict[str, Any]:
    return {k: value.get(k) for k in _LIMIT_FIELDS}


def _action(item: Any) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return {
            "action": item.get("action"),
            "reason": item.get("reason"),
            "evidence": list(item.get("evidence") or []),
        }
    return {"action": str(item), "reason": None, "evidence": []}


# --- HTML ------------------------------------------------------------------------------------------------


def _t(value: Any) -> str:
    """Escaped text; ``://`` written as ``:&#47;&#47;`` so the page source holds no URL (it reads the same)."""
    return esc(value).replace("://", ":&#47;&#47;")


def _num(value: Any) -> tuple[str, str]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "", "unknown"
    return str(value), count(value)


def balance_text(balance: Mapping[str, Any] | None) -> str:
    """``$110.00 left of $120.00`` / ``used $10.00`` / "" (unknown), by the one formatter."""
    if not isinstance(balance, Mapping):
        return ""
    cur = balance.get("currency")

    def money(v: Any) -> str:
        return usd(v) if cur in (None, "", "USD", "usd") else f"{number(v)} {cur}"

    if balance.get("remaining") is not None:
        of = balance.get("granted") if balance.get("granted") is not None else balance.get("limit")
        return f"{money(balance['remaining'])} left" + (f" of {money(of)}" if of is not None else "")
    if balance.get("used") is not None:
        return f"used {money(balance['used'])}"
    return ""


_SCOPE_UNITS: Final = {
    "requests_per_minute": "req / min",
    "tokens_per_minute": "tok / min",
    "requests_per_day": "req / day",
    "tokens_per_day": "tok / day",
}


def limits_text(limits: Sequence[Mapping[str, Any]] | None) -> str:
    """``60 req / min · 200,000 tok / min`` from the ``limits`` list (issue 10)."""
    parts = [
        f"{count(x.get('value'))} {_SCOPE_UNITS.get(str(x.get('scope')), str(x.get('scope')))}"
        for x in limits or []
        if isinstance(x, Mapping) and x.get("value") is not None
    ]
    return " · ".join(parts)


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
        text = balance_text(bal)
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
        headers.append(("balance (USD)", "num"))
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


def _csv_cell(value: Any) -> str:
    """One CSV cell: lists and objects as compact JSON; a leading = + - @ is quoted so a spreadsheet
    never runs a provider string as a formula."""
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    text = "".join(ch if ch.isprintable() or ch in "\n" else "\ufffd" for ch in text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def index_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The index as CSV: one row per key, every field of :data:`ROW_FIELDS` (fields added there appear here)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ROW_FIELDS)
    for row in rows:
        writer.writerow([_csv_cell(row.get(name)) for name in ROW_FIELDS])
    return buffer.getvalue()


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
    with_balance = any(balance_text(r.get("balance")) for r in rows)
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
