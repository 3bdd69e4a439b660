"""The write guard: an allow-list of what a probe may send. Anything else raises :class:`WriteRefused`.

A POST that reads (Cohere's ``POST /v1/check-api-key``) is no special case here: the provider's own
``provider.toml`` allow-lists it (:class:`ReadOnlyPost`, its documented path and exact body), the plan loader attaches
that permit to the spec, and both lines below match it again.

Two lines of defence: :func:`check_allowed` refuses a probe spec that declares a write (at plan load and
before a probe starts), and :class:`LoadedPlan` holds every request the client is about to send against
the plans as loaded: the method and the URL each spec of the plan allows, built here from the spec and
the targets alone (never from the URL the engine computed), so a mis-built URL is stopped before it leaves.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from testkey_nb.probe.plan import ProbeSpec, Targets

__all__ = [
    "CHAT_PATHS", "LoadedPlan", "PlannedRequest", "ReadOnlyPost", "WriteRefused", "check_allowed", "read_only_posts",
]  # fmt: skip


class WriteRefused(RuntimeError):
    """A request that could change provider state or spend money was stopped before it was sent."""


#: the chat endpoints a ``rejected`` / ``billable`` POST may go to: OpenAI-compatible chat completions
#: and Anthropic's Messages API (https://docs.anthropic.com/en/api/messages); same body rules for both
CHAT_PATHS = ("/chat/completions", "/messages")
_REJECTED_KEYS = frozenset({"model", "messages", "max_tokens"})
_MAX_PROMPT_CHARS = 200


@dataclass(frozen=True)
class ReadOnlyPost:
    """A POST the provider documents as read-only (it changes nothing and costs nothing), allow-listed by the
    provider's own data (``[[read_only_posts]]`` in its ``provider.toml``): its documented ``path`` (a probe's path
    must be its end, segment-aligned: ``/check-api-key`` under the ``/v1`` base) and the exact JSON body it takes
    (None: no body at all), with the provider's reference. Cohere's ``POST /v1/check-api-key`` is one."""

    path: str
    body: Mapping[str, Any] | None = None
    source: str = ""

    def permits(self, spec: ProbeSpec) -> bool:
        tail = spec.path if spec.path.startswith("/") else "/" + spec.path
        body = dict(spec.body) if spec.body is not None else None
        want = dict(self.body) if self.body is not None else None
        return (self.path == tail or self.path.endswith(tail)) and "{" not in spec.path and body == want


def read_only_posts(provider_toml: Path) -> tuple[ReadOnlyPost, ...]:
    """The read-only POSTs a provider's ``provider.toml`` allow-lists (``[[read_only_posts]]``), each with its
    ``source``; none when the file is absent."""
    if not provider_toml.is_file():
        return ()
    data = tomllib.loads(provider_toml.read_text(encoding="utf-8"))
    out = []
    for raw in data.get("read_only_posts", []):
        if not raw.get("source"):
            raise WriteRefused(f"{provider_toml}: a read-only POST ({raw.get('path')}) needs the provider's source")
        out.append(ReadOnlyPost(str(raw["path"]), raw.get("body"), str(raw["source"])))
    return tuple(out)


def check_allowed(spec: ProbeSpec, *, allow_billable: bool) -> None:
    """The write guard, an allow-list. Raises :class:`WriteRefused` for anything but a GET read, a POST the
    provider's data allow-lists as read-only (``spec.read_only``, matched again here: its path and exact body),
    a chat completion built to be refused (an empty message list, ``max_tokens`` 1, nothing else) or, with
    ``allow_billable``, one tiny chat completion (one short user message, ``max_tokens`` 1)."""
    if spec.method == "GET" and spec.cost == "read" and spec.body is None:
        return
    if spec.method == "POST" and spec.cost == "read":
        if spec.read_only is not None and spec.read_only.permits(spec) and not spec.paginate and not spec.for_each:
            return
        raise WriteRefused(
            f"probe {spec.name}: POST {spec.path} is not a read-only POST its provider's data allow-lists "
            "([[read_only_posts]] in provider.toml: the documented path and exact body)"
        )
    if spec.method != "POST" or spec.role != "inference" or spec.path not in CHAT_PATHS:
        raise WriteRefused(f"probe {spec.name}: {spec.method} {spec.role} {spec.path} is not a read-only probe")
    body = dict(spec.body or {})
    if spec.cost == "rejected":
        if set(body) == _REJECTED_KEYS and body["messages"] == [] and body["max_tokens"] == 1:
            return
        raise WriteRefused(
            f"probe {spec.name}: a 'rejected' POST sends only model, an empty message list and max_tokens 1"
        )
    if spec.cost == "billable":
        if not allow_billable:
            raise WriteRefused(f"probe {spec.name} is billable: it runs only with allow_billable=True")
        messages = body.get("messages")
        tiny = (
            set(body) == _REJECTED_KEYS
            and body["max_tokens"] == 1
            and isinstance(messages, list)
            and len(messages) == 1
            and isinstance(messages[0], dict)
            and messages[0].get("role") == "user"
            and len(str(messages[0].get("content", ""))) <= _MAX_PROMPT_CHARS
        )
        if tiny:
            return
        raise WriteRefused(f"probe {spec.name}: a billable probe is one short user message with max_tokens 1")
    raise WriteRefused(f"probe {spec.name}: cost {spec.cost!r} is not a probe cost class")


#: a ``{placeholder}`` in a spec's path (``{item}``: one path segment, percent-encoded) or query value
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.scheme.lower(), (parts.hostname or "").lower(), port)


@dataclass(frozen=True)
class PlannedRequest:
    """What one spec of a loaded plan allows to leave: its method and cost, the origin of its role's target,
    its full path (``{item}`` stands for exactly one percent-encoded segment) and its query keys (a templated
    value may take any value, a literal one only itself)."""

    probe: str
    method: str
    cost: str
    origin: tuple[str, str, int | None]
    path: re.Pattern[str]
    #: each query key's values in order (a list param is repeated: ``group_by=a&group_by=b``); None: templated
    params: Mapping[str, tuple[str | None, ...]]
    #: the cursor parameter of a paginated read (any value, once), and whether it is sent alone
    cursor: str | None = None
    cursor_alone: bool = False

    @classmethod
    def of(cls, spec: ProbeSpec, base: str) -> PlannedRequest:
        from testkey_nb.probe.plan import version_root  # plan imports this module

        prefix = urlsplit(version_root(base, spec.base_path) if spec.from_root else base).path.rstrip("/")
        pattern = "".join(
            re.escape(part) if i % 2 == 0 else "[^/?#]+" for i, part in enumerate(_split(prefix + spec.path))
        )
        params = {
            k: tuple(None if _PLACEHOLDER.search(x) else x for x in (v if isinstance(v, list) else [v]))
            for k, v in (spec.params or {}).items()
        }
        page = spec.paginate
        return cls(spec.name, spec.method, spec.cost, _origin(base), re.compile(pattern), params,
                   page.param if page is not None else None, page is not None and not page.keep_params)  # fmt: skip

    def allows(self, method: str, url: str, cost: str | None) -> bool:
        parts = urlsplit(url)
        if method != self.method or cost != self.cost or _origin(url) != self.origin or parts.fragment:
            return False
        if not self.path.fullmatch(parts.path or "/"):
            return False
        got: dict[str, list[str]] = {}
        for k, v in parse_qsl(parts.query, keep_blank_values=True):
            got.setdefault(k, []).append(v)
        if self.cursor is not None and self.cursor in got:  # a later page of a paginated read
            if len(got.pop(self.cursor)) != 1:
                return False
            if self.cursor_alone and not got:
                return True
        if set(got) != set(self.params):
            return False
        return all(
            len(got[k]) == len(want) and all(w is None or w == v for w, v in zip(want, got[k], strict=True))
            for k, want in self.params.items()
        )


def _split(path: str) -> list[str]:
    """A path template as literal parts and placeholders, alternating (literal first)."""
    out: list[str] = []
    last = 0
    for m in _PLACEHOLDER.finditer(path):
        out += [path[last : m.start()], m.group(0)]
        last = m.end()
    return [*out, path[last:]]


class LoadedPlan:
    """The requests the plans of one engine session allow, built from the specs and targets as loaded.

    ``add`` is called with each plan as it is submitted; ``check`` is called in the HTTP client for every
    request right before it leaves, with the probe and cost the engine says it belongs to: it raises
    :class:`WriteRefused` unless that probe's spec allows exactly this method and URL, at that cost. A GET
    the engine followed on a same-origin redirect (``redirected``) is allowed as a read only."""

    def __init__(self, targets: Targets, *, allow_billable: bool) -> None:
        self._targets = targets
        self._allow_billable = allow_billable
        self._by_probe: dict[str, list[PlannedRequest]] = {}
        self._redirects: set[str] = set()

    def add(self, specs: Iterable[ProbeSpec]) -> None:
        for spec in specs:
            base = self._targets.url_for(spec.role)
            if base is None:
                continue  # the role is not probed: nothing of this spec may leave
            if spec.method == "POST" and spec.cost == "read":
                try:
                    check_allowed(spec, allow_billable=False)
                except WriteRefused:
                    continue  # not allow-listed: nothing of this spec may leave
            planned = PlannedRequest.of(spec, base)
            if planned not in self._by_probe.setdefault(spec.name, []):
                self._by_probe[spec.name].append(planned)

    def redirected(self, url: str) -> None:
        """A same-origin GET redirect the engine follows for a read (never a POST: those are not followed)."""
        self._redirects.add(url)

    def check(self, method: str, url: str, cost: str | None, probe: str | None) -> None:
        path = urlsplit(url).path
        kind_ok = (
            (method == "GET" and cost == "read")
            # a read-only POST leaves only as a planned request of a spec the guard allowed (its provider's data)
            or (method == "POST" and cost == "read")
            or (method == "POST" and cost == "rejected")
            or (method == "POST" and cost == "billable" and self._allow_billable)
        )
        if not kind_ok:
            raise WriteRefused(f"refused to send {method} {path}: cost {cost!r} does not allow it")
        if method == "GET" and cost == "read" and url in self._redirects:
            return
        if not any(p.allows(method, url, cost) for p in self._by_probe.get(probe or "", ())):
            raise WriteRefused(
                f"refused to send {method} {path}: not what probe {probe!r} of the loaded plan allows (cost {cost!r})"
            )
