"""Limits and validity read as each provider's own documents say (issue 18 item 6).

Every expected value below is written by hand from the page or recording named beside it, never from
the code's output.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime

import httpx
import pytest

from testkey_nb.check.facts import InterpretContext, Limit
from testkey_nb.check.interpret import interpret
from testkey_nb.check.result import CheckOptions, KeyCheck
from testkey_nb.check.run import check_key_async
from testkey_nb.identify.loader import load_registry
from testkey_nb.probe.observation import make_observation
from testkey_nb.probe.plan import ProbeSpec, version_root
from testkey_nb.secrets import Secret

REGISTRY = load_registry()
NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
CHAT = ProbeSpec("permission_matrix", "inference", "POST", "/chat/completions", "rejected", "x",
                 body={"model": "{item}", "messages": [], "max_tokens": 1}, expect=(400, 422))  # fmt: skip


def limits(provider: str, headers: Mapping[str, str]) -> dict[str, Limit]:
    """The limits the provider's data reads from one answer carrying ``headers``."""
    obs = make_observation(CHAT, "m", outcome="client_error", started=None, attempts=1, status=400,
                           accepted=True, headers={k.lower(): v for k, v in headers.items()})  # fmt: skip
    spec = REGISTRY.get(provider)
    facts = interpret(spec, [obs], InterpretContext(provider=spec, now=NOW))
    return {lim.scope: lim for lim in facts.limits}


def shown(found: Mapping[str, Limit]) -> dict[str, tuple[float, str]]:
    return {scope: (lim.value, lim.provenance) for scope, lim in found.items()}


def test_fireworks_prompt_tokens_header_is_per_second_and_converted_honestly() -> None:
    # https://docs.fireworks.ai/serverless/rate-limits: "Your current effective rate limits (described in tokens
    # per second) are in the response headers X-Ratelimit-Limit-Tokens-Prompt, ..."; enforcement is per minute.
    # The starting limit there: 3.6M prompt TPM = ~60k TPS.
    found = limits("fireworks", {"X-Ratelimit-Limit-Tokens-Prompt": "60000",
                                 "X-Ratelimit-Remaining-Tokens-Prompt": "30000"})  # fmt: skip
    assert shown(found) == {"tokens_per_minute": (3_600_000, "derived")}
    assert found["tokens_per_minute"].remaining == 1_800_000
    assert "60000 per 1 s, times 60" in found["tokens_per_minute"].note


def test_together_limits_are_per_second_per_its_docs() -> None:
    # https://docs.together.ai/docs/rate-limits: "Our rate limits are currently measured in requests per second
    # (RPS) and tokens per second (TPS) ... We show you the values per minute below"; Tier 1 = 600 RPM, 180,000 TPM
    found = limits("together", {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "9", "x-ratelimit-reset": "1",
                                "x-tokenlimit-limit": "3000", "x-tokenlimit-remaining": "2999"})  # fmt: skip
    assert shown(found) == {"requests_per_minute": (600, "derived"), "tokens_per_minute": (180_000, "derived")}
    assert found["requests_per_minute"].remaining == 540


def test_mistral_headers_as_recorded_from_api_mistral_ai() -> None:
    # maruel/genai providers/mistral/testdata/TestClient/Scoreboard/ministral-14b-2512/GenSync-Text.yaml (a real
    # answer of api.mistral.ai); kinds of limit per https://docs.mistral.ai/deployment/laplateforme/tier
    found = limits("mistral", {
        "X-Ratelimit-Limit-Req-60-Second": "360", "X-Ratelimit-Remaining-Req-60-Second": "174",
        "X-Ratelimit-Limit-Tokens-Minute": "2000000", "X-Ratelimit-Remaining-Tokens-Minute": "1980746",
        "X-Ratelimit-Limit-Tokens-Month": "10000000000", "X-Ratelimit-Remaining-Tokens-Month": "9999834127",
    })  # fmt: skip
    assert shown(found) == {
        "tokens_per_minute": (2_000_000, "observed"),
        "tokens_per_month": (10_000_000_000, "observed"),
        "requests_per_minute": (360, "observed"),  # a 60 s window is the minute: nothing to convert
    }
    assert found["tokens_per_month"].remaining == 9_999_834_127
    # the headers maruel/genai providers/mistral/client.go reads: a 10 s request window, 2 requests
    ten = limits("mistral", {"X-Ratelimit-Limit-Req-10-Second": "2", "X-Ratelimit-Limit-Tokens-Minute": "5000000"})
    assert shown(ten) == {"tokens_per_minute": (5_000_000, "observed"), "requests_per_minute": (12, "derived")}
    # a per-minute request header, when sent, is the one read (it comes first in the provider's data)
    both = limits("mistral", {"x-ratelimit-limit-req-minute": "4", "x-ratelimit-limit-req-10-second": "2"})
    assert shown(both) == {"requests_per_minute": (4, "observed")}


