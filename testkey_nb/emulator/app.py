"""The emulator's ASGI app: one app, four host roles told apart by the local port.

Roles: ``inference`` (like https://inference.baseten.co), ``management`` (like https://api.baseten.co),
``impostor_openai`` (an OpenAI-compatible proxy that says it is OpenAI, serving Baseten-shaped bodies)
and ``impostor_openai_headers`` (OpenAI-style headers and list shape, Baseten ids and errors).

Emulator assumptions, where the recordings and the spec are silent, are marked "Assumption:" below.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from testkey_nb.emulator.catalog import HOSTILE_ENTRIES, HOSTILE_NAME, iso, model_api_item
from testkey_nb.emulator.faults import Fault, is_fault_name
from testkey_nb.emulator.scenarios import INSTANCE_TYPES, WORKSPACES, DedicatedModel, Deployment, Workspace
from testkey_nb.emulator.state import EmulatorState, KeyRecord, RequestLogEntry, key_digest
from testkey_nb.emulator.usage import (
    UsageRangeError,
    deployment_created_at,
    model_created_at,
    usage_summary,
    validate_range,
)

JSON = "application/json"
BAD_KEY_BODY = b'{"error":"please check the api-key you provided"}\n'  # recorded, 50 bytes
TOO_MANY = b'{"error":"Too many requests"}'
CHAT_PATH = "/v1/chat/completions"
INFERENCE_ROLES = ("inference", "impostor_openai", "impostor_openai_headers")

# Assumption: the management API's error bodies are undocumented; {"error": "..."} like the inference
# errors doc. 401 for a missing/unknown/revoked key, 403 for a key type that may not read the endpoint.
MGMT_UNAUTHORIZED = b'{"error":"Invalid API key"}'
MGMT_FORBIDDEN = b'{"error":"This API key does not have permission to perform this action"}'
MGMT_WRITE = b'{"error":"Method not allowed: the Baseten emulator never changes state"}'
NOT_FOUND = b'{"error":"Not Found"}'

# Assumption: the exact 402 text is undocumented (402 = "billing or payment issue" in the errors doc).
NO_CREDITS = (
    b'{"error":"Your workspace has run out of credits and has no payment method. '
    b'Add a payment method to reactivate your models."}'
)
ERROR_5XX = {
    500: "Internal Server Error",
    502: "Error making prediction",
    503: "Model is not ready, please try again later",
    504: "Request timed out",
}
WAF_PAGE = (
    b"<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n"
    b"<center><h1>403 Forbidden</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)
NON_JSON_BODY = b"upstream connect error or disconnect/reset before headers. reset reason: connection termination"

# Assumption: the management host answers with the same Django/gunicorn headers as inference /v1/models.
MGMT_HEADERS = (
    ("Alt-Svc", 'h3=":443"; ma=2592000'),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Referrer-Policy", "same-origin"),
    ("Server", "gunicorn"),
    ("Vary", "Origin, Cookie"),
    ("Via", "1.1 google"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
)

_REPLY_TOKENS = ("Hello", "!", " This", " is", " the", " Baseten", " emulator", ".")
_REASONING_TOKENS = (" The", " user", " wants", " a", " short", " greeting", ".")


@dataclass
class Reply:
    """What a handler answers; role-specific headers are added by `_finalize`.

    ``kind`` picks the base headers: ``gateway`` (inference gateway), ``engine`` (a model answered:
    X-Baseten-* headers), ``catalog`` (the Django app behind /v1/models), ``plain`` (no base headers).
    """

    status: int
    body: bytes = b""
    content_type: str | None = JSON
    kind: str = "gateway"
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Callable[[], AsyncIterator[bytes]] | None = None
    tokens: bool = False  # a chat completion produced tokens (billable)


@dataclass
class Ctx:
    role: str
    method: str
    path: str
    host: str
    port: int
    query: QueryParams
    scheme: str | None
    key_presented: bool
    record: KeyRecord | None
    digest: bytes | None
    path_faults: list[Fault]
    global_faults: list[tuple[int, Fault]]
    applied: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.record is not None and self.record.accepted

    @property
    def can_infer(self) -> bool:
        return self.record is not None and self.record.scenario.can_infer

    @property
    def label(self) -> str | None:
        if self.record is not None:
            return self.record.label
        return "unknown" if self.key_presented else None

    def find(self, kind: str) -> tuple[int | None, Fault] | None:
        """The first fault of this kind: from the path prefix (index None) or the global set."""
        for f in self.path_faults:
            if f.kind == kind:
                return None, f
        for i, f in self.global_faults:
            if f.kind == kind:
                return i, f
        return None

    def use(self, kind: str) -> bool:
        """Whether a flag-like fault (hostile_strings, enforce_rate_limits) is on; marks it applied."""
        if self.find(kind) is None:
            return False
        self.mark(kind)
        return True

    def mark(self, name: str) -> None:
        if name not in self.applied:
            self.applied.append(name)


def _json(data: Any, status: int = 200, kind: str = "plain") -> Reply:
    return Reply(status, json.dumps(data).encode("utf-8"), kind=kind)


def _short_id(seed: str, n: int) -> str:
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    value = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:16], "big")
    out = []
    for _ in range(n):
        value, r = divmod(value, 36)
        out.append(alphabet[r])
    return "".join(out)


def _parse_auth(header: str | None) -> tuple[str | None, str | None]:
    """``Authorization`` -> (scheme, key). Accepts ``Bearer`` and the legacy ``Api-Key``."""
    if not header:
        return None, None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    lowered = scheme.lower()
    if lowered == "bearer" and value:
        return "Bearer", value
    if lowered == "api-key" and value:
        return "Api-Key", value
    return None, None


def _classify(method: str, path: str, reply: Reply | None) -> str:
    if method in ("GET", "HEAD", "OPTIONS"):
        return "read"
    if method == "POST" and path == CHAT_PATH:
        return "billable" if reply is not None and reply.tokens else "rejected"
    return "write"


class EmulatorApp:
    """ASGI callable; all state lives in the `EmulatorState` it is given."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    # ASGI entry ---------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        server = scope.get("server") or ("127.0.0.1", 0)
        port = int(server[1] or 0)
        role = self.state.roles_by_port.get(port, "inference")
        method = request.method.upper()
        path = scope["path"]
        path_faults: list[Fault] = []
        while path.startswith("/_fault/"):
            name, _, rest = path[len("/_fault/") :].partition("/")
            if not is_fault_name(name):
                reply = Reply(404, b'{"error":"unknown fault"}', kind="plain")
                await self._send(scope, receive, send, role, reply, self._entry(method, role, path, reply))
                return
            path_faults.append(Fault(name))
            path = "/" + rest
        scheme, key = _parse_auth(request.headers.get("authorization"))
        record = self.state.lookup(key) if key is not None else None
        ctx = Ctx(
            role=role,
            method=method,
            path=path,
            host=(request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]").lower(),
            port=port,
            query=request.query_params,
            scheme=scheme,
            key_presented=key is not None,
            record=record,
            digest=key_digest(key) if key is not None else None,
            path_faults=path_faults,
            global_faults=self.state.faults_for(role),
        )
        del key  # only the digest and the record go further
        try:
            reply = await self._handle(ctx, request)
        except Exception:  # never leak details (or anything request-derived) in an error
            reply = Reply(500, b'{"error":"Internal Server Error"}', kind="gateway")
        entry = RequestLogEntry(
            method=method,
            host_role=role,
            path=path,
            status=reply.status,
            auth_scheme=scheme,
            key_label=ctx.label,
            fault="+".join(ctx.applied) or None,
            cost=_classify(method, path, reply),
        )
        await self._send(scope, receive, send, role, reply, entry)

    def _entry(self, method: str, role: str, path: str, reply: Reply) -> RequestLogEntry:
        return RequestLogEntry(method, role, path, reply.status, None, None, None, _classify(method, path, None))

    async def _send(
        self, scope: Scope, receive: Receive, send: Send, role: str, reply: Reply, entry: RequestLogEntry
    ) -> None:
        self.state.log(entry)  # before sending, so a client that got the answer also finds the entry
        headers = self._finalize(role, reply)
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        response: Response
        if reply.stream is not None:
            response = StreamingResponse(reply.stream(), status_code=reply.status)
            response.raw_headers = raw
        else:
            response = Response(content=reply.body, status_code=reply.status)
            response.raw_headers = [(b"content-length", str(len(reply.body)).encode()), *raw]
        await response(scope, receive, send)

    # headers per role ---------------------------------------------------------------------------
    def _finalize(self, role: str, reply: Reply) -> list[tuple[str, str]]:
        recorded = self.state.catalog.headers
        base: list[tuple[str, str]] = []
        if role == "inference":
            if reply.kind == "gateway":
                base = [(k, v) for k, v in recorded["gateway_error"]]
            elif reply.kind == "engine":
                base = [(k, v) for k, v in recorded["chat"]]
            elif reply.kind == "catalog":
                base = [(k, v) for k, v in recorded["models"]]
        elif role == "management" and reply.kind != "plain":
            base = list(MGMT_HEADERS)
        elif role == "impostor_openai_headers":
            base = _openai_headers()
        base = [(k, v) for k, v in base if k.lower() != "content-type"]
        extra = reply.headers
        if role != "inference":
            extra = [(k, v) for k, v in extra if not k.lower().startswith("x-baseten-")]
        content_type = [("Content-Type", reply.content_type)] if reply.content_type else []
        return content_type + base + extra

    # pipeline -----------------------------------------------------------------------------------
    async def _handle(self, ctx: Ctx, request: Request) -> Reply:
        early = await self._pre_faults(ctx)
        if early is not None:
            return early
        if ctx.role == "management":
            reply = await self._management(ctx)
        else:
            reply = await self._inference(ctx, request)
        if ctx.find("truncated_json") is not None and reply.stream is None and reply.body:
            ctx.mark("truncated_json")
            reply.body = reply.body[: len(reply.body) // 2]
        return reply

    async def _pause(self, seconds: float) -> None:
        """Sleep up to ``seconds``, returning early when the server is stopping."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while not self.state.stopping.is_set():
            remaining = end - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(0.05, remaining))

    async def _pre_faults(self, ctx: Ctx) -> Reply | None:
        found = ctx.find("redirect_other_host")
        # Only redirect requests addressed to 127.0.0.1, so the target (localhost) answers normally.
        if found is not None and ctx.host != "localhost":
            ctx.mark(found[1].name)
            query = f"?{ctx.query}" if str(ctx.query) else ""
            location = f"http://localhost:{ctx.port}{ctx.path}{query}"
            body = f'<a href="{location}">Found</a>.\n'.encode()
            return Reply(302, body, content_type="text/html; charset=utf-8", kind="plain",
                         headers=[("Location", location)])
        found = ctx.find("latency")
        if found is not None:
            ctx.mark(found[1].name)
            await self._pause(found[1].effective_ms / 1000)
        found = ctx.find("hang")
        if found is not None:
            ctx.mark(found[1].name)
            await self._pause(found[1].effective_seconds)
        for f in ctx.path_faults:
            if f.kind == "rate_limit_burst":
                return self._burst_reply(ctx, f)
        for i, f in ctx.global_faults:
            if f.kind == "rate_limit_burst" and self.state.take_burst(i):
                return self._burst_reply(ctx, f)
        found = ctx.find("http_5xx")
        if found is not None:
            fault = found[1]
            ctx.mark(fault.name)
            status = fault.effective_status
            message = ERROR_5XX.get(status, "Internal Server Error")
            return Reply(status, json.dumps({"error": message}).encode())
        found = ctx.find("waf_html")
        if found is not None:
            ctx.mark(found[1].name)
            return Reply(403, WAF_PAGE, content_type="text/html", kind="plain",
                         headers=[("Server", "cloudflare"), ("Cf-Ray", f"{secrets.token_hex(8)}-FRA")])
        found = ctx.find("non_json")
        if found is not None:
            ctx.mark(found[1].name)
            return Reply(200, NON_JSON_BODY)
        found = ctx.find("huge_body")
        if found is not None:
            ctx.mark(found[1].name)
            return Reply(200, stream=self._huge_stream(found[1].effective_size_bytes))
        return None

    def _burst_reply(self, ctx: Ctx, fault: Fault) -> Reply:
        ctx.mark(fault.name)
        headers = [("Retry-After", str(fault.retry_after))] if fault.retry_after is not None else []
        return Reply(429, TOO_MANY, headers=headers)

    def _huge_stream(self, size: int) -> Callable[[], AsyncIterator[bytes]]:
        head, tail = b'{"data": [', b'{"id": "end"}]}'
        item = b'{"id": "filler/model", "object": "model", "owned_by": "baseten", "context_length": 128000}, '
        chunk = item * max(1, 65536 // len(item))
        stopping = self.state.stopping

        async def generate() -> AsyncIterator[bytes]:
            if size < len(head) + len(tail):
                yield (head + tail)[:size]
                return
            count = (size - len(head) - len(tail)) // len(item)
            pad = size - len(head) - len(tail) - count * len(item)
            yield head
            full, rest = divmod(count, len(chunk) // len(item))
            for _ in range(full):
                if stopping.is_set():
                    return
                yield chunk
                await asyncio.sleep(0)
            yield item * rest + b" " * pad + tail

        return generate

    # inference-like roles -----------------------------------------------------------------------
    def _scope(self, ctx: Ctx) -> tuple[str, ...] | None:
        assert ctx.record is not None
        sc = ctx.record.scenario
        return sc.model_ids if sc.key_type == "WORKSPACE_INVOKE" and sc.model_ids else None

    async def _inference(self, ctx: Ctx, request: Request) -> Reply:
        bad_key = Reply(403, BAD_KEY_BODY)
        # Assumption: /v1/models needs an inference-capable key (the recording strips Authorization).
        if ctx.path == "/v1/models":
            if not ctx.can_infer:
                return bad_key
            if ctx.method not in ("GET", "HEAD"):
                return Reply(405, b'{"error":"Method Not Allowed"}')
            return self._catalog(ctx)
        if ctx.path == CHAT_PATH:
            if not ctx.can_infer:
                return bad_key
            if ctx.method != "POST":
                return Reply(405, b'{"error":"Method Not Allowed"}')
            return await self._chat(ctx, request)
        if not ctx.can_infer:
            return bad_key
        return Reply(404, NOT_FOUND)

    def _catalog(self, ctx: Ctx) -> Reply:
        catalog = self.state.catalog
        hostile = ctx.use("hostile_strings")
        scope = self._scope(ctx)
        if ctx.role == "inference":
            return Reply(200, catalog.body(scope, hostile=hostile), kind="catalog")
        items = catalog.items(scope, hostile=hostile)
        if ctx.role == "impostor_openai":
            for item in items:
                item["owned_by"] = "openai"
            return _json({"data": items})
        return _json({"object": "list", "data": items})

    def _engine_headers(self, model: str) -> list[tuple[str, str]]:
        request_id = secrets.token_hex(19)[:37]
        return [
            ("X-Baseten-Accepted-At", str(int(time.time() * 1000))),
            ("X-Baseten-Model-Id", _short_id(f"model:{model}", 8)),
            ("X-Baseten-Model-Prediction-Attempts", "1"),
            ("X-Baseten-Model-Version-Id", _short_id(f"version:{model}", 7)),
            ("X-Baseten-Request-Id", request_id),
            ("X-Baseten-Session-Id", request_id),
        ]

    async def _chat(self, ctx: Ctx, request: Request) -> Reply:
        assert ctx.record is not None and ctx.digest is not None
        sc = ctx.record.scenario
        try:
            payload = json.loads(await request.body() or b"null")
        except (ValueError, UnicodeDecodeError):
            # Assumption: an unparseable body is refused by the gateway before routing.
            return Reply(400, b'{"error":"Invalid JSON in request body"}')
        model = payload.get("model") if isinstance(payload, dict) else None
        scope = self._scope(ctx)
        callable_models = scope if scope is not None else self.state.catalog.ids
        if not isinstance(model, str) or model not in callable_models:
            return Reply(403, BAD_KEY_BODY)  # recorded for a bad model (errors_bad_model_GenSync.yaml)
        assert isinstance(payload, dict)
        ws = WORKSPACES[sc.workspace] if sc.workspace else None
        # Assumption: billing and workspace rate limits are enforced by the gateway, before the engine
        # validates the body, so they answer even a request built to be refused.
        if ws is not None and ws.chat_state == "no_credits":
            return Reply(402, NO_CREDITS)
        if ws is not None and ws.chat_state == "rate_limited":
            return Reply(429, TOO_MANY, headers=[("Retry-After", "2")])
        enforce = ctx.use("enforce_rate_limits")
        wait = self.state.admit_chat(ctx.digest, ws.tier.rpm if ws else 60, enforce)
        if wait is not None:
            # Assumption: Retry-After is undocumented for Model APIs 429s; sent here as whole seconds.
            return Reply(429, TOO_MANY, headers=[("Retry-After", str(max(1, math.ceil(wait))))])
        engine_headers = self._engine_headers(model)
        error = _validate_chat(payload)
        if error is not None:
            body = json.dumps({"error": {"code": 400, "message": error, "type": "Bad Request"}}, indent="\t")
            return Reply(400, body.encode(), kind="engine", headers=engine_headers)
        return self._completion(model, payload, engine_headers)

    def _completion(self, model: str, payload: dict[str, Any], headers: list[tuple[str, str]]) -> Reply:
        entry = self.state.catalog.entry(model) or {}
        reasoning_model = "reasoning" in entry.get("supported_features", [])
        budget = payload.get("max_completion_tokens") or payload.get("max_tokens") or 1_000_000
        reasoning = _REASONING_TOKENS[: min(len(_REASONING_TOKENS), budget)] if reasoning_model else ()
        content = _REPLY_TOKENS[: max(0, min(len(_REPLY_TOKENS), budget - len(reasoning)))]
        truncated = len(reasoning) + len(content) < len(_REPLY_TOKENS) + (
            len(_REASONING_TOKENS) if reasoning_model else 0
        )
        messages = payload["messages"]
        prompt_tokens = 8 + sum(
            4 + len(str(m.get("content", "")) if isinstance(m, dict) else str(m)) // 4 for m in messages
        )
        completion_tokens = len(reasoning) + len(content)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 0},
            "completion_tokens_details": {"accepted_prediction_tokens": 0, "audio_tokens": 0,
                                          "reasoning_tokens": len(reasoning), "rejected_prediction_tokens": 0},
        }
        completion_id = f"chatcmpl-{secrets.token_hex(16)}"
        created = int(time.time())
        finish = "length" if truncated else "stop"
        if payload.get("stream") is True:
            return Reply(200, content_type="text/event-stream", kind="engine",
                         headers=[("Cache-Control", "no-cache"), *headers], tokens=True,
                         stream=_sse(completion_id, created, model, reasoning, content, finish, usage))
        body = {
            "id": completion_id,
            "choices": [
                {
                    "index": 0,
                    "message": {"content": "".join(content) or None, "role": "assistant",
                                "reasoning_content": "".join(reasoning) or None},
                    "finish_reason": finish,
                }
            ],
            "created": created,
            "model": model,
            "object": "chat.completion",
            "usage": usage,
        }
        return Reply(200, json.dumps(body, separators=(",", ":")).encode(), kind="engine", headers=headers,
                     tokens=True)

    # management role ----------------------------------------------------------------------------
    async def _management(self, ctx: Ctx) -> Reply:
        if not ctx.accepted:
            return Reply(401, MGMT_UNAUTHORIZED)
        if ctx.method not in ("GET", "HEAD"):
            return Reply(405, MGMT_WRITE)
        assert ctx.record is not None
        for pattern, permission, handler in _MGMT_ROUTES:
            match = pattern.match(ctx.path)
            if match is None:
                continue
            if not _allowed(ctx.record, permission):
                return Reply(403, MGMT_FORBIDDEN)
            return handler(self, ctx, **match.groupdict())
        return Reply(404, NOT_FOUND)

    def _workspace(self, ctx: Ctx) -> Workspace:
        assert ctx.record is not None and ctx.record.scenario.workspace is not None
        return WORKSPACES[ctx.record.scenario.workspace]

    def m_me(self, ctx: Ctx) -> Reply:
        # Assumption: for a team key, /users/me describes the user who created the key.
        ws = self._workspace(ctx)
        user = ws.user(ctx.record.scenario.user_email if ctx.record else None) or ws.users[0]
        name = HOSTILE_NAME if ctx.use("hostile_strings") else user.name
        return _json({"user_id": user.user_id, "email": user.email, "name": name, "workspace_name": ws.name})

    def m_users(self, ctx: Ctx) -> Reply:
        ws = self._workspace(ctx)
        items = [{"user_id": u.user_id, "email": u.email, "name": u.name, "workspace_name": ws.name}
                 for u in ws.users]
        return _json({"items": items, "pagination": {"has_more": False, "cursor": None}})

    def m_api_keys(self, ctx: Ctx) -> Reply:
        # Assumption: the caller sees every live key of its workspace (plus decoys not in emu.keys);
        # revoked keys are gone; model_ids only for WORKSPACE_EXPORT_METRICS / WORKSPACE_INVOKE.
        ws = self._workspace(ctx)
        keys = []
        for rec in self.state.listed_keys(ws.name):
            sc = rec.scenario
            item: dict[str, Any] = {"prefix": rec.prefix, "name": sc.key_name, "type": sc.key_type}
            if sc.key_type in ("WORKSPACE_EXPORT_METRICS", "WORKSPACE_INVOKE"):
                item["model_ids"] = list(sc.model_ids or ())
            item["team_name"] = None if sc.key_type == "PERSONAL" else ws.team_name
            keys.append(item)
        for name, key_type in ws.decoy_keys:
            prefix = self.state.decoy_prefixes[(ws.name, name)]
            keys.append({"prefix": prefix, "name": name, "type": key_type, "team_name": ws.team_name})
        return _json({"keys": keys})

    def _model_api_items(self, ctx: Ctx) -> list[dict[str, Any]]:
        ws = self._workspace(ctx)
        usage = self.state.usage(ws.name)
        entries = list(self.state.catalog.entries)
        if ctx.use("hostile_strings"):
            entries.extend(HOSTILE_ENTRIES)
        invoke_url = self.state.origins.get("inference", "")
        # Assumption: invoke_url points at the emulator's inference host (real: https://inference.baseten.co).
        return [
            model_api_item(e, invoke_url=invoke_url, rpm=ws.tier.rpm, tpm=ws.tier.tpm,
                           used=usage.model_api_days(e["id"]))
            for e in entries
        ]

    def m_model_apis(self, ctx: Ctx) -> Reply:
        items = self._model_api_items(ctx)
        if ctx.query.get("added_only", "").lower() in ("1", "true", "yes"):
            items = [i for i in items if i["org_details"] is not None]
        return _json({"items": items, "pagination": {"has_more": False, "cursor": None}})

    def m_model_api(self, ctx: Ctx, name: str) -> Reply:
        item = next((i for i in self._model_api_items(ctx) if i["name"] == name), None)
        return _json(item) if item is not None else Reply(404, b'{"error":"Model API not found"}', kind="plain")

    def m_usage(self, ctx: Ctx) -> Reply:
        ws = self._workspace(ctx)
        try:
            start, end = validate_range(ctx.query.get("start_date"), ctx.query.get("end_date"))
        except UsageRangeError as exc:
            return _json({"error": str(exc)}, status=400)
        return _json(usage_summary(ws, self.state.usage(ws.name), start, end))

    def _visible_models(self, ctx: Ctx) -> list[DedicatedModel]:
        ws = self._workspace(ctx)
        assert ctx.record is not None
        sc = ctx.record.scenario
        models = list(ws.models)
        # Assumption: a metrics-only key scoped to model ids sees only those models.
        if sc.key_type == "WORKSPACE_EXPORT_METRICS" and sc.model_ids:
            models = [m for m in models if m.id in sc.model_ids]
        return models

    def _model_json(self, ctx: Ctx, model: DedicatedModel) -> dict[str, Any]:
        ws = self._workspace(ctx)
        prod = next((d for d in model.deployments if d.is_production), None)
        dev = next((d for d in model.deployments if d.is_development), None)
        shown = prod or model.deployments[0]
        return {
            "id": model.id,
            "created_at": iso(model_created_at(model, self.state.now)),
            "name": model.name,
            "deployments_count": len(model.deployments),
            "production_deployment_id": prod.id if prod else None,
            "development_deployment_id": dev.id if dev else None,
            "instance_type_name": shown.instance_type,
            "team_name": ws.team_name,
        }

    def _deployment_json(self, model: DedicatedModel, dep: Deployment) -> dict[str, Any]:
        scaling = dep.autoscaling
        return {
            "id": dep.id,
            "created_at": iso(deployment_created_at(dep, self.state.now)),
            "name": dep.name,
            "model_id": model.id,
            "is_production": dep.is_production,
            "is_development": dep.is_development,
            "status": dep.status,
            "active_replica_count": dep.active_replica_count,
            "autoscaling_settings": None if scaling is None else {
                "min_replica": scaling.min_replica,
                "max_replica": scaling.max_replica,
                "autoscaling_window": scaling.autoscaling_window,
                "scale_down_delay": scaling.scale_down_delay,
                "concurrency_target": scaling.concurrency_target,
                "target_utilization_percentage": scaling.target_utilization_percentage,
                "target_in_flight_tokens": scaling.target_in_flight_tokens,
                "max_scale_down_rate": scaling.max_scale_down_rate,
            },
            "instance_type_name": dep.instance_type,
            "environment": dep.environment,
            "labels": {},
        }

    def m_models(self, ctx: Ctx) -> Reply:
        models = [self._model_json(ctx, m) for m in self._visible_models(ctx)]
        if ctx.use("hostile_strings"):
            hostile = dict(models[0]) if models else {
                "created_at": iso(self.state.now), "deployments_count": 0, "production_deployment_id": None,
                "development_deployment_id": None, "instance_type_name": "T4x4x16",
                "team_name": self._workspace(ctx).team_name,
            }
            hostile.update({"id": "h0st1l3x", "name": HOSTILE_NAME, "team_name": "<b>team</b>\u202e\x1b[2J"})
            models.append(hostile)
        return _json({"models": models})

    def _find_model(self, ctx: Ctx, model_id: str) -> DedicatedModel | None:
        return next((m for m in self._visible_models(ctx) if m.id == model_id), None)

    def m_model(self, ctx: Ctx, model_id: str) -> Reply:
        model = self._find_model(ctx, model_id)
        if model is None:
            return Reply(404, b'{"error":"Model not found"}')
        return _json(self._model_json(ctx, model))

    def m_deployments(self, ctx: Ctx, model_id: str) -> Reply:
        model = self._find_model(ctx, model_id)
        if model is None:
            return Reply(404, b'{"error":"Model not found"}')
        return _json({"deployments": [self._deployment_json(model, d) for d in model.deployments]})

    def m_deployment(self, ctx: Ctx, model_id: str, deployment_id: str) -> Reply:
        model = self._find_model(ctx, model_id)
        if model is None:
            return Reply(404, b'{"error":"Model not found"}')
        for dep in model.deployments:
            if (
                dep.id == deployment_id
                or (deployment_id == "production" and dep.is_production)
                or (deployment_id == "development" and dep.is_development)
            ):
                return _json(self._deployment_json(model, dep))
        return Reply(404, b'{"error":"Deployment not found"}')

    def m_instance_types(self, ctx: Ctx) -> Reply:
        return _json({"instance_types": [_instance_type_json(it) for it in INSTANCE_TYPES]})

    def m_instance_type_prices(self, ctx: Ctx) -> Reply:
        return _json({"instance_types": [
            {"instance_type": _instance_type_json(it), "price": float(it.price_per_minute)} for it in INSTANCE_TYPES
        ]})

    def m_teams(self, ctx: Ctx) -> Reply:
        ws = self._workspace(ctx)
        created = iso(self.state.now.replace(month=1, day=5, hour=10, minute=0, second=0, microsecond=0))
        team = {"id": _short_id(f"team:{ws.name}", 7), "name": ws.team_name, "default": True, "created_at": created}
        return _json({"teams": [team]})

    def m_empty(self, ctx: Ctx, collection: str) -> Reply:
        return _json({collection: []})


def _instance_type_json(it: Any) -> dict[str, Any]:
    return {
        "id": it.id,
        "name": it.name,
        "memory_limit_mib": it.memory_limit_mib,
        "millicpu_limit": it.millicpu_limit,
        "gpu_count": it.gpu_count,
        "gpu_type": it.gpu_type,
        "gpu_memory_limit_mib": it.gpu_memory_limit_mib,
    }


def _validate_chat(payload: dict[str, Any]) -> str | None:
    """The engine's validation (400 ``Validation: ...``), after the gateway routed the request."""
    if "messages" not in payload:
        return "Validation: missing field `messages`"
    messages = payload["messages"]
    if not isinstance(messages, list):
        return "Validation: invalid type for `messages`: expected a sequence"
    if not messages:
        # Assumption: no real recording shows Baseten's answer to an empty message list; this 400 takes
        # the shape of the recorded engine validation errors ("Validation: ... cannot be empty").
        return "Validation: `messages` cannot be empty"
    for name in ("max_tokens", "max_completion_tokens"):
        value = payload.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            return f"Validation: `{name}` must be a positive integer"
    return None


def _sse(
    completion_id: str,
    created: int,
    model: str,
    reasoning: tuple[str, ...],
    content: tuple[str, ...],
    finish: str,
    usage: dict[str, Any],
) -> Callable[[], AsyncIterator[bytes]]:
    def chunk(delta: dict[str, Any], finish_reason: str | None) -> bytes:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            "usage": usage,
        }
        return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"

    async def generate() -> AsyncIterator[bytes]:
        yield chunk({"role": "assistant", "content": ""}, None)
        for token in reasoning:
            yield chunk({"reasoning_content": token}, None)
        for token in content:
            yield chunk({"content": token}, None)
        yield chunk({}, finish)
        yield b"data: [DONE]\n\n"

    return generate


