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
    readability,
)
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
        """The sample metrics as a polars frame (:func:`testkey_nb.report.frames.metrics_frame`)."""
        return _frames().metrics_frame(self)

    def model_rows(self) -> list[dict[str, Any]]:
        """One plain dict per model (what ``models_frame`` holds; ``probe --json`` uses it without polars)."""

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
                "allowed_probe": m.allowed_probe,
            }
            for m in self.models
        ]  # fmt: skip

    def models_frame(self):  # -> pl.DataFrame
        """One row per model as a polars frame (:func:`testkey_nb.report.frames.models_frame`)."""
        return _frames().models_frame(self)

    def capabilities_frame(self):  # -> pl.DataFrame
        """The ten capabilities as a polars frame (:func:`testkey_nb.report.frames.capabilities_frame`)."""
        return _frames().capabilities_frame(self)

    def tiers_frame(self):  # -> pl.DataFrame
        """The provider's documented rate-limit tiers (tier, rpm, tpm), for comparison."""
        return _frames().tiers_frame(self)

    def metric_values(self) -> dict[str, Any]:
        return {name: self.metrics[name].value for name in METRIC_NAMES}


def _frames() -> Any:
    """:mod:`testkey_nb.report.frames`, where the frames live (polars loads only when a frame is asked
    for). KNOWN UPWARD REACH (issue 20): the frame methods stay on :class:`Profile` because notebooks and
    tests call them; this lazy import is the one place the profile names a module downstream of it."""
    from testkey_nb.report import frames

    return frames


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
        balance=facts.balance,
        limits=tuple(facts.limits),
    )
