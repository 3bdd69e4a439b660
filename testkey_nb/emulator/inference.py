"""The Baseten emulator's inference-like hosts: ``inference`` (like https://inference.baseten.co),
``impostor_openai`` (an OpenAI-compatible proxy that says it is OpenAI, serving Baseten-shaped bodies)
and ``impostor_openai_headers`` (OpenAI-style headers and list shape, Baseten ids and errors).

Serves ``/v1/models`` and ``/v1/chat/completions``. Assumptions are marked "Assumption:".
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request

from testkey_nb.emulator.context import BAD_KEY_BODY, CHAT_PATH, NOT_FOUND, TOO_MANY, Ctx, Reply, json_reply, short_id
from testkey_nb.emulator.scenarios import WORKSPACES
from testkey_nb.emulator.state import EmulatorState

INFERENCE_ROLES = ("inference", "impostor_openai", "impostor_openai_headers")

# Assumption: the exact 402 text is undocumented (402 = "billing or payment issue" in the errors doc).
NO_CREDITS = (
    b'{"error":"Your workspace has run out of credits and has no payment method. '
    b'Add a payment method to reactivate your models."}'
)

_REPLY_TOKENS = ("Hello", "!", " This", " is", " the", " Baseten", " emulator", ".")
_REASONING_TOKENS = (" The", " user", " wants", " a", " short", " greeting", ".")


class InferenceHost:
    """The inference-like roles; all state lives in the `EmulatorState` it is given."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def _scope(self, ctx: Ctx) -> tuple[str, ...] | None:
        assert ctx.record is not None
        sc = ctx.record.scenario
        return sc.model_ids if sc.key_type == "WORKSPACE_INVOKE" and sc.model_ids else None

    async def handle(self, ctx: Ctx, request: Request) -> Reply:
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
            return json_reply({"data": items})
        return json_reply({"object": "list", "data": items})

    def _engine_headers(self, model: str) -> list[tuple[str, str]]:
        request_id = secrets.token_hex(19)[:37]
        return [
            ("X-Baseten-Accepted-At", str(int(time.time() * 1000))),
            ("X-Baseten-Model-Id", short_id(f"model:{model}", 8)),
            ("X-Baseten-Model-Prediction-Attempts", "1"),
            ("X-Baseten-Model-Version-Id", short_id(f"version:{model}", 7)),
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


def openai_headers() -> list[tuple[str, str]]:
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
