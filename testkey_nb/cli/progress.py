"""Progress on a terminal: which probe requests are still waiting, and what is rendering.

Only when both stdout and stderr are terminals and no ``--json`` was asked for; the status line goes
to stderr and is gone when the command prints its answer. Request lines show method and path only
(never a header, so never the key).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

__all__ = ["ProgressTransport", "on_terminal", "probe_progress", "status"]


def on_terminal() -> bool:
    """True when a person watches: stdout and stderr are both terminals."""
    return bool(sys.stdout.isatty() and sys.stderr.isatty())


class ProgressTransport(httpx.AsyncBaseTransport):
    """An httpx transport that reports the requests in flight (``GET /v1/models``) after every change."""

    def __init__(self, on_change: Callable[[list[str], int], None], inner: httpx.AsyncBaseTransport | None = None):
        self._inner = inner or httpx.AsyncHTTPTransport()
        self._on_change = on_change
        self._waiting: dict[int, str] = {}
        self.done = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = id(request)
        self._waiting[key] = f"{request.method} {request.url.path}"
        self._on_change(list(self._waiting.values()), self.done)
        try:
            return await self._inner.handle_async_request(request)
        finally:
            self._waiting.pop(key, None)
            self.done += 1
            self._on_change(list(self._waiting.values()), self.done)

    async def aclose(self) -> None:
        await self._inner.aclose()


def waiting_text(waiting: list[str], done: int, limit: int = 3) -> str:
    """``probing: 2 done; waiting for GET /v1/models, POST /v1/chat/completions``."""
    if not waiting:
        return f"probing: {done} done"
    shown = ", ".join(waiting[:limit]) + (f" and {len(waiting) - limit} more" if len(waiting) > limit else "")
    return f"probing: {done} done; waiting for {shown}"


@contextmanager
def status(message: str, enabled: bool | None = None) -> Iterator[Callable[[str], None]]:
    """A rich status line on stderr (a no-op off a terminal); yields ``update(text)``."""
    if not (on_terminal() if enabled is None else enabled):
        yield lambda _text: None
        return
    from rich.console import Console
    from rich.markup import escape

    with Console(stderr=True).status(escape(message)) as live:
        yield lambda text: live.update(escape(text))


@contextmanager
def probe_progress(enabled: bool | None = None) -> Iterator[Any]:
    """Yield a transport for the probe that shows the waiting requests (None off a terminal)."""
    if not (on_terminal() if enabled is None else enabled):
        yield None
        return
    with status("probing: starting", enabled=True) as update:
        yield ProgressTransport(lambda waiting, done: update(waiting_text(waiting, done)))
