"""Scheme trials under one spending stop, and schemes the registry lacks (issue 18, items 4 and 5).

The far ends are hostile ``httpx.MockTransport`` handlers that count what reaches them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest

from testkey_nb.check.result import CheckOptions, KeyCheck
from testkey_nb.check.run import check_key_async
from testkey_nb.check.session import documented_refusal
from testkey_nb.identify.loader import load_registry
from testkey_nb.probe.observation import Observation, make_observation
from testkey_nb.probe.plan import ProbeSpec
from testkey_nb.secrets import Secret
from tests.conftest import CANARY

BASE = "https://provider.test/v1"


def _scheme(request: httpx.Request) -> str:
    """How the key came: the scheme labels the registry knows (Bearer, x-api-key, Api-Key) or api-key."""
    if request.headers.get("x-api-key") == CANARY:
        return "x-api-key"
    if request.headers.get("api-key") == CANARY:
        return "api-key"
    auth = request.headers.get("authorization", "")
    return auth.split(" ", 1)[0] if auth.endswith(CANARY) else "none"


def _completion(request: httpx.Request) -> httpx.Response:
    model = json.loads(request.content or b"{}").get("model")
    return httpx.Response(200, json={
        "id": "chatcmpl-1", "object": "chat.completion", "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
    })  # fmt: skip


def _check(handler: Callable[[httpx.Request], httpx.Response]) -> tuple[KeyCheck, list[tuple[str, str, str]]]:
    seen: list[tuple[str, str, str]] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, _scheme(request)))
        return handler(request)

    options = CheckOptions(base_url=BASE, timeout_s=2, deadline_s=10)
    c = asyncio.run(check_key_async(Secret(CANARY), options, transport=httpx.MockTransport(recording)))
    return c, seen


# --- item 4: one spending stop per check ------------------------------------------------------------


@pytest.mark.parametrize("answers_in", ["x-api-key", "Api-Key"])
def test_a_far_end_answering_chat_in_another_scheme_gets_one_paid_call_and_the_key_is_valid(answers_in: str) -> None:
    """/models refused in every scheme, Bearer refused everywhere, chat answered (paid) in ``answers_in``.

    Before the shared stop: each scheme trial had its own gate, x-api-key and Api-Key each got a paid
    completion (2 in all) and, both trials being superseded, the key was reported invalid (reject)."""
    paid: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        scheme = _scheme(request)
        if request.method == "POST" and scheme in ("x-api-key", "Api-Key") and scheme == answers_in:
            paid.append(scheme)
            return _completion(request)
        return httpx.Response(401, json={"error": "unauthorized"})

    c, seen = _check(handler)
    assert paid == [answers_in]  # exactly one paid completion reached the far end
    posts_answered = [s for s in seen if s[0] == "POST" and s[2] == answers_in]
    assert posts_answered == [("POST", "/v1/chat/completions", answers_in)]
    # no scheme is tried after the paid answer (the registry's order: Bearer, x-api-key (Anthropic),
    # api-key (Azure), Api-Key (Baseten))
    tried = list(dict.fromkeys(s[2] for s in seen))
    order = ["Bearer", "x-api-key", "api-key", "Api-Key"]
    assert tried == order[: order.index(answers_in) + 1]
    data = c.to_json()
    assert data["spend"]["calls"] == 1 and data["spend"]["total_tokens"] == 10
    assert (c.profile.status.code, c.profile.status.reason) == ("valid", "spent")
    label = "x-api-key" if answers_in == "x-api-key" else "Authorization: Api-Key"
    assert f"in {label}, so the key works in that scheme" in c.profile.status.detail
    assert c.profile.metric_values()["key_valid"] is True
    assert c.decision.verdict != "reject"


def test_the_stop_is_shared_so_a_later_scheme_sends_no_model_call_after_a_paid_one() -> None:
    """Bearer's pilot is answered (paid) but /models is refused: no other scheme is tried at all."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return _completion(request)
        return httpx.Response(401, json={"error": "unauthorized"})

    c, seen = _check(handler)
    assert [s for s in seen if s[0] == "POST"] == [("POST", "/v1/chat/completions", "Bearer")]
    assert {s[2] for s in seen} == {"Bearer"}
    assert c.to_json()["spend"]["calls"] == 1
    assert (c.profile.status.code, c.profile.status.reason) == ("valid", "spent")


