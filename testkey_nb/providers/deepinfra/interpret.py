"""DeepInfra's answers -> provider-neutral facts: the account's money from GET /payment/checklist (API key).

Source: a third-party client, not DeepInfra's API reference (https://raw.githubusercontent.com/steipete/CodexBar/main/
docs/deepinfra.md, steipete/CodexBar#2238): ``stripe_balance`` is USD, negative = prepaid funds ready to spend,
positive = money owed; ``recent`` is the usage not yet invoiced (USD); ``limit`` the spending limit (0/absent: none);
``suspended`` (with ``suspend_reason``) and ``overdue_invoices``. The probe carries that assumption into every
figure read here. The body also holds the account's postal address and payment method: nothing of them is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from testkey_nb.check.facts import Balance, InterpretContext, ProviderFacts, header_facts, number, ok_object
from testkey_nb.probe.observation import Observation

#: the account flags reported as they are (never the address or the payment method)
FLAGS = ("suspended", "suspend_reason", "overdue_invoices")


def interpret(observations: Sequence[Observation], context: InterpretContext) -> ProviderFacts:
    facts = header_facts(observations, context)
    body = ok_object(observations, "balance")
    stripe = number(body.get("stripe_balance"))
    if stripe is None:
        return facts
    recent, limit = number(body.get("recent")), number(body.get("limit"))
    said = [f"stripe_balance {body.get('stripe_balance')} ("
            + ("prepaid funds" if stripe < 0 else "owed" if stripe > 0 else "no prepaid funds") + ")"]
    if recent is not None:
        said.append(f"recent {body.get('recent')} (not yet invoiced)")
    if body.get("suspended") is True:
        said.append(f"suspended: {body.get('suspend_reason') or 'no reason given'}")
    said.append("field meanings from a third-party client, not DeepInfra's reference")
    balance = Balance(
        currency=context.currency,
        remaining=-stripe if stripe < 0 else 0.0,  # money owed is no balance: shown in the note
        granted=None,
        used=recent,
        limit=limit if limit is not None and limit > 0 else None,
        provenance="observed",
        probe="balance",
        note="; ".join(said),
    )
    account = {k: body[k] for k in FLAGS if k in body}
    return replace(facts, balance=balance, account={**facts.account, **account} if account else facts.account,
                   raw={"readable": {"balance": "readable"}})  # fmt: skip
