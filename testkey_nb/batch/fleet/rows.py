"""The fleet index's rows: one per key, built from a report's summary or from the redacted reason its
render failed (never a key or raw probe records); their text (balance, limits) and the CSV of them.

A row is built from a report's summary (:meth:`testkey_nb.check.result.KeyCheck.summary`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from testkey_nb._format import count, number, usd
from testkey_nb.check.lenses import DEFAULT_LENS

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
    "route",
    "key_valid",
    "status",
    "status_reason",
    "verdict",
    "verdict_summary",
    "actions",
    "lens",
    "lenses",
    "allowed_models",
    "priced_models",
    "tokens_per_minute",
    "token_role",
    "balance",
    "balances",
    "payment_method",
    "limits",
    "key_usage",
    "identity",
    "tokens_limit",
    "tokens_limit_day",
    "capabilities",
    "probe_requests",
    "report",
    "error",
    "seconds",
    "rendered_at",
    "rendered",
    "checked_at",
    "changes",
    "runway",
    "alerts",
)
#: The fields :func:`index_row` fills itself; every other field of :data:`ROW_FIELDS` is copied from the
#: report's summary as it is.
_BUILT_HERE: Final = frozenset(
    {"label", "claimed", "actions", "balance", "limits", "capabilities", "report", "error", "seconds",
     "rendered_at", "changes", "runway", "alerts"}
)  # fmt: skip
_FROM_SUMMARY: Final = tuple(name for name in ROW_FIELDS if name not in _BUILT_HERE)


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
    rendered: bool = False,
    checked_at: str | None = None,
) -> dict[str, Any]:
    """One row of the index (fields :data:`ROW_FIELDS`).

    A row with an ``error`` (or without a ``summary``) is a failed key: status ``failed`` (or the given
    ``status``, e.g. :data:`NOT_RENDERED`), no verdict, no actions, no report link. ``rendered``: the
    report was rendered by this round (False: the round found the key's facts unchanged and kept it).
    ``checked_at``: when the round probed the key; ``rendered_at``: when its report was rendered.
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
        row["balances"] = [_balance(b) for b in summary.get("balances") or [] if isinstance(b, Mapping)]
        row["payment_method"] = summary.get("payment_method") if summary.get("payment_method") in ("card", "none") \
            else None
        row["limits"] = [_limit(x) for x in summary.get("limits") or [] if isinstance(x, Mapping)] or None
        # what this key itself used (issue 21): the summary's object as it is, None where not read
        row["key_usage"] = dict(ku) if isinstance(ku := summary.get("key_usage"), Mapping) else None
        row["capabilities"] = [
            {"capability": str(c.get("capability")), "status": str(c.get("status")), "grade": c.get("grade"),
             "evidence": c.get("evidence")}
            for c in summary.get("capabilities") or []
            if isinstance(c, Mapping)
        ]  # fmt: skip
        row["lens"] = summary.get("lens")
        row["lenses"] = _lenses(summary.get("lenses"))
        row["report"] = report
    else:
        row["status"] = status or FAILED
        row["error"] = error or "no summary came back from the report"
    row["seconds"] = round(seconds, 2) if isinstance(seconds, (int, float)) else None
    row["rendered_at"] = rendered_at
    row["rendered"] = bool(rendered) and row["error"] is None
    row["checked_at"] = checked_at
    return row


_BALANCE_FIELDS: Final = ("scope", "currency", "remaining", "limit", "used", "granted", "provenance", "probe",
                          "exchange")  # fmt: skip
_LIMIT_FIELDS: Final = ("scope", "value", "provenance", "source")


def _balance(value: Any) -> dict[str, Any] | None:
    """The summary's ``balance`` object (issue 10), its known fields only; None when absent."""
    return {k: value.get(k) for k in _BALANCE_FIELDS} if isinstance(value, Mapping) else None


def _limit(value: Mapping[str, Any]) -> dict[str, Any]:
    return {k: value.get(k) for k in _LIMIT_FIELDS}


def _lenses(value: Any) -> dict[str, Any] | None:
    """The summary's ``lenses`` (``{NAME: {verdict, summary, actions}}``), their known fields only."""
    if not isinstance(value, Mapping):
        return None
    return {
        str(name): {"verdict": lens.get("verdict"), "summary": lens.get("summary"),
                    "actions": [_action(a) for a in lens.get("actions") or []]}
        for name, lens in value.items()
        if isinstance(lens, Mapping)
    }  # fmt: skip


def _action(item: Any) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return {
            "action": item.get("action"),
            "reason": item.get("reason"),
            "evidence": list(item.get("evidence") or []),
        }
    return {"action": str(item), "reason": None, "evidence": []}


def balance_text(balance: Mapping[str, Any] | None) -> str:
    """``$7.50 left of $10.00 (key)`` / ``110.0 CNY left of 10.0 CNY`` / ``used $10.00`` / "" (unknown),
    by the one formatter: each currency as it is (never shown as USD), a key's limit or an account's
    credits as what it is left of, the scope when it is not the account's, ``given`` when the user gave it."""
    if not isinstance(balance, Mapping):
        return ""
    cur = balance.get("currency")

    def money(v: Any) -> str:
        return usd(v) if cur in (None, "", "USD", "usd") else f"{number(v)} {cur}"

    tags = [str(balance["scope"])] if balance.get("scope") in ("key", "workspace") else []
    tags += ["given"] if balance.get("provenance") == "given" else []
    tail = f" ({', '.join(tags)})" if tags else ""
    remaining = balance.get("remaining")
    if remaining is not None:
        of = balance.get("limit") if balance.get("scope") == "key" else balance.get("granted")
        of = of if of is not None else balance.get("limit")
        granted = balance.get("granted")
        if isinstance(of, (int, float)) and isinstance(remaining, (int, float)) and of >= remaining:
            return f"{money(remaining)} left of {money(of)}" + tail
        # a grant smaller than what is left is a part of it (DeepSeek's granted_balance), not its total
        return f"{money(remaining)} left" + (f", {money(granted)} granted" if granted is not None else "") + tail
    if balance.get("used") is not None:
        return f"used {money(balance['used'])}" + tail
    return ""


def balances_text(row: Mapping[str, Any]) -> str:
    """The index's balance cell: every balance read (the headline first), each in its own currency; where
    none was read, what is known instead (``pays by card``, ``not exposed``) or "" (unknown)."""
    head = row.get("balance") if isinstance(row.get("balance"), Mapping) else None
    every = [b for b in row.get("balances") or [] if isinstance(b, Mapping)]
    ordered = ([head] if head else []) + [b for b in every if b != head]
    texts = [t for b in ordered if (t := balance_text(b))]
    if texts:
        return " · ".join(dict.fromkeys(texts))
    exposed = next((c.get("status") for c in row.get("capabilities") or []
                    if isinstance(c, Mapping) and c.get("capability") == "balance"), None)  # fmt: skip
    said = {"card": "pays by card", "none": "no payment method"}.get(str(row.get("payment_method")), "")
    if exposed == "unsupported":
        return f"{said}; balance not exposed" if said else "not exposed"
    return said


_SCOPE_UNITS: Final = {
    "requests_per_minute": "req / min",
    "tokens_per_minute": "tok / min",
    "requests_per_day": "req / day",
    "tokens_per_day": "tok / day",
    "tokens_per_month": "tok / month",
}


def limits_text(limits: Sequence[Mapping[str, Any]] | None) -> str:
    """``60 req / min · 200,000 tok / min`` from the ``limits`` list (issue 10)."""
    parts = [
        f"{count(x.get('value'))} {_SCOPE_UNITS.get(str(x.get('scope')), str(x.get('scope')))}"
        for x in limits or []
        if isinstance(x, Mapping) and x.get("value") is not None
    ]
    return " · ".join(parts)

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
        writer.writerow([_csv_cell(_other_lenses(row.get(name)) if name == "lenses" else row.get(name))
                         for name in ROW_FIELDS])  # fmt: skip
    return buffer.getvalue()


def _other_lenses(value: Any) -> Any:
    """The CSV's ``lenses``: the lenses other than inventory fit (its verdict, summary and actions are the row's
    own ``verdict``, ``verdict_summary`` and ``actions`` columns), each action with its reason, not its evidence
    (``index.json`` keeps every lens whole). Keeps the page's compressed CSV small at 1,000 keys."""
    if not isinstance(value, Mapping):
        return value
    return {
        name: {**lens, "actions": [{"action": a.get("action"), "reason": a.get("reason")}
                                   for a in lens.get("actions") or [] if isinstance(a, Mapping)]}
        for name, lens in value.items()
        if name != DEFAULT_LENS and isinstance(lens, Mapping)
    }

