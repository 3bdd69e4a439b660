"""The fleet index: one row per key over a batch of reports, as ``index.json`` and ``index.html``.

``index.html`` is self-contained and offline like the reports: the vega bundle inlined once, a
Content-Security-Policy that allows no network at all, every string escaped (and no ``http(s)://``
text anywhere in the page source), a table that sorts on a click (a few lines of inline JavaScript),
each label linking to its report by relative path, and the fleet chart: keys x ten capabilities.

A row is built from a report's summary (:meth:`testkey_nb.check.run.KeyCheck.summary`) or from the
redacted reason its render failed; it never holds a key or raw probe records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from testkey_nb._files import write_atomic
from testkey_nb.check.profile import CAPABILITIES
from testkey_nb.report._embed import CHART_INIT_JS, chart_html, chart_spec, script_sha256, vega_bundle_js
from testkey_nb.report.views import CSS, esc

__all__ = [
    "FAILED",
    "INDEX_HTML",
    "INDEX_JSON",
    "NOT_RENDERED",
    "ROW_FIELDS",
    "SORT_JS",
    "index_html",
    "index_row",
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
    "capabilities",
    "probe_requests",
    "tokens_limit",
    "tokens_limit_day",
    "identity",
    "balance",
    "limits",
    "report",
    "error",
    "seconds",
    "rendered_at",
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
    "tokens_limit",
    "tokens_limit_day",
    "identity",
    "balance",
    "limits",
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

_STYLE: Final = """
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#212121}
h1{font-size:22px;margin:0 0 4px 0}
.tk-fleet th button{all:unset;cursor:pointer}
.tk-fleet th[aria-sort=ascending] button::after{content:" \\25B2"}
.tk-fleet th[aria-sort=descending] button::after{content:" \\25BC"}
.tk-fleet tr.tk-row-failed td{background:#fdecea}
.tk-status-failed{color:#c62828;font-weight:600}
.tk-action{display:inline-block;border:1px solid #bdbdbd;border-radius:8px;padding:0 6px;margin:1px;font-size:12px}
.tk-chart{min-height:2em;margin:0.5em 0}
.tk-chart .vega-embed{max-width:100%}
.tk-num{text-align:right !important}
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
    if summary is not None and error is None:
        for name in _FROM_SUMMARY:
            row[name] = summary.get(name)
        row["claimed"] = summary.get("claimed") or claim or None
        row["actions"] = [_action(a) for a in summary.get("actions") or []]
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
    return str(value), f"{value:,}"


def _balance(value: Any) -> tuple[str, str]:
    """A balance cell: what is left (sortable) and its currency, or why there is none."""
    if not isinstance(value, Mapping) or not isinstance(value.get("remaining"), (int, float)):
        return "", '<span class="tk-muted">none</span>'
    remaining = float(value["remaining"])
    return str(remaining), _t(f"{remaining:,.2f} {value.get('currency') or ''}".strip())


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


def _csp(scripts: Sequence[str]) -> str:
    hashes = " ".join(script_sha256(s) for s in scripts)
    return (
        f"default-src 'none'; script-src {hashes} 'unsafe-eval'; style-src 'unsafe-inline'; "
        "img-src data: blob:; font-src data:; connect-src 'none'; media-src 'none'; object-src 'none'; "
        "frame-src 'none'; worker-src 'none'; base-uri 'none'; form-action 'none'"
    )


def _row_html(row: Mapping[str, Any]) -> str:
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
        (*_balance(row.get("balance")), "tk-num"),
        (" ".join(str(a.get("action")) for a in row.get("actions") or []), actions, ""),
        (str(reason or ""), _t(reason or ""), ""),
    ]
    tds = "".join(
        f'<td data-v="{_t(value)}"{f" class={cls!r}" if cls else ""}>{content}</td>' for value, content, cls in cells
    )
    return f'<tr class="{"tk-row-failed" if failed else "tk-row-ok"}">{tds}</tr>'


_HEADERS: Final = (
    ("key", "text"),
    ("claimed", "text"),
    ("real provider", "text"),
    ("status", "text"),
    ("verdict", "text"),
    ("allowed models", "num"),
    ("priced models", "num"),
    ("tokens / min", "num"),
    ("balance", "num"),
    ("actions", "text"),
    ("reason", "text"),
)


def index_html(rows: Sequence[Mapping[str, Any]], *, title: str = "testkey-nb fleet index") -> str:
    """The index page for ``rows`` (see :func:`index_row`)."""
    from testkey_nb.report import charts
    from testkey_nb.report.export import check_offline

    counts: dict[str, int] = {}
    for row in rows:
        bucket = FAILED if row.get("error") is not None else str(row.get("verdict") or "unknown")
        counts[bucket] = counts.get(bucket, 0) + 1
    summary = ", ".join(f"{n} {_t(k.replace('_', ' '))}" for k, n in sorted(counts.items()))
    head = "".join(
        f'<th data-type="{kind}" scope="col"><button type="button">{_t(name)}</button></th>' for name, kind in _HEADERS
    )
    body = "".join(_row_html(row) for row in rows)
    chart = ""
    if rows:
        spec = chart_spec(charts.fleet_capability_matrix(_chart_frame(rows)))
        chart = chart_html(spec, "tk-fleet-capabilities")
    bundle = vega_bundle_js() if chart else ""
    scripts = [SORT_JS] + ([bundle, CHART_INIT_JS] if chart else [])
    placeholder = "<!--tk-bundle-->"
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_csp(scripts)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_t(title)}</title>{CSS}{_STYLE}{placeholder}</head><body>"
        f"<h1>{_t(title)}</h1>"
        f'<p class="tk-muted">{len(rows)} key(s): {summary or "none"}. Click a column header to sort; '
        "click a key to open its report.</p>"
        f'<table class="tk-table tk-fleet" id="tk-fleet"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        f"<h2>Keys x ten capabilities</h2>{chart}"
        f"<script>{SORT_JS}</script></body></html>\n"
    )
    check_offline(page)
    if re.search(r"https?://", page, re.IGNORECASE):  # pragma: no cover - every text goes through _t
        raise ValueError("the fleet index would contain a URL")
    return page.replace(placeholder, f"<script>{bundle}</script>" if bundle else "")


def write_index(out_dir: Path, rows: Sequence[Mapping[str, Any]]) -> tuple[Path, Path]:
    """Write ``out_dir/index.html`` and ``out_dir/index.json`` (a list of rows); return both paths."""
    out_dir = Path(out_dir)
    clean = [{name: row.get(name) for name in ROW_FIELDS} for row in rows]
    json_path = out_dir / INDEX_JSON
    html_path = out_dir / INDEX_HTML
    write_atomic(json_path, (json.dumps(clean, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8"))
    write_atomic(html_path, index_html(clean).encode("utf-8"))
    return html_path, json_path
