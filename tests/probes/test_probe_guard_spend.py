"""The write guard on the exact plan, POST redirects, and the spending stop (httpx.MockTransport far ends)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from testkey_nb.check.result import CheckOptions, KeyCheck
from testkey_nb.check.run import check_key_async
from testkey_nb.probe.engine import ProbeEngine
from testkey_nb.probe.guard import LoadedPlan, WriteRefused
from testkey_nb.probe.plan import ProbeSettings, ProbeSpec, Targets
from testkey_nb.secrets import Secret
from tests.conftest import CANARY

BASE = "https://provider.test/v1"
MGMT = "https://mgmt.test/v1"
REVOKE = "/v1/admin/api_keys/revoke/chat/completions"
CATALOG = {"object": "list", "data": [{"id": f"m{i}", "object": "model", "owned_by": "x"} for i in range(12)]}
#: the recorded Baseten catalog: identification picks Baseten's plan (its per-model checks) from it
BASETEN_CATALOG = json.loads(
    (Path(__file__).resolve().parents[2] / "testkey_nb/emulator/fixtures/models_catalog.json").read_text()
)


def check(handler: Callable[[httpx.Request], httpx.Response], **opts: object) -> tuple[KeyCheck, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    options = CheckOptions(base_url=BASE, timeout_s=2, deadline_s=10, **opts)  # type: ignore[arg-type]
    c = asyncio.run(check_key_async(Secret(CANARY), options, transport=httpx.MockTransport(recording)))
    return c, seen


def completion(request: httpx.Request) -> httpx.Response:
    """A real 200 completion, whatever was asked (a far end that does not refuse an empty message list)."""
    model = json.loads(request.content or b"{}").get("model")
    return httpx.Response(200, json={
        "id": "chatcmpl-1", "object": "chat.completion", "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
    })  # fmt: skip


# --- 1. the guard checks the exact plan -----------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_post_is_never_resent_on_a_redirect(status: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=CATALOG)
        return httpx.Response(status, headers={"location": REVOKE})

    c, seen = check(handler)
    assert [r.url.path for r in seen if r.url.path == REVOKE] == []
    assert {(r.method, r.url.path) for r in seen} == {("GET", "/v1/models"), ("POST", "/v1/chat/completions")}
    posts = [o for o in c.observations if o.method == "POST" and o.outcome != "skipped"]
    assert posts and all(o.outcome == "redirect_not_followed" and o.status == status for o in posts)
    assert all(o.location == f"https://provider.test{REVOKE}" for o in posts)
    assert all("never re-sent" in (o.detail or "") for o in posts)
    assert c.to_json()["probes"][0]["location"] is None  # the catalog was not redirected


def test_a_get_redirect_is_followed_on_the_same_origin_only() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(307, headers={"location": "/v1/models/"})
        if request.url.path == "/v1/models/":
            return httpx.Response(302, headers={"location": "https://elsewhere.test/v1/models"})
        return httpx.Response(403, json={"error": "please check the api-key you provided"})

    c, seen = check(handler)
    assert "elsewhere.test" not in {r.url.host for r in seen}
    assert [str(r.url) for r in seen if r.method == "GET"] == [f"{BASE}/models", f"{BASE}/models/"]
    catalog = next(o for o in c.observations if o.probe == "catalog")
    assert catalog.outcome == "redirect_other_host" and catalog.location == "https://elsewhere.test/v1/models"


def _engine(**settings: object) -> ProbeEngine:
    return ProbeEngine(Secret(CANARY), Targets(BASE), ProbeSettings(**settings))  # type: ignore[arg-type]


def test_the_guard_lets_only_the_exact_planned_method_and_url_leave() -> None:
    engine = _engine()
    chat = ProbeSpec("auth_check", "inference", "POST", "/chat/completions", "rejected", "x",
                     body={"model": "m", "messages": [], "max_tokens": 1}, expect=(400,))  # fmt: skip
    catalog = ProbeSpec("catalog", "inference", "GET", "/models", "read", "x")
    engine._loaded.add([chat, catalog])

    async def guard(method: str, url: str, cost: str, probe: str) -> None:
        extensions = {"testkey_cost": cost, "testkey_probe": probe}
        await engine._guard_hook(httpx.Request(method, url, extensions=extensions))

    planned = f"{BASE}/chat/completions"
    asyncio.run(guard("POST", planned, "rejected", "auth_check"))
    asyncio.run(guard("GET", f"{BASE}/models", "read", "catalog"))
    refused = [
        ("POST", f"https://provider.test{REVOKE}", "rejected", "auth_check"),  # a suffix match is not the plan
        ("POST", f"{BASE}/chat/completions?x=1", "rejected", "auth_check"),  # nor is another query
        ("POST", "https://elsewhere.test/v1/chat/completions", "rejected", "auth_check"),
        ("POST", "http://provider.test/v1/chat/completions", "rejected", "auth_check"),  # nor another scheme
        ("GET", f"{BASE}/models/", "read", "catalog"),
        ("POST", f"{BASE}/models", "read", "catalog"),  # the planned URL with another method
        ("POST", planned, "billable", "auth_check"),  # the planned request with another cost
        ("POST", planned, "rejected", "catalog"),  # another probe's request
        ("POST", planned, "rejected", "not_in_the_plan"),
    ]
    for method, url, cost, probe in refused:
        with pytest.raises(WriteRefused):
            asyncio.run(guard(method, url, cost, probe))


def test_the_guard_builds_what_a_spec_allows_from_the_spec_not_from_the_engines_url() -> None:
    """``{item}`` is one percent-encoded segment, a templated query value any value, ``from_root`` the host's root."""
    plan = LoadedPlan(Targets(BASE, MGMT), allow_billable=False)
    deployments = ProbeSpec("deployments", "management", "GET", "/models/{item}/deployments", "read", "x")
    usage = ProbeSpec("usage", "management", "GET", "/billing/usage_summary", "read", "x",
                      params={"start_date": "{usage_start}", "end_date": "{usage_end}"})  # fmt: skip
    balance = ProbeSpec("balance", "inference", "GET", "/user/balance", "read", "x", from_root=True)
    plan.add([deployments, usage, balance])
    plan.check("GET", f"{MGMT}/models/org%2Fname/deployments", "read", "deployments")
    plan.check("GET", f"{MGMT}/billing/usage_summary?start_date=2026-01-01&end_date=2026-01-31", "read", "usage")
    plan.check("GET", "https://provider.test/user/balance", "read", "balance")
    for url, probe in [
        (f"{MGMT}/models/org/name/deployments", "deployments"),  # an item not encoded: two segments
        (f"{MGMT}/models//deployments", "deployments"),  # no item
        (f"{MGMT}/billing/usage_summary?start_date=2026-01-01", "usage"),  # a planned parameter missing
        (f"{MGMT}/billing/usage_summary?start_date=a&end_date=b&org=x", "usage"),  # one more
        (f"{BASE}/user/balance", "balance"),  # under the base path, where the spec says the root
    ]:
        with pytest.raises(WriteRefused):
            plan.check("GET", url, "read", probe)


