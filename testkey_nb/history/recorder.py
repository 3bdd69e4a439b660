"""The one writer: what the rendering process does with the history around each key's render.

Before a render, :meth:`Recorder.context` gives the kernel the key's earlier snapshots as data (a JSON
string, a notebook parameter: never the key, never the database). After it, :meth:`Recorder.record`
joins the index row and the kernel's facts into a snapshot, computes the changes since the key's
previous snapshot, its runway and its alerts, appends the snapshot and returns the row with
``changes``, ``runway`` and ``alerts`` filled in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from testkey_nb.history.diff import Change
from testkey_nb.history.runway import runway_for
from testkey_nb.history.snapshot import Snapshot, build_snapshot
from testkey_nb.history.store import HistoryStore, default_history_path

__all__ = ["CONTEXT_SNAPSHOTS", "HistorySettings", "Recorder", "alerts_for"]

#: How many earlier snapshots of a key its report gets (its timeline chart).
CONTEXT_SNAPSHOTS: Final = 30
#: How far back the runway from consecutive balances looks (snapshots of one key).
_LOOKBACK: Final = 200


@dataclass(frozen=True)
class HistorySettings:
    """``enabled=False`` is ``--no-history``; ``path`` None is ``<out>/.history/history.duckdb``."""

    enabled: bool = True
    path: Path | None = None
    alert_balance: float | None = None
    alert_limit_percent: float | None = None

    def resolve(self, out_dir: Path) -> Path:
        return Path(self.path) if self.path is not None else default_history_path(out_dir)


def alerts_for(snap: Snapshot, changes: list[Change], settings: HistorySettings) -> list[dict[str, Any]]:
    """The alerts of one snapshot.

    ``--alert-balance USD``: what remains is below USD. ``--alert-limit-percent N``: the key has used N %
    or more of its spending limit or of its granted credits, or a rate/token limit fell by N % or more
    since the previous check.
    """
    out: list[dict[str, Any]] = []
    balance = snap.balance or {}
    currency = balance.get("currency") or "USD"
    remaining = snap.balance_remaining
    if settings.alert_balance is not None and remaining is not None and remaining < settings.alert_balance:
        out.append({"alert": "balance", "message": f"balance {remaining:,.2f} {currency} is below "
                    f"{settings.alert_balance:,.2f} {currency}"})  # fmt: skip
    pct = settings.alert_limit_percent
    if pct is not None:
        used = balance.get("used")
        for name in ("limit", "granted"):
            cap = balance.get(name)
            if isinstance(used, (int, float)) and isinstance(cap, (int, float)) and cap > 0:
                share = 100.0 * used / cap
                if share >= pct:
                    out.append({"alert": "limit_used", "message": f"{share:,.1f} % of the {name} "
                                f"({cap:,.2f} {currency}) is used (alert at {pct:g} %)"})  # fmt: skip
                    break
        for change in changes:
            if not change.field.startswith("limits."):
                continue
            before, after = change.before, change.after
            if isinstance(before, (int, float)) and isinstance(after, (int, float)) and before > 0:
                drop = 100.0 * (before - after) / before
                if drop >= pct:
                    out.append({"alert": "limit_lowered", "message": f"{change.field} fell {drop:,.1f} % "
                                f"({before:,.0f} -> {after:,.0f})"})  # fmt: skip
    return out


class Recorder:
    """Opens the history for one batch (or one render) and keeps it open until :meth:`close`.

    The recorder's ``run_id`` is the idempotency key of its snapshots (with the label): a run whose
    process died (SIGKILL, power loss) before :meth:`close` is resumed by the next recorder
    (``resumed``), so a key recorded before the crash and rendered again is not counted twice.
    """

    def __init__(self, settings: HistorySettings, out_dir: Path) -> None:
        self.settings = settings
        self.path = settings.resolve(out_dir)
        self.store = HistoryStore(self.path)
        try:
            self.run_id, self.resumed = self.store.begin_run()
        except BaseException:
            self.store.close()
            raise

    def context(self, label: str) -> str:
        """The key's latest snapshots for its report, as a JSON string (``""`` when there are none)."""
        docs = self.store.last_docs(label, CONTEXT_SNAPSHOTS)
        if not docs:
            return ""
        payload = {"label": label, "snapshots": [_compact(json.loads(doc)) for doc in docs]}
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)

    def record(self, row: Mapping[str, Any], facts: Mapping[str, Any] | None) -> dict[str, Any]:
        """Append the snapshot of ``row`` (+ facts); return the row with changes, runway and alerts."""
        label = str(row.get("label"))
        snap = build_snapshot(row, facts)
        runway = None
        if not snap.failed:  # the daily usage needs no earlier snapshot; consecutive balances do
            by_usage = bool(snap.usage_daily) and snap.balance_remaining is not None
            runway = runway_for([snap] if by_usage else [*self.store.balances(label, _LOOKBACK), snap])
        snap, changes = self.store.add(snap.with_runway(runway), run_id=self.run_id)
        out = dict(row)
        out["changes"] = [c.as_dict() for c in changes]
        out["runway"] = runway
        out["alerts"] = alerts_for(snap, changes, self.settings)
        return out

    def close(self, *, finished: bool = True) -> None:
        """Close the database; ``finished`` marks the run done (a later run starts a new round)."""
        try:
            if finished:
                self.store.finish_run(self.run_id)
        finally:
            self.store.close()


def _compact(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A snapshot for the kernel: everything but the daily usage figures (not needed for the chart)."""
    return {k: v for k, v in snapshot.items() if k not in ("usage_daily",)}
