"""A Baseten-faithful HTTP emulator on 127.0.0.1: inference and management hosts, impostor modes,
scenarios (key types, tiers, lifecycle, billing) and fault injection, with a request log that never
holds a key; and, with ``provider=``, the other providers' hosts (``PROVIDER_IDS``), each with its own paths,
auth scheme(s) and a key per mode (valid, bad-key, and the no-balance, no-plan, rate-limited, geo-blocked it documents).

    with run_emulator(EmulatorConfig(seed=1)) as emu:
        httpx.get(f"{emu.inference_url}/models", headers={"Authorization": f"Bearer {emu.keys['full-access']}"})
    with run_emulator(provider="anthropic") as emu:
        httpx.get(f"{emu.base_url}/models", headers={"x-api-key": emu.keys["valid"], "anthropic-version": "2023-06-01"})

Names load lazily, so ``testkey-nb`` start-up does not pay for the emulator unless it runs; uvicorn and
starlette load only when an emulator starts.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from testkey_nb.emulator.faults import FAULT_NAMES, ROLES, Fault
    from testkey_nb.emulator.providers.host import MODES, PROVIDER_IDS
    from testkey_nb.emulator.scenarios import SCENARIOS, WORKSPACES, Scenario
    from testkey_nb.emulator.server import EmulatorConfig, RunningEmulator, run_emulator
    from testkey_nb.emulator.state import RequestLogEntry

_EXPORTS = {
    "FAULT_NAMES": "faults",
    "ROLES": "faults",
    "Fault": "faults",
    "MODES": "providers.host",
    "PROVIDER_IDS": "providers.host",
    "SCENARIOS": "scenarios",
    "WORKSPACES": "scenarios",
    "Scenario": "scenarios",
    "EmulatorConfig": "server",
    "RunningEmulator": "server",
    "run_emulator": "server",
    "RequestLogEntry": "state",
}

__all__ = [
    "FAULT_NAMES",
    "MODES",
    "PROVIDER_IDS",
    "ROLES",
    "SCENARIOS",
    "WORKSPACES",
    "EmulatorConfig",
    "Fault",
    "RequestLogEntry",
    "RunningEmulator",
    "Scenario",
    "run_emulator",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