def test_a_mis_built_url_is_stopped_before_it_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in the engine's URL building (here: the path of every model call) is stopped by the guard, which
    holds the request against the loaded plan, not against the URL the engine computed. Before: the engine
    registered the URL it had just built as planned, so the mis-built POST left."""
    built = ProbeEngine._request_for

    def mis_built(self: ProbeEngine, spec: ProbeSpec, item: str | None) -> tuple[httpx.URL, object]:
        url, body = built(self, spec, item)
        return (url.copy_with(path="/v1/admin/api_keys/revoke") if spec.method == "POST" else url), body

    monkeypatch.setattr(ProbeEngine, "_request_for", mis_built)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=CATALOG)
        return httpx.Response(400, json={"error": {"message": "messages must not be empty"}})

    c, seen = check(handler)
    assert {(r.method, r.url.path) for r in seen} == {("GET", "/v1/models")}
    posts = [o for o in c.observations if o.method == "POST"]
    assert posts and all(o.outcome == "skipped" and o.status is None for o in posts)
    assert all("refused by the write guard" in (o.detail or "") for o in posts if o.probe == "auth_pilot")
    assert c.to_json()["spend"]["calls"] == 0


def test_a_write_to_an_unplanned_url_ends_as_a_guard_observation_not_a_request() -> None:
    """A plan bug (a spec whose URL the engine did not plan) is stopped in the client, before the wire."""
    sent: list[httpx.Request] = []
    engine = ProbeEngine(
        Secret(CANARY), Targets(BASE), ProbeSettings(),
        transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200, json={})),
    )  # fmt: skip
    spec = ProbeSpec("x", "inference", "GET", "/models", "read", "x")

    async def run() -> None:
        async with engine:
            assert engine._client is not None
            # bypass the planning step: the URL is not in the plan, so the guard must refuse it
            with pytest.raises(WriteRefused):
                await engine._send_following(engine._client, spec, httpx.URL(f"{BASE}/admin"), None)

    asyncio.run(run())
    assert sent == []


# --- 2. spending stops at the first accepted call --------------------------------------------------------


def test_a_far_end_that_answers_refused_calls_receives_exactly_one() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=BASETEN_CATALOG)
        return completion(request)

    c, seen = check(handler, claim="baseten", management_url=MGMT, allow_billable=True)
    posts = [r for r in seen if r.method == "POST"]
    assert len(posts) == 1
    spent = [o for o in c.observations if o.spent]
    assert len(spent) == 1 and spent[0].usage == {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}
    not_sent = [o for o in c.observations if o.cost in ("rejected", "billable") and not o.spent]
    assert not_sent and all(o.outcome == "skipped" and o.attempts == 0 for o in not_sent)
    data = c.to_json()
    assert data["spend"]["calls"] == 1 and data["spend"]["total_tokens"] == 10 and data["spend"]["unexpected"] == 1
    assert c.profile.status.code == "valid" and c.profile.status.reason == "spent"
    assert c.profile.metric_values()["key_valid"] is True
    assert "10 tokens reported" in c.profile.status.detail
    assert c.decision.verdict == "needs_work"
    review = [a for a in c.decision.actions if a.action == "send to human review"]
    assert review and "cost money" in review[0].reason


def test_a_far_end_that_refuses_the_placeholder_but_answers_real_models_gets_exactly_one() -> None:
    """The pilot is answered 404 (its placeholder model is unknown there: that says nothing about whether the far
    end refuses a call built to be refused), so the first per-model check is a pilot too; it is answered (paid)
    and nothing more is sent. Before: the pilot's 404 opened the gate and a whole in-flight window was paid."""
    answered: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=BASETEN_CATALOG)
        model = json.loads(request.content)["model"]
        if model == "testkey-nb-probe":
            return httpx.Response(404, json={"error": {"message": "no such model", "code": "model_not_found"}})
        await asyncio.sleep(0.05)
        answered.append(model)
        return completion(request)

    c, seen = check(handler, max_in_flight=4, claim="baseten")
    assert any(o.probe == "permission_matrix" for o in c.observations)
    posts = [r for r in seen if r.method == "POST"]
    assert len(posts) == 2 and len(answered) == 1  # the pilot (404), then one real model, answered
    spent = [o for o in c.observations if o.spent]
    assert {o.item for o in spent} == set(answered)
    assert c.to_json()["spend"]["calls"] == 1 and c.to_json()["spend"]["total_tokens"] == 10
    skipped = [o for o in c.observations if o.cost == "rejected" and o.outcome == "skipped"]
    assert skipped and all("was accepted and answered" in (o.detail or "") for o in skipped)