def test_hugging_face_ietf_ratelimit_headers() -> None:
    # https://huggingface.co/docs/hub/rate-limits (IETF draft-ietf-httpapi-ratelimit-headers): RateLimit-Policy
    # '"fixed window";"api";q=1000;w=300' = 1000 requests per 300 s; RateLimit '"api";r=0;t=120'
    found = limits("huggingface", {"RateLimit-Policy": '"fixed window";"api";q=1000;w=300',
                                   "RateLimit": '"api";r=0;t=120'})  # fmt: skip
    assert shown(found) == {"requests_per_minute": (200, "derived")}  # 1000 x 60 / 300
    assert (found["requests_per_minute"].remaining, found["requests_per_minute"].reset_s) == (0, 120)


def test_cerebras_headers_per_its_docs_example() -> None:
    # https://inference-docs.cerebras.ai/support/rate-limits: the example answer's headers
    found = limits("cerebras", {
        "x-ratelimit-limit-requests-day": "1000000000", "x-ratelimit-limit-tokens-minute": "1000000000",
        "x-ratelimit-remaining-requests-day": "999997455", "x-ratelimit-remaining-tokens-minute": "999998298",
        "x-ratelimit-reset-requests-day": "33011.382867097855", "x-ratelimit-reset-tokens-minute": "11.382867097854614",
    })  # fmt: skip
    assert shown(found) == {"requests_per_day": (1e9, "observed"), "tokens_per_minute": (1e9, "observed")}
    assert found["requests_per_day"].remaining == 999_997_455
    assert found["tokens_per_minute"].reset_s == pytest.approx(11.382867097854614)


def test_provider_files_cite_the_providers_own_pages() -> None:
    """Where the provider documents its limits, its page is the source; no third-party client is cited."""
    for provider, page in [("fireworks", "https://docs.fireworks.ai/serverless/rate-limits"),
                           ("together", "https://docs.together.ai/docs/rate-limits"),
                           ("huggingface", "https://huggingface.co/docs/hub/rate-limits"),
                           ("cerebras", "https://inference-docs.cerebras.ai/support/rate-limits")]:  # fmt: skip
        assert all(page in h.source for h in REGISTRY.get(provider).limit_headers), provider
    mistral = REGISTRY.get("mistral").limit_headers
    assert not any("tidyllm" in h.source for h in mistral)
    assert [h.header for h in mistral][:2] == ["x-ratelimit-limit-tokens-minute", "x-ratelimit-limit-tokens-month"]


# --- validity: an error given only after auth proves the key ---------------------------------------------


def _check(handler: httpx.MockTransport, **opts: object) -> KeyCheck:
    options = CheckOptions(timeout_s=3, deadline_s=8, **opts)  # type: ignore[arg-type]
    return asyncio.run(check_key_async(Secret("hf_" + "A" * 34), options, transport=handler))


#: maruel/genai providers/huggingface/testdata/TestClient/errors/bad_model/GenSync.yaml (tests/providers/huggingface
#: /answers.yaml, chat-unknown-model): a valid token naming a model the router does not serve
HF_MODEL_NOT_FOUND = {"error": {"message": "The requested model 'testkey-nb-probe' does not exist.",
                                "type": "invalid_request_error", "param": "model", "code": "model_not_found"}}


