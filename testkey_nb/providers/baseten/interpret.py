"""Baseten's answers -> provider-neutral facts (roles, scopes, limits, identity, usage, routing).

Sources: the management OpenAPI spec (https://github.com/basetenlabs/baseten-go
``internal/tools/apigen/specs/management.json``: APIKeyCategory,
UserInfoV1, ModelAPIV1.rate_limits, UsageSummaryV1) and the real recordings (X-Baseten-Model-Id).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from testkey_nb.check.facts import (
    Fact,
    Identity,
    InterpretContext,
    KeyAccess,
    Limit,
    ModelFacts,
    ProviderFacts,
    catalog_items,
    first_ok,
    number,
    readability,
)
from testkey_nb.probe.observation import Observation

# key types (management API `APIKeyCategory`) -> role; permissions.toml holds the same mapping with its
# sources, this is the fallback when it cannot be read
ROLES = {
    "PERSONAL": "personal",
    "WORKSPACE_MANAGE_ALL": "full-access",
    "WORKSPACE_EXPORT_METRICS": "metrics-only",
    "WORKSPACE_INVOKE": "inference-only",
}
UNSCOPED_TYPES = ("PERSONAL", "WORKSPACE_MANAGE_ALL")
MODEL_HEADER = "x-baseten-model-id"
RATE_LIMITS_SOURCE = "https://docs.baseten.co/inference/model-apis/rate-limits-and-budgets"


def interpret(observations: Sequence[Observation], context: InterpretContext) -> ProviderFacts:
    by: dict[str, list[Observation]] = {}
    for o in observations:
        by.setdefault(o.probe, []).append(o)
    key_entry = _current_key_entry(observations, context.key_prefix)
    per_model, workspace_limits = _rate_limits(observations)
    catalog = catalog_items(observations)
    models = {}
    for item in catalog:
        lim = per_model.get(_slug(item["id"])) or per_model.get(_slug(item.get("name")))
        ws_rpm = next((x.value for x in workspace_limits if x.scope == "requests_per_minute"), None)
        ws_tpm = next((x.value for x in workspace_limits if x.scope == "tokens_per_minute"), None)
        rpm = (lim or {}).get("rpm", ws_rpm)
        tpm = (lim or {}).get("tpm", ws_tpm)
        if rpm is not None or tpm is not None:
            models[item["id"]] = ModelFacts(
                rpm=int(rpm) if rpm is not None else None,
                tpm=int(tpm) if tpm is not None else None,
                limits_probe="model_apis",
            )
    account = _account(observations)
    identity = None
    if account:
        identity = Identity(
            user=_str(account.get("email")) or _str(account.get("user_id")),
            workspace=_str(account.get("workspace_name")),
            organization=None,
            evidence="user and workspace from GET /users/me (whoami)",
            probes=("whoami",),
        )
    role, scopes, access = _role(by, key_entry, context)
    usage = first_ok(observations, "usage")
    routed = {
        o.item: o.headers[MODEL_HEADER]
        for o in observations
        if o.cost in ("rejected", "billable") and o.accepted and o.item and o.headers.get(MODEL_HEADER)
    }
    raw: dict[str, Any] = {
        name: obs.json_body
        for name in ("usage", "prices", "model_apis", "models_list")
        if (obs := first_ok(observations, name)) is not None
    }
    raw["deployments"] = [
        {"model_id": o.item, **d}
        for o in by.get("deployments", [])
        if o.outcome == "ok" and isinstance(o.json_body, dict)
        for d in o.json_body.get("deployments", [])
        if isinstance(d, dict)
    ]
    raw["readable"] = {
        name: readability(by.get(name, [])) for name in ("usage", "deployments", "prices", "models_list")
    }
    notes = {}
    used = _credits_used(usage)
    if used is not None:
        notes["balance"] = f"credits used in the usage window: ${used:,.2f} (observed, usage)"
    return ProviderFacts(
        identity=identity,
        balance=None,  # no remaining-balance endpoint: usage_summary gives credits *used* only
        limits=tuple(workspace_limits),
        role=role,
        scopes=scopes,
        requests_total=_requests_total(by, usage),
        key_access=access,
        models=models,
        routed_to=routed,
        account=account,
        notes=notes,
        raw=raw,
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _account(observations: Sequence[Observation]) -> dict[str, Any]:
    obs = first_ok(observations, "whoami")
    if obs is None or not isinstance(obs.json_body, dict):
        return {}
    return {k: obs.json_body.get(k) for k in ("user_id", "email", "name", "workspace_name") if k in obs.json_body}


def _current_key_entry(observations: Sequence[Observation], prefix: str | None) -> dict[str, Any] | None:
    """The key's own row of GET /v1/api_keys, matched by its public prefix (the part before the dot)."""
    obs = first_ok(observations, "current_key")
    if obs is None or not prefix or not isinstance(obs.json_body, dict):
        return None
    for entry in obs.json_body.get("keys", []) or []:
        if isinstance(entry, dict) and entry.get("prefix") == prefix:
            return entry
    return None


