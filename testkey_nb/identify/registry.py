"""Provider registry: one folder of TOML data per provider, discovered at load time.

Each folder `testkey_nb/providers/<id>/` holds `provider.toml` (identity, auth, key patterns,
fingerprints, capabilities, documented rate-limit tiers) and optionally `permissions.toml` (key types
and what each may do). `scoring.toml` beside the folders holds the identification thresholds.
Adding a provider is adding a folder: nothing here names a provider.

Everything loaded is immutable (frozen dataclasses, tuples, compiled patterns).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from testkey_nb.identify.score import KeyShape

CAPABILITIES: tuple[str, ...] = (
    "key_identity",
    "model_catalog",
    "model_permission_matrix",
    "limit_matrix",
    "capability_matrix",
    "balance",
    "usage_and_billing",
    "pricing",
    "routing",
    "operational_actions",
)
CAPABILITY_STATUSES: tuple[str, ...] = ("supported", "partial", "unsupported", "unknown")
MODELS_SHAPES: tuple[str, ...] = (
    "object-with-data-no-object-list",
    "object-list",
    "bare-array",
    "anthropic-paged",
    "other",
)
STRENGTHS: tuple[str, ...] = ("strong", "medium", "cosmetic")
SOURCING: tuple[str, ...] = ("strong", "weak")
JSON_TYPES: tuple[str, ...] = ("string", "number", "integer", "bool", "object", "array", "null")

LIMIT_SCOPES: tuple[str, ...] = ("requests_per_minute", "tokens_per_minute", "requests_per_day", "tokens_per_day")
IDENTITY_FIELDS: tuple[str, ...] = ("user", "workspace", "organization")
#: what an endpoint reads (the README's provider table columns)
READS: tuple[str, ...] = ("identity", "models", "permissions", "limits", "balance", "usage", "prices", "operations")

Strength = Literal["strong", "medium", "cosmetic"]
FingerprintKind = Literal["header", "models_body", "error_body"]

_ID_RE = re.compile(r"^[a-z][a-z0-9_-]*$")


class RegistryError(ValueError):
    """The provider data is malformed (raised at load time, never during identification)."""


# --------------------------------------------------------------------------------------------------
# data model


@dataclass(frozen=True)
class AuthTemplate:
    """One way to present the key: header name -> value template (``{key}`` stands for the key).

    ``label`` names the scheme without the key (``Authorization: Bearer``, ``x-api-key``).
    """

    label: str
    headers: Mapping[str, str]

    def render(self, key: str) -> dict[str, str]:
        return {name: value.replace("{key}", key) for name, value in self.headers.items()}


BEARER = AuthTemplate("Authorization: Bearer", {"Authorization": "Bearer {key}"})


@dataclass(frozen=True)
class AuthSpec:
    header: str
    schemes: tuple[str, ...]
    env_var: str | None = None
    note: str | None = None
    #: headers every request carries besides the key (e.g. ``anthropic-version``)
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None

    def templates(self) -> tuple[AuthTemplate, ...]:
        """The accepted schemes as header templates, in the data's order of preference.

        A scheme ``raw`` sends the bare key in ``header`` (Anthropic's ``x-api-key``)."""
        out = []
        for scheme in self.schemes:
            raw = scheme.lower() == "raw"
            value = "{key}" if raw else f"{scheme} {{key}}"
            label = self.header if raw else f"{self.header}: {scheme}"
            out.append(AuthTemplate(label, {self.header: value, **self.extra_headers}))
        return tuple(out)


@dataclass(frozen=True)
class Endpoint:
    """One endpoint a plan probes: whether the provider authenticates it, what it reads, its reference."""

    probe: str
    method: str
    path: str
    authenticated: bool
    reads: tuple[str, ...] = ()
    source: str = ""
    note: str = ""


@dataclass(frozen=True)
class NoQuotaRule:
    """An answer that means "the key works but the account cannot pay" (a 402 by another name:
    OpenAI's 429 ``insufficient_quota``, Anthropic's 400 "credit balance is too low", Fireworks' 412)."""

    status: tuple[int, ...]
    body: tuple[Condition, ...]
    source: str = ""


@dataclass(frozen=True)
class CatalogFields:
    """Where a provider's /models items keep what the OpenAI shape lacks (dotted paths, numeric
    indices allowed): context, output cap, feature flags, modalities and prices."""

    context_length: str | None = None
    max_completion_tokens: str | None = None
    #: a list of names, or an object whose true (or ``{supported: true}``) members are the features
    features: str | None = None
    input_modalities: str | None = None
    output_modalities: str | None = None
    price_in: str | None = None
    price_out: str | None = None
    #: what a price is per: "token" (USD per token) or "million" (USD per million tokens)
    price_per: str = "token"
    source: str = ""


@dataclass(frozen=True)
class HeaderFact:
    """A response header that carries a fact: a limit (``scope``) or an identity field (``field``)."""

    header: str
    target: str  # limits: requests_per_minute | tokens_per_minute | requests_per_day | tokens_per_day
    #: identity: user | workspace | organization
    source: str = ""
    reset_header: str | None = None
    remaining_header: str | None = None


@dataclass(frozen=True)
class KeyPattern:
    provider: str
    name: str
    regex: re.Pattern[str]
    weight: float
    confidence: Literal["strong", "weak"]
    source: str | None = None

    @property
    def id(self) -> str:
        return f"{self.provider}:{self.name}"

    @property
    def strength(self) -> Strength:
        # A well-sourced, distinctive key format cannot be faked by an endpoint; a weakly sourced or
        # generic one (e.g. 32 alphanumerics) is only suggestive.
        return "strong" if self.confidence == "strong" else "medium"


@dataclass(frozen=True)
class Condition:
    """One test on a JSON value reached by a dotted path (e.g. `error.message`)."""

    path: tuple[str, ...]
    op: Literal["present", "absent", "equals", "one_of", "regex", "type"]
    value: Any = None
    pattern: re.Pattern[str] | None = None

    def describe(self) -> str:
        where = ".".join(self.path)
        if self.op == "present":
            return f"{where} present"
        if self.op == "absent":
            return f"{where} absent"
        if self.op == "equals":
            return f"{where} == {_short_repr(self.value)}"
        if self.op == "one_of":
            return f"{where} in ({', '.join(_short_repr(v) for v in self.value)})"
        if self.op == "regex":
            assert self.pattern is not None
            return f"{where} ~ /{self.pattern.pattern}/"
        return f"{where} is {self.value}"


@dataclass(frozen=True)
class Fingerprint:
    """A scored piece of evidence a provider's endpoint leaves behind."""

    provider: str
    id: str
    kind: FingerprintKind
    weight: float
    strength: Strength
    specific: bool  # evidence only this provider produces (see ProviderSpec.requires_specific)
    description: str
    sourcing: Literal["strong", "weak"] = "strong"
    source: str | None = None
    # header fingerprints
    header: str | None = None
    header_prefix: str | None = None
    value: re.Pattern[str] | None = None
    # models-body fingerprints
    shapes: tuple[str, ...] = ()
    item: tuple[Condition, ...] = ()
    min_fraction: float = 0.5
    # error-body fingerprints
    status: tuple[int, ...] = ()
    body: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class CapabilitySupport:
    capability: str
    status: Literal["supported", "partial", "unsupported", "unknown"]
    note: str = ""


@dataclass(frozen=True)
class RateLimitTier:
    name: str
    rpm: int | None  # None = custom / not published
    tpm: int | None
    note: str = ""


@dataclass(frozen=True)
class RateLimits:
    source: str
    as_of: str
    tiers: tuple[RateLimitTier, ...]
    note: str = ""


@dataclass(frozen=True)
class KeyTypePermission:
    key_type: str  # provider's enum value, e.g. WORKSPACE_INVOKE
    role: str  # our role name, e.g. inference-only
    display_name: str
    inference: bool
    read_management: bool
    write_management: bool
    read_billing: bool
    export_metrics: bool
    model_scoped: bool
    uncertain: tuple[str, ...] = ()
    note: str = ""
    source: str = ""


@dataclass(frozen=True)
class KeyPermissions:
    key_types: tuple[KeyTypePermission, ...]
    sources: tuple[str, ...] = ()

    def for_type(self, key_type: str) -> KeyTypePermission | None:
        for kt in self.key_types:
            if kt.key_type == key_type:
                return kt
        return None

    def role_for(self, key_type: str) -> str | None:
        kt = self.for_type(key_type)
        return kt.role if kt else None


@dataclass(frozen=True)
class ProviderSpec:
    id: str
    display_name: str
    inference_base_url: str | None
    management_base_url: str | None
    auth: AuthSpec
    hostnames: tuple[str, ...]
    path_hints: tuple[str, ...]
    requires_specific: bool
    key_patterns: tuple[KeyPattern, ...]
    fingerprints: tuple[Fingerprint, ...]
    capabilities: tuple[CapabilitySupport, ...]
    rate_limits: RateLimits | None = None
    permissions: KeyPermissions | None = None
    notes: str = ""
    sources: tuple[str, ...] = field(default=())
    endpoints: tuple[Endpoint, ...] = ()
    limit_headers: tuple[HeaderFact, ...] = ()
    identity_headers: tuple[HeaderFact, ...] = ()
    no_quota: tuple[NoQuotaRule, ...] = ()
    catalog: CatalogFields = field(default_factory=CatalogFields)
    #: the provider's folder (probes.toml, interpret.py live there)
    folder: Path | Traversable | None = None

    def endpoint(self, probe: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.probe == probe), None)

    def authenticated_probes(self) -> frozenset[str]:
        """Probes whose endpoint the provider authenticates: a 200 there proves the key."""
        return frozenset(e.probe for e in self.endpoints if e.authenticated)

    def file(self, name: str) -> Path | Traversable | None:
        """``name`` in the provider's folder, if it exists."""
        if self.folder is None:
            return None
        f = self.folder.joinpath(name)
        return f if f.is_file() else None

    def capability(self, name: str) -> CapabilitySupport:
        for cap in self.capabilities:
            if cap.capability == name:
                return cap
        raise KeyError(name)


