"""Cohere's answers -> provider-neutral facts: who the key belongs to, from POST /v1/check-api-key.

Source: https://docs.cohere.com/reference/check-api-key (200: ``valid`` boolean, required; ``organization_id`` and
``owner_id`` strings, optional). The organization is ``organization_id``, the user is ``owner_id``; a ``valid: false``
answer carries no identity (provider.toml's status rule reads it as the provider refusing the key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from testkey_nb.check.facts import Identity, InterpretContext, ProviderFacts, first_ok, header_facts
from testkey_nb.probe.observation import Observation


def interpret(observations: Sequence[Observation], context: InterpretContext) -> ProviderFacts:
    facts = header_facts(observations, context)
    obs = first_ok(observations, "check_api_key")
    body = obs.json_body if obs is not None else None
    if not isinstance(body, dict) or body.get("valid") is not True:
        return facts
    org, owner = body.get("organization_id"), body.get("owner_id")
    if not isinstance(org, str) and not isinstance(owner, str):
        return facts
    identity = Identity(
        user=owner if isinstance(owner, str) and owner else None,
        workspace=None,
        organization=org if isinstance(org, str) and org else None,
        evidence="organization_id and owner_id from POST /v1/check-api-key (check_api_key)",
        probes=("check_api_key",),
    )
    return replace(facts, identity=identity)
