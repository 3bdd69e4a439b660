"""Read-only, key stays with the named hosts, canary never shows, faults end in a clear status."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from testkey_nb.check.result import CheckOptions
from testkey_nb.check.run import check_key_async
from testkey_nb.emulator import Fault
from testkey_nb.probe.guard import WriteRefused, check_allowed
from testkey_nb.probe.plan import ProbeSpec
from testkey_nb.secrets import Secret
from tests.conftest import CANARY


def _check(emu: Any, key: str, **opts: Any):
    options = CheckOptions(
        base_url=opts.pop("base_url", emu.inference_url),
        management_url=opts.pop("management_url", emu.management_url),
        timeout_s=opts.pop("timeout_s", 3.0),
        deadline_s=opts.pop("deadline_s", 15.0),
        **opts,
    )
    return asyncio.run(check_key_async(Secret(key), options))


def test_guard_refuses_writes() -> None:
    refused = [
        ProbeSpec("x", "management", "POST", "/api_keys", "read", "nothing"),
        ProbeSpec("x", "inference", "POST", "/chat/completions", "rejected", "x",
                  body={"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}),
        # a 'rejected' body aimed at a write endpoint
        ProbeSpec("x", "management", "POST", "/api_keys", "rejected", "x",
                  body={"name": "n", "type": "WORKSPACE_MANAGE_ALL", "messages": [], "max_tokens": 1}),
        # extra fields smuggled into a refused-by-design call
        ProbeSpec("x", "inference", "POST", "/chat/completions", "rejected", "x",
                  body={"model": "m", "messages": [], "max_tokens": 1, "n": 128}),
        ProbeSpec("x", "management", "POST", "/models/m/deployments/d/promote", "billable", "x",
                  body={"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}),
        ProbeSpec("x", "inference", "POST", "/chat/completions", "billable", "x",
                  body={"model": "m", "messages": [{"role": "user", "content": "x" * 100_000}], "max_tokens": 1}),
        ProbeSpec("x", "inference", "DELETE", "/models", "read", "x"),
    ]  # fmt: skip
    for spec in refused:
        with pytest.raises(WriteRefused):
            check_allowed(spec, allow_billable=True)
    tiny = {"model": "m", "messages": [{"role": "user", "content": "ok"}], "max_tokens": 1}
    billable = ProbeSpec("x", "inference", "POST", "/chat/completions", "billable", "x", body=tiny)
    with pytest.raises(WriteRefused):
        check_allowed(billable, allow_billable=False)
    check_allowed(billable, allow_billable=True)
    rejected = ProbeSpec("x", "inference", "POST", "/chat/completions", "rejected", "x",
                         body={"model": "m", "messages": [], "max_tokens": 1})  # fmt: skip
    check_allowed(rejected, allow_billable=False)


@pytest.mark.parametrize("label", ["full-access", "inference-scoped", "lifecycle", "invalid"])
def test_probes_are_read_only(emu: Any, label: str) -> None:
    emu.clear_log()
    _check(emu, emu.keys[label])
    log = emu.request_log()
    assert log
    for entry in log:
        assert (entry.method, entry.cost) in {("GET", "read"), ("POST", "rejected")}, entry


def test_allow_billable_sends_exactly_one_billable_call(emu: Any) -> None:
    emu.clear_log()
    c = _check(emu, emu.keys["full-access"], allow_billable=True)
    billable = [e for e in emu.request_log() if e.cost == "billable"]
    assert len(billable) == 1
    assert not [e for e in emu.request_log() if e.cost == "write"]
    assert c.profile.metrics["runtime_model"].provenance == "observed"


def test_canary_never_appears(emu: Any, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    outputs = []
    for fault in (None, "http_5xx", "waf_html", "truncated_json", "redirect_other_host", "non_json"):
        base = emu.inference_url if fault is None else emu.fault_url("inference", fault)
        c = _check(emu, CANARY, base_url=base)
        outputs.append(json.dumps(c.to_json(), default=str))
        outputs.append(repr(c))
    out, err = capfd.readouterr()
    blob = "\n".join([*outputs, caplog.text, out, err, repr(emu.request_log())])
    assert CANARY not in blob
    assert CANARY.split(".")[1] not in blob


SCENARIOS = ["full-access", "personal", "inference-scoped", "metrics-only", "revoked", "invalid", "old-format",
             "basic-unverified", "pro", "lifecycle", "no-credits", "rate-limited"]  # fmt: skip


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_canary_never_appears_in_any_scenario(
    emu: Any, scenario: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    canary = "b10_Sc" + f"{SCENARIOS.index(scenario):02d}" + "Cnry." + "CanaryScenario" * 2 + "Zzzz"
    emu.add_key(canary, scenario)
    c = _check(emu, canary, allow_billable=scenario == "full-access")
    out, err = capfd.readouterr()
    blob = "\n".join([json.dumps(c.to_json(), default=str), repr(c), caplog.text, out, err])
    assert canary not in blob and canary.split(".")[1] not in blob


def test_key_is_never_sent_to_another_host_on_redirect(emu: Any) -> None:
    emu.clear_log()
    c = _check(emu, emu.keys["full-access"], base_url=emu.fault_url("inference", "redirect_other_host"),
               management_url=None)  # fmt: skip
    catalog = next(o for o in c.observations if o.probe == "catalog")
    assert catalog.outcome == "redirect_other_host"
    assert "not followed" in (catalog.detail or "")
    # only the original requests reached the emulator: nothing was replayed at localhost
    assert all(e.fault == "redirect_other_host" for e in emu.request_log())
    assert c.profile.status.code == "unknown"


FAULT_CASES = [
    ("http_5xx", "unknown", "5xx"),
    ("waf_html", "unknown", "waf"),
    # every inference answer unreadable (cut JSON, text claiming JSON, a body over the cap): nothing says
    # whether the key works
    ("truncated_json", "unknown", "unexpected_status"),
    ("non_json", "unknown", "unexpected_status"),
    ("huge_body", "unknown", "unexpected_status"),
    ("hostile_strings", "valid", "accepted"),
    ("latency", "valid", "accepted"),
]


@pytest.mark.parametrize(("fault", "status", "reason"), FAULT_CASES)
def test_faults_end_in_a_clear_status(emu: Any, fault: str, status: str, reason: str) -> None:
    c = _check(emu, emu.keys["full-access"], base_url=emu.fault_url("inference", fault))
    assert (c.profile.status.code, c.profile.status.reason) == (status, reason)
    json.dumps(c.to_json(), default=str)  # always serialisable


def test_html_waf_page_is_never_valid(emu: Any) -> None:
    c = _check(emu, emu.keys["full-access"], base_url=emu.fault_url("inference", "waf_html"), management_url=None)
    assert (c.profile.status.code, c.profile.status.reason) == ("unknown", "waf")
    assert c.profile.metric_values()["key_valid"] is None


def test_hang_is_bounded_by_the_deadline(emu: Any) -> None:
    c = _check(emu, emu.keys["full-access"], base_url=emu.fault_url("inference", "hang"), timeout_s=1.0,
               deadline_s=4.0, management_url=None)  # fmt: skip
    assert c.profile.status.code == "unknown"
    assert c.profile.status.reason == "network"
    assert {o.outcome for o in c.observations if o.role == "inference"} <= {"timeout", "deadline", "skipped"}


def test_rate_limit_burst_is_retried(emu: Any) -> None:
    emu.set_faults(Fault("rate_limit_burst", count=2, retry_after=1, roles=("inference",)))
    try:
        c = _check(emu, emu.keys["full-access"])
    finally:
        emu.set_faults()
    assert c.profile.status.code == "valid"
    assert any(o.attempts > 1 for o in c.observations)


def test_unreachable_host_is_a_network_status(emu: Any) -> None:
    c = _check(emu, emu.keys["full-access"], base_url="http://127.0.0.1:9/v1", management_url=None)
    assert c.profile.status.code == "unknown" and c.profile.status.reason == "network"
