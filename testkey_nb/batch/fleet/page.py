"""The fleet index's page: ``index.html`` (and, beside it, ``index.json``) for the rows of `rows.py`.

``index.html`` is self-contained and offline like the reports: a Content-Security-Policy that allows
no network at all, every string escaped (and no ``http(s)://`` text anywhere in the page source). It
reads at a glance at 1,000 keys: one line per key (verdict, provider, route, status, the one action that
matters most for its verdict, balance, limits; what changed, once a key was checked before), its
details on expand, filters and sorting in a few lines of JavaScript, each label linking to its report
by relative path, and the fleet chart drawn from counts (keys per provider and verdict) that follows
the filters. Dark mode follows ``prefers-color-scheme``; a print style prints the table.

A lens switch (``lens.js``) chooses which of the three lenses' verdict and action the table, the
filters and the chart show (default inventory fit): each row carries every lens's verdict and first
action (``data-lN``, ``data-aN``: N the lens's place in the switch; inventory fit's are the row's own
cells). Every enum a person reads goes through :func:`testkey_nb._labels.label`; the scripts get the same
words from the page (``data-labels``).

The page's style and its scripts are package data in ``static/`` (``index.css``, ``sort.js``,
``filter.js``, ``csv.js``, ``details.js``, ``lens.js``), read once at import.
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
from testkey_nb._format import moment
from testkey_nb._labels import label, labels_for, plural
from testkey_nb.batch.fleet.rows import (
    FAILED,
    INDEX_HTML,
    INDEX_JSON,
    ROW_FIELDS,
    balances_text,
    index_csv,
    limits_text,
)
from testkey_nb.check.lenses import DEFAULT_LENS, LENS_NAMES
from testkey_nb.history.diff import change_text
from testkey_nb.report._embed import script_sha256
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
# A row's details (claim, models, every action with its reason, history), drawn from the CSV on expand.
DETAILS_JS: Final = _static("details.js")
# The lens switch: which lens's verdict and action the rows, the filters and the chart show.
LENS_JS: Final = _static("lens.js")
_STYLE: Final = "\n<style>\n" + _static("index.css") + "\n</style>\n"


def csv_payload(rows: Sequence[Mapping[str, Any]]) -> str:
    """:func:`index_csv` gzip-compressed in base64: what the page embeds for its CSV link."""
    return base64.b64encode(gzip.compress(index_csv(rows).encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")



# --- HTML ------------------------------------------------------------------------------------------------


def _t(value: Any) -> str:
    """Escaped text; ``://`` written as ``:&#47;&#47;`` so the page source holds no URL (it reads the same)."""
    return esc(value).replace("://", ":&#47;&#47;")


def _verdict_bucket(row: Mapping[str, Any]) -> str:
    return FAILED if row.get("error") is not None else str(row.get("verdict") or "unknown")


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


def _cell(value: str | None, content: str, cls: str = "") -> str:
    """A cell; ``value`` (``data-v``) is what it sorts by when that is not its text (None: its text)."""
    sort = "" if value is None else f' data-v="{_t(value)}"'
    return f"<td{sort}{f' class={cls!r}' if cls else ''}>{content}</td>"


