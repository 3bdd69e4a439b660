"""Benchmark: the history at scale: 100,000 snapshots, its readers and its one writer (no kernels, no network).

A fleet of ``--keys`` keys (20 models each, a balance burning down, Baseten-like daily usage of 31 days)
checked ``--rounds`` times (default 1,000 x 100 = 100,000 snapshots). The database is generated in one
bulk insert (the same documents, changes and columns the recorder writes, built with the store's own
helpers, loaded through a Parquet file); then, measured:

* ``history --json`` over every snapshot: the real command (``testkey-nb history --history DB --json``,
  output to a file and to /dev/null, wall time including the interpreter's start-up, and the CPU time
  it used: on a shared machine the wall time is mostly waiting) and the query alone in-process;
* ``testkey_nb.history.load`` (the polars frame);
* ``record``: what the batch runner adds per key after its render (build the snapshot, read what the key
  knew, diff, runway, append in one transaction), for ``--records`` keys of one more round on the full
  database; and ``context`` (the key's last 30 snapshots for its report) separately;
* ``history prune --keep`` of the oldest tenth, and the database's size.

Usage: ``python benchmarks/history_bench.py [--keys 1000] [--rounds 100] [--records 300]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any


def facts(key: int, round_no: int) -> dict[str, Any]:
    models = [{"id": f"org/model-{m}", "allowed": True, "price_in": 0.1 * (m + 1), "price_out": 0.2 * (m + 1)}
              for m in range(20) if not (key % 7 == 0 and m == 19 and round_no > 5)]  # fmt: skip
    start = date(2026, 11, 1)
    daily = [{"date": (start + timedelta(days=d)).isoformat(), "usd": 0.5 + (key % 5) * 0.1} for d in range(31)]
    return {
        "models": models,
        "limits": [{"scope": "tokens_per_minute", "value": 500_000, "provenance": "observed", "source": "x"}],
        "balance": {"currency": "USD", "remaining": 30.0 - 0.01 * round_no, "granted": 30.0,
                    "used": 0.01 * round_no, "limit": None, "provenance": "derived", "probe": "usage"},
        "usage_daily": daily,
    }  # fmt: skip


def _row(key: int, at: datetime) -> dict[str, Any]:
    from testkey_nb.batch.fleet import index_row

    summary = {"provider": "baseten", "status": "valid", "verdict": "ready", "allowed_models": 20,
               "priced_models": 20, "tokens_per_minute": 500_000}  # fmt: skip
    return index_row(f"key-{key:04d}", summary=summary, report=f"key-{key:04d}.html",
                     rendered_at=at.strftime("%Y-%m-%dT%H:%M:%SZ"))  # fmt: skip


def generate(path: Path, keys: int, rounds: int, t0: datetime) -> None:
    """``keys`` x ``rounds`` snapshots in one bulk insert, with the rows, changes and known states the
    recorder writes (the runway of each key is the one of its first round)."""
    from testkey_nb.history.diff import carry, changes_between
    from testkey_nb.history.runway import runway_for
    from testkey_nb.history.schema import insert_rows, table_row, write_known
    from testkey_nb.history.snapshot import Snapshot, build_snapshot
    from testkey_nb.history.store import HistoryStore

    rows: list[dict[str, Any]] = []
    knowns = []
    snap_id = 0
    for k in range(keys):
        known = None
        runway = runway_for([build_snapshot(_row(k, t0), facts(k, 0))])
        for r in range(rounds):
            snap_id += 1
            snap = build_snapshot(_row(k, t0 + timedelta(hours=r)), facts(k, r)).with_runway(runway)
            snap = Snapshot(**{**snap.__dict__, "id": snap_id})
            rows.append(table_row(snap, changes_between(known, snap) if known is not None else [], f"r{r:04d}"))
            known = carry(known, snap)
        knowns.append((known, f"r{rounds - 1:04d}"))
    with HistoryStore(path) as store, store.transaction() as con:
        insert_rows(con, rows)
        write_known(con, knowns)


def _ms(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(1000 * values[min(len(values) - 1, int(len(values) * q))], 2)


def main() -> None:
    from testkey_nb.history import load
    from testkey_nb.history.query import history_json_chunks
    from testkey_nb.history.recorder import HistorySettings, Recorder
    from testkey_nb.history.store import HistoryStore

    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--keep", type=Path, default=None,
                        help="generate into this folder once and keep it (a later run reuses a copy of it)")
    args = parser.parse_args()
    t0 = datetime(2026, 8, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        path = out / ".history" / "history.duckdb"
        started = time.perf_counter()
        kept = args.keep / ".history" / "history.duckdb" if args.keep is not None else None
        reused = kept is not None and kept.is_file()
        if reused:
            path.parent.mkdir(mode=0o700)
            shutil.copyfile(kept, path)
        else:
            generate(path, args.keys, args.rounds, t0)
            if kept is not None:
                kept.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                shutil.copyfile(path, kept)
        generate_s = time.perf_counter() - started

        # history --json: the command, as a user runs it (a fresh interpreter), into a file and into /dev/null;
        # wall time and the CPU time it used (user + system): the machine may be shared
        command = [sys.executable, "-m", "testkey_nb", "history", "--history", str(path), "--json"]
        env = {**os.environ, "TESTKEY_NB_RAW": str(out / "raw")}
        target = out / "history.json"
        cli: dict[str, tuple[float, float]] = {}
        for name, sink in (("file", target), ("devnull", Path(os.devnull))):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            with open(sink, "wb") as fh:
                subprocess.run(command, stdout=fh, check=True, env=env)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            cli[name] = (time.perf_counter() - started, cpu)
        json_bytes = target.stat().st_size
        started, cpu0 = time.perf_counter(), time.process_time()
        with HistoryStore(path, read_only=True) as store:
            size = sum(len(chunk) for chunk in history_json_chunks(store))
        query_s, query_cpu = time.perf_counter() - started, time.process_time() - cpu0
        data = json.loads(target.read_text(encoding="utf-8"))
        snapshots = sum(len(k["snapshots"]) for k in data)
        changes = sum(len(k["changes"]) for k in data)
        del data

        started, cpu0 = time.perf_counter(), time.process_time()
        frame = load(path)
        load_s, load_cpu = time.perf_counter() - started, time.process_time() - cpu0

        # one more round for --records keys, on the full database
        started = time.perf_counter()
        recorder = Recorder(HistorySettings(), out)
        open_s = time.perf_counter() - started
        record_s: list[float] = []
        record_cpu: list[float] = []
        context_s: list[float] = []
        at = t0 + timedelta(hours=args.rounds)
        for k in range(min(args.records, args.keys)):
            row = _row(k, at)
            started = time.perf_counter()
            recorder.context(row["label"])
            context_s.append(time.perf_counter() - started)
            started, cpu0 = time.perf_counter(), time.process_time()
            recorder.record(row, facts(k, args.rounds))
            record_s.append(time.perf_counter() - started)
            record_cpu.append(time.process_time() - cpu0)
        recorder.close()

        started = time.perf_counter()
        with HistoryStore(path) as store:
            pruned, kept = store.prune(t0 + timedelta(hours=args.rounds // 10))
        prune_s = time.perf_counter() - started
        print(json.dumps({
            "keys": args.keys, "rounds": args.rounds, "snapshots": frame.height, "snapshots_in_json": snapshots,
            "changes": changes, "generate_s": round(generate_s, 1), "reused_db": reused,
            "db_mb": round(path.stat().st_size / 2**20, 1),
            "history_json_cli_to_file_s": round(cli["file"][0], 2),
            "history_json_cli_to_file_cpu_s": round(cli["file"][1], 2),
            "history_json_cli_to_devnull_s": round(cli["devnull"][0], 2),
            "history_json_cli_to_devnull_cpu_s": round(cli["devnull"][1], 2),
            "history_json_query_s": round(query_s, 2), "history_json_query_cpu_s": round(query_cpu, 2),
            "history_json_mb": round(json_bytes / 2**20, 1), "history_json_chars": size,
            "load_s": round(load_s, 3), "load_cpu_s": round(load_cpu, 3),
            "recorder_open_s": round(open_s, 3), "record_ms_min": _ms(record_s, 0.0),
            "record_ms_median": _ms(record_s, 0.5),
            "record_cpu_ms_median": _ms(record_cpu, 0.5), "record_ms_p95": _ms(record_s, 0.95),
            "context_ms_median": _ms(context_s, 0.5), "records": len(record_s),
            "prune_s": round(prune_s, 2), "pruned": pruned, "kept": kept, "load_average_1m": os.getloadavg()[0],
        }))  # fmt: skip


if __name__ == "__main__":
    main()
