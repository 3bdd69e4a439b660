"""Batch rendering throughput: N keys against the emulator at --jobs 1, 2, 4, beside the naive loop; prints JSON.

naive loop = what a user would write without the batch command: for each key, one after another,
             ``papermill notebooks/key_report.ipynb K.ipynb -p label K -p base_url ...`` then
             ``jupyter nbconvert --to html --no-input K.ipynb`` (the key in both commands' environment
             as TESTKEY_NB_KEY). It leaves every executed notebook (raw data) on disk and its HTML
             loads scripts from a CDN; it is timed only as the baseline.
batch jN   = ``run_batch(keys, out, executor=LocalExecutor(N), force=True)``: one kernel per key, N at
             a time, offline HTML, sidecars and the fleet index (its build is inside the time).

The naive loop costs about 6 s a key and the batch well under one: ``--naive-keys`` (default 10) runs
it on the first N keys only and compares keys per minute (each key of the loop is independent, so its
rate does not depend on N).
Batch runs take kernels from the warm single-use pool (``LocalExecutor(N)``); ``--cold`` adds a run
that starts each kernel itself (``warm=False``), to show what the pool buys.

All runs use the same keys (cycled over the emulator's scenarios, ``rate-limited`` left out by default:
its retries wait ~15 s a key) and the same emulator, in this one process. One warm-up render runs
first (imports, vl-convert's bundle build). Peak memory: the largest sum of RSS over this process and
all its children (kernels, papermill, nbconvert), sampled every 50 ms (shared pages are counted once
per process, so it over-states a little), and the same minus this process's RSS before the run.

    .venv/bin/python benchmarks/batch_bench.py [--keys 50] [--jobs 2] [--naive-keys 10] [--cold] [--no-naive]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from testkey_nb._files import NOTEBOOKS_DIR
from testkey_nb.batch import LocalExecutor, run_batch
from testkey_nb.batch.keysfile import KeyEntry
from testkey_nb.emulator import run_emulator
from testkey_nb.secrets import Secret

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = NOTEBOOKS_DIR / "key_report.ipynb"
BIN = Path(sys.executable).parent
SCENARIOS = ["full-access", "personal", "inference-scoped", "metrics-only", "revoked", "invalid", "old-format",
             "basic-unverified", "pro", "lifecycle", "no-credits"]  # fmt: skip


class PeakRss:
    """Largest sum of RSS of this process and its descendants while running."""

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.baseline = psutil.Process().memory_info().rss

    def _sample(self) -> int:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def figures(self) -> dict[str, float]:
        mib = 1024 * 1024
        return {
            "peak_rss_mib": round(self.peak / mib, 1),
            "peak_rss_above_start_mib": round((self.peak - self.baseline) / mib, 1),
        }


def _entries(emu: Any, n: int, scenarios: list[str]) -> list[KeyEntry]:
    entries = []
    for i in range(n):
        scenario = scenarios[i % len(scenarios)]
        key = f"b10_Bnch{i:04d}." + f"BENCHkey{i:05d}" + "Z" * 19
        emu.add_key(key, scenario)
        entries.append(KeyEntry(f"bench-{i:03d}-{scenario}", secret=Secret(key), base_url=emu.inference_url,
                                management_url=emu.management_url, claim="baseten"))  # fmt: skip
    return entries


def _batch(entries: list[KeyEntry], out: Path, jobs: int, warm: bool = True) -> dict[str, Any]:
    with PeakRss() as rss:
        started = time.perf_counter()
        result = run_batch(entries, out, executor=LocalExecutor(jobs, warm=warm), force=True, progress=False)
        seconds = time.perf_counter() - started
    sizes = [p.stat().st_size for p in out.glob("*.html")]
    return {
        "jobs": jobs,
        "kernels": "warm pool" if warm else "started per render",
        "report_bytes_max": max(sizes, default=0),
        "seconds": round(seconds, 2),
        "keys_per_min": round(len(entries) * 60 / seconds, 1),
        "rendered": result.count("rendered"),
        "failed": len(result.failed),
        **rss.figures(),
    }


def _naive(entries: list[KeyEntry], folder: Path) -> dict[str, Any]:
    failed = 0
    with PeakRss() as rss:
        started = time.perf_counter()
        for entry in entries:
            assert entry.secret is not None
            env = {**os.environ, "TESTKEY_NB_KEY": entry.secret.reveal()}
            executed = folder / f"{entry.label}.ipynb"
            run = subprocess.run(
                [str(BIN / "papermill"), str(NOTEBOOK), str(executed), "-k", "python3", "--no-progress-bar",
                 "-p", "label", entry.label, "-p", "base_url", entry.base_url or "",
                 "-p", "management_url", entry.management_url or "", "-p", "claim", entry.claim or ""],
                env=env, capture_output=True, check=False,
            )  # fmt: skip
            if run.returncode == 0:
                run = subprocess.run(
                    [str(BIN / "jupyter-nbconvert"), "--to", "html", "--no-input", str(executed)],
                    env=env, capture_output=True, check=False,
                )  # fmt: skip
            failed += run.returncode != 0
        seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "keys_per_min": round(len(entries) * 60 / seconds, 1),
        "failed": failed,
        **rss.figures(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--jobs", default="2", help="comma-separated --jobs values")
    parser.add_argument("--naive-keys", type=int, default=10, help="keys the naive loop renders (its rate is per key)")
    parser.add_argument("--cold", action="store_true", help="also run the batch without the kernel pool")
    parser.add_argument("--no-naive", action="store_true", help="skip the papermill + nbconvert loop")
    parser.add_argument("--with-rate-limited", action="store_true", help="include the rate-limited scenario")
    args = parser.parse_args()
    jobs = [int(j) for j in args.jobs.split(",") if j.strip()]
    scenarios = SCENARIOS + (["rate-limited"] if args.with_rate_limited else [])
    work = Path(tempfile.mkdtemp(prefix="testkey-nb-batch-bench-"))
    os.environ["TESTKEY_NB_RAW"] = str(work / "raw")
    report: dict[str, Any] = {"keys": args.keys, "cores": len(os.sched_getaffinity(0)), "scenarios": scenarios}
    try:
        with run_emulator() as emu:
            entries = _entries(emu, args.keys, scenarios)
            warm = _batch(entries[:1], work / "warm-up", 1)
            report["warm_up_render_s"] = warm["seconds"]
            report["batch"] = [_batch(entries, work / f"batch-j{j}", j) for j in jobs]
            if args.cold:
                report["batch"] += [_batch(entries, work / f"batch-cold-j{j}", j, warm=False) for j in jobs]
            if not args.no_naive:
                (work / "naive").mkdir()
                report["naive_loop"] = _naive(entries[: args.naive_keys], work / "naive")
                report["naive_loop"]["keys"] = min(args.naive_keys, len(entries))
                base = report["naive_loop"]["keys_per_min"]
                report["speedup_vs_naive"] = {
                    f"j{b['jobs']} {b['kernels']}": round(b["keys_per_min"] / base, 2) for b in report["batch"]
                }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