def _thousands(match: re.Match[str]) -> str:
    value = int(match.group(0).replace(",", ""))
    for size, unit in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if value >= size and value % (size // 100) == 0:  # exact to two decimals: 1.25M, 200k
            return f"{value / size:.2f}".rstrip("0").rstrip(".") + unit
    return match.group(0)


def _short(text: str) -> str:
    """A money or limit text for one line of the index: ``$120.00`` as ``$120``, ``200,000`` as ``200k``
    (only where exact); the full text is in the cell's ``data-v``, the CSV and the JSON."""
    return _t(re.sub(r"\d{1,3}(?:,\d{3})+", _thousands, re.sub(r"(\d)\.00\b", r"\1", text)))


#: The one action a row shows, by verdict, in this order of importance (the others are in its details).
#: A rejected key gets no onboarding step: human review, or nothing.
MAIN_ACTIONS: Final = {
    "ready": ("import inventory", "fill pricing", "set route", "add monitoring", "send to human review"),
    "needs_work": ("add provider config", "fill pricing", "send to human review", "set route", "import inventory",
                   "add monitoring"),
    "reject": ("send to human review",),
}


def main_action(row: Mapping[str, Any]) -> str | None:
    """The action that matters most for the row's verdict (None: nothing to do, or a failed key)."""
    if row.get("error") is not None:
        return None
    names = [str(a.get("action")) for a in row.get("actions") or [] if isinstance(a, Mapping)]
    for name in MAIN_ACTIONS.get(str(row.get("verdict")), ()):
        if name in names:
            return name
    return None


def lens_answers(row: Mapping[str, Any]) -> dict[str, tuple[str | None, str | None]]:
    """Each lens's ``(verdict, action)`` for the row: inventory fit's are the row's verdict and
    :func:`main_action`; another lens's are its verdict and its first action (its rules list them by
    importance), ``(None, None)`` where the row has no such lens (a row from before the lenses)."""
    if row.get("error") is not None:
        return {}
    lenses = row.get("lenses") if isinstance(row.get("lenses"), Mapping) else {}
    out: dict[str, tuple[str | None, str | None]] = {}
    for name in LENS_NAMES:
        lens = lenses.get(name) if isinstance(lenses, Mapping) else None
        if name == DEFAULT_LENS:
            out[name] = (str(row["verdict"]) if row.get("verdict") else None, main_action(row))
        elif isinstance(lens, Mapping):
            first = next((a for a in lens.get("actions") or [] if isinstance(a, Mapping)), None)
            out[name] = (str(lens.get("verdict") or "") or None, str(first.get("action")) if first else None)
        else:
            out[name] = (None, None)
    return out


def _badge(verdict: str | None) -> str:
    if not verdict:
        return '<span class="tk-muted">none</span>'
    return f'<span class="tk-badge tk-{_t(re.sub(r"[^a-z_]", "", verdict))}">{_t(label("verdict", verdict))}</span>'


def _row_html(row: Mapping[str, Any], columns: Sequence[str], index: int) -> str:
    """One line per key: key, verdict, provider, [route], status, the one action, balance, limits, [changes].
    Everything else (claim, models, every action with its reason, history) is in the row's details,
    drawn from the page's CSV on expand."""
    failed = row.get("error") is not None
    key = str(row["label"])
    link = _t(key)
    if row.get("report") and not failed:
        link = f'<a href="{_t(quote(str(row["report"])))}">{_t(key)}</a>'
    cells = [_cell(key, link, "tk-key")]  # details.js puts the details button in front
    verdict = row.get("verdict")
    if failed:
        badge = f'<span class="tk-status-failed">{_t(label("verdict", FAILED))}</span>'
    else:
        badge = _badge(str(verdict) if verdict else None)
    cells.append(_cell(_verdict_bucket(row), badge))
    provider = str(row.get("provider") or "unknown")
    mismatch = ' <span class="tk-status-failed" title="the evidence does not match the claim">&#8800;</span>'
    cells.append(_cell(provider, _t(provider) + (mismatch if row.get("matches_claim") is False else "")))
    if "route" in columns:
        cells.append(_cell(str(row.get("route") or ""), _t(row.get("route") or "")))
    status = str(row.get("status") or "unknown")
    reason = f' title="{_t(row.get("error"))}"' if failed else ""
    words = label("status", status)
    shown = f'<span class="tk-status-failed"{reason}>{_t(words)}</span>' if failed else _t(words)
    cells.append(_cell(status, shown))
    action = main_action(row)
    cells.append(_cell(None, f'<span class="tk-action">{_t(action)}</span>' if action else ""))
    bal = row.get("balance") if isinstance(row.get("balance"), Mapping) else {}
    remaining = bal.get("remaining") if bal else None
    balance = balances_text(row)
    value = str(remaining) if isinstance(remaining, (int, float)) else ""
    cells.append(_cell(value, _short(balance), "tk-num" if balance or failed else "tk-num tk-u"))
    limits = limits_text(row.get("limits"))
    cells.append(_cell(None, _short(limits.replace(" / ", "/")), "" if limits or failed else "tk-u"))
    if "changes" in columns:
        cells.append(_changes_cell(row))
    data = "".join(f' data-f-{name}="{_t(value)}"' for name, value in _filter_values(row).items())
    for i, (name, (lens_verdict, lens_action)) in enumerate(lens_answers(row).items()):
        if name == DEFAULT_LENS:  # the row's own verdict and action (lens.js reads them from the cells)
            continue
        data += f' data-l{i}="{_t(lens_verdict or "")}"' + (f' data-a{i}="{_t(lens_action)}"' if lens_action else "")
    classes = " ".join(c for c in ("tk-row-failed" if failed else "", "tk-row-changed" if row.get("changes") else "")
                       if c)  # fmt: skip
    cls = f' class="{classes}"' if classes else ""
    return f'<tr{cls} data-i="{index}"{data}>{"".join(cells)}</tr>'


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The index's columns; route only when a row has one, changes only once a key was checked before (a
    change, an alert, a runway, or a key whose facts were probed again and kept its report)."""
    columns = ["key", "verdict", "provider"]
    if any(r.get("route") for r in rows):
        columns.append("route")
    columns += ["status", "next action", "balance", "limits"]
    if any(r.get("changes") or r.get("alerts") or r.get("runway") or _kept(r) for r in rows):
        columns.append("changes")
    return columns


def _kept(row: Mapping[str, Any]) -> bool:
    """Probed by a round and found unchanged (so checked before): its report was kept."""
    return row.get("rendered") is False and row.get("error") is None and bool(row.get("checked_at"))


_KINDS: Final = {"balance": "num"}
_TITLES: Final = {"changes": "changes · runway"}


def _lens_buckets(row: Mapping[str, Any]) -> set[str]:
    """The verdict buckets a row can show, whichever lens is chosen."""
    if row.get("error") is not None:
        return {FAILED}
    return {v or "unknown" for v, _ in lens_answers(row).values()} | {_verdict_bucket(row)}


def _filter_words(name: str, value: str) -> str:
    if name == "verdict":
        return label("verdict", value)
    return label("status", value) if name == "status" else value


def _filters_html(rows: Sequence[Mapping[str, Any]]) -> str:
    selects = []
    for name, title in _FILTERS:
        values = {_filter_values(r)[name] for r in rows}
        if name == "verdict":  # every lens's verdicts: the lens switch changes what a row shows
            values = set().union(values, *(_lens_buckets(r) for r in rows))
        options = '<option value="">all</option>' + "".join(
            f'<option value="{_t(v)}">{_t(_filter_words(name, v))}</option>' for v in sorted(values, key=str.lower)
        )
        selects.append(f'<label>{_t(title)} <select name="{name}" id="tk-filter-{name}">{options}</select></label>')
    shown = f'<span id="tk-shown" class="tk-muted">{len(rows)} of {len(rows)} shown</span>'
    return f'<div class="tk-filters" id="tk-filters" role="search">{"".join(selects)}{shown}</div>'


def opening_lens(rows: Sequence[Mapping[str, Any]]) -> str:
    """The lens the index opens on: the one the keys' reports answer (``--lens`` of the batch; the most
    rows' when they differ), else inventory fit."""
    asked: dict[str, int] = {}
    for row in rows:
        if row.get("lens") in LENS_NAMES:
            asked[str(row["lens"])] = asked.get(str(row["lens"]), 0) + 1
    return max(asked, key=lambda name: (asked[name], name == DEFAULT_LENS)) if asked else DEFAULT_LENS


