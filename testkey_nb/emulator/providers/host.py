"""One provider's host as data: its paths, auth scheme, key shape, headers and documented answers.

Each provider folder holds a ``host.yaml`` (format: ``emulator/providers/README.md``); `load_host` turns it into a
frozen `Host`. Values may carry templates (``{name}`` or ``{name:arg}``) that `render` fills per
request: random ids, reset instants, the presented key's last four characters (as real hosts echo
them), constants from ``vars``. Unknown template names fail at load time, not at request time.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

from testkey_nb.identify.loader import provider_ids

#: the registry's providers (its folders) that have a host here; Baseten is the emulator's own host
PROVIDER_IDS: tuple[str, ...] = tuple(
    pid for pid in provider_ids() if resources.files(__package__).joinpath(pid, "host.yaml").is_file()
)
MODES: tuple[str, ...] = ("valid", "bad-key", "no-balance", "no-plan", "rate-limited", "geo-blocked")
ACCEPTED_MODES: frozenset[str] = frozenset({"valid", "no-balance", "no-plan", "rate-limited"})
#: the modes whose model calls get the mode's own answer (``chat.no-plan``: a plan window used up, issue 19)
REFUSING_MODES: tuple[str, ...] = ("no-balance", "no-plan", "rate-limited")
#: a key whose every request is refused before auth by the provider's route block (``geo_blocked`` answer)
BLOCKED_MODES: frozenset[str] = frozenset({"geo-blocked"})
#: ``api-key``: the key in an ``api-key`` header (Azure OpenAI); ``x-goog-api-key``: the key in an
#: ``x-goog-api-key`` header or a ``?key=`` query parameter (Gemini's native API, https://ai.google.dev/api)
AUTH_SCHEMES: tuple[str, ...] = ("bearer", "x-api-key", "api-key", "x-goog-api-key")

_ALPHABETS = {
    "alnum": string.ascii_letters + string.digits,
    "lower": string.ascii_lowercase + string.digits,
    "letters": string.ascii_letters,
    "hex": "0123456789abcdef",
    "urlsafe": string.ascii_letters + string.digits + "-_",
    "b58": "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz",
    "digits": string.digits,
    "upper": string.ascii_uppercase,
    "az": string.ascii_lowercase,  # SiliconFlow: sk- + 48 lower-case letters
}
_TEMPLATE = re.compile(r"\{([a-z_0-9]+)(?::([^{}]*))?\}")
_RANDOM = frozenset(_ALPHABETS)
_TIMES = frozenset({"rfc3339", "epoch_ms", "epoch_s"})
_REQUEST = frozenset({"key_tail4", "key_head2_tail2", "key_mask_openai", "key_label_or", "model", "uuid7", "rid"})


@dataclass(frozen=True)
class KeySpec:
    """A fake key in the provider's shape: ``prefix`` + ``length`` characters of ``alphabet`` + ``suffix``."""

    prefix: str
    alphabet: str
    length: int
    suffix: str = ""

    def make(self, rng: random.Random) -> str:
        chars = _ALPHABETS[self.alphabet]
        body = "".join(rng.choice(chars) for _ in range(self.length))
        if self.alphabet == "urlsafe":  # never start or end the random part with - or _ (reads like a flag)
            body = rng.choice(_ALPHABETS["alnum"]) + body[1:-1] + rng.choice(_ALPHABETS["alnum"])
        return f"{self.prefix}{body}{self.suffix}"


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    raw: str | None = None  # a non-JSON body (an HTML page), sent as is; give its content-type in headers
    indent: int | None = None  # this answer pretty-printed (Together's chat 401), else the host's default


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    paths: tuple[str, ...]
    kind: str = "read"  # read | chat | messages; a read may be a POST (Cohere's check-api-key): it costs nothing
    public: bool = False  # answers without a key (proves nothing about one)
    public_rejects_bad_key: bool = False  # a public route that still refuses an unknown key
    auth: str | None = None  # this route's own scheme (Gemini's native API beside its Bearer base), else the host's
    query_required: tuple[str, ...] = ()  # query parameters without which the path is not served (Azure api-version)


