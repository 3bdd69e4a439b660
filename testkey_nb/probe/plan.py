"""Probe plans as data: one declared request per :class:`ProbeSpec`, loaded from ``providers/*/probes.toml``."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from testkey_nb._files import package_dir
from testkey_nb.probe.guard import ReadOnlyPost, check_allowed, read_only_posts

__all__ = [
    "Cost", "ForEach", "Paginate", "ProbeAuth", "ProbeSettings", "ProbeSpec", "Role", "SkipIf", "Targets", "Window",
    "load_plan", "usage_start", "version_root", "window_skip",
]  # fmt: skip

Cost = Literal["read", "rejected", "billable"]
Role = Literal["inference", "management"]
PROVIDERS_DIR = package_dir("providers")


@dataclass(frozen=True)
class ForEach:
    """Fan a probe out over items taken from an earlier probe's observations.

    ``items`` is a dotted path to a list in the source's JSON body and ``field`` the key to read from
    each element; with ``accepted`` the items are those of the source's observations that came back
    as expected (e.g. the models the permission matrix showed as callable).
    """

    source: str
    field: str = "id"
    items: str | None = None
    accepted: bool = False
    limit: int = 50
    fallback: str | None = None


@dataclass(frozen=True)
class SkipIf:
    """Skip a probe when an earlier probe ended in one of ``outcomes`` (e.g. rate limited)."""

    probe: str
    outcomes: tuple[str, ...]


@dataclass(frozen=True)
class Paginate:
    """Follow a cursor: while ``more`` (a dotted path in the JSON body) is true and ``cursor`` names a
    value not seen before, send the next page with ``param`` = that cursor. Each page is its own planned
    GET, checked by the guard and recorded as its own observation; ``keep_params`` False sends the cursor
    alone (the server keeps the query in it), at most ``max_pages`` pages in all."""

    cursor: str = "pagination.cursor"
    more: str = "pagination.has_more"
    param: str = "cursor"
    keep_params: bool = True
    max_pages: int = 12


@dataclass(frozen=True)
class Window:
    """Limits of a probe's usage window: at most ``max_days`` back, never before ``not_before``
    (an ISO date); the engine clamps ``{usage_start}``/``{usage_start_date}`` to them."""

    max_days: int | None = None
    not_before: str | None = None


@dataclass(frozen=True)
class ProbeAuth:
    """A probe's own auth scheme, where the host takes the key otherwise on that path (issue 19 #14: Gemini's
    native API wants ``x-goog-api-key`` beside its OpenAI-compatible base's ``Bearer``). ``scheme`` ``raw``
    sends the bare key in ``header``; any other scheme is a prefix (``Bearer {key}``)."""

    header: str
    scheme: str = "raw"

    @property
    def label(self) -> str:
        """The scheme named without the key, as :class:`~testkey_nb.identify.schema.AuthTemplate` names it."""
        return self.header if self.scheme.lower() == "raw" else f"{self.header}: {self.scheme}"

    def headers(self) -> dict[str, str]:
        """Header -> value template (``{key}`` is the key)."""
        return {self.header: "{key}" if self.scheme.lower() == "raw" else f"{self.scheme} {{key}}"}


@dataclass(frozen=True)
class ProbeSpec:
    name: str
    role: Role
    method: Literal["GET", "POST"]
    path: str
    cost: Cost
    proves: str
    body: Mapping[str, Any] | None = None
    #: query parameters; a list value is sent as a repeated parameter (``group_by=a&group_by=b``)
    params: Mapping[str, str | list[str]] | None = None
    expect: tuple[int, ...] = ()
    after: str | None = None
    for_each: ForEach | None = None
    skip_if: SkipIf | None = None
    #: the path is taken from the base URL with its version segment removed (:func:`version_root`), not
    #: under the version (DeepSeek's ``/user/balance`` beside ``/v1``): same host and the same path prefix,
    #: so a gateway under a prefix (``/gw/deepseek/v1`` -> ``/gw/deepseek/user/balance``) works
    from_root: bool = False
    #: the provider's documented base path (the path of its ``inference_base_url``: Novita's ``/openai/v1``),
    #: set when its plan is loaded for it; a ``from_root`` path replaces it at the end of the base URL's path
    base_path: str = ""
    #: what the probe's reading rests on that no recording shows ("Assumption: ..."), carried into
    #: every observation and into the evidence of what is derived from it
    assumption: str | None = None
    paginate: Paginate | None = None
    window: Window | None = None
    #: the probe's own auth scheme (None: the session's, from the provider's ``[auth]``)
    auth: ProbeAuth | None = None
    #: a POST read: the provider's allow-list entry that permits it (set at load from ``provider.toml`` beside the
    #: plan, never from the plan itself; the guard matches it again against the path and body)
    read_only: ReadOnlyPost | None = None


def usage_start(spec: ProbeSpec, usage_days: int, now: datetime) -> datetime:
    """The start of a probe's usage window (UTC): ``usage_days`` back, clamped to its ``window``."""
    days = usage_days
    if spec.window is not None and spec.window.max_days is not None:
        days = min(days, spec.window.max_days)
    start = (now - timedelta(days=days)).astimezone(UTC)
    if spec.window is not None and spec.window.not_before:
        start = max(start, datetime.fromisoformat(spec.window.not_before).replace(tzinfo=UTC))
    return start


