"""Profile -> onboarding verdict and operational actions, each with its reason and evidence.

The actions are the probe page's: add provider config, fill pricing, import inventory, set route,
add monitoring, send to human review. The verdict is ``ready``, ``needs_work`` or ``reject``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from testkey_nb._format import count, usd
from testkey_nb._labels import plural
from testkey_nb.check.profile import Profile
from testkey_nb.check.profile.status import REGION_HINT
from testkey_nb.identify.score import evidence_conflicts

__all__ = ["ACTIONS", "MIN_CONFIDENCE", "Action", "Decision", "decide"]

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
class Action:
    action: str
    reason: str
    evidence: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"action": self.action, "reason": self.reason, "evidence": list(self.evidence)}


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    summary: str
    actions: tuple[Action, ...]


def decide(profile: Profile, *, inference_url: str | None = None) -> Decision:
    ident = profile.identification
    status = profile.status
    actions: list[Action] = []
    review: list[str] = []
    review_evidence: list[str] = []

    # who serves it
    if ident.provider == "unknown":
        review.append("the endpoint matches no known provider")
        review_evidence.append("identification: unknown")
    elif ident.confidence < MIN_CONFIDENCE:
        review.append(f"provider {ident.provider} identified with low confidence ({ident.confidence:.2f})")
        review_evidence.append(f"identification: {ident.provider} {ident.confidence:.2f}")
    if ident.claimed and ident.matches_claim is False:
        review.append(f"endpoint claims {ident.claimed}, evidence says {ident.provider}")
        review_evidence.extend(_evidence_lines(ident.evidence))
    # another provider's specific markers (docs/identification.md); a contradicted claim has its reason above
    for conflict in evidence_conflicts(ident):
        review.append(f"conflicting evidence: {conflict}")
    if status.code == "unknown" and status.reason not in ("geo_blocked", "waf"):
        review.append(f"the probe could not tell whether the key works ({status.reason}: {status.detail})")
        review_evidence.append(f"status: unknown/{status.reason}")
    if status.reason == "spent":
        review.append(
            "the endpoint answered a call built to be refused (an empty message list), so it cost money and does "
            f"not behave as documented; every further model call was stopped ({status.detail})"
        )
        review_evidence.append("status: valid/spent")
    elif status.code == "valid_no_quota" and status.reason == "no_plan":
        review.append(f"the key works but its plan window is used up or absent: it recovers when the window resets, "
                      f"or with a plan that covers it; not an invalid key ({status.detail})")
        review_evidence.append("status: valid_no_quota/no_plan")
    elif status.code == "valid_no_quota":
        review.append(f"the key works but the account has no money left: top up (add credits or a payment "
                      f"method); not an invalid key ({status.detail})")
        review_evidence.append(f"status: valid_no_quota/{status.reason}")
    elif status.reason == "geo_blocked":
        review.append(f"the provider refuses calls from this route or region: check from an allowed region or the "
                      f"provider's other route; not an invalid key ({status.detail})")
        review_evidence.append(f"status: {status.code}/geo_blocked")
    elif status.reason == "waf":
        review.append("a firewall or proxy answered with an HTML page where the provider answers JSON: check the "
                      "base URL, or probe from another network; the key itself was not judged")
        review_evidence.append("status: unknown/waf")
    elif status.code == "rate_limited":
        review.append("every model call was rate limited: check the workspace's tier and traffic")
        review_evidence.append("status: rate_limited")

    if status.code == "invalid" and REGION_HINT in status.detail:
        # keys are regional: a key of the other region is refused here exactly like a bad one
        actions.append(Action(
            "send to human review",
            f"refused on this region's host, and keys are regional at {ident.provider}: check the key on the "
            f"other region's host before rejecting it ({status.detail.split(REGION_HINT, 1)[1].strip()})",
            ("status: invalid/refused", *review_evidence),
        ))  # fmt: skip
        return Decision("needs_work", f"refused on this region's host; try the other region's: {status.detail}",
                        tuple(actions))  # fmt: skip
    if status.code in ("invalid", "revoked"):
        actions.append(
            Action(
                "send to human review",
                f"the key was refused: {status.detail}. Ask the owner for a working key; do not onboard",
                ("status: " + status.code, *review_evidence),
            )
        )
        return Decision("reject", f"key {status.code}: {status.detail}", tuple(actions))

    allowed = [m for m in profile.models if m.allowed]
    priced = [m for m in allowed if m.priced]
    unpriced = [m for m in allowed if not m.priced]
    metrics = profile.metrics

    # a provider config at a URL that gave no usable answer (a hanging host, a base URL without /v1) is advice
    # to configure the wrong URL: only an answering host is worth configuring
    if ident.provider != "unknown" and status.code != "unknown":
        base = f" at {inference_url}" if inference_url else ""
        actions.append(
            Action(
                "add provider config",
                f"identified as {ident.provider} (confidence {ident.confidence:.2f}){base}",
                tuple(_evidence_lines(ident.evidence)[:4]),
            )
        )
    if allowed:
        if unpriced:
            names = ", ".join(m.model for m in unpriced[:5])
            actions.append(
                Action(
                    "fill pricing",
                    f"{plural(len(unpriced), 'allowed model')} {'has' if len(unpriced) == 1 else 'have'} no published "
                    f"price: {names}; fill {'it' if len(unpriced) == 1 else 'them'} by hand",
                    ("catalog: pricing missing",),
                )
            )
        if priced:
            actions.append(
                Action(
                    "fill pricing",
                    f"{plural(len(priced), 'allowed model')} priced from /models (USD per token, observed)",
                    ("catalog",),
                )
            )
            actions.append(
                Action(
                    "import inventory",
                    f"{plural(len(priced), 'model')} allowed and priced: {', '.join(m.model for m in priced[:5])}"
                    + (f", and {len(priced) - 5} more" if len(priced) > 5 else ""),
                    ("permission_matrix", "catalog"),
                )
            )
            first = priced[0]
            tpm = metrics["tokens_limit"]
            limit = f", {count(tpm.value)} TPM ({tpm.provenance})" if tpm.value is not None else ", limits unknown"
            others = f" (and the {plural(len(priced) - 1, 'other allowed model')})" if len(priced) > 1 else ""
            actions.append(
                Action(
                    "set route",
                    f"route {first.model}{others} to {ident.provider}{limit}",
                    (f"permission_matrix: {first.allowed_evidence}",),
                )
            )
    monitoring = _monitoring(profile)
    if monitoring:
        actions.append(monitoring)

    if review:
        actions.append(Action("send to human review", "; ".join(review), tuple(review_evidence)))

    if status.code == "valid_not_scoped":
        role = metrics["token_role"].value
        summary = f"the key authenticates but may call none of the probed models (role {role or 'unknown'})"
        verdict: Verdict = "reject" if _cannot_infer(role) else "needs_work"
        if verdict == "needs_work":
            actions.append(
                Action(
                    "send to human review",
                    "the key is valid but no probed model accepts it: ask which models it is scoped to",
                    ("status: valid_not_scoped",),
                )
            )
        return Decision(verdict, summary, tuple(actions))

    limits_known = metrics["tokens_limit"].provenance == "observed"
    ready = (
        status.code == "valid"
        and not review
        and bool(priced)
        and not unpriced
        and ident.confidence >= MIN_CONFIDENCE
    )
    if ready and limits_known:
        return Decision(
            "ready", f"{plural(len(priced), 'model')} allowed and priced; limits observed", tuple(actions)
        )
    gaps = []
    if not priced:
        gaps.append("no model both allowed and priced")
    if unpriced:
        gaps.append(f"{plural(len(unpriced), 'allowed model')} unpriced")
    if not limits_known:
        gaps.append("rate limits not readable")
    gaps.extend(review)
    return Decision("needs_work", "; ".join(gaps) or "see actions", tuple(actions))


def _key_usage_figures(profile: Profile) -> tuple[str, tuple[str, ...]]:
    """What this key used, as the monitoring action names it (and the exchange it came from)."""
    ku = profile.key_usage
    if ku is None:
        return "", ()
    parts = []
    if ku.requests is not None:
        parts.append(f"{count(ku.requests)} requests, {count(ku.input_tokens)} input and "
                     f"{count(ku.output_tokens)} output tokens")  # fmt: skip
    if ku.cost is not None and ku.burn_per_day is not None:
        parts.append(f"{usd(float(ku.cost))} (burn {usd(float(ku.burn_per_day))} per day)")
    models = ", ".join(ku.models_used[:3]) + (" ..." if len(ku.models_used) > 3 else "")
    used = f" on {models}" if models else ""
    text = (f"; this key used {' and '.join(parts)}{used} from {ku.start.isoformat()} to {ku.end.isoformat()}: "
            "alert when its requests, tokens or burn per day move")  # fmt: skip
    return text, (f"key_usage: {ku.probe} ({ku.exchange})",)


def _monitoring(profile: Profile) -> Action | None:
    readable = profile.raw.get("readable", {})
    sources = [name for name, state in readable.items() if state == "readable"]
    if sources:
        role = profile.metrics["token_role"].value
        used, evidence = _key_usage_figures(profile)
        return Action(
            "add monitoring",
            f"this key can read {', '.join(sources)}: watch {'it' if len(sources) == 1 else 'them'} between checks"
            + (f" (a {role} key: use it for monitoring, not inference)" if _cannot_infer(role) else "")
            + used,
            (*sources, *evidence),
        )
    if profile.status.code == "valid":
        return Action(
            "add monitoring",
            "usage is not readable with this key: monitor from the caller side (request counts, 429s, latency)",
            ("usage: not readable",),
        )
    return None


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
