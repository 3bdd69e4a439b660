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


def test_fingerprint_ignores_the_probe_times_not_the_facts() -> None:
    summary = {"status": "valid", "checked_at": "2026-12-02T06:00:00Z", "balance": {"remaining": 5.0}}
    facts = {"models": [{"id": "m", "latency_ms": 12}], "checked_at": "2026-12-02T06:00:00Z"}
    base = facts_fingerprint(summary, facts, "config")
    later = {**summary, "checked_at": "2026-12-02T07:00:00Z"}
    assert facts_fingerprint(later, {**facts, "checked_at": "x", "models": [{"id": "m", "latency_ms": 80}]},
                             "config") == base  # fmt: skip
    assert facts_fingerprint({**summary, "balance": {"remaining": 4.0}}, facts, "config") != base
    assert facts_fingerprint(summary, {**facts, "models": []}, "config") != base
    assert facts_fingerprint(summary, facts, "other settings") != base
