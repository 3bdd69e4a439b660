"""Hyperbolic's answers -> provider-neutral facts: the balance of GET /billing/get_current_balance.

Source: HyperbolicLabs/Hyperbolic-AgentKit get_current_balance (the vendor's own code, not its API reference):
{"credits": <integer US cents>}; 1250 = $12.50.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from testkey_nb.check.facts import Balance, InterpretContext, ProviderFacts, header_facts, number, ok_object
from testkey_nb.probe.observation import Observation


def interpret(observations: Sequence[Observation], context: InterpretContext) -> ProviderFacts:
    facts = header_facts(observations, context)
    body = ok_object(observations, "balance")
    cents = number(body.get("credits"))
    if cents is None:
        return facts
    balance = Balance(
        currency=context.currency,
        remaining=context.major(cents),  # [money] balance_scale: US cents
        granted=None,
        used=None,
        limit=None,
        provenance="observed",
        probe="balance",
        note=f"credits {body.get('credits')} (US cents)",
    )
    return replace(facts, balance=balance, raw={"readable": {"balance": "readable"}})
