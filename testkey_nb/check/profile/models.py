"""The model permission matrix: one :class:`ModelRow` per model (listed, allowed, priced, limits), each cell
with the probe it rests on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from testkey_nb.check.facts import (
    Limit,
    ModelFacts,
    Provenance,
    ProviderFacts,
    catalog_items,
    first_ok,
)
from testkey_nb.check.profile.observed import said_text
from testkey_nb.identify.schema import CatalogFields
from testkey_nb.probe.observation import Observation


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
    #: the exchanges each cell rests on
    allowed_exchange: str | None = None
    price_exchange: str | None = None
    limits_exchange: str | None = None

    @property
    def priced(self) -> bool:
        return self.price_in_per_mtok is not None and self.price_out_per_mtok is not None


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
    fields: CatalogFields | None = None,
) -> list[ModelRow]:
    catalog = catalog_items(observations, fields=fields)
    catalog_obs = first_ok(observations, "catalog")
    catalog_exchange = catalog_obs.exchange if catalog_obs is not None else None
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
        raw_pricing = entry.get("pricing")
        pricing: dict[str, Any] = raw_pricing if isinstance(raw_pricing, dict) else {}
        obs = chats.get(model_id)
        allowed: bool | None
        probe: str | None
        exchange = obs.exchange if obs is not None else None
        if obs is not None and obs.accepted:
            routed = facts.routed_to.get(model_id)
            allowed, probe = True, obs.probe
            evidence = f"{obs.status}: refused after auth, before any work"
            evidence += f"; routed to {routed}" if routed else ""
        elif obs is not None and obs.outcome in ("refused", "unauthorized"):
            allowed, probe, evidence = False, obs.probe, f"HTTP {obs.status}: refused{said_text(obs.json_body, 60)}"
        elif obs is not None and obs.outcome == "not_found" and key_proven:
            allowed, probe = False, obs.probe
            evidence = "404 after auth: the model does not exist or this key may not use it"
            evidence += said_text(obs.json_body, 60)
        else:
            seen = f"{obs.probe}: {obs.status or obs.outcome}, inconclusive" if obs is not None else ""
            exchange = access.exchange if access is not None else None
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
        price_exchange = catalog_exchange if price_probe else None
        cached = _per_mtok(pricing.get("input_cache_read"))
        if price_probe is None and (mf.price_in_per_mtok is not None or mf.price_out_per_mtok is not None):
            price_in, price_out, cached = mf.price_in_per_mtok, mf.price_out_per_mtok, mf.price_cached_in_per_mtok
            price_probe, price_exchange = mf.price_probe or mf.probe, mf.price_exchange
        rpm, tpm, limits_probe, limits_exchange = mf.rpm, mf.tpm, mf.limits_probe, mf.limits_exchange
        limits_prov: Provenance = "observed" if (rpm is not None or tpm is not None) else "unknown"
        if limits_prov == "unknown" and (ws_rpm or ws_tpm):
            rpm = int(ws_rpm.value) if ws_rpm else None
            tpm = int(ws_tpm.value) if ws_tpm else None
            first = ws_tpm or ws_rpm
            assert first is not None
            limits_prov, limits_probe, limits_exchange = first.provenance, first.probe, first.exchange
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
                allowed_exchange=exchange if allowed is not None else None,
                price_exchange=price_exchange,
                limits_exchange=limits_exchange if limits_prov != "unknown" else None,
            )
        )
    return rows
