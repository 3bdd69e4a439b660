"""Probe benchmark: the full Baseten plan against the emulator with 100 ms added latency per request,
the concurrent engine vs the same probes one after another, the probe's network wait in round trips
(300 ms per answer; inference-only plan and full plan), and the CLI's cold-start (import) time.

    .venv/bin/python benchmarks/probe_bench.py [--latency-ms 100] [--runs 3]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time

from testkey_nb.check.result import CheckOptions
from testkey_nb.check.run import check_key_async
from testkey_nb.emulator import EmulatorConfig, Fault, run_emulator
from testkey_nb.secrets import Secret


def _time_check(emu, key: str, concurrent: bool) -> tuple[float, int, str]:
    options = CheckOptions(
        base_url=emu.inference_url, management_url=emu.management_url, concurrent=concurrent,
        timeout_s=30, deadline_s=600,
    )  # fmt: skip
    started = time.perf_counter()
    result = asyncio.run(check_key_async(Secret(key), options))
    return time.perf_counter() - started, result.profile.probe_requests, result.profile.status.code


def _round_trips(latency_ms: int, runs: int, max_in_flight: int = 16) -> dict[str, object]:
    """The probe's network wait in round trips, for the inference-only plan (no management URL) and the
    full plan: how much longer one check takes when every answer waits ``latency_ms`` more, i.e.
    (wall at 2 x latency_ms - wall at latency_ms) / latency_ms, the emulator's ``latency`` fault adding
    the wait. The slope takes out the CPU time (registry, identification, profile) that no network
    change would remove. The critical path of the inference-only plan is 2 round trips: the catalog
    (with the pilot), then every per-model check at once."""
    out: dict[str, object] = {"latency_ms": latency_ms, "max_in_flight": max_in_flight}
    walls: dict[tuple[str, int], float] = {}
    requests: dict[str, int] = {}
    for latency in (latency_ms, 2 * latency_ms):
        faults = (Fault("latency", ms=latency),)
        with run_emulator(EmulatorConfig(faults=faults)) as emu:
            key = emu.keys["full-access"]
            for name, mgmt in (("inference_only", None), ("full_plan", emu.management_url)):
                times = []
                for _ in range(runs):
                    options = CheckOptions(base_url=emu.inference_url, management_url=mgmt, claim="baseten",
                                           timeout_s=30, deadline_s=600, max_in_flight=max_in_flight)  # fmt: skip
                    started = time.perf_counter()
                    result = asyncio.run(check_key_async(Secret(key), options))
                    times.append(time.perf_counter() - started)
                    requests[name] = result.profile.probe_requests
                walls[(name, latency)] = statistics.median(times)
    for name in ("inference_only", "full_plan"):
        wait = walls[(name, 2 * latency_ms)] - walls[(name, latency_ms)]
        out[name] = {
            "wall_s": round(walls[(name, latency_ms)], 3),
            "wall_at_double_latency_s": round(walls[(name, 2 * latency_ms)], 3),
            "network_wait_round_trips": round(wait * 1000 / latency_ms, 2),
            "requests": requests[name],
        }
    return out


def _cold_start(runs: int) -> dict[str, float]:
    def wall(cmd: list[str]) -> float:
        started = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        return time.perf_counter() - started

    python = [sys.executable, "-c", "pass"]
    cli = [sys.executable, "-m", "testkey_nb", "--help"]
    base = [wall(python) for _ in range(runs)]
    help_ = [wall(cli) for _ in range(runs)]
    return {
        "python_startup_s": round(statistics.median(base), 3),
        "cli_help_s": round(statistics.median(help_), 3),
        "cli_import_cost_s": round(statistics.median(help_) - statistics.median(base), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenario", default="lifecycle")
    parser.add_argument("--rtt-latency-ms", type=int, default=300, help="latency per answer for the round trips")
    args = parser.parse_args()
    config = EmulatorConfig(faults=(Fault("latency", ms=args.latency_ms),))
    with run_emulator(config) as emu:
        key = emu.keys[args.scenario]
        conc = [_time_check(emu, key, True) for _ in range(args.runs)]
        seq = [_time_check(emu, key, False) for _ in range(args.runs)]
    c_med = statistics.median(t for t, _, _ in conc)
    s_med = statistics.median(t for t, _, _ in seq)
    print(
        json.dumps(
            {
                "scenario": args.scenario,
                "added_latency_ms": args.latency_ms,
                "runs": args.runs,
                "requests_per_probe": conc[0][1],
                "status": conc[0][2],
                "concurrent_s": round(c_med, 3),
                "sequential_s": round(s_med, 3),
                "speedup": round(s_med / c_med, 2),
                "round_trips": _round_trips(args.rtt_latency_ms, args.runs),
                "cold_start": _cold_start(max(3, args.runs)),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
