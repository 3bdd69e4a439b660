"""``key_usage`` (issue 21) in the history: a snapshot keeps it, the store gives it back, the index row has it."""

from __future__ import annotations

from pathlib import Path

from history_helpers import row, snap

from testkey_nb.batch.fleet import ROW_FIELDS, index_row
from testkey_nb.history.snapshot import Snapshot
from testkey_nb.history.store import HistoryStore

KEY_USAGE = {
    "from": "2026-11-02", "to": "2026-12-02", "requests": 61, "input_tokens": 8300, "cached_input_tokens": 1100,
    "output_tokens": 1250, "cost_usd": 6.65, "burn_per_day_usd": 0.214516,
    "by_model": [{"model": "openai/gpt-oss-120b", "requests": 37, "input_tokens": 5500, "output_tokens": 850,
                  "cost_usd": 2.45}],
    "by_day": [{"date": "2026-11-30", "requests": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}],
    "provenance": "observed", "probe": "model_api_usage", "exchange": "x14",
}  # fmt: skip


def test_snapshot_and_store_keep_key_usage(tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    with HistoryStore(path) as store:
        store.append(snap(0, facts={"key_usage": KEY_USAGE}))
        store.append(snap(1))
    with HistoryStore(path, read_only=True) as store:
        first, second = store.snapshots(["k1"])
    assert first.key_usage == KEY_USAGE and first.to_json()["key_usage"] == KEY_USAGE
    assert second.key_usage is None and second.to_json()["key_usage"] is None
    again = Snapshot.from_json("k1", first.to_json())
    assert again.key_usage == KEY_USAGE


def test_index_row_carries_key_usage() -> None:
    assert "key_usage" in ROW_FIELDS
    summary = {**row("k1"), "key_usage": KEY_USAGE}
    assert index_row("k1", summary=summary)["key_usage"] == KEY_USAGE
    assert index_row("k1", summary=row("k1"))["key_usage"] is None
    assert index_row("k1", error="boom")["key_usage"] is None
