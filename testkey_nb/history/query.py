"""The history's readers in SQL: ``history --json`` and ``load()`` answer from DuckDB, not row by row.

Each snapshot's JSON document and its changes were computed once, when it was recorded (``store``);
here DuckDB only filters, orders and joins them (``string_agg``), and ``load()`` gets its columns as
a Parquet file DuckDB writes and polars reads (columnar end to end; no pyarrow needed).

The first snapshot shown of a key brings no changes (as :func:`testkey_nb.history.timeline_changes`
over the snapshots shown): with ``--since``, or after ``history prune``, the changes listed are the
ones between the snapshots listed.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import polars as pl

    from testkey_nb.history.store import HistoryStore

__all__ = ["LOAD_SCHEMA", "history_json_chunks", "load_frame"]

_FIRST: Final = "row_number() OVER (PARTITION BY label ORDER BY rendered_at, id) = 1"


def history_json_chunks(
    store: HistoryStore, labels: Iterable[str] | None = None, since: datetime | None = None
) -> Iterator[str]:
    """``history --json`` as text, one key at a time: ``[{"label", "snapshots": [...], "changes": [...]}, ...]``."""
    where, params = store.where(labels, since)
    cursor = store.query(
        f"WITH s AS (SELECT label, rendered_at, id, doc, CASE WHEN {_FIRST} THEN NULL ELSE changes_json END AS ch "
        f"FROM snapshots {where}) SELECT label, string_agg(doc, ',' ORDER BY rendered_at, id), "
        "string_agg(ch, ',' ORDER BY rendered_at, id) FROM s GROUP BY label ORDER BY label",
        params,
    )
    yield "["
    first = True
    while batch := cursor.fetchmany(64):
        for label, docs, changes in batch:
            yield ("" if first else ", ") + (
                f'{{"label": {json.dumps(label, ensure_ascii=False)}, "snapshots": [{docs}], '
                f'"changes": [{changes or ""}]}}'
            )
            first = False
    yield "]"


def _schema() -> dict[str, pl.DataType]:
    import polars as pl

    return {
        "label": pl.String(), "rendered_at": pl.Datetime("us", "UTC"), "provider": pl.String(),
        "status": pl.String(), "verdict": pl.String(), "key_valid": pl.Boolean(), "token_role": pl.String(),
        "allowed_models": pl.Int64(), "priced_models": pl.Int64(), "tokens_per_minute": pl.Float64(),
        "models": pl.List(pl.String()), "balance_remaining": pl.Float64(), "balance_used": pl.Float64(),
        "currency": pl.String(), "burn_per_day": pl.Float64(), "runway_days": pl.Float64(),
        "exhausted_at": pl.Datetime("us", "UTC"), "changes": pl.Int64(),
    }  # fmt: skip


#: The columns of :func:`load_frame` (documented on :func:`testkey_nb.history.load`).
LOAD_SCHEMA: Final = (
    "label", "rendered_at", "provider", "status", "verdict", "key_valid", "token_role", "allowed_models",
    "priced_models", "tokens_per_minute", "models", "balance_remaining", "balance_used", "currency",
    "burn_per_day", "runway_days", "exhausted_at", "changes",
)  # fmt: skip


def load_frame(store: HistoryStore, labels: Iterable[str] | None = None) -> pl.DataFrame:
    """One row per snapshot (oldest first per key), as a polars frame, through a private Parquet file."""
    import polars as pl

    schema = _schema()
    select = (
        "SELECT label, rendered_at, provider, status, verdict, key_valid, token_role, allowed_models, priced_models, "
        "tpm_limit AS tokens_per_minute, allowed_ids AS models, balance_remaining, balance_used, currency, "
        f"burn_per_day, runway_days, exhausted_at, CASE WHEN {_FIRST} THEN 0 ELSE n_changes END AS changes "
        "FROM snapshots ORDER BY label, rendered_at, id"
    )
    with tempfile.TemporaryDirectory(prefix="testkey-nb-load-") as tmp:  # mode 0700
        target = Path(tmp) / "load.parquet"
        quoted = target.as_posix().replace("'", "''")
        store.query(f"COPY ({select}) TO '{quoted}' (FORMAT parquet)")
        frame = pl.read_parquet(target)
    frame = frame.with_columns(
        pl.col("rendered_at").dt.replace_time_zone("UTC"), pl.col("exhausted_at").dt.replace_time_zone("UTC")
    ).cast(schema)  # type: ignore[arg-type]
    if labels is not None:
        frame = frame.filter(pl.col("label").is_in(list(labels)))
    return frame
