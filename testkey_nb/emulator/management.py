"""The Baseten emulator's management host (like https://api.baseten.co): read-only ``GET`` routes
for identity, keys, Model APIs, usage, dedicated models and deployments, instance types and teams,
each behind the permission its key type grants. Assumptions are marked "Assumption:".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from testkey_nb.emulator.catalog import HOSTILE_ENTRIES, HOSTILE_NAME, iso, model_api_item
from testkey_nb.emulator.context import NOT_FOUND, Ctx, Reply, json_reply, short_id
from testkey_nb.emulator.scenarios import INSTANCE_TYPES, WORKSPACES, DedicatedModel, Deployment, Workspace
from testkey_nb.emulator.state import EmulatorState, KeyRecord
from testkey_nb.emulator.usage import (
    UsageRangeError,
    deployment_created_at,
    model_created_at,
    usage_summary,
    validate_range,
)

# Assumption: the management API's error bodies are undocumented; {"error": "..."} like the inference
# errors doc. 401 for a missing/unknown/revoked key, 403 for a key type that may not read the endpoint.
MGMT_UNAUTHORIZED = b'{"error":"Invalid API key"}'
MGMT_FORBIDDEN = b'{"error":"This API key does not have permission to perform this action"}'
MGMT_WRITE = b'{"error":"Method not allowed: the Baseten emulator never changes state"}'

# Assumption: the management host answers with the same Django/gunicorn headers as inference /v1/models.
MGMT_HEADERS = (
    ("Alt-Svc", 'h3=":443"; ma=2592000'),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Referrer-Policy", "same-origin"),
    ("Server", "gunicorn"),
    ("Vary", "Origin, Cookie"),
    ("Via", "1.1 google"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
)


class ManagementHost:
    """The management role; all state lives in the `EmulatorState` it is given."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    async def handle(self, ctx: Ctx) -> Reply:
        if not ctx.accepted:
            return Reply(401, MGMT_UNAUTHORIZED)
        if ctx.method not in ("GET", "HEAD"):
            return Reply(405, MGMT_WRITE)
        assert ctx.record is not None
        for pattern, permission, handler in _MGMT_ROUTES:
            match = pattern.match(ctx.path)
            if match is None:
                continue
            if not _allowed(ctx.record, permission):
                return Reply(403, MGMT_FORBIDDEN)
            return handler(self, ctx, **match.groupdict())
        return Reply(404, NOT_FOUND)

    def _workspace(self, ctx: Ctx) -> Workspace:
        assert ctx.record is not None and ctx.record.scenario.workspace is not None
        return WORKSPACES[ctx.record.scenario.workspace]

    def m_me(self, ctx: Ctx) -> Reply:
        # Assumption: for a team key, /users/me describes the user who created the key.
        ws = self._workspace(ctx)
        user = ws.user(ctx.record.scenario.user_email if ctx.record else None) or ws.users[0]
        name = HOSTILE_NAME if ctx.use("hostile_strings") else user.name
        return json_reply({"user_id": user.user_id, "email": user.email, "name": name, "workspace_name": ws.name})

    def m_users(self, ctx: Ctx) -> Reply:
        ws = self._workspace(ctx)
        items = [{"user_id": u.user_id, "email": u.email, "name": u.name, "workspace_name": ws.name}
                 for u in ws.users]
        return json_reply({"items": items, "pagination": {"has_more": False, "cursor": None}})

    def m_api_keys(self, ctx: Ctx) -> Reply:
        # Assumption: the caller sees every live key of its workspace (plus decoys not in emu.keys);
        # revoked keys are gone; model_ids only for WORKSPACE_EXPORT_METRICS / WORKSPACE_INVOKE.
        ws = self._workspace(ctx)
        keys = []
        for rec in self.state.listed_keys(ws.name):
            sc = rec.scenario
            item: dict[str, Any] = {"prefix": rec.prefix, "name": sc.key_name, "type": sc.key_type}
            if sc.key_type in ("WORKSPACE_EXPORT_METRICS", "WORKSPACE_INVOKE"):
                item["model_ids"] = list(sc.model_ids or ())
            item["team_name"] = None if sc.key_type == "PERSONAL" else ws.team_name
            keys.append(item)
        for name, key_type in ws.decoy_keys:
            prefix = self.state.decoy_prefixes[(ws.name, name)]
            keys.append({"prefix": prefix, "name": name, "type": key_type, "team_name": ws.team_name})
        return json_reply({"keys": keys})

    def _model_api_items(self, ctx: Ctx) -> list[dict[str, Any]]:
        ws = self._workspace(ctx)
        usage = self.state.usage(ws.name)
        entries = list(self.state.catalog.entries)
        if ctx.use("hostile_strings"):
            entries.extend(HOSTILE_ENTRIES)
        invoke_url = self.state.origins.get("inference", "")
        # Assumption: invoke_url points at the emulator's inference host (real: https://inference.baseten.co).
        return [
            model_api_item(e, invoke_url=invoke_url, rpm=ws.tier.rpm, tpm=ws.tier.tpm,
                           used=usage.model_api_days(e["id"]))
            for e in entries
        ]

    def m_model_apis(self, ctx: Ctx) -> Reply:
        items = self._model_api_items(ctx)
        if ctx.query.get("added_only", "").lower() in ("1", "true", "yes"):
            items = [i for i in items if i["org_details"] is not None]
        return json_reply({"items": items, "pagination": {"has_more": False, "cursor": None}})

    def m_model_api(self, ctx: Ctx, name: str) -> Reply:
        item = next((i for i in self._model_api_items(ctx) if i["name"] == name), None)
        return json_reply(item) if item is not None else Reply(404, b'{"error":"Model API not found"}', kind="plain")

    def m_usage(self, ctx: Ctx) -> Reply:
        ws = self._workspace(ctx)
        try:
            start, end = validate_range(ctx.query.get("start_date"), ctx.query.get("end_date"))
        except UsageRangeError as exc:
            return json_reply({"error": str(exc)}, status=400)
        return json_reply(usage_summary(ws, self.state.usage(ws.name), start, end))

    def _visible_models(self, ctx: Ctx) -> list[DedicatedModel]:
        ws = self._workspace(ctx)
        assert ctx.record is not None
        sc = ctx.record.scenario
        models = list(ws.models)
        # Assumption: a metrics-only key scoped to model ids sees only those models.
        if sc.key_type == "WORKSPACE_EXPORT_METRICS" and sc.model_ids:
            models = [m for m in models if m.id in sc.model_ids]
        return models

    def _model_json(self, ctx: Ctx, model: DedicatedModel) -> dict[str, Any]:
        ws = self._workspace(ctx)
        prod = next((d for d in model.deployments if d.is_production), None)
        dev = next((d for d in model.deployments if d.is_development), None)
        shown = prod or model.deployments[0]
        return {
            "id": model.id,
            "created_at": iso(model_created_at(model, self.state.now)),
            "name": model.name,
            "deployments_count": len(model.deployments),
            "production_deployment_id": prod.id if prod else None,
            "development_deployment_id": dev.id if dev else None,
            "instance_type_name": shown.instance_type,
            "team_name": ws.team_name,
        }

    def _deployment_json(self, model: DedicatedModel, dep: Deployment) -> dict[str, Any]:
        scaling = dep.autoscaling
        return {
            "id": dep.id,
            "created_at": iso(deployment_created_at(dep, self.state.now)),
            "name": dep.name,
            "model_id": model.id,
            "is_production": dep.is_production,
            "is_development": dep.is_development,
            "status": dep.status,
            "active_replica_count": dep.active_replica_count,
            "autoscaling_settings": None if scaling is None else {
                "min_replica": scaling.min_replica,
                "max_replica": scaling.max_replica,
                "autoscaling_window": scaling.autoscaling_window,
                "scale_down_delay": scaling.scale_down_delay,
                "concurrency_target": scaling.concurrency_target,
                "target_utilization_percentage": scaling.target_utilization_percentage,
                "target_in_flight_tokens": scaling.target_in_flight_tokens,
                "max_scale_down_rate": scaling.max_scale_down_rate,
            },
            "instance_type_name": dep.instance_type,
            "environment": dep.environment,
            "labels": {},
        }

    def m_models(self, ctx: Ctx) -> Reply:
        models = [self._model_json(ctx, m) for m in self._visible_models(ctx)]
        if ctx.use("hostile_strings"):
            hostile = dict(models[0]) if models else {
                "created_at": iso(self.state.now), "deployments_count": 0, "production_deployment_id": None,
                "development_deployment_id": None, "instance_type_name": "T4x4x16",
                "team_name": self._workspace(ctx).team_name,
            }
            hostile.update({"id": "h0st1l3x", "name": HOSTILE_NAME, "team_name": "<b>team</b>\u202e\x1b[2J"})
            models.append(hostile)
        return json_reply({"models": models})

    def _find_model(self, ctx: Ctx, model_id: str) -> DedicatedModel | None:
        return next((m for m in self._visible_models(ctx) if m.id == model_id), None)

    def m_model(self, ctx: Ctx, model_id: str) -> Reply:
        model = self._find_model(ctx, model_id)
        if model is None:
            return Reply(404, b'{"error":"Model not found"}')
        return json_reply(self._model_json(ctx, model))

    def m_deployments(self, ctx: Ctx, model_id: str) -> Reply:
        model = self._find_model(ctx, model_id)
        if model is None:
            return Reply(404, b'{"error":"Model not found"}')
        return json_reply({"deployments": [self._deployment_json(model, d) for d in model.deployments]})

    def m_deployment(self, ctx: Ctx, model_id: str, deployment_id: str) -> Reply:
        model = self._find_model(ctx, model_id)
        if model is None:
            return Reply(404, b'{"error":"Model not found"}')
        for dep in model.deployments:
            if (
                dep.id == deployment_id
                or (deployment_id == "production" and dep.is_production)
                or (deployment_id == "development" and dep.is_development)
            ):
                return json_reply(self._deployment_json(model, dep))
        return Reply(404, b'{"error":"Deployment not found"}')

    def m_instance_types(self, ctx: Ctx) -> Reply:
        return json_reply({"instance_types": [_instance_type_json(it) for it in INSTANCE_TYPES]})

    def m_instance_type_prices(self, ctx: Ctx) -> Reply:
        return json_reply({"instance_types": [
            {"instance_type": _instance_type_json(it), "price": float(it.price_per_minute)} for it in INSTANCE_TYPES
        ]})

    def m_teams(self, ctx: Ctx) -> Reply:
        ws = self._workspace(ctx)
        created = iso(self.state.now.replace(month=1, day=5, hour=10, minute=0, second=0, microsecond=0))
        team = {"id": short_id(f"team:{ws.name}", 7), "name": ws.team_name, "default": True, "created_at": created}
        return json_reply({"teams": [team]})

    def m_empty(self, ctx: Ctx, collection: str) -> Reply:
        return json_reply({collection: []})


