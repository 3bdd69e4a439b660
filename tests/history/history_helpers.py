"""Synthetic snapshots for the history tests (a uniquely named module: the tests folders have no __init__.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from testkey_nb.history.snapshot import Snapshot, build_snapshot

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def row(label: str = "k1", **over: Any) -> dict[str, Any]:
    base = {"label": label, "provider": "openrouter", "confidence": 0.9, "claimed": None, "matches_claim": None,
            "key_valid": True, "status": "valid", "status_reason": "ok", "verdict": "ready",
            "verdict_summary": "ready", "allowed_models": 2, "priced_models": 2, "tokens_per_minute": 1000,
            "token_role": None, "probe_requests": 5, "report": f"{label}.html", "error": None}  # fmt: skip
    base.update(over)
    return base


def models(*ids: str, prices: dict[str, tuple[float, float]] | None = None,
           denied: tuple[str, ...] = ()) -> list[dict[str, Any]]:  # fmt: skip
    prices = prices or {}
    return [{"id": m, "allowed": m not in denied, "price_in": prices.get(m, (1.0, 2.0))[0],
             "price_out": prices.get(m, (1.0, 2.0))[1]} for m in ids]  # fmt: skip


def snap(days: float, *, label: str = "k1", model_ids: tuple[str, ...] = ("a/one", "b/two"),
         remaining: float | None = 100.0, tpm: float | None = 1000, facts: dict[str, Any] | None = None,
         **row_over: Any) -> Snapshot:  # fmt: skip
    """A snapshot ``days`` after T0 (facts overridable)."""
    base_facts: dict[str, Any] = {
        "models": models(*model_ids),
        "limits": [{"scope": "tokens_per_minute", "value": tpm, "provenance": "observed", "source": "headers"}]
        if tpm is not None else [],
        "balance": {"currency": "USD", "remaining": remaining, "granted": None, "used": None, "limit": None,
                    "provenance": "observed", "probe": "key"} if remaining is not None else None,
    }  # fmt: skip
    base_facts.update(facts or {})
    row_over.setdefault("tokens_per_minute", tpm)
    return build_snapshot(row(label, **row_over), base_facts, rendered_at=T0 + timedelta(days=days))
