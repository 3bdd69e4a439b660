"""`testkey-nb demo` and `testkey-nb lab`: the embedded emulator, its demo keys, the reports.

The demo keys are fake and live only in this process and the kernels it starts. Labels are printed,
never keys.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from testkey_nb.keyreport import NOTEBOOKS_DIR, KeyJob, KeyReportResult, render_key, render_scenario
from testkey_nb.secrets import Secret

DEMO_SCENARIO = NOTEBOOKS_DIR / "scenarios" / "bursty_chatbot.toml"


@dataclass(frozen=True)
class DemoKey:
    label: str
    scenario: str
    job: KeyJob
    secret: Secret


@contextmanager
def demo_keys() -> Iterator[list[DemoKey]]:
    """Start the emulator and yield one job per demo scenario, plus an impostor claimed as OpenAI."""
    from testkey_nb.emulator import run_emulator

    with run_emulator() as emu:
        keys = []
        for scenario, key in emu.keys.items():
            label = f"demo-{scenario}"
            job = KeyJob(label=label, base_url=emu.inference_url, management_url=emu.management_url, claim="baseten",
                         deadline_s=30.0)  # fmt: skip
            keys.append(DemoKey(label, scenario, job, Secret(key, label=label)))
        impostor = KeyJob(label="demo-impostor-openai", base_url=emu.impostor_openai_url, claim="openai",
                          deadline_s=30.0)  # fmt: skip
        keys.append(DemoKey(impostor.label or "", "full-access via impostor", impostor,
                            Secret(emu.keys["full-access"], label=impostor.label)))  # fmt: skip
        yield keys


def run_demo(out: Path, *, retention_s: float = 300, console: Console | None = None) -> int:
    console = console or Console(stderr=True)
    out.mkdir(parents=True, exist_ok=True)
    results: list[KeyReportResult] = []
    with demo_keys() as keys:
        keys_table = Table(title="Demo keys (fake, emulator-issued; labels only, the keys are never printed)")
        for col in ("label", "scenario", "endpoint", "claim"):
            keys_table.add_column(col)
        for k in keys:
            keys_table.add_row(k.label, k.scenario, k.job.base_url or "", k.job.claim or "")
        Console().print(keys_table)
        console.print(f"[bold]Emulator up[/]: rendering {len(keys)} key reports and one billing scenario into {out}/")
        results = _render_keys(keys, out, retention_s, console)
    scen = render_scenario(DEMO_SCENARIO, out, retention_s=retention_s)
    results.append(scen)
    index = _write_index(out, results)
    table = Table(title="testkey-nb demo: reports")
    for col in ("label", "verdict", "report"):
        table.add_column(col, overflow="fold")
    for r in results:
        verdict = (r.summary or {}).get("verdict", "-") if r.ok else f"failed: {r.error}"
        table.add_row(r.label, str(verdict), str(r.html) if r.html else "-")
    Console().print(table)
    if index:
        Console().print(f"Fleet index: {index}")
    failed = [r for r in results if not r.ok]
    return 1 if failed else 0


def _render_keys(keys: list[DemoKey], out: Path, retention_s: float, console: Console) -> list[KeyReportResult]:
    try:
        from testkey_nb.batch import BatchEntry, LocalExecutor, run_batch  # type: ignore[attr-defined]
    except ImportError:
        BatchEntry = None
    if BatchEntry is not None:
        entries = [BatchEntry.from_job(k.job, k.secret) for k in keys]
        result = run_batch(entries, out, executor=LocalExecutor(None), force=True, retention_s=retention_s)
        return list(result.results)
    results = []
    for k in keys:
        r = render_key(k.job, out, secret=k.secret, retention_s=retention_s)
        console.print(f"  {k.label}: {'ok' if r.ok else 'failed: ' + str(r.error)}")
        results.append(r)
    return results


def _write_index(out: Path, results: list[KeyReportResult]) -> Path | None:
    try:
        from testkey_nb.fleet import write_index  # type: ignore[attr-defined]
    except ImportError:
        return None
    html_path, _ = write_index(out, results)
    return html_path


def run_lab(*, open_browser: bool = True, port: int = 0) -> int:
    """JupyterLab on notebooks/ with the emulator running and its demo keys in the kernel environment."""
    from testkey_nb.emulator import run_emulator
    from testkey_nb.notebook import BASE_URL_ENV, MANAGEMENT_URL_ENV

    console = Console(stderr=True)
    with run_emulator() as emu:
        env = dict(os.environ)
        env["TESTKEY_NB_KEY"] = emu.keys["full-access"]
        for scenario, key in emu.keys.items():
            env["DEMO_" + scenario.upper().replace("-", "_")] = key
        env[BASE_URL_ENV] = emu.inference_url
        env[MANAGEMENT_URL_ENV] = emu.management_url
        console.print(
            f"Emulator: inference {emu.inference_url}, management {emu.management_url}.\n"
            "Kernel environment: TESTKEY_NB_KEY (full-access demo key) and DEMO_<SCENARIO> for every demo key; "
            f"{BASE_URL_ENV}/{MANAGEMENT_URL_ENV} point the notebooks at the emulator.",
            soft_wrap=True,
        )
        cmd = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={NOTEBOOKS_DIR}", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port or 8888}"]  # fmt: skip
        if not open_browser:
            cmd.append("--no-browser")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # containers and CI run as root; Lab refuses without it
        try:
            return subprocess.call(cmd, env=env)
        except KeyboardInterrupt:
            return 130
