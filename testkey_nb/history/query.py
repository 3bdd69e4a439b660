"""The history's readers in SQL: ``history --json`` and ``load()`` answer from DuckDB, not row by row.

Each snapshot's JSON document and its changes were computed once, when it was recorded (``store``);
here DuckDB only filters and orders them and this module joins the bytes, and ``load()`` gets its
columns as a Parquet file DuckDB writes and polars reads (columnar end to end; no pyarrow needed).

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

def history_json_chunks(
    store: HistoryStore, labels: Iterable[str] | None = None, since: datetime | None = None
) -> Iterator[bytes]:
    """``history --json`` as UTF-8, one key at a time: ``[{"label", "snapshots": [...], "changes": [...]}, ...]``.

    DuckDB sorts the rows and hands over each snapshot's document and changes as bytes; this only joins
    them (no JSON is parsed or built here but the label's).
    """
    where, params = store.where(labels, since)
    cursor = store.query(  # encode(): the UTF-8 bytes as they are (a cast to BLOB would read backslash escapes)
        f"SELECT label, encode(doc), encode(changes_json) FROM snapshots {where} ORDER BY label, rendered_at, id",
        params,
    )
    label: str | None = None
    docs: list[bytes] = []
    changes: list[bytes | None] = []

    def key() -> bytes:
        # the first snapshot shown brings no changes: the changes listed are between the snapshots listed
        return (b'{"label": ' + json.dumps(label, ensure_ascii=False).encode() + b', "snapshots": ['
                + b",".join(docs) + b'], "changes": [' + b",".join(c for c in changes[1:] if c) + b"]}")  # fmt: skip

    yield b"["
    while batch := cursor.fetchmany(4096):
        for name, doc, change in batch:
            if name != label:
                if label is not None:
                    yield key() + b", "
                label, docs, changes = name, [], []
            docs.append(doc)
            changes.append(change)
    if label is not None:
        yield key()
    yield b"]"


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
        "SELECT label, rendered_at, id, provider, status, verdict, key_valid, token_role, allowed_models, "
        "priced_models, tpm_limit AS tokens_per_minute, allowed_ids AS models, balance_remaining, balance_used, "
        "currency, burn_per_day, runway_days, exhausted_at, n_changes AS changes FROM snapshots"
    )
    with tempfile.TemporaryDirectory(prefix="testkey-nb-load-") as tmp:  # mode 0700
        target = Path(tmp) / "load.parquet"
        quoted = target.as_posix().replace("'", "''")
        store.query(f"COPY ({select}) TO '{quoted}' (FORMAT parquet, COMPRESSION uncompressed)")
        frame = pl.read_parquet(target)
    if labels is not None:
        frame = frame.filter(pl.col("label").is_in(list(labels)))
    frame = frame.sort("label", "rendered_at", "id").with_columns(
        pl.col("rendered_at").dt.replace_time_zone("UTC"),
        pl.col("exhausted_at").dt.replace_time_zone("UTC"),
        # the first snapshot of a key shown brings no changes (as in ``history --json``)
        changes=pl.when(pl.col("label").is_first_distinct()).then(0).otherwise(pl.col("changes")),
    )
    frame = frame.select(list(LOAD_SCHEMA)).cast(schema)  # type: ignore[arg-type]
    return frame