@dataclass(frozen=True)
class ScoringRules:
    """Thresholds of identification (from `providers/scoring.toml`)."""

    min_score: float = 1.0
    confidence_scale: float = 3.0
    max_confidence_without_behaviour: float = 0.3
    conflict_min_score: float = 1.0
    conflict_penalty: float = 0.85
    base_url_weight: float = 0.5
    path_hint_weight: float = 0.3
    max_items: int = 200
    max_value_chars: int = 4096
    #: independence: fewer than this many sources speaking for the winner (key shape, headers, models
    #: body, error body; the base URL and cosmetic evidence do not count) cap its confidence
    min_independent_sources: int = 2
    max_confidence_one_source: float = 0.5
    #: fingerprints ("provider:id") costly to fake: one of them lifts the one-source cap
    costly_to_fake: tuple[str, ...] = ()


@dataclass(frozen=True)
class Registry:
    providers: tuple[ProviderSpec, ...]
    scoring: ScoringRules = field(default_factory=ScoringRules)
    #: the folder the providers were loaded from (``identify_probes.toml`` lives there)
    root: Path | Traversable | None = None

    def file(self, name: str) -> Path | Traversable | None:
        if self.root is None:
            return None
        f = self.root.joinpath(name)
        return f if f.is_file() else None

    def ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.providers)

    def get(self, provider_id: str) -> ProviderSpec:
        for p in self.providers:
            if p.id == provider_id:
                return p
        raise KeyError(provider_id)

    def key_patterns(self) -> tuple[KeyPattern, ...]:
        return tuple(kp for p in self.providers for kp in p.key_patterns)

    def fingerprints(self, kind: FingerprintKind | None = None) -> tuple[Fingerprint, ...]:
        return tuple(fp for p in self.providers for fp in p.fingerprints if kind is None or fp.kind == kind)

    def pattern(self, pattern_id: str) -> KeyPattern | None:
        """The key pattern with this id (`provider:name`), if any."""
        return next((kp for kp in self.key_patterns() if kp.id == pattern_id), None)

    def pattern_confidence(self, pattern_id: str) -> Literal["strong", "weak"] | None:
        """How well sourced a key pattern is ("strong" / "weak"); None for an unknown id."""
        kp = self.pattern(pattern_id)
        return kp.confidence if kp else None

    def key_pattern_matches(self, key: str) -> tuple[str, ...]:
        """Ids (`provider:name`) of the key patterns the key matches. The key itself is not kept."""
        candidate = key.strip()
        return tuple(kp.id for kp in self.key_patterns() if kp.regex.fullmatch(candidate))

    def match_key_shape(self, shape_info: KeyShape | Iterable[str]) -> tuple[KeyPattern, ...]:
        """The registry's key patterns named by a KeyShape (or by an iterable of pattern ids)."""
        wanted = set(getattr(shape_info, "matches", shape_info))
        return tuple(kp for kp in self.key_patterns() if kp.id in wanted)


