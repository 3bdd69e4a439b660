"""What identification reads: the key's shape (pattern ids, no secret) and HTTP exchanges.

The boundary types between the probe engine and `identify.score`: the engine summarises each exchange
as an `HttpEvidence`; the caller turns the secret into a `KeyShape` with `score.key_pattern_matches`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["HttpEvidence", "KeyShape"]


@dataclass(frozen=True)
class KeyShape:
    """What the key looks like, computed by the caller from the secret. Holds NO secret material."""

    matches: tuple[str, ...] = ()  # ids of matching key patterns, e.g. ("baseten:new",)


@dataclass(frozen=True)
class HttpEvidence:
    """One HTTP exchange summarised by the probe engine."""

    probe: str  # e.g. "catalog", "auth_check", "whoami"
    url_path: str
    status: int | None  # None = no response (network error)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-cased names; multi-values ", "
    json_body: object | None = None  # parsed JSON, if it parsed
    text_snippet: str | None = None  # first <= 2 KiB of a non-JSON body (e.g. an HTML WAF page)