@dataclass(frozen=True)
class Host:
    id: str
    display_name: str
    base_path: str
    management_path: str | None
    auth: str
    version_header: tuple[str, str] | None
    key: KeySpec
    modes: tuple[str, ...]
    json_indent: int | None
    body_newline: bool
    vars: Mapping[str, str]
    headers: Mapping[str, str]
    accepted_headers: Mapping[str, str]
    rate_limit_headers: Mapping[str, Mapping[str, str]]
    routes: tuple[Route, ...]
    answers: Mapping[str, Answer]
    sources: Mapping[str, str]
    model_ids: frozenset[str] = frozenset()  # the catalog's ids (and aliases): a chat naming another gets
    #                                          `<route>.unknown_model` where the host has one
    left_out: Mapping[str, str] = field(default_factory=dict)  # mode -> why the host does not play it (undocumented)

    def auth_for(self, route: Route | None) -> str:
        """The scheme a route takes its key in: its own, else the host's."""
        return route.auth if route is not None and route.auth is not None else self.auth

    def knows_model(self, model: str) -> bool:
        return model in self.model_ids

    def route_for(self, method: str, path: str) -> tuple[Route | None, bool]:
        """(route, path known): the route serving ``method path``; path known with another method -> 405."""
        known = False
        for route in self.routes:
            if path in route.paths:
                known = True
                if route.method == method or (method == "HEAD" and route.method == "GET"):
                    return route, True
        return None, known

    def answer(self, name: str, fallback: str | None = None) -> Answer:
        if name in self.answers:
            return self.answers[name]
        if fallback is not None and fallback in self.answers:
            return self.answers[fallback]
        raise KeyError(f"{self.id}: no answer {name!r}")

    def encode(self, body: Any, indent: int | None = None) -> bytes:
        indent = indent if indent is not None else self.json_indent
        text = json.dumps(body, indent=indent, ensure_ascii=False, separators=None if indent else (",", ":"))
        return (text + ("\n" if self.body_newline else "")).encode("utf-8")


@dataclass(frozen=True)
class RenderContext:
    """What a template may use: the request's key (for the last-four echo only), model and the clock."""

    now: datetime
    key: str | None = None
    model: str = ""
    vars: Mapping[str, str] = field(default_factory=dict)
    memo: dict[str, str] = field(default_factory=dict)  # {rid:ALPHABET:N}: one value per request

    def value(self, name: str, arg: str | None) -> str:
        if name in self.vars:
            return self.vars[name]
        if name in _ALPHABETS:
            return "".join(secrets.choice(_ALPHABETS[name]) for _ in range(int(arg or 8)))
        if name == "rid":
            alphabet, _, n = (arg or "alnum:16").partition(":")
            if (arg or "") not in self.memo:
                self.memo[arg or ""] = self.value(alphabet, n or "16")
            return self.memo[arg or ""]
        if name in _TIMES:
            when = self.now + timedelta(seconds=float(arg or 0))
            if name == "rfc3339":
                return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            scale = 1000 if name == "epoch_ms" else 1
            return str(int(when.timestamp() * scale))
        if name == "model":
            return self.model
        if name == "uuid7":
            h = self.value("hex", "32")
            return f"{h[:8]}-{h[8:12]}-7{h[13:16]}-{h[16:20]}-{h[20:32]}"
        key = self.key or ""
        if name == "key_tail4":
            return key[-4:] if len(key) >= 12 else ""
        if name == "key_head2_tail2":  # xAI: na***ys
            return f"{key[:2]}***{key[-2:]}" if len(key) >= 12 else "***"
        if name == "key_mask_openai":
            return mask_openai(key)
        if name == "key_label_or":
            return f"{key[:12]}...{key[-3:]}" if len(key) >= 24 else "sk-or-v1-..."
        raise KeyError(name)


def mask_openai(key: str) -> str:
    """How OpenAI echoes a wrong key: its known prefix, stars, the last four characters.

    The emulator never echoes a short key whole (real hosts may): under 12 characters it is all stars.
    """
    if len(key) < 12:
        return "*" * 8
    prefix = next((p for p in ("sk-proj-", "sk-svcacct-", "sk-admin-", "sk-") if key.startswith(p)), "")
    return prefix + "*" * max(len(key) - len(prefix) - 4, 4) + key[-4:]


def render(value: Any, ctx: RenderContext) -> Any:
    """Fill the templates in every string of ``value`` (JSON-like data)."""
    if isinstance(value, str):
        return _TEMPLATE.sub(lambda m: ctx.value(m.group(1), m.group(2)), value)
    if isinstance(value, list):
        return [render(v, ctx) for v in value]
    if isinstance(value, dict):
        return {k: render(v, ctx) for k, v in value.items()}
    return value


def _check_templates(value: Any, names: frozenset[str], where: str) -> None:
    if isinstance(value, str):
        for m in _TEMPLATE.finditer(value):
            if m.group(1) not in names:
                raise ValueError(f"{where}: unknown template {{{m.group(1)}}}")
    elif isinstance(value, list):
        for v in value:
            _check_templates(v, names, where)
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_templates(v, names, f"{where}.{k}")


def _answer(data: Mapping[str, Any]) -> Answer:
    headers = {str(k).lower(): str(v) for k, v in (data.get("headers") or {}).items()}
    raw = data.get("raw")
    if raw is not None and (not isinstance(raw, str) or "body" in data or "content-type" not in headers):
        raise ValueError("a raw (text) answer is a string, has no body and names its content-type in headers")
    return Answer(int(data["status"]), data.get("body"), MappingProxyType(headers), raw, data.get("indent"))


def _lower(data: Mapping[str, Any] | None) -> Mapping[str, str]:
    return MappingProxyType({str(k).lower(): str(v) for k, v in (data or {}).items()})