def _slug(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    return re.sub(r"[^a-z0-9]+", "-", value.rsplit("/", 1)[-1].lower()).strip("-")


def _rate_limits(observations: Sequence[Observation]) -> tuple[dict[str, dict[str, int]], list[Limit]]:
    """Per model API slug {'rpm','tpm'} from /v1/model_apis, and the workspace's limits (the lowest)."""
    obs = first_ok(observations, "model_apis")
    if obs is None or not isinstance(obs.json_body, dict):
        return {}, []
    out: dict[str, dict[str, int]] = {}
    for item in obs.json_body.get("items", []) or []:
        if not isinstance(item, dict):
            continue
        limits: dict[str, int] = {}
        for rl in item.get("rate_limits") or []:
            if not isinstance(rl, dict) or not isinstance(rl.get("threshold"), (int, float)):
                continue
            per_minute = rl["threshold"] * (60 if rl.get("unit") == "SECOND" else 1)
            kind = {"REQUEST": "rpm", "TOKEN": "tpm"}.get(str(rl.get("type")))
            if kind:
                limits[kind] = int(per_minute)
        if limits:
            for key in {_slug(item.get("name")), _slug(item.get("display_name"))} - {""}:
                out[key] = limits
    workspace: list[Limit] = []
    for kind, scope in (("rpm", "requests_per_minute"), ("tpm", "tokens_per_minute")):
        values = sorted({v[kind] for v in out.values() if kind in v})
        if not values:
            continue
        if len(values) == 1:
            workspace.append(Limit(scope, values[0], "observed", "model_apis", "model_apis",
                                   note="in effect for the workspace (GET /model_apis rate_limits)"))  # fmt: skip
        else:
            workspace.append(
                Limit(scope, values[0], "derived", "model_apis", "model_apis",
                      note=f"the lowest of the per-model limits ({', '.join(f'{v:,}' for v in values)})")
            )  # fmt: skip
    return out, workspace


def _role(
    by: Mapping[str, list[Observation]], key_entry: Mapping[str, Any] | None, context: InterpretContext
) -> tuple[Fact | None, Fact | None, KeyAccess | None]:
    if key_entry and key_entry.get("type"):
        ktype = str(key_entry["type"])
        perms = context.provider.permissions if context.provider else None
        role_name = (perms.role_for(ktype) if perms else None) or ROLES.get(ktype, ktype.lower())
        role = Fact(role_name, "observed", "current_key", f"key type {ktype}")
        ids = key_entry.get("model_ids")
        if isinstance(ids, list) and ids:
            models = tuple(str(i) for i in ids)
            return role, Fact(list(models), "observed", "current_key", "model_ids"), KeyAccess(
                models, "current_key", "key's model_ids (management)"
            )
        scopes = Fact(["*"], "observed", "current_key", "no model_ids: unrestricted")
        access = None
        if ktype in UNSCOPED_TYPES:
            access = KeyAccess(None, "current_key", f"key type {ktype} is not model-scoped (current_key)")
        return role, scopes, access
    mgmt = [o for obs in by.values() for o in obs if o.role == "management" and o.status is not None]
    mgmt_ok = sorted({o.probe for o in mgmt if o.outcome == "ok"})
    mgmt_refused = sorted({o.probe for o in mgmt if o.outcome == "refused"})
    # the refusal a derived role rests on: that exchange, not another of the same probe
    refusal = next((o.exchange for o in mgmt if mgmt_refused and o.probe == mgmt_refused[0] and o.outcome == "refused"),
                   None)  # fmt: skip
    accepted = [o for obs in by.values() for o in obs
                if o.cost == "rejected" and o.accepted and o.item and not o.placeholder]  # fmt: skip
    if mgmt and not mgmt_ok and mgmt_refused and accepted:
        note = f"model calls accepted ({accepted[0].probe}); every management read refused (403)"
        return Fact("inference-only", "derived", mgmt_refused[0], note, refusal), None, None
    chats_sent = [o for obs in by.values() for o in obs if o.cost == "rejected" and o.status is not None]
    if mgmt_ok and mgmt_refused and chats_sent and not accepted:
        note = f"reads {', '.join(mgmt_ok)}; refused {', '.join(mgmt_refused)}; no model call accepted"
        return Fact("metrics-only", "derived", mgmt_refused[0], note, refusal), None, None
    return None, None, None


def _requests_total(by: Mapping[str, list[Observation]], usage: Observation | None) -> Fact:
    if usage is None or not isinstance(usage.json_body, dict):
        return Fact(None, "unknown", None, readability(by.get("usage", [])))
    ded = usage.json_body.get("dedicated_usage") or {}
    breakdown = [b for b in ded.get("breakdown", []) or [] if isinstance(b, dict)]
    apis = usage.json_body.get("model_apis_usage") or {}
    tokens = sum(
        int(b.get("input_tokens") or 0) + int(b.get("output_tokens") or 0)
        for b in apis.get("breakdown", []) or []
        if isinstance(b, dict)
    )
    apis_note = f"; Model APIs usage ({tokens:,} tokens) is reported in tokens only, not requests" if tokens else ""
    if breakdown:
        total = sum(int(b.get("inference_requests") or 0) for b in breakdown)
        return Fact(total, "observed", "usage",
                    "inference requests to dedicated deployments over the usage window" + apis_note)  # fmt: skip
    return Fact(None, "unknown", "usage", "no dedicated-deployment requests reported" + apis_note)


def _credits_used(usage: Observation | None) -> float | None:
    if usage is None or not isinstance(usage.json_body, dict):
        return None
    values = [number(sec.get("credits_used")) for sec in usage.json_body.values() if isinstance(sec, dict)]
    found = [v for v in values if v is not None]
    return sum(found) if found else None