# --- item 5: a scheme the registry lacks stays unknown ---------------------------------------------------

#: Azure OpenAI's answer to a request without a valid ``api-key`` header (the body as Azure documents it:
#: https://learn.microsoft.com/en-us/azure/ai-services/openai/reference, "api-key" request header)
AZURE_401 = {"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API "
                       "endpoint. Make sure to provide a valid key for an active subscription and use a correct "
                       "regional API endpoint for your resource."}}


def test_a_host_that_wants_a_header_the_registry_lacks_leaves_a_valid_key_unknown_not_invalid() -> None:
    """Every scheme the registry knows is refused with an answer no known provider documents for a bad key
    (the host wants ``X-Custom-Key``, a scheme no provider folder declares).

    Before: the scheme was taken as settled once every known scheme had been tried: invalid/refused, reject."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("x-custom-key") == CANARY:  # never sent: the registry lacks the scheme
            return httpx.Response(200, json={"object": "list", "data": [{"id": "gpt-4o", "object": "model"}]})
        return httpx.Response(401, json={"message": "Unauthorized"})

    c, seen = _check(handler)
    assert list(dict.fromkeys(s[2] for s in seen)) == ["Bearer", "x-api-key", "api-key", "Api-Key"]
    data = c.to_json()
    assert (data["status"], data["status_reason"]) == ("unknown", "scheme_not_settled")
    assert c.profile.metric_values()["key_valid"] is None
    assert data["metrics"]["key_valid"] is None
    detail = data["status_detail"]
    assert "refused in every scheme tried (Authorization: Bearer, x-api-key, " in detail
    assert "Authorization: Api-Key" in detail and "api-key" in detail
    assert "--auth-scheme" in detail and "--claim" in detail
    assert c.decision.verdict != "reject"
    assert data["spend"]["calls"] == 0


def test_an_azure_style_host_is_read_in_azure_s_own_api_key_scheme() -> None:
    """Azure OpenAI wants ``api-key``: its documented 401 names Azure, the ``api-key`` trial answers, the key is
    proven (before issue 19 the registry lacked the scheme and the key was left unknown)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if _scheme(request) == "api-key" and request.method == "GET":
            return httpx.Response(200, json={"object": "list", "data": [{"id": "gpt-4o", "object": "model"}]})
        if _scheme(request) == "api-key":  # the refused-by-design chat (empty messages) is refused after auth
            return httpx.Response(400, json={"error": {"code": "BadRequest", "message": "messages: empty"}})
        return httpx.Response(401, json=AZURE_401)

    c, seen = _check(handler)
    assert "api-key" in [s[2] for s in seen]
    data = c.to_json()
    assert data["metrics"]["key_valid"] is True
    assert data["spend"]["calls"] == 0


def _refusal(body: object, auth: str, status: int = 401) -> Observation:
    spec = ProbeSpec("catalog", "inference", "GET", "/models", "read", "x")
    outcome = "unauthorized" if status == 401 else "refused"
    return replace(make_observation(spec, None, outcome=outcome, started=None, attempts=1, status=status,
                                    json_body=body), auth=auth)  # fmt: skip


def test_a_refusal_settles_the_scheme_only_when_it_is_a_known_providers_documented_bad_key_answer() -> None:
    registry = load_registry()
    # Hugging Face's recorded 401 (tests/providers/huggingface/answers.yaml, rec-401): its specific fingerprint
    hf = {"error": "Invalid credentials in Authorization header"}
    assert documented_refusal(registry, [_refusal(hf, "Authorization: Bearer")]) == "huggingface:invalid-credentials"
    # the same answer to a key sent in a scheme Hugging Face does not use says nothing about the scheme
    assert documented_refusal(registry, [_refusal(hf, "x-api-key")]) is None
    # Azure's answer, or a bare 401, is no known provider's documented bad-key answer
    assert documented_refusal(registry, [_refusal(AZURE_401, "Authorization: Bearer")]) is None
    assert documented_refusal(registry, [_refusal({"error": "unauthorized"}, "Authorization: Bearer")]) is None
