"""What the observations say, read the same way by every part of the profile: which were sent, which
model calls count, which answer proves the key; and :class:`ProviderView`, the provider as the profile sees it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from testkey_nb.identify.schema import NoQuotaRule, PostAuthRule
from testkey_nb.identify.score import _all_hold
from testkey_nb.probe.observation import Observation

CapStatus = Literal["verified", "denied", "unsupported", "unknown", "error"]


# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProviderView:
    """What the registry says about the provider, as the profile needs it (never its name).

    ``capabilities``: capability -> (support, note) at provider level; ``authenticated``: probes whose
    endpoint the provider authenticates (a 200 there proves the key); ``reads``: what each kind of fact
    (identity, limits, balance, usage, prices, operations) is read by; ``scheme_settled``: the key went in
    the identified provider's own auth scheme (False when no provider was identified)."""

    capabilities: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    authenticated: frozenset[str] = frozenset()
    reads: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    scheme_settled: bool = True
    #: answers that mean "valid key, the account cannot pay" (see ``NoQuotaRule``)
    no_quota: tuple[NoQuotaRule, ...] = ()
    #: how the provider bills beyond per-token prices (``BillingSpec.metering``; "" when its data says nothing)
    billing: str = ""
    #: the auth schemes the key was sent in (labels), named when the scheme is not settled
    schemes_tried: tuple[str, ...] = ()
    #: errors the provider gives only after auth (see ``PostAuthRule``): such an answer proves the key
    post_auth: tuple[PostAuthRule, ...] = ()


def _requalify(o: Observation, rules: Sequence[NoQuotaRule]) -> Observation:
    """A model call the provider answered with its documented "cannot pay" answer is a 402 by another name."""
    if o.cost not in ("rejected", "billable") or o.status is None or o.outcome == "payment_required":
        return o
    for rule in rules:
        if (not rule.status or o.status in rule.status) and _all_hold(rule.body, o.json_body, 4096):
            note = f"the provider's documented no-quota answer ({o.status}){': ' + rule.source if rule.source else ''}"
            return replace(o, outcome="payment_required", accepted=False, detail=note)
    return o


def _after_auth(chats: Sequence[Observation], rules: Sequence[PostAuthRule]) -> tuple[Observation, str] | None:
    """The first model call answered with one of the provider's documented after-auth errors, and its source."""
    for o in chats:
        for rule in rules:
            if o.status is not None and (not rule.status or o.status in rule.status) and rule.body and _all_hold(
                rule.body, o.json_body, 4096
            ):
                return o, rule.source
    return None


def _group(observations: Iterable[Observation]) -> dict[str, list[Observation]]:
    out: dict[str, list[Observation]] = {}
    for o in observations:
        out.setdefault(o.probe, []).append(o)
    return out


def _sent(obs: Iterable[Observation]) -> list[Observation]:
    return [o for o in obs if o.status is not None and o.outcome not in ("skipped", "deadline")]


def _reads(view: ProviderView, *kinds: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p for k in kinds for p in view.reads.get(k, ())))


def _auth_proof(observations: Sequence[Observation], authenticated: frozenset[str]) -> Observation | None:
    """The first 200 from an endpoint the provider authenticates: proof that the key is valid."""
    return next((o for o in observations if o.probe in authenticated and o.outcome == "ok" and o.status == 200), None)


def _assumption_note(observations: Sequence[Observation]) -> str:
    """The assumption the answers of these (sent) probes rest on, as a note for the evidence text."""
    rests_on = next((o.assumption for o in observations if o.assumption and o.attempts), None)
    return f" ({rests_on})" if rests_on else ""


def _chats(observations: Sequence[Observation]) -> list[Observation]:
    """Model calls that were sent: refused-by-design ones, and billable ones that were answered."""
    return [
        o for o in _sent(observations)
        if o.cost == "rejected" or (o.cost == "billable" and o.accepted)
    ]  # fmt: skip


def _chat_results(observations: Sequence[Observation]) -> dict[str, Observation]:
    """model id -> the sent refused-by-design call that says whether it may be called (an accepted one wins)."""
    out: dict[str, Observation] = {}
    for o in _sent(observations):
        if o.cost != "rejected" or not o.item or o.placeholder:
            continue
        prev = out.get(o.item)
        if prev is None or _weight(o) > _weight(prev):
            out[o.item] = o
    return out


def chats_probes(chats: Mapping[str, Observation]) -> set[str]:
    return {o.probe for o in chats.values()}


def _weight(o: Observation) -> int:
    """How much a model call says about the model: accepted > refused or unpaid > other > 404 (which may be
    a path the host does not serve as much as a model it does not know)."""
    if o.accepted:
        return 3
    if o.outcome in ("refused", "unauthorized", "payment_required"):
        return 2
    return 0 if o.outcome == "not_found" else 1


def _statuses(obs: Sequence[Observation]) -> str:
    return ", ".join(sorted({f"{o.probe}={o.status or o.outcome}" for o in obs}))


def said_text(body: Any, limit: int = 120) -> str:
    """What an error body said, as words for a sentence: ``, "please check the api-key you provided"`` from
    ``{'error': 'please check ...'}`` (the message of ``error``, ``error.message``, ``message`` or
    ``detail``); another body as compact JSON; nothing for no body. Never a Python repr."""
    import json

    if body is None or body == "":
        return ""
    message: Any = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            message = err.get("message") or err.get("type")
        elif isinstance(err, str):
            message = err
        message = message or body.get("message") or body.get("detail")
        if isinstance(message, (dict, list)):
            message = None
    text = str(message) if message else json.dumps(body, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rsplit(" ", 1)[0] + " …"
    return f', "{text}"' if message else f": {text}"


def _short(value: Any, limit: int = 120) -> str:
    text = str(value) if value is not None else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_ok(by: Mapping[str, list[Observation]], name: str) -> Observation | None:
    return next((o for o in by.get(name, []) if o.outcome == "ok"), None)


def _sent_names(by: Mapping[str, list[Observation]], probes: Iterable[str | None]) -> tuple[str, ...]:
    """Only the probes that were really sent may be cited."""
    return tuple(p for p in dict.fromkeys(probes) if p and _sent(by.get(p, [])))
