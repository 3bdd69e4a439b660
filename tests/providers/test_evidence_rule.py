"""Issue 15 item 3: every figure points at a request that was made, over every Baseten emulator scenario;
counts count models, not calls; and the rule itself can fail."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from testkey_nb.check.evidence import uncited_figures
from testkey_nb.check.profile import Metric
from testkey_nb.check.result import CheckOptions, KeyCheck
from testkey_nb.check.run import check_key_async
from testkey_nb.emulator.scenarios import SCENARIOS
from testkey_nb.secrets import Secret


def _check(emu: Any, label: str, **opts: Any) -> KeyCheck:
    options = CheckOptions(base_url=emu.inference_url, management_url=emu.management_url, timeout_s=5.0,
                           deadline_s=20.0, **opts)  # fmt: skip
    return asyncio.run(check_key_async(Secret(emu.keys[label]), options))


@pytest.fixture(scope="module")
def scenario_checks(emu: Any) -> dict[str, KeyCheck]:
    return {name: _check(emu, name) for name in SCENARIOS if name in emu.keys}


def test_every_scenario_cites_only_requests_that_were_sent(scenario_checks: dict[str, KeyCheck]) -> None:
    assert len(scenario_checks) >= 10
    for name, check in scenario_checks.items():
        assert uncited_figures(check) == [], name


def test_no_credits_key_claims_no_routing_and_shows_the_tested_model_like_the_rest(
    scenario_checks: dict[str, KeyCheck],
) -> None:
    c = scenario_checks["no-credits"]
    assert c.profile.metrics["runtime_model"].value is None  # nothing routed: no model call passed auth
    tested = {o.item for o in c.observations if o.cost == "rejected" and o.status == 402 and o.item}
    assert tested
    rows = {r.model: r for r in c.profile.models}
    # a model really called (402) reads like any other: allowed by the key's type, its 402 said
    for model in tested:
        assert rows[model].allowed is True and "402" in rows[model].allowed_evidence
    assert all(r.allowed_probe == "current_key" for r in rows.values())


def test_metrics_only_scopes_rest_on_a_probe_that_was_sent(scenario_checks: dict[str, KeyCheck]) -> None:
    c = scenario_checks["metrics-only"]
    scopes = c.profile.metrics["token_scopes"]
    sent = {o.probe for o in c.observations if o.outcome != "skipped"}
    assert scopes.probe in sent


def test_counts_count_models_not_calls(scenario_checks: dict[str, KeyCheck]) -> None:
    c = scenario_checks["inference-scoped"]  # auth_check and the matrix both call its one model
    calls = [o for o in c.observations if o.cost == "rejected" and o.accepted and o.item]
    assert len(calls) >= 2 and len({o.item for o in calls}) == 1
    assert c.profile.status.detail.startswith("1 model passed auth")
    routing = next(cap for cap in c.profile.capabilities if cap.name == "routing")
    assert routing.evidence.startswith("1 model reached past auth")


def test_the_rule_fails_on_a_skipped_probe(scenario_checks: dict[str, KeyCheck]) -> None:
    c = scenario_checks["no-credits"]
    metrics = dict(c.profile.metrics)
    # runtime_call is billable: without --allow-billable it is skipped, never sent
    assert [o.outcome for o in c.observations if o.probe == "runtime_call"] == ["skipped"]
    metrics["runtime_model"] = Metric("runtime_model", "m", "observed", "runtime_call", "answered")
    broken = replace(c, profile=replace(c.profile, metrics=metrics))
    assert uncited_figures(broken) == ["metric runtime_model: cites runtime_call, which was not sent"]
    caps = tuple(replace(cap, status="verified", probes=()) if cap.name == "routing" else cap
                 for cap in c.profile.capabilities)  # fmt: skip
    assert "capability routing: verified on no probe" in uncited_figures(replace(c, profile=replace(c.profile,
                                                                                                    capabilities=caps)))
