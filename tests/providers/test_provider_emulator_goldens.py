"""Issue 19 item 6: each new provider's emulator host, probed in each of its modes (and a regional provider's valid key
on each route's host), reads as its hand-written golden (tests/providers/<id>/golden.json) says: the provider, status,
status_reason, key_valid, route, models, identity, balance in major units with its currency, limits, capabilities.

The emulator plays one loopback host per provider: the check names the provider (``claim``, as the demo fleet does)
and the route (``route``, as ``--route`` does: the hostname cannot say it); a route's own answers are served under
``/_route/<route>`` (SiliconFlow's .cn /v1/user/info). A case the probe/identify code cannot read yet runs as
``xfail(strict=True)`` with the reason (providers/NOTES-19.md #19)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from testkey_nb.check.evidence import uncited_figures
from testkey_nb.check.result import CheckOptions
from testkey_nb.check.run import check_key_async
from testkey_nb.emulator import PROVIDER_IDS, run_emulator
from testkey_nb.emulator.providers import load_host
from testkey_nb.secrets import Secret

HERE = Path(__file__).parent
#: the issue-19 providers (Gemini, Azure, Perplexity, MiniMax and Cohere on the host format's extensions: a route's own
#: scheme, required query parameters, text pages, HTTP-200 envelopes, no catalog, a read-only POST)
NEW = ("moonshot", "zhipu", "xai", "dashscope", "siliconflow", "novita", "hyperbolic", "nebius", "sambanova", "ark",
       "gemini", "azure", "perplexity", "minimax", "cohere")
#: what the probe/identify code lacks, per (provider, golden case); written by hand from a run against the golden
LACKS = {
    ("siliconflow", "valid"): "the plan (GET /v1/user/info) goes only to a host whose answers name SiliconFlow by a "
                              "specific marker (session.py); its key shape and {code, message, data} envelope are "
                              "shared, so on loopback no balance is read even with the claim",
    ("siliconflow", "no-balance"): "as for valid: GET /v1/user/info is not sent on a host that is not SiliconFlow's",
    ("hyperbolic", "bad-key"): "the assumed 401 {detail} and the weak JWT key shape name no provider on loopback: "
                               "provider unknown (the status is invalid)",
    **{("nebius", m): "Nebius's provider.toml has no key pattern and no fingerprint: on a host without its hostname "
                      "identification says unknown, claim or not" for m in ("valid", "bad-key", "rate-limited")},
}  # fmt: skip


def _doc(provider: str) -> dict[str, Any]:
    return dict(yaml.safe_load((HERE / provider / "answers.yaml").read_text(encoding="utf-8")))


def _golden(provider: str) -> dict[str, Any]:
    return dict(json.loads((HERE / provider / "golden.json").read_text(encoding="utf-8")))


def _default_route(provider: str) -> str | None:
    """The route of the documented base URL (Ark's is cn-beijing: china); None for a provider without regions."""
    doc = _doc(provider)
    return next((route for route, url in (doc.get("hosts") or {}).items() if url == doc["base_url"]), None)


def _cases() -> list[Any]:
    cases = []
    for provider in (p for p in NEW if p in PROVIDER_IDS):
        golden, modes = _golden(provider), load_host(provider).modes
        names = [m for m in modes if m in golden] + [c for c in golden if c.startswith("valid@")]
        for case in names:
            reason = LACKS.get((provider, case)) or golden[case].get("xfail")  # a golden's own xfail: code lacks
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(provider, case, marks=marks, id=f"{provider}:{case}"))
    return cases


def _no_exchange(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else {k: v for k, v in value.items() if k != "exchange"}


@pytest.fixture(scope="module")
def probed() -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for provider in (p for p in NEW if p in PROVIDER_IDS):
        golden = _golden(provider)
        with run_emulator(provider=provider) as emu:
            host = emu.host
            assert host is not None
            for case in [m for m in emu.keys if m in golden] + [c for c in golden if c.startswith("valid@")]:
                mode, _, route = case.partition("@")
                base = emu.origin + (f"/_route/{route}" if route else "") + host.base_path
                options = CheckOptions(base_url=base, claim=provider, route=route or _default_route(provider),
                                       timeout_s=5.0, deadline_s=8.0)  # fmt: skip
                check = asyncio.run(check_key_async(Secret(emu.keys[mode]), options))
                assert uncited_figures(check) == [], (provider, case)
                out[(provider, case)] = check.to_json()
    return out


@pytest.mark.parametrize(("provider", "case"), _cases())
def test_each_emulated_mode_reads_as_the_golden_says(probed: dict[tuple[str, str], dict[str, Any]], provider: str,
                                                      case: str) -> None:  # fmt: skip
    golden, data = _golden(provider)[case], probed[(provider, case)]
    assert data["provider"]["id"] == golden.get("provider", provider)
    assert data["status"] == golden["status"], data["status_detail"]
    if "status_reason" in golden:
        assert data["status_reason"] == golden["status_reason"], data["status_detail"]
    assert data["metrics"]["key_valid"] is golden["key_valid"]
    route = golden.get("route", _default_route(provider))
    if route is not None:
        assert data["provider"].get("route") == route
    if "models" in golden:
        assert [m["model"] for m in data["models"]] == golden["models"]
    for name, want in (golden.get("identity") or {}).items():
        assert data["identity"][name] == want, name
    if "balance" in golden:
        assert _no_exchange(data["balance"]) == golden["balance"]
    if "limits" in golden:
        assert [_no_exchange(lim) for lim in data["limits"]] == golden["limits"]
    caps = {c["capability"]: c["status"] for c in data["capabilities"]}
    for name, want in (golden.get("capabilities") or {}).items():
        assert caps[name] == want, name
    rows = {m["model"]: m for m in data["models"]}
    for model, price in (golden.get("price_in") or {}).items():
        assert rows[model]["price_in_per_mtok"] == price


def test_the_china_host_of_siliconflow_answers_without_balances() -> None:
    """The emulator plays the .cn host's own /v1/user/info (retired balances, answers.yaml userinfo-valid-china)
    under /_route/china; the .com answer elsewhere."""
    import httpx

    with run_emulator(provider="siliconflow") as emu:
        auth = {"Authorization": f"Bearer {emu.keys['valid']}"}
        with httpx.Client(timeout=5.0) as http:
            china = http.get(emu.origin + "/_route/china/v1/user/info", headers=auth).json()["data"]
            glob = http.get(emu.origin + "/v1/user/info", headers=auth).json()["data"]
            models = http.get(emu.origin + "/_route/china/v1/models", headers=auth)
    assert "totalBalance" not in china and china["id"] == "userid-0456"
    assert (glob["totalBalance"], glob["balance"]) == ("88.88", "0.88")
    assert models.status_code == 200  # every other path: the same answer on both hosts
