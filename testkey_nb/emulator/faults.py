"""Fault injection as data.

A `Fault` is active globally (``EmulatorConfig(faults=...)`` or ``RunningEmulator.set_faults``) or for
one request through the ``/_fault/<name>/...`` path prefix on any role (default parameters then).
The behaviour lives in `app.py`; this module only names and validates faults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
