"""Observations -> what the key is: status, the eight sample metrics, the model and capability matrices.

Every figure keeps its provenance (``observed``, ``derived``, ``documented`` or ``unknown``) and the
probe it came from, so a report never shows a guess as a fact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from testkey_nb._format import plain_text
from testkey_nb.identify.score import Identification
from testkey_nb.probe.observation import Observation, spend_of, spend_text

__all__ = [
    "CAPABILITIES",
    "METRIC_NAMES",
    "STATUS_MEANINGS",
    "Capability",
    "KeyStatus",
    "Metric",
    "ModelRow",
    "Profile",
    "build_profile",
]

Provenance = Literal["observed", "derived", "documented", "unknown"]
CapStatus = Literal["verified", "denied", "unsupported", "unknown", "error"]

METRIC_NAMES = (
    "key_valid",
    "requests_total",
    "runtime_model",
    "runtime_model_allowed",
    "tokens_limit",
    "tokens_limit_day",
    "token_role",
    "token_scopes",
)

CAPABILITIES = (
    "key identity",
    "model catalog",
    "model permission matrix",
    "limit matrix",
    "capability matrix",
    "balance",
    "usage and billing",
    "pricing",
    "routing",
    "operational actions",
)

STATUS_MEANINGS = {
    "valid": "the provider accepted the key and routed at least one model",
    "invalid": "the provider refused the key (Baseten answers revoked and unknown keys alike)",
    "revoked": "the provider said the key was revoked",
    "valid_no_quota": "the key authenticates but the workspace cannot pay (402: credits exhausted, no card)",
    "valid_not_scoped": "the key authenticates but may call none of the models probed",
    "rate_limited": "the key authenticates but every model call was refused with 429",
    "unknown": "the probe could not tell; the reason says why (network, waf_html, 5xx, unexpected_status)",
}

# Baseten's key types (management API `APIKeyCategory`) -> role; the registry's permissions file
# holds the same mapping with sources, this is the fallback when it cannot be read.
_BASETEN_ROLES = {
    "PERSONAL": "personal",
    "WORKSPACE_MANAGE_ALL": "full-access",
    "WORKSPACE_EXPORT_METRICS": "metrics-only",
    "WORKSPACE_INVOKE": "inference-only",
}
_CHAT_PROBES = ("auth_check", "permission_matrix", "runtime_call")
_MINUTES_PER_DAY = 1440


@dataclass(frozen=True)
class Metric:
    name: str
    value: Any
    provenance: Provenance
    probe: str | None
    note: str = ""


@dataclass(frozen=True)
class KeyStatus:
    code: str
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Capability:
    name: str
    status: CapStatus
    evidence: str
    probes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelRow:
    model: str
    name: str | None
    listed: bool
    allowed: bool | None
    allowed_evidence: str
    price_in_per_mtok: float | None
    price_out_per_mtok: float | None
    price_cached_in_per_mtok: float | None
    price_provenance: Provenance
    context_length: int | None
    max_completion_tokens: int | None
    features: tuple[str, ...]
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]
    rpm: int | None
    tpm: int | None
    limits_provenance: Provenance

    @property
    def priced(self) -> bool:
        return self.price_in_per_mtok is not None and self.price_out_per_mtok is not None


@dataclass(frozen=True)
class Profile:
    label: str
    identification: Identification
    status: KeyStatus
    metrics: Mapping[str, Metric]
    models: tuple[ModelRow, ...]
    capabilities: tuple[Capability, ...]
    probe_requests: int
    workspace: Mapping[str, Any] = field(default_factory=dict)
    documented_tiers: tuple[Mapping[str, Any], ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)  # management bodies the billing view reads

    def metrics_frame(self):  # -> pl.DataFrame
        import polars as pl

        return pl.DataFrame(
            {
                "metric": [m.name for m in self.metrics.values()],
                "value": [plain_text(m.value) for m in self.metrics.values()],
                "provenance": [m.provenance for m in self.metrics.values()],
                "probe": [m.probe or "" for m in self.metrics.values()],
                "note": [m.note for m in self.metrics.values()],
            }
        )

    def models_frame(self):  # -> pl.DataFrame
        import polars as pl

        schema = {
            "model": pl.String, "name": pl.String, "listed": pl.Boolean, "allowed": pl.Boolean,
            "priced": pl.Boolean, "allowed_evidence": pl.String, "price_in_per_mtok": pl.Float64,
            "price_out_per_mtok": pl.Float64, "price_cached_in_per_mtok": pl.Float64,
            "price_provenance": pl.String, "context_length": pl.Int64, "max_completion_tokens": pl.Int64,
            "features": pl.List(pl.String), "input_modalities": pl.List(pl.String),
            "output_modalities": pl.List(pl.String), "rpm": pl.Int64, "tpm": pl.Int64,
            "limits_provenance": pl.String,
        }  # fmt: skip
        rows = [
            {
                "model": m.model, "name": m.name, "listed": m.listed, "allowed": m.allowed, "priced": m.priced,
                "allowed_evidence": m.allowed_evidence, "price_in_per_mtok": m.price_in_per_mtok,
                "price_out_per_mtok": m.price_out_per_mtok, "price_cached_in_per_mtok": m.price_cached_in_per_mtok,
                "price_provenance": m.price_provenance, "context_length": m.context_length,
                "max_completion_tokens": m.max_completion_tokens, "features": list(m.features),
                "input_modalities": list(m.input_modalities), "output_modalities": list(m.output_modalities),
                "rpm": m.rpm, "tpm": m.tpm, "limits_provenance": m.limits_provenance,
            }
            for m in self.models
        ]  # fmt: skip
        return pl.DataFrame(rows, schema=schema)

    def capabilities_frame(self):  # -> pl.DataFrame
        import polars as pl

        return pl.DataFrame(
            {
                "capability": [c.name for c in self.capabilities],
                "status": [c.status for c in self.capabilities],
                "evidence": [c.evidence for c in self.capabilities],
                "probes": [", ".join(c.probes) for c in self.capabilities],
            }
        )

    def tiers_frame(self):  # -> pl.DataFrame
        """The provider's documented rate-limit tiers (tier, rpm, tpm), for comparison."""
        import polars as pl

        return pl.DataFrame(
            {
                "tier": [str(t.get("tier")) for t in self.documented_tiers],
                "rpm": [t.get("rpm") for t in self.documented_tiers],
                "tpm": [t.get("tpm") for t in self.documented_tiers],
            },
            schema={"tier": pl.String, "rpm": pl.Int64, "tpm": pl.Int64},
        )

    def metric_values(self) -> dict[str, Any]:
        return {name: self.metrics[name].value for name in METRIC_NAMES}


