"""The ASGI app and state that play one provider's host from its `Host` data.

One mode per key: ``valid``, ``no-balance``, ``no-plan`` and ``rate-limited`` keys are accepted (the catalog and
the identity/balance reads answer 200; the chat route answers per mode), a ``bad-key`` key is unknown to the host, a
``geo-blocked`` key gets the route block on every path. A key sent in another scheme than the route's (the host's,
or the route's own: Gemini's native list takes ``x-goog-api-key`` or ``?key=`` beside a Bearer base) is not seen as
a key: the host answers as it answers a request without one. A route may need query parameters (Azure's classic
paths and ``api-version``). Every request is logged without the key (its digest only is compared; the log holds the
mode label); only a completion the host makes is ``billable``, HTTP-200 error envelopes included.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from testkey_nb.emulator.providers.host import (
    ACCEPTED_MODES,
    BLOCKED_MODES,
    REFUSING_MODES,
    Answer,
    Host,
    RenderContext,
    Route,
    key_rng,
    render,
)
from testkey_nb.emulator.state import RequestLog, RequestLogEntry, key_digest

JSON = "application/json"
_MAX_BODY = 1 << 20


class ProviderState(RequestLog):
    """Keys (as digests) per mode, the request log and the fixed clock of one provider emulator."""

    def __init__(self, host: Host, seed: int | None, now: datetime) -> None:
        self.host = host
        self.now = now
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        RequestLog.__init__(self)
        rng = key_rng(host.id, seed)
        self._generated = {mode: host.key.make(rng) for mode in host.modes}
        self._modes: dict[bytes, str] = {}
        for mode, key in self._generated.items():
            self.add_key(key, mode)

    @property
    def generated_keys(self) -> dict[str, str]:
        return dict(self._generated)

    def add_key(self, key: str, mode: str) -> None:
        """Register a key (e.g. a canary) that behaves like the mode's key; ``bad-key`` stays unknown."""
        if mode not in self.host.modes:
            raise ValueError(f"unknown mode {mode!r} for {self.host.id}; known: {', '.join(self.host.modes)}")
        if not key or any(c.isspace() for c in key):
            raise ValueError("a key must be non-empty and contain no whitespace")
        if mode in ACCEPTED_MODES or mode in BLOCKED_MODES:
            with self._lock:
                self._modes[key_digest(key)] = mode

    def mode_of(self, key: str) -> str | None:
        with self._lock:
            return self._modes.get(key_digest(key))

    def set_faults(self, faults: Any) -> None:
        if tuple(faults):
            raise ValueError("fault injection is served by the Baseten emulator only (provider='baseten')")


@dataclass(frozen=True)
class _Auth:
    scheme: str | None  # "Bearer" | "x-api-key" | "api-key" | "x-goog-api-key" | None, as sent
    key: str | None  # the key in the host's own scheme, else None
    wrong_scheme: bool  # a key came in the other scheme
    has_version: bool


def _read_auth(host: Host, scheme: str, request: Request) -> _Auth:
    """The key as the route's ``scheme`` carries it; a key in another scheme is the wrong one (not a key)."""
    header = (request.headers.get("authorization") or "").strip()
    kind, _, value = header.partition(" ")
    bearer = value.strip() if kind.lower() == "bearer" and value.strip() else None
    api_key = (request.headers.get("x-api-key") or "").strip() or None
    version_ok = host.version_header is None or request.headers.get(host.version_header[0]) is not None
    if scheme in ("api-key", "x-goog-api-key"):  # Azure OpenAI; Gemini's native API (header, or ?key=)
        own = (request.headers.get(scheme) or "").strip() or None
        if own is None and scheme == "x-goog-api-key":
            own = (request.query_params.get("key") or "").strip() or None
        if own is not None:
            return _Auth(scheme, own, False, version_ok)
        other = "Bearer" if bearer else "x-api-key" if api_key else None
        return _Auth(other, None, other is not None, version_ok)
    if scheme == "x-api-key":
        if api_key is not None:
            return _Auth("x-api-key", api_key, False, version_ok)
        return _Auth("Bearer" if bearer else None, None, bearer is not None, version_ok)
    if bearer is not None:
        return _Auth("Bearer", bearer, False, version_ok)
    return _Auth("x-api-key" if api_key else None, None, api_key is not None, version_ok)


