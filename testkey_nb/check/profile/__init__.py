"""Observations -> what the key is: status, the eight sample metrics, the model and capability matrices.

Every figure keeps its provenance (``observed``, ``derived``, ``documented`` or ``unknown``) and the
probe it came from, so a report never shows a guess as a fact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from testkey_nb._format import plain_text
from testkey_nb.check.facts import (
    Balance,
    Fact,
    Identity,
    Limit,
    ModelFacts,
    ProviderFacts,
    catalog_items,
    readability,
)
from testkey_nb.identify.registry import NoQuotaRule
from testkey_nb.identify.score import Identification, _all_hold
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
    "ProviderView",
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
    "valid": "the provider accepted the key: an endpoint it authenticates answered 200, or a model call passed auth",
    "invalid": "the provider refused the key in its own auth scheme (many answer revoked and unknown keys alike)",
    "revoked": "the provider said the key was revoked",
    "valid_no_quota": "the key authenticates but the workspace cannot pay (402: credits exhausted, no card)",
    "valid_not_scoped": "the key authenticates but may call none of the models probed",
    "rate_limited": "the key authenticates but every model call was refused with 429",
    "unknown": "the probe could not tell; the reason says why (network, waf_html, 5xx, unexpected_status, "
    "scheme_not_settled)",
}

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
    #: the probe whose answer settled the status (None when nothing did)
    probe: str | None = None


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
    #: the probes each cell rests on (None where the cell is unknown)
    allowed_probe: str | None = None
    price_probe: str | None = None
    limits_probe: str | None = None

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
    identity: Identity | None = None
    balance: Balance | None = None
    limits: tuple[Limit, ...] = ()

    def identity_json(self) -> dict[str, Any]:
        """``{user, workspace, organization, evidence}``, nulls where unseen."""
        return (self.identity or Identity()).as_json()

    def balance_json(self) -> dict[str, Any] | None:
        return self.balance.as_json() if self.balance else None

    def limits_json(self) -> list[dict[str, Any]]:
        """Key- or workspace-wide limits: ``[{scope, value, provenance, source}]``."""
        return [lim.as_json() for lim in self.limits if lim.model is None]

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

    def model_rows(self) -> list[dict[str, Any]]:
        """One plain dict per model (what ``models_frame`` holds; ``probe --json`` uses it without polars)."""

        def num(value: float | None) -> float | None:
            return None if value is None else float(value)

        return [
            {
                "model": m.model, "name": m.name, "listed": m.listed, "allowed": m.allowed, "priced": m.priced,
                "allowed_evidence": m.allowed_evidence, "price_in_per_mtok": num(m.price_in_per_mtok),
                "price_out_per_mtok": num(m.price_out_per_mtok),
                "price_cached_in_per_mtok": num(m.price_cached_in_per_mtok),
                "price_provenance": m.price_provenance, "context_length": m.context_length,
                "max_completion_tokens": m.max_completion_tokens, "features": list(m.features),
                "input_modalities": list(m.input_modalities), "output_modalities": list(m.output_modalities),
                "rpm": m.rpm, "tpm": m.tpm, "limits_provenance": m.limits_provenance,
                "allowed_probe": m.allowed_probe,
            }
            for m in self.models
        ]  # fmt: skip

    def models_frame(self):  # -> pl.DataFrame
        import polars as pl

        schema = {
            "model": pl.String, "name": pl.String, "listed": pl.Boolean, "allowed": pl.Boolean,
            "priced": pl.Boolean, "allowed_evidence": pl.String, "price_in_per_mtok": pl.Float64,
            "price_out_per_mtok": pl.Float64, "price_cached_in_per_mtok": pl.Float64,
            "price_provenance": pl.String, "context_length": pl.Int64, "max_completion_tokens": pl.Int64,
            "features": pl.List(pl.String), "input_modalities": pl.List(pl.String),
            "output_modalities": pl.List(pl.String), "rpm": pl.Int64, "tpm": pl.Int64,
            "limits_provenance": pl.String, "allowed_probe": pl.String,
        }  # fmt: skip
        return pl.DataFrame(self.model_rows(), schema=schema)

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
@dataclass(frozen=True)
class ProviderView:
    """What the registry says about the provider, as the profile needs it (never its name).

    ``capabilities``: capability -> (support, note) at provider level; ``authenticated``: probes whose
    endpoint the provider authenticates (a 200 there proves the key); ``reads``: what each kind of fact
    (identity, limits, balance, usage, prices, operations) is read by; ``scheme_settled``: the key went in
    the identified provider's own auth scheme (False when no provider was identified)."""

    capabilities: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    authenticated: frozenset[str] = frozenset()
    reads: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    scheme_settled: bool = True
    #: answers that mean "valid key, the account cannot pay" (see ``NoQuotaRule``)
    no_quota: tuple[NoQuotaRule, ...] = ()