# --------------------------------------------------------------------------------------------------
def build_profile(
    *,
    label: str,
    identification: Identification,
    observations: Sequence[Observation],
    requests_sent: int,
    key_prefix: str | None,
    provider_capabilities: Mapping[str, str] | None = None,
    documented_tiers: Sequence[Mapping[str, Any]] = (),
) -> Profile:
    """Derive the profile. ``key_prefix`` is the key's public prefix (Baseten lists keys by it)."""
    by = _group(observations)
    status = _status(by)
    catalog = _catalog(by)
    scopes_obs = _scopes_from_chats(by)
    key_entry = _current_key_entry(by, key_prefix)
    limits = _rate_limits(by)
    models = _model_rows(catalog, scopes_obs, key_entry, limits, by)
    workspace = _workspace(by)
    metrics = _metrics(by, status, models, key_entry, limits, scopes_obs, documented_tiers)
    capabilities = _capabilities(by, status, models, limits, provider_capabilities or {}, workspace)
    raw = {
        name: _first_ok(by, name).json_body
        for name in ("usage", "prices", "model_apis", "models_list")
        if _first_ok(by, name) is not None
    }
    raw["deployments"] = [
        {"model_id": o.item, **d}
        for o in by.get("deployments", [])
        if o.outcome == "ok" and isinstance(o.json_body, dict)
        for d in o.json_body.get("deployments", [])
        if isinstance(d, dict)
    ]
    raw["readable"] = {
        name: _readability(by.get(name, [])) for name in ("usage", "deployments", "prices", "models_list")
    }
    return Profile(
        label=label,
        identification=identification,
        status=status,
        metrics=metrics,
        models=tuple(models),
        capabilities=tuple(capabilities),
        probe_requests=requests_sent,
        workspace=workspace,
        documented_tiers=tuple(documented_tiers),
        raw=raw,
    )


