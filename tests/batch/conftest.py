"""The fleet batch: 20 keys against the emulator, rendered once per session and shared by the tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from batch_helpers import SHAPELESS_KEY, FleetRun, fleet_keys_file, write_private


@pytest.fixture(scope="session")
def fleet(emu: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetRun]:
    folder = tmp_path_factory.mktemp("fleet")
    text, env, keys = fleet_keys_file(emu, folder)
    keys_file = folder / "keys.toml"
    keys_file.write_text(text, encoding="utf-8")
    keys_env = write_private(folder / "keys.env", f"# one raw key\nexport NB_FAILS='{SHAPELESS_KEY}'\n")
    keys["nb-fails"] = SHAPELESS_KEY
    run = FleetRun(folder, keys_file, keys_env, folder / "reports", folder / "raw", env, keys, -1, "", "", 0.0,
                   {"claim": None, "base_url": None, "management_url": emu.management_url})  # fmt: skip
    started = time.perf_counter()
    run.code, run.stdout, run.stderr = run.rerun()
    run.seconds = time.perf_counter() - started
    yield run
