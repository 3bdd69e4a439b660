"""The capability matrix: for each of the ten capabilities, verified / denied / unsupported / unknown / error,
with the probes it rests on, and its evidence grade (:func:`grade_of`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal

from testkey_nb._labels import plural
from testkey_nb.check.facts import (
    ProviderFacts,
    balances_of,
)
from testkey_nb.check.profile.models import ModelRow
from testkey_nb.check.profile.observed import (
    CapStatus,
    ProviderView,
    _assumption_note,
    _chat_results,
    _first_ok,
    _reads,
    _sent,
    _sent_names,
)
from testkey_nb.check.profile.status import KeyStatus
from testkey_nb.identify.schema import CAPABILITIES as REGISTRY_CAPABILITIES
from testkey_nb.probe.observation import Observation


def capability_name(capability: str) -> str:
    """A registry capability id (``key_identity``) as the profile names it (``key identity``)."""
    return capability.replace("_", " ")


#: The ten capabilities as the profile and its reports name them: the registry's list
#: (:data:`testkey_nb.identify.schema.CAPABILITIES`, ``key_identity``) spelt with spaces (``key identity``).
CAPABILITIES: tuple[str, ...] = tuple(capability_name(c) for c in REGISTRY_CAPABILITIES)


Grade = Literal["confirmed", "partially_visible", "invisible", "not_exposed"]
#: The evidence grades, strongest first (docs/lenses.md states the rule).
GRADES: Final[tuple[Grade, ...]] = ("confirmed", "partially_visible", "invisible", "not_exposed")


@dataclass(frozen=True)
class Capability:
    name: str
    status: CapStatus
    evidence: str
    probes: tuple[str, ...] = ()
    #: the exchanges the status rests on (the answers of ``probes`` that were read)
    exchanges: tuple[str, ...] = ()
    #: how much of it this check saw: one of :data:`GRADES` (set by :func:`grade_of`)
    grade: Grade = "invisible"


def grade_of(status: str, support: str, partial: bool) -> Grade:
    """The evidence grade of one capability.

    ``not_exposed``: the provider offers no read-only way to see it (status ``unsupported``).
    ``invisible``: it may exist, but this check saw nothing of it (``denied``, ``unknown``, ``error``).
    ``partially_visible``: seen, but only in part: the provider's registry entry says its support is
    ``partial``, or what was read covers only part of it (some models judged or priced, documented
    limits beside no observed one).
    ``confirmed``: seen whole in an answer to a request this check sent (``verified``).
    """
    if status == "unsupported":
        return "not_exposed"
    if status != "verified":
        return "invisible"
    return "partially_visible" if partial or support == "partial" else "confirmed"


def _ex(*groups: object) -> tuple[str, ...]:
    """The exchange ids among ``groups`` (ids, observations or None), once each, in order."""
    out: list[str] = []
    for group in groups:
        items = group if isinstance(group, (list, tuple)) else [group]
        for item in items:
            ex = item if isinstance(item, str) else getattr(item, "exchange", None)
            if ex and ex not in out:
                out.append(ex)
    return tuple(out)


def _capabilities(
    by: Mapping[str, list[Observation]],
    observations: Sequence[Observation],
    status: KeyStatus,
    models: Sequence[ModelRow],
    facts: ProviderFacts,
    view: ProviderView,
) -> list[Capability]:
    def support(name: str) -> tuple[str, str]:
        return view.capabilities.get(name, ("unknown", ""))

    def unsupported_or(name: str, probes: Sequence[str], extra: str = "") -> Capability:
        level, note = support(name)
        if level == "unsupported":
            why = f"the provider exposes no read-only endpoint for this{': ' + note if note else ''}"
            return Capability(name, "unsupported", why + (f"; {extra}" if extra else ""), ())
        return _not_verified(name, [o for p in probes for o in by.get(p, [])])

    listed = [r for r in models if r.listed]
    allowed = [r for r in models if r.allowed]
    partial: set[str] = set()  # verified, but what was read covers only part of it
    refused = [r for r in models if r.allowed is False]
    caps: list[Capability] = []
    ident = facts.identity
    if ident is not None and ident.seen:
        who = ", ".join(f"{k}={v}" for k, v in (("user", ident.user), ("workspace", ident.workspace),
                                                  ("organization", ident.organization)) if v)  # fmt: skip
        caps.append(Capability("key identity", "verified", f"{who} ({ident.evidence})", _sent_names(by, ident.probes),
                               _ex(ident.exchanges)))  # fmt: skip
    else:
        caps.append(unsupported_or("key identity", _reads(view, "identity")))
    if listed:
        caps.append(Capability("model catalog", "verified", f"{len(listed)} models listed by /models", ("catalog",),
                               _ex(_first_ok(by, "catalog"))))  # fmt: skip
    else:
        caps.append(_not_verified("model catalog", by.get("catalog", [])))
    judged = [r for r in models if r.allowed is not None]
    if judged:
        if listed and len(judged) < len(listed):
            partial.add("model permission matrix")
        cited = tuple(dict.fromkeys(r.allowed_probe for r in judged if r.allowed_probe))
        caps.append(
            Capability(
                "model permission matrix", "verified",
                f"{len(allowed)} allowed, {len(refused)} refused of {len(judged)} models"
                + _assumption_note([o for o in observations if o.cost == "rejected"]),
                _sent_names(by, cited), _ex([r.allowed_exchange for r in judged]),
            )
        )  # fmt: skip
    else:
        caps.append(_not_verified("model permission matrix", [o for o in observations if o.cost == "rejected"]))
    ws = [lim for lim in facts.limits if lim.model is None]
    if ws:
        text = ", ".join(f"{lim.scope.replace('_', ' ')} {lim.value:,.0f} ({lim.provenance})" for lim in ws)
        if not any(lim.provenance == "observed" for lim in ws):
            partial.add("limit matrix")
        cited = tuple(dict.fromkeys(lim.probe for lim in ws if lim.probe))
        caps.append(Capability("limit matrix", "verified", text, _sent_names(by, cited),
                               _ex([lim.exchange for lim in ws])))  # fmt: skip
    else:
        cap = unsupported_or("limit matrix", _reads(view, "limits"))
        caps.append(Capability(cap.name, cap.status, cap.evidence + "; documented tiers shown for comparison",
                               cap.probes, cap.exchanges))  # fmt: skip
    with_features = [r for r in listed if r.features or r.context_length]
    if with_features:
        text = f"features/context for {len(with_features)} models from /models"
        caps.append(Capability("capability matrix", "verified", text, ("catalog",), _ex(_first_ok(by, "catalog"))))
    else:
        level, note = support("capability matrix")
        if level == "unsupported" and listed:
            caps.append(Capability("capability matrix", "unsupported", f"the catalog carries no features ({note})", ()))
        else:
            caps.append(_not_verified("capability matrix", by.get("catalog", [])))
    read = [b for b in balances_of(facts) if b.provenance in ("observed", "derived")]
    if read:
        texts = []
        for bal in read:
            figures = (("remaining", bal.remaining), ("granted", bal.granted), ("used", bal.used), ("limit", bal.limit))
            parts = [f"{k} {v:,.2f}" for k, v in figures if v is not None]
            texts.append(f"{bal.scope}: {bal.currency or ''} {', '.join(parts)}".replace("  ", " ").strip())
        caps.append(Capability("balance", "verified", "; ".join(texts),
                               _sent_names(by, [b.probe for b in read]), _ex([b.exchange for b in read])))  # fmt: skip
    else:
        level, note = support("balance")
        if level in ("unsupported", "partial") and not _reads(view, "balance"):
            extra = facts.notes.get("balance", "")
            # partial: the provider shows part of it (or shows it where this plan does not read): never worded as
            # if no endpoint existed (issue 19 #20)
            said = (f"no read-only balance endpoint ({note})" if level == "unsupported"
                    else f"not read by this plan: the provider's data marks the balance partial ({note})")  # fmt: skip
            caps.append(Capability("balance", "unsupported", said + (f"; {extra}" if extra else ""), ()))
        else:
            caps.append(_not_verified("balance", [o for p in _reads(view, "balance") for o in by.get(p, [])]))
    usage_probes = _reads(view, "usage")
    usage_ok = [p for p in usage_probes if any(o.outcome == "ok" for o in by.get(p, []))]
    if usage_ok:
        caps.append(Capability("usage and billing", "verified", f"usage read ({', '.join(usage_ok)})", tuple(usage_ok),
                               _ex([_first_ok(by, p) for p in usage_ok])))  # fmt: skip
    else:
        caps.append(unsupported_or("usage and billing", usage_probes))
    priced = [r for r in listed if r.priced]
    if priced:
        if len([r for r in allowed if r.priced]) < len(allowed):
            partial.add("pricing")
        price_probes = [p for p in _reads(view, "prices") if p != "catalog" and _first_ok(by, p)]
        extra = f"; also read {', '.join(price_probes)}" if price_probes else ""
        cited = tuple(dict.fromkeys([*(r.price_probe for r in priced if r.price_probe), *price_probes]))
        caps.append(Capability("pricing", "verified", f"{len(priced)} models priced per token{extra}",
                               _sent_names(by, cited),
                               _ex([r.price_exchange for r in priced],
                                   [_first_ok(by, p) for p in price_probes])))  # fmt: skip
    else:
        caps.append(unsupported_or("pricing", _reads(view, "prices") or ("catalog",)))
    chats = _chat_results(observations)
    routed = [o for o in chats.values() if o.accepted]
    if routed:
        where = next((facts.routed_to[o.item] for o in routed if o.item is not None and o.item in facts.routed_to),
                     None)  # fmt: skip
        caps.append(
            Capability(
                "routing", "verified",
                f"{plural(len(routed), 'model')} reached past auth" + (f" (e.g. routed to {where})" if where else ""),
                tuple(dict.fromkeys(o.probe for o in routed)), _ex(list(routed)),
            )
        )  # fmt: skip
    elif status.code == "invalid":
        caps.append(Capability("routing", "denied", "the provider refused the key", _sent_names(by, (status.probe,)),
                               _ex(status.exchange)))  # fmt: skip
    else:
        level, note = support("routing")
        if level == "unsupported":
            caps.append(Capability("routing", "unsupported", f"no routing choices exposed ({note})", ()))
        else:
            caps.append(_not_verified("routing", [o for o in observations if o.cost == "rejected"]))
    ops = _reads(view, "operations")
    ops_ok = [p for p in ops if _first_ok(by, p)]
    if ops_ok:
        caps.append(Capability("operational actions", "verified",
                               f"{', '.join(ops_ok)} readable for monitoring (writes are never exercised)",
                               tuple(ops_ok), _ex([_first_ok(by, p) for p in ops_ok])))  # fmt: skip
    else:
        caps.append(unsupported_or("operational actions", ops))
    return [replace(c, grade=grade_of(c.status, support(c.name)[0], c.name in partial)) for c in caps]


def _not_verified(name: str, obs: Sequence[Observation]) -> Capability:
    sent = _sent(obs)
    if not obs:
        return Capability(name, "unknown", "not probed for this provider", ())
    if not sent:
        return Capability(name, "unknown", f"not probed: {obs[0].detail or obs[0].outcome}", ())
    cited = tuple(dict.fromkeys(o.probe for o in sent))
    exchanges = _ex(list(sent))
    answered = [o.probe for o in sent if o.outcome == "ok"]
    if answered:
        return Capability(name, "unknown", f"{', '.join(dict.fromkeys(answered))} answered without it", cited,
                          exchanges)  # fmt: skip
    if any(o.outcome in ("refused", "unauthorized") for o in sent):
        o = next(o for o in sent if o.outcome in ("refused", "unauthorized"))
        return Capability(name, "denied", f"{o.probe}: {o.status} for this key", cited, exchanges)
    o = sent[0]
    return Capability(
        name, "error", f"{o.probe}: {o.status or o.outcome}" + (f" ({o.detail})" if o.detail else ""), cited,
        exchanges,
    )
