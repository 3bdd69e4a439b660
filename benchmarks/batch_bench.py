"""Fleet rounds at scale: 300 and 1,000 keys against the emulator, a first round and a re-run with nothing
changed, locally at --jobs 2 and on a local Dask cluster of 2 workers; prints JSON (one object per run
as it ends, then the whole report).

first round   = ``run_batch(keys, out, executor=LocalExecutor(2))`` into an empty folder: every key is
                probed (one event loop, --max-in-flight per host) and rendered (kernels forked by the
                pool's warm fork server), sidecars, history and the index.
re-run        = the same call again at once: every key probed again, nothing changed, nothing rendered.
dask          = the first round of the largest fleet on ``LocalCluster(n_workers=2, threads_per_worker=1)``
                (workers keep warm kernel parents: ``batch.worker_plugin``); probing stays in this process.

Per run: seconds, seconds per key, keys rendered again, failed keys, peak RSS (the largest sum of RSS over
this process and all its descendants: kernels, fork servers, workers; sampled every 100 ms; shared pages
count once per process, so it over-states), and the bytes of index.html and index.json. ``render_s_per_key``
is the first round's wall time minus its probing, per rendered key (the figure issue 23 targets, <= 0.35 s).
One warm-up render runs first (imports, vl-convert's bundle build). Keys cycle over the emulator's
scenarios (``rate-limited`` left out: its retries wait ~15 s a key whatever the tool).

    .venv/bin/python benchmarks/batch_bench.py [--keys 300,1000] [--jobs 2] [--no-dask] [--dask-keys N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from testkey_nb.batch import DaskExecutor, LocalExecutor, probe_all, run_batch
from testkey_nb.batch.keysfile import KeyEntry
from testkey_nb.emulator import run_emulator
from testkey_nb.secrets import Secret

SCENARIOS = ["full-access", "personal", "inference-scoped", "metrics-only", "revoked", "invalid", "old-format",
             "basic-unverified", "pro", "lifecycle", "no-credits"]  # fmt: skip


class PeakRss:
    """Largest sum of RSS of this process and its descendants while running."""

    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

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


def _entries(emu: Any, n: int, start: int = 0) -> list[KeyEntry]:
    entries = []
    for i in range(start, start + n):
        scenario = SCENARIOS[i % len(SCENARIOS)]
        key = f"b10_Bnch{i:04d}." + f"BENCHkey{i:05d}" + "Z" * 19
        emu.add_key(key, scenario)
        entries.append(KeyEntry(f"bench-{i:04d}-{scenario}", secret=Secret(key), base_url=emu.inference_url,
                                management_url=emu.management_url, claim="baseten"))  # fmt: skip
    return entries


def _round(name: str, entries: list[KeyEntry], out: Path, executor: Any) -> dict[str, Any]:
    probing: dict[str, float] = {}

    def timed(tasks: Any) -> Any:
        began = time.perf_counter()
        try:
            return probe_all(tasks)
        finally:
            probing["s"] = time.perf_counter() - began

    with PeakRss() as rss:
        started = time.perf_counter()
        result = run_batch(entries, out, executor=executor, progress=False, prober=timed)
        seconds = time.perf_counter() - started
    rows = json.loads((out / "index.json").read_text(encoding="utf-8"))
    rendered = sum(1 for r in rows if r.get("rendered"))
    figures = {
        "run": name,
        "keys": len(entries),
        "seconds": round(seconds, 1),
        "s_per_key": round(seconds / len(entries), 3),
        "probe_s": round(probing.get("s", 0.0), 1),
        "render_s_per_key": round((seconds - probing.get("s", 0.0)) / rendered, 3) if rendered else None,
        "rendered": rendered,
        "unchanged": result.count("unchanged"),
        "failed": len(result.failed),
        "peak_rss_mib": round(rss.peak / 2**20),
        "index_html_bytes": (out / "index.html").stat().st_size,
        "index_json_bytes": (out / "index.json").stat().st_size,
    }
    print(json.dumps(figures), flush=True)
    return figures


def _dask_cluster() -> Any:
    import logging

    from distributed import LocalCluster

    return LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                        dashboard_address=None, worker_dashboard_address=None,
                        silence_logs=logging.ERROR)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", default="300,1000", help="comma-separated fleet sizes")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask round")
    parser.add_argument("--dask-keys", type=int, default=None, help="keys of the Dask round (default: the largest)")
    args = parser.parse_args()
    sizes = [int(k) for k in args.keys.split(",") if k.strip()]
    work = Path(tempfile.mkdtemp(prefix="testkey-nb-batch-bench-"))
    os.environ["TESTKEY_NB_RAW"] = str(work / "raw")
    load = os.getloadavg()
    report: dict[str, Any] = {"cores": len(os.sched_getaffinity(0)), "jobs": args.jobs,
                              "python": sys.version.split()[0], "load_before": [round(x, 1) for x in load],
                              "runs": []}  # fmt: skip
    try:
        with run_emulator() as emu:
            warm = _entries(emu, 1, start=9000)
            run_batch(warm, work / "warm-up", executor=LocalExecutor(1), progress=False)
            for n in sizes:
                entries = _entries(emu, n)
                out = work / f"local-{n}"
                report["runs"].append(_round(f"local first round, {n} keys", entries, out, LocalExecutor(args.jobs)))
                report["runs"].append(_round(f"local re-run, nothing changed, {n} keys", entries, out,
                                             LocalExecutor(args.jobs)))  # fmt: skip
            if not args.no_dask and sizes:
                n = args.dask_keys or max(sizes)
                entries = _entries(emu, n, start=5000)
                with _dask_cluster() as cluster:
                    executor = DaskExecutor(cluster.scheduler_address)
                    name = f"dask first round, 2 workers, {n} keys"
                    report["runs"].append(_round(name, entries, work / f"dask-{n}", executor))
    finally:
        report["load_after"] = [round(x, 1) for x in os.getloadavg()]
        shutil.rmtree(work, ignore_errors=True)
        print(json.dumps(report, indent=2), flush=True)


if __name__ == "__main__":
    main()
