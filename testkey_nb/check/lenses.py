"""Three questions asked of the same evidence: inventory fit, onboarding readiness, commercial launch.

The lenses' verdict rules and actions are data (``lenses.toml`` beside this module); this module
computes the provider-neutral facts they speak of (:func:`lens_facts`) and applies the rules
(:func:`evaluate_lenses`). It never names a provider. Inventory fit is the decision of
:mod:`testkey_nb.check.decide`; the other two are rules over the facts. docs/lenses.md documents
the facts, the rules and the evidence grades they read.
"""

from __future__ import annotations

import functools
import re
import string
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from testkey_nb._format import count
from testkey_nb.check.decide import MIN_CONFIDENCE, Action, Decision
from testkey_nb.check.profile import Profile
from testkey_nb.identify.score import Identification

__all__ = [
    "DEFAULT_LENS",
    "LENS_NAMES",
    "LensError",
    "LensResult",
    "LensSpec",
    "check_lens",
    "evaluate_lenses",
    "lens_facts",
    "lens_specs",
]

LENS_NAMES: Final = ("inventory-fit", "onboarding-readiness", "commercial-launch")
DEFAULT_LENS: Final = "inventory-fit"
_VERDICTS: Final = ("ready", "needs_work", "reject")
_CONDITION = re.compile(r"^\s*(not\s+)?([a-z_]+)\s*(?:(==|!=|<=|>=|<|>)\s*(\S+))?\s*$")


class LensError(ValueError):
    """An unknown lens name, or a lens rule that does not parse."""


@dataclass(frozen=True)
class Rule:
    when: tuple[str, ...]
    verdict: str
    summary: str


@dataclass(frozen=True)
class ActionRule:
    when: tuple[str, ...]
    action: str
    reason: str
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class LensSpec:
    name: str
    title: str
    question: str
    from_decision: bool
    rules: tuple[Rule, ...]
    actions: tuple[ActionRule, ...]


@dataclass(frozen=True)
class LensResult:
    name: str
    title: str
    question: str
    verdict: str
    summary: str
    actions: tuple[Action, ...]

    def as_json(self) -> dict[str, Any]:
        """``{verdict, summary, actions, title, question}`` (the ``lenses`` object's value)."""
        return {"verdict": self.verdict, "summary": self.summary, "actions": [a.as_dict() for a in self.actions],
                "title": self.title, "question": self.question}  # fmt: skip


def check_lens(name: str | None) -> str:
    """``name`` if it is a lens (None or empty: the default), else :class:`LensError` naming the lenses."""
    if not name:
        return DEFAULT_LENS
    if name not in LENS_NAMES:
        raise LensError(f"unknown lens {name!r}: use one of {', '.join(LENS_NAMES)}")
    return name


@functools.cache
def lens_specs() -> tuple[LensSpec, ...]:
    """The lenses of ``lenses.toml``, in :data:`LENS_NAMES` order (checked once per process)."""
    data = tomllib.loads(resources.files("testkey_nb.check").joinpath("lenses.toml").read_text("utf-8"))
    lenses = data.get("lens", {})
    if sorted(lenses) != sorted(LENS_NAMES):
        raise LensError(f"lenses.toml: lenses {sorted(lenses)}, expected {sorted(LENS_NAMES)}")
    specs = []
    for name in LENS_NAMES:
        raw = lenses[name]
        rules = tuple(Rule(tuple(r.get("when", ())), str(r["verdict"]), str(r["summary"]))
                      for r in raw.get("verdict", []))  # fmt: skip
        actions = tuple(ActionRule(tuple(a.get("when", ())), str(a["action"]), str(a["reason"]),
                                   tuple(a.get("evidence", ()))) for a in raw.get("action", []))  # fmt: skip
        from_decision = raw.get("from") == "decision"
        if not from_decision and (not rules or rules[-1].when):
            raise LensError(f"lenses.toml: {name}'s last verdict rule must hold always (an empty `when`)")
        for rule in rules:
            if rule.verdict not in _VERDICTS:
                raise LensError(f"lenses.toml: {name}: verdict {rule.verdict!r} is not one of {_VERDICTS}")
        conditions = [c for r in rules for c in r.when] + [c for a in actions for c in a.when]
        for cond in conditions:
            if not _CONDITION.match(cond):
                raise LensError(f"lenses.toml: {name}: condition {cond!r} does not parse")
        specs.append(LensSpec(name, str(raw["title"]), str(raw["question"]), from_decision, rules, actions))
    return tuple(specs)