def build_profile(
    *,
    label: str,
    identification: Identification,
    observations: Sequence[Observation],
    requests_sent: int,
    facts: ProviderFacts | None = None,
    provider: ProviderView | None = None,
    documented_tiers: Sequence[Mapping[str, Any]] = (),
) -> Profile:
    """Combine the observations and the provider's facts into the profile."""
    facts = facts or ProviderFacts()
    view = provider or ProviderView()
    observations = [_requalify(o, view.no_quota) for o in observations]
    by = _group(observations)
    proof = _auth_proof(observations, view.authenticated)
    status = _status(by, observations, proof, view)
    chats = _chat_results(observations)
    key_proven = proof is not None or any(o.accepted for o in chats.values())
    models = _model_rows(observations, chats, facts, key_proven)
    metrics = _metrics(by, observations, status, proof, models, chats, facts, view, documented_tiers)
    capabilities = _capabilities(by, observations, status, models, facts, view)
    raw = dict(facts.raw)
    raw.setdefault("readable", {p: readability(by.get(p, [])) for p in _reads(view, "usage", "balance", "operations")})
    return Profile(
        label=label,
        identification=identification,
        status=status,
        metrics=metrics,
        models=tuple(models),
        capabilities=tuple(capabilities),
        probe_requests=requests_sent,
        workspace=dict(facts.account),
        documented_tiers=tuple(documented_tiers),
        raw=raw,
        identity=facts.identity,
        balance=facts.balance,
        limits=tuple(facts.limits),
    )


def _requalify(o: Observation, rules: Sequence[NoQuotaRule]) -> Observation:
    """A model call the provider answered with its documented "cannot pay" answer is a 402 by another name."""
    if o.cost not in ("rejected", "billable") or o.status is None or o.outcome == "payment_required":
        return o
    for rule in rules:
        if (not rule.status or o.status in rule.status) and _all_hold(rule.body, o.json_body, 4096):
            note = f"the provider's documented no-quota answer ({o.status}){': ' + rule.source if rule.source else ''}"
            return replace(o, outcome="payment_required", accepted=False, detail=note)
    return o


def _group(observations: Iterable[Observation]) -> dict[str, list[Observation]]:
    out: dict[str, list[Observation]] = {}
    for o in observations:
        out.setdefault(o.probe, []).append(o)
    return out


def _sent(obs: Iterable[Observation]) -> list[Observation]:
    return [o for o in obs if o.status is not None and o.outcome not in ("skipped", "deadline")]


def _reads(view: ProviderView, *kinds: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p for k in kinds for p in view.reads.get(k, ())))


def _auth_proof(observations: Sequence[Observation], authenticated: frozenset[str]) -> Observation | None:
    """The first 200 from an endpoint the provider authenticates: proof that the key is valid."""
    return next((o for o in observations if o.probe in authenticated and o.outcome == "ok" and o.status == 200), None)


def _assumption_note(observations: Sequence[Observation]) -> str:
    """The assumption the answers of these (sent) probes rest on, as a note for the evidence text."""
    rests_on = next((o.assumption for o in observations if o.assumption and o.attempts), None)
    return f" ({rests_on})" if rests_on else ""


def _chats(observations: Sequence[Observation]) -> list[Observation]:
    """Model calls that were sent: refused-by-design ones, and billable ones that were answered."""
    return [
        o for o in _sent(observations)
        if o.cost == "rejected" or (o.cost == "billable" and o.accepted)
    ]  # fmt: skip


