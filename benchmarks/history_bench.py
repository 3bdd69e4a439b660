"""Benchmark: the history's one writer and its readers, on synthetic snapshots (no kernels, no network).

A fleet of ``--keys`` keys (20 models each, a balance burning down, Baseten-like daily usage of 31 days)
checked ``--rounds`` times. Measured: ``record`` (what the batch runner adds per key after its render:
build the snapshot, read the key's earlier ones, diff, runway through the ledger, append), the database
size, ``history --json`` over everything (``history_json(store.snapshots())``) and
``testkey_nb.history.load`` (the polars frame).

Usage: ``python benchmarks/history_bench.py [--keys 100] [--rounds 24]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path


def facts(key: int, round_no: int) -> dict:
    models = [{"id": f"org/model-{m}", "allowed": True, "price_in": 0.1 * (m + 1), "price_out": 0.2 * (m + 1)}
              for m in range(20) if not (key % 7 == 0 and m == 19 and round_no > 5)]  # fmt: skip
    start = date(2026, 11, 1)
    daily = [{"date": (start + timedelta(days=d)).isoformat(), "usd": 0.5 + (key % 5) * 0.1} for d in range(31)]
    return {
        "models": models,
        "limits": [{"scope": "tokens_per_minute", "value": 500_000, "provenance": "observed", "source": "x"}],
        "balance": {"currency": "USD", "remaining": 30.0 - 0.5 * round_no, "granted": 30.0, "used": 0.5 * round_no,
                    "limit": None, "provenance": "derived", "probe": "usage"},
        "usage_daily": daily,
    }


def main() -> None:
    from testkey_nb.batch.fleet import index_row
    from testkey_nb.history import history_json, load
    from testkey_nb.history.recorder import HistorySettings, Recorder
    from testkey_nb.history.store import HistoryStore

    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=24)
    args = parser.parse_args()
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        record_s: list[float] = []
        for r in range(args.rounds):
            recorder = Recorder(HistorySettings(), out)
            for k in range(args.keys):
                summary = {"provider": "baseten", "status": "valid", "verdict": "ready", "allowed_models": 20,
                           "priced_models": 20, "tokens_per_minute": 500_000}  # fmt: skip
                row = index_row(f"key-{k:04d}", summary=summary, report=f"key-{k:04d}.html",
                                rendered_at=(t0 + timedelta(hours=r)).strftime("%Y-%m-%dT%H:%M:%SZ"))  # fmt: skip
                started = time.perf_counter()
                recorder.context(row["label"])
                recorder.record(row, facts(k, r))
                record_s.append(time.perf_counter() - started)
            recorder.close()
        path = out / ".history" / "history.duckdb"
        started = time.perf_counter()
        with HistoryStore(path, read_only=True) as store:
            data = history_json(store.snapshots())
        json_s = time.perf_counter() - started
        started = time.perf_counter()
        frame = load(path)
        load_s = time.perf_counter() - started
        record_s.sort()
        print(json.dumps({
            "keys": args.keys, "rounds": args.rounds, "snapshots": frame.height,
            "changes": sum(len(k["changes"]) for k in data),
            "record_ms_median": round(1000 * record_s[len(record_s) // 2], 2),
            "record_ms_p95": round(1000 * record_s[int(len(record_s) * 0.95)], 2),
            "db_mb": round(path.stat().st_size / 2**20, 2),
            "history_json_s": round(json_s, 2), "load_s": round(load_s, 2),
        }))  # fmt: skip


if __name__ == "__main__":
    main()