def lens_facts(
    profile: Profile, identification: Identification, history: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The provider-neutral facts the lenses' rules read. ``history``: the key's earlier index rows
    (oldest first), or None when no history was available."""
    ident = identification
    status = profile.status
    models = profile.models
    allowed = [m for m in models if m.allowed]
    priced = [m for m in allowed if m.priced]
    kinds = sorted({str(e.source) for e in ident.evidence if e.provider == ident.provider and e.weight > 0})
    grades = {c.name: c.grade for c in profile.capabilities}
    statuses = {c.name: c.status for c in profile.capabilities}
    tpm = profile.metrics.get("tokens_limit")
    plan = next((str(profile.workspace[k]) for k in ("plan", "tier") if profile.workspace.get(k)), "")
    role = profile.metrics["token_role"].value if "token_role" in profile.metrics else None
    balance = profile.balance
    past = list(history or [])
    past_statuses = [str(r.get("status") or "") for r in past]
    not_valid = sum(1 for s in past_statuses if s and s != "valid")
    money = ""
    if balance is not None and balance.remaining is not None:
        money = f"{balance.remaining:,.2f} {balance.currency or ''} remaining".replace("  ", " ")
    elif balance is not None:
        money = "a balance read"
    elif plan:
        money = f"plan {plan}"
    return {
        "status": status.code,
        "status_reason": status.reason,
        "status_unknown": status.code == "unknown",
        "key_refused": status.code in ("invalid", "revoked"),
        "no_quota": status.code == "valid_no_quota",
        "provider": ident.provider,
        "provider_known": ident.provider != "unknown",
        "claimed": ident.claimed or "",
        "claim_mismatch": bool(ident.claimed) and ident.matches_claim is False,
        "confidence": float(ident.confidence),
        "min_confidence": MIN_CONFIDENCE,
        "confident": ident.confidence >= MIN_CONFIDENCE,
        "conflicts": len(ident.conflicts),
        "evidence_sources": len(kinds),
        "evidence_kinds": " and ".join(k.replace("_", " ") for k in kinds) or "nothing",
        "listed_models": sum(1 for m in models if m.listed),
        "allowed_models": len(allowed),
        "priced_models": len(priced),
        "unpriced_models": len(allowed) - len(priced),
        "balance_read": balance is not None,
        "plan_known": bool(plan),
        "money_known": balance is not None or bool(plan),
        "money_text": money or "no balance or plan",
        "balance_grade": grades.get("balance", "invisible").replace("_", " "),
        "limits_observed": tpm is not None and tpm.provenance == "observed",
        "limits_source": (tpm.provenance if tpm is not None else "unknown") + (f", key role {role}" if role else ""),
        "tokens_per_minute_text": count(tpm.value) if tpm is not None and tpm.value is not None else "unknown",
        "route_verified": statuses.get("routing") == "verified",
        "routing_grade": grades.get("routing", "invisible").replace("_", " "),
        "history_known": bool(past),
        "past_checks": len(past),
        "past_not_valid": not_valid,
        "unstable": not_valid > 0,
        "stability_text": f"; stable over {len(past)} earlier check(s)" if past and not not_valid else "",
    }


def evaluate_lenses(
    profile: Profile,
    identification: Identification,
    decision: Decision,
    history: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, LensResult]:
    """All three lenses, by name (always all three, whichever one a report answers)."""
    facts = lens_facts(profile, identification, history)
    out: dict[str, LensResult] = {}
    for spec in lens_specs():
        if spec.from_decision:
            out[spec.name] = LensResult(spec.name, spec.title, spec.question, decision.verdict, decision.summary,
                                        decision.actions)  # fmt: skip
            continue
        rule = next(r for r in spec.rules if _holds(r.when, facts))
        actions = tuple(
            Action(a.action, _text(a.reason, facts), tuple(_text(e, facts) for e in a.evidence))
            for a in spec.actions
            if _holds(a.when, facts)
        )
        out[spec.name] = LensResult(spec.name, spec.title, spec.question, rule.verdict, _text(rule.summary, facts),
                                    actions)  # fmt: skip
    return out


def _holds(conditions: Sequence[str], facts: Mapping[str, Any]) -> bool:
    return all(_condition(c, facts) for c in conditions)


def _condition(text: str, facts: Mapping[str, Any]) -> bool:
    match = _CONDITION.match(text)
    if match is None:
        raise LensError(f"condition {text!r} does not parse")
    negate, name, op, literal = match.groups()
    if name not in facts:
        raise LensError(f"condition {text!r}: unknown fact {name!r}")
    value = facts[name]
    if op is None:
        result = bool(value)
    else:
        other = _literal(literal)
        if op in ("==", "!="):
            result = (value == other) == (op == "==")
        elif not isinstance(value, (int, float)) or not isinstance(other, (int, float)):
            raise LensError(f"condition {text!r}: {op} needs numbers")
        else:
            result = {"<": value < other, "<=": value <= other, ">": value > other, ">=": value >= other}[op]
    return not result if negate else result


def _literal(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return text


def _text(template: str, facts: Mapping[str, Any]) -> str:
    """``template`` filled from the facts (an unknown field is a rule error, not a silent blank)."""
    try:
        return string.Formatter().vformat(template, (), dict(facts))
    except (KeyError, ValueError) as exc:
        raise LensError(f"lens text {template!r}: {exc}") from None
