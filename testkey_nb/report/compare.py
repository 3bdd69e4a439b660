"""Keys side by side, or one key across two checks, on one offline page: differences first.

:func:`load_documents` turns what the user has (``probe --json`` files, :class:`KeyCheck` objects, plain
dicts, or labels looked up in the history) into documents; :func:`build_comparison` lines their facts
up (verdicts of the three lenses, provider, status, models, limits, balance, the capabilities with their
evidence grades, the models that differ) and puts the rows that differ first. :class:`Comparison`
renders the page (:meth:`Comparison.html`: self-contained, inline CSS, no script, every string
escaped) and, in a notebook, itself.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from testkey_nb._format import count, moment, number
from testkey_nb._labels import label

__all__ = ["Column", "CompareError", "Comparison", "Row", "build_comparison", "load_documents"]

_LENS_ROWS: Final = tuple((name, label("lens", name).capitalize())
                          for name in ("inventory-fit", "onboarding-readiness", "commercial-launch"))
_MISSING: Final = "—"
_MAX_MODEL_ROWS: Final = 60


class CompareError(ValueError):
    """An input that cannot be compared (a missing file, not JSON, a label the history does not hold)."""


@dataclass(frozen=True)
class Column:
    """One compared check: its key's label, when it was checked and where the document came from."""

    label: str
    checked_at: str
    source: str


@dataclass(frozen=True)
class Row:
    group: str
    name: str
    values: tuple[str, ...]

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


def esc(value: Any) -> str:
    text = "" if value is None else str(value)
    text = "".join(ch if ch.isprintable() or ch == " " else "\ufffd" for ch in text)
    return html.escape(text, quote=True)


# --- inputs ----------------------------------------------------------------------------------------
def load_documents(
    inputs: Iterable[Any], *, history: Path | None = None
) -> list[tuple[Mapping[str, Any], str]]:
    """Each input as ``(document, source)``: a KeyCheck (its ``to_json()``), a mapping (a ``probe --json``
    object or an index row), a path to a ``probe --json`` file, or a label from the ``history`` database
    (its latest snapshot; a single label alone gives its last two checks)."""
    items = list(inputs)
    docs: list[tuple[Mapping[str, Any], str]] = []
    labels = [i for i in items if isinstance(i, str) and not _looks_like_file(i)]
    for item in items:
        if hasattr(item, "to_json") and callable(item.to_json) and hasattr(item, "summary"):
            docs.append(({**item.to_json(), **item.summary()}, "this session"))
        elif isinstance(item, Mapping):
            docs.append((item, "a document"))
        elif isinstance(item, (str, Path)) and _looks_like_file(str(item)):
            docs.append((_read_json(Path(item)), Path(item).name))
        elif isinstance(item, str):
            docs.extend(_from_history(item, history, 2 if len(labels) == len(items) == 1 else 1))
        else:
            raise CompareError(f"cannot compare a {type(item).__name__}: give KeyCheck objects, probe --json "
                               "files or labels from the history")  # fmt: skip
    if len(docs) < 2:
        raise CompareError(f"need at least two checks to compare, got {len(docs)}")
    return docs


def _looks_like_file(text: str) -> bool:
    return text.endswith(".json") or "/" in text or Path(text).is_file()