def _chat_results(observations: Sequence[Observation]) -> dict[str, Observation]:
    """model id -> the sent refused-by-design call that says whether it may be called (an accepted one wins)."""
    out: dict[str, Observation] = {}
    for o in _sent(observations):
        if o.cost != "rejected" or not o.item or o.placeholder:
            continue
        prev = out.get(o.item)
        if prev is None or _weight(o) > _weight(prev):
            out[o.item] = o
    return out


def _weight(o: Observation) -> int:
    """How much a model call says about the model: accepted > refused or unpaid > other > 404 (which may be
    a path the host does not serve as much as a model it does not know)."""
    if o.accepted:
        return 3
    if o.outcome in ("refused", "unauthorized", "payment_required"):
        return 2
    return 0 if o.outcome == "not_found" else 1


def _status(
    by: Mapping[str, list[Observation]],
    observations: Sequence[Observation],
    proof: Observation | None,
    view: ProviderView,
) -> KeyStatus:
    """The key's status from what the probes saw.

    Only evidence about real models counts for access: a placeholder model (sent when the catalog could
    not be read) may be refused exactly like a bad key, so its refusal proves nothing. A 200 from an
    endpoint the provider authenticates proves the key; a public endpoint's 200 proves nothing; a 404
    for a model after auth is evidence about that model, not the key.
    """
    chats = _chats(observations)
    # evidence about access needs a real model: not a placeholder, not a call that named none
    real = [o for o in chats if not o.placeholder and o.item]
    catalog = [o for o in by.get("catalog", []) if o.outcome != "skipped"]
    inference = [o for o in observations if o.role == "inference" and o.outcome != "skipped"]
    sent = [o for o in inference if o.outcome not in ("skipped", "deadline")]
    if not sent and proof is None:
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
            spent[0].probe,
        )
    accepted = [o for o in real if o.accepted]
    if accepted:
        n = len({o.item for o in accepted})
        rests_on = next((o.assumption for o in accepted if o.assumption), None)
        note = f" ({rests_on})" if rests_on else ""
        return KeyStatus(
            "valid", "accepted", f"{n} model(s) passed auth: a refused-by-design call was refused after auth{note}",
            accepted[0].probe,
        )
    unpaid = next((o for o in chats if o.outcome == "payment_required"), None)
    if unpaid is not None:
        return KeyStatus("valid_no_quota", "payment_required", "402 on a model call: billing or credits", unpaid.probe)
    if any(o.outcome == "waf_html" for o in inference):
        return KeyStatus("unknown", "waf_html", "an HTML error page (a WAF or proxy in front) answered")
    # the per-model checks go in one wave: one of them timing out says nothing against the 429s of the rest
    answered = [o for o in (real or chats) if o.status is not None and o.outcome != "not_found"]
    if answered and all(o.outcome == "rate_limited" for o in answered):
        return KeyStatus(
            "rate_limited", "429", "every model call was refused with 429 after bounded retries",
            proof.probe if proof else answered[0].probe,
        )
    refusals = ("refused", "unauthorized")
    real_refused = bool(real) and all(o.outcome in refusals for o in real)
    real_denied = bool(real) and all(o.outcome in (*refusals, "not_found") for o in real)
    catalog_refused = bool(catalog) and all(o.outcome in refusals for o in catalog)
    # the inference host gave nothing usable (5xx, no answer, unreadable bodies): the status says so even when
    # an authenticated read elsewhere proved the key (key_valid keeps that proof)
    unusable = ("server_error", "network", "timeout", "deadline", "bad_json", "too_large")

    def usable(o: Observation) -> bool:  # a model call that names no real model says nothing either
        return o.outcome not in unusable and not (o.cost != "read" and (not o.item or o.placeholder))

    inference_down = bool(sent) and not any(usable(o) for o in sent)
    if proof is not None and not inference_down:
        where = f"{proof.probe}: {proof.method} {proof.path} answered 200, an endpoint the provider authenticates"
        if real_denied or catalog_refused:
            return KeyStatus("valid_not_scoped", "no_model_allowed",
                             f"the key authenticates ({where}); no probed model accepted it", proof.probe)  # fmt: skip
        return KeyStatus("valid", "authenticated", where, proof.probe)
    if real_refused or catalog_refused:
        where = real[0] if real_refused else catalog[0]
        said = f"{where.probe}: {where.status} {_short(where.json_body)}"
        if not view.scheme_settled:
            return KeyStatus(
                "unknown", "scheme_not_settled",
                f"refused in {where.auth or 'the default scheme'} ({said}), but no known provider was identified, "
                "so that scheme may be the wrong one: the refusal is not evidence against the key",
            )  # fmt: skip
        hint = ""
        if any(o.role == "management" and o.outcome == "skipped" and o.detail == "no management URL"
               for o in observations):  # fmt: skip
            hint = "; with --management-url a key without inference rights is told apart from an invalid one"
        return KeyStatus("invalid", "refused", f"the provider refused the key ({said}){hint}", where.probe)
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