def test_a_valid_hugging_face_key_whose_placeholder_call_gets_400_model_not_found_is_valid() -> None:
    """The catalog lists no model, so the only model calls name a placeholder; Hugging Face answers a valid token
    400 model_not_found (a bad token gets 401 first). Before: the placeholder's answer proved nothing: unknown."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": []})
        if request.url.path == "/v1/chat/completions":
            return httpx.Response(400, json=HF_MODEL_NOT_FOUND)
        return httpx.Response(404, json={"error": "not found"})

    c = _check(httpx.MockTransport(handler), base_url="https://router.hf.test/v1", claim="huggingface")
    data = c.to_json()
    assert (data["status"], data["status_reason"]) == ("valid", "after_auth")
    assert data["metrics"]["key_valid"] is True
    assert "an error the provider gives only after auth" in data["status_detail"]


def test_a_bad_hugging_face_key_is_still_invalid() -> None:
    # tests/providers/huggingface/answers.yaml rec-401-router: 401 {error: Invalid credentials in Authorization header}
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":  # the public catalog lists a model (answers.yaml models-public)
            return httpx.Response(200, json={"object": "list", "data": [{"id": "openai/gpt-oss-120b"}]})
        return httpx.Response(401, json={"error": "Invalid credentials in Authorization header"})

    c = _check(httpx.MockTransport(handler), base_url="https://router.hf.test/v1", claim="huggingface")
    assert (c.profile.status.code, c.profile.metric_values()["key_valid"]) == ("invalid", False)


# --- a balance path at the host's root, behind a gateway's path prefix ----------------------------------


@pytest.mark.parametrize(("base", "root"), [
    ("https://api.deepseek.com", "https://api.deepseek.com"),
    ("https://api.deepseek.com/v1", "https://api.deepseek.com"),
    ("http://127.0.0.1:8080/gw/deepseek/v1", "http://127.0.0.1:8080/gw/deepseek"),
    ("http://127.0.0.1:8080/gw/deepseek/v1/", "http://127.0.0.1:8080/gw/deepseek"),
    ("https://gw.test/proxy/v1beta", "https://gw.test/proxy"),
    ("https://gw.test/proxy/openai", "https://gw.test/proxy/openai"),  # no version segment: kept
])  # fmt: skip
def test_version_root(base: str, root: str) -> None:
    assert version_root(base) == root


@pytest.mark.parametrize(("base", "base_path", "root"), [
    # Novita documents https://api.novita.ai/openai/v1 (provider.toml inference_base_url) and its balance at
    # https://api.novita.ai/openapi/v1/billing/balance/detail: the root is the host's, not /openai
    ("https://api.novita.ai/openai/v1", "/openai/v1", "https://api.novita.ai"),
    ("https://api.novita.ai/openai/v1/", "/openai/v1", "https://api.novita.ai"),
    ("http://127.0.0.1:8080/gw/novita/openai/v1", "/openai/v1", "http://127.0.0.1:8080/gw/novita"),
    # Zhipu: https://api.z.ai/api/paas/v4 beside https://api.z.ai/api/monitor/usage/quota/limit
    ("https://api.z.ai/api/paas/v4", "/api/paas/v4", "https://api.z.ai"),
    # DeepSeek documents https://api.deepseek.com (no path); /v1 is its alias: only the version goes
    ("http://127.0.0.1:8080/gw/deepseek/v1", "", "http://127.0.0.1:8080/gw/deepseek"),
    # a base that does not end with the documented path: only the trailing version segment is removed
    ("https://gw.test/novita/v1", "/openai/v1", "https://gw.test/novita"),
])  # fmt: skip
def test_version_root_strips_the_documented_base_path(base: str, base_path: str, root: str) -> None:
    assert version_root(base, base_path) == root


def test_novita_balance_and_key_list_are_read_at_the_host_root() -> None:
    """https://novita.ai/docs/api-reference/basic-get-user-balance.md: GET /openapi/v1/billing/balance/detail and
    https://novita.ai/docs/api-reference/key-list-with-model-access.md: GET /openapi/v2/user/key, both at the
    root of api.novita.ai, while inference lives under /openai/v1. Before: /openai/openapi/... was asked."""
    seen: list[str] = []
    # the documented example body (tests/providers/novita/answers.yaml, balance-valid): 1/10000 USD
    balance = {"availableBalance": "1000000", "cashBalance": "800000", "creditLimit": "200000",
               "pendingCharges": "0", "outstandingInvoices": "0"}  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path == "/openapi/v1/billing/balance/detail":
            return httpx.Response(200, json=balance)
        if request.url.path == "/openai/v1/models":
            model = {"id": "deepseek/deepseek-v3.1", "object": "model", "input_token_price_per_m": 2700,
                     "context_size": 131072}  # fmt: skip
            return httpx.Response(200, json={"data": [model]})
        return httpx.Response(404, json={"error": "not found"})

    c = _check(httpx.MockTransport(handler), base_url="https://api.novita.ai/openai/v1", claim="novita")
    assert "GET /openapi/v1/billing/balance/detail" in seen
    assert "GET /openapi/v2/user/key" in seen
    assert not [p for p in seen if "/openai/openapi/" in p], seen
    got = c.to_json()["balance"]
    assert got is not None and got["remaining"] == 100.0 and got["probe"] == "balance"


def test_deepseek_balance_behind_a_gateway_prefix_is_read_beside_the_version() -> None:
    """https://api-docs.deepseek.com/api/get-user-balance: GET /user/balance, no /v1; behind a gateway at
    /gw/deepseek/v1 it is /gw/deepseek/user/balance. Before: the host's root (/user/balance) was asked."""
    seen: list[str] = []
    # the documented example body (tests/providers/deepseek/answers.yaml, balance-valid)
    balance = {"is_available": True, "balance_infos": [{"currency": "CNY", "total_balance": "110.00",
                                                        "granted_balance": "10.00", "topped_up_balance": "100.00"}]}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path == "/gw/deepseek/user/balance":
            return httpx.Response(200, json=balance)
        if request.url.path == "/gw/deepseek/v1/models":
            return httpx.Response(200, json={"object": "list", "data": [
                {"id": "deepseek-chat", "object": "model", "owned_by": "deepseek"}]})  # fmt: skip
        if request.url.path == "/gw/deepseek/v1/chat/completions":
            body = json.loads(request.content)
            return httpx.Response(400, json={"error": {"message": f"{body['model']}: messages empty",
                                                       "type": "invalid_request_error", "param": None,
                                                       "code": "invalid_request_error"}})  # fmt: skip
        return httpx.Response(404, json={"error": "not found"})

    c = _check(httpx.MockTransport(handler), base_url="http://127.0.0.1:8080/gw/deepseek/v1", claim="deepseek")
    assert "GET /gw/deepseek/user/balance" in seen
    assert "GET /user/balance" not in seen
    got = c.to_json()["balance"]
    assert got is not None and got["currency"] == "CNY" and got["probe"] == "balance"


