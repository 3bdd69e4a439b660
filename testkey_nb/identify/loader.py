"""The registry's loader: provider folders of TOML -> `identify.schema` types.

Each folder `testkey_nb/providers/<id>/` holds `provider.toml` and optionally `permissions.toml`;
`scoring.toml` beside the folders holds the identification thresholds. Adding a provider is adding a
folder: nothing here names a provider, and the provider ids are the folders' names (`provider_ids`).
Malformed data raises `RegistryError` at load time, never during identification.
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from testkey_nb.identify.outcomes import no_quota_reason, parse_outcomes
from testkey_nb.identify.schema import (
    BILLING_METERINGS,
    CAPABILITIES,
    CAPABILITY_STATUSES,
    IDENTITY_FIELDS,
    JSON_TYPES,
    LIMIT_FORMATS,
    LIMIT_SCOPES,
    MARKERS,
    MODELS_SHAPES,
    READS,
    SOURCING,
    STRENGTHS,
    AuthBase,
    AuthSpec,
    BillingSpec,
    CapabilitySupport,
    CatalogFields,
    Condition,
    Endpoint,
    Fingerprint,
    FingerprintKind,
    HeaderFact,
    KeyLabel,
    KeyPattern,
    KeyPermissions,
    KeyTypePermission,
    Marker,
    NoQuotaRule,
    PostAuthRule,
    ProviderSpec,
    RateLimits,
    RateLimitTier,
    Registry,
    ScoringRules,
)

_ID_RE = re.compile(r"^[a-z][a-z0-9_-]*$")


class RegistryError(ValueError):
    """The provider data is malformed (raised at load time, never during identification)."""


def _root(root: Path | Traversable | None) -> Path | Traversable:
    return root if root is not None else resources.files("testkey_nb.providers")


def _provider_folders(base: Path | Traversable) -> list[Path | Traversable]:
    return [
        child
        for child in sorted(base.iterdir(), key=lambda c: c.name)
        if child.is_dir() and not child.name.startswith(("_", ".")) and child.joinpath("provider.toml").is_file()
    ]


def provider_ids(root: Path | Traversable | None = None) -> tuple[str, ...]:
    """The provider ids: the names of the folders holding a `provider.toml` (no TOML is parsed)."""
    return tuple(child.name for child in _provider_folders(_root(root)))


def load_registry(root: Path | Traversable | None = None) -> Registry:
    """Load every `<root>/<id>/provider.toml` (default: the folders of this package, read once per
    process: the registry is immutable, and the key's label and the probe share it)."""
    return _packaged_registry() if root is None else _load(root)


@functools.cache
def _packaged_registry() -> Registry:
    return _load(_root(None))


def _load(base: Path | Traversable) -> Registry:
    providers: list[ProviderSpec] = []
    for child in _provider_folders(base):
        data = _read_toml(child.joinpath("provider.toml"))
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
        bases=tuple(
            AuthBase(
                path=str(b["path"]),
                header=str(b["header"]),
                schemes=tuple(str(x) for x in b.get("schemes", ["raw"])),
                note=b.get("note"),
                source=b.get("source"),
            )
            for b in auth_data.get("bases", [])
        ),
    )
    key_patterns = tuple(_parse_key_pattern(pid, kp, where) for kp in data.get("key_patterns", []))
    fps: list[Fingerprint] = []
    sections: tuple[tuple[str, FingerprintKind], ...] = (
        ("headers", "header"),
        ("models", "models_body"),
        ("errors", "error_body"),
    )
    for section, kind in sections:
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
                RateLimitTier(name=str(t["name"]), rpm=t.get("rpm"), tpm=t.get("tpm"), note=str(t.get("note", "")))
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
                reason=no_quota_reason(r, where, RegistryError),
            )
            for r in data.get("no_quota", [])
        ),
        outcomes=parse_outcomes(data, where, _parse_condition, RegistryError),
        post_auth=tuple(
            PostAuthRule(
                status=tuple(int(x) for x in r.get("status", ())),
                body=tuple(_parse_condition(c, where) for c in r.get("body", [])),
                source=str(r.get("source", "")),
            )
            for r in data.get("post_auth", [])
        ),
        catalog=_parse_catalog(data.get("catalog", {}), where),
        key_label=_parse_key_label(data.get("key_label", {}), key_patterns, where),
        billing=_parse_billing(data.get("billing"), where),
    )