def _openai_headers() -> list[tuple[str, str]]:
    """Headers an OpenAI response carries (facts section 5), for the impostor_openai_headers role."""
    return [
        ("Openai-Version", "2020-10-01"),
        ("Openai-Processing-Ms", str(100 + secrets.randbelow(400))),
        ("X-Openai-Proxy-Wasm", "v0.1"),
        ("X-Ratelimit-Limit-Requests", "10000"),
        ("X-Ratelimit-Limit-Tokens", "30000000"),
        ("X-Ratelimit-Remaining-Requests", "9999"),
        ("X-Ratelimit-Remaining-Tokens", "29999950"),
        ("X-Ratelimit-Reset-Requests", "6ms"),
        ("X-Ratelimit-Reset-Tokens", "0s"),
        ("X-Request-Id", f"req_{secrets.token_hex(16)}"),
        ("Strict-Transport-Security", "max-age=31536000; includeSubDomains; preload"),
        ("Cf-Cache-Status", "DYNAMIC"),
        ("X-Content-Type-Options", "nosniff"),
        ("Server", "cloudflare"),
        ("Cf-Ray", f"{secrets.token_hex(8)}-SJC"),
        ("Access-Control-Expose-Headers", "X-Request-ID, CF-Ray"),
    ]


_PERMISSIONS = {
    "PERSONAL": {"identity", "model_apis", "billing", "models", "workspace"},
    "WORKSPACE_MANAGE_ALL": {"identity", "model_apis", "billing", "models", "workspace"},
    # Assumption: metrics-only keys may read models, deployments and instance types, nothing else.
    "WORKSPACE_EXPORT_METRICS": {"models"},
    "WORKSPACE_INVOKE": set(),
}


