"""What one snapshot holds: a key's index row plus its model list, limits, balance and daily usage.

Two halves, on two sides of the render boundary:

* :func:`facts_from_check` runs in the notebook's kernel and reads the check it has in hand: the model
  list (ids, allowed, prices), the limits, the balance and the daily usage figures. It returns plain
  data (no key, no raw probe bodies) that the notebook hands to the renderer through its outbox.
* :func:`build_snapshot` runs in the parent (the batch runner or the ``render`` command) and joins the
  index row with those facts. Only the parent writes the history.

The summary fields ``identity``, ``balance``, ``balances`` and ``limits`` are read defensively: absent ->
null/[]. Money is read, never assumed: where a provider publishes no balance (Baseten), the snapshot has
none (a documented free grant is not a balance) unless the user gave one (``--credits-remaining``,
provenance ``given``); the headline ``balance`` carries the ``payment_method`` the user said, if any.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from testkey_nb.check.facts import number

if TYPE_CHECKING:
    from testkey_nb.check.result import KeyCheck

__all__ = [
    "FACTS_VERSION",
    "ROW_SCALARS",
    "ModelEntry",
    "Snapshot",
    "build_snapshot",
    "facts_from_check",
    "format_time",
    "parse_time",
]

FACTS_VERSION: Final = 1
#: Index-row fields a snapshot keeps as columns (and compares between checks).
ROW_SCALARS: Final = (
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
    "report",
    "error",
)
_BALANCE_FIELDS: Final = ("scope", "currency", "remaining", "granted", "used", "limit", "provenance", "probe",
                          "exchange", "note", "payment_method")  # fmt: skip
_BALANCE_TEXTS: Final = ("scope", "currency", "provenance", "probe", "exchange", "note", "payment_method")
#: the notes of the balances earlier versions assumed from Baseten's documented free grant: not balances
_ASSUMED_NOTES: Final = ("documented free credits", "a model call was refused with 402: the credits are exhausted",
                         "credits used in the usage window", "usage in the window had no credits applied")  # fmt: skip
_IDENTITY_FIELDS: Final = ("user", "workspace", "organization")


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 instant (``Z`` or an offset; a naive one is taken as UTC) -> aware UTC datetime."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str) and value.strip():
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return (dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt).astimezone(UTC)


def format_time(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class ModelEntry:
    """One model of a key's list: its id, whether this key may call it (None: not probed), its prices
    (USD per million input / output tokens; None: not published)."""

    id: str
    allowed: bool | None
    price_in: float | None
    price_out: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "allowed": self.allowed, "price_in": self.price_in, "price_out": self.price_out}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelEntry | None:
        model_id = data.get("id")
        if not isinstance(model_id, str) or not model_id:
            return None
        allowed = data.get("allowed")
        return cls(model_id, allowed if isinstance(allowed, bool) else None, number(data.get("price_in")),
                   number(data.get("price_out")))  # fmt: skip


@dataclass(frozen=True)
class Snapshot:
    """One key at one render. ``models`` is None when the key's model list could not be read (which
    is not the same as an empty list); ``limits`` maps a scope to ``{value, provenance, source}``."""

    label: str
    rendered_at: datetime
    row: Mapping[str, Any]
    models: tuple[ModelEntry, ...] | None = None
    limits: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: the headline balance (the most binding one read, or the one the user gave)
    balance: Mapping[str, Any] | None = None
    usage_daily: tuple[Mapping[str, Any], ...] | None = None
    identity: Mapping[str, Any] | None = None
    runway: Mapping[str, Any] | None = None
    id: int | None = None
    #: every balance read at this check (key, account, workspace; each currency as it is)
    balances: tuple[Mapping[str, Any], ...] = ()

    def get(self, name: str) -> Any:
        return self.row.get(name)

    @property
    def failed(self) -> bool:
        return self.row.get("error") is not None

    @property
    def balance_remaining(self) -> float | None:
        return number((self.balance or {}).get("remaining"))

    @property
    def allowed_ids(self) -> tuple[str, ...] | None:
        if self.models is None:
            return None
        return tuple(m.id for m in self.models if m.allowed)

    def with_runway(self, runway: Mapping[str, Any] | None) -> Snapshot:
        return replace(self, runway=dict(runway) if runway is not None else None)

    def to_json(self) -> dict[str, Any]:
        """The ``history --json`` snapshot object."""
        out: dict[str, Any] = {"rendered_at": format_time(self.rendered_at)}
        for name in ROW_SCALARS:
            out[name] = self.row.get(name)
        out["balance"] = dict(self.balance) if self.balance is not None else None
        out["balances"] = [dict(b) for b in self.balances]
        out["limits"] = [{"scope": s, **v} for s, v in self.limits.items()]
        out["models"] = [m.as_dict() for m in self.models] if self.models is not None else None
        out["identity"] = dict(self.identity) if self.identity is not None else None
        out["usage_daily"] = [dict(d) for d in self.usage_daily] if self.usage_daily is not None else None
        out["runway"] = dict(self.runway) if self.runway is not None else None
        return out

    @classmethod
    def from_json(cls, label: str, data: Mapping[str, Any]) -> Snapshot:
        """The inverse of :meth:`to_json` (what the kernel gets back as its history context)."""
        at = parse_time(data.get("rendered_at")) or datetime.fromtimestamp(0, UTC)
        row = {name: data.get(name) for name in ROW_SCALARS}
        facts = {
            "models": data.get("models"),
            "limits": data.get("limits"),
            "balance": data.get("balance"),
            "balances": data.get("balances"),
            "usage_daily": data.get("usage_daily"),
            "identity": data.get("identity"),
        }
        snap = build_snapshot({"label": label, **row}, facts, rendered_at=at)
        return snap.with_runway(data.get("runway") if isinstance(data.get("runway"), Mapping) else None)


# --- the parent's half ------------------------------------------------------------------------------------


def build_snapshot(
    row: Mapping[str, Any], facts: Mapping[str, Any] | None = None, *, rendered_at: datetime | None = None
) -> Snapshot:
    """Join an index row (:func:`testkey_nb.batch.fleet.index_row`) and the kernel's facts into a snapshot.

    A failed row (``error`` set) carries no facts: its model list, limits and balance are unknown.
    """
    facts = facts if isinstance(facts, Mapping) and row.get("error") is None else {}
    at = rendered_at or parse_time(row.get("rendered_at")) or datetime.now(UTC)
    models = _models(facts.get("models"))
    limits = _limits(facts.get("limits"))
    if "tokens_per_minute" not in limits and number(row.get("tokens_per_minute")) is not None and not row.get("error"):
        limits["tokens_per_minute"] = {"value": number(row.get("tokens_per_minute")), "provenance": "unknown",
                                       "source": "index row"}  # fmt: skip
    return Snapshot(
        label=str(row.get("label")),
        rendered_at=at,
        row={name: row.get(name) for name in ROW_SCALARS},
        models=models,
        limits=limits,
        balance=_balance(facts.get("balance")),
        usage_daily=_daily(facts.get("usage_daily")),
        identity=_identity(facts.get("identity")),
        balances=_balances(facts.get("balances")),
    )


def _models(value: Any) -> tuple[ModelEntry, ...] | None:
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        return None
    seen: dict[str, ModelEntry] = {}
    for item in value:
        entry = ModelEntry.from_dict(item) if isinstance(item, Mapping) else None
        if entry is not None and entry.id not in seen:
            seen[entry.id] = entry
    return tuple(sorted(seen.values(), key=lambda m: m.id))


def _limits(value: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        return out
    for item in value:
        if not isinstance(item, Mapping):
            continue
        scope, value = item.get("scope"), number(item.get("value"))
        if isinstance(scope, str) and scope and value is not None and scope not in out:
            out[scope] = {"value": value, "provenance": _text(item.get("provenance")) or "unknown",
                          "source": _text(item.get("source"))}  # fmt: skip
    return out


def _balance(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    out: dict[str, Any] = {}
    for name in _BALANCE_FIELDS:
        raw = value.get(name)
        out[name] = _text(raw) if name in _BALANCE_TEXTS else number(raw)
    if all(out[n] is None for n in ("remaining", "granted", "used", "limit")):
        return None
    if not out["exchange"] and (out["note"] or "").startswith(_ASSUMED_NOTES):
        return None  # recorded by an earlier version from a grant, never read: money is not assumed
    out["currency"] = out["currency"] or "USD"
    return out


def _balances(value: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        return ()
    return tuple(b for item in value if (b := _balance(item)) is not None)


def _daily(value: Any) -> tuple[dict[str, Any], ...] | None:
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        return None
    days: dict[str, float] = {}
    for item in value:
        if not isinstance(item, Mapping) or not isinstance(item.get("date"), str):
            continue
        usd = number(item.get("usd"))
        if usd is not None:
            days[item["date"][:10]] = days.get(item["date"][:10], 0.0) + usd
    return tuple({"date": d, "usd": round(days[d], 6)} for d in sorted(days))


def _identity(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    out = {
        name: value[name] if not isinstance(value[name], Mapping) else dict(value[name])
        for name in _IDENTITY_FIELDS
        if isinstance(value.get(name), (str, int, Mapping)) and not isinstance(value.get(name), bool)
    }
    return out or None


# --- the kernel's half ------------------------------------------------------------------------------------


def facts_from_check(check: KeyCheck) -> dict[str, Any]:
    """What the history needs of a check beyond its index row: plain data, no key, no raw bodies.

    ``models``: ids, allowed, prices (null when the model list could not be read); ``limits``: the
    summary's ``limits`` or, where absent, the profile's per-minute and per-day figures; ``balance``: the
    summary's headline balance (read, or given by the user; never a documented grant) with the user's
    ``payment_method``; ``balances``: every balance read; ``usage_daily``: USD per UTC day over the usage
    window (null when the usage could not be read).
    """
    summary = check.summary()
    profile = check.profile
    caps = {c.name: c.status for c in profile.capabilities}
    models = None
    if caps.get("model catalog") == "verified" or profile.models:
        models = [
            {"id": m.model, "allowed": m.allowed, "price_in": m.price_in_per_mtok, "price_out": m.price_out_per_mtok}
            for m in profile.models
        ]
    limits = summary.get("limits") if isinstance(summary.get("limits"), list) else _profile_limits(check)
    usage_daily = _profile_usage(check)
    balance = dict(summary["balance"]) if isinstance(summary.get("balance"), Mapping) else None
    if balance is not None and summary.get("payment_method"):
        balance["payment_method"] = summary["payment_method"]
    balances = [dict(b) for b in summary.get("balances") or [] if isinstance(b, Mapping)]
    identity = summary.get("identity") if isinstance(summary.get("identity"), Mapping) else None
    facts = {
        "version": FACTS_VERSION,
        "checked_at": check.checked_at,
        "models": models,
        "limits": limits,
        "balance": balance,
        "balances": balances,
        "usage_daily": usage_daily,
        "identity": identity,
    }
    plain: dict[str, Any] = json.loads(json.dumps(facts, default=str))
    return plain


def _profile_limits(check: KeyCheck) -> list[dict[str, Any]]:
    """The per-minute and per-day limits the profile already has, for a summary without ``limits``."""
    out: list[dict[str, Any]] = []
    metrics = check.profile.metrics
    for scope, name in (("tokens_per_minute", "tokens_limit"), ("tokens_per_day", "tokens_limit_day")):
        metric = metrics.get(name)
        if metric is not None and number(metric.value) is not None:
            out.append({"scope": scope, "value": metric.value, "provenance": metric.provenance, "source": metric.probe})
    rpms = {m.rpm for m in check.profile.models if m.allowed and m.rpm is not None and m.limits_provenance != "unknown"}
    if len(rpms) == 1:
        provenance = next(m.limits_provenance for m in check.profile.models if m.rpm in rpms)
        out.append({"scope": "requests_per_minute", "value": rpms.pop(), "provenance": provenance,
                    "source": "model_apis"})  # fmt: skip
    return out


def _profile_usage(check: KeyCheck) -> list[dict[str, Any]] | None:
    """USD per UTC day (dedicated + training + Model APIs), from the usage summary."""
    raw = dict(check.profile.raw)
    if (raw.get("readable") or {}).get("usage") != "readable" or not isinstance(raw.get("usage"), Mapping):
        return None
    from testkey_nb.billing.observed import from_usage_summary

    frames = from_usage_summary(dict(raw["usage"]))
    if not frames.readable:
        return None
    days: dict[str, float] = {}
    for frame in (frames.daily, frames.model_apis_daily):
        for rec in frame.select("date", "usd").iter_rows(named=True):
            if rec["date"] is not None and rec["usd"] is not None:
                key = rec["date"].isoformat()
                days[key] = days.get(key, 0.0) + float(rec["usd"])
    return [{"date": d, "usd": round(days[d], 6)} for d in sorted(days)]
