"""Shared fixtures: one emulator per test session, and the canary key."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# A fake key in Baseten's new shape; the suite greps every artifact for it.
CANARY = "b10_CaNaRy42.ZqZqCaNaRyZqZqZqZqZqCaNaRyZqZqZqZq"
CANARY_OLD = "CaNaRy77.OldOldCaNaRyOldOldOldOldOldOldOl"

os.environ.setdefault("TESTKEY_NB_RAW", os.path.join(os.environ.get("TMPDIR", "/tmp"), "testkey-nb-raw-tests"))


@pytest.fixture(scope="session")
def emu() -> Iterator[object]:
    from testkey_nb.emulator import run_emulator

    with run_emulator() as running:
        running.add_key(CANARY, "full-access")
        yield running