def _lens_switch_html(opening: str = DEFAULT_LENS) -> str:
    """The lens switch (``lens.js``): which lens's verdict and action the table and the chart show; it
    opens on ``opening`` (the script redraws the rows for it at load when it is not inventory fit)."""
    options = "".join(
        f'<option value="{_t(name)}"{" selected" if name == opening else ""}>{_t(label("lens", name))}</option>'
        for name in LENS_NAMES
    )
    return (f'<div class="tk-filters tk-lens-switch"><label>lens <select id="tk-lens" '
            f'name="lens">{options}</select></label></div>')  # fmt: skip


_VERDICT_ORDER: Final = ("ready", "needs_work", "reject", FAILED)


def _fleet_chart(rows: Sequence[Mapping[str, Any]]) -> str:
    """Keys per provider and verdict, from counts (the aggregate, not a mark per key): one bar per
    provider, a segment per verdict, widths in % of the largest provider. ``filter.js`` recounts the
    rows the filters show and redraws it."""
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        per = counts.setdefault(str(row.get("provider") or "unknown"), {})
        for bucket in _lens_buckets(row):  # a segment for each verdict another lens may show (0 for now)
            per.setdefault(bucket, 0)
        bucket = _verdict_bucket(row)
        per[bucket] = per.get(bucket, 0) + 1
    top = max((sum(v.values()) for v in counts.values()), default=0) or 1
    bars = []
    for provider in sorted(counts, key=str.lower):
        per = counts[provider]
        order = [v for v in _VERDICT_ORDER if v in per] + sorted(set(per) - set(_VERDICT_ORDER))
        segs = "".join(
            f'<span class="tk-seg tk-v-{_t(re.sub(r"[^a-z_]", "", v))}" data-verdict="{_t(v)}" '
            f'data-label="{_t(label("verdict", v))}" style="width:{100 * per[v] / top:.2f}%" '
            f'title="{_t(label("verdict", v))}: {per[v]}">{per[v] or ""}</span>'
            for v in order
        )
        bars.append(f'<div class="tk-bar-row" data-provider="{_t(provider)}"><span class="tk-bar-name">'
                    f'{_t(provider)}</span><span class="tk-bar">{segs}</span>'
                    f'<span class="tk-bar-n">{sum(per.values())}</span></div>')  # fmt: skip
    legend = "".join(f'<span class="tk-seg tk-v-{v}">{_t(label("verdict", v))}</span>' for v in _VERDICT_ORDER)
    return (f'<figure class="tk-fleet-chart" id="tk-fleet-chart"><figcaption>Keys per provider and verdict (of '
            f'the keys shown) <span class="tk-legend">{legend}</span></figcaption>'
            f'<div id="tk-bars">{"".join(bars)}</div></figure>')  # fmt: skip