def _workspace_limit(facts: ProviderFacts, scope: str) -> Limit | None:
    return next((lim for lim in facts.limits if lim.scope == scope and lim.model is None), None)


def _model_rows(
    observations: Sequence[Observation],
    chats: Mapping[str, Observation],
    facts: ProviderFacts,
    key_proven: bool,
) -> list[ModelRow]:
    catalog = catalog_items(observations)
    listed_ids = {c["id"] for c in catalog}
    # models called but not listed (a scoped key's own models); placeholders are not models of the key
    extra = [m for m in chats if m not in listed_ids]
    ids = [m["id"] for m in catalog] + list(dict.fromkeys(extra))
    by_id = {m["id"]: m for m in catalog}
    ws_rpm = _workspace_limit(facts, "requests_per_minute")
    ws_tpm = _workspace_limit(facts, "tokens_per_minute")
    access = facts.key_access
    rows = []
    for model_id in ids:
        entry = by_id.get(model_id, {})
        mf = facts.models.get(model_id, ModelFacts())
        pricing = entry.get("pricing") if isinstance(entry.get("pricing"), dict) else {}
        obs = chats.get(model_id)
        allowed: bool | None
        probe: str | None
        if obs is not None and obs.accepted:
            routed = facts.routed_to.get(model_id)
            allowed, probe = True, obs.probe
            evidence = f"{obs.status}: refused after auth, before any work"
            evidence += f"; routed to {routed}" if routed else ""
        elif obs is not None and obs.outcome in ("refused", "unauthorized"):
            allowed, probe, evidence = False, obs.probe, f"{obs.status}: refused ({_short(obs.json_body, 60)})"
        elif obs is not None and obs.outcome == "not_found" and key_proven:
            allowed, probe = False, obs.probe
            evidence = "404 after auth: the model does not exist or this key may not use it"
            evidence += f" ({_short(obs.json_body, 60)})"
        else:
            seen = f"{obs.probe}: {obs.status or obs.outcome}, inconclusive" if obs is not None else ""
            if access is not None and access.models is not None:
                allowed, probe = model_id in access.models, access.probe
                evidence = "; ".join(x for x in (access.evidence, seen) if x)
            elif access is not None:
                allowed, probe = True, access.probe
                evidence = "; ".join(x for x in (access.evidence, seen or "not called") if x)
            else:
                allowed, probe, evidence = None, None, seen or "not probed"
        price_in = _per_mtok(pricing.get("prompt"))
        price_out = _per_mtok(pricing.get("completion"))
        price_probe = "catalog" if price_in is not None or price_out is not None else None
        cached = _per_mtok(pricing.get("input_cache_read"))
        if price_probe is None and (mf.price_in_per_mtok is not None or mf.price_out_per_mtok is not None):
            price_in, price_out, cached = mf.price_in_per_mtok, mf.price_out_per_mtok, mf.price_cached_in_per_mtok
            price_probe = mf.price_probe or mf.probe
        rpm, tpm, limits_probe = mf.rpm, mf.tpm, mf.limits_probe
        limits_prov: Provenance = "observed" if (rpm is not None or tpm is not None) else "unknown"
        if limits_prov == "unknown" and (ws_rpm or ws_tpm):
            rpm = int(ws_rpm.value) if ws_rpm else None
            tpm = int(ws_tpm.value) if ws_tpm else None
            first = ws_tpm or ws_rpm
            assert first is not None
            limits_prov, limits_probe = first.provenance, first.probe
        rows.append(
            ModelRow(
                model=model_id,
                name=entry.get("name") if isinstance(entry.get("name"), str) else mf.name,
                listed=model_id in by_id,
                allowed=allowed,
                allowed_evidence=evidence,
                price_in_per_mtok=price_in,
                price_out_per_mtok=price_out,
                price_cached_in_per_mtok=cached,
                price_provenance="observed" if price_probe else "unknown",
                context_length=_int(entry.get("context_length")) or mf.context_length,
                max_completion_tokens=_int(entry.get("max_completion_tokens")) or mf.max_completion_tokens,
                features=_tuple(entry.get("supported_features")) or mf.features,
                input_modalities=_tuple(entry.get("input_modalities")) or mf.input_modalities,
                output_modalities=_tuple(entry.get("output_modalities")) or mf.output_modalities,
                rpm=rpm,
                tpm=tpm,
                limits_provenance=limits_prov,
                allowed_probe=probe,
                price_probe=price_probe,
                limits_probe=limits_probe if limits_prov != "unknown" else None,
            )
        )
    return rows


