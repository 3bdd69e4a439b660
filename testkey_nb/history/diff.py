"""Changes between consecutive snapshots of a key: one :class:`Change` per field that differs.

Field names (the ``field`` of ``history --json`` and of ``index.json`` rows' ``changes``):

* ``status``, ``verdict``, ``provider``, ``key_valid``, ``token_role``, ``matches_claim``: the index
  row's values (of a failed render only ``status`` is compared: the rest is unknown, not changed);
* ``identity.user``, ``identity.workspace``, ``identity.organization``;
* ``models.removed`` (``before`` = the id, ``after`` = null) and ``models.added`` (the reverse), one
  change per model; ``models.allowed.<model>`` (``true`` -> ``false`` when a key lost a model it kept
  listing); ``prices.<model>`` (``{"in", "out"}`` USD per million tokens);
* ``limits.<scope>`` (``requests_per_minute``, ``tokens_per_minute``, ``requests_per_day``,
  ``tokens_per_day``); a limit the provider derived from another one (provenance ``derived``) is not
  compared, the one it rests on is;
* ``balance.remaining``, ``balance.granted``, ``balance.limit``, ``balance.currency``, and
  ``balance.used`` only where neither check knew what remains.

What one check could not read (its model list, a limit, its balance) is *unknown*, not a change: the
comparison goes back to the latest earlier snapshot that knew it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from testkey_nb.history.snapshot import Snapshot, format_time

__all__ = ["Change", "carry", "change_text", "changes_between", "changes_since", "known_state", "timeline_changes"]

_SCALARS: Final = ("status", "verdict", "provider", "key_valid", "token_role", "matches_claim")
_BALANCE: Final = ("remaining", "granted", "limit", "currency")


@dataclass(frozen=True)
class Change:
    at: str
    field: str
    before: Any
    after: Any

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "field": self.field, "before": self.before, "after": self.after}

    def text(self) -> str:
        """One line for a table or a tooltip: ``models.removed: zai-org/GLM-4.7``."""
        return change_text(self.as_dict())


def change_text(change: Mapping[str, Any]) -> str:
    """One line for a change given as a dict (an ``index.json`` row's ``changes`` item, or :meth:`Change.as_dict`)."""
    field = str(change.get("field"))
    if field == "models.removed":
        return f"models.removed: {change.get('before')}"
    if field == "models.added":
        return f"models.added: {change.get('after')}"
    return f"{field}: {_show(change.get('before'))} -> {_show(change.get('after'))}"


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_show(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def changes_between(before: Snapshot, after: Snapshot) -> list[Change]:
    """What changed from ``before`` to ``after`` (facets one of them does not know are skipped)."""
    at = format_time(after.rendered_at) or ""
    out: list[Change] = []

    def add(name: str, old: Any, new: Any) -> None:
        if not _same(old, new):
            out.append(Change(at, name, old, new))

    scalars = ("status",) if before.failed or after.failed else _SCALARS
    for name in scalars:
        add(name, before.get(name), after.get(name))
    if before.identity is not None and after.identity is not None:
        for name in sorted(set(before.identity) | set(after.identity)):
            if before.identity.get(name) is not None and after.identity.get(name) is not None:
                add(f"identity.{name}", before.identity.get(name), after.identity.get(name))
    if before.models is not None and after.models is not None:
        old = {m.id: m for m in before.models}
        new = {m.id: m for m in after.models}
        for model_id in sorted(old.keys() - new.keys()):
            out.append(Change(at, "models.removed", model_id, None))
        for model_id in sorted(new.keys() - old.keys()):
            out.append(Change(at, "models.added", None, model_id))
        for model_id in sorted(old.keys() & new.keys()):
            a, b = old[model_id], new[model_id]
            if a.allowed is not None and b.allowed is not None:
                add(f"models.allowed.{model_id}", a.allowed, b.allowed)
        for model_id in sorted(old.keys() & new.keys()):
            a, b = old[model_id], new[model_id]
            if not (_same(a.price_in, b.price_in) and _same(a.price_out, b.price_out)):
                out.append(Change(at, f"prices.{model_id}", {"in": a.price_in, "out": a.price_out},
                                  {"in": b.price_in, "out": b.price_out}))  # fmt: skip
    for scope in sorted(before.limits.keys() & after.limits.keys()):
        a, b = before.limits[scope], after.limits[scope]
        if "derived" in (a.get("provenance"), b.get("provenance")):
            continue
        add(f"limits.{scope}", a.get("value"), b.get("value"))
    if before.balance is not None and after.balance is not None:
        for name in _BALANCE:
            a, b = before.balance.get(name), after.balance.get(name)
            if a is not None and b is not None:
                add(f"balance.{name}", a, b)
        if before.balance.get("remaining") is None and after.balance.get("remaining") is None:
            a, b = before.balance.get("used"), after.balance.get("used")
            if a is not None and b is not None:
                add("balance.used", a, b)
    return out


def carry(known: Snapshot | None, snap: Snapshot) -> Snapshot:
    """``snap`` with what it did not know filled in from ``known`` (the facets a later check compares to)."""
    if known is None:
        return snap
    limits = {**known.limits, **snap.limits}
    balance = snap.balance
    if known.balance is not None:
        merged = dict(known.balance)
        merged.update({k: v for k, v in (snap.balance or {}).items() if v is not None})
        balance = merged
    row = snap.row
    if snap.failed and not known.failed:  # a failed render knows its status, nothing else
        row = {**known.row, "status": snap.get("status")}
    return replace(
        snap,
        row=row,
        models=snap.models if snap.models is not None else known.models,
        limits=limits,
        balance=balance,
        identity=snap.identity if snap.identity is not None else known.identity,
    )


def timeline_changes(snapshots: Sequence[Snapshot]) -> list[Change]:
    """Every change along one key's snapshots (oldest first), each against what was last known."""
    ordered = sorted(snapshots, key=lambda s: (s.rendered_at, s.id or 0))
    out: list[Change] = []
    known: Snapshot | None = None
    for snap in ordered:
        if known is not None:
            out.extend(changes_between(known, snap))
        known = carry(known, snap)
    return out


def known_state(snapshots: Sequence[Snapshot]) -> Snapshot | None:
    """The latest snapshot with what it did not know filled in from the earlier ones (None: no snapshots)."""
    known: Snapshot | None = None
    for snap in sorted(snapshots, key=lambda s: (s.rendered_at, s.id or 0)):
        known = carry(known, snap)
    return known


def changes_since(earlier: Sequence[Snapshot], snap: Snapshot) -> list[Change]:
    """The changes ``snap`` brings against a key's earlier snapshots (``[]`` when there are none)."""
    known = known_state(earlier)
    return changes_between(known, snap) if known is not None else []
