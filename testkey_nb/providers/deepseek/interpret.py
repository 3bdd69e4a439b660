"""DeepSeek's answers -> provider-neutral facts: the balance of GET /user/balance.

Source: https://api-docs.deepseek.com/api/get-user-balance (is_available, balance_infos[currency,
total_balance, granted_balance, topped_up_balance], amounts as strings). DeepSeek sends no rate-limit
headers and sets no fixed limits (https://api-docs.deepseek.com/quick_start/rate_limit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from testkey_nb.check.facts import Balance, InterpretContext, ProviderFacts, first_ok, header_facts, number
from testkey_nb.probe.observation import Observation


def interpret(observations: Sequence[Observation], context: InterpretContext) -> ProviderFacts:
    facts = header_facts(observations, context)
    obs = first_ok(observations, "balance")
    body = obs.json_body if obs is not None and isinstance(obs.json_body, dict) else {}
    infos = [i for i in body.get("balance_infos") or [] if isinstance(i, dict)]
    if not infos or obs is None:
        return facts
    # one balance per currency, each as DeepSeek reports it (never converted)
    balances = tuple(
        Balance(
            currency=str(info.get("currency")) if info.get("currency") else None,
            remaining=number(info.get("total_balance")),
            granted=number(info.get("granted_balance")),
            used=None,
            limit=None,
            provenance="observed",
            probe="balance",
            note=f"is_available={body.get('is_available')}; topped up {info.get('topped_up_balance')}",
            scope="account",
            exchange=obs.exchange,
        )
        for info in infos
    )
    return replace(facts, balances=balances, account={"is_available": body.get("is_available")},
                   raw={"readable": {"balance": "readable"}})  # fmt: skip