def _metric(name: str, fact: Fact) -> Metric:
    return Metric(name, fact.value, fact.provenance, fact.probe, fact.note)


def _metrics(
    by: Mapping[str, list[Observation]],
    observations: Sequence[Observation],
    status: KeyStatus,
    proof: Observation | None,
    models: Sequence[ModelRow],
    chats: Mapping[str, Observation],
    facts: ProviderFacts,
    view: ProviderView,
    documented_tiers: Sequence[Mapping[str, Any]],
) -> dict[str, Metric]:
    m: dict[str, Metric] = {}
    # key_valid: proof from an authenticated 200, else the model call that passed (or failed) auth
    if proof is not None:  # whatever else failed, the provider authenticated the key
        m["key_valid"] = Metric("key_valid", True, "observed", proof.probe,
                                f"{proof.method} {proof.path} answered 200; the provider authenticates it")  # fmt: skip
    elif status.code == "rate_limited":
        m["key_valid"] = Metric("key_valid", None, "unknown", status.probe,
                                "every call got 429, which a gateway may send before checking the key")  # fmt: skip
    elif status.code in ("valid", "valid_no_quota", "valid_not_scoped"):
        m["key_valid"] = Metric("key_valid", True, "observed", status.probe, status.detail)
    elif status.code in ("invalid", "revoked"):
        m["key_valid"] = Metric("key_valid", False, "observed", status.probe, status.detail)
    else:
        m["key_valid"] = Metric("key_valid", None, "unknown", None, f"{status.reason}: {status.detail}")

    # requests_total
    usage_probes = _reads(view, "usage")
    if facts.requests_total is not None:
        m["requests_total"] = _metric("requests_total", facts.requests_total)
    else:
        support, note = view.capabilities.get("usage and billing", ("unknown", ""))
        seen = readability([o for p in usage_probes for o in by.get(p, [])]) if usage_probes else "not probed"
        if seen == "readable":
            seen = f"the usage read ({', '.join(usage_probes)}) counts money, not requests"
        why = f"the provider exposes no usage endpoint for this key ({note})" if support == "unsupported" else seen
        m["requests_total"] = Metric("requests_total", None, "unknown", None, why)

    # runtime_model: the model that answered a billable call, else one a refused-by-design call reached
    runtime = next((o for o in by.get("runtime_call", []) if o.outcome == "ok"), None)
    accepted_rows = [r for r in models if r.allowed and r.allowed_probe in chats_probes(chats)]
    if runtime is not None and isinstance(runtime.json_body, dict) and runtime.json_body.get("model"):
        m["runtime_model"] = Metric(
            "runtime_model", str(runtime.json_body["model"]), "observed", runtime.probe,
            f"a 1-token completion for {runtime.item} answered as this model",
        )  # fmt: skip
    elif accepted_rows:
        row = accepted_rows[0]
        routed = facts.routed_to.get(row.model)
        m["runtime_model"] = Metric(
            "runtime_model", row.model, "derived", row.allowed_probe,
            "a refused-by-design request for this model passed auth"
            + (f" and was routed to {routed}" if routed else "")
            + "; pass --allow-billable to observe the answering model",
        )  # fmt: skip
    else:
        m["runtime_model"] = Metric("runtime_model", None, "unknown", None, "no model call passed auth")

    # runtime_model_allowed
    rm = m["runtime_model"].value
    if rm is None:
        m["runtime_model_allowed"] = Metric("runtime_model_allowed", None, "unknown", None, "no runtime model")
    else:
        row = next((r for r in models if r.model == rm), None)
        ok = bool(row and row.listed and row.allowed)
        cited = (row.allowed_probe if row else None) or m["runtime_model"].probe
        m["runtime_model_allowed"] = Metric(
            "runtime_model_allowed", ok, "derived", cited,
            "listed in the catalog and callable with this key" if ok else "not both listed and callable",
        )  # fmt: skip

    # tokens_limit / tokens_limit_day, from the limits
    tpm = _workspace_limit(facts, "tokens_per_minute")
    tpd = _workspace_limit(facts, "tokens_per_day")
    if tpm is not None:
        m["tokens_limit"] = Metric("tokens_limit", int(tpm.value), tpm.provenance, tpm.probe,
                                   tpm.note or "tokens per minute")  # fmt: skip
    else:
        tiers = ", ".join(f"{t.get('tier')}: {t.get('tpm')}" for t in documented_tiers if t.get("tpm"))
        note = "no tokens-per-minute limit readable with this key" + (
            f"; documented tiers (TPM) {tiers}" if tiers else "")
        m["tokens_limit"] = Metric("tokens_limit", None, "unknown", None, note)
    if tpd is not None:
        m["tokens_limit_day"] = Metric("tokens_limit_day", int(tpd.value), tpd.provenance, tpd.probe,
                                       tpd.note or "tokens per day")  # fmt: skip
    elif tpm is not None:
        m["tokens_limit_day"] = Metric(
            "tokens_limit_day", int(tpm.value) * _MINUTES_PER_DAY,
            "derived" if tpm.provenance != "documented" else "documented", tpm.probe,
            "per-minute limit x 1440; the provider exposes no enforced daily token budget in these answers",
        )  # fmt: skip
    else:
        m["tokens_limit_day"] = Metric("tokens_limit_day", None, "unknown", None, m["tokens_limit"].note)

    # token_role / token_scopes
    if facts.role is not None:
        m["token_role"] = _metric("token_role", facts.role)
    else:
        no_url = any(o.role == "management" and o.detail == "no management URL" for o in observations)
        support, _ = view.capabilities.get("key identity", ("unknown", ""))
        why = ("no management URL" if no_url else
               "the provider exposes no key type" if support == "unsupported" else "key type not readable")
        m["token_role"] = Metric("token_role", None, "unknown", None, why)
    if facts.scopes is not None:
        m["token_scopes"] = _metric("token_scopes", facts.scopes)
    else:
        sent_chats = [o for o in chats.values()]
        accepted = [o for o in sent_chats if o.accepted]
        if accepted and status.code == "valid":
            names = [r.model for r in models if r.allowed and r.allowed_probe in chats_probes(chats)]
            m["token_scopes"] = Metric(
                "token_scopes", names, "derived", accepted[0].probe,
                f"the models whose refused-by-design calls passed auth ({len(names)} of {len(sent_chats)} called)",
            )  # fmt: skip
        elif status.code == "valid_not_scoped":
            catalog = [o for o in _sent(by.get("catalog", [])) if o.outcome in ("refused", "unauthorized")]
            if sent_chats:
                note = f"none of the {len(sent_chats)} model(s) called accepted the key"
                m["token_scopes"] = Metric("token_scopes", [], "derived", sent_chats[0].probe, note)
            elif catalog:
                m["token_scopes"] = Metric("token_scopes", [], "derived", catalog[0].probe,
                                           "the catalog refused the key: no model can be listed or called")  # fmt: skip
            else:
                m["token_scopes"] = Metric("token_scopes", None, "unknown", None, "no model was called")
        else:
            m["token_scopes"] = Metric("token_scopes", None, "unknown", None, "scope not determinable")
    return {name: m[name] for name in METRIC_NAMES}


