"""Scheme trials under one spending stop, and schemes the registry lacks (issue 18, items 4 and 5).

The far ends are hostile ``httpx.MockTransport`` handlers that count what reaches them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest

from testkey_nb.check.result import CheckOptions, KeyCheck
from testkey_nb.check.run import check_key_async
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
    # no scheme is tried after the paid answer (x-api-key comes before Api-Key in the registry's order)
    tried = list(dict.fromkeys(s[2] for s in seen))
    assert tried == (["Bearer", "x-api-key"] if answers_in == "x-api-key" else ["Bearer", "x-api-key", "Api-Key"])
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