def window_skip(spec: ProbeSpec, now: datetime, *, has_prefix: bool) -> str | None:
    """Why a probe cannot be sent as planned: it filters by the key's public prefix and the key has none,
    or its window lies wholly before its data starts."""
    if "{key_prefix}" in json.dumps(spec.params or {}) and not has_prefix:
        return "the key has no public prefix to filter by"
    floor = spec.window.not_before if spec.window is not None else None
    if floor and now.astimezone(UTC) < datetime.fromisoformat(floor).replace(tzinfo=UTC):
        return f"no data before {floor}"
    return None


#: an API version segment: v1, v2, v1beta, v1alpha2
_VERSION_SEGMENT = re.compile(r"v\d+(?:(?:alpha|beta)\d*)?")


def version_root(base: str, base_path: str = "") -> str:
    """``base`` without the provider's documented base path at its end, keeping any gateway prefix before
    it: ``https://api.novita.ai/openai/v1`` with ``/openai/v1`` -> ``https://api.novita.ai``,
    ``http://127.0.0.1:8080/gw/novita/openai/v1`` -> ``http://127.0.0.1:8080/gw/novita``. Where the base
    does not end with it (or none is documented), only a trailing version segment is removed:
    ``https://api.deepseek.com/v1`` -> ``https://api.deepseek.com``, ``http://127.0.0.1:8080/gw/deepseek/v1``
    -> ``http://127.0.0.1:8080/gw/deepseek``; a base without one is kept as it is."""
    parts = urlsplit(base)
    segments = parts.path.rstrip("/").split("/")
    documented = [s for s in base_path.strip("/").split("/") if s]
    if documented and len(segments) > len(documented) and segments[-len(documented) :] == documented:
        segments = segments[: -len(documented)]
    elif segments and _VERSION_SEGMENT.fullmatch(segments[-1]):
        segments = segments[:-1]
    return urlunsplit((parts.scheme, parts.netloc, "/".join(segments), "", ""))


def load_plan(path: Path | str) -> tuple[ProbeSpec, ...]:
    """Load a probe plan from TOML; a relative path is taken under ``testkey_nb/providers``."""
    p = Path(path)
    if not p.is_absolute():
        p = PROVIDERS_DIR / p
    data = tomllib.loads(p.read_text(encoding="utf-8"))
    allowed = read_only_posts(p.parent / "provider.toml")
    specs = []
    for raw in data.get("probe", []):
        fe = raw.get("for_each")
        si = raw.get("skip_if")
        pg = raw.get("paginate")
        wi = raw.get("window")
        au = raw.get("auth")
        specs.append(
            ProbeSpec(
                name=raw["name"],
                role=raw["role"],
                method=raw["method"],
                path=raw["path"],
                cost=raw["cost"],
                proves=raw["proves"],
                body=raw.get("body"),
                params=raw.get("params"),
                expect=tuple(raw.get("expect", ())),
                after=raw.get("after"),
                for_each=ForEach(**fe) if fe else None,
                skip_if=SkipIf(si["probe"], tuple(si["outcomes"])) if si else None,
                from_root=bool(raw.get("from_root", False)),
                # a from_root probe of a provider without a default host names its documented base path itself
                # (Azure's /openai/v1: its classic /openai/models sits beside it); else the loader sets it
                base_path=str(raw.get("base_path", "")),
                assumption=raw.get("assumption"),
                paginate=Paginate(**pg) if pg is not None else None,
                window=Window(**wi) if wi is not None else None,
                auth=ProbeAuth(**au) if au is not None else None,
            )
        )
    specs = [replace(s, read_only=next((a for a in allowed if a.permits(s)), None))
             if s.method == "POST" and s.cost == "read" else s for s in specs]  # fmt: skip
    for spec in specs:
        check_allowed(spec, allow_billable=True)  # a plan that declares a write is a bug: fail at load
    return tuple(specs)


@dataclass(frozen=True)
class Targets:
    """Where each host role lives. ``None`` means the role is not probed, with ``reasons[role]``."""

    inference: str | None
    management: str | None = None
    reasons: Mapping[str, str] = field(default_factory=dict)

    def url_for(self, role: str) -> str | None:
        return self.inference if role == "inference" else self.management


@dataclass(frozen=True)
class ProbeSettings:
    timeout_s: float = 10.0
    deadline_s: float = 60.0
    max_retries: int = 2
    max_retry_wait_s: float = 10.0
    max_body_bytes: int = 4 * 1024 * 1024
    #: politeness cap: at most this many requests in flight at once (``--max-in-flight``)
    max_in_flight: int = 16
    allow_billable: bool = False
    #: how the key is presented: header -> value template, ``{key}`` is replaced by the key
    #: (from the provider's ``[auth]`` data; a plan stage may override it, see ``ProbeEngine.run``)
    auth_headers: Mapping[str, str] = field(default_factory=lambda: {"Authorization": "Bearer {key}"})
    auth_label: str = "Authorization: Bearer"
    usage_days: int = 30
    concurrent: bool = True
    #: at most this many refused-by-design calls per fanned-out probe (one per model): each may count
    #: against the workspace's requests per minute (15 RPM at Baseten's Basic unverified tier)
    max_model_checks: int = 16
