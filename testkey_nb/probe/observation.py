"""Observations: what one probe saw (status, headers, parsed body, outcome), scrubbed of the key."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from testkey_nb.secrets import Secret, redact

if TYPE_CHECKING:
    from testkey_nb.probe.plan import ProbeSpec

__all__ = [
    "ExchangeIds", "Observation", "Outcome", "make_observation", "outcome_for", "scrub", "spend_of", "spend_text",
]  # fmt: skip


Outcome = Literal[
    "ok",
    "refused",
    "unauthorized",
    "not_found",
    "client_error",
    "payment_required",
    "rate_limited",
    "server_error",
    "waf_html",
    "bad_json",
    "too_large",
    "redirect_other_host",
    "redirect_not_followed",
    "timeout",
    "network",
    "deadline",
    "skipped",
]


@dataclass(frozen=True)
class Observation:
    """What one probe saw. Holds no key: every string from the far end is scrubbed of it."""

    probe: str
    role: str
    method: str
    path: str
    cost: str
    item: str | None
    status: int | None
    outcome: Outcome
    accepted: bool | None
    latency_ms: float
    attempts: int
    headers: Mapping[str, str]
    json_body: Any
    text_snippet: str | None
    body_bytes: int
    detail: str | None = None
    #: the item was a placeholder (e.g. no catalog to take a model from): the answer says nothing
    #: about the key's access to a real model
    placeholder: bool = False
    #: a refused-by-design (or billable) call that the far end accepted and answered: it cost money
    spent: bool = False
    #: the token counts the answer reported (``usage``: prompt/completion/total tokens), when spent
    usage: Mapping[str, int] | None = None
    #: for a redirect that was not followed: where the far end asked to go (scrubbed)
    location: str | None = None
    #: what reading this answer rests on that no recording shows (the probe's ``assumption``)
    assumption: str | None = None
    #: how the key was presented (``Authorization: Bearer``, ``x-api-key``), never the key itself
    auth: str = ""
    #: the id of the request this observation saw (unique within one check, shared by every scheme
    #: trial of it): None when nothing was sent; a copy of a request two probes planned alike names the
    #: one exchange they share
    exchange: str | None = None
    #: what the provider's data says this answer means where its status does not (``no_balance``, ``no_plan``,
    #: ``geo_blocked``, ``waf``, ``invalid``, ``rate_limited``: identify/outcomes.py), set by the profile
    reason: str | None = None

    @property
    def sent(self) -> bool:
        return self.outcome not in ("skipped", "deadline") or self.attempts > 0

    def summary(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "item": self.item,
            "role": self.role,
            "method": self.method,
            "path": self.path,
            "cost": self.cost,
            "status": self.status,
            "outcome": self.outcome,
            "accepted": self.accepted,
            "latency_ms": round(self.latency_ms, 1),
            "attempts": self.attempts,
            "detail": self.detail,
            "spent": self.spent,
            "usage": dict(self.usage) if self.usage is not None else None,
            "location": self.location,
            "assumption": self.assumption,
            "auth": self.auth,
            "exchange": self.exchange,
        }


class ExchangeIds:
    """Numbers the exchanges of one check (``x1``, ``x2``, ...): one instance per check, handed to every
    engine of its scheme trials, so an id names one request sent and answered (or not) within it."""

    def __init__(self) -> None:
        self._n = 0

    def next(self) -> str:
        self._n += 1
        return f"x{self._n}"


def outcome_for(status: int, content_type: str, body_is_json: bool) -> Outcome:
    if "text/html" in content_type and status >= 400:
        return "waf_html"
    if 200 <= status < 300:
        return "ok" if body_is_json else "bad_json"
    if status == 401:
        return "unauthorized"
    if status == 403:
        return "refused"
    if status == 402:
        return "payment_required"
    if status == 404:
        return "not_found"
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    return "client_error"


def scrub(value: Any, secrets: Sequence[Secret]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    if isinstance(value, dict):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in value.items()}
    return value


def make_observation(
    spec: ProbeSpec,
    item: str | None,
    *,
    outcome: Outcome,
    started: float | None,
    attempts: int,
    status: int | None = None,
    accepted: bool | None = None,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    text_snippet: str | None = None,
    body_bytes: int = 0,
    detail: str | None = None,
    auth: str = "",
) -> Observation:
    return Observation(
        probe=spec.name,
        role=spec.role,
        method=spec.method,
        path=spec.path.replace("{item}", item or ""),
        cost=spec.cost,
        item=item,
        status=status,
        outcome=outcome,
        accepted=accepted,
        latency_ms=0.0 if started is None else (time.monotonic() - started) * 1000,
        attempts=attempts,
        headers=headers or {},
        json_body=json_body,
        text_snippet=text_snippet,
        body_bytes=body_bytes,
        detail=detail,
        assumption=spec.assumption,
        auth=auth,
    )


def spend_of(observations: Sequence[Observation]) -> dict[str, Any]:
    """What the run cost: the calls the far end answered (a refused-by-design call that came back 2xx, or
    a billable one), with the token counts their answers reported (``usage``), summed."""
    # a request two probes planned alike is sent once: its copy (attempts 0) is not a second cost
    spent = [o for o in observations if o.spent and o.attempts > 0]
    totals: dict[str, int | None] = {}
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        values = [o.usage.get(name) for o in spent if o.usage and name in o.usage]
        totals[name] = sum(v for v in values if v is not None) if values else None
    unexpected = [o for o in spent if o.cost == "rejected"]
    return {
        "calls": len(spent),
        **totals,
        "unreported_usage": sum(1 for o in spent if not o.usage),
        "unexpected": len(unexpected),
        "probes": [{"probe": o.probe, "item": o.item, "cost": o.cost, "usage": dict(o.usage or {})} for o in spent],
    }


def spend_text(spend: Mapping[str, Any]) -> str:
    """One line: how many calls were answered and the tokens they reported."""
    if not spend.get("calls"):
        return "nothing was spent"
    tokens = spend.get("total_tokens")
    cost = f"{tokens} tokens reported" if tokens is not None else "no token count reported"
    unreported = spend.get("unreported_usage") or 0
    if unreported and tokens is not None:
        cost += f" ({unreported} {'call' if unreported == 1 else 'calls'} reported none)"
    calls = spend["calls"]
    return f"{calls} {'call' if calls == 1 else 'calls'} answered, {cost}"
