"""SiliconFlow's answers -> provider-neutral facts: the account and its balances from GET /v1/user/info.

Source: https://docs.siliconflow.com/en/api-reference/userinfo/get-user-info ({code: 20000, message, status,
data: {id, name, image, email, isAdmin, balance, status, introduction, role, chargeBalance, totalBalance}}; money
as strings). totalBalance is what is left, balance the gift part, chargeBalance the paid part. USD on
api.siliconflow.com, CNY on api.siliconflow.cn (where the balance API was retired on 2026-08-14); the currency is the
checked host's ([[hosts]] currency, ``context.currency``), unknown on an undeclared host and said so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from testkey_nb.check.facts import Balance, InterpretContext, ProviderFacts, header_facts, number, ok_object
from testkey_nb.probe.observation import Observation


def interpret(observations: Sequence[Observation], context: InterpretContext) -> ProviderFacts:
    facts = header_facts(observations, context)
    body = ok_object(observations, "user_info")
    data = body.get("data") if isinstance(body.get("data"), dict) else None
    if data is None or number(data.get("totalBalance")) is None:
        return facts
    balance = Balance(
        currency=context.currency,
        remaining=number(data.get("totalBalance")),
        granted=number(data.get("balance")),
        used=None,
        limit=None,
        provenance="observed",
        probe="user_info",
        note=f"chargeBalance (paid) {data.get('chargeBalance')}"
        + ("" if context.currency else "; currency unknown on this host: USD on .com, CNY on .cn"),
    )
    account = {k: data.get(k) for k in ("id", "status", "role", "isAdmin") if k in data}
    return replace(facts, balance=balance, account=account, raw={"readable": {"user_info": "readable"}})