def _changes_cell(row: Mapping[str, Any]) -> str:
    """The history column: what changed since the key's previous check, its alerts and its runway."""
    changes = [c for c in row.get("changes") or [] if isinstance(c, Mapping)]
    alerts = [a for a in row.get("alerts") or [] if isinstance(a, Mapping)]
    runway = row.get("runway") if isinstance(row.get("runway"), Mapping) else None
    parts: list[str] = []
    if alerts:
        parts.append("".join(f'<span class="tk-alert">{_t(a.get("message"))}</span>' for a in alerts))
    if changes:
        noun = "change" if len(changes) == 1 else "changes"
        title = _t("; ".join(change_text(c) for c in changes))
        parts.append(f'<span class="tk-changed" title="{title}">{len(changes)} {noun}</span>')
    if runway and runway.get("runway_days") is not None:
        days, burn = float(runway["runway_days"]), float(runway.get("burn_per_day") or 0)
        currency = runway.get("currency") or "USD"
        window = runway.get("window") if isinstance(runway.get("window"), Mapping) else {}
        over = f" over {float(window['days']):,.1f} days" if isinstance(window.get("days"), (int, float)) else ""
        when = moment(str(runway.get("exhausted_at"))[:10]) if runway.get("exhausted_at") else ""
        head = f"credits used up{' on ' + when if when else ''}" if days <= 0 else f"runway {days:,.1f} days"
        full = f"{head} (burn {burn:,.2f} {currency}/day{over}, derived)"
        parts.append(f' <span class="tk-muted" title="{_t(full)}">{_t(head)}</span>')
    value = " ".join(change_text(c) for c in changes)
    quiet = '<span class="tk-muted">no change</span>' if _kept(row) else ""  # never on a first check
    return _cell(value, "".join(parts) or quiet)