def _catalog_ids(body: Any) -> frozenset[str]:
    """Model ids (and aliases) of a /models body: ``{data: [{id}]}``, a bare list (Together) or ``{models: [{name}]}``
    (Cohere)."""
    if isinstance(body, dict):
        items = body.get("data") or body.get("models") or []
    else:
        items = body if isinstance(body, list) else []
    ids: set[str] = set()
    for item in items:
        name = item.get("id", item.get("name")) if isinstance(item, dict) else None
        if isinstance(name, str):
            ids.add(name)
            ids.update(a for a in item.get("aliases") or () if isinstance(a, str))
    return frozenset(ids)


def load_host(provider: str) -> Host:
    """Load and check ``providers/<provider>/host.yaml``; a ValueError names what is wrong."""
    if provider not in PROVIDER_IDS:
        raise ValueError(f"unknown provider {provider!r}; known: baseten, {', '.join(PROVIDER_IDS)}")
    text = resources.files(__package__).joinpath(provider, "host.yaml").read_text(encoding="utf-8")
    return parse_host(provider, yaml.safe_load(text))


def parse_host(provider: str, data: Mapping[str, Any]) -> Host:
    """Check one provider's host data (the parsed ``host.yaml``) and freeze it."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{provider}/host.yaml: not a mapping")
    if data.get("id") != provider:
        raise ValueError(f"{provider}/host.yaml: id is {data.get('id')!r}")
    if data["auth"] not in AUTH_SCHEMES:
        raise ValueError(f"{provider}: auth must be one of {AUTH_SCHEMES}")
    modes = tuple(data["modes"])
    if not set(modes) <= set(MODES) or "valid" not in modes or "bad-key" not in modes:
        raise ValueError(f"{provider}: modes must include valid and bad-key, within {MODES}")
    version = data.get("version_header")
    routes = tuple(
        Route(r["name"], r["method"].upper(), tuple(r["paths"]), r.get("kind", "read"), bool(r.get("public")),
              bool(r.get("public_rejects_bad_key")), r.get("auth"), tuple(r.get("query_required") or ()))
        for r in data["routes"]
    )  # fmt: skip
    for route in routes:
        if route.auth is not None and route.auth not in AUTH_SCHEMES:
            raise ValueError(f"{provider}: route {route.name} auth must be one of {AUTH_SCHEMES}")
        if route.kind not in ("read", "chat", "messages"):
            raise ValueError(f"{provider}: route {route.name} kind must be read, chat or messages")
    variables = MappingProxyType({str(k): str(v) for k, v in (data.get("vars") or {}).items()})
    answers = MappingProxyType({name: _answer(a) for name, a in data["answers"].items()})
    host = Host(
        id=provider,
        display_name=data["display_name"],
        base_path=data["base_path"],
        management_path=data.get("management_path"),
        auth=data["auth"],
        version_header=(version["name"].lower(), str(version["value"])) if version else None,
        key=KeySpec(**data["key"]),
        modes=modes,
        json_indent=data.get("json_indent"),
        body_newline=bool(data.get("body_newline")),
        vars=variables,
        headers=_lower(data.get("headers")),
        accepted_headers=_lower(data.get("accepted_headers")),
        rate_limit_headers=MappingProxyType({m: _lower(h) for m, h in (data.get("rate_limit_headers") or {}).items()}),
        routes=routes,
        answers=answers,
        sources=MappingProxyType(dict(data.get("sources") or {})),
        model_ids=_catalog_ids(data["answers"].get("models", {}).get("body")),
        left_out=MappingProxyType({str(m): str(why) for m, why in (data.get("left_out") or {}).items()}),
    )
    for mode, why in host.left_out.items():
        if mode not in MODES or mode in modes or not why.strip():
            raise ValueError(f"{provider}: left_out {mode!r}: a mode of {MODES} the host does not play, with why")
    names = _RANDOM | _TIMES | _REQUEST | frozenset(variables)
    _check_templates(data["answers"], names, f"{provider}.answers")
    for part in ("headers", "accepted_headers", "rate_limit_headers"):
        _check_templates(data.get(part), names, f"{provider}.{part}")
    needed = ["unauthorized", "missing", *(["no_version"] if version else []),
              *(["geo_blocked"] if "geo-blocked" in modes else [])]  # fmt: skip
    needed += ["no_query"] if any(r.query_required for r in routes) else []
    for route in routes:
        if route.kind in ("chat", "messages"):
            refusals = [m for m in REFUSING_MODES if m in modes]
            needed += [f"{route.name}.empty", *(f"{route.name}.{m}" for m in refusals)]
        else:
            needed.append(route.name)
    missing = [name for name in needed if name not in answers]
    if missing:
        raise ValueError(f"{provider}/host.yaml: no answer for {', '.join(missing)}")
    return host


def key_rng(provider: str, seed: int | None) -> random.Random:
    """Reproducible keys per (provider, seed); random when seed is None."""
    return random.Random(f"{provider}:{seed}") if seed is not None else secrets.SystemRandom()
