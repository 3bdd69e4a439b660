"""The result of one check: :class:`KeyCheck` (its JSON, its fleet-index summary), the options a check
takes (:class:`CheckOptions`) and the one error a check raises (:class:`CheckError`).

This is the data only. Its notebook face (the card Jupyter shows, the polars frames) is the public
:class:`testkey_nb.api.KeyCheck`, a subclass in the layer above: ``check`` never imports ``report``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Self

from testkey_nb.check.decide import Decision
from testkey_nb.check.lenses import DEFAULT_LENS, LensResult, check_lens, evaluate_lenses
from testkey_nb.check.profile import Profile
from testkey_nb.identify.score import Identification
from testkey_nb.probe.observation import Observation, spend_of
from testkey_nb.probe.plan import Targets

__all__ = ["CheckError", "CheckOptions", "KeyCheck"]


class CheckError(RuntimeError):
    """The check could not run (bad key ref, unknown provider, no target). One line, no key."""

    def _render_traceback_(self) -> list[str]:
        """IPython shows this one line instead of a traceback."""
        return [f"testkey-nb: error: {self}"]


@dataclass(frozen=True)
class CheckOptions:
    base_url: str | None = None
    management_url: str | None = None
    claim: str | None = None
    #: with a claim and no base URL: the provider's official hosts on this route (``global`` or ``china``)
    route: str | None = None
    allow_billable: bool = False
    timeout_s: float = 10.0
    deadline_s: float = 60.0
    #: force ``Authorization: <scheme> KEY`` on every request (default: the provider's own scheme)
    auth_scheme: str | None = None
    concurrent: bool = True
    label: str | None = None
    max_model_checks: int = 16
    #: politeness cap: at most this many requests in flight at once (``--max-in-flight``)
    max_in_flight: int = 16
    #: allow http:// to a host that is not loopback (the key would cross the network in clear text)
    allow_http: bool = False
    #: the lens the check answers (all three are computed; see testkey_nb/check/lenses.py)
    lens: str = DEFAULT_LENS
    #: money left, as the user knows it (USD), where the provider shows none (``--credits-remaining``)
    credits_remaining: float | None = None
    #: how the account pays once its money is gone: ``card`` | ``none`` (``--payment-method``)
    payment_method: str | None = None


@dataclass(frozen=True)
class KeyCheck:
    label: str
    key_ref: str | None
    targets: Targets
    identification: Identification
    observations: tuple[Observation, ...]
    profile: Profile
    decision: Decision
    checked_at: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: the route the key travelled: ``global`` or ``china``, from the host it was checked on (provider data)
    route: str = "global"
    #: the lens the check answers (``inventory-fit``, ``onboarding-readiness``, ``commercial-launch``)
    lens: str = DEFAULT_LENS
    #: all three lenses, by name (empty: computed on demand from the profile and the decision)
    lenses: Mapping[str, LensResult] = field(default_factory=dict)

    def lens_results(self) -> Mapping[str, LensResult]:
        """All three lenses, by name (testkey_nb/check/lenses.toml's rules over this check's evidence)."""
        return self.lenses or evaluate_lenses(self.profile, self.identification, self.decision)

    def answer(self) -> LensResult:
        """The lens this check answers (:attr:`lens`)."""
        return self.lens_results()[self.lens]

    def with_lens(self, lens: str | None) -> Self:
        """The same check answering ``lens`` (a :class:`~testkey_nb.check.lenses.LensError` if unknown)."""
        return replace(self, lens=check_lens(lens), lenses=self.lens_results())

    def with_history(self, rows: Sequence[Mapping[str, Any]]) -> Self:
        """The lenses again, judging stability by the key's earlier index rows (oldest first)."""
        return replace(self, lenses=evaluate_lenses(self.profile, self.identification, self.decision, rows))

    def lenses_json(self) -> dict[str, Any]:
        """``{NAME: {verdict, summary, actions, title, question}}`` for the three lenses."""
        return {name: result.as_json() for name, result in self.lens_results().items()}

    def to_json(self) -> dict[str, Any]:
        """The ``probe --json`` object. Holds the label and key ref, never the key."""
        ident = self.identification
        prof = self.profile
        return {
            "label": self.label,
            "key_ref": self.key_ref,
            "checked_at": self.checked_at,
            "provider": {
                "id": ident.provider,
                "confidence": round(ident.confidence, 3),
                "claimed": ident.claimed,
                "matches_claim": ident.matches_claim,
                "evidence": [
                    {
                        "source": e.source,
                        "probe": e.probe,
                        "detail": e.detail,
                        "provider": e.provider,
                        "weight": e.weight,
                    }
                    for e in ident.evidence
                ],
                "conflicts": list(ident.conflicts),
                "route": self.route,
            },
            "targets": {"inference": self.targets.inference, "management": self.targets.management},
            "metrics": prof.metric_values(),
            "provenance": {
                name: {"provenance": m.provenance, "probe": m.probe, "note": m.note, "exchange": m.exchange}
                for name, m in prof.metrics.items()
            },
            "status": prof.status.code,
            "status_reason": prof.status.reason,
            "status_detail": prof.status.detail,
            "capabilities": [
                {"capability": c.name, "status": c.status, "grade": c.grade, "evidence": c.evidence,
                 "probes": list(c.probes), "exchanges": list(c.exchanges)}
                for c in prof.capabilities
            ],
            "models": prof.model_rows(),  # plain rows: the probe command never imports polars
            "workspace": dict(prof.workspace),
            "identity": prof.identity_json(),
            "balance": prof.balance_json(),
            "balances": prof.balances_json(),
            "payment_method": prof.payment_method,
            "limits": prof.limits_json(),
            "key_usage": prof.key_usage_json(),
            "verdict": self.decision.verdict,
            "verdict_summary": self.decision.summary,
            "actions": [a.as_dict() for a in self.decision.actions],
            "lens": self.lens,
            "lenses": self.lenses_json(),
            "probe_requests": prof.probe_requests,
            "spend": spend_of(self.observations),
            "probes": [o.summary() for o in self.observations],
        }

    def __repr__(self) -> str:
        return (
            f"KeyCheck(label={self.label!r}, provider={self.identification.provider!r}, "
            f"status={self.profile.status.code!r}, verdict={self.decision.verdict!r})"
        )

    def summary(self) -> dict[str, Any]:
        """One row of the fleet index: what a stakeholder ranks keys by (no raw probe records)."""
        prof = self.profile
        allowed = [m for m in prof.models if m.allowed]
        return {
            "label": self.label,
            "provider": self.identification.provider,
            "confidence": round(self.identification.confidence, 3),
            "claimed": self.identification.claimed,
            "matches_claim": self.identification.matches_claim,
            "route": self.route,
            "key_valid": prof.metrics["key_valid"].value,
            "status": prof.status.code,
            "status_reason": prof.status.reason,
            "verdict": self.decision.verdict,
            "verdict_summary": self.decision.summary,
            "actions": [a.as_dict() for a in self.decision.actions],
            "lens": self.lens,
            "lenses": self.lenses_json(),
            "allowed_models": len(allowed),
            "priced_models": sum(1 for m in allowed if m.priced),
            "tokens_per_minute": prof.metrics["tokens_limit"].value,
            "tokens_limit": prof.metrics["tokens_limit"].value,
            "tokens_limit_day": prof.metrics["tokens_limit_day"].value,
            "token_role": prof.metrics["token_role"].value,
            "identity": prof.identity_json(),
            "balance": prof.balance_json(),
            "balances": prof.balances_json(),
            "payment_method": prof.payment_method,
            "limits": prof.limits_json(),
            "key_usage": prof.key_usage_json(),
            "capabilities": [
                {"capability": c.name, "status": c.status, "grade": c.grade, "evidence": c.evidence}
                for c in prof.capabilities
            ],
            "probe_requests": prof.probe_requests,
            "spent_calls": spend_of(self.observations)["calls"],
            "spent_tokens": spend_of(self.observations)["total_tokens"],
        }
