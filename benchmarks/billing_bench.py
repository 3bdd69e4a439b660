"""Benchmark: metering and ledger for one month at minute resolution, 1 / 100 / 1,000 deployments.

Each size runs in its own Python process so that peak memory is per size: ``peak_rss_mb`` is the
process's maximum resident set (resource.getrusage, includes the interpreter and polars themselves),
``python_heap_peak_mb`` is tracemalloc's peak over the measured part (Python objects only; polars'
Rust buffers are not traced, which is why both are shown).

Synthetic workspace (deterministic, generated vectorised in polars), March 2026 (44,640 minutes):
* every deployment starts with a 7-10 minute image build (its own replica);
* 1 in 5 deployments keeps one warm replica all month (min_replica 1), serving/idle alternating
  every hour (one up-interval of ~44,600 minutes, 744 phase rows);
* the others scale to zero and wake 6 times a day: image pull 45 s, model load 90 s, serving
  5-60 minutes, idle 15 minutes (the scale-down delay), drain 30 s; start times have sub-minute
  offsets so the rounding is exercised.
Measured: `bill()` = metering (events -> up-intervals, hourly buckets) + the per-minute workspace
usage series + the ledger ($30 credits, payment method, $50 threshold invoices, month end).

The CLI path (``--cli``): the 1,000-deployment month written as an events CSV (893,800 rows, 78 MB,
`write_events_csv`) and ``testkey-nb billing --events FILE --json`` run on it as a user runs it, in a
fresh process each time, side by side with the same command on a one-row file (the first row of the
same CSV: start-up, polars import and the same code path, nothing to meter). Per run: wall seconds,
CPU seconds (user + sys) and peak RSS of that process alone (``os.wait4``). Reported: the median and
the best of ``--repeat`` alternating pairs, and ``beyond_startup`` = fleet - one-row (median and best).
The machine is shared, so the CPU seconds are given too: they move less with other load than wall time.

Usage: ``python benchmarks/billing_bench.py [--sizes 1,100,1000]`` (in-process) or
``python benchmarks/billing_bench.py --cli [--repeat 5] [--deployments 1000]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime

MONTH_START = datetime(2026, 3, 1, tzinfo=UTC)
MONTH_MINUTES = 31 * 1440
WAKES_PER_DAY = 6


def synthetic_events(n_deployments: int):
    """The synthetic workspace's events frame (see the module docstring); no per-minute Python loop."""
    import polars as pl

    t0 = pl.lit(MONTH_START)
    deps = pl.DataFrame({"d": pl.int_range(0, n_deployments, dtype=pl.Int64, eager=True)}).with_columns(
        deployment_id=pl.format("dep-{}", pl.col("d")),
        always_on=(pl.col("d") % 5) == 0,
        build_s=420 + (pl.col("d") * 37) % 180,
    )
    common = {"instance_type": pl.lit("A10Gx4x16"), "development": pl.lit(False)}

    builds = deps.select(
        "deployment_id",
        replica_id=pl.format("{}-build", pl.col("deployment_id")),
        phase=pl.lit("build"),
        start=t0,
        end=t0 + pl.duration(seconds=pl.col("build_s")),
        **common,
    )

    # always-on: one replica from the end of the build to the month end, serving/idle hour by hour
    hours = (
        deps.filter(pl.col("always_on"))
        .with_columns(h=pl.int_ranges(0, 31 * 24, dtype=pl.Int64))
        .explode("h")
        .with_columns(
            s=pl.max_horizontal(pl.col("h") * 3600, pl.col("build_s") + 135),
            e=(pl.col("h") + 1) * 3600,
        )
        .filter(pl.col("e") > pl.col("s"))
    )
    warm = hours.select(
        "deployment_id",
        replica_id=pl.format("{}-warm", pl.col("deployment_id")),
        phase=pl.when(pl.col("h") % 2 == 0).then(pl.lit("serving")).otherwise(pl.lit("idle")),
        start=t0 + pl.duration(seconds=pl.col("s")),
        end=t0 + pl.duration(seconds=pl.col("e")),
        **common,
    )

    # scale-to-zero deployments: WAKES_PER_DAY wakes a day, one replica per wake
    wakes = (
        deps.filter(~pl.col("always_on"))
        .with_columns(w=pl.int_ranges(0, 31 * WAKES_PER_DAY, dtype=pl.Int64))
        .explode("w")
        .with_columns(
            # each wake in its own 4-hour slot, pseudo-random offset and serving time
            s=pl.col("w") * (86400 // WAKES_PER_DAY)
            + 900
            + (pl.col("d") * 7919 + pl.col("w") * 104729) % 7200,
            serve=300 + (pl.col("d") * 31 + pl.col("w") * 17) % 3300,
        )
        .with_columns(
            replica_id=pl.format("{}-w{}", pl.col("deployment_id"), pl.col("w")),
            p=pl.col("s") + 45,
            m=pl.col("s") + 135,
        )
        .with_columns(i=pl.col("m") + pl.col("serve"))
        .with_columns(t=pl.col("i") + 900)
    )
    phase_rows = []
    for phase, start, end in (
        ("image_pull", "s", "p"),
        ("model_load", "p", "m"),
        ("serving", "m", "i"),
        ("idle", "i", "t"),
    ):
        phase_rows.append(
            wakes.select(
                "deployment_id",
                "replica_id",
                phase=pl.lit(phase),
                start=t0 + pl.duration(seconds=pl.col(start)),
                end=t0 + pl.duration(seconds=pl.col(end)),
                **common,
            )
        )
    phase_rows.append(
        wakes.select(
            "deployment_id",
            "replica_id",
            phase=pl.lit("drain"),
            start=t0 + pl.duration(seconds=pl.col("t")),
            end=t0 + pl.duration(seconds=pl.col("t") + 30),
            **common,
        )
    )
    frames = [builds, warm, *phase_rows]
    schema = {"start": pl.Datetime("us", "UTC"), "end": pl.Datetime("us", "UTC")}
    return pl.concat([f.cast(schema) for f in frames], how="vertical").with_columns(
        price_per_minute=pl.lit(None, dtype=pl.Float64)
    )


def write_events_csv(events, path) -> None:
    """The events as a CSV file the way an export writes it: ISO 8601 UTC times to the second with a
    ``Z`` (``2026-03-01T00:07:37Z``), the optional columns empty (1,000 deployments: 893,800 rows, 78 MB)."""
    import polars as pl

    events.with_columns(
        pl.col("start", "end").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        pl.col("development").cast(pl.String).str.to_lowercase(),
    ).select("deployment_id", "replica_id", "instance_type", "phase", "start", "end", "development",
             "price_per_minute").write_csv(path)


def run_case(n: int) -> dict:
    import polars as pl

    from testkey_nb.billing import LedgerConfig, PriceTable, bill

    t = time.perf_counter()
    events = synthetic_events(n)
    gen_s = time.perf_counter() - t

    tracemalloc.start()
    t = time.perf_counter()
    run = bill(events, PriceTable.default(), LedgerConfig(credits_usd=30.0, payment_method=True))
    total_s = time.perf_counter() - t
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # the same stages timed separately (second pass, for the breakdown)
    from testkey_nb.billing import meter, run_ledger

    t = time.perf_counter()
    m = meter(events, PriceTable.default())
    meter_s = time.perf_counter() - t
    t = time.perf_counter()
    usage = m.minute_usage()
    minute_s = time.perf_counter() - t
    t = time.perf_counter()
    run_ledger(usage, LedgerConfig())
    ledger_s = time.perf_counter() - t

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "deployments": n,
        "events": events.height,
        "up_intervals": run.metering.up_intervals.height,
        "hourly_rows": run.metering.hourly.height,
        "minute_rows": run.minute_usage.height,
        "billed_minutes": run.metering.billed_minutes,
        "total_usd": round(run.ledger.total_usd, 2),
        "invoices": run.ledger.invoices.height,
        "seconds": {
            "generate_events": round(gen_s, 3),
            "bill_total": round(total_s, 3),
            "meter": round(meter_s, 3),
            "minute_usage": round(minute_s, 3),
            "ledger": round(ledger_s, 3),
        },
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "python_heap_peak_mb": round(heap_peak / 2**20, 2),
        "polars_threads": pl.thread_pool_size(),
    }