# --------------------------------------------------------------------------------------------------
# loading


def load_registry(root: Path | Traversable | None = None) -> Registry:
    """Load every `<root>/<id>/provider.toml` (default: the folders of this package)."""
    base: Path | Traversable = (
        root if root is not None else resources.files("testkey_nb.providers")
    )
    providers: list[ProviderSpec] = []
    for child in sorted(base.iterdir(), key=lambda c: c.name):
        if not child.is_dir() or child.name.startswith(("_", ".")):
            continue
        ptoml = child.joinpath("provider.toml")
        if not ptoml.is_file():
            continue
        data = _read_toml(ptoml)
        perm_file = child.joinpath("permissions.toml")
        perms = _parse_permissions(_read_toml(perm_file), child.name) if perm_file.is_file() else None
        providers.append(replace(_parse_provider(child.name, data, perms), folder=child))
    if not providers:
        raise RegistryError(f"no provider folders found under {base}")
    scoring_file = base.joinpath("scoring.toml")
    scoring = _parse_scoring(_read_toml(scoring_file)) if scoring_file.is_file() else ScoringRules()
    return Registry(providers=tuple(providers), scoring=scoring, root=base)


def _read_toml(path: Path | Traversable) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path}: {exc}") from exc


def _parse_scoring(data: Mapping[str, Any]) -> ScoringRules:
    known = set(ScoringRules.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise RegistryError(f"scoring.toml: unknown keys {sorted(unknown)}")
    if "costly_to_fake" in data:
        data = {**data, "costly_to_fake": tuple(str(v) for v in data["costly_to_fake"])}
    return ScoringRules(**data)


def _parse_provider(folder: str, data: Mapping[str, Any], perms: KeyPermissions | None) -> ProviderSpec:
    where = f"providers/{folder}/provider.toml"
    pid = _req(data, "id", str, where)
    if pid != folder or not _ID_RE.match(pid):
        raise RegistryError(f"{where}: id {pid!r} must equal the folder name and be a lowercase slug")
    auth_data = data.get("auth", {})
    auth = AuthSpec(
        header=str(auth_data.get("header", "Authorization")),
        schemes=tuple(str(s) for s in auth_data.get("schemes", ["Bearer"])),
        env_var=auth_data.get("env_var"),
        note=auth_data.get("note"),
        extra_headers={str(k): str(v) for k, v in (auth_data.get("extra_headers") or {}).items()},
        source=auth_data.get("source"),
    )
    key_patterns = tuple(_parse_key_pattern(pid, kp, where) for kp in data.get("key_patterns", []))
    fps: list[Fingerprint] = []
    for section, kind in (("headers", "header"), ("models", "models_body"), ("errors", "error_body")):
        for raw in data.get("fingerprints", {}).get(section, []):
            fps.append(_parse_fingerprint(pid, kind, raw, where))
    ids = [f.id for f in fps]
    if len(ids) != len(set(ids)):
        raise RegistryError(f"{where}: duplicate fingerprint ids")
    caps_data = data.get("capabilities", {})
    caps: list[CapabilitySupport] = []
    for cap in CAPABILITIES:
        raw = caps_data.get(cap)
        if not isinstance(raw, Mapping):
            raise RegistryError(f"{where}: capability {cap!r} missing")
        status = raw.get("status")
        if status not in CAPABILITY_STATUSES:
            raise RegistryError(f"{where}: capability {cap!r} has bad status {status!r}")
        caps.append(CapabilitySupport(capability=cap, status=status, note=str(raw.get("note", ""))))
    extra_caps = set(caps_data) - set(CAPABILITIES)
    if extra_caps:
        raise RegistryError(f"{where}: unknown capabilities {sorted(extra_caps)}")
    rl = data.get("rate_limits")
    rate_limits = None
    if rl is not None:
        rate_limits = RateLimits(
            source=_req(rl, "source", str, where),
            as_of=_req(rl, "as_of", str, where),
            note=str(rl.get("note", "")),
            tiers=tuple(
                RateLimitTier(
                    name=str(t["name"]), rpm=t.get("rpm"), tpm=t.get("tpm"), note=str(t.get("note", ""))
                )
                for t in rl.get("tiers", [])
            ),
        )
    identification = data.get("identification", {})
    return ProviderSpec(
        id=pid,
        display_name=_req(data, "display_name", str, where),
        inference_base_url=data.get("inference_base_url"),
        management_base_url=data.get("management_base_url"),
        auth=auth,
        hostnames=tuple(str(h).lower() for h in identification.get("hostnames", [])),
        path_hints=tuple(str(h) for h in identification.get("path_hints", [])),
        requires_specific=bool(identification.get("requires_specific", False)),
        key_patterns=key_patterns,
        fingerprints=tuple(fps),
        capabilities=tuple(caps),
        rate_limits=rate_limits,
        permissions=perms,
        notes=str(data.get("notes", "")),
        sources=tuple(str(s) for s in data.get("sources", [])),
        endpoints=tuple(_parse_endpoint(e, where) for e in data.get("endpoints", [])),
        limit_headers=tuple(_parse_header_fact(h, "scope", LIMIT_SCOPES, where) for h in data.get("limit_headers", [])),
        identity_headers=tuple(
            _parse_header_fact(h, "field", IDENTITY_FIELDS, where) for h in data.get("identity_headers", [])
        ),
        no_quota=tuple(
            NoQuotaRule(
                status=tuple(int(x) for x in r.get("status", ())),
                body=tuple(_parse_condition(c, where) for c in r.get("body", [])),
                source=str(r.get("source", "")),
            )
            for r in data.get("no_quota", [])
        ),
        catalog=_parse_catalog(data.get("catalog", {}), where),
    )


def _parse_catalog(raw: Mapping[str, Any], where: str) -> CatalogFields:
    known = set(CatalogFields.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise RegistryError(f"{where}: [catalog] unknown keys {sorted(unknown)}")
    if raw.get("price_per", "token") not in ("token", "million"):
        raise RegistryError(f"{where}: [catalog] price_per must be token or million")
    return CatalogFields(**{k: str(v) for k, v in raw.items()})


def _parse_endpoint(raw: Mapping[str, Any], where: str) -> Endpoint:
    probe = _req(raw, "probe", str, where)
    reads = tuple(str(r) for r in raw.get("reads", ()))
    bad = [r for r in reads if r not in READS]
    if bad:
        raise RegistryError(f"{where}: endpoint {probe!r} reads unknown {bad} (known: {READS})")
    return Endpoint(
        probe=probe,
        method=str(raw.get("method", "GET")),
        path=_req(raw, "path", str, where),
        authenticated=_req(raw, "authenticated", bool, where),
        reads=reads,
        source=str(raw.get("source", "")),
        note=str(raw.get("note", "")),
    )


def _parse_header_fact(raw: Mapping[str, Any], key: str, allowed: tuple[str, ...], where: str) -> HeaderFact:
    header = _req(raw, "header", str, where).lower()
    target = _req(raw, key, str, where)
    if target not in allowed:
        raise RegistryError(f"{where}: header {header!r}: {key} must be one of {allowed}")
    return HeaderFact(
        header=header,
        target=target,
        source=str(raw.get("source", "")),
        reset_header=str(raw["reset_header"]).lower() if raw.get("reset_header") else None,
        remaining_header=str(raw["remaining_header"]).lower() if raw.get("remaining_header") else None,
    )


def _parse_key_pattern(pid: str, raw: Mapping[str, Any], where: str) -> KeyPattern:
    name = _req(raw, "name", str, where)
    confidence = raw.get("confidence", "strong")
    if confidence not in SOURCING:
        raise RegistryError(f"{where}: key pattern {name!r}: confidence must be one of {SOURCING}")
    return KeyPattern(
        provider=pid,
        name=name,
        regex=_compile(_req(raw, "regex", str, where), where),
        weight=_weight(raw, where),
        confidence=confidence,
        source=raw.get("source"),
    )


def _parse_fingerprint(pid: str, kind: FingerprintKind, raw: Mapping[str, Any], where: str) -> Fingerprint:
    fid = _req(raw, "id", str, where)
    where = f"{where} fingerprint {fid!r}"
    strength = raw.get("strength", "medium")
    if strength not in STRENGTHS:
        raise RegistryError(f"{where}: strength must be one of {STRENGTHS}")
    sourcing = raw.get("confidence", "strong")
    if sourcing not in SOURCING:
        raise RegistryError(f"{where}: confidence must be one of {SOURCING}")
    common: dict[str, Any] = {
        "provider": pid,
        "id": fid,
        "kind": kind,
        "weight": _weight(raw, where),
        "strength": strength,
        "specific": bool(raw.get("specific", False)),
        "sourcing": sourcing,
        "source": raw.get("source"),
    }
    desc = raw.get("desc")
    if kind == "header":
        header = raw.get("header")
        prefix = raw.get("header_prefix")
        if (header is None) == (prefix is None):
            raise RegistryError(f"{where}: give exactly one of header / header_prefix")
        value = _compile(raw["value"], where, re.IGNORECASE) if "value" in raw else None
        name = header.lower() if header else f"{prefix.lower()}*"
        auto = f"header {name} present" if value is None else f"header {name} ~ /{value.pattern}/"
        return Fingerprint(
            **common,
            description=desc or auto,
            header=header.lower() if header else None,
            header_prefix=prefix.lower() if prefix else None,
            value=value,
        )
    if kind == "models_body":
        shapes = tuple(raw.get("shape", ()))
        bad = [s for s in shapes if s not in MODELS_SHAPES]
        if bad:
            raise RegistryError(f"{where}: unknown shapes {bad}")
        item = tuple(_parse_condition(c, where) for c in raw.get("item", []))
        if not shapes and not item:
            raise RegistryError(f"{where}: a models fingerprint needs a shape or item conditions")
        min_fraction = float(raw.get("min_fraction", 0.5))
        if not 0.0 < min_fraction <= 1.0:
            raise RegistryError(f"{where}: min_fraction must be in (0, 1]")
        parts = []
        if shapes:
            parts.append(f"models shape {'|'.join(shapes)}")
        if item:
            parts.append("models items: " + " and ".join(c.describe() for c in item))
        return Fingerprint(
            **common,
            description=desc or "; ".join(parts),
            shapes=shapes,
            item=item,
            min_fraction=min_fraction,
        )
    body = tuple(_parse_condition(c, where) for c in raw.get("body", []))
    if not body:
        raise RegistryError(f"{where}: an error fingerprint needs body conditions")
    status = tuple(int(s) for s in raw.get("status", ()))
    auto = "error body: " + " and ".join(c.describe() for c in body)
    return Fingerprint(**common, description=desc or auto, status=status, body=body)


def _parse_condition(raw: Mapping[str, Any], where: str) -> Condition:
    path_s = _req(raw, "path", str, where)
    path = tuple(path_s.split("."))
    ops = [op for op in ("equals", "one_of", "regex", "type", "absent", "present") if op in raw]
    if len(ops) > 1:
        raise RegistryError(f"{where}: condition on {path_s!r} has several operators {ops}")
    op = ops[0] if ops else "present"
    if op == "regex":
        return Condition(path=path, op="regex", pattern=_compile(raw["regex"], where))
    if op == "type":
        if raw["type"] not in JSON_TYPES:
            raise RegistryError(f"{where}: unknown JSON type {raw['type']!r}")
        return Condition(path=path, op="type", value=raw["type"])
    if op == "one_of":
        return Condition(path=path, op="one_of", value=tuple(raw["one_of"]))
    if op == "equals":
        return Condition(path=path, op="equals", value=raw["equals"])
    if op == "absent":
        return Condition(path=path, op="absent" if raw["absent"] else "present")
    if op == "present" and not raw["present"]:
        return Condition(path=path, op="absent")
    return Condition(path=path, op="present")


def _parse_permissions(data: Mapping[str, Any], folder: str) -> KeyPermissions:
    where = f"providers/{folder}/permissions.toml"
    rows = []
    for raw in data.get("key_types", []):
        rows.append(
            KeyTypePermission(
                key_type=_req(raw, "type", str, where),
                role=_req(raw, "role", str, where),
                display_name=str(raw.get("display_name", raw["role"])),
                inference=_req(raw, "inference", bool, where),
                read_management=_req(raw, "read_management", bool, where),
                write_management=_req(raw, "write_management", bool, where),
                read_billing=_req(raw, "read_billing", bool, where),
                export_metrics=_req(raw, "export_metrics", bool, where),
                model_scoped=bool(raw.get("model_scoped", False)),
                uncertain=tuple(raw.get("uncertain", ())),
                note=str(raw.get("note", "")),
                source=str(raw.get("source", "")),
            )
        )
    return KeyPermissions(key_types=tuple(rows), sources=tuple(str(s) for s in data.get("sources", [])))


def _req(data: Mapping[str, Any], key: str, typ: type, where: str) -> Any:
    if key not in data or not isinstance(data[key], typ):
        raise RegistryError(f"{where}: {key!r} missing or not {typ.__name__}")
    return data[key]


def _weight(raw: Mapping[str, Any], where: str) -> float:
    w = raw.get("weight")
    if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w):
        raise RegistryError(f"{where}: weight missing or not a finite number")
    return float(w)


def _compile(pattern: str, where: str, flags: int = 0) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise RegistryError(f"{where}: bad regex {pattern!r}: {exc}") from exc


def _short_repr(value: Any) -> str:
    text = f'"{value}"' if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + '..."'