@pytest.mark.parametrize(("provider", "key", "status", "body"), [
    # each provider's recorded answer to a valid key naming an unknown model (tests/providers/<id>/answers.yaml,
    # chat-unknown-model, from maruel/genai providers/<id>/testdata/TestClient/errors/bad_model/GenSync.yaml)
    ("groq", "gsk_" + "A" * 52, 404, {"error": {"message": "The model `testkey-nb-probe` does not exist or you do not "
                                                "have access to it.", "type": "invalid_request_error",
                                                "code": "model_not_found"}}),
    ("cerebras", "csk-" + "a" * 48, 404, {"message": "Model testkey-nb-probe does not exist or you do not have access "
                                          "to it.", "type": "not_found_error", "param": "model",
                                          "code": "model_not_found"}),
    ("mistral", "A" * 32, 400, {"object": "error", "message": "Invalid model: testkey-nb-probe",
                                "type": "invalid_model", "param": None, "code": "1500"}),
])  # fmt: skip
def test_recorded_after_auth_model_errors_prove_the_key(provider: str, key: str, status: int, body: object) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        # the host's own header (recorded on every answer of api.mistral.ai; harmless for the others) names it
        headers = {"mistral-correlation-id": "019b1cee-386c-76ff-a038-3622f52eff4c"} if provider == "mistral" else {}
        if request.url.path == "/v1/models":  # the catalog cannot be read: only a placeholder model is called
            return httpx.Response(500, json={"error": "internal"}, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    options = CheckOptions(timeout_s=3, deadline_s=8, base_url="https://gw.test/v1", claim=provider)
    c = asyncio.run(check_key_async(Secret(key), options, transport=httpx.MockTransport(handler)))
    assert (c.profile.status.code, c.profile.status.reason) == ("valid", "after_auth"), c.profile.status
