"""The history of every check: snapshots in DuckDB, the changes between them, burn and runway.

    from testkey_nb.history import load
    frame = load("reports/.history/history.duckdb")   # one row per snapshot (polars)

Modules: ``snapshot`` (what a snapshot holds), ``store`` (the DuckDB file, its schema version and
migrations), ``diff`` (changes between consecutive snapshots), ``runway`` (burn and runway, derived),
``recorder`` (the one writer's steps around a render). Data flows one way: ``report`` reads the history
(``report.history_view``: "Since the last check" and the fleet charts; ``report.fleet_history``: the
fleet-history page); nothing here imports ``report``. DuckDB is imported only when a database is opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from testkey_nb.history.diff import Change, changes_between, changes_since, timeline_changes
from testkey_nb.history.snapshot import ModelEntry, Snapshot, build_snapshot, facts_from_check

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "Change",
    "ModelEntry",
    "Snapshot",
    "build_snapshot",
    "changes_between",
    "changes_since",
    "facts_from_check",
    "history_json",
    "load",
    "timeline_changes",
]


def history_json(snapshots: list[Snapshot]) -> list[dict[str, Any]]:
    """``history --json``: per key ``{label, snapshots: [...], changes: [{at, field, before, after}]}``."""
    by_label: dict[str, list[Snapshot]] = {}
    for snap in snapshots:
        by_label.setdefault(snap.label, []).append(snap)
    return [
        {
            "label": label,
            "snapshots": [s.to_json() for s in snaps],
            "changes": [c.as_dict() for c in timeline_changes(snaps)],
        }
        for label, snaps in sorted(by_label.items())
    ]


def load(path: str | Path, labels: list[str] | None = None) -> pl.DataFrame:
    """The history at ``path`` as a polars frame, one row per snapshot (oldest first per key).

    Columns: label, rendered_at (UTC), provider, status, verdict, key_valid, token_role, allowed_models,
    priced_models, tokens_per_minute, models (the allowed ids), balance_remaining, balance_used,
    currency, burn_per_day, runway_days, exhausted_at (UTC), changes (how many since the previous one).
    """
    import polars as pl

    from testkey_nb.history.diff import carry
    from testkey_nb.history.snapshot import parse_time
    from testkey_nb.history.store import HistoryStore

    with HistoryStore(Path(path), read_only=True) as store:
        snaps = store.snapshots(labels)
    records = []
    known_by_label: dict[str, Snapshot] = {}  # what each key's checks knew so far (snapshots come in order)
    for snap in snaps:
        known = known_by_label.get(snap.label)
        runway = snap.runway or {}
        balance = snap.balance or {}
        records.append(
            {
                "label": snap.label,
                "rendered_at": snap.rendered_at,
                "provider": snap.get("provider"),
                "status": snap.get("status"),
                "verdict": snap.get("verdict"),
                "key_valid": snap.get("key_valid"),
                "token_role": snap.get("token_role"),
                "allowed_models": snap.get("allowed_models"),
                "priced_models": snap.get("priced_models"),
                "tokens_per_minute": (snap.limits.get("tokens_per_minute") or {}).get("value"),
                "models": list(snap.allowed_ids) if snap.allowed_ids is not None else None,
                "balance_remaining": snap.balance_remaining,
                "balance_used": balance.get("used"),
                "currency": balance.get("currency"),
                "burn_per_day": runway.get("burn_per_day"),
                "runway_days": runway.get("runway_days"),
                "exhausted_at": parse_time(runway.get("exhausted_at")),
                "changes": len(changes_between(known, snap)) if known is not None else 0,
            }
        )
        known_by_label[snap.label] = carry(known, snap)
    schema = {
        "label": pl.String, "rendered_at": pl.Datetime("us", "UTC"), "provider": pl.String, "status": pl.String,
        "verdict": pl.String, "key_valid": pl.Boolean, "token_role": pl.String, "allowed_models": pl.Int64,
        "priced_models": pl.Int64, "tokens_per_minute": pl.Float64, "models": pl.List(pl.String),
        "balance_remaining": pl.Float64, "balance_used": pl.Float64, "currency": pl.String,
        "burn_per_day": pl.Float64, "runway_days": pl.Float64, "exhausted_at": pl.Datetime("us", "UTC"),
        "changes": pl.Int64,
    }  # fmt: skip
    return pl.DataFrame(records, schema=schema, orient="row") if records else pl.DataFrame(schema=schema)