def chats_probes(chats: Mapping[str, Observation]) -> set[str]:
    return {o.probe for o in chats.values()}


def _capabilities(
    by: Mapping[str, list[Observation]],
    observations: Sequence[Observation],
    status: KeyStatus,
    models: Sequence[ModelRow],
    facts: ProviderFacts,
    view: ProviderView,
) -> list[Capability]:
    def support(name: str) -> tuple[str, str]:
        return view.capabilities.get(name, ("unknown", ""))

    def unsupported_or(name: str, probes: Sequence[str], extra: str = "") -> Capability:
        level, note = support(name)
        if level == "unsupported":
            why = f"the provider exposes no read-only endpoint for this{': ' + note if note else ''}"
            return Capability(name, "unsupported", why + (f"; {extra}" if extra else ""), ())
        return _not_verified(name, [o for p in probes for o in by.get(p, [])])

    listed = [r for r in models if r.listed]
    allowed = [r for r in models if r.allowed]
    refused = [r for r in models if r.allowed is False]
    caps: list[Capability] = []
    ident = facts.identity
    if ident is not None and ident.seen:
        who = ", ".join(f"{k}={v}" for k, v in (("user", ident.user), ("workspace", ident.workspace),
                                                  ("organization", ident.organization)) if v)  # fmt: skip
        caps.append(Capability("key identity", "verified", f"{who} ({ident.evidence})", _sent_names(by, ident.probes)))
    else:
        caps.append(unsupported_or("key identity", _reads(view, "identity")))
    if listed:
        caps.append(Capability("model catalog", "verified", f"{len(listed)} models listed by /models", ("catalog",)))
    else:
        caps.append(_not_verified("model catalog", by.get("catalog", [])))
    judged = [r for r in models if r.allowed is not None]
    if judged:
        cited = tuple(dict.fromkeys(r.allowed_probe for r in judged if r.allowed_probe))
        caps.append(
            Capability(
                "model permission matrix", "verified",
                f"{len(allowed)} allowed, {len(refused)} refused of {len(judged)} models"
                + _assumption_note([o for o in observations if o.cost == "rejected"]),
                _sent_names(by, cited),
            )
        )  # fmt: skip
    else:
        caps.append(_not_verified("model permission matrix", [o for o in observations if o.cost == "rejected"]))
    ws = [lim for lim in facts.limits if lim.model is None]
    if ws:
        text = ", ".join(f"{lim.scope.replace('_', ' ')} {lim.value:,.0f} ({lim.provenance})" for lim in ws)
        cited = tuple(dict.fromkeys(lim.probe for lim in ws if lim.probe))
        caps.append(Capability("limit matrix", "verified", text, _sent_names(by, cited)))
    else:
        cap = unsupported_or("limit matrix", _reads(view, "limits"))
        caps.append(Capability(cap.name, cap.status, cap.evidence + "; documented tiers shown for comparison",
                               cap.probes))  # fmt: skip
    with_features = [r for r in listed if r.features or r.context_length]
    if with_features:
        text = f"features/context for {len(with_features)} models from /models"
        caps.append(Capability("capability matrix", "verified", text, ("catalog",)))
    else:
        level, note = support("capability matrix")
        if level == "unsupported" and listed:
            caps.append(Capability("capability matrix", "unsupported", f"the catalog carries no features ({note})", ()))
        else:
            caps.append(_not_verified("capability matrix", by.get("catalog", [])))
    bal = facts.balance
    if bal is not None:
        parts = [f"{k} {v:,.2f}" for k, v in (("remaining", bal.remaining), ("granted", bal.granted),
                                              ("used", bal.used), ("limit", bal.limit)) if v is not None]  # fmt: skip
        caps.append(Capability("balance", "verified", f"{bal.currency or ''} {', '.join(parts)}".strip(),
                               _sent_names(by, (bal.probe,))))  # fmt: skip
    else:
        level, note = support("balance")
        if level in ("unsupported", "partial") and not _reads(view, "balance"):
            extra = facts.notes.get("balance", "")
            caps.append(Capability("balance", "unsupported",
                                   f"no read-only balance endpoint ({note})" + (f"; {extra}" if extra else ""),
                                   ()))  # fmt: skip
        else:
            caps.append(_not_verified("balance", [o for p in _reads(view, "balance") for o in by.get(p, [])]))
    usage_probes = _reads(view, "usage")
    usage_ok = [p for p in usage_probes if any(o.outcome == "ok" for o in by.get(p, []))]
    if usage_ok:
        caps.append(Capability("usage and billing", "verified", f"usage read ({', '.join(usage_ok)})", tuple(usage_ok)))
    else:
        caps.append(unsupported_or("usage and billing", usage_probes))
    priced = [r for r in listed if r.priced]
    if priced:
        price_probes = [p for p in _reads(view, "prices") if p != "catalog" and _first_ok(by, p)]
        extra = f"; also read {', '.join(price_probes)}" if price_probes else ""
        cited = tuple(dict.fromkeys([*(r.price_probe for r in priced if r.price_probe), *price_probes]))
        caps.append(Capability("pricing", "verified", f"{len(priced)} models priced per token{extra}",
                               _sent_names(by, cited)))  # fmt: skip
    else:
        caps.append(unsupported_or("pricing", _reads(view, "prices") or ("catalog",)))
    chats = _chat_results(observations)
    routed = [o for o in chats.values() if o.accepted]
    if routed:
        where = next((facts.routed_to[o.item] for o in routed if o.item in facts.routed_to), None)
        caps.append(
            Capability(
                "routing", "verified",
                f"{len(routed)} model(s) reached past auth" + (f" (e.g. routed to {where})" if where else ""),
                tuple(dict.fromkeys(o.probe for o in routed)),
            )
        )  # fmt: skip
    elif status.code == "invalid":
        caps.append(Capability("routing", "denied", "the provider refused the key", _sent_names(by, (status.probe,))))
    else:
        level, note = support("routing")
        if level == "unsupported":
            caps.append(Capability("routing", "unsupported", f"no routing choices exposed ({note})", ()))
        else:
            caps.append(_not_verified("routing", [o for o in observations if o.cost == "rejected"]))
    ops = _reads(view, "operations")
    ops_ok = [p for p in ops if _first_ok(by, p)]
    if ops_ok:
        caps.append(Capability("operational actions", "verified",
                               f"{', '.join(ops_ok)} readable for monitoring (writes are never exercised)",
                               tuple(ops_ok)))  # fmt: skip
    else:
        caps.append(unsupported_or("operational actions", ops))
    return caps


