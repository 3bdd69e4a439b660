"""Issue 19 item 6: each new provider's emulator host, probed in each of its modes (and a regional provider's valid key
on each route's host), reads as its hand-written golden (tests/providers/<id>/golden.json) says: the provider, status,
status_reason, key_valid, route, models, identity, balance in major units with its currency, limits, capabilities.

The emulator plays one loopback host per provider, reached here under the provider's own documented hostnames, as a
hosts file pointing them at 127.0.0.1 would (`_DocumentedHosts`: every request still goes to the emulator's loopback
port, over real HTTP; nothing leaves the machine). So the check sees what it sees on the real hosts: the provider's
hostname, its route (``route`` as ``--route`` gives it), the claim (as the demo fleet names it). A route's own answers
are served under ``/_route/<route>`` (SiliconFlow's .cn /v1/user/info). A case the probe/identify code cannot read
yet runs as ``xfail(strict=True)`` with the reason (providers/NOTES-19.md #19)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
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
            reason = golden[case].get("xfail")  # a golden's own xfail: what the code lacks, with its reason
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(provider, case, marks=marks, id=f"{provider}:{case}"))
    return cases


class _DocumentedHosts(httpx.AsyncBaseTransport):
    """Sends a request for one of the provider's documented hosts to the emulator (its origin, plus ``/_route/<route>``
    for a host of a route that is not the documented base's); any other host is refused (nothing leaves loopback)."""

    def __init__(self, origin: str, prefixes: dict[str, str]) -> None:
        self._origin = httpx.URL(origin)
        self._prefixes = prefixes
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        prefix = self._prefixes.get(request.url.host)
        if prefix is None:
            raise httpx.ConnectError(f"not a documented host of this provider: {request.url.host}", request=request)
        request.url = request.url.copy_with(scheme=self._origin.scheme, host=self._origin.host,
                                            port=self._origin.port, raw_path=prefix.encode() + request.url.raw_path)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _documented_base(provider: str, route: str) -> str:
    doc = _doc(provider)
    return str((doc.get("hosts") or {}).get(route) or doc["base_url"]) if route else str(doc["base_url"])


def _prefixes(provider: str) -> dict[str, str]:
    """Each documented hostname -> the emulator path prefix that plays it."""
    doc, default = _doc(provider), _default_route(provider)
    out = {httpx.URL(str(doc["base_url"])).host: ""}
    for route, url in (doc.get("hosts") or {}).items():
        out.setdefault(httpx.URL(str(url)).host, "" if route == default else f"/_route/{route}")
    return out


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
                options = CheckOptions(base_url=_documented_base(provider, route), claim=provider, timeout_s=5.0,
                                       route=route or _default_route(provider), deadline_s=8.0)  # fmt: skip
                transport = _DocumentedHosts(emu.origin, _prefixes(provider))
                check = asyncio.run(check_key_async(Secret(emu.keys[mode]), options, transport=transport))
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
