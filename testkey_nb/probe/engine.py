"""The read-only probe engine: declared probes in, one :class:`Observation` per HTTP exchange out.

Probes are data (``providers/*/probes.toml``). The engine runs independent probes concurrently and
starts a dependent one (``after``) as soon as the probe it needs has finished. Every exchange has a
per-request timeout and the whole run an overall deadline; 429 and 5xx are retried a bounded number
of times, honouring ``Retry-After``; bodies are capped; a redirect to another origin is never
followed with the key. A guard in the client makes a write impossible: only GET, POSTs of cost
``rejected`` (an empty message list, ``max_tokens`` 1), and ``billable`` POSTs when the caller
passed ``allow_billable=True`` ever leave the machine.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from testkey_nb.probe.guard import CHAT_PATHS, WriteRefused, check_allowed
from testkey_nb.probe.observation import Observation, Outcome, make_observation, outcome_for, scrub
from testkey_nb.probe.plan import ForEach, ProbeSettings, ProbeSpec, Targets
from testkey_nb.secrets import Secret, redact

__all__ = ["ProbeEngine", "retry_after_seconds"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_SNIPPET_BYTES = 2048


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse ``Retry-After`` as delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


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
    """Runs probe plans for one key against the named targets."""

    def __init__(
        self,
        secret: Secret,
        targets: Targets,
        settings: ProbeSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        now: datetime | None = None,
    ) -> None:
        self._secret = secret
        self._targets = targets
        self._settings = settings or ProbeSettings()
        self._transport = transport
        self._now = now or datetime.now(UTC)
        self.requests_sent = 0
        self._deadline_at = 0.0
        self._auth_headers: Mapping[str, str] = self._settings.auth_headers
        self._auth_label = self._settings.auth_label

    # -- public ------------------------------------------------------------------------------------
    async def run(
        self,
        plan: Sequence[ProbeSpec],
        prior: Sequence[Observation] = (),
        *,
        auth: tuple[str, Mapping[str, str]] | None = None,
    ) -> list[Observation]:
        """Run ``plan``; ``prior`` holds observations of earlier stages that ``after`` may name.

        ``auth`` (label, header templates) presents the key in another scheme from this stage on."""
        if auth is not None:
            self._auth_label, self._auth_headers = auth[0], dict(auth[1])
        if not self._deadline_at:
            self._deadline_at = time.monotonic() + self._settings.deadline_s
        done: dict[str, list[Observation]] = {}
        for obs in prior:
            done.setdefault(obs.probe, []).append(obs)
        events = {spec.name: asyncio.Event() for spec in plan}
        for name in done:
            events.setdefault(name, asyncio.Event()).set()
        sem = asyncio.Semaphore(self._settings.max_concurrency if self._settings.concurrent else 1)
        results: dict[str, list[Observation]] = {}
        limits = httpx.Limits(max_connections=self._settings.max_concurrency)
        async with httpx.AsyncClient(
            transport=self._transport,
            follow_redirects=False,
            limits=limits,
            timeout=httpx.Timeout(self._settings.timeout_s),
            event_hooks={"request": [self._guard_hook]},
            headers={"User-Agent": "testkey-nb/0.1 (read-only probe)"},
        ) as client:
            if self._settings.concurrent:
                tasks = [asyncio.create_task(self._run_spec(client, spec, done, events, results, sem)) for spec in plan]
            else:

                async def one_after_another() -> None:
                    for spec in plan:
                        await self._run_spec(client, spec, done, events, results, sem)

                tasks = [asyncio.create_task(one_after_another())]
            remaining = max(0.0, self._deadline_at - time.monotonic()) + 1.0
            _, pending = await asyncio.wait(tasks, timeout=remaining)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        out: list[Observation] = []
        for spec in plan:
            got = results.get(spec.name)
            out.extend(
                got if got is not None else [self._synthetic(spec, None, "deadline", "overall deadline reached")]
            )
        return out

    # -- one declared probe --------------------------------------------------------------------
    async def _run_spec(
        self,
        client: httpx.AsyncClient,
        spec: ProbeSpec,
        done: dict[str, list[Observation]],
        events: Mapping[str, asyncio.Event],
        results: dict[str, list[Observation]],
        sem: asyncio.Semaphore,
    ) -> None:
        try:
            if spec.after:
                event = events.get(spec.after)
                if event is None:
                    results[spec.name] = [self._synthetic(spec, None, "skipped", f"needs {spec.after}, not in plan")]
                    return
                await event.wait()
            skip = self._skip_reason(spec) or self._skipped_by_earlier(spec, done)
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
                async with sem:
                    seen = await self._exchange(client, spec, item)
                return replace(seen, placeholder=True) if placeholder else seen

            try:
                obs = list(await asyncio.gather(*(one(i) for i in items)))
            except WriteRefused as exc:  # the client's last line of defence fired: a plan bug, never sent
                obs = [self._synthetic(spec, None, "skipped", f"refused by the write guard: {exc}")]
            results[spec.name] = obs
            done[spec.name] = obs
        finally:
            if spec.name in events:
                events[spec.name].set()

    def _skip_reason(self, spec: ProbeSpec) -> str | None:
        if self._targets.url_for(spec.role) is None:
            return self._targets.reasons.get(spec.role, f"no {spec.role} URL")
        if spec.cost == "billable" and not self._settings.allow_billable:
            return "billable: runs only with --allow-billable"
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
        if hit is None:
            return None
        return f"not sent: {rule.probe} was {hit.outcome} ({hit.status}); every further call would be too"

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
    async def _exchange(self, client: httpx.AsyncClient, spec: ProbeSpec, item: str | None) -> Observation:
        base = self._targets.url_for(spec.role)
        assert base is not None
        values = {
            "item": item or "",
            "usage_start": (self._now - timedelta(days=self._settings.usage_days)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "usage_end": self._now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        path = _fill(spec.path, {"item": _path_quote(item or "")})
        if spec.from_root:
            parts = urlsplit(base)
            base = f"{parts.scheme}://{parts.netloc}"
        url = base.rstrip("/") + path
        params = _fill(dict(spec.params), values) if spec.params else None
        body = _fill(dict(spec.body), values) if spec.body is not None else None
        started = time.monotonic()
        attempts = 0
        while True:
            left = self._deadline_at - time.monotonic()
            if left <= 0:
                return self._synthetic(spec, item, "deadline", "overall deadline reached", attempts, started)
            attempts += 1
            try:
                result = await asyncio.wait_for(
                    self._send_following(client, spec, url, params, body),
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
            status, headers, raw, truncated, detail = result
            if status is not None and status in RETRY_STATUSES and attempts <= self._settings.max_retries:
                told = retry_after_seconds(headers.get("retry-after"))
                wait = 0.25 * (2 ** (attempts - 1)) if told is None else told
                left = self._deadline_at - time.monotonic()
                if wait <= min(self._settings.max_retry_wait_s, left - 0.5):
                    await asyncio.sleep(wait)
                    continue
                detail = f"Retry-After {wait:.0f}s is beyond what the probe may wait; not retried"
                if told is None:
                    detail = "no time left before the deadline to retry"
            return self._observe(spec, item, status, headers, raw, truncated, detail, attempts, started)

    async def _send_following(
        self,
        client: httpx.AsyncClient,
        spec: ProbeSpec,
        url: str,
        params: Mapping[str, str] | None,
        body: Any,
    ) -> tuple[int | None, dict[str, str], bytes, bool, str | None]:
        origin = _origin(url)
        for _hop in range(4):
            request = client.build_request(
                spec.method,
                url,
                params=params,
                json=body if spec.method == "POST" else None,
                headers={
                    **{k: v.replace("{key}", self._secret.reveal()) for k, v in self._auth_headers.items()},
                    "Accept": "application/json",
                },
                extensions={"testkey_cost": spec.cost},
            )
            self.requests_sent += 1
            response = await client.send(request, stream=True)
            try:
                merged: dict[str, str] = {}
                for k, v in response.headers.multi_items():
                    merged[k.lower()] = f"{merged[k.lower()]}, {v}" if k.lower() in merged else v
                headers = merged
                if response.is_redirect:
                    location = urljoin(url, response.headers.get("location", ""))
                    if _origin(location) != origin:
                        return (
                            response.status_code,
                            headers,
                            b"",
                            False,
                            f"redirected to another host ({_origin_text(location)}): not followed, the key "
                            "stays with the host you named",
                        )
                    url, params = location, None
                    continue
                raw, truncated = await _read_capped(response, self._settings.max_body_bytes)
                return response.status_code, headers, raw, truncated, None
            finally:
                await response.aclose()
        return None, {}, b"", False, "too many redirects"

    async def _guard_hook(self, request: httpx.Request) -> None:
        cost = request.extensions.get("testkey_cost")
        if request.method == "GET" and cost == "read":
            return
        is_chat = request.method == "POST" and request.url.path.endswith(CHAT_PATHS)
        if is_chat and cost == "rejected":
            return
        if is_chat and cost == "billable" and self._settings.allow_billable:
            return
        raise WriteRefused(f"refused to send {request.method} {request.url.path} (cost {cost!r})")

    # -- building observations ------------------------------------------------------------------
    def _observe(
        self,
        spec: ProbeSpec,
        item: str | None,
        status: int | None,
        headers: Mapping[str, str],
        raw: bytes,
        truncated: bool,
        detail: str | None,
        attempts: int,
        started: float,
    ) -> Observation:
        secrets = [self._secret]
        content_type = headers.get("content-type", "")
        parsed: Any = None
        is_json = False
        if raw and not truncated:
            try:
                parsed = json.loads(raw)
                is_json = True
            except (ValueError, UnicodeDecodeError, RecursionError):
                parsed = None
        # redact the whole body before cutting it, so that a key straddling the cut cannot survive
        snippet = None if is_json else redact(raw.decode("utf-8", errors="replace"), secrets)[:_SNIPPET_BYTES] or None
        if status is None:
            outcome: Outcome = "network"
        elif truncated:
            outcome = "too_large"
            detail = detail or f"body larger than {self._settings.max_body_bytes} bytes: stopped reading"
        elif 300 <= status < 400:
            outcome = "redirect_other_host"
        else:
            outcome = outcome_for(status, content_type, is_json)
            if outcome == "bad_json":
                detail = detail or ("empty body" if not raw else "body is not valid JSON")
        accepted: bool | None
        if spec.cost in ("rejected", "billable"):
            # the expected error class: the expected status AND a JSON body (a proxy's text 400 is not it)
            accepted = status in spec.expect and is_json and outcome not in ("waf_html", "too_large")
        else:
            accepted = outcome == "ok"
        return make_observation(
            spec,
            item,
            status=status,
            outcome=outcome,
            accepted=accepted,
            started=started,
            attempts=attempts,
            headers=scrub(dict(headers), secrets),
            json_body=scrub(parsed, secrets),
            text_snippet=snippet,
            body_bytes=len(raw),
            detail=scrub(detail, secrets),
            auth=self._auth_label,
        )

    def _synthetic(
        self,
        spec: ProbeSpec,
        item: str | None,
        outcome: Outcome,
        detail: str,
        attempts: int = 0,
        started: float | None = None,
    ) -> Observation:
        return make_observation(
            spec, item, outcome=outcome, started=started, attempts=attempts, detail=detail, auth=self._auth_label
        )


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


async def _read_capped(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > cap:
            return b"".join(chunks)[:cap], True
    return b"".join(chunks), False