class ProviderApp:
    """ASGI callable for one provider host; all state lives in the `ProviderState`."""

    def __init__(self, state: ProviderState) -> None:
        self.state = state
        self.host = state.host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        method = request.method.upper()
        path, route_of_host = _route_prefix(scope["path"])
        served, _ = self.host.route_for(method, path)
        auth = _read_auth(self.host, self.host.auth_for(served), request)
        mode = self.state.mode_of(auth.key) if auth.key is not None else None
        payload = await _json_body(request) if method == "POST" else None
        ctx = RenderContext(now=datetime.now(UTC), key=auth.key, model=_model(payload), vars=self.host.vars)
        try:
            query = set(request.query_params)
            route, answer, extra = self._choose(method, path, query, auth, mode, payload, route_of_host)
        except Exception:  # never leak anything request-derived in an error
            route, answer, extra = None, Answer(500, {"error": "Internal Server Error"}), {}
        completion = answer is None
        if answer is None:
            answer = Answer(200, _completion(self.host, route, ctx))
        headers = self._headers(route, mode, answer, extra, ctx)
        if answer.raw is not None:
            body_bytes = answer.raw.encode()
        else:
            body_bytes = self.host.encode(render(answer.body, ctx), answer.indent)
        cost = _cost(method, route, completion)
        label = mode if mode is not None else ("unknown" if auth.key is not None else None)
        self.state.log(RequestLogEntry(method, self.host.id, path, answer.status, auth.scheme, label, None, cost))
        del auth, ctx  # the key goes no further
        response = Response(content=b"" if method == "HEAD" else body_bytes, status_code=answer.status)
        response.raw_headers = [(b"content-length", str(len(body_bytes)).encode()),
                                *[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]]  # fmt: skip
        await response(scope, receive, send)

    # choice -------------------------------------------------------------------------------------
    def _choose(
        self, method: str, path: str, query: set[str], auth: _Auth, mode: str | None, payload: Any,
        route_of_host: str | None = None,
    ) -> tuple[Route | None, Answer | None, dict[str, str]]:
        """(route, answer, extra headers); answer None = a completion (accepted key, non-empty messages)."""
        host = self.host
        route, known = host.route_for(method, path)
        if route is None:
            name = "method_not_allowed" if known else "not_found"
            fallback = Answer(405 if known else 404, {"error": "Method Not Allowed" if known else "Not Found"})
            return None, host.answers.get(name, fallback), {}
        if not set(route.query_required) <= query:  # Azure's classic paths exist only with ?api-version=
            return route, host.answer(f"{route.name}.no_query", "no_query"), {}
        if mode in BLOCKED_MODES:  # the provider blocks the route (a region) before it looks at the key
            return route, host.answer("geo_blocked"), {}
        if route.public and (auth.key is None or mode is not None or not route.public_rejects_bad_key):
            return route, host.answer(route.name), {}
        if auth.key is None:
            wrong = auth.wrong_scheme and any(n in host.answers for n in (f"{route.name}.wrong_scheme", "wrong_scheme"))
            refusal = "wrong_scheme" if wrong else "missing"
            return route, host.answer(f"{route.name}.{refusal}", refusal), {}
        if mode is None:
            return route, host.answer(f"{route.name}.unauthorized", "unauthorized"), {}
        if not auth.has_version:
            return route, host.answer("no_version"), {}
        if route.kind in ("chat", "messages"):
            limits = dict(host.rate_limit_headers.get(mode) or host.rate_limit_headers.get("valid") or {})
            if mode in REFUSING_MODES:
                return route, host.answer(f"{route.name}.{mode}"), limits
            model = payload.get("model") if isinstance(payload, dict) else None
            unknown = f"{route.name}.unknown_model"
            if isinstance(model, str) and model and not host.knows_model(model) and unknown in host.answers:
                return route, host.answer(unknown), limits
            messages = payload.get("messages") if isinstance(payload, dict) else None
            if not isinstance(messages, list) or not messages:
                return route, host.answer(f"{route.name}.empty"), limits
            return route, None, limits
        regional = f"{route.name}@{route_of_host}"  # a read answered differently on that route's host
        if route_of_host is not None and regional in host.answers:
            return route, host.answers[regional], {}
        return route, host.answer(f"{route.name}.{mode}", route.name), {}

    def _headers(
        self, route: Route | None, mode: str | None, answer: Answer, extra: dict[str, str], ctx: RenderContext
    ) -> list[tuple[str, str]]:
        merged: dict[str, str] = {"content-type": JSON}
        merged.update(self.host.headers)
        if mode is not None and route is not None and not route.public:
            merged.update(self.host.accepted_headers)
        merged.update(extra)
        merged.update(answer.headers)
        return [(k, render(v, ctx)) for k, v in merged.items()]


def _route_prefix(path: str) -> tuple[str, str | None]:
    """``/_route/<route>/<path>`` plays that route's host (SiliconFlow's .cn) on the same port: (path, route)."""
    if not path.startswith("/_route/"):
        return path, None
    route, _, rest = path.removeprefix("/_route/").partition("/")
    return "/" + rest, route or None


async def _json_body(request: Request) -> Any:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > _MAX_BODY:
            return None
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _model(payload: Any) -> str:
    model = payload.get("model") if isinstance(payload, dict) else None
    return model if isinstance(model, str) else ""


def _cost(method: str, route: Route | None, completion: bool) -> str:
    """read (a GET, or a read-only POST such as Cohere's check-api-key), billable (a completion was made),
    rejected (a model call answered from data: a refusal, HTTP-200 error envelopes included), else write."""
    if method in ("GET", "HEAD", "OPTIONS") or (route is not None and route.kind == "read"):
        return "read"
    if route is not None and route.kind in ("chat", "messages"):
        return "billable" if completion else "rejected"
    return "write"


def _completion(host: Host, route: Route | None, ctx: RenderContext) -> dict[str, Any]:
    """A minimal answer for an accepted chat with messages (billable; probes never send one)."""
    text = f"Hello from the {host.display_name} emulator."
    model = ctx.model or "model"
    if route is not None and route.kind == "messages":
        return {"id": "msg_" + ctx.value("b58", "24"), "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": 8, "output_tokens": 7}}  # fmt: skip
    return {"id": "chatcmpl-" + ctx.value("alnum", "24"), "object": "chat.completion",
            "created": int(ctx.now.timestamp()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 8, "completion_tokens": 7, "total_tokens": 15}}  # fmt: skip

