"""The registry's schema: what one provider folder declares, as frozen dataclasses.

`identify.loader` turns `testkey_nb/providers/<id>/provider.toml` (identity, auth, key patterns,
fingerprints, capabilities, documented rate-limit tiers), the optional `permissions.toml` (key types
and what each may do) and `scoring.toml` (the identification thresholds) into these types. Nothing
here names a provider.

Everything is immutable (frozen dataclasses, tuples, compiled patterns).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

# re-exported: the registry's auth types live in auth.py
from testkey_nb.identify.auth import BEARER as BEARER
from testkey_nb.identify.auth import AuthBase as AuthBase
from testkey_nb.identify.auth import AuthSpec as AuthSpec
from testkey_nb.identify.auth import AuthTemplate as AuthTemplate
from testkey_nb.identify.evidence import KeyShape
from testkey_nb.identify.outcomes import Outcomes

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
#: a fingerprint is ``specific`` (only this provider emits it) or ``shared`` (other hosts emit it too: an
#: OpenAI-compatible envelope, a CDN header, a catalog field); docs/identification.md
MARKERS: tuple[str, ...] = ("specific", "shared")
SOURCING: tuple[str, ...] = ("strong", "weak")
JSON_TYPES: tuple[str, ...] = ("string", "number", "integer", "bool", "object", "array", "null")

LIMIT_SCOPES: tuple[str, ...] = (
    "requests_per_minute", "tokens_per_minute", "requests_per_day", "tokens_per_day", "tokens_per_month",
)  # fmt: skip
#: how a ``[[limit_headers]]`` value is written: a plain number, or the IETF draft's structured
#: ``RateLimit-Policy`` (``q`` quota over ``w`` seconds) with ``RateLimit`` (``r`` remaining, ``t`` reset)
LIMIT_FORMATS: tuple[str, ...] = ("number", "ietf-ratelimit")
IDENTITY_FIELDS: tuple[str, ...] = ("user", "workspace", "organization")
#: what an endpoint reads (the README's provider table columns)
READS: tuple[str, ...] = ("identity", "models", "permissions", "limits", "balance", "usage", "prices", "operations")

Strength = Literal["strong", "medium", "cosmetic"]
Marker = Literal["specific", "shared"]
FingerprintKind = Literal["header", "models_body", "error_body"]


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
    #: no_balance (money: top up) or no_plan (a plan window: it recovers by itself); see identify/outcomes.py
    reason: str = "no_balance"


@dataclass(frozen=True)
class PostAuthRule(NoQuotaRule):
    """An error the provider gives only once the key has passed auth (a bad key gets 401 first): such an
    answer to a model call proves the key, even for a placeholder model (Hugging Face's 400
    ``model_not_found``)."""


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
    #: where the model items are (``data`` in the OpenAI shape; Cohere ``models``) and which field names each
    #: (``id``; Cohere ``name``)
    items: str = "data"
    id: str = "id"
    source: str = ""
    #: a regex on the base URL's path where this map holds instead of the provider's default (``[[catalog.bases]]``:
    #: Gemini's native ``/v1beta`` lists ``{models: [{name}]}`` beside its compatible base's ``data[].id``)
    base: str = ""
    bases: tuple[CatalogFields, ...] = ()

    def for_base(self, base_url: str | None) -> CatalogFields:
        """The map for a catalog read on ``base_url``: the first ``[[catalog.bases]]`` entry whose ``base`` the
        URL's path matches, else this one."""
        if base_url:
            path = urlsplit(base_url).path.rstrip("/")
            for entry in self.bases:
                if re.search(entry.base, path):
                    return entry
        return self


