"""Probe every key of a round in ONE event loop: keys concurrently, each host behind a politeness cap.

A round of ``run_batch`` starts here: every key is checked (read-only, as ``testkey-nb probe``), so a
revoked key is seen as revoked on the next round, whatever its report's age. The checks share one
HTTP transport whose requests wait, per host (scheme, host, port), for one of ``--max-in-flight``
slots: a host sees at most that many requests of the round at once, however many keys point at it.
At most :data:`KEYS_IN_FLIGHT` checks run at a time (a check's deadline starts when it starts).

What comes back per key is a :class:`Probed`: the index summary and the history facts (what decides
whether its report is rendered again: :func:`facts_fingerprint`), and the check itself, pickled, for
the kernel that renders the report (it reads it from its one-shot channel instead of probing again).
Never the key: a ``KeyCheck`` holds the key's label and reference only.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from testkey_nb.batch.models import RenderTask
from testkey_nb.report.keychannel import encode_check
from testkey_nb.secrets import redact

__all__ = [
    "KEYS_IN_FLIGHT",
    "HostCappedTransport",
    "Probed",
    "Prober",
    "facts_fingerprint",
    "probe_all",
    "report_state",
]

#: How many key checks of a round run at once (the per-host cap bounds what each host sees; a check's
#: deadline runs while it waits for a slot, so not every key of a large fleet starts at once).
KEYS_IN_FLIGHT: Final = 16
#: The summary's fields a report's facts are compared by (free text, such as evidence, reasons and the
#: identification's confidence, is left out: it varies with timing, e.g. a retried request, not with the key).
_STATE: Final = ("provider", "claimed", "matches_claim", "key_valid", "status", "verdict", "allowed_models",
                 "priced_models", "tokens_per_minute", "tokens_limit", "tokens_limit_day", "token_role", "balance",
                 "limits")  # fmt: skip


@dataclass(frozen=True)
class Probed:
    """One key's probe in a round: summary and history facts, or the redacted reason it failed."""

    label: str
    summary: Mapping[str, Any] | None
    facts: Mapping[str, Any] | None
    error: str | None
    seconds: float
    #: the ``KeyCheck`` for the render, :func:`encode_check`-ed (None for a fake prober or a failure)
    payload: str | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None and self.summary is not None


#: ``prober(tasks) -> {task.index: Probed}``; :func:`probe_all` is the real one (tests pass fakes).
Prober = Callable[[Sequence[RenderTask]], Mapping[int, Probed]]


def report_state(summary: Mapping[str, Any] | None, facts: Mapping[str, Any] | None) -> dict[str, Any]:
    """What decides whether a key's report is rendered again: the facts the history compares (status,
    verdict, identity, models with their access and prices, limits, balance) and the names of the actions
    and the capabilities' statuses. Not the daily usage series (a moving counter on any key in use: the
    index and the history carry it every round), not free text."""
    s = summary or {}
    f = facts or {}
    raw_identity = s.get("identity")
    identity: Mapping[str, Any] = raw_identity if isinstance(raw_identity, Mapping) else {}
    caps = [c for c in s.get("capabilities") or [] if isinstance(c, Mapping)]
    return {
        **{name: s.get(name) for name in _STATE},
        "identity": {k: v for k, v in identity.items() if k != "evidence"},
        "actions": sorted(str(a.get("action")) for a in s.get("actions") or [] if isinstance(a, Mapping)),
        "capabilities": sorted([str(c.get("capability")), str(c.get("status"))] for c in caps),
        "models": f.get("models"),
        "facts_limits": f.get("limits"),
        "facts_balance": f.get("balance"),
    }


def _without_exchanges(value: Any) -> Any:
    """``value`` without its exchange ids (``exchange``, ``exchanges``, ``*_exchange``): which request of a
    round carried a figure depends on timing, the figure does not."""
    if isinstance(value, Mapping):
        return {k: _without_exchanges(v) for k, v in value.items()
                if not (k in ("exchange", "exchanges") or str(k).endswith("_exchange"))}  # fmt: skip
    if isinstance(value, list | tuple):
        return [_without_exchanges(v) for v in value]
    return value


