"""Each report speaks of its own provider only: Baseten's deployment billing (instance prices, dedicated
deployments, deployment status) appears where the provider's data declares it, nowhere else."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import testkey_nb as tk
from testkey_nb.billing.key_billing import key_billing
from testkey_nb.emulator import run_emulator
from testkey_nb.identify.loader import RegistryError, _parse_billing
from testkey_nb.report.billing_view import key_view
from testkey_nb.report.summary import billing_summary
from testkey_nb.report.views import usage_html

ROOT = Path(__file__).resolve().parents[2]
BASETEN_WORDS = re.compile(r"instance|deployment|baseten|autoscal|replica", re.IGNORECASE)


def _provider_check(provider: str) -> tk.KeyCheck:
    with run_emulator(provider=provider) as emu:
        return tk.check(tk.Secret(emu.keys["valid"], label=provider), base_url=emu.base_url,
                        management_url=emu.management_url, claim=provider, label=provider)  # fmt: skip


def _usage_text(check: tk.KeyCheck) -> str:
    cap = next(c for c in check.profile.capabilities if c.name == "usage and billing")
    return re.sub(r"<[^>]+>", " ", usage_html(key_billing(check.profile), cap)).strip()


@pytest.mark.parametrize("provider", ["anthropic", "openrouter", "deepseek"])
def test_other_providers_get_no_baseten_text(provider: str) -> None:
    check = _provider_check(provider)
    assert check.identification.provider == provider and check.profile.billing == ""
    text = _usage_text(check)
    assert text.startswith("Usage and billing: ") and BASETEN_WORDS.search(text) is None, text
    for action in check.decision.actions:
        assert BASETEN_WORDS.search(action.reason) is None, action
    view = key_view(check)
    assert view.unavailable is not None and set(view.unavailable) >= {"summary", "daily", "whatif", "timeline"}
    answer = billing_summary(view).answer
    assert "declares no per-minute deployment billing" in answer and "Baseten" not in answer


def test_deepseek_is_not_told_to_watch_deployments() -> None:
    check = _provider_check("deepseek")
    monitoring = [a.reason for a in check.decision.actions if a.action == "add monitoring"]
    assert monitoring == ["this key can read balance: watch it between checks"]


def test_baseten_keeps_its_deployment_billing(emu: Any) -> None:
    check = tk.check(tk.Secret(emu.keys["full-access"]), base_url=emu.inference_url,
                     management_url=emu.management_url, claim="baseten")  # fmt: skip
    assert check.profile.billing == "deployment_minutes"
    text = _usage_text(check)
    assert "Instance prices per minute:" in text and "Projection of this month" in text


def test_the_key_report_notebook_names_no_provider_billing() -> None:
    nb = json.loads((ROOT / "testkey_nb" / "notebooks" / "key_report.ipynb").read_text(encoding="utf-8"))
    markdown = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "dedicated deployments" not in markdown and "Baseten" not in markdown


def test_billing_section_is_validated() -> None:
    assert _parse_billing(None, "x") is None
    assert _parse_billing({"metering": "deployment_minutes", "note": "n"}, "x").note == "n"  # type: ignore[union-attr]
    with pytest.raises(RegistryError, match="metering"):
        _parse_billing({"metering": "per_token"}, "x")


@pytest.mark.slow
def test_render_with_billing_refuses_a_key_without_deployment_billing(tmp_path: Path) -> None:
    with run_emulator(provider="deepseek") as emu:
        env = {**os.environ, "DS_KEY": emu.keys["valid"]}
        done = subprocess.run(
            [sys.executable, "-m", "testkey_nb", "render", "env:DS_KEY", "--base-url", emu.base_url, "--claim",
             "deepseek", "--with-billing", "--out", str(tmp_path), "--no-history", "--label", "ds"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert (tmp_path / "ds.html").is_file() and not (tmp_path / "ds-billing.html").exists()
    assert done.stderr.strip() == (
        "testkey-nb: error: ds: no billing report: DeepSeek declares no per-minute deployment billing in its "
        "provider data: the billing notebook meters deployment minutes, so it has nothing to show for this key"
    )
    page = (tmp_path / "ds.html").read_text(encoding="utf-8")
    assert "Instance prices" not in page and "dedicated deployments" not in page
