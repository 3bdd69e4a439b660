"""The Baseten emulator's ASGI app: one app, four host roles told apart by the local port.

Roles: ``inference`` (like https://inference.baseten.co), ``management`` (like https://api.baseten.co),
``impostor_openai`` (an OpenAI-compatible proxy that says it is OpenAI, serving Baseten-shaped bodies)
and ``impostor_openai_headers`` (OpenAI-style headers and list shape, Baseten ids and errors).

This module only dispatches: it parses the request into a `Ctx`, lets `faults.FaultInjector` answer
or alter, hands the rest to `inference.InferenceHost` or `management.ManagementHost`, adds each role's
headers and logs the exchange. Emulator assumptions, where the recordings and the spec are silent,
are marked "Assumption:" where they are made.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from testkey_nb.emulator.context import CHAT_PATH, Ctx, Reply
from testkey_nb.emulator.faults import Fault, FaultInjector, is_fault_name
from testkey_nb.emulator.inference import InferenceHost, openai_headers
from testkey_nb.emulator.management import MGMT_HEADERS, ManagementHost
from testkey_nb.emulator.state import EmulatorState, RequestLogEntry, key_digest


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
        self.faults = FaultInjector(state)
        self.inference = InferenceHost(state)
        self.management = ManagementHost(state)

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
            base = openai_headers()
        base = [(k, v) for k, v in base if k.lower() != "content-type"]
        extra = reply.headers
        if role != "inference":
            extra = [(k, v) for k, v in extra if not k.lower().startswith("x-baseten-")]
        content_type = [("Content-Type", reply.content_type)] if reply.content_type else []
        return content_type + base + extra

    # pipeline -----------------------------------------------------------------------------------
    async def _handle(self, ctx: Ctx, request: Request) -> Reply:
        early = await self.faults.before(ctx)
        if early is not None:
            return early
        if ctx.role == "management":
            reply = await self.management.handle(ctx)
        else:
            reply = await self.inference.handle(ctx, request)
        return self.faults.after(ctx, reply)