def test_no_spending_when_the_far_end_refuses() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=CATALOG)
        return httpx.Response(400, json={"error": {"message": "messages must not be empty"}})

    c, _ = check(handler)
    assert c.to_json()["spend"]["calls"] == 0 and c.profile.status.reason != "spent"


# --- the probe's critical path (issue 12 item 4): structure, not time --------------------------------------


class _Wave:
    """A far end that answers only once the requests the critical path says go together have all arrived
    (a barrier): if the engine serialised them, the barrier would not fill and the answer would be a 504."""

    def __init__(self, models: int, cap: int) -> None:
        self.models, self.cap = models, cap
        self.started: list[str] = []
        self.in_flight = 0
        self.peak = 0
        self.pair = asyncio.Event()
        self.wave = asyncio.Event()

    async def _barrier(self, event: asyncio.Event) -> bool:
        try:
            await asyncio.wait_for(event.wait(), timeout=5)  # a hang guard, not a speed assertion
            return True
        except TimeoutError:
            return False

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        model = json.loads(request.content)["model"] if request.method == "POST" else None
        name = "catalog" if request.method == "GET" else ("pilot" if model == "testkey-nb-probe" else model)
        self.started.append(name)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if name in ("catalog", "pilot"):
                if {"catalog", "pilot"} <= set(self.started):
                    self.pair.set()
                if not await self._barrier(self.pair):
                    return httpx.Response(504, json={"error": "catalog and pilot were not in flight together"})
                if name == "catalog":
                    return httpx.Response(200, json=BASETEN_CATALOG)
                return httpx.Response(403, json={"error": "please check the api-key you provided"})
            if len([s for s in self.started if s not in ("catalog", "pilot")]) >= min(self.models, self.cap):
                self.wave.set()
            if not await self._barrier(self.wave):
                return httpx.Response(504, json={"error": "the per-model checks did not go in one wave"})
            body = {"error": {"code": 400, "message": "messages: empty", "type": "Bad Request"}}
            return httpx.Response(400, json=body)
        finally:
            self.in_flight -= 1


@pytest.mark.parametrize("cap", [16, 4])
def test_the_per_model_checks_start_in_one_wave_when_the_catalog_answers(cap: int) -> None:
    models = len(BASETEN_CATALOG["data"])
    wave = _Wave(models, cap)
    options = CheckOptions(base_url=BASE, claim="baseten", timeout_s=10, deadline_s=30, max_in_flight=cap)
    c = asyncio.run(check_key_async(Secret(CANARY), options, transport=httpx.MockTransport(wave)))
    # round trip 1: the catalog and the pilot together; round trip 2: every per-model check (the auth check
    # is the first model's, sent once), up to the cap in flight
    assert sorted(wave.started[:2]) == ["catalog", "pilot"]
    chats = [s for s in wave.started[2:]]
    assert sorted(chats) == sorted(m["id"] for m in BASETEN_CATALOG["data"])
    assert wave.peak == min(models, cap)
    assert {o.status for o in c.observations if o.probe == "permission_matrix"} == {400}
    auth = next(o for o in c.observations if o.probe == "auth_check")
    assert auth.status == 400 and auth.item == BASETEN_CATALOG["data"][0]["id"]
    assert c.profile.probe_requests == 2 + models


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_max_in_flight_must_be_a_positive_whole_number(bad: object) -> None:
    from testkey_nb.check.result import CheckError

    options = CheckOptions(base_url=BASE, max_in_flight=bad)  # type: ignore[arg-type]
    with pytest.raises(CheckError, match=r"^max_in_flight must be a whole number"):
        asyncio.run(check_key_async(Secret(CANARY), options, transport=httpx.MockTransport(completion)))
