"""What `testkey-nb probe` costs beyond the network: the command run cold, beside the same check in a
warm process, against the emulator (no added latency); prints JSON.

cold probe    = ``testkey-nb probe env:K --json`` in a fresh process (Python start-up, imports, probe).
warm check    = ``check_key`` of the same key in this (already imported) process: the network and
                the probe's own work.
beyond        = cold probe - warm check - bare Python start-up: what the command's imports cost.
Also the heaviest modules `python -X importtime` reports for the probe command's imports, and
whether any of papermill, nbconvert, altair, jsonschema was imported (none should be).

    .venv/bin/python benchmarks/import_bench.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

from testkey_nb.check.result import CheckOptions
from testkey_nb.check.run import check_key_async
from testkey_nb.emulator import run_emulator
from testkey_nb.secrets import Secret

HEAVY = ("papermill", "nbconvert", "altair", "jsonschema", "rfc3987_syntax")
_PROBE = (
    "import sys, json, atexit\n"
    "atexit.register(lambda: sys.stderr.write('TK-HEAVY ' + json.dumps([m for m in {heavy!r} if m in sys.modules])))\n"
    "sys.argv = ['testkey-nb', *sys.argv[1:]]\n"
    "from testkey_nb.cli import main\n"
    "main()\n"
)


def _wall(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, proc


def _importtime_top(env: dict[str, str], n: int = 8) -> list[dict[str, object]]:
    code = "import testkey_nb.cli.main, testkey_nb.check.run, testkey_nb.cli.console"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True)
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            depth = (len(parts[2]) - len(parts[2].lstrip()) - 1) // 2  # nesting: two spaces a level
            if depth <= 1:
                rows.append({"module": parts[2].strip(), "cumulative_ms": round(int(parts[1]) / 1000, 1)})
    return sorted(rows, key=lambda r: -float(r["cumulative_ms"]))[:n]  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with run_emulator() as emu:
        key = emu.keys["full-access"]
        env = {**os.environ, "TK_BENCH_KEY": key}
        cmd = [sys.executable, "-c", _PROBE.format(heavy=HEAVY), "probe", "env:TK_BENCH_KEY",
               "--base-url", emu.inference_url, "--management-url", emu.management_url, "--json"]  # fmt: skip
        options = CheckOptions(base_url=emu.inference_url, management_url=emu.management_url)
        asyncio.run(check_key_async(Secret(key), options))  # warm this process up once
        cold, warm, bare = [], [], []
        heavy: list[str] = []
        for _ in range(args.runs):  # interleaved
            seconds, proc = _wall(cmd, env)
            cold.append(seconds)
            heavy = json.loads(proc.stderr.rsplit("TK-HEAVY ", 1)[1])
            started = time.perf_counter()
            asyncio.run(check_key_async(Secret(key), options))
            warm.append(time.perf_counter() - started)
            bare.append(_wall([sys.executable, "-c", "pass"], env)[0])
        top = _importtime_top(env)
    cold_s, warm_s, bare_s = (statistics.median(v) for v in (cold, warm, bare))
    print(json.dumps({
        "runs": args.runs,
        "cores": len(os.sched_getaffinity(0)),
        "cold_probe_s": round(cold_s, 3),
        "warm_check_s": round(warm_s, 3),
        "python_startup_s": round(bare_s, 3),
        "beyond_network_s": round(cold_s - warm_s, 3),
        "imports_beyond_python_s": round(cold_s - warm_s - bare_s, 3),
        "heavy_modules_imported": heavy,
        "importtime_top": top,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
