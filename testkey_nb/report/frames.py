"""The polars frames of a check: metrics, models (the permission matrix), capabilities, documented tiers.

The one home of these frames' schemas. ``KeyCheck.models_frame()`` and its siblings (what notebooks
call, on the public :class:`testkey_nb.api.KeyCheck`) are conveniences that come here; ``probe --json``
uses the plain rows of :meth:`~testkey_nb.check.profile.Profile.model_rows` and never imports polars.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from testkey_nb._format import plain_text

if TYPE_CHECKING:
    from testkey_nb.check.profile import Profile

__all__ = ["MODEL_SCHEMA", "capabilities_frame", "join_lists", "metrics_frame", "models_frame", "tiers_frame"]

MODEL_SCHEMA: dict[str, Any] = {
    "model": pl.String, "name": pl.String, "listed": pl.Boolean, "allowed": pl.Boolean,
    "priced": pl.Boolean, "unpriced": pl.Boolean, "allowed_evidence": pl.String, "price_in_per_mtok": pl.Float64,
    "price_out_per_mtok": pl.Float64, "price_cached_in_per_mtok": pl.Float64,
    "price_provenance": pl.String, "context_length": pl.Int64, "max_completion_tokens": pl.Int64,
    "features": pl.List(pl.String), "input_modalities": pl.List(pl.String),
    "output_modalities": pl.List(pl.String), "rpm": pl.Int64, "tpm": pl.Int64,
    "limits_provenance": pl.String, "allowed_probe": pl.String, "allowed_exchange": pl.String,
    "price_exchange": pl.String, "limits_exchange": pl.String,
}  # fmt: skip


def metrics_frame(profile: Profile) -> pl.DataFrame:
    """The sample metrics: metric, value (as text), provenance, probe, note."""
    metrics = list(profile.metrics.values())
    return pl.DataFrame(
        {
            "metric": [m.name for m in metrics],
            "value": [plain_text(m.value) for m in metrics],
            "provenance": [m.provenance for m in metrics],
            "probe": [m.probe or "" for m in metrics],
            "note": [m.note for m in metrics],
        }
    )


def models_frame(profile: Profile) -> pl.DataFrame:
    """One row per model (the rows of ``profile.model_rows()``), list columns kept as lists."""
    return pl.DataFrame(profile.model_rows(), schema=MODEL_SCHEMA)


def capabilities_frame(profile: Profile) -> pl.DataFrame:
    """The ten capabilities: capability, status, grade, evidence, probes."""
    return pl.DataFrame(
        {
            "capability": [c.name for c in profile.capabilities],
            "status": [c.status for c in profile.capabilities],
            "grade": [c.grade for c in profile.capabilities],
            "evidence": [c.evidence for c in profile.capabilities],
            "probes": [", ".join(c.probes) for c in profile.capabilities],
        }
    )


def tiers_frame(profile: Profile) -> pl.DataFrame:
    """The provider's documented rate-limit tiers (tier, rpm, tpm), for comparison."""
    tiers = profile.documented_tiers
    return pl.DataFrame(
        {
            "tier": [str(t.get("tier")) for t in tiers],
            "rpm": [t.get("rpm") for t in tiers],
            "tpm": [t.get("tpm") for t in tiers],
        },
        schema={"tier": pl.String, "rpm": pl.Int64, "tpm": pl.Int64},
    )


def join_lists(frame: pl.DataFrame) -> pl.DataFrame:
    """List columns joined with ", " so the frame writes to CSV as it is."""
    lists = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.List)]
    return frame.with_columns(pl.col(c).list.join(", ") for c in lists) if lists else frame
