"""Issue 18 item 3: every figure names the exchange it rests on, and that exchange was sent and answered.

The rule runs over every Baseten emulator scenario, every provider emulator mode and every documented
recording (tests/providers/<id>/answers.yaml); controls plant an uncited figure, a figure citing a
sibling exchange of the same probe name that never came back, and one citing another probe's exchange.
Counts count models, not calls."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from documented import PROVIDERS, Documented, key_for

from testkey_nb.check.evidence import uncited_figures
from testkey_nb.check.profile import Metric
from testkey_nb.check.result import CheckOptions, KeyCheck
from testkey_nb.check.run import check_key_async
from testkey_nb.emulator import PROVIDER_IDS, run_emulator
from testkey_nb.emulator.scenarios import SCENARIOS
from testkey_nb.secrets import Secret


def _check(emu: Any, label: str, **opts: Any) -> KeyCheck:
    options = CheckOptions(base_url=emu.inference_url, management_url=emu.management_url, timeout_s=5.0,
                           deadline_s=20.0, **opts)  # fmt: skip
    return asyncio.run(check_key_async(Secret(emu.keys[label]), options))


@pytest.fixture(scope="module")
def scenario_checks(emu: Any) -> dict[str, KeyCheck]:
    return {name: _check(emu, name) for name in SCENARIOS if name in emu.keys}


def _answered(check: KeyCheck) -> dict[str, str]:
    return {o.exchange: o.probe for o in check.observations if o.exchange and o.status is not None}


def test_every_scenario_cites_only_exchanges_that_were_answered(scenario_checks: dict[str, KeyCheck]) -> None:
    assert sorted(scenario_checks) == sorted(SCENARIOS)  # every scenario has its demo key
    for name, check in scenario_checks.items():
        assert uncited_figures(check) == [], name


def test_every_provider_mode_cites_only_exchanges_that_were_answered() -> None:
    seen = 0
    for provider in PROVIDER_IDS:
        with run_emulator(provider=provider) as emu:
            for mode, key in emu.keys.items():
                options = CheckOptions(base_url=emu.base_url, management_url=emu.management_url, timeout_s=5.0,
                                       deadline_s=8.0)  # fmt: skip
                check = asyncio.run(check_key_async(Secret(key), options))
                assert uncited_figures(check) == [], (provider, mode)
                seen += 1
    assert seen >= 2 * len(PROVIDER_IDS)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_recording_cites_only_exchanges_that_were_answered(provider: str) -> None:
    doc = Documented.load(provider)
    for mode in doc.modes:
        # Azure has no default host (every resource has its own): its answers name the one to use
        base_url = doc.base_url if doc.data.get("no_default_host") else None
        options = CheckOptions(claim=provider, base_url=base_url, timeout_s=3.0, deadline_s=5.0)
        check = asyncio.run(check_key_async(Secret(key_for(provider, mode)), options, transport=doc.transport()))
        assert uncited_figures(check) == [], (provider, mode)


def test_exchange_ids_are_unique_within_a_check_and_in_probes_json(scenario_checks: dict[str, KeyCheck]) -> None:
    check = scenario_checks["full-access"]
    probes = check.to_json()["probes"]
    sent = [p for p in probes if p["attempts"] > 0]
    # every request that left has its own id; a copy (attempts 0) names the exchange it shares
    assert len({p["exchange"] for p in sent}) == len(sent)
    assert all(p["exchange"] is None for p in probes if p["outcome"] == "skipped" and p["attempts"] == 0)
    copies = [p for p in probes if p["attempts"] == 0 and p["exchange"]]
    assert all(p["exchange"] in {s["exchange"] for s in sent} for p in copies)


def test_every_figure_of_the_json_names_its_exchange(scenario_checks: dict[str, KeyCheck]) -> None:
    data = scenario_checks["full-access"].to_json()
    answered = {p["exchange"] for p in data["probes"] if p["status"] is not None}
    assert data["provenance"]["key_valid"]["exchange"] in answered
    assert data["identity"]["exchanges"] and set(data["identity"]["exchanges"]) <= answered
    assert data["limits"] and all(lim["exchange"] in answered for lim in data["limits"])
    cells = [m["allowed_exchange"] for m in data["models"] if m["allowed"] is not None]
    assert cells and set(cells) <= answered
    verified = [c for c in data["capabilities"] if c["status"] == "verified"]
    assert verified and all(c["exchanges"] and set(c["exchanges"]) <= answered for c in verified)


def test_counts_count_models_not_calls(scenario_checks: dict[str, KeyCheck]) -> None:
    c = scenario_checks["inference-scoped"]  # auth_check and the matrix both call its one model
    calls = [o for o in c.observations if o.cost == "rejected" and o.accepted and o.item]
    assert len(calls) >= 2 and len({o.item for o in calls}) == 1
    assert c.profile.status.detail.startswith("1 model passed auth")
    routing = next(cap for cap in c.profile.capabilities if cap.name == "routing")
    assert routing.evidence.startswith("1 model reached past auth")


def _with_metric(check: KeyCheck, metric: Metric) -> KeyCheck:
    metrics = {**check.profile.metrics, metric.name: metric}
    return replace(check, profile=replace(check.profile, metrics=metrics))


def test_control_an_uncited_figure_is_caught(scenario_checks: dict[str, KeyCheck]) -> None:
    c = scenario_checks["no-credits"]
    # runtime_call is billable: without --allow-billable it is skipped, never sent
    assert [(o.outcome, o.exchange) for o in c.observations if o.probe == "runtime_call"] == [("skipped", None)]
    planted = _with_metric(c, Metric("runtime_model", "m", "observed", "runtime_call", "answered"))
    assert uncited_figures(planted) == ["metric runtime_model: names no exchange"]
    caps = tuple(replace(cap, status="verified", exchanges=()) if cap.name == "routing" else cap
                 for cap in c.profile.capabilities)  # fmt: skip
    broken = replace(c, profile=replace(c.profile, capabilities=caps))
    assert uncited_figures(broken) == ["capability routing: names no exchange"]


def test_control_a_sibling_exchange_of_the_same_probe_does_not_satisfy_the_rule(
    scenario_checks: dict[str, KeyCheck],
) -> None:
    c = scenario_checks["full-access"]
    proof = c.profile.metrics["key_valid"]
    assert proof.exchange in _answered(c)
    # a second exchange of the same probe that left but never came back (a timeout): citing it is a breach,
    # though its sibling of the same probe name was answered
    lost = next(o for o in c.observations if o.exchange == proof.exchange)
    lost = replace(lost, exchange="x999", status=None, outcome="timeout", json_body=None)
    planted = replace(_with_metric(c, replace(proof, exchange="x999")), observations=(*c.observations, lost))
    assert uncited_figures(planted) == ["metric key_valid: cites exchange x999, which was not sent and answered"]
    # an exchange that was answered, but of another probe
    other_ex, other_probe = next((e, p) for e, p in _answered(c).items() if p != proof.probe)
    planted = _with_metric(c, replace(proof, exchange=other_ex))
    assert uncited_figures(planted) == [
        f"metric key_valid: cites exchange {other_ex} of {other_probe}, not of {proof.probe}"
    ]


def test_control_a_balance_citing_no_exchange_is_caught() -> None:
    doc = Documented.load("openrouter")
    options = CheckOptions(claim="openrouter", timeout_s=3.0, deadline_s=5.0)
    c = asyncio.run(check_key_async(Secret(key_for("openrouter", "valid")), options, transport=doc.transport()))
    assert uncited_figures(c) == []
    bad = tuple(replace(b, exchange=None) if b.scope == "account" else b for b in c.profile.balances)
    planted = replace(c, profile=replace(c.profile, balances=bad, balance=bad[0]))
    assert uncited_figures(planted) == ["balance (account): names no exchange"]


def test_scheme_trials_of_one_check_share_one_numbering() -> None:
    # a host that names no provider, claimed as OpenAI: the first trial goes in Bearer, identification
    # settles Anthropic's x-api-key and the key is read again; both trials' exchanges are numbered together
    doc = Documented.load("anthropic")
    options = CheckOptions(claim="openai", base_url="https://llm-gateway.example.com/v1", timeout_s=3.0,
                           deadline_s=5.0)  # fmt: skip
    c = asyncio.run(check_key_async(Secret(key_for("anthropic", "valid")), options, transport=doc.transport()))
    sent = [o for o in c.observations if o.attempts > 0]
    assert len({o.auth for o in sent}) == 2  # two schemes were tried
    ids = [o.exchange for o in sent]
    assert None not in ids and len(set(ids)) == len(ids)
    # one numbering: the second trial goes on from the first (a fresh engine each would repeat x1)
    first, second = ({o.exchange for o in sent if o.auth == a} for a in dict.fromkeys(o.auth for o in sent))
    assert max(int(e[1:]) for e in first) < min(int(e[1:]) for e in second)