def _allowed(record: KeyRecord, permission: str) -> bool:
    return permission in _PERMISSIONS.get(record.scenario.key_type or "", set())


_Handler = Callable[..., Reply]
_SEG = r"[^/]+"
_MGMT_ROUTES: tuple[tuple[re.Pattern[str], str, _Handler], ...] = tuple(
    (re.compile(f"^{pattern}$"), permission, handler)
    for pattern, permission, handler in (
        ("/v1/users/me", "identity", EmulatorApp.m_me),
        ("/v1/users", "identity", EmulatorApp.m_users),
        ("/v1/api_keys", "identity", EmulatorApp.m_api_keys),
        ("/v1/model_apis", "model_apis", EmulatorApp.m_model_apis),
        (f"/v1/model_apis/(?P<name>{_SEG})", "model_apis", EmulatorApp.m_model_api),
        ("/v1/billing/usage_summary", "billing", EmulatorApp.m_usage),
        ("/v1/models", "models", EmulatorApp.m_models),
        (f"/v1/models/(?P<model_id>{_SEG})", "models", EmulatorApp.m_model),
        (f"/v1/models/(?P<model_id>{_SEG})/deployments", "models", EmulatorApp.m_deployments),
        (f"/v1/models/(?P<model_id>{_SEG})/deployments/(?P<deployment_id>{_SEG})", "models",
         EmulatorApp.m_deployment),
        ("/v1/instance_types", "models", EmulatorApp.m_instance_types),
        ("/v1/instance_type_prices", "models", EmulatorApp.m_instance_type_prices),
        ("/v1/teams", "workspace", EmulatorApp.m_teams),
        ("/v1/(?P<collection>secrets|chains|training_projects)", "workspace", EmulatorApp.m_empty),
    )
)
