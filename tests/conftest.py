"""Shared fixtures: one emulator per test session, and the canary key."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# A fake key in Baseten's new shape; the suite greps every artifact for it.
CANARY = "b10_CaNaRy42.ZqZqCaNaRyZqZqZqZqZqCaNaRyZqZqZqZq"
CANARY_OLD = "CaNaRy77.OldOldCaNaRyOldOldOldOldOldOldOl"
#: Canaries in several shapes, for every redaction test: OpenAI's ``sk-``, Anthropic's ``sk-ant-``,
#: Groq's ``gsk_``, Baseten's ``b10_`` and a random 40-character string. The last has no digit, so the
#: report redactor's key-shape regex (it wants 3+ digits) cannot hide a broken value redactor.
CANARY_SHAPES = (
    "sk-proj-" + "Tq4Cn" * 8,
    "sk-ant-api03-" + "Zx8CnRy" * 6,
    "gsk_" + "W7cAnArY" * 6,
    CANARY,
    "qTmWzLxRvBnKcHjFsDgYpEuIoAwQeRtYuIoPaSdF",
)

os.environ.setdefault("TESTKEY_NB_RAW", os.path.join(os.environ.get("TMPDIR", "/tmp"), "testkey-nb-raw-tests"))


@pytest.fixture(scope="session")
def emu() -> Iterator[object]:
    from testkey_nb.emulator import run_emulator

    with run_emulator() as running:
        running.add_key(CANARY, "full-access")
        yield running
