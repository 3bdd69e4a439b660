"""The one mapping from the product's enums to the words people read.

The JSON keeps the codes (``needs_work``, ``valid_not_scoped``: contracts); every place a person reads
them (the report, the fleet index, the terminal, the Lab card) goes through :func:`label`, so a code
reads the same everywhere. Codes not listed read as themselves with ``_`` turned into spaces, never
as a raw identifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = ["LABELS", "label", "labels_for", "plural"]

#: kind -> code -> words. Kinds: verdict, status, status_reason, capability_status, provenance, grade,
#: cost (a probe's cost class), outcome (a probe's outcome), lens, role (a key's role).
LABELS: Final[Mapping[str, Mapping[str, str]]] = {
    "verdict": {
        "ready": "ready",
        "needs_work": "needs work",
        "reject": "reject",
        "failed": "check failed",
        "unknown": "no verdict",
    },
    "status": {
        "valid": "valid",
        "invalid": "invalid",
        "revoked": "revoked",
        "valid_no_quota": "valid, no credits",
        "valid_not_scoped": "valid, no model allowed",
        "rate_limited": "rate limited",
        "unknown": "could not tell",
    },
    "status_reason": {
        "authenticated": "an authenticated endpoint answered",
        "accepted": "accepted",
        "after_auth": "an error given only after auth",
        "spent": "a model call was answered",
        "payment_required": "payment required",
        "waf_html": "an HTML error page answered",
        "waf": "a firewall's HTML page answered",
        "geo_blocked": "blocked for this region",
        "no_balance": "no money left: top up",
        "no_plan": "no plan window left: it resets",
        "rate_limited": "rate limited",
        "429": "rate limited (429)",
        "no_model_allowed": "no probed model allowed",
        "refused": "refused by the provider",
        "scheme_not_settled": "auth scheme not settled",
        "network": "no answer from the host",
        "5xx": "server errors (5xx)",
        "unexpected_status": "unexpected answers",
    },
    "capability_status": {
        "verified": "verified",
        "denied": "denied",
        "unsupported": "unsupported",
        "unknown": "unknown",
        "error": "error",
    },
    "provenance": {
        "observed": "observed",
        "derived": "derived",
        "documented": "documented",
        "given": "given by you",
        "unknown": "unknown",
    },
    "grade": {
        "confirmed": "confirmed",
        "partially_visible": "partially visible",
        "invisible": "invisible",
        "not_exposed": "not exposed",
    },
    "cost": {"read": "read", "rejected": "refused by design", "billable": "billable"},
    "outcome": {
        "ok": "answered",
        "refused": "refused",
        "unauthorized": "unauthorized",
        "not_found": "not found",
        "client_error": "client error",
        "payment_required": "payment required",
        "rate_limited": "rate limited",
        "server_error": "server error",
        "waf_html": "HTML error page",
        "bad_json": "unreadable JSON",
        "too_large": "answer too large",
        "redirect_other_host": "redirect to another host",
        "redirect_not_followed": "redirect not followed",
        "timeout": "timed out",
        "network": "no answer",
        "deadline": "deadline reached",
        "skipped": "skipped",
    },
    "lens": {
        "inventory-fit": "inventory fit",
        "onboarding-readiness": "onboarding readiness",
        "commercial-launch": "commercial launch",
    },
    "role": {
        "full-access": "full access",
        "metrics-only": "metrics only",
        "inference-only": "inference only",
        "personal": "personal",
    },
}


def label(kind: str, code: Any) -> str:
    """The words for ``code`` of enum ``kind`` (``label("status", "valid_not_scoped")`` -> "valid, no model
    allowed"); ``None`` -> "unknown"; a code not in the mapping -> itself with ``_`` as spaces."""
    if code is None or code == "":
        return "unknown"
    text = str(code)
    return LABELS.get(kind, {}).get(text) or text.replace("_", " ")


def labels_for(kind: str) -> dict[str, str]:
    """The whole mapping of one kind (for a page's JavaScript: the index labels its filters with it)."""
    return dict(LABELS.get(kind, {}))


def plural(n: Any, word: str, words: str | None = None) -> str:
    """``1 model``, ``3 models``, ``1,234 requests``; ``words`` for an irregular plural. Never "model(s)"."""
    from testkey_nb._format import count

    many = words or (word[:-1] + "ies" if word.endswith("y") and word[-2:-1] not in "aeiou" else word + "s")
    return f"{count(n)} {word if n == 1 else many}"
