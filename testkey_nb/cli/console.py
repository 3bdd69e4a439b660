"""Rich tables for a :class:`~testkey_nb.check.result.KeyCheck` in the terminal."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from testkey_nb._format import count, format_cell, plain_text, usd
from testkey_nb._labels import label, plural
from testkey_nb.check.result import KeyCheck

_STATUS_STYLE = {
    "verified": "green",
    "denied": "red",
    "unsupported": "dim",
    "unknown": "yellow",
    "error": "red",
}
_VERDICT_STYLE = {"ready": "bold green", "needs_work": "bold yellow", "reject": "bold red"}

__all__ = ["MODEL_ROWS", "brief_line", "closing_line", "print_check"]


def _clean(value: object) -> str:
    """Escape rich markup and drop control characters from provider-controlled text."""
    text = "" if value is None else str(value)
    text = "".join(ch if ch.isprintable() or ch == " " else "\ufffd" for ch in text)
    return escape(text)


def _account_line(data: dict[str, object]) -> str:
    """Identity, balance and limits in one line (the JSON's ``identity``, ``balance``, ``limits``)."""
    ident = data.get("identity") or {}
    who = ", ".join(f"{k} {v}" for k, v in ident.items() if k in ("user", "workspace", "organization") and v) \
        if isinstance(ident, dict) else ""
    listed = data.get("balances")
    balances = [b for b in (listed if isinstance(listed, list) else []) if isinstance(b, dict)]
    many = len(balances) > 1

    def one(b: dict[str, object]) -> str:
        where = ", ".join(str(x) for x in ((b.get("scope") if many else None), b.get("probe") or b.get("provenance"))
                          if x)  # fmt: skip
        cur = str(b.get("currency") or "")
        left = usd(b.get("remaining")) if cur.upper() in ("", "USD") else f"{plain_text(b.get('remaining'))} {cur}"
        return f"{left} left ({where})"

    said = {"card": "pays by card", "none": "no payment method"}.get(str(data.get("payment_method")), "")
    money = "; ".join(one(b) for b in balances) or ("not exposed; " + said if said else "none readable")
    limits = data.get("limits")
    limits = limits if isinstance(limits, list) else []
    lims = ", ".join(f"{str(x['scope']).replace('_', ' ')} {count(x['value'])}" for x in limits
                     if isinstance(x, dict)) or "none readable"  # fmt: skip
    return f"  identity: {_clean(who or 'not seen')}; balance: {_clean(money)}; limits: {_clean(lims)}"


#: Model rows the terminal shows (the rest are counted: ``probe --json`` lists them all), so the closing
#: verdict stays on an 80x24 screen.
MODEL_ROWS = 8


def _verdict_words(data: dict[str, Any]) -> str:
    verdict = data.get("verdict")
    return f"[{_VERDICT_STYLE.get(str(verdict), '')}]{_clean(label('verdict', verdict))}[/]"


def closing_line(check: KeyCheck) -> str:
    """The last line of the terminal output: the verdict again, the status and the action that matters most."""
    data = check.to_json()
    answer = (data.get("lenses") or {}).get(data.get("lens")) or data  # the lens the first line answered
    actions = answer.get("actions") or []
    first = f"; first action: {actions[0]['action']}" if actions else ""
    more = f" (+{len(actions) - 1} more above)" if len(actions) > 1 else ""
    return (f"Verdict for {_clean(check.label)}: {_verdict_words(answer)} - provider {_clean(data['provider']['id'])}, "
            f"status {_clean(label('status', data['status']))}{_clean(first)}{more}")  # fmt: skip


def brief_line(check: KeyCheck, width: int = 80) -> str:
    """One line per key (``probe --brief``): label, verdict, provider, status, the first action; cut to ``width``."""
    data = check.to_json()
    actions = data.get("actions") or []
    action = f"{actions[0]['action']}: {actions[0]['reason']}" if actions else "no action"
    fields = (check.label, label("verdict", data["verdict"]), data["provider"]["id"], label("status", data["status"]),
              action)  # fmt: skip
    text = "  ".join(" ".join("".join(ch if ch.isprintable() else " " for ch in str(f)).split()) for f in fields)
    return text if len(text) <= width else text[: width - 1] + "…"


def print_check(check: KeyCheck, console: Console | None = None) -> None:
    """The verdict and its actions first, then who serves the key, its status, metrics, capabilities
    and the first models; the verdict again on the last line, so it is on screen when the output ends.
    Reads at 80 columns: tables wrap at word boundaries (no column folds a word)."""
    console = console or Console()
    data = check.to_json()
    prov = data["provider"]
    answer = data["lenses"][data["lens"]]
    console.print(
        f"Verdict: {_verdict_words(answer)} ({_clean(answer['title'].lower())}) - {_clean(answer['summary'])}"
    )
    others = [f"{v['title'].lower()} {label('verdict', v['verdict'])}"
              for k, v in data["lenses"].items() if k != data["lens"]]  # fmt: skip
    console.print(f"[dim]Other lenses: {_clean('; '.join(others))} (--lens NAME)[/]")
    if answer["actions"]:
        actions = Table.grid(padding=(0, 1))
        actions.add_column(no_wrap=True)
        actions.add_column(overflow="fold")
        for action in answer["actions"]:
            actions.add_row(f"  - [bold]{_clean(action['action'])}[/]:", _clean(action["reason"]))
        console.print(actions)
    claim = (
        f", claimed {prov['claimed']} ({'matches' if prov['matches_claim'] else 'does NOT match'})"
        if prov["claimed"]
        else ""
    )
    console.print(
        f"Key [bold]{_clean(check.label)}[/]: provider [bold]{_clean(prov['id'])}[/] "
        f"(confidence {prov['confidence']:.2f}{_clean(claim)})"
    )
    detail = f": {_clean(data['status_detail'])}" if data["status_detail"] else ""
    console.print(f"Status: [bold]{_clean(label('status', data['status']))}[/] "
                  f"({_clean(label('status_reason', data['status_reason']))}){detail}")  # fmt: skip
    for conflict in prov["conflicts"]:
        console.print(f"  [yellow]conflict:[/] {_clean(conflict)}")
    console.print(_account_line(data))

    metrics = _table("Sample metrics", ("metric", "value", "source"))
    for name, value in data["metrics"].items():
        p = data["provenance"][name]
        source = label("provenance", p["provenance"]) + (f" ({p['probe']})" if p["probe"] else "")
        text = _clean(plain_text(value))
        if p["note"]:
            text += f"\n[dim]{_clean(p['note'])}[/]"
        metrics.add_row(name, text, _clean(source))
    console.print(metrics)

    caps = _table("Ten capabilities", ("capability", "status", "grade", "evidence"))
    for c in data["capabilities"]:
        style = _STATUS_STYLE.get(c["status"], "")
        caps.add_row(c["capability"], f"[{style}]{_clean(label('capability_status', c['status']))}[/]",
                     label("grade", c["grade"]), _clean(c["evidence"]))  # fmt: skip
    console.print(caps)

    every = data["models"]
    rows = every[:MODEL_ROWS]
    limits = {(m["rpm"], m["tpm"]) for m in every}
    uniform = len(limits) == 1
    columns = ("model", "allowed", "in $/M", "out $/M", "context", *(() if uniform else ("RPM", "TPM")))
    allowed = sum(1 for m in every if m["allowed"])
    title = f"Models: {plural(len(every), 'model')}, {count(allowed)} allowed; prices in USD per million tokens"
    models = _table(title, columns, no_wrap=True)
    for m in rows:
        cells = [_clean(m["model"]), {True: "yes", False: "no", None: "?"}[m["allowed"]],
                 _usd(m["price_in_per_mtok"]), _usd(m["price_out_per_mtok"]), _num(m["context_length"])]  # fmt: skip
        if not uniform:
            cells += [_num(m["rpm"]), _num(m["tpm"])]
        models.add_row(*cells)
    if every:
        console.print(models)
    if len(every) > len(rows):
        console.print(f"[dim]... and {plural(len(every) - len(rows), 'more model')} (probe --json lists them all)[/]")
    if uniform and every and limits != {(None, None)}:
        rpm, tpm = next(iter(limits))
        console.print(f"Limits for every model: {_num(rpm)} RPM, {_num(tpm)} TPM")
    console.print(f"[dim]{plural(data['probe_requests'], 'HTTP request')} sent by the probe[/]")
    console.print(closing_line(check))


def _table(title: str, columns: tuple[str, ...], *, no_wrap: bool = False) -> Table:
    """A table that wraps its cells at spaces; only a word wider than its whole column is cut. The first
    column (and every column with ``no_wrap``: numbers) never wraps."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for i, col in enumerate(columns):
        table.add_column(col, overflow="fold", no_wrap=no_wrap or i == 0)
    return table


def _num(value: object) -> str:
    """A count by the one formatter (``-`` when unknown)."""
    return "-" if value is None else count(value) if isinstance(value, (int, float)) else _clean(value)


def _usd(value: object) -> str:
    """Dollars with 2 decimals, the unit in the column header (``-`` when unknown)."""
    return "-" if value is None else format_cell("usd", value)