def _parse_billing(raw: Any, where: str) -> BillingSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or raw.get("metering") not in BILLING_METERINGS:
        raise RegistryError(f"{where}: [billing] needs metering = one of {list(BILLING_METERINGS)}")
    return BillingSpec(metering=str(raw["metering"]), note=str(raw.get("note", "")), source=str(raw.get("source", "")))


def _parse_key_label(raw: Mapping[str, Any], patterns: tuple[KeyPattern, ...], where: str) -> KeyLabel:
    unknown = set(raw) - {"prefixes", "patterns"}
    if unknown:
        raise RegistryError(f"{where}: [key_label] unknown keys {sorted(unknown)}")
    prefixes = tuple(str(p) for p in raw.get("prefixes", ()))
    if any(not p for p in prefixes):
        raise RegistryError(f"{where}: [key_label] an empty prefix would name every key")
    names = tuple(str(n) for n in raw.get("patterns", ()))
    missing = set(names) - {kp.name for kp in patterns}
    if missing:
        raise RegistryError(f"{where}: [key_label] names unknown key patterns {sorted(missing)}")
    return KeyLabel(prefixes=prefixes, patterns=names)


def _parse_catalog(raw: Mapping[str, Any], where: str, *, nested: bool = False) -> CatalogFields:
    known = set(CatalogFields.__dataclass_fields__) - ({"bases"} if nested else {"base"})
    unknown = set(raw) - known
    if unknown:
        raise RegistryError(f"{where}: [catalog] unknown keys {sorted(unknown)}")
    if raw.get("price_per", "token") not in ("token", "million"):
        raise RegistryError(f"{where}: [catalog] price_per must be token or million")
    bases = tuple(_parse_catalog(b, where, nested=True) for b in raw.get("bases", ()))
    if nested and not raw.get("base"):
        raise RegistryError(f"{where}: [[catalog.bases]] needs base (a regex on the base URL's path)")
    return CatalogFields(**{k: str(v) for k, v in raw.items() if k != "bases"}, bases=bases)


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
        per_seconds=_per_seconds(raw.get("per_seconds"), header, where),
        format=_limit_format(raw.get("format", "number"), header, where),
    )


def _per_seconds(value: Any, header: str, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise RegistryError(f"{where}: header {header!r}: per_seconds must be a positive number of seconds")
    return float(value)


def _limit_format(value: Any, header: str, where: str) -> str:
    if value not in LIMIT_FORMATS:
        raise RegistryError(f"{where}: header {header!r}: format must be one of {LIMIT_FORMATS}")
    return str(value)


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
        "marker": _marker(raw, where),
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
        name = str(header).lower() if header else f"{str(prefix).lower()}*"
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


def _marker(raw: Mapping[str, Any], where: str) -> Marker:
    """``marker = "specific" | "shared"`` (docs/identification.md). The older ``specific = true | false``
    says the same; a fingerprint that states neither is ``shared``: nobody vouched that only this
    provider emits it, so it can neither name the provider nor raise a conflict."""
    marker = raw.get("marker")
    legacy = raw.get("specific")
    if legacy is not None and not isinstance(legacy, bool):
        raise RegistryError(f'{where}: specific must be true or false (better: marker = "specific" | "shared")')
    if marker is None:
        return "specific" if legacy else "shared"
    if marker not in MARKERS:
        raise RegistryError(f"{where}: marker must be one of {MARKERS}")
    if legacy is not None and legacy != (marker == "specific"):
        raise RegistryError(f"{where}: marker = {marker!r} contradicts specific = {str(legacy).lower()}")
    return "specific" if marker == "specific" else "shared"


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