def _timed_run(cmd: list[str]) -> dict:
    """Run a command to completion; wall seconds, CPU seconds and peak RSS of that process alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out_chunks = []
    assert proc.stdout is not None
    for chunk in iter(lambda: proc.stdout.read(1 << 16), b""):
        out_chunks.append(chunk)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err.strip()[-500:]}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "stdout": b"".join(out_chunks),
    }


def cli_case(n_deployments: int, repeat: int) -> dict:
    """``testkey-nb billing --events FILE --json`` on a month of ``n_deployments``, against a one-row file."""
    import shutil
    import statistics
    import tempfile
    from pathlib import Path

    exe = shutil.which("testkey-nb", path=str(Path(sys.executable).parent)) or shutil.which("testkey-nb")
    if exe is None:
        raise SystemExit("testkey-nb is not installed next to this Python")
    with tempfile.TemporaryDirectory(prefix="billing-bench-") as tmp:
        fleet = Path(tmp) / "fleet.csv"
        one = Path(tmp) / "one-row.csv"
        # generated in a child process: the parent stays small, since a child's peak RSS counts the
        # parent's pages it was forked from until it execs
        t = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--write-csv", str(fleet), "--deployments", str(n_deployments)],
                       check=True)  # fmt: skip
        gen_s = time.perf_counter() - t
        with fleet.open() as fh:
            one.write_text(fh.readline() + fh.readline())
        runs: dict[str, list[dict]] = {"startup": [], "fleet": []}
        summary = None
        for _ in range(repeat):
            runs["startup"].append(_timed_run([exe, "billing", "--events", str(one), "--json"]))
            r = _timed_run([exe, "billing", "--events", str(fleet), "--json"])
            summary = json.loads(r.pop("stdout"))
            runs["fleet"].append(r)
        size_mb = fleet.stat().st_size / 1e6
        rows = sum(1 for _ in fleet.open()) - 1

    def stat(kind: str, key: str, fn) -> float:
        return round(fn([r[key] for r in runs[kind]]), 3)

    out: dict = {
        "command": "testkey-nb billing --events FILE --json",
        "deployments": n_deployments,
        "rows": rows,
        "csv_mb": round(size_mb, 1),
        "generate_csv_s": round(gen_s, 2),
        "repeat": repeat,
    }
    for kind in ("startup", "fleet"):
        out[kind] = {
            "wall_s_median": stat(kind, "wall_s", statistics.median),
            "wall_s_best": stat(kind, "wall_s", min),
            "cpu_s_median": stat(kind, "cpu_s", statistics.median),
            "peak_rss_mb_median": stat(kind, "peak_rss_mb", statistics.median),
            "peak_rss_mb_max": stat(kind, "peak_rss_mb", max),
        }
    out["beyond_startup"] = {
        "wall_s_median": round(out["fleet"]["wall_s_median"] - out["startup"]["wall_s_median"], 3),
        "wall_s_best": round(out["fleet"]["wall_s_best"] - out["startup"]["wall_s_best"], 3),
        "cpu_s_median": round(out["fleet"]["cpu_s_median"] - out["startup"]["cpu_s_median"], 3),
    }
    if summary is not None:
        out["totals"] = {
            "billed_minutes": summary["billed_minutes"],
            "total_usd": summary["total_usd"],
            "invoices": len(summary["invoices"]),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,100,1000", help="comma-separated deployment counts")
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cli", action="store_true", help="measure testkey-nb billing --events on a CSV")
    parser.add_argument("--deployments", type=int, default=1000, help="--cli: deployments in the CSV")
    parser.add_argument("--repeat", type=int, default=5, help="--cli: alternating pairs of runs")
    parser.add_argument("--write-csv", help="write the synthetic month of --deployments as an events CSV")
    args = parser.parse_args()
    if args.write_csv:
        write_events_csv(synthetic_events(args.deployments), args.write_csv)
        return
    if args.case is not None:
        print(json.dumps(run_case(args.case)))
        return
    if args.cli:
        from importlib.metadata import version

        result = cli_case(args.deployments, args.repeat)
        result |= {"python": sys.version.split()[0], "polars": version("polars"), "cpus": os.cpu_count()}
        result["load_average"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(result, indent=2))
        return
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    cases = []
    for n in sizes:
        proc = subprocess.run(
            [sys.executable, __file__, "--case", str(n)], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            cases.append({"deployments": n, "error": proc.stderr.strip().splitlines()[-1:]})
            continue
        cases.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    import polars as pl

    print(
        json.dumps(
            {
                "benchmark": "billing metering + ledger, one month at minute resolution",
                "month": "2026-03",
                "python": sys.version.split()[0],
                "polars": pl.__version__,
                "cpus": os.cpu_count(),
                "cases": cases,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