def _instance_type_json(it: Any) -> dict[str, Any]:
    return {
        "id": it.id,
        "name": it.name,
        "memory_limit_mib": it.memory_limit_mib,
        "millicpu_limit": it.millicpu_limit,
        "gpu_count": it.gpu_count,
        "gpu_type": it.gpu_type,
        "gpu_memory_limit_mib": it.gpu_memory_limit_mib,
    }



_PERMISSIONS = {
    "PERSONAL": {"identity", "model_apis", "billing", "models", "workspace"},
    "WORKSPACE_MANAGE_ALL": {"identity", "model_apis", "billing", "models", "workspace"},
    # Assumption: metrics-only keys may read models, deployments and instance types, nothing else.
    "WORKSPACE_EXPORT_METRICS": {"models"},
    "WORKSPACE_INVOKE": set(),
}


def _allowed(record: KeyRecord, permission: str) -> bool:
    return permission in _PERMISSIONS.get(record.scenario.key_type or "", set())


_Handler = Callable[..., Reply]
_SEG = r"[^/]+"
_MGMT_ROUTES: tuple[tuple[re.Pattern[str], str, _Handler], ...] = tuple(
    (re.compile(f"^{pattern}$"), permission, handler)
    for pattern, permission, handler in (
        ("/v1/users/me", "identity", ManagementHost.m_me),
        ("/v1/users", "identity", ManagementHost.m_users),
        ("/v1/api_keys", "identity", ManagementHost.m_api_keys),
        ("/v1/model_apis", "model_apis", ManagementHost.m_model_apis),
        (f"/v1/model_apis/(?P<name>{_SEG})", "model_apis", ManagementHost.m_model_api),
        ("/v1/billing/usage_summary", "billing", ManagementHost.m_usage),
        ("/v1/models", "models", ManagementHost.m_models),
        (f"/v1/models/(?P<model_id>{_SEG})", "models", ManagementHost.m_model),
        (f"/v1/models/(?P<model_id>{_SEG})/deployments", "models", ManagementHost.m_deployments),
        (f"/v1/models/(?P<model_id>{_SEG})/deployments/(?P<deployment_id>{_SEG})", "models",
         ManagementHost.m_deployment),
        ("/v1/instance_types", "models", ManagementHost.m_instance_types),
        ("/v1/instance_type_prices", "models", ManagementHost.m_instance_type_prices),
        ("/v1/teams", "workspace", ManagementHost.m_teams),
        ("/v1/(?P<collection>secrets|chains|training_projects)", "workspace", ManagementHost.m_empty),
    )
)