def _group(observations: Iterable[Observation]) -> dict[str, list[Observation]]:
    out: dict[str, list[Observation]] = {}
    for o in observations:
        out.setdefault(o.probe, []).append(o)
    return out


def _first_ok(by: Mapping[str, list[Observation]], name: str) -> Observation | None:
    return next((o for o in by.get(name, []) if o.outcome == "ok"), None)


def _readability(obs: Sequence[Observation]) -> str:
    if not obs:
        return "not probed"
    if any(o.outcome == "ok" for o in obs):
        return "readable"
    first = obs[0]
    if first.outcome == "skipped":
        return f"not probed: {first.detail}"
    if first.outcome in ("refused", "unauthorized"):
        return f"refused ({first.status}) for this key"
    return f"not readable: {first.outcome}" + (f" ({first.detail})" if first.detail else "")


def _assumption_note(observations: Sequence[Observation]) -> str:
    """The assumption the answers of these (sent) probes rest on, as a note for the evidence text."""
    rests_on = next((o.assumption for o in observations if o.assumption and o.attempts), None)
    return f" ({rests_on})" if rests_on else ""


def _chat_obs(by: Mapping[str, list[Observation]]) -> list[Observation]:
    return [o for name in _CHAT_PROBES for o in by.get(name, []) if o.outcome not in ("skipped",)]


def _status(by: Mapping[str, list[Observation]]) -> KeyStatus:
    """The key's status from what the probes saw.

    Only evidence about real models counts for access: the identification probe's placeholder model
    (sent when the catalog could not be read) is refused by Baseten exactly like a bad key, so its 403
    proves nothing. Only a management 200 proves that a key authenticates (an unauthenticated request
    may get 403 there too).
    """
    chats = [o for o in _chat_obs(by) if o.probe != "runtime_call" or o.accepted]
    real = [o for o in chats if not o.placeholder]
    catalog = [o for o in by.get("catalog", []) if o.outcome != "skipped"]
    inference = [*catalog, *chats]
    mgmt = [o for group in by.values() for o in group if o.role == "management" and o.outcome != "skipped"]
    sent = [o for o in inference if o.outcome not in ("skipped", "deadline")]
    if not sent:
        return KeyStatus("unknown", "network", "no inference probe could be sent before the deadline")
    spent = [o for group in by.values() for o in group if o.spent and o.cost == "rejected" and o.outcome == "ok"]
    if spent:
        # a call built to be refused was answered: the key works (and the call cost money); spending stopped
        return KeyStatus(
            "valid",
            "spent",
            f"{spent[0].probe} ({spent[0].item or 'its placeholder model'}) was accepted and answered, so the key "
            "works; "
            f"it was not refused as built: {spend_text(spend_of(spent))}; no further model call was sent",
        )
    if any(o.accepted for o in real):
        n = sum(1 for o in real if o.accepted)
        rests_on = next((o.assumption for o in real if o.accepted and o.assumption), None)
        note = f" ({rests_on})" if rests_on else ""
        return KeyStatus("valid", "accepted", f"{n} model call(s) passed auth and were routed{note}")
    if any(o.outcome == "payment_required" for o in chats):
        return KeyStatus("valid_no_quota", "payment_required", "402 on a model call: billing or credits")
    if any(o.outcome == "waf_html" for o in inference):
        return KeyStatus("unknown", "waf_html", "an HTML error page (a WAF or proxy in front) answered")
    # the per-model checks go in one wave: one of them timing out says nothing against the 429s of the rest
    answered = [o for o in chats if o.status is not None]
    if answered and all(o.outcome == "rate_limited" for o in answered):
        return KeyStatus("rate_limited", "429", "every model call was refused with 429 after bounded retries")
    mgmt_ok = any(o.outcome == "ok" for o in mgmt)
    real_refused = bool(real) and all(o.outcome in ("refused", "unauthorized") for o in real)
    catalog_refused = bool(catalog) and all(o.outcome in ("refused", "unauthorized") for o in catalog)
    if mgmt_ok and (real_refused or catalog_refused):
        return KeyStatus(
            "valid_not_scoped",
            "no_model_allowed",
            "the key authenticates (management reads succeeded); no model accepted it",
        )
    if real_refused or catalog_refused:
        where = real[0] if real_refused else catalog[0]
        return KeyStatus(
            "invalid",
            "refused",
            f"the inference host refused the key ({where.probe}: {where.status} {_short(where.json_body)}); "
            "with --management-url a key without inference rights is told apart from an invalid one",
        )
    if all(o.outcome in ("network", "timeout", "deadline") for o in sent):
        return KeyStatus("unknown", "network", sent[0].detail or sent[0].outcome)
    if any(o.outcome == "server_error" for o in sent):
        return KeyStatus("unknown", "5xx", f"the provider answered {_statuses(sent)} after bounded retries")
    return KeyStatus("unknown", "unexpected_status", f"answers did not match any known pattern: {_statuses(sent)}")