def _read_json(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CompareError(f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CompareError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, Mapping):
        raise CompareError(f"{path}: expected one probe --json object, got a {type(data).__name__}")
    return data


def _from_history(label: str, path: Path | None, limit: int) -> list[tuple[Mapping[str, Any], str]]:
    from testkey_nb.history.store import HistoryError, HistoryStore

    where = path or Path("reports") / ".history" / "history.duckdb"
    if not Path(where).is_file():
        raise CompareError(f"{label}: no history database at {where} (give --history PATH, or probe --json files)")
    try:
        with HistoryStore(Path(where), read_only=True) as store:
            snaps = store.last(label, limit)
    except HistoryError as exc:
        raise CompareError(f"history: {exc}") from None
    if not snaps:
        raise CompareError(f"{label}: the history holds no check of this label")
    return [({"label": label, "checked_at": s.to_json()["rendered_at"], **s.to_json()}, "history") for s in snaps]


# --- facts -----------------------------------------------------------------------------------------
def _get(doc: Mapping[str, Any], *path: str) -> Any:
    value: Any = doc
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _text(value: Any) -> str:
    if value is None or value == "" or value == []:
        return _MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return count(value)
    if isinstance(value, float):
        return number(value)
    return " ".join(str(value).split())


def _facts(doc: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(group, name, value)`` of one document, whichever shape it has (probe --json, index row, snapshot)."""
    provider = doc.get("provider")
    provider_id = _get(doc, "provider", "id") if isinstance(provider, Mapping) else provider
    models = doc.get("models") if isinstance(doc.get("models"), list) else None
    allowed = doc.get("allowed_models")
    priced = doc.get("priced_models")
    if models is not None and allowed is None:
        allowed = sum(1 for m in models if isinstance(m, Mapping) and m.get("allowed"))
        priced = sum(1 for m in models if isinstance(m, Mapping) and m.get("allowed") and _priced(m))
    tpm = doc.get("tokens_per_minute")
    if tpm is None:
        tpm = _get(doc, "metrics", "tokens_limit")
    if tpm is None:
        tpm = next((x.get("value") for x in doc.get("limits") or [] if isinstance(x, Mapping)
                    and x.get("scope") == "tokens_per_minute"), None)  # fmt: skip
    role = doc.get("token_role") if "token_role" in doc else _get(doc, "metrics", "token_role")
    raw_bal = doc.get("balance")
    bal: Mapping[str, Any] = raw_bal if isinstance(raw_bal, Mapping) else {}
    remaining = bal.get("remaining")
    balance = _MISSING if remaining is None else f"{number(remaining)} {bal.get('currency') or ''}".strip()
    out: list[tuple[str, str, str]] = []
    raw_lenses = doc.get("lenses")
    lenses: Mapping[str, Any] = raw_lenses if isinstance(raw_lenses, Mapping) else {}
    for name, title in _LENS_ROWS:
        raw_lens = lenses.get(name)
        lens: Mapping[str, Any] | None = raw_lens if isinstance(raw_lens, Mapping) else None
        verdict = lens.get("verdict") if lens else (doc.get("verdict") if name == "inventory-fit" else None)
        summary = lens.get("summary") if lens else (doc.get("verdict_summary") if name == "inventory-fit" else None)
        word = label("verdict", verdict) if verdict else _MISSING  # needs_work -> needs work
        out.append(("Verdicts", title, word + (f": {_text(summary)}" if summary else "")))
    claimed = _get(doc, "provider", "claimed") if isinstance(provider, Mapping) else doc.get("claimed")
    confidence = _get(doc, "provider", "confidence") if isinstance(provider, Mapping) else doc.get("confidence")
    out += [
        ("Key", "provider", _text(provider_id)),
        ("Key", "claimed", _text(claimed)),
        ("Key", "confidence", _text(confidence)),
        ("Key", "status", (label("status", doc.get("status")) if doc.get("status") else _MISSING)
         + (f" ({label('status_reason', reason)})" if (reason := doc.get("status_reason")) else "")),
        ("Key", "key role", label("role", role) if role else _MISSING),
        ("Key", "models allowed / priced", f"{_text(allowed)} / {_text(priced)}"),
        ("Key", "tokens per minute", _text(tpm)),
        ("Key", "balance remaining", balance),
    ]
    for cap in doc.get("capabilities") or []:
        if isinstance(cap, Mapping):
            grade = label("grade", cap.get("grade")) if cap.get("grade") else ""
            status = label("capability_status", cap.get("status")) if cap.get("status") else _MISSING
            out.append(("Capabilities", str(cap.get("capability")), status + (f" ({grade})" if grade else "")))
    actions = [a.get("action") for a in doc.get("actions") or [] if isinstance(a, Mapping)]
    out.append(("Key", "inventory-fit actions", ", ".join(dict.fromkeys(str(a) for a in actions)) or _MISSING))
    return out


def _when(stamp: str) -> str:
    """A check's time as people read it (``2 Dec 2026, 02:48 UTC``)."""
    return stamp if stamp == _MISSING else moment(stamp)


def _priced(model: Mapping[str, Any]) -> bool:
    """A probe --json model row says ``priced``; a history snapshot's model has ``price_in``."""
    return bool(model.get("priced")) or model.get("price_in_per_mtok") is not None or model.get("price_in") is not None


def _model_states(doc: Mapping[str, Any]) -> dict[str, str] | None:
    models = doc.get("models")
    if not isinstance(models, list):
        return None
    states = {}
    for m in models:
        if isinstance(m, Mapping):
            mid = m.get("model") or m.get("id")
            if mid:
                states[str(mid)] = {True: "allowed", False: "refused", None: "listed"}.get(m.get("allowed"), "listed")
    return states


# --- the comparison --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """The compared checks (:attr:`checks`) and their facts (:attr:`rows`, differences first). In a
    notebook it shows itself as a table; :meth:`frame` is one row per check (a polars frame), and the
    frame's own attributes (``columns``, ``write_csv``, ``height``...) answer on the comparison too."""

    checks: tuple[Column, ...]
    docs: tuple[Mapping[str, Any], ...]
    rows: tuple[Row, ...]
    #: ``keys`` (several keys side by side) or ``over time`` (one key across checks)
    mode: str

    @property
    def differences(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.differs)

    def frame(self) -> Any:  # -> pl.DataFrame
        """One row per compared check: label, checked_at, verdict, the lenses' verdicts, provider, claim,
        status, models, limits, role, actions, and one column per capability (its status)."""
        import polars as pl

        rows = [_frame_row(d) for d in self.docs]
        return pl.DataFrame(rows, infer_schema_length=None)

    # the frame's own attributes, for code written against compare()'s earlier frame
    def __getitem__(self, key: Any) -> Any:
        return self.frame()[key]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.frame(), name)

    def _repr_html_(self) -> str:
        return _CSS + self.fragment()

    def fragment(self) -> str:
        """The comparison as an HTML fragment (a section and its tables)."""
        heads = "".join(f'<th scope="col">{esc(c.label)}<br><span class="tk-c-when">{esc(_when(c.checked_at))}'
                        f'{" &middot; " + esc(c.source) if c.source else ""}</span></th>'
                        for c in self.checks)  # fmt: skip

        def body(rows: Sequence[Row], cls: str) -> str:
            trs = []
            for r in rows:
                cells = "".join(f"<td>{esc(v)}</td>" for v in r.values)
                trs.append(f'<tr class="{cls}" data-group="{esc(r.group)}"><th scope="row"><span class="tk-c-group">'
                           f"{esc(r.group)}</span> {esc(r.name)}</th>{cells}</tr>")  # fmt: skip
            return "".join(trs)

        diff, same = self.differences, tuple(r for r in self.rows if not r.differs)
        what = "one key across checks" if self.mode == "over time" else f"{len(self.checks)} keys side by side"
        parts = [
            f'<section id="compare" class="tk-compare" data-mode="{esc(self.mode)}">',
            f"<h1>Comparison: {esc(what)}</h1>",
            f'<p class="tk-c-sub">{len(diff)} of {len(self.rows)} facts differ; the differences come first.</p>',
            f'<h2 id="differences">Differences ({len(diff)})</h2>',
            f'<table class="tk-c-table tk-c-diff"><thead><tr><th>fact</th>{heads}</tr></thead>'
            f"<tbody>{body(diff, 'tk-c-differs')}</tbody></table>" if diff else "<p>No fact differs.</p>",
            f'<h2 id="same">The same in every check ({len(same)})</h2>',
            f'<table class="tk-c-table tk-c-same"><thead><tr><th>fact</th>{heads}</tr></thead>'
            f"<tbody>{body(same, 'tk-c-equal')}</tbody></table>" if same else "<p>Nothing is the same.</p>",
            "</section>",
        ]
        return "".join(parts)

    def html(self) -> str:
        """The whole page: self-contained (inline CSS, no script, no request), every string escaped."""
        title = "testkey-nb comparison: " + ", ".join(dict.fromkeys(c.label for c in self.checks))
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{esc(title)}</title>'
            f"{_CSS}</head><body>{self.fragment()}</body></html>\n"
        )

    def write_html(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`html` to ``path`` (atomically) and return it."""
        from testkey_nb._files import write_atomic

        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, self.html())
        return out


def build_comparison(docs: Sequence[tuple[Mapping[str, Any], str]]) -> Comparison:
    """Line the documents' facts up, one column per document; rows that differ first (in fact order)."""
    columns = tuple(Column(_text(d.get("label")), str(d.get("checked_at") or d.get("rendered_at") or _MISSING), src)
                    for d, src in docs)  # fmt: skip
    mode = "over time" if len({c.label for c in columns}) == 1 else "keys"
    per_doc = [{(g, n): v for g, n, v in _facts(d)} for d, _ in docs]
    order = list(dict.fromkeys(k for facts in per_doc for k in facts))
    rows = [Row(g, n, tuple(f.get((g, n), _MISSING) for f in per_doc)) for g, n in order]
    states = [_model_states(d) for d, _ in docs]
    if all(s is not None for s in states):
        ids = sorted({m for s in states for m in s})  # type: ignore[union-attr]
        model_rows = [Row("Models", m, tuple(s.get(m, "not listed") for s in states)) for m in ids]  # type: ignore[union-attr]
        differing = [r for r in model_rows if r.differs][:_MAX_MODEL_ROWS]
        rows += differing
        same = len(model_rows) - len([r for r in model_rows if r.differs])
        rows.append(Row("Models", "models the same in every check", tuple(count(same) for _ in docs)))
    ordered = [r for r in rows if r.differs] + [r for r in rows if not r.differs]
    return Comparison(columns, tuple(d for d, _ in docs), tuple(ordered), mode)


def _frame_row(doc: Mapping[str, Any]) -> dict[str, Any]:
    provider = doc.get("provider")
    models = [m for m in doc.get("models") or [] if isinstance(m, Mapping)]
    allowed = doc.get("allowed_models")
    if allowed is None and models:
        allowed = sum(1 for m in models if m.get("allowed"))
    priced = doc.get("priced_models")
    if priced is None and models:
        priced = sum(1 for m in models if m.get("allowed") and m.get("priced"))
    raw_lenses = doc.get("lenses")
    lenses: Mapping[str, Any] = raw_lenses if isinstance(raw_lenses, Mapping) else {}
    row: dict[str, Any] = {
        "label": doc.get("label"),
        "checked_at": doc.get("checked_at") or doc.get("rendered_at"),
        "verdict": doc.get("verdict"),
        **{name: _get(lenses, name, "verdict") for name, _ in _LENS_ROWS[1:]},
        "provider": _get(doc, "provider", "id") if isinstance(provider, Mapping) else provider,
        "claimed": (_get(doc, "provider", "claimed") if isinstance(provider, Mapping) else doc.get("claimed")) or "",
        "matches_claim": _get(doc, "provider", "matches_claim") if isinstance(provider, Mapping)
        else doc.get("matches_claim"),
        "status": doc.get("status"),
        "key_valid": doc.get("key_valid") if "key_valid" in doc else _get(doc, "metrics", "key_valid"),
        "allowed_models": allowed,
        "priced_models": priced,
        "tokens_per_minute": doc.get("tokens_per_minute") if "tokens_per_minute" in doc
        else _get(doc, "metrics", "tokens_limit"),
        "token_role": doc.get("token_role") if "token_role" in doc else _get(doc, "metrics", "token_role"),
        "actions": ", ".join(str(a.get("action")) for a in doc.get("actions") or [] if isinstance(a, Mapping)),
        "probe_requests": doc.get("probe_requests"),
    }  # fmt: skip
    for cap in doc.get("capabilities") or []:
        if isinstance(cap, Mapping):
            row[str(cap.get("capability"))] = cap.get("status")
    return row


_CSS: Final = """<style>
.tk-compare{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1200px;margin:16px auto;
 padding:0 16px;color:#212121;background:#fff}
.tk-compare h1{font-size:22px;margin:0 0 4px 0}.tk-compare h2{font-size:16px;margin:18px 0 6px 0}
.tk-c-sub,.tk-c-when{color:#616161;font-size:12px;font-weight:400}
.tk-c-table{border-collapse:collapse;font-size:13px;width:100%;table-layout:fixed}
.tk-c-table th,.tk-c-table td{border-bottom:1px solid #e0e0e0;padding:4px 8px;text-align:left;vertical-align:top;
 overflow-wrap:break-word;word-break:normal;hyphens:none}
.tk-c-table thead th{background:#fafafa}
.tk-c-differs td{background:#fff8e1}
.tk-c-group{display:block;color:#757575;font-size:11px;font-weight:400;text-transform:uppercase}
@media (prefers-color-scheme: dark){.tk-compare{color:#e0e0e0;background:#121212}
 .tk-c-table thead th{background:#1e1e1e}.tk-c-differs td{background:#3a3000}
 .tk-c-table th,.tk-c-table td{border-color:#333}.tk-c-sub,.tk-c-when,.tk-c-group{color:#9e9e9e}}
@media print{.tk-c-table tr{break-inside:avoid}.tk-compare h2{break-after:avoid}}
</style>"""