@dataclass(frozen=True)
class HeaderFact:
    """A response header that carries a fact: a limit (``scope``) or an identity field (``field``)."""

    header: str
    target: str  # limits: requests_per_minute | tokens_per_minute | requests_per_day | tokens_per_day
    #: identity: user | workspace | organization
    source: str = ""
    reset_header: str | None = None
    remaining_header: str | None = None
    #: the window (seconds) the header's value counts over, as the provider documents it, when it is not
    #: the scope's own (Fireworks' tokens per second, Mistral's requests per 10 s): the value is converted
    #: to the scope's window and marked ``derived``; a structured header that names its window wins
    per_seconds: float | None = None
    #: ``number`` or ``ietf-ratelimit`` (see ``LIMIT_FORMATS``)
    format: str = "number"


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

    def public_part(self, key: str) -> str | None:
        """The part of ``key`` the provider lists and revokes keys by (the pattern's ``prefix`` group),
        when the key fully matches a pattern that declares one."""
        if "prefix" not in self.regex.groupindex:
            return None
        match = self.regex.fullmatch(key)
        return match.group("prefix") if match else None

    @property
    def strength(self) -> Strength:
        # A well-sourced, distinctive key format cannot be faked by an endpoint; a weakly sourced or
        # generic one (e.g. 32 alphanumerics) is only suggestive.
        return "strong" if self.confidence == "strong" else "medium"


@dataclass(frozen=True)
class KeyLabel:
    """How a key's label (``baseten-3f9a2c``) names this provider from the key's shape alone: the key
    starts with one of ``prefixes``, or fully matches one of the key patterns named in ``patterns``."""

    prefixes: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()


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
    #: "specific": only this provider emits it (it can name the provider and raise a conflict);
    #: "shared": other hosts emit it too (it adds weight to a provider named otherwise, nothing more)
    marker: Marker
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

    @property
    def specific(self) -> bool:
        return self.marker == "specific"


@dataclass(frozen=True)
class CapabilitySupport:
    capability: str
    status: Literal["supported", "partial", "unsupported", "unknown"]
    note: str = ""


#: The ways of billing beyond per-token prices that the billing notebook can meter.
BILLING_METERINGS = ("deployment_minutes",)


@dataclass(frozen=True)
class BillingSpec:
    """How the provider bills beyond per-token prices (provider.toml ``[billing]``). ``deployment_minutes``:
    dedicated deployments billed per minute per replica at an instance type's price (the billing
    notebook's model); ``note`` says it in the provider's words, ``source`` where it is documented."""

    metering: str
    note: str = ""
    source: str = ""


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
    post_auth: tuple[PostAuthRule, ...] = ()
    catalog: CatalogFields = field(default_factory=CatalogFields)
    key_label: KeyLabel = field(default_factory=KeyLabel)
    #: how the provider bills beyond per-token prices (None: per-token prices only, as far as its data says)
    billing: BillingSpec | None = None
    #: hosts and routes, status rules, HTTP-200 error envelopes, money units (identify/outcomes.py)
    outcomes: Outcomes = field(default_factory=Outcomes)
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

    def label_provider(self, key: str) -> str | None:
        """The provider a key's label names, from its shape alone: a declared prefix (longest first),
        then a key pattern a provider marks for labels; None when no provider claims the shape."""
        prefixes = sorted(
            ((prefix, p.id) for p in self.providers for prefix in p.key_label.prefixes), key=lambda x: -len(x[0])
        )
        for prefix, pid in prefixes:
            if key.startswith(prefix):
                return pid
        for p in self.providers:
            if any(kp.name in p.key_label.patterns and kp.regex.fullmatch(key) for kp in p.key_patterns):
                return p.id
        return None

    def public_part(self, key: str) -> tuple[KeyPattern, str] | None:
        """The first key pattern that declares a public part (a ``prefix`` group) and ``key`` fully
        matches, with that part (what the provider lists and revokes keys by)."""
        for kp in self.key_patterns():
            part = kp.public_part(key)
            if part is not None:
                return kp, part
        return None

    def match_key_shape(self, shape_info: KeyShape | Iterable[str]) -> tuple[KeyPattern, ...]:
        """The registry's key patterns named by a KeyShape (or by an iterable of pattern ids)."""
        wanted = set(shape_info.matches if isinstance(shape_info, KeyShape) else shape_info)
        return tuple(kp for kp in self.key_patterns() if kp.id in wanted)


def _short_repr(value: Any) -> str:
    text = f'"{value}"' if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + '..."'
