"""Fault injection as data.

A `Fault` is active globally (``EmulatorConfig(faults=...)`` or ``RunningEmulator.set_faults``) or for
one request through the ``/_fault/<name>/...`` path prefix on any role (default parameters then).
`Fault` names and validates a fault; `FaultInjector` is the middleware that applies them around the
Baseten hosts (`before` may answer in the host's place, `after` alters the host's answer).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from testkey_nb.emulator.context import TOO_MANY, Ctx, Reply

if TYPE_CHECKING:
    from testkey_nb.emulator.state import EmulatorState

ROLES: tuple[str, ...] = ("inference", "management", "impostor_openai", "impostor_openai_headers")

FAULT_NAMES: tuple[str, ...] = (
    "latency",  # ms: added delay per request
    "rate_limit_burst",  # count: the next N requests get 429; retry_after: seconds for Retry-After
    "http_5xx",  # status: 500/502/503/504 with a Baseten-style {"error": "..."} body
    "hang",  # seconds: the response does not start for that long (bounded by server shutdown)
    "truncated_json",  # a JSON body cut in half, content-type unchanged
    "non_json",  # 200 text that is not JSON while claiming application/json
    "waf_html",  # 403 text/html page from a WAF in front of the service
    "huge_body",  # size_bytes: a streamed JSON-looking body, generated lazily
    "redirect_other_host",  # 302 to the same path on http://localhost:<same port>
    "hostile_strings",  # catalog/management strings full of markup, control chars, bidi, private use
    "enforce_rate_limits",  # enforce the workspace tier's RPM on chat completions (60 s window)
)

# ``http_500`` .. ``http_599`` are accepted as aliases of ``http_5xx`` with that status.
_HTTP_ALIAS = re.compile(r"^http_(5\d\d)$")

DEFAULT_LATENCY_MS = 250
DEFAULT_BURST_COUNT = 3
DEFAULT_5XX_STATUS = 502
DEFAULT_HANG_SECONDS = 30.0
DEFAULT_HUGE_BYTES = 64 * 1024 * 1024


def is_fault_name(name: str) -> bool:
    return name in FAULT_NAMES or bool(_HTTP_ALIAS.match(name))


@dataclass(frozen=True)
class Fault:
    """One named fault with optional parameters; ``roles`` restricts it (empty = every role)."""

    name: str
    ms: int | None = None
    count: int | None = None
    retry_after: int | None = None
    status: int | None = None
    seconds: float | None = None
    size_bytes: int | None = None
    roles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not is_fault_name(self.name):
            raise ValueError(f"unknown fault {self.name!r}; known: {', '.join(FAULT_NAMES)}")
        unknown_roles = [r for r in self.roles if r not in ROLES]
        if unknown_roles:
            raise ValueError(f"unknown role(s) {unknown_roles!r}; known: {', '.join(ROLES)}")
        if self.status is not None and not 500 <= self.status <= 599:
            raise ValueError("status must be a 5xx code")
        for field_name in ("ms", "count", "retry_after", "size_bytes"):
            value = getattr(self, field_name)
            if value is not None and value < 0:
                raise ValueError(f"{field_name} must be >= 0")
        if self.seconds is not None and self.seconds < 0:
            raise ValueError("seconds must be >= 0")

    @property
    def kind(self) -> str:
        """The canonical fault name (``http_502`` -> ``http_5xx``)."""
        return "http_5xx" if _HTTP_ALIAS.match(self.name) else self.name

    def applies_to(self, role: str) -> bool:
        return not self.roles or role in self.roles

    # Effective parameters (defaults filled in) -------------------------------------------------
    @property
    def effective_ms(self) -> int:
        return DEFAULT_LATENCY_MS if self.ms is None else self.ms

    @property
    def effective_count(self) -> int:
        return DEFAULT_BURST_COUNT if self.count is None else self.count

    @property
    def effective_status(self) -> int:
        if self.status is not None:
            return self.status
        alias = _HTTP_ALIAS.match(self.name)
        return int(alias.group(1)) if alias else DEFAULT_5XX_STATUS

    @property
    def effective_seconds(self) -> float:
        return DEFAULT_HANG_SECONDS if self.seconds is None else self.seconds

    @property
    def effective_size_bytes(self) -> int:
        return DEFAULT_HUGE_BYTES if self.size_bytes is None else self.size_bytes


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


class FaultInjector:
    """Applies the active faults of a request (see `Ctx.find`) around the Baseten hosts."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    async def _pause(self, seconds: float) -> None:
        """Sleep up to ``seconds``, returning early when the server is stopping."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while not self.state.stopping.is_set():
            remaining = end - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(0.05, remaining))

    async def before(self, ctx: Ctx) -> Reply | None:
        """The answer of a fault that replaces the host's (or None); latency and hang pause first."""
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

    def after(self, ctx: Ctx, reply: Reply) -> Reply:
        """Faults applied to the host's answer (``truncated_json``)."""
        if ctx.find("truncated_json") is not None and reply.stream is None and reply.body:
            ctx.mark("truncated_json")
            reply.body = reply.body[: len(reply.body) // 2]
        return reply
