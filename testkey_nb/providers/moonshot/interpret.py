"""Moonshot's answers -> provider-neutral facts: the balance of GET /v1/users/me/balance.

Source: https://platform.moonshot.ai/docs/api/balance (and .cn): {code, data: {available_balance, voucher_balance,
cash_balance}, scode, status}; available = cash + voucher, <= 0 blocks inference; cash may be negative (debt).
The body has no currency: USD on api.moonshot.ai, CNY on api.moonshot.cn ([[hosts]] currency in provider.toml,
read through ``context.currency``; unknown on a host the data does not declare, and said so in the note).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from testkey_nb.check.facts import Balance, InterpretContext, ProviderFacts, header_facts, number, ok_object
from testkey_nb.probe.observation import Observation


def interpret(observations: Sequence[Observation], context: InterpretContext) -> ProviderFacts:
    facts = header_facts(observations, context)
    body = ok_object(observations, "balance")
    data = body.get("data") if isinstance(body.get("data"), dict) else None
    if data is None:
        return facts
    cash = number(data.get("cash_balance"))
    note = f"cash_balance {data.get('cash_balance')}" + (" (debt)" if cash is not None and cash < 0 else "")
    if context.currency is None:
        note += "; currency unknown on this host: USD on api.moonshot.ai, CNY on api.moonshot.cn"
    balance = Balance(
        currency=context.currency,
        remaining=number(data.get("available_balance")),
        granted=number(data.get("voucher_balance")),
        used=None,
        limit=None,
        provenance="observed",
        probe="balance",
        note=note,
    )
    return replace(facts, balance=balance, account={"cash_balance": data.get("cash_balance")},
                   raw={"readable": {"balance": "readable"}})  # fmt: skip
