"""The history of every check: snapshots in DuckDB, the changes between them, burn and runway.

    from testkey_nb.history import load
    frame = load("reports/.history/history.duckdb")   # one row per snapshot (polars)

Modules: ``snapshot`` (what a snapshot holds), ``store`` (the DuckDB file, its schema version,
migrations and transactions), ``query`` (``history --json`` and ``load()`` in SQL), ``diff`` (changes
between consecutive snapshots), ``runway`` (burn and runway, derived), ``recorder`` (the one writer's
steps around a render). Data flows one way: ``report`` reads the history (``report.history_view``:
"Since the last check" and the fleet charts; ``report.fleet_history``: the fleet-history page);
nothing here imports ``report``. DuckDB is imported only when a database is opened.
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
    from testkey_nb.history.query import load_frame
    from testkey_nb.history.store import HistoryStore

    with HistoryStore(Path(path), read_only=True) as store:
        return load_frame(store, labels)
