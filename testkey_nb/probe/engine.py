"""The read-only probe engine: declared probes in, one :class:`Observation` per HTTP exchange out.

Why this module is long: one job, sending a plan (concurrency, retries, the deadline, redirects, cursor pages);
the spending stop lives in ``spend.py`` and the reading of an answer in ``answer.py``.

Probes are data (``providers/*/probes.toml``). The engine runs independent probes concurrently, at
most ``max_in_flight`` requests at once, and starts a dependent one (``after``) as soon as the probe
it needs has finished; plans submitted later in the same session (``submit``) share the probes that
already ran, so a provider's per-model checks start the moment the catalog answers. Every exchange
has a per-request timeout and the whole run an overall deadline; 429 and 5xx are retried a bounded
number of times, honouring ``Retry-After``; bodies are capped.

What may leave the machine (the guard in the client, the last line of defence):
- a request leaves only if its method and full URL are what the probe it belongs to allows in the plan
  as loaded (:class:`~testkey_nb.probe.guard.LoadedPlan`, built from the specs and targets, never from
  the URL the engine computed): a mis-built URL is stopped, no suffix match;
- a POST is never re-sent on a redirect: a 3xx to a POST is an observation (its status and the
  ``Location`` it asked for), not a visit; a GET redirect is followed on the same origin only;
- only GET reads, POSTs of cost ``rejected`` (an empty message list, ``max_tokens`` 1), read-only POSTs the
  provider's own data allow-lists (``[[read_only_posts]]``: Cohere's check-api-key) and, with
  ``allow_billable=True``, ``billable`` POSTs;
- spending stops at the first accepted call: until one refused-by-design call has come back, no
  other is sent (the first is a pilot); once one came back 2xx (it was answered, so it cost money),
  no further ``rejected`` or ``billable`` request is sent in the check: the stop (:class:`SpendStop`)
  is shared by every engine of one check (each scheme trial has its own engine and its own pilot).

The spending stop is :mod:`testkey_nb.probe.spend`; reading what came back into an
:class:`Observation` is :mod:`testkey_nb.probe.answer`; this module schedules and sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from testkey_nb.probe.answer import Exchange, observe, read_capped, retry_after_seconds
from testkey_nb.probe.guard import LoadedPlan, WriteRefused, check_allowed
from testkey_nb.probe.observation import ExchangeIds, Observation, Outcome, make_observation, outcome_for
from testkey_nb.probe.plan import ForEach, ProbeSettings, ProbeSpec, Targets, usage_start, version_root, window_skip
from testkey_nb.probe.spend import NotSent, SpendGate, SpendStop
from testkey_nb.secrets import Secret, redact

__all__ = ["ProbeEngine"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def _dig(body: Any, dotted: str | None) -> Any:
    cur = body
    for part in (dotted or "").split("."):
        if not part:
            continue
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


def _fill(template: Any, values: Mapping[str, str]) -> Any:
    if isinstance(template, str):
        out = template
        for k, v in values.items():
            out = out.replace("{" + k + "}", v)
        return out
    if isinstance(template, list):
        return [_fill(v, values) for v in template]
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    return template


class ProbeEngine:
    """Runs probe plans for one key against the named targets.

    Use ``run(plan)`` for one plan, or ``async with engine:`` and ``submit``/``wait_for``/``collect`` to
    start a later plan as soon as the probes it needs have answered (one client, one in-flight cap,
    one spending gate and one deadline for the whole session).
    """

    def __init__(
        self,
        secret: Secret,
        targets: Targets,
        settings: ProbeSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        now: datetime | None = None,
        spend: SpendStop | None = None,
        exchanges: ExchangeIds | None = None,
    ) -> None:
        self._secret = secret
        #: the check's exchange numbering (shared by all its engines); a new one for a lone engine
        self._exchanges = exchanges or ExchangeIds()
        self._targets = targets
        self._settings = settings or ProbeSettings()
        self._transport = transport
        self._now = now or datetime.now(UTC)
        self.requests_sent = 0
        self._deadline_at = 0.0
        self._client: httpx.AsyncClient | None = None
        self._sem: asyncio.Semaphore | None = None
        self._gate = SpendGate(spend)
        self._spent_here = False
        #: what the loaded plans allow to leave (filled from the specs as each plan is submitted)
        self._loaded = LoadedPlan(targets, allow_billable=self._settings.allow_billable)
        self._events: dict[str, asyncio.Event] = {}
        self._done: dict[str, list[Observation]] = {}
        self._results: dict[str, list[Observation]] = {}
        self._shared: dict[tuple[str, str, str, str], asyncio.Future[Observation]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        #: outcomes answered so far per probe (before its retries end), for skip_if
        self._seen: dict[str, set[str]] = {}

    @property
    def spent_by(self) -> str | None:
        """The probe whose refused-by-design call was accepted (and cost money), if any, in this engine or
        another sharing its :class:`SpendStop`."""
        return self._gate.spent_by

    @property
    def spent_here(self) -> bool:
        """A refused-by-design call sent by this engine was accepted and answered (it cost money)."""
        return self._spent_here

    # -- session ---------------------------------------------------------------------------------
    async def __aenter__(self) -> ProbeEngine:
        if not self._deadline_at:
            self._deadline_at = time.monotonic() + self._settings.deadline_s
        cap = max(1, self._settings.max_in_flight) if self._settings.concurrent else 1
        self._sem = asyncio.Semaphore(cap)
        self._client = httpx.AsyncClient(
            transport=self._transport,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=cap),
            timeout=httpx.Timeout(self._settings.timeout_s),
            event_hooks={"request": [self._guard_hook]},
            headers={"User-Agent": "testkey-nb/0.1 (read-only probe)"},
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        pending = [t for t in self._tasks if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def submit(self, plan: Sequence[ProbeSpec], prior: Sequence[Observation] = ()) -> Sequence[ProbeSpec]:
        """Start ``plan`` now; a probe waits only for the probe it names in ``after``."""
        assert self._client is not None and self._sem is not None, "use `async with engine:`"
        for obs in prior:
            self._done.setdefault(obs.probe, []).append(obs)
            self._events.setdefault(obs.probe, asyncio.Event()).set()
        self._loaded.add(plan)
        for spec in plan:
            self._events.setdefault(spec.name, asyncio.Event())
        for spec in plan:
            self._tasks.append(asyncio.create_task(self._run_spec(self._client, spec, self._sem)))
        return plan

    async def wait_for(self, names: Sequence[str]) -> None:
        """Wait (within the deadline) until the named probes have finished."""
        events = [self._events[n].wait() for n in names if n in self._events]
        if events:
            left = max(0.0, self._deadline_at - time.monotonic()) + 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*events), timeout=left)

    def finished(self, names: Sequence[str]) -> list[Observation]:
        """The observations of the named probes that have finished so far."""
        return [o for n in names for o in self._results.get(n, [])]

    async def collect(self, plan: Sequence[ProbeSpec]) -> list[Observation]:
        """Wait for ``plan``'s probes (cut at the deadline) and return their observations in plan order."""
        await self.wait_for([s.name for s in plan])
        out: list[Observation] = []
        for spec in plan:
            got = self._results.get(spec.name)
            out.extend(
                got if got is not None else [self._synthetic(spec, None, "deadline", "overall deadline reached")]
            )
        return out

    # -- public ------------------------------------------------------------------------------------
    async def run(self, plan: Sequence[ProbeSpec], prior: Sequence[Observation] = ()) -> list[Observation]:
        """Run ``plan``; ``prior`` holds observations of earlier stages that ``after`` may name."""
        if self._client is not None:
            self.submit(plan, prior)
            return await self.collect(plan)
        async with self:
            self.submit(plan, prior)
            return await self.collect(plan)

    # -- one declared probe --------------------------------------------------------------------
    async def _run_spec(self, client: httpx.AsyncClient, spec: ProbeSpec, sem: asyncio.Semaphore) -> None:
        done, results = self._done, self._results
        try:
            if spec.after:
                event = self._events.get(spec.after)
                if event is None:
                    results[spec.name] = [self._synthetic(spec, None, "skipped", f"needs {spec.after}, not in plan")]
                    return
                await event.wait()
            skip = (
                self._skip_reason(spec)
                or window_skip(spec, self._now, has_prefix=bool(self._secret.public_prefix))
                or self._skipped_by_earlier(spec, done)
            )
            if skip:
                results[spec.name] = [self._synthetic(spec, None, "skipped", skip)]
                return
            items: list[str | None] = [None]
            placeholder = False
            if spec.for_each:
                items = list(self._items(spec.for_each, done))
                if spec.cost != "read":
                    items = items[: self._settings.max_model_checks]
                if not items and spec.for_each.fallback:
                    items, placeholder = [spec.for_each.fallback], True
                if not items:
                    results[spec.name] = [
                        self._synthetic(spec, None, "skipped", f"no items from {spec.for_each.source}")
                    ]
                    return

            async def one(item: str | None) -> Observation:
                seen = await self._shared_exchange(client, spec, item, sem)
                return replace(seen, placeholder=True) if placeholder else seen

            async def paged(item: str | None) -> list[Observation]:
                return await self._pages(client, spec, await one(item), sem)

            try:
                obs = [o for pages in await asyncio.gather(*(paged(i) for i in items)) for o in pages]
            except WriteRefused as exc:  # the client's last line of defence fired: a plan bug, never sent
                obs = [self._synthetic(spec, None, "skipped", f"refused by the write guard: {exc}")]
            results[spec.name] = obs
            done[spec.name] = obs
        finally:
            if spec.name in self._events:
                self._events[spec.name].set()

    def _skip_reason(self, spec: ProbeSpec) -> str | None:
        if self._targets.url_for(spec.role) is None:
            return self._targets.reasons.get(spec.role, f"no {spec.role} URL")
        if spec.cost == "billable" and not self._settings.allow_billable:
            return "billable: runs only when billable calls are allowed (allow_billable)"
        try:
            check_allowed(spec, allow_billable=self._settings.allow_billable)
        except WriteRefused as exc:
            return str(exc)
        return None

    def _skipped_by_earlier(self, spec: ProbeSpec, done: Mapping[str, list[Observation]]) -> str | None:
        rule = spec.skip_if
        if rule is None:
            return None
        hit = next((o for o in done.get(rule.probe, []) if o.outcome in rule.outcomes), None)
        if hit is not None:
            return f"not sent: {rule.probe} was {hit.outcome} ({hit.status}); every further call would be too"
        # answers seen so far (before retries end): the rule's probe, or a sibling check of this probe
        for name in (rule.probe, spec.name):
            seen = sorted(self._seen.get(name, set()) & set(rule.outcomes))
            if seen:
                return f"not sent: {name} was already answered {seen[0]}; every further call would be too"
        return None

    def _items(self, fe: ForEach, done: Mapping[str, list[Observation]]) -> list[str]:
        found: list[str] = []
        for obs in done.get(fe.source, []):
            if fe.accepted:
                if obs.accepted and obs.item is not None:
                    found.append(obs.item)
                continue
            seq = _dig(obs.json_body, fe.items)
            if isinstance(seq, list):
                for el in seq:
                    val = el.get(fe.field) if isinstance(el, dict) else None
                    if isinstance(val, str) and val:
                        found.append(val)
        return list(dict.fromkeys(found))[: fe.limit]

    # -- one HTTP exchange, with retries and redirects -------------------------------------------
    def _request_for(self, spec: ProbeSpec, item: str | None) -> tuple[httpx.URL, Any]:
        """The exact URL (with its query) and JSON body that ``spec`` sends for ``item``."""
        base = self._targets.url_for(spec.role)
        assert base is not None
        start = usage_start(spec, self._settings.usage_days, self._now)
        values = {
            "item": item or "",
            "usage_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "usage_end": self._now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            # whole UTC days: the start's day up to (not including) the day after today
            "usage_start_date": start.date().isoformat(),
            "usage_end_date": (self._now.astimezone(UTC).date() + timedelta(days=1)).isoformat(),
            # the key's public prefix (the part a provider lists keys by), never the key itself
            "key_prefix": self._secret.public_prefix or "",
        }
        path = _fill(spec.path, {"item": _path_quote(item or "")})
        if spec.from_root:  # beside the version segment, not under it (DeepSeek's /user/balance)
            base = version_root(base, spec.base_path)
        params = _fill(dict(spec.params), values) if spec.params else None
        body = _fill(dict(spec.body), values) if spec.body is not None else None
        return httpx.URL(base.rstrip("/") + path, params=params), body

    async def _pages(
        self, client: httpx.AsyncClient, spec: ProbeSpec, first: Observation, sem: asyncio.Semaphore
    ) -> list[Observation]:
        """The pages after ``first``, each its own planned GET (checked by the guard) and observation."""
        rule = spec.paginate
        out = [first]
        if rule is None or spec.method != "GET" or spec.cost != "read":
            return out
        url, _body = self._request_for(spec, first.item)
        seen: set[str] = set()
        last = first
        while len(out) < rule.max_pages and last.outcome == "ok":
            more, cursor = _dig(last.json_body, rule.more), _dig(last.json_body, rule.cursor)
            if more is not True or not isinstance(cursor, str) or not cursor or cursor in seen:
                break
            seen.add(cursor)
            query = [(k, v) for k, v in url.params.multi_items() if k != rule.param] if rule.keep_params else []
            next_url = url.copy_with(params=httpx.QueryParams([*query, (rule.param, cursor)]))
            seen_page = await self._gated_exchange(client, spec, first.item, next_url, None, sem)
            last = replace(seen_page, detail=seen_page.detail or f"page {len(out) + 1} (cursor of page {len(out)})")
            out.append(last)
        return out

    async def _shared_exchange(
        self, client: httpx.AsyncClient, spec: ProbeSpec, item: str | None, sem: asyncio.Semaphore
    ) -> Observation:
        """One exchange; the very same request planned by two probes (e.g. the auth check and the first
        per-model check) is sent once and observed by both."""
        url, body = self._request_for(spec, item)
        key = (spec.method, str(url), json.dumps(body, sort_keys=True), self._auth_label(spec))
        first = self._shared.get(key)
        if first is not None:
            seen = await asyncio.shield(first)
            # the copy says the same as the original (which probe sent it depends on timing, so no text
            # may name it); attempts 0 marks it as not sent again
            return replace(seen, probe=spec.name, attempts=0, assumption=spec.assumption)
        future: asyncio.Future[Observation] = asyncio.get_running_loop().create_future()
        self._shared[key] = future
        try:
            seen = await self._gated_exchange(client, spec, item, url, body, sem)
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: a waiter re-raises it, nobody logs it as lost
            raise
        future.set_result(seen)
        return seen

    async def _gated_exchange(
        self,
        client: httpx.AsyncClient,
        spec: ProbeSpec,
        item: str | None,
        url: httpx.URL,
        body: Any,
        sem: asyncio.Semaphore,
    ) -> Observation:
        if spec.cost == "read":
            async with sem:
                return await self._exchange(client, spec, item, url, body)
        pilot = await self._gate.enter()
        back: int | None = None
        try:
            async with sem:
                seen = await self._exchange(client, spec, item, url, body)
            back = seen.status
            answered = seen.status is not None and 200 <= seen.status < 300
            if spec.cost == "rejected" and answered and not self._gate.refused(spec.name, seen.json_body):
                self._gate.spent(f"{spec.name} ({item or 'no model'})")
                self._spent_here = True
            return seen
        finally:
            if pilot:
                self._gate.pilot_back(back)

    async def _exchange(
        self, client: httpx.AsyncClient, spec: ProbeSpec, item: str | None, url: httpx.URL, body: Any
    ) -> Observation:
        started = time.monotonic()
        attempts = 0
        while True:
            left = self._deadline_at - time.monotonic()
            if left <= 0:
                return self._synthetic(spec, item, "deadline", "overall deadline reached", attempts, started)
            try:
                if spec.cost != "read":
                    self._gate.check()
            except NotSent as exc:
                return self._synthetic(spec, item, "skipped", str(exc), attempts, started)
            # a check queued behind the in-flight cap honours what the earlier probe saw meanwhile
            late_skip = self._skipped_by_earlier(spec, self._done) if attempts == 0 else None
            if late_skip:
                return self._synthetic(spec, item, "skipped", late_skip, attempts, started)
            attempts += 1
            try:
                result = await asyncio.wait_for(
                    self._send_following(client, spec, url, body),
                    timeout=min(self._settings.timeout_s, left),
                )
            except TimeoutError:
                return self._synthetic(
                    spec,
                    item,
                    "timeout",
                    f"no complete answer within {min(self._settings.timeout_s, left):.1f}s",
                    attempts,
                    started,
                )
            except httpx.DecodingError as exc:
                return self._synthetic(
                    spec, item, "bad_json", f"undecodable body ({type(exc).__name__})", attempts, started
                )
            except (httpx.TransportError, httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                return self._synthetic(
                    spec, item, "network", f"{type(exc).__name__}: {redact(str(exc), [self._secret])}"[:300],
                    attempts, started,
                )  # fmt: skip
            except WriteRefused:
                raise
            except Exception as exc:  # never let one exchange take the run down; keep its type, not the key
                return self._synthetic(
                    spec, item, "network", f"{type(exc).__name__}: {redact(str(exc), [self._secret])}"[:300],
                    attempts, started,
                )  # fmt: skip
            status, headers = result.status, result.headers
            if status is not None:
                self._seen.setdefault(spec.name, set()).add(outcome_for(status, headers.get("content-type", ""), True))
            if status is not None and status in RETRY_STATUSES and attempts <= self._settings.max_retries:
                stop = self._skipped_by_earlier(spec, self._done)
                if stop:
                    result.detail = f"not retried: {stop.removeprefix('not sent: ')}"
                    return observe(
                        spec, item, result, attempts, started, secret=self._secret, settings=self._settings,
                        exchange=self._exchanges.next(),
                    )
                told = retry_after_seconds(headers.get("retry-after"))
                wait = 0.25 * (2 ** (attempts - 1)) if told is None else told
                left = self._deadline_at - time.monotonic()
                if wait <= min(self._settings.max_retry_wait_s, left - 0.5):
                    await asyncio.sleep(wait)
                    continue
                result.detail = f"Retry-After {wait:.0f}s is beyond what the probe may wait; not retried"
                if told is None:
                    result.detail = "no time left before the deadline to retry"
            return observe(
                spec, item, result, attempts, started, secret=self._secret, settings=self._settings,
                exchange=self._exchanges.next(),
            )

    async def _send_following(self, client: httpx.AsyncClient, spec: ProbeSpec, url: httpx.URL, body: Any) -> Exchange:
        origin = _origin(str(url))
        for _hop in range(4):
            request = client.build_request(
                spec.method,
                url,
                json=body if spec.method == "POST" else None,
                headers={
                    # the provider's scheme as a header template (``{key}`` is the key); a probe that names its
                    # own scheme (Gemini's native x-goog-api-key beside the compatible base's Bearer) sends that
                    **{k: v.replace("{key}", self._secret.reveal()) for k, v in self._auth_headers(spec).items()},
                    "Accept": "application/json",
                },
                extensions={"testkey_cost": spec.cost, "testkey_probe": spec.name},
            )
            self.requests_sent += 1
            response = await client.send(request, stream=True)
            try:
                merged: dict[str, str] = {}
                for k, v in response.headers.multi_items():
                    merged[k.lower()] = f"{merged[k.lower()]}, {v}" if k.lower() in merged else v
                if response.is_redirect:
                    location = urljoin(str(url), response.headers.get("location", ""))
                    if spec.method != "GET":
                        return Exchange(
                            response.status_code, merged,
                            detail=f"a {spec.method} answered {response.status_code} with a redirect: not "
                            "followed (a POST is never re-sent), recorded as asked",
                            redirect="post", location=location,
                        )  # fmt: skip
                    if _origin(location) != origin:
                        return Exchange(
                            response.status_code, merged,
                            detail=f"redirected to another host ({_origin_text(location)}): not followed, the "
                            "key stays with the host you named",
                            redirect="other_host", location=location,
                        )  # fmt: skip
                    url = httpx.URL(location)
                    self._loaded.redirected(str(url))  # a same-origin GET redirect: still a read
                    continue
                raw, truncated = await read_capped(response, self._settings.max_body_bytes)
                return Exchange(response.status_code, merged, raw, truncated)
            finally:
                await response.aclose()
        return Exchange(None, {}, detail="too many redirects", redirect="too_many")

    def _auth_headers(self, spec: ProbeSpec) -> dict[str, str]:
        """The key's headers for ``spec``: its own scheme (and nothing of the session's), else the session's."""
        return spec.auth.headers() if spec.auth is not None else dict(self._settings.auth_headers)

    def _auth_label(self, spec: ProbeSpec) -> str:
        return spec.auth.label if spec.auth is not None else self._settings.auth_label

    async def _guard_hook(self, request: httpx.Request) -> None:
        """The last line of defence: a request leaves only if the loaded plan's spec of its probe allows
        exactly its method and URL at its cost (built from the spec, not from what the engine computed)."""
        self._loaded.check(
            request.method, str(request.url), request.extensions.get("testkey_cost"),
            request.extensions.get("testkey_probe"),
        )  # fmt: skip

    def _synthetic(
        self,
        spec: ProbeSpec,
        item: str | None,
        outcome: Outcome,
        detail: str,
        attempts: int = 0,
        started: float | None = None,
    ) -> Observation:
        auth = self._auth_label(spec)
        seen = make_observation(spec, item, outcome=outcome, started=started, attempts=attempts, detail=detail,
                                auth=auth)  # fmt: skip
        # a request that left (a timeout, a network error after sending) is an exchange without an answer
        return replace(seen, exchange=self._exchanges.next()) if attempts > 0 else seen


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.scheme, (parts.hostname or "").lower(), port)


def _origin_text(url: str) -> str:
    scheme, host, port = _origin(url)
    return f"{scheme}://{host}:{port}"


def _path_quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
