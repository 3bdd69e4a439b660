"""Hugging Face's answers -> provider-neutral facts: who the token belongs to and its role (whoami-v2).

Source: https://huggingface.co/docs/huggingface_hub/package_reference/hf_api#huggingface_hub.HfApi.whoami
(GET https://huggingface.co/api/whoami-v2: name, orgs[], auth.accessToken.role read/write/fineGrained).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from testkey_nb.check.facts import Fact, Identity, InterpretContext, ProviderFacts, first_ok, header_facts
from testkey_nb.probe.observation import Observation


def interpret(observations: Sequence[Observation], context: InterpretContext) -> ProviderFacts:
    facts = header_facts(observations, context)
    obs = first_ok(observations, "whoami")
    if obs is None or not isinstance(obs.json_body, dict):
        return facts
    body = obs.json_body
    orgs = [o.get("name") for o in body.get("orgs") or [] if isinstance(o, dict) and isinstance(o.get("name"), str)]
    identity = Identity(
        user=body.get("name") if isinstance(body.get("name"), str) else None,
        workspace=None,
        organization=orgs[0] if orgs else None,
        evidence="user and organizations from GET /api/whoami-v2 (whoami)",
        probes=("whoami",),
    )
    token = (body.get("auth") or {}).get("accessToken") if isinstance(body.get("auth"), dict) else None
    role = None
    if isinstance(token, dict) and isinstance(token.get("role"), str):
        role = Fact(token["role"], "observed", "whoami", "auth.accessToken.role")
    account = {k: body.get(k) for k in ("name", "fullname", "canPay", "isPro") if k in body}
    return replace(facts, identity=identity, role=role, account=account)
