"""OpenRouter's answers -> provider-neutral facts: two balances (GET /key: the key's limit, scope ``key``;
GET /credits: the account's credits, scope ``account``), each citing its own request, limits,
the user id an error body carries, free-tier caps from the limits page.

Sources: https://openrouter.ai/docs/api/api-reference/api-keys/get-current-key (data.limit,
limit_remaining, usage*, is_free_tier), https://openrouter.ai/docs/api-reference/get-credits
(data.total_credits, total_usage, USD), https://openrouter.ai/docs/api_reference/limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from testkey_nb.check.facts import (
    Balance,
    Identity,
    InterpretContext,
    Limit,
    ProviderFacts,
    first_ok,
    header_facts,
    number,
    sent,
)
from testkey_nb.probe.observation import Observation

LIMITS_PAGE = "https://openrouter.ai/docs/api_reference/limits"
#: free-model caps on the limits page: 20 requests per minute; 50 requests per day without credits
FREE_RPM = 20
FREE_RPD = 50


def interpret(observations: Sequence[Observation], context: InterpretContext) -> ProviderFacts:
    facts = header_facts(observations, context)
    key = first_ok(observations, "key_info")
    credits = first_ok(observations, "credits")
    kd = key.json_body.get("data") if key is not None and isinstance(key.json_body, dict) else None
    cd = credits.json_body.get("data") if credits is not None and isinstance(credits.json_body, dict) else None
    kd = kd if isinstance(kd, dict) else None
    cd = cd if isinstance(cd, dict) else None
    balances: list[Balance] = []
    if kd is not None and number(kd.get("limit")) is not None:
        # the key's own credit limit (scope key): what the key may still spend = limit - usage of the key
        limit, used = number(kd.get("limit")), number(kd.get("usage"))
        assert key is not None and limit is not None
        balances.append(Balance(
            currency="USD",
            remaining=round(limit - used, 6) if used is not None else number(kd.get("limit_remaining")),
            granted=None,
            used=used,
            limit=limit,
            provenance="derived" if used is not None else "observed",
            probe="key_info",
            note=f"the key's limit minus its usage (GET /key); the limit resets {kd.get('limit_reset') or 'never'}",
            scope="key",
            exchange=key.exchange,
        ))  # fmt: skip
    if cd is not None and number(cd.get("total_credits")) is not None:
        # the account's credits (scope account): purchased credits minus all usage
        assert credits is not None
        total, used = number(cd.get("total_credits")), number(cd.get("total_usage"))
        balances.append(Balance(
            currency="USD",
            remaining=round(total - used, 6) if total is not None and used is not None else None,
            granted=total,
            used=used,
            limit=None,
            provenance="derived",
            probe="credits",
            note="the account's total_credits - total_usage (GET /credits)",
            scope="account",
            exchange=credits.exchange,
        ))  # fmt: skip
    limits = list(facts.limits)
    if kd is not None and kd.get("is_free_tier") is True:
        scopes = {lim.scope for lim in limits}
        if "requests_per_minute" not in scopes:
            limits.append(Limit("requests_per_minute", FREE_RPM, "documented", LIMITS_PAGE,
                                note="free tier: free models (:free) are capped per minute"))  # fmt: skip
        if "requests_per_day" not in scopes:
            limits.append(Limit("requests_per_day", FREE_RPD, "documented", LIMITS_PAGE,
                                note="free tier without purchased credits: free-model requests per day"))  # fmt: skip
    bodies = [o for o in sent(observations) if isinstance(o.json_body, dict)]
    user = next((o for o in bodies if isinstance(o.json_body.get("user_id"), str)), None)
    identity = facts.identity
    if user is not None:
        identity = Identity(
            user=str(user.json_body["user_id"]),
            evidence=f"user_id in the {user.status} body of {user.probe}",
            probes=(user.probe,),
            exchanges=(user.exchange,) if user.exchange else (),
        )
    account = {k: kd.get(k) for k in ("is_free_tier", "limit_reset", "usage_daily", "usage_monthly")
               if k in kd} if kd else {}  # fmt: skip
    readable = {n: ("readable" if first_ok(observations, n) else "not readable") for n in ("key_info", "credits")}
    return replace(
        facts, identity=identity, balances=tuple(balances), limits=tuple(limits), account=account,
        raw={"readable": readable},
    )
