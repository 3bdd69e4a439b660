"""Three questions asked of the same evidence: inventory fit, onboarding readiness, commercial launch.

The lenses' verdict rules and actions are data (``lenses.toml`` beside this module); this module
computes the provider-neutral facts they speak of (:func:`lens_facts`) and applies the rules
(:func:`evaluate_lenses`, by :mod:`testkey_nb.check.rules`). It never names a provider. Inventory fit
is the decision of :mod:`testkey_nb.check.decide` (its rules are in ``lenses.toml`` too, over the facts
decide.py computes); the other two are rules over the facts here. docs/lenses.md documents
the facts, the rules and the evidence grades they read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from testkey_nb._format import count
from testkey_nb._labels import label
from testkey_nb.check.decide import MIN_CONFIDENCE, Action, Decision
from testkey_nb.check.profile import Profile
from testkey_nb.check.rules import LensError, LensRules, condition, evaluate, lens_rules
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
#: one lens's rules as data (see :mod:`testkey_nb.check.rules`)
LensSpec = LensRules
_condition = condition


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


def lens_specs() -> tuple[LensSpec, ...]:
    """The lenses of ``lenses.toml``, in :data:`LENS_NAMES` order (checked once per process)."""
    rules = lens_rules()
    if sorted(rules) != sorted(LENS_NAMES):
        raise LensError(f"lenses.toml: lenses {sorted(rules)}, expected {sorted(LENS_NAMES)}")
    return tuple(rules[name] for name in LENS_NAMES)


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
        "balance_grade": label("grade", grades.get("balance", "invisible")),
        "limits_observed": tpm is not None and tpm.provenance == "observed",
        "limits_source": (tpm.provenance if tpm is not None else "unknown") + (f", key role {role}" if role else ""),
        "tokens_per_minute_text": count(tpm.value) if tpm is not None and tpm.value is not None else "unknown",
        "route_verified": statuses.get("routing") == "verified",
        "routing_grade": label("grade", grades.get("routing", "invisible")),
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
        outcome = evaluate(spec, facts)
        out[spec.name] = LensResult(spec.name, spec.title, spec.question, outcome.verdict, outcome.summary,
                                    outcome.actions)  # fmt: skip
    return out
