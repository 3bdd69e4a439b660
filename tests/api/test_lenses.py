"""The three lenses and the evidence grades: the JSON contract (probe --json, summary(), index rows), the
rules as data, and the exact answers for emulator keys whose lenses disagree."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

import testkey_nb as tk
from testkey_nb.batch.fleet import index_row
from testkey_nb.check.lenses import LENS_NAMES, LensError, _condition, lens_specs
from testkey_nb.check.profile.capabilities import GRADES, grade_of
from testkey_nb.check.result import CheckError

ROOT = Path(__file__).resolve().parents[2]
VERDICTS = {"ready", "needs_work", "reject"}


def _check(emu: Any, scenario: str, **kw: Any) -> tk.KeyCheck:
    return tk.check(tk.Secret(emu.keys[scenario], label=scenario), base_url=emu.inference_url,
                    management_url=emu.management_url, claim="baseten", label=scenario, **kw)  # fmt: skip


@pytest.fixture(scope="module")
def checks(emu: Any) -> dict[str, tk.KeyCheck]:
    return {s: _check(emu, s) for s in ("full-access", "inference-scoped", "no-credits", "revoked")}


def _assert_lenses_contract(lenses: Any) -> None:
    assert isinstance(lenses, dict) and list(lenses) == list(LENS_NAMES)
    for lens in lenses.values():
        assert lens["verdict"] in VERDICTS
        assert isinstance(lens["summary"], str) and lens["summary"]
        for action in lens["actions"]:
            assert set(action) == {"action", "reason", "evidence"}
            assert isinstance(action["reason"], str) and action["reason"]
            assert isinstance(action["evidence"], list)


def test_every_check_carries_all_three_lenses(checks: dict[str, tk.KeyCheck]) -> None:
    for check in checks.values():
        for doc in (check.to_json(), check.summary()):
            assert doc["lens"] == "inventory-fit"
            _assert_lenses_contract(doc["lenses"])
            # inventory fit is the onboarding decision, as the top-level verdict always was
            assert doc["lenses"]["inventory-fit"]["verdict"] == doc["verdict"]
            assert doc["lenses"]["inventory-fit"]["summary"] == doc["verdict_summary"]


def test_lenses_answer_their_own_questions(checks: dict[str, tk.KeyCheck]) -> None:
    verdicts = {name: {k: v["verdict"] for k, v in c.to_json()["lenses"].items()} for name, c in checks.items()}
    assert verdicts["full-access"] == {"inventory-fit": "ready", "onboarding-readiness": "ready",
                                       "commercial-launch": "needs_work"}  # Baseten publishes no balance
    assert verdicts["no-credits"] == {"inventory-fit": "needs_work", "onboarding-readiness": "ready",
                                      "commercial-launch": "reject"}  # fmt: skip
    assert verdicts["revoked"] == dict.fromkeys(LENS_NAMES, "reject")
    # one model allowed: TestKey's "<= 2 models: limited coverage, confirm identity first"
    scoped = checks["inference-scoped"].to_json()["lenses"]["onboarding-readiness"]
    assert scoped["verdict"] == "needs_work"
    assert "limited coverage, confirm identity first" in scoped["summary"]
    assert [a["action"] for a in scoped["actions"]] == ["widen coverage"]
    launch = checks["full-access"].to_json()["lenses"]["commercial-launch"]
    assert launch["summary"] == "neither a balance nor a plan could be read: nobody can say how long the key will pay"
    assert [a["action"] for a in launch["actions"]] == ["confirm balance or plan", "size traffic", "add monitoring"]
    assert "500,000 tokens per minute observed" in launch["actions"][1]["reason"]


def test_stability_comes_from_the_history(checks: dict[str, tk.KeyCheck]) -> None:
    check = checks["full-access"]
    first = check.lens_results()["commercial-launch"]
    assert any(a.action == "add monitoring" and "no earlier check" in a.reason for a in first.actions)
    shaky = check.with_history([{"status": "valid"}, {"status": "rate_limited"}])
    lens = shaky.to_json()["lenses"]["commercial-launch"]
    assert lens["verdict"] == "needs_work"
    assert lens["summary"] == "1 of the 2 earlier checks found the key not valid: not stable enough to launch"
    steady = check.with_history([{"status": "valid"}, {"status": "valid"}])
    steady_actions = steady.to_json()["lenses"]["commercial-launch"]["actions"]
    assert not any("no earlier check" in a["reason"] for a in steady_actions)


def test_lens_picks_the_headline_and_unknown_lenses_fail(emu: Any, checks: dict[str, tk.KeyCheck]) -> None:
    check = _check(emu, "no-credits", lens="commercial-launch")
    assert check.lens == "commercial-launch" and check.answer().verdict == "reject"
    assert check.summary()["lens"] == "commercial-launch"
    assert checks["no-credits"].with_lens("onboarding-readiness").answer().verdict == "ready"
    with pytest.raises(CheckError, match="inventory-fit, onboarding-readiness, commercial-launch"):
        _check(emu, "no-credits", lens="launch")
    with pytest.raises(LensError):
        checks["no-credits"].with_lens("nope")


def test_probe_json_and_the_lens_flag(emu: Any) -> None:
    env = {**os.environ, "LENS_KEY": emu.keys["no-credits"]}
    base = [sys.executable, "-m", "testkey_nb", "probe", "env:LENS_KEY", "--base-url", emu.inference_url,
            "--management-url", emu.management_url, "--claim", "baseten"]  # fmt: skip
    done = subprocess.run([*base, "--json", "--lens", "onboarding-readiness"], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["lens"] == "onboarding-readiness"
    _assert_lenses_contract(doc["lenses"])
    assert all(c["grade"] in GRADES for c in doc["capabilities"])
    bad = subprocess.run([*base, "--lens", "launch"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert "--lens: unknown lens 'launch': use one of inventory-fit, onboarding-readiness, commercial-launch" in (
        bad.stderr
    )
    text = subprocess.run([*base, "--lens", "commercial-launch"], env={**env, "COLUMNS": "100"},
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert text.returncode == 0, text.stderr
    first = text.stdout.splitlines()[0]
    assert first.startswith("Verdict: reject (commercial launch) - the account cannot pay for calls")
    flat = " ".join(text.stdout.split())
    assert "Other lenses: inventory fit needs work; onboarding readiness ready (--lens NAME)" in flat


def test_index_rows_carry_lenses_and_grades(checks: dict[str, tk.KeyCheck]) -> None:
    summary = json.loads(json.dumps(checks["inference-scoped"].summary()))
    row = index_row("inference-scoped", summary=summary, report="inference-scoped.html")
    assert row["lens"] == "inventory-fit"
    _assert_lenses_contract(row["lenses"])
    assert row["lenses"]["onboarding-readiness"]["verdict"] == "needs_work"
    grades = {c["capability"]: c["grade"] for c in row["capabilities"]}
    assert grades == {c["capability"]: c["grade"] for c in summary["capabilities"]}
    # an inference-only key: management refused (invisible); Baseten has no balance endpoint (not exposed)
    assert grades["key identity"] == "invisible" and grades["balance"] == "not_exposed"
    assert grades["model catalog"] == "confirmed" and grades["routing"] == "confirmed"
    assert index_row("x", error="boom")["lenses"] is None


def test_grade_rule() -> None:
    assert grade_of("unsupported", "unsupported", False) == "not_exposed"
    for status in ("denied", "unknown", "error"):
        assert grade_of(status, "supported", False) == "invisible"
    assert grade_of("verified", "supported", False) == "confirmed"
    assert grade_of("verified", "partial", False) == "partially_visible"
    assert grade_of("verified", "supported", True) == "partially_visible"
    assert GRADES == ("confirmed", "partially_visible", "invisible", "not_exposed")


def test_conditions() -> None:
    facts = {"n": 2, "ok": True, "name": "valid"}
    assert _condition("ok", facts) and not _condition("not ok", facts)
    assert _condition("n <= 2", facts) and not _condition("n < 2", facts) and _condition("n >= 2", facts)
    assert _condition("n > 1", facts) and _condition("n == 2", facts) and _condition("n != 3", facts)
    assert _condition("name == valid", facts) and not _condition("not name == valid", facts)
    with pytest.raises(LensError, match="unknown fact"):
        _condition("missing", facts)
    with pytest.raises(LensError, match="needs numbers"):
        _condition("name < 3", facts)


def test_the_rules_are_data_and_documented() -> None:
    """Every fact a rule reads or a text fills in is named in docs/lenses.md."""
    data = tomllib.loads((ROOT / "testkey_nb" / "check" / "lenses.toml").read_text(encoding="utf-8"))
    assert sorted(data["lens"]) == sorted(LENS_NAMES) and len(lens_specs()) == 3
    used: set[str] = set()
    for lens in data["lens"].values():
        for item in (*lens.get("verdict", []), *lens.get("action", [])):
            used |= {re.match(r"\s*(?:not\s+)?([a-z_]+)", c).group(1) for c in item.get("when", [])}  # type: ignore[union-attr]
            for text in (item.get("summary", ""), item.get("reason", ""), *item.get("evidence", [])):
                used |= set(re.findall(r"\{([a-z_]+)", text))
    doc = (ROOT / "docs" / "lenses.md").read_text(encoding="utf-8")
    assert used and [f for f in sorted(used) if f"`{f}`" not in doc] == []
    assert "lenses.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


def test_render_refuses_an_unknown_lens_before_anything_runs(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from testkey_nb.cli.main import app

    done = CliRunner().invoke(app, ["render", "env:NO_SUCH_KEY_VAR", "--lens", "inventory", "--out", str(tmp_path)])
    assert done.exit_code == 2
    assert "--lens: unknown lens 'inventory'" in done.output and "NO_SUCH_KEY_VAR" not in done.output
    assert list(tmp_path.iterdir()) == []
