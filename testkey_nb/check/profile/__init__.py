"""Observations -> what the key is: status, the eight sample metrics, the model and capability matrices.

One module per job: ``observed`` (which answers count), ``status``, ``models`` (the permission matrix),
``metrics``, ``capabilities``; this package combines them into a :class:`Profile`.

Every figure keeps its provenance (``observed``, ``derived``, ``documented`` or ``unknown``) and the
probe it came from, so a report never shows a guess as a fact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from testkey_nb.check.facts import (
    Balance,
    Identity,
    Limit,
    ProviderFacts,
    balances_of,
    headline_balance,
    readability,
)
from testkey_nb.check.key_usage import KeyUsage
from testkey_nb.check.profile.capabilities import CAPABILITIES, Capability, _capabilities
from testkey_nb.check.profile.metrics import METRIC_NAMES, Metric, _metrics
from testkey_nb.check.profile.models import ModelRow, _model_rows
from testkey_nb.check.profile.observed import ProviderView, _auth_proof, _chat_results, _group, _reads, _requalify
from testkey_nb.check.profile.status import STATUS_MEANINGS, KeyStatus, _status
from testkey_nb.identify.score import Identification
from testkey_nb.probe.observation import Observation

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
    #: the headline balance: the most binding of ``balances`` (None when no money was read or given)
    balance: Balance | None = None
    limits: tuple[Limit, ...] = ()
    #: how the provider bills beyond per-token prices, from its data (``deployment_minutes``, or "")
    billing: str = ""
    #: every balance read (or given by the user), each with its scope and exchange
    balances: tuple[Balance, ...] = ()
    #: how the account pays once its money is gone, as the user said (``card`` | ``none``); None: not said
    payment_method: str | None = None
    #: what this key itself used (``key_usage``), when the provider tells
    key_usage: KeyUsage | None = None

    def key_usage_json(self) -> dict[str, Any] | None:
        """``key_usage``: ``{from, to, requests, ..., by_model, by_day, provenance, probe, exchange}``."""
        return self.key_usage.as_json() if self.key_usage else None

    def identity_json(self) -> dict[str, Any]:
        """``{user, workspace, organization, evidence, exchanges}``, nulls where unseen."""
        return (self.identity or Identity()).as_json()

    def balance_json(self) -> dict[str, Any] | None:
        return self.balance.as_json() if self.balance else None

    def balances_json(self) -> list[dict[str, Any]]:
        """``[{scope, currency, remaining, limit, used, granted, provenance, probe, exchange}]``."""
        return [b.as_json() for b in self.balances]

    def limits_json(self) -> list[dict[str, Any]]:
        """Key- or workspace-wide limits: ``[{scope, value, provenance, source, exchange}]``."""
        return [lim.as_json() for lim in self.limits if lim.model is None]

    def model_rows(self) -> list[dict[str, Any]]:
        """One plain dict per model (what :func:`testkey_nb.report.frames.models_frame` holds; ``probe --json``
        uses them without polars)."""

        def num(value: float | None) -> float | None:
            return None if value is None else float(value)

        return [
            {
                "model": m.model, "name": m.name, "listed": m.listed, "allowed": m.allowed, "priced": m.priced,
                "unpriced": not m.priced,
                "allowed_evidence": m.allowed_evidence, "price_in_per_mtok": num(m.price_in_per_mtok),
                "price_out_per_mtok": num(m.price_out_per_mtok),
                "price_cached_in_per_mtok": num(m.price_cached_in_per_mtok),
                "price_provenance": m.price_provenance, "context_length": m.context_length,
                "max_completion_tokens": m.max_completion_tokens, "features": list(m.features),
                "input_modalities": list(m.input_modalities), "output_modalities": list(m.output_modalities),
                "rpm": m.rpm, "tpm": m.tpm, "limits_provenance": m.limits_provenance,
                "allowed_probe": m.allowed_probe, "allowed_exchange": m.allowed_exchange,
                "price_exchange": m.price_exchange, "limits_exchange": m.limits_exchange,
            }
            for m in self.models
        ]  # fmt: skip

    def metric_values(self) -> dict[str, Any]:
        return {name: self.metrics[name].value for name in METRIC_NAMES}


def build_profile(
    *,
    label: str,
    identification: Identification,
    observations: Sequence[Observation],
    requests_sent: int,
    facts: ProviderFacts | None = None,
    provider: ProviderView | None = None,
    documented_tiers: Sequence[Mapping[str, Any]] = (),
    payment_method: str | None = None,
) -> Profile:
    """Combine the observations and the provider's facts into the profile. ``payment_method``: what the
    user said of how the account pays (never assumed)."""
    facts = facts or ProviderFacts()
    view = provider or ProviderView()
    observations = [_requalify(o, view) for o in observations]
    by = _group(observations)
    proof = _auth_proof(observations, view.authenticated)
    status = _status(by, observations, proof, view)
    chats = _chat_results(observations)
    key_proven = proof is not None or any(o.accepted for o in chats.values())
    models = _model_rows(observations, chats, facts, key_proven, view.catalog)
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
        balance=headline_balance(balances_of(facts)),
        limits=tuple(facts.limits),
        billing=view.billing,
        balances=balances_of(facts),
        payment_method=payment_method,
        key_usage=facts.key_usage,
    )
