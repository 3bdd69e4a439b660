"""Profile -> the inventory-fit verdict and operational actions, each with its reason and evidence.

The rules are data: the inventory-fit lens of ``lenses.toml`` (applied by
:mod:`testkey_nb.check.rules`); this module computes the provider-neutral facts they read. The actions
are the probe page's: add provider config, fill pricing, import inventory, set route, add monitoring,
send to human review. The verdict is ``ready``, ``needs_work`` or ``reject``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from testkey_nb._format import count, usd
from testkey_nb.check.profile import Profile
from testkey_nb.check.profile.status import REGION_HINT
from testkey_nb.check.rules import Action, evaluate, lens_rules
from testkey_nb.identify.score import evidence_conflicts

__all__ = ["ACTIONS", "MIN_CONFIDENCE", "Action", "Decision", "decide", "inventory_facts"]

Verdict = Literal["ready", "needs_work", "reject"]
ACTIONS = (
    "add provider config",
    "fill pricing",
    "import inventory",
    "set route",
    "add monitoring",
    "send to human review",
)
#: the confidence below which an identification sends the key to review (the lenses read it too)
MIN_CONFIDENCE = 0.6


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    summary: str
    actions: tuple[Action, ...]


def decide(profile: Profile, *, inference_url: str | None = None) -> Decision:
    """The inventory-fit verdict and actions: the rules of ``lenses.toml``'s inventory-fit lens over
    :func:`inventory_facts`."""
    outcome = evaluate(lens_rules()["inventory-fit"], inventory_facts(profile, inference_url=inference_url))
    return Decision(cast(Verdict, outcome.verdict), outcome.summary, outcome.actions)


def inventory_facts(profile: Profile, *, inference_url: str | None = None) -> dict[str, Any]:
    """The provider-neutral facts inventory fit's rules read (docs/lenses.md lists them)."""
    ident = profile.identification
    status = profile.status
    metrics = profile.metrics
    allowed = [m for m in profile.models if m.allowed]
    priced = [m for m in allowed if m.priced]
    unpriced = [m for m in allowed if not m.priced]
    tpm = metrics.get("tokens_limit")
    role = metrics["token_role"].value if "token_role" in metrics else None
    readable = profile.raw.get("readable", {})
    sources = [name for name, state in readable.items() if state == "readable"]
    region = status.code == "invalid" and REGION_HINT in status.detail
    lines = _evidence_lines(ident.evidence)
    return {
        "status": status.code,
        "status_reason": status.reason,
        "status_detail": status.detail,
        "status_unknown": status.code == "unknown",
        "key_refused": status.code in ("invalid", "revoked"),
        "region_refused": region,
        "region_hint_text": status.detail.split(REGION_HINT, 1)[1].strip() if region else "",
        "provider": ident.provider,
        "provider_known": ident.provider != "unknown",
        "confidence": ident.confidence,
        "min_confidence": MIN_CONFIDENCE,
        "confident": ident.confidence >= MIN_CONFIDENCE,
        "claimed": ident.claimed or "",
        "claim_mismatch": bool(ident.claimed) and ident.matches_claim is False,
        "conflicting": list(evidence_conflicts(ident)),
        "identification_evidence": lines,
        "identification_evidence_top": lines[:4],
        "inference_url": inference_url or "",
        "allowed_models": len(allowed),
        "priced_models": len(priced),
        "unpriced_models": len(unpriced),
        "unpriced_names": ", ".join(m.model for m in unpriced[:5]),
        "priced_names": ", ".join(m.model for m in priced[:5]),
        "priced_beyond_five": max(0, len(priced) - 5),
        "other_priced_models": max(0, len(priced) - 1),
        "first_priced": priced[0].model if priced else "",
        "first_priced_evidence": priced[0].allowed_evidence if priced else "",
        "limits_observed": tpm is not None and tpm.provenance == "observed",
        "tokens_limit_known": tpm is not None and tpm.value is not None,
        "tokens_limit_text": count(tpm.value) if tpm is not None and tpm.value is not None else "",
        "tokens_limit_provenance": tpm.provenance if tpm is not None else "unknown",
        "token_role": role,
        "token_role_text": f"{role or 'unknown'}",
        "metrics_only_role": _cannot_infer(role),
        "readable_sources": sources,
        "readable_sources_text": ", ".join(sources),
        "readable_count": len(sources),
        **_key_usage_facts(profile),
    }


def _key_usage_facts(profile: Profile) -> dict[str, Any]:
    """What this key used (its key-usage read), formatted, and the exchange it came from."""
    ku = profile.key_usage
    if ku is None:
        return {"key_usage": False, "ku_requests_known": False, "ku_cost_known": False, "ku_requests": "",
                "ku_input_tokens": "", "ku_output_tokens": "", "ku_cost": "", "ku_burn": "", "ku_models": "",
                "ku_start": "", "ku_end": "", "key_usage_evidence": []}  # fmt: skip
    cost_known = ku.cost is not None and ku.burn_per_day is not None
    return {
        "key_usage": True,
        "ku_requests_known": ku.requests is not None,
        "ku_cost_known": cost_known,
        "ku_requests": count(ku.requests) if ku.requests is not None else "",
        "ku_input_tokens": count(ku.input_tokens) if ku.requests is not None else "",
        "ku_output_tokens": count(ku.output_tokens) if ku.requests is not None else "",
        "ku_cost": usd(float(ku.cost)) if cost_known and ku.cost is not None else "",
        "ku_burn": usd(float(ku.burn_per_day)) if cost_known and ku.burn_per_day is not None else "",
        "ku_models": ", ".join(ku.models_used[:3]) + (" ..." if len(ku.models_used) > 3 else ""),
        "ku_start": ku.start.isoformat(),
        "ku_end": ku.end.isoformat(),
        "key_usage_evidence": [f"key_usage: {ku.probe} ({ku.exchange})"],
    }


def _cannot_infer(role: object) -> bool:
    """Whether a key of this role (``token_role``) may call no model, by the key types a provider's
    ``permissions.toml`` declares (a ``metrics-only`` key type with ``inference = false``)."""
    if not isinstance(role, str) or not role:
        return False
    from testkey_nb.identify.loader import load_registry

    for spec in load_registry().providers:
        for key_type in spec.permissions.key_types if spec.permissions else ():
            if key_type.role == role:
                return not key_type.inference
    return False


def _evidence_lines(evidence: Sequence[object]) -> list[str]:
    out = []
    for item in evidence:
        detail = getattr(item, "detail", None) or str(item)
        source = getattr(item, "source", "")
        out.append(f"{source}: {detail}" if source else detail)
    return out
