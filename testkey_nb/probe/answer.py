"""What one HTTP exchange came back with (:class:`Exchange`), read with a cap, and the
:class:`~testkey_nb.probe.observation.Observation` made of it (:func:`observe`): the outcome, whether
the far end accepted the call, whether it spent money, the body scrubbed of the key.

The engine (:mod:`testkey_nb.probe.engine`) sends; this module reads what came back.
"""

from __future__ import annotations

import email.utils
import json
import time
from dataclasses import dataclass, replace
from datetime import UTC
from typing import Any

import httpx

from testkey_nb.probe.observation import Observation, Outcome, make_observation, outcome_for, scrub
from testkey_nb.probe.plan import ProbeSettings, ProbeSpec
from testkey_nb.secrets import Secret, redact

__all__ = ["Exchange", "observe", "read_capped", "retry_after_seconds"]

_SNIPPET_BYTES = 2048


@dataclass
class Exchange:
    """What one request (after same-origin GET redirects) came back with."""

    status: int | None
    headers: dict[str, str]
    raw: bytes = b""
    truncated: bool = False
    detail: str | None = None
    redirect: str | None = None  # "other_host" | "post" | "too_many" when a 3xx was not followed
    location: str | None = None


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


async def read_capped(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > cap:
            return b"".join(chunks)[:cap], True
    return b"".join(chunks), False


def observe(
    spec: ProbeSpec,
    item: str | None,
    result: Exchange,
    attempts: int,
    started: float,
    *,
    secret: Secret,
    settings: ProbeSettings,
    exchange: str | None = None,
) -> Observation:
    """The :class:`Observation` of one exchange: its outcome, whether the far end accepted it, whether it
    spent money, and its headers and body scrubbed of the key (a text body redacted, then cut)."""
    secrets = [secret]
    status, headers, raw, truncated, detail = (
        result.status, result.headers, result.raw, result.truncated, result.detail,
    )  # fmt: skip
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
        detail = detail or f"body larger than {settings.max_body_bytes} bytes: stopped reading"
    elif result.redirect == "post":
        outcome = "redirect_not_followed"
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
    spent = spec.cost in ("rejected", "billable") and status is not None and 200 <= status < 300
    if spent and spec.cost == "rejected":
        detail = detail or "a refused-by-design call was accepted and answered: it cost money; spending stopped"
    return replace(
        make_observation(
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
            auth=spec.auth.label if spec.auth is not None else settings.auth_label,
        ),
        spent=spent,
        usage=_usage(parsed) if spent else None,
        location=scrub(result.location, secrets),
        exchange=exchange,
    )


def _usage(body: Any) -> dict[str, int] | None:
    """The token counts an answer reports (``usage``), as ints; None when it reports none."""
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return None
    out = {
        k: int(v)
        for k in ("prompt_tokens", "completion_tokens", "total_tokens")
        if isinstance(v := usage.get(k), (int, float)) and not isinstance(v, bool) and v >= 0
    }
    return out or None