def facts_fingerprint(summary: Mapping[str, Any] | None, facts: Mapping[str, Any] | None, *context: str) -> str:
    """A stable hash of :func:`report_state` (without exchange ids) and of ``context`` (settings, notebook,
    package version): equal fingerprints, nothing to render again."""
    state = _without_exchanges(report_state(summary, facts))
    text = json.dumps([state, list(context)], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class HostCappedTransport(httpx.AsyncBaseTransport):
    """One transport for every check of a round: at most ``per_host`` requests in flight per host.

    ``aclose`` of a check's client leaves it open (other checks use it); :meth:`close_inner` ends it.
    """

    def __init__(self, per_host: int, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.per_host = max(1, per_host)
        self._inner = inner or httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=None))
        self._slots: dict[tuple[str, str, int | None], asyncio.Semaphore] = {}
        self.peak: dict[str, int] = {}
        self._busy: dict[tuple[str, str, int | None], int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = (request.url.scheme, request.url.host, request.url.port)
        sem = self._slots.setdefault(host, asyncio.Semaphore(self.per_host))
        async with sem:
            self._busy[host] = self._busy.get(host, 0) + 1
            name = f"{host[0]}://{host[1]}:{host[2]}"
            self.peak[name] = max(self.peak.get(name, 0), self._busy[host])
            try:
                response = await self._inner.handle_async_request(request)
                await response.aread()  # the slot is held until the body is in
            finally:
                self._busy[host] -= 1
        return response

    async def aclose(self) -> None:  # a check's client closing: the round's transport stays open
        return None

    async def close_inner(self) -> None:
        await self._inner.aclose()


def probe_all(tasks: Sequence[RenderTask], *, keys_in_flight: int = KEYS_IN_FLIGHT,
              inner: httpx.AsyncBaseTransport | None = None) -> dict[int, Probed]:  # fmt: skip
    """Check every task's key in one event loop (blocking); ``{task.index: Probed}``."""
    if not tasks:
        return {}
    return asyncio.run(_probe_all(tasks, keys_in_flight, inner))


async def _probe_all(
    tasks: Sequence[RenderTask], keys_in_flight: int, inner: httpx.AsyncBaseTransport | None
) -> dict[int, Probed]:
    per_host = max(t.job.max_in_flight for t in tasks)
    transport = HostCappedTransport(per_host, inner)
    gate = asyncio.Semaphore(max(1, keys_in_flight))
    try:
        results = await asyncio.gather(*(_probe_one(t, transport, gate) for t in tasks))
    finally:
        await transport.close_inner()
    return {t.index: r for t, r in zip(tasks, results, strict=True)}


async def _probe_one(task: RenderTask, transport: httpx.AsyncBaseTransport, gate: asyncio.Semaphore) -> Probed:
    from testkey_nb.api import check_async
    from testkey_nb.check.result import CheckError
    from testkey_nb.history.snapshot import facts_from_check

    job = task.job
    async with gate:
        started = time.perf_counter()
        try:
            check = await check_async(
                task.secret, label=task.label, base_url=job.base_url, management_url=job.management_url,
                claim=job.claim, allow_billable=job.allow_billable, timeout_s=job.timeout_s,
                deadline_s=job.deadline_s, max_in_flight=job.max_in_flight, transport=transport,
                lens=job.lens, credits_remaining=job.credits_remaining, payment_method=job.payment_method,
            )  # fmt: skip
            summary = check.summary()
            facts = facts_from_check(check)
            payload = encode_check(check)
        except CheckError as exc:
            reason = f"probe: CheckError: {exc}"
            return Probed(task.label, None, None, redact(" ".join(reason.split()), [task.secret]),
                          time.perf_counter() - started)  # fmt: skip
        except Exception as exc:  # a bug must not stop the round: this key fails with its reason
            reason = f"probe: {type(exc).__name__}: {exc}"
            return Probed(task.label, None, None, redact(" ".join(reason.split()), [task.secret]),
                          time.perf_counter() - started)  # fmt: skip
    return Probed(task.label, summary, facts, None, time.perf_counter() - started, payload)