def _statuses(obs: Sequence[Observation]) -> str:
    return ", ".join(sorted({f"{o.probe}={o.status or o.outcome}" for o in obs}))


def _short(value: Any, limit: int = 120) -> str:
    text = str(value) if value is not None else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _catalog(by: Mapping[str, list[Observation]]) -> list[dict[str, Any]]:
    obs = _first_ok(by, "catalog")
    if obs is None:
        return []
    body = obs.json_body
    items = body.get("data") if isinstance(body, dict) else body if isinstance(body, list) else None
    return [m for m in items or [] if isinstance(m, dict) and isinstance(m.get("id"), str)]


def _scopes_from_chats(by: Mapping[str, list[Observation]]) -> dict[str, Observation]:
    """model id -> the chat probe observation that says whether it may be called."""
    out: dict[str, Observation] = {}
    for o in [*by.get("auth_check", []), *by.get("permission_matrix", [])]:
        if o.item and not o.placeholder and o.outcome not in ("skipped", "deadline"):
            prev = out.get(o.item)
            if prev is None or (o.accepted and not prev.accepted):
                out[o.item] = o
    return out


def _current_key_entry(by: Mapping[str, list[Observation]], prefix: str | None) -> dict[str, Any] | None:
    obs = _first_ok(by, "current_key")
    if obs is None or not prefix or not isinstance(obs.json_body, dict):
        return None
    for entry in obs.json_body.get("keys", []) or []:
        if isinstance(entry, dict) and entry.get("prefix") == prefix:
            return entry
    return None


def _rate_limits(by: Mapping[str, list[Observation]]) -> dict[str, dict[str, int]]:
    """model api slug (and '*' for the workspace) -> {'rpm':…, 'tpm':…} from /v1/model_apis."""
    obs = _first_ok(by, "model_apis")
    if obs is None or not isinstance(obs.json_body, dict):
        return {}
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
    values = list(out.values())
    if values:
        out["*"] = {k: min(v[k] for v in values if k in v) for k in ("rpm", "tpm") if any(k in v for v in values)}
    return out


