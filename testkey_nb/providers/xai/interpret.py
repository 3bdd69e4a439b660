"""xAI's answers -> provider-neutral facts: who the key belongs to, from GET /v1/api-key.

Source: https://docs.x.ai/docs/api-reference#api-key (redacted_api_key, user_id, name, create_time, modify_time,
modified_by, team_id, acls, api_key_id, team_blocked, api_key_blocked, api_key_disabled). The user is user_id,
the workspace is the team (team_id); the ACLs and the blocked/disabled flags are reported as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from testkey_nb.check.facts import Fact, Identity, InterpretContext, ProviderFacts, first_ok, header_facts
from testkey_nb.probe.observation import Observation

FLAGS = ("team_blocked", "api_key_blocked", "api_key_disabled")


def interpret(observations: Sequence[Observation], context: InterpretContext) -> ProviderFacts:
    facts = header_facts(observations, context)
    obs = first_ok(observations, "key_info")
    if obs is None or not isinstance(obs.json_body, dict):
        return facts
    body = obs.json_body
    user, team = body.get("user_id"), body.get("team_id")
    identity = Identity(
        user=user if isinstance(user, str) else None,
        workspace=team if isinstance(team, str) else None,
        organization=None,
        evidence="user_id and team_id from GET /v1/api-key (key_info)",
        probes=("key_info",),
    )
    acls = [a for a in body.get("acls") or [] if isinstance(a, str)]
    scopes = Fact(", ".join(acls), "observed", "key_info", "acls") if acls else None
    account = {k: body.get(k) for k in ("name", "redacted_api_key", "api_key_id", *FLAGS) if k in body}
    return replace(facts, identity=identity, scopes=scopes, account=account)