#: the label kinds the page's scripts read (``data-labels`` on the table)
_SCRIPT_LABELS: Final = ("verdict", "status", "status_reason", "grade", "role", "lens")


def _counts_text(rows: Sequence[Mapping[str, Any]], lens: str) -> str:
    """``2 ready, 1 needs work, 1 check failed``: the rows per verdict of one lens."""
    counts: dict[str, int] = {}
    for row in rows:
        verdict = lens_answers(row).get(lens, (None, None))[0]
        bucket = FAILED if row.get("error") is not None else verdict or "unknown"
        counts[bucket] = counts.get(bucket, 0) + 1
    order = [v for v in _VERDICT_ORDER if v in counts] + sorted(set(counts) - set(_VERDICT_ORDER))
    return ", ".join(f"{counts[v]} {label('verdict', v)}" for v in order)


def index_html(rows: Sequence[Mapping[str, Any]], *, title: str = "testkey-nb fleet index") -> str:
    """The index page for ``rows`` (see :func:`index_row`)."""
    from testkey_nb.report.export import check_offline

    summaries = {name: _counts_text(rows, name) for name in LENS_NAMES}
    counts = "".join(f' data-counts-{name}="{_t(text)}"' for name, text in summaries.items())
    columns = _columns(rows)
    head = "".join(
        f'<th data-type="{_KINDS.get(name, "text")}" data-col="{_t(name)}" scope="col">'
        f'<button type="button">{_t(_TITLES.get(name, name))}</button></th>'
        for name in columns
    )
    body = "".join(_row_html(row, columns, i) for i, row in enumerate(rows))
    chart = _fleet_chart(rows) if rows else ""
    switch = _lens_switch_html(opening_lens(rows)) if rows else ""
    words = _t(json.dumps({kind: labels_for(kind) for kind in _SCRIPT_LABELS}, separators=(",", ":")))
    scripts = [SORT_JS, FILTER_JS, CSV_JS, DETAILS_JS, LENS_JS]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_csp(scripts)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>{_t(title)}</title>{CSS}{_STYLE}</head><body>"
        f"<h1>{_t(title)}</h1>"
        f'<p class="tk-muted">{_t(plural(len(rows), "key"))}: <span id="tk-counts"{counts}>'
        f'{_t(summaries[DEFAULT_LENS] or "none")}</span>. Choose the lens whose verdicts the table shows; filter by '
        "provider, status or verdict; click a column header to sort; &#9656; opens a key's details; a key opens its "
        'report. <a id="tk-csv" download="index.csv" aria-disabled="true">Download the table (CSV)</a>.</p>'
        f'<script type="{CSV_DATA_TYPE}" id="tk-csv-data">{csv_payload(rows)}</script>'
        f"{switch}{_filters_html(rows)}{chart}"
        f'<table class="tk-table tk-fleet" id="tk-fleet" data-lens="{DEFAULT_LENS}" data-labels="{words}"><thead><tr>'
        f"{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<script>{SORT_JS}</script><script>{FILTER_JS}</script><script>{CSV_JS}</script>"
        f"<script>{DETAILS_JS}</script><script>{LENS_JS}</script></body></html>\n"
    )
    check_offline(page)
    if re.search(r"https?://", page, re.IGNORECASE):  # pragma: no cover - every text goes through _t
        raise ValueError("the fleet index would contain a URL")
    return page


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