def _slug(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    return re.sub(r"[^a-z0-9]+", "-", value.rsplit("/", 1)[-1].lower()).strip("-")


def _per_mtok(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return round(v * 1_000_000, 6) if v == v and v >= 0 else None


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _model_rows(
    catalog: list[dict[str, Any]],
    chats: Mapping[str, Observation],
    key_entry: Mapping[str, Any] | None,
    limits: Mapping[str, Mapping[str, int]],
    by: Mapping[str, list[Observation]],
) -> list[ModelRow]:
    rows = []
    scoped_ids = key_entry.get("model_ids") if key_entry else None
    listed_ids = {c["id"] for c in catalog}
    # models checked by the permission matrix but not listed (a scoped key's own models); the
    # identification probe's placeholder model is not a model of the key
    extra = [o.item for o in by.get("permission_matrix", []) if o.item and o.item not in listed_ids]
    ids = [m["id"] for m in catalog] + list(dict.fromkeys(extra))
    by_id = {m["id"]: m for m in catalog}
    for model_id in ids:
        entry = by_id.get(model_id, {})
        pricing = entry.get("pricing") if isinstance(entry.get("pricing"), dict) else {}
        obs = chats.get(model_id)
        if obs is not None and obs.accepted:
            allowed: bool | None = True
            routed = obs.headers.get("x-baseten-model-id")
            evidence = f"{obs.status}: refused after auth, before any work" + (
                f"; routed to deployment {routed}" if routed else ""
            )
        elif obs is not None and obs.outcome in ("refused", "unauthorized"):
            allowed, evidence = False, f"{obs.status}: refused ({_short(obs.json_body, 60)})"
        elif obs is not None:
            allowed, evidence = None, f"{obs.status or obs.outcome}: inconclusive"
        elif isinstance(scoped_ids, list) and scoped_ids:
            allowed, evidence = model_id in scoped_ids, "key's model_ids (management)"
        elif key_entry is not None and key_entry.get("type") in ("PERSONAL", "WORKSPACE_MANAGE_ALL"):
            allowed, evidence = True, f"key type {key_entry['type']} is not model-scoped (management); not called"
        else:
            allowed, evidence = None, "not probed"
        lim = limits.get(_slug(model_id)) or limits.get(_slug(entry.get("name"))) or limits.get("*")
        rows.append(
            ModelRow(
                model=model_id,
                name=entry.get("name") if isinstance(entry.get("name"), str) else None,
                listed=model_id in by_id,
                allowed=allowed,
                allowed_evidence=evidence,
                price_in_per_mtok=_per_mtok(pricing.get("prompt")),
                price_out_per_mtok=_per_mtok(pricing.get("completion")),
                price_cached_in_per_mtok=_per_mtok(pricing.get("input_cache_read")),
                price_provenance="observed" if pricing else "unknown",
                context_length=_int(entry.get("context_length")),
                max_completion_tokens=_int(entry.get("max_completion_tokens")),
                features=_tuple(entry.get("supported_features")),
                input_modalities=_tuple(entry.get("input_modalities")),
                output_modalities=_tuple(entry.get("output_modalities")),
                rpm=(lim or {}).get("rpm"),
                tpm=(lim or {}).get("tpm"),
                limits_provenance="observed" if lim else "unknown",
            )
        )
    return rows


def _workspace(by: Mapping[str, list[Observation]]) -> dict[str, Any]:
    obs = _first_ok(by, "whoami")
    if obs is None or not isinstance(obs.json_body, dict):
        return {}
    return {k: obs.json_body.get(k) for k in ("user_id", "email", "name", "workspace_name") if k in obs.json_body}


def _metrics(
    by: Mapping[str, list[Observation]],
    status: KeyStatus,
    models: Sequence[ModelRow],
    key_entry: Mapping[str, Any] | None,
    limits: Mapping[str, Mapping[str, int]],
    chats: Mapping[str, Observation],
    documented_tiers: Sequence[Mapping[str, Any]],
) -> dict[str, Metric]:
    m: dict[str, Metric] = {}
    # key_valid
    mgmt_proof = any(o.role == "management" and o.outcome == "ok" for group in by.values() for o in group)
    if status.code == "rate_limited" and not mgmt_proof:
        m["key_valid"] = Metric(
            "key_valid",
            None,
            "unknown",
            _first_probe(by, _CHAT_PROBES),
            "every call got 429, which a gateway may send before checking the key",
        )
    elif status.code in ("valid", "valid_no_quota", "valid_not_scoped", "rate_limited"):
        m["key_valid"] = Metric("key_valid", True, "observed", _first_probe(by, _CHAT_PROBES), status.detail)
    elif status.code in ("invalid", "revoked"):
        m["key_valid"] = Metric("key_valid", False, "observed", _first_probe(by, _CHAT_PROBES), status.detail)
    else:
        m["key_valid"] = Metric("key_valid", None, "unknown", None, f"{status.reason}: {status.detail}")

    # requests_total
    usage = _first_ok(by, "usage")
    if usage is not None and isinstance(usage.json_body, dict):
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
            m["requests_total"] = Metric(
                "requests_total",
                total,
                "observed",
                "usage",
                "inference requests to dedicated deployments over the usage window" + apis_note,
            )
        else:
            m["requests_total"] = Metric(
                "requests_total", None, "unknown", "usage", "no dedicated-deployment requests reported" + apis_note
            )
    else:
        m["requests_total"] = Metric(
            "requests_total", None, "unknown", "usage", _readability(by.get("usage", [])) or "not probed"
        )

    # runtime_model
    runtime = _first_ok(by, "runtime_call")
    allowed_models = [r.model for r in models if r.allowed]
    if runtime is not None and isinstance(runtime.json_body, dict) and runtime.json_body.get("model"):
        m["runtime_model"] = Metric(
            "runtime_model", str(runtime.json_body["model"]), "observed", "runtime_call",
            f"a 1-token completion for {runtime.item} answered as this model",
        )  # fmt: skip
    elif allowed_models:
        first = chats.get(allowed_models[0])
        dep = first.headers.get("x-baseten-model-id") if first else None
        m["runtime_model"] = Metric(
            "runtime_model", allowed_models[0], "derived", "permission_matrix",
            "the gateway routed a refused-by-design request for this model"
            + (f" to deployment {dep}" if dep else "")
            + "; pass --allow-billable to observe the answering model",
        )  # fmt: skip
    else:
        m["runtime_model"] = Metric("runtime_model", None, "unknown", None, "no model accepted the key")

    # runtime_model_allowed
    rm = m["runtime_model"].value
    if rm is None:
        m["runtime_model_allowed"] = Metric("runtime_model_allowed", None, "unknown", None, "no runtime model")
    else:
        row = next((r for r in models if r.model == rm), None)
        ok = bool(row and row.listed and row.allowed)
        m["runtime_model_allowed"] = Metric(
            "runtime_model_allowed", ok, "derived", "catalog",
            "listed in the catalog and callable with this key" if ok else "not both listed and callable",
        )  # fmt: skip

    # tokens_limit / tokens_limit_day
    ws = limits.get("*", {})
    if "tpm" in ws:
        distinct = sorted({v["tpm"] for k, v in limits.items() if k != "*" and "tpm" in v})
        if len(distinct) <= 1:
            m["tokens_limit"] = Metric(
                "tokens_limit", ws["tpm"], "observed", "model_apis", "tokens per minute in effect for the workspace"
            )
        else:
            m["tokens_limit"] = Metric(
                "tokens_limit",
                ws["tpm"],
                "derived",
                "model_apis",
                f"the lowest of the per-model limits ({', '.join(f'{v:,}' for v in distinct)} TPM)",
            )
        m["tokens_limit_day"] = Metric(
            "tokens_limit_day", ws["tpm"] * _MINUTES_PER_DAY, "derived", "model_apis",
            "per-minute limit x 1440; Baseten exposes no enforced daily budget through its API",
        )  # fmt: skip
    else:
        tiers = ", ".join(f"{t.get('tier')}: {t.get('tpm')}" for t in documented_tiers if t.get("tpm"))
        note = "workspace limits not readable with this key" + (f"; documented tiers (TPM) {tiers}" if tiers else "")
        m["tokens_limit"] = Metric("tokens_limit", None, "unknown", "model_apis", note)
        m["tokens_limit_day"] = Metric("tokens_limit_day", None, "unknown", "model_apis", note)

    # token_role / token_scopes
    mgmt = [o for name, obs in by.items() for o in obs if o.role == "management" and o.outcome != "skipped"]
    mgmt_ok = {o.probe for o in mgmt if o.outcome == "ok"}
    mgmt_refused = {o.probe for o in mgmt if o.outcome == "refused"}
    inference_ok = any(r.allowed for r in models)
    if key_entry and key_entry.get("type"):
        ktype = str(key_entry["type"])
        m["token_role"] = Metric(
            "token_role",
            _BASETEN_ROLES.get(ktype, ktype.lower()),
            "observed",
            "current_key",
            f"key type {ktype}",
        )
        ids = key_entry.get("model_ids")
        if isinstance(ids, list) and ids:
            m["token_scopes"] = Metric("token_scopes", [str(i) for i in ids], "observed", "current_key", "model_ids")
        else:
            m["token_scopes"] = Metric("token_scopes", ["*"], "observed", "current_key", "no model_ids: unrestricted")
    elif mgmt and not mgmt_ok and mgmt_refused and inference_ok:
        m["token_role"] = Metric(
            "token_role", "inference-only", "derived", "current_key",
            "model calls accepted; every management read refused (403)",
        )  # fmt: skip
    elif mgmt_ok and not inference_ok and mgmt_refused and status.code == "valid_not_scoped":
        m["token_role"] = Metric(
            "token_role", "metrics-only", "derived", "current_key",
            f"reads {', '.join(sorted(mgmt_ok))}; refused {', '.join(sorted(mgmt_refused))}; no model call accepted",
        )  # fmt: skip
    else:
        why = "no management URL" if not mgmt else "key type not readable"
        m["token_role"] = Metric("token_role", None, "unknown", "current_key", why)
    if "token_scopes" not in m:
        if allowed_models and status.code == "valid":
            m["token_scopes"] = Metric(
                "token_scopes", allowed_models, "derived", "permission_matrix",
                "the models whose refused-by-design calls passed auth",
            )  # fmt: skip
        elif status.code == "valid_not_scoped":
            m["token_scopes"] = Metric(
                "token_scopes", [], "derived", "permission_matrix", "no catalog model accepted the key"
            )
        else:
            m["token_scopes"] = Metric("token_scopes", None, "unknown", None, "scope not determinable")
    return {name: m[name] for name in METRIC_NAMES}


def _first_probe(by: Mapping[str, list[Observation]], names: Sequence[str]) -> str | None:
    return next((n for n in names if any(o.outcome != "skipped" for o in by.get(n, []))), None)


def _capabilities(
    by: Mapping[str, list[Observation]],
    status: KeyStatus,
    models: Sequence[ModelRow],
    limits: Mapping[str, Mapping[str, int]],
    provider_caps: Mapping[str, str],
    workspace: Mapping[str, Any],
) -> list[Capability]:
    def from_probe(name: str, what: str, probes: tuple[str, ...]) -> Capability:
        obs = [o for p in probes for o in by.get(p, [])]
        ok = [o for o in obs if o.outcome == "ok"]
        if ok:
            return Capability(name, "verified", what, probes)
        return _not_verified(name, obs, probes)

    listed = [r for r in models if r.listed]
    allowed = [r for r in models if r.allowed]
    refused = [r for r in models if r.allowed is False]
    caps: list[Capability] = []
    who = ", ".join(f"{k}={v}" for k, v in workspace.items() if k in ("email", "workspace_name") and v)
    caps.append(from_probe("key identity", f"user and workspace read ({who or 'fields absent'})", ("whoami",)))
    if listed:
        caps.append(Capability("model catalog", "verified", f"{len(listed)} models listed by /models", ("catalog",)))
    else:
        caps.append(_not_verified("model catalog", by.get("catalog", []), ("catalog",)))
    judged = [r for r in models if r.allowed is not None]
    if judged:
        caps.append(
            Capability(
                "model permission matrix", "verified",
                f"{len(allowed)} allowed, {len(refused)} refused of {len(judged)} probed"
                + _assumption_note([*by.get("auth_check", []), *by.get("permission_matrix", [])]),
                ("auth_check", "permission_matrix"),
            )
        )  # fmt: skip
    else:
        caps.append(
            _not_verified(
                "model permission matrix",
                [*by.get("auth_check", []), *by.get("permission_matrix", [])],
                ("auth_check", "permission_matrix"),
            )
        )
    if limits.get("*"):
        ws = limits["*"]
        caps.append(
            Capability(
                "limit matrix", "verified", f"workspace limits {ws.get('rpm')} RPM / {ws.get('tpm')} TPM",
                ("model_apis",),
            )
        )  # fmt: skip
    else:
        cap = _not_verified("limit matrix", by.get("model_apis", []), ("model_apis",))
        caps.append(
            Capability(cap.name, cap.status, cap.evidence + "; documented tiers shown for comparison", cap.probes)
        )
    with_features = [r for r in listed if r.features or r.context_length]
    if with_features:
        caps.append(
            Capability(
                "capability matrix", "verified",
                f"features/context for {len(with_features)} models from /models", ("catalog",),
            )
        )  # fmt: skip
    else:
        caps.append(_not_verified("capability matrix", by.get("catalog", []), ("catalog",)))
    caps.append(_provider_level("balance", provider_caps, by, ("usage",)))
    caps.append(from_probe("usage and billing", "usage summary read (30 days)", ("usage",)))
    priced = [r for r in listed if r.priced]
    if priced:
        extra = "; instance prices read" if _first_ok(by, "prices") else ""
        caps.append(
            Capability("pricing", "verified", f"{len(priced)} models priced per token{extra}", ("catalog", "prices"))
        )
    else:
        caps.append(_not_verified("pricing", [*by.get("catalog", []), *by.get("prices", [])], ("catalog", "prices")))
    routed = [o for o in [*by.get("auth_check", []), *by.get("permission_matrix", [])] if o.accepted]
    if routed:
        dep = next((o.headers.get("x-baseten-model-id") for o in routed if o.headers.get("x-baseten-model-id")), None)
        caps.append(
            Capability(
                "routing", "verified",
                f"{len(routed)} model(s) routed by the gateway" + (f" (e.g. to deployment {dep})" if dep else ""),
                ("permission_matrix",),
            )
        )  # fmt: skip
    elif status.code == "invalid":
        caps.append(Capability("routing", "denied", "the gateway refused the key", ("auth_check",)))
    else:
        caps.append(_not_verified("routing", by.get("permission_matrix", []), ("permission_matrix",)))
    caps.append(
        from_probe(
            "operational actions",
            "deployment status and autoscaling readable for monitoring (writes are never exercised)",
            ("models_list", "deployments"),
        )
    )
    return caps


def _not_verified(name: str, obs: Sequence[Observation], probes: tuple[str, ...]) -> Capability:
    sent = [o for o in obs if o.outcome != "skipped"]
    if not obs:
        return Capability(name, "unknown", "not probed for this provider", probes)
    if not sent:
        return Capability(name, "unknown", f"not probed: {obs[0].detail}", probes)
    if any(o.outcome in ("refused", "unauthorized") for o in sent):
        o = next(o for o in sent if o.outcome in ("refused", "unauthorized"))
        return Capability(name, "denied", f"{o.probe}: {o.status} for this key", probes)
    o = sent[0]
    return Capability(
        name, "error", f"{o.probe}: {o.status or o.outcome}" + (f" ({o.detail})" if o.detail else ""), probes
    )


def _provider_level(
    name: str, provider_caps: Mapping[str, str], by: Mapping[str, list[Observation]], probes: tuple[str, ...]
) -> Capability:
    """Balance: Baseten has no balance endpoint; the usage summary gives credits *used*, not what is left."""
    level = provider_caps.get(name, "unknown")
    usage = _first_ok(by, "usage")
    used = None
    if usage is not None and isinstance(usage.json_body, dict):
        used = sum(
            float(sec.get("credits_used") or 0)
            for sec in usage.json_body.values()
            if isinstance(sec, dict) and _is_number(sec.get("credits_used"))
        )
    if level in ("unsupported", "partial"):
        extra = f"; credits used in the usage window: ${used:,.2f} (observed)" if used is not None else ""
        return Capability(name, "unsupported", f"the provider exposes no remaining-balance endpoint{extra}", probes)
    if used is not None:
        return Capability(name, "verified", f"credits used ${used:,.2f} read from the usage summary", probes)
    return Capability(name, "unknown", f"provider support: {level}", probes)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