def _first_ok(by: Mapping[str, list[Observation]], name: str) -> Observation | None:
    return next((o for o in by.get(name, []) if o.outcome == "ok"), None)


def _sent_names(by: Mapping[str, list[Observation]], probes: Iterable[str | None]) -> tuple[str, ...]:
    """Only the probes that were really sent may be cited."""
    return tuple(p for p in dict.fromkeys(probes) if p and _sent(by.get(p, [])))


def _not_verified(name: str, obs: Sequence[Observation]) -> Capability:
    sent = _sent(obs)
    if not obs:
        return Capability(name, "unknown", "not probed for this provider", ())
    if not sent:
        return Capability(name, "unknown", f"not probed: {obs[0].detail or obs[0].outcome}", ())
    cited = tuple(dict.fromkeys(o.probe for o in sent))
    answered = [o.probe for o in sent if o.outcome == "ok"]
    if answered:
        return Capability(name, "unknown", f"{', '.join(dict.fromkeys(answered))} answered without it", cited)
    if any(o.outcome in ("refused", "unauthorized") for o in sent):
        o = next(o for o in sent if o.outcome in ("refused", "unauthorized"))
        return Capability(name, "denied", f"{o.probe}: {o.status} for this key", cited)
    o = sent[0]
    return Capability(
        name, "error", f"{o.probe}: {o.status or o.outcome}" + (f" ({o.detail})" if o.detail else ""), cited
    )
