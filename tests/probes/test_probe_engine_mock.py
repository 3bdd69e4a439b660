"""The probe engine against a hostile or broken far end (httpx.MockTransport): what the emulator won't do."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable

import httpx
import pytest

from testkey_nb.check.result import CheckOptions, KeyCheck
from testkey_nb.check.run import check_key_async
from testkey_nb.secrets import Secret
from tests.conftest import CANARY, CANARY_SHAPES

BASE = "https://provider.test/v1"
MGMT = "https://mgmt.test/v1"
BASETEN_403 = {"error": "please check the api-key you provided"}


def check(handler: Callable[[httpx.Request], httpx.Response], key: str = CANARY, **opts: object) -> KeyCheck:
    options = CheckOptions(base_url=BASE, management_url=opts.pop("management_url", None), timeout_s=2,  # type: ignore[arg-type]
                           deadline_s=10, **opts)  # type: ignore[arg-type]  # fmt: skip
    return asyncio.run(check_key_async(Secret(key), options, transport=httpx.MockTransport(handler)))


def key_of(request: httpx.Request) -> str:
    return request.headers.get("authorization", "").split(" ", 1)[-1]


@pytest.mark.parametrize("canary", CANARY_SHAPES)
def test_a_key_echoed_anywhere_is_redacted(canary: str) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        key = key_of(request)
        if request.url.path.endswith("/models"):
            # text body with the key straddling the 2 KiB snippet cut, echoed in a header too
            body = ("x" * 2030 + key + " tail").encode()
            return httpx.Response(401, headers={"x-echo": f"Bearer {key}"}, content=body)
        if request.url.path.endswith("/chat/completions"):
            return httpx.Response(302, headers={"location": f"https://elsewhere.test/steal?k={key}"})
        return httpx.Response(403, json={"error": f"bad key {key}", "nested": [{"k": key}]})

    c = check(echo, canary, management_url=MGMT)
    blob = "\n".join([json.dumps(c.to_json(), default=str), repr(c), repr(c.observations)])
    assert canary not in blob
    assert canary[:20] not in blob and canary[-16:] not in blob


def test_catalog_down_is_not_an_invalid_key() -> None:
    """/models 503 while chat refuses the placeholder model: Baseten's 403 for an unknown model proves nothing."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(503, json={"error": "down"})
        return httpx.Response(403, json=BASETEN_403)

    c = check(handler)
    assert c.profile.status.code == "unknown" and c.profile.status.reason == "5xx"
    assert c.profile.metric_values()["key_valid"] is None
    assert c.decision.verdict == "needs_work"
    assert all(r.model != "testkey-nb-probe" for r in c.profile.models)


def test_a_management_403_alone_does_not_prove_a_key() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "mgmt.test":
            return httpx.Response(403, json={"detail": "Authentication credentials were not provided."})
        return httpx.Response(403, json=BASETEN_403)

    c = check(handler, management_url=MGMT)
    assert c.profile.status.code == "invalid"
    assert c.profile.metric_values()["key_valid"] is False


def _raw(status: int, headers: dict[str, str], body: bytes) -> Callable[[httpx.Request], httpx.Response]:
    """A handler whose body is sent as is (not decoded when the response is built)."""
    return lambda request: httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))


@pytest.mark.parametrize(
    "handler",
    [
        _raw(200, {"content-type": "application/json"}, b"[" * 100_000 + b"]" * 100_000),
        _raw(200, {"content-encoding": "gzip", "content-type": "application/json"}, b"not gzip at all"),
        _raw(200, {"content-encoding": "gzip"}, gzip.compress(b"{")[:-4]),
    ],
    ids=["deeply-nested-json", "bad-gzip", "truncated-gzip"],
)
def test_pathological_bodies_are_observations_not_crashes(
    handler: Callable[[httpx.Request], httpx.Response],
) -> None:
    c = check(handler)
    catalog = next(o for o in c.observations if o.probe == "catalog")
    assert catalog.outcome == "bad_json"  # an observation of the body, not a crash and not a deadline
    assert (c.profile.status.code, c.profile.status.reason) == ("unknown", "unexpected_status")


def test_a_proxy_text_400_is_not_passed_auth() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m1", "object": "model"}]})
        return httpx.Response(400, headers={"content-type": "text/plain"}, content=b"Bad Request")

    c = check(handler)
    assert not any(o.accepted for o in c.observations if o.cost == "rejected")
    assert (c.profile.status.code, c.profile.status.reason) == ("unknown", "unexpected_status")


def test_sequential_mode_is_bounded_by_the_deadline() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, json={"data": []})

    options = CheckOptions(base_url=BASE, timeout_s=1, deadline_s=3, concurrent=False)
    c = asyncio.run(check_key_async(Secret(CANARY), options, transport=httpx.MockTransport(slow)))
    assert {o.outcome for o in c.observations} <= {"timeout", "deadline", "skipped"}


def test_a_timeout_among_the_429s_of_the_wave_is_still_rate_limited() -> None:
    """Every per-model check that answered got 429; one that never answered does not make it 'unknown'."""
    catalog = {"data": [{"id": f"m{i}", "object": "model", "owned_by": "baseten"} for i in range(4)]}
    arrived: set[str] = set()
    wave = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=catalog, headers={"x-baseten-request-id": "r1"})
        model = json.loads(request.content)["model"]
        if model == "testkey-nb-probe":
            return httpx.Response(403, json=BASETEN_403)
        arrived.add(model)
        if len(arrived) == 4:
            wave.set()
        await asyncio.wait_for(wave.wait(), timeout=5)  # the wave is in flight before any 429 comes back
        if model == "m3":
            await asyncio.sleep(30)  # cut by the per-request timeout
        return httpx.Response(429, json={"error": "Too many requests"})

    c = check(handler, claim="baseten")
    outcomes = {o.item: o.outcome for o in c.observations if o.probe == "permission_matrix"}
    assert outcomes == {"m0": "rate_limited", "m1": "rate_limited", "m2": "rate_limited", "m3": "timeout"}
    assert (c.profile.status.code, c.profile.status.reason) == ("rate_limited", "429")
