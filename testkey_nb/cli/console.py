"""Rich tables for a :class:`~testkey_nb.check.run.KeyCheck` in the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from testkey_nb._format import count, format_cell, plain_text
from testkey_nb.check.run import KeyCheck

_STATUS_STYLE = {
    "verified": "green",
    "denied": "red",
    "unsupported": "dim",
    "unknown": "yellow",
    "error": "red",
}
_VERDICT_STYLE = {"ready": "bold green", "needs_work": "bold yellow", "reject": "bold red"}


def _clean(value: object) -> str:
    """Escape rich markup and drop control characters from provider-controlled text."""
    text = "" if value is None else str(value)
    text = "".join(ch if ch.isprintable() or ch == " " else "\ufffd" for ch in text)
    return escape(text)


def _account_line(data: dict[str, object]) -> str:
    """Identity, balance and limits in one line (the JSON's ``identity``, ``balance``, ``limits``)."""
    ident = data.get("identity") or {}
    who = ", ".join(f"{k} {v}" for k, v in ident.items() if k != "evidence" and v) if isinstance(ident, dict) else ""
    bal = data.get("balance")
    money = (f"{bal.get('remaining')} {bal.get('currency') or ''} left ({bal.get('probe')})".strip()
             if isinstance(bal, dict) else "none readable")  # fmt: skip
    limits = data.get("limits") or []
    lims = ", ".join(f"{x['scope']} {x['value']:,}" for x in limits if isinstance(x, dict)) or "none readable"
    return f"  identity: {_clean(who or 'not seen')}; balance: {_clean(money)}; limits: {_clean(lims)}"


def print_check(check: KeyCheck, console: Console | None = None) -> None:
    console = console or Console()
    data = check.to_json()
    prov = data["provider"]
    claim = (
        f", claimed {prov['claimed']} ({'matches' if prov['matches_claim'] else 'does NOT match'})"
        if prov["claimed"]
        else ""
    )
    console.print(
        f"[bold]{_clean(check.label)}[/]  provider [bold]{_clean(prov['id'])}[/] "
        f"(confidence {prov['confidence']:.2f}{_clean(claim)})  status [bold]{_clean(data['status'])}[/] "
        f"({_clean(data['status_reason'])})"
    )
    for conflict in prov["conflicts"]:
        console.print(f"  [yellow]conflict:[/] {_clean(conflict)}")
    console.print(_account_line(data))

    metrics = Table(title="Sample metrics", show_lines=False)
    for col in ("metric", "value", "provenance", "probe", "note"):
        metrics.add_column(col, overflow="fold")
    for name, value in data["metrics"].items():
        p = data["provenance"][name]
        metrics.add_row(
            name, _clean(plain_text(value)), p["provenance"], _clean(p["probe"] or ""), _clean(p["note"])
        )
    console.print(metrics)

    caps = Table(title="Ten capabilities")
    for col in ("capability", "status", "evidence"):
        caps.add_column(col, overflow="fold")
    for c in data["capabilities"]:
        style = _STATUS_STYLE.get(c["status"], "")
        caps.add_row(c["capability"], f"[{style}]{c['status']}[/]", _clean(c["evidence"]))
    console.print(caps)

    models = Table(title=f"Models ({len(data['models'])})")
    for col in ("model", "allowed", "USD/Mtok in", "USD/Mtok out", "context (tokens)", "RPM", "TPM"):
        models.add_column(col, overflow="fold")
    for m in data["models"][:40]:
        models.add_row(
            _clean(m["model"]),
            {True: "yes", False: "no", None: "?"}[m["allowed"]],
            _usd(m["price_in_per_mtok"]),
            _usd(m["price_out_per_mtok"]),
            _num(m["context_length"]),
            _num(m["rpm"]),
            _num(m["tpm"]),
        )
    console.print(models)

    console.print(
        f"Verdict: [{_VERDICT_STYLE.get(data['verdict'], '')}]{data['verdict']}[/] - {_clean(data['verdict_summary'])}"
    )
    for action in data["actions"]:
        console.print(f"  - [bold]{action['action']}[/]: {_clean(action['reason'])}")
    console.print(f"[dim]{data['probe_requests']} HTTP requests sent by the probe[/]")


def _num(value: object) -> str:
    """A count by the one formatter (``-`` when unknown)."""
    return "-" if value is None else count(value) if isinstance(value, (int, float)) else _clean(value)


def _usd(value: object) -> str:
    """Dollars with 2 decimals, the unit in the column header (``-`` when unknown)."""
    return "-" if value is None else format_cell("usd", value)
