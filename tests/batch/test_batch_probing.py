"""The round's probing: one transport for every check, at most --max-in-flight requests per host; the
fingerprint that decides a render ignores the probe's times."""

from __future__ import annotations

import asyncio

import httpx

from testkey_nb.batch.probing import HostCappedTransport, facts_fingerprint


class _Slow(httpx.AsyncBaseTransport):
    """Answers every request after a pause, counting how many are in flight per host."""

    def __init__(self) -> None:
        self.now: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.now[host] = self.now.get(host, 0) + 1
        self.peak[host] = max(self.peak.get(host, 0), self.now[host])
        await asyncio.sleep(0.01)
        self.now[host] -= 1
        return httpx.Response(200, json={"ok": True})

    async def aclose(self) -> None:
        self.closed = True


def test_at_most_max_in_flight_requests_per_host_across_clients() -> None:
    inner = _Slow()
    capped = HostCappedTransport(3, inner)

    async def key(host: str) -> None:  # a key's check: its own client, on the round's transport
        async with httpx.AsyncClient(transport=capped) as client:
            await asyncio.gather(*(client.get(f"http://{host}/v1/models") for _ in range(5)))

    async def round_() -> None:
        await asyncio.gather(*(key(h) for h in ("a.test", "b.test") for _ in range(10)))
        assert not inner.closed  # the clients closing left the round's transport open
        await capped.close_inner()

    asyncio.run(round_())
    assert inner.peak == {"a.test": 3, "b.test": 3}  # 50 requests per host, never more than 3 at once
    assert inner.closed


def test_fingerprint_follows_the_facts_not_timing_or_free_text() -> None:
    summary = {"status": "valid", "verdict": "ready", "confidence": 0.972, "status_reason": "accepted",
               "checked_at": "2026-12-02T06:00:00Z", "balance": {"remaining": 5.0},
               "identity": {"user": "ada", "evidence": "GET /users/me"},
               "actions": [{"action": "import inventory", "reason": "13 models"}],
               "capabilities": [{"capability": "model catalog", "status": "verified", "evidence": "13 models"}]}
    facts = {"models": [{"id": "m", "allowed": True, "price_in": 1.0, "price_out": 2.0}], "checked_at": "t",
             "usage_daily": [{"day": "2026-12-01", "usd": 1.0}]}  # fmt: skip
    base = facts_fingerprint(summary, facts, "config")
    timing = {**summary, "confidence": 0.962, "status_reason": "authenticated", "checked_at": "later",
              "identity": {"user": "ada", "evidence": "other words"},
              "actions": [{"action": "import inventory", "reason": "other words"}],
              "capabilities": [{"capability": "model catalog", "status": "verified", "evidence": "other"}]}
    assert facts_fingerprint(timing, {**facts, "checked_at": "x", "usage_daily": []}, "config") == base
    assert facts_fingerprint({**summary, "balance": {"remaining": 4.0}}, facts, "config") != base
    assert facts_fingerprint({**summary, "status": "invalid"}, facts, "config") != base
    assert facts_fingerprint(summary, {**facts, "models": []}, "config") != base
    gone = {**summary, "capabilities": [{"capability": "model catalog", "status": "denied", "evidence": "x"}]}
    assert facts_fingerprint(gone, facts, "config") != base
    assert facts_fingerprint(summary, facts, "other settings") != base
