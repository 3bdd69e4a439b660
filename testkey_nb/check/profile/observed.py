"""What the observations say, read the same way by every part of the profile: which were sent, which
model calls count, which answer proves the key; and :class:`ProviderView`, the provider as the profile sees it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from testkey_nb.identify.match import all_hold, lookup
from testkey_nb.identify.outcomes import ErrorEnvelope, Outcomes, StatusRule
from testkey_nb.identify.schema import CatalogFields, NoQuotaRule, PostAuthRule
from testkey_nb.probe.observation import Observation, Outcome

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
    #: hosts and routes, status rules, the HTTP-200 error envelope (identify/outcomes.py)
    outcomes: Outcomes = field(default_factory=Outcomes)
    #: the base URL the key was checked on (its declared host's route and note)
    base_url: str = ""
    #: where the provider's /models items are and which field names each (``[catalog] items``/``id``)
    catalog: CatalogFields = field(default_factory=CatalogFields)


#: the outcome an answer takes when the provider's data says it means ``reason``
_REASON_OUTCOME: dict[str, Outcome] = {
    "no_balance": "payment_required", "no_plan": "payment_required", "invalid": "unauthorized",
    "rate_limited": "rate_limited", "waf": "waf_html", "geo_blocked": "client_error",
}  # fmt: skip


def _requalify(o: Observation, view: ProviderView) -> Observation:
    """An answer read the way the provider's data says, where its HTTP status does not say it:

    - an HTTP 200 whose body is the provider's error envelope (MiniMax ``base_resp.status_code`` != 0) is an
      error, not an answer that cost money: a model call refused so is refused after auth (it passed auth);
    - a ``[[status_rules]]`` answer means its reason (no_balance, no_plan, geo_blocked, waf, invalid,
      rate_limited): e.g. Zhipu's 1113 on HTTP 429 is money, not a rate limit; Perplexity's own HTML 401 is
      its refusal of the key, not a firewall page;
    - a model call answered with a documented ``[[no_quota]]`` answer is a 402 by another name.
    """
    if o.status is None:
        return o
    envelope = view.outcomes.error_envelope
    if envelope is not None and 200 <= o.status < 300 and _envelope_error(envelope, o):
        said = lookup(o.json_body, envelope.message) if envelope.message else None
        note = f"HTTP {o.status} with an error envelope ({'.'.join(envelope.path)} = " \
               f"{lookup(o.json_body, envelope.path)!r}{f': {said}' if isinstance(said, str) else ''})"
        model_call = o.cost in ("rejected", "billable")
        o = replace(o, outcome="client_error", accepted=model_call and o.cost == "rejected", spent=False,
                    usage=None, detail=note)  # fmt: skip
    rule = _status_rule(o, view.outcomes.status_rules)
    if rule is not None:
        if rule.reason in ("no_balance", "no_plan") and o.cost not in ("rejected", "billable"):
            return replace(o, reason=rule.reason)
        note = f"the provider's documented {rule.reason} answer ({o.status})" + (f": {rule.note}" if rule.note else "")
        return replace(o, outcome=_REASON_OUTCOME[rule.reason], accepted=False, spent=False, usage=None,
                       detail=note, reason=rule.reason)  # fmt: skip
    if o.cost not in ("rejected", "billable") or o.outcome == "payment_required":
        return replace(o, reason=o.reason or "no_balance") if o.outcome == "payment_required" else o
    for nq in view.no_quota:
        if (not nq.status or o.status in nq.status) and all_hold(nq.body, o.json_body, 4096):
            note = f"the provider's documented no-quota answer ({o.status}){': ' + nq.source if nq.source else ''}"
            return replace(o, outcome="payment_required", accepted=False, spent=False, usage=None, detail=note,
                           reason=nq.reason)  # fmt: skip
    return o


def _envelope_error(envelope: ErrorEnvelope, o: Observation) -> bool:
    return envelope.says_error(o.probe, o.json_body)


def _status_rule(o: Observation, rules: Sequence[StatusRule]) -> StatusRule | None:
    """The first status rule this answer meets: its status, and its body conditions or its text pattern (on a
    non-JSON body, or a JSON body that is a bare string)."""
    text = o.json_body if isinstance(o.json_body, str) else o.text_snippet
    for rule in rules:
        if rule.status and o.status not in rule.status:
            continue
        if rule.headers and not all_hold(rule.headers, {k.lower(): v for k, v in o.headers.items()}, 4096):
            continue
        if rule.body and all_hold(rule.body, o.json_body, 4096):
            return rule
        if not rule.body and rule.text is None:  # headers alone
            return rule
        if rule.text is not None and text and rule.text.search(text):
            return rule
    return None


def _after_auth(chats: Sequence[Observation], rules: Sequence[PostAuthRule]) -> tuple[Observation, str] | None:
    """The first model call answered with one of the provider's documented after-auth errors, and its source."""
    for o in chats:
        for rule in rules:
            if o.status is not None and (not rule.status or o.status in rule.status) and rule.body and all_hold(
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
