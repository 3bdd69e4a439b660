"""`testkey-nb demo`: the embedded emulators (Baseten and a mixed fleet), their demo keys, the reports.

The demo keys are fake and live only in this process and the kernels it starts. Labels are printed,
never keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from testkey_nb._files import SCENARIOS_DIR
from testkey_nb.report.keyreport import KeyJob, render_scenario
from testkey_nb.secrets import Secret

DEMO_SCENARIO = SCENARIOS_DIR / "bursty_chatbot.toml"


@dataclass(frozen=True)
class DemoKey:
    label: str
    scenario: str
    job: KeyJob
    secret: Secret


# The mixed fleet: beside Baseten's scenarios, these providers' emulators and modes (each a batch entry
# with that provider's base URL and claim). Until every provider is evaluated, their reports may show
# the Baseten-era evaluation; the emulators already answer as the real hosts do.
DEMO_FLEET: dict[str, tuple[str, ...]] = {
    "openai": ("valid", "no-balance"),
    "anthropic": ("valid", "bad-key"),
    "openrouter": ("valid", "no-balance", "geo-blocked"),
    "deepseek": ("valid", "no-balance"),
    "groq": ("valid", "rate-limited"),
    "huggingface": ("valid",),
    # issue 19: a China-route key (the emulator's loopback host, checked with --route china: CNY balance) and
    # one key per new reason: no_balance (Zhipu 1113 on 429), no_plan (Zhipu 1308)
    "moonshot": ("valid", "no-balance"),
    "zhipu": ("valid", "no-balance", "no-plan"),
}
#: keys of the fleet checked as on the China route (the emulator serves one loopback host per provider)
DEMO_CHINA: frozenset[tuple[str, str]] = frozenset({("moonshot", "valid"), ("zhipu", "no-plan")})


@contextmanager
def demo_keys() -> Iterator[list[DemoKey]]:
    """Start the emulators and yield one job per demo key: every Baseten scenario, an impostor claimed as
    OpenAI, and the `DEMO_FLEET` keys of the other providers (one emulator per provider)."""
    from contextlib import ExitStack

    from testkey_nb.emulator import run_emulator

    with ExitStack() as stack:
        emu = stack.enter_context(run_emulator())
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
        # status_reason waf: a firewall's HTML page where the provider answers JSON (the key is not judged)
        waf = KeyJob(label="demo-behind-waf", base_url=emu.fault_url("inference", "waf_html"), claim="baseten",
                     deadline_s=30.0)  # fmt: skip
        keys.append(DemoKey(waf.label or "", "full-access behind a firewall page", waf,
                            Secret(emu.keys["full-access"], label=waf.label)))  # fmt: skip
        for provider, modes in DEMO_FLEET.items():
            other = stack.enter_context(run_emulator(provider=provider))
            management = other.management_url if other.management_url != other.base_url else None
            for mode in modes:
                label = f"demo-{provider}-{mode}"
                route = "china" if (provider, mode) in DEMO_CHINA else None
                job = KeyJob(label=label, base_url=other.base_url, management_url=management, claim=provider,
                             route=route, deadline_s=30.0)  # fmt: skip
                keys.append(DemoKey(label, f"{provider} {mode}", job, Secret(other.keys[mode], label=label)))
        yield keys


def run_demo(out: Path, *, retention_s: float = 300, console: Console | None = None) -> int:
    """Render the demo keys through the batch runner (fleet index included), then one scenario."""
    from testkey_nb.batch import LocalExecutor, run_batch
    from testkey_nb.batch.keysfile import KeyEntry

    console = console or Console(stderr=True)
    out.mkdir(parents=True, exist_ok=True)
    with demo_keys() as keys:
        keys_table = Table(title="Demo keys (fake, emulator-issued; labels only, the keys are never printed)")
        for col in ("label", "scenario", "endpoint", "claim"):
            keys_table.add_column(col)
        for k in keys:
            keys_table.add_row(k.label, k.scenario, k.job.base_url or "", k.job.claim or "")
        Console().print(keys_table)
        providers = len({k.job.claim for k in keys})
        console.print(f"[bold]Emulators up[/] ({providers} providers): rendering {len(keys)} key reports and one "
                      f"billing scenario into {out}/")  # fmt: skip
        entries = [
            KeyEntry(label=k.label, claim=k.job.claim, base_url=k.job.base_url, management_url=k.job.management_url,
                     secret=k.secret, origin="demo")
            for k in keys
        ]  # fmt: skip
        batch = run_batch(entries, out, executor=LocalExecutor(None), force=True, retention_s=retention_s)
    scenario = render_scenario(DEMO_SCENARIO, out, retention_s=retention_s)
    table = Table(title="testkey-nb demo: reports")
    for col in ("label", "result", "report"):
        table.add_column(col, overflow="fold")
    for done in batch.keys:
        result = done.verdict or done.state if done.state != "failed" else f"failed: {done.error}"
        table.add_row(done.label, str(result), str(done.report) if done.report else "-")
    table.add_row(scenario.label, "rendered" if scenario.ok else f"failed: {scenario.error}",
                  str(scenario.html) if scenario.html else "-")  # fmt: skip
    Console().print(table)
    if batch.index_html:
        Console().print(f"Fleet index: {batch.index_html}  (and {batch.index_json})")
    return 0 if batch.ok and scenario.ok else 1
