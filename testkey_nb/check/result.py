"""The result of one check: :class:`KeyCheck` (its JSON, its fleet-index summary, its frames), the
options a check takes (:class:`CheckOptions`) and the one error a check raises (:class:`CheckError`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from testkey_nb.check.decide import Decision
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
                name: {"provenance": m.provenance, "probe": m.probe, "note": m.note} for name, m in prof.metrics.items()
            },
            "status": prof.status.code,
            "status_reason": prof.status.reason,
            "status_detail": prof.status.detail,
            "capabilities": [
                {"capability": c.name, "status": c.status, "evidence": c.evidence, "probes": list(c.probes)}
                for c in prof.capabilities
            ],
            "models": prof.model_rows(),  # plain rows: the probe command never imports polars
            "workspace": dict(prof.workspace),
            "identity": prof.identity_json(),
            "balance": prof.balance_json(),
            "limits": prof.limits_json(),
            "verdict": self.decision.verdict,
            "verdict_summary": self.decision.summary,
            "actions": [a.as_dict() for a in self.decision.actions],
            "probe_requests": prof.probe_requests,
            "spend": spend_of(self.observations),
            "probes": [o.summary() for o in self.observations],
        }

    # --- in a notebook ------------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        """The summary card Jupyter shows for a KeyCheck: verdict, provider, status, actions; details folded.

        KNOWN UPWARD REACH (issue 20): Jupyter asks the object itself for its HTML, so this lazy import of
        the report's card (and those of the frame methods) stays until the card's HTML helpers move down."""
        from testkey_nb.report.card import key_card_html

        return key_card_html(self)

    def __repr__(self) -> str:
        return (
            f"KeyCheck(label={self.label!r}, provider={self.identification.provider!r}, "
            f"status={self.profile.status.code!r}, verdict={self.decision.verdict!r})"
        )

    def models_frame(self, *, join_lists: bool = True):  # -> pl.DataFrame
        """One row per model. List columns (features, modalities) are joined with ", " so the frame
        writes to CSV as it is; ``join_lists=False`` keeps them as lists (Parquet takes both)."""
        frame = self.profile.models_frame()
        if not join_lists:
            return frame
        from testkey_nb.report.frames import join_lists as join

        return join(frame)

    def capabilities_frame(self):  # -> pl.DataFrame
        """The ten capabilities: capability, status, evidence, probes."""
        return self.profile.capabilities_frame()

    def metrics_frame(self):  # -> pl.DataFrame
        """The sample metrics: metric, value (as text), provenance, probe, note."""
        return self.profile.metrics_frame()

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
            "allowed_models": len(allowed),
            "priced_models": sum(1 for m in allowed if m.priced),
            "tokens_per_minute": prof.metrics["tokens_limit"].value,
            "tokens_limit": prof.metrics["tokens_limit"].value,
            "tokens_limit_day": prof.metrics["tokens_limit_day"].value,
            "token_role": prof.metrics["token_role"].value,
            "identity": prof.identity_json(),
            "balance": prof.balance_json(),
            "limits": prof.limits_json(),
            "capabilities": [
                {"capability": c.name, "status": c.status, "evidence": c.evidence} for c in prof.capabilities
            ],
            "probe_requests": prof.probe_requests,
            "spent_calls": spend_of(self.observations)["calls"],
            "spent_tokens": spend_of(self.observations)["total_tokens"],
        }

