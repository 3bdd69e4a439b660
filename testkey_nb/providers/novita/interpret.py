"""Novita's answers -> provider-neutral facts: the balance (1/10000 USD) and the team's key list.

Sources: https://novita.ai/docs/api-reference/basic-get-user-balance.md (availableBalance, cashBalance,
creditLimit, pendingCharges, outstandingInvoices: strings in 1/10000 USD, 10000 = $1.00);
https://novita.ai/docs/api-reference/key-list-with-model-access.md (keys[] with modelAccessPolicy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from testkey_nb.check.facts import Balance, InterpretContext, ProviderFacts, first_ok, header_facts, number, ok_object
from testkey_nb.probe.observation import Observation


def interpret(observations: Sequence[Observation], context: InterpretContext) -> ProviderFacts:
    def _usd(value: Any) -> float | None:  # [money] balance_scale: 1/10000 USD
        return context.major(number(value))

    facts = header_facts(observations, context)
    body = ok_object(observations, "balance")
    account: dict[str, Any] = {}
    keys = first_ok(observations, "key_list")
    if keys is not None and isinstance(keys.json_body, dict) and isinstance(keys.json_body.get("keys"), list):
        account["keys"] = [
            {k: item.get(k) for k in ("name", "maskedKey", "expireTime", "lastUsedAt", "modelAccessPolicy")}
            for item in keys.json_body["keys"] if isinstance(item, dict)
        ]  # fmt: skip
    if _usd(body.get("availableBalance")) is None:
        return replace(facts, account=account) if account else facts
    note = (f"cash {_usd(body.get('cashBalance'))}, pending charges {_usd(body.get('pendingCharges'))}, "
            f"outstanding invoices {_usd(body.get('outstandingInvoices'))} USD (API unit 1/10000 USD)")  # fmt: skip
    balance = Balance(
        currency=context.currency,
        remaining=_usd(body.get("availableBalance")),
        granted=None,
        used=None,
        limit=_usd(body.get("creditLimit")),
        provenance="observed",
        probe="balance",
        note=note,
    )
    return replace(facts, balance=balance, account=account, raw={"readable": {"balance": "readable"}})
