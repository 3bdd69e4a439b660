"""Evidence -> identification: who really serves an endpoint.

Pure code. The probe engine summarises each HTTP exchange as an `HttpEvidence`; the caller turns the
secret into a `KeyShape` (pattern ids only) with `key_pattern_matches`, the one function here that
sees the key. `identify` scores the registry's fingerprints (weights are data, in each provider's
`provider.toml`; thresholds in `providers/scoring.toml`) and returns an `Identification`.

Rules:
- The endpoint's behaviour (headers, /models shape, error bodies) and the key's shape decide; the
  base URL's hostname is a small hint, and a loopback / IP base URL says nothing.
- Fingerprints marked `strong` cannot be faked cheaply by an OpenAI-compatible proxy; cosmetic ones
  (Server header, `object:"list"`) weigh little.
- A provider with `requires_specific` (OpenAI) needs one of its `specific` fingerprints and no strong
  evidence for any other provider: an OpenAI-compatible endpoint is not OpenAI by default.
- Contradictions are reported in `conflicts` and lower the confidence. Nothing decisive -> `unknown`.
- An HTML page (e.g. a WAF block page) is evidence of a WAF, not of a provider.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import urlsplit

from testkey_nb.identify.evidence import HttpEvidence, KeyShape
from testkey_nb.identify.loader import provider_ids
from testkey_nb.identify.schema import Condition, Fingerprint, KeyPattern, Registry

__all__ = [
    "PROVIDER_IDS",
    "UNKNOWN",
    "EvidenceItem",
    "HttpEvidence",
    "Identification",
    "KeyShape",
    "claimed_matches",
    "identify",
    "key_pattern_matches",
    "models_shape",
]

#: the provider ids, read from the registry's folders (``unknown`` is a folder too)
PROVIDER_IDS: tuple[str, ...] = provider_ids()
UNKNOWN = "unknown"

EvidenceSource = Literal["key_shape", "header", "models_body", "error_body", "base_url"]
BEHAVIOUR_SOURCES: frozenset[str] = frozenset({"header", "models_body", "error_body"})
_SOURCE_LABEL: dict[str, str] = {
    "key_shape": "key shape",
    "header": "headers",
    "models_body": "models body",
    "error_body": "error body",
    "base_url": "base URL",
}
_SOURCE_ORDER = ("key_shape", "header", "models_body", "error_body", "base_url")
_WAF_VENDORS: tuple[tuple[str, str], ...] = (
    ("cloudflare", "Cloudflare"),
    ("cf-ray", "Cloudflare"),
    ("cloudfront", "CloudFront"),
    ("akamai", "Akamai"),
    ("incapsula", "Imperva"),
    ("imperva", "Imperva"),
    ("awselb", "AWS ELB"),
)
_MISSING = object()


# --------------------------------------------------------------------------------------------------
# boundary types


@dataclass(frozen=True)
class EvidenceItem:
    source: EvidenceSource
    probe: str | None
    detail: str
    provider: str
    weight: float


@dataclass(frozen=True)
class Identification:
    provider: str
    confidence: float  # 0..1
    claimed: str | None
    matches_claim: bool | None  # None when no claim
    evidence: tuple[EvidenceItem, ...]
    conflicts: tuple[str, ...]  # human-readable contradictions


# --------------------------------------------------------------------------------------------------
# public functions


def key_pattern_matches(registry: Registry, key: str) -> KeyShape:
    """The only function that sees the key: returns the ids of the patterns it matches, nothing else."""
    return KeyShape(matches=registry.key_pattern_matches(key))


def claimed_matches(identification: Identification, min_confidence: float = 0.0) -> bool | None:
    """None without a claim; else whether the evidence names the claimed provider (with enough confidence)."""
    if identification.matches_claim is None:
        return None
    return identification.matches_claim and identification.confidence >= min_confidence


def identify(
    registry: Registry,
    key_shape: KeyShape,
    exchanges: Sequence[HttpEvidence],
    base_url: str | None = None,
    claimed: str | None = None,
) -> Identification:
    rules = registry.scoring
    found: dict[tuple[str, str], EvidenceItem] = {}  # (provider, fingerprint id) -> first sighting
    strength: dict[tuple[str, str], str] = {}
    info: list[EvidenceItem] = []  # zero-weight observations (WAF pages)

    def add(key: tuple[str, str], item: EvidenceItem, item_strength: str) -> None:
        if key not in found:
            found[key] = item
            strength[key] = item_strength

    # key shape: the best pattern per provider; a strong match silences other providers' weak ones
    patterns = registry.match_key_shape(key_shape)
    if any(kp.confidence == "strong" for kp in patterns):
        strong_owners = {kp.provider for kp in patterns if kp.confidence == "strong"}
        patterns = tuple(kp for kp in patterns if kp.confidence == "strong" or kp.provider in strong_owners)
    best: dict[str, KeyPattern] = {}
    for kp in patterns:
        if kp.provider != UNKNOWN and (kp.provider not in best or kp.weight > best[kp.provider].weight):
            best[kp.provider] = kp
    for kp in best.values():
        detail = f"key matches {kp.id} pattern ({kp.confidence}ly sourced)"
        add(
            (kp.provider, f"key:{kp.name}"),
            EvidenceItem("key_shape", None, detail, kp.provider, kp.weight),
            kp.strength,
        )

    # base URL: a hint only
    for provider, fid, detail, weight in _base_url_hints(registry, base_url):
        add((provider, fid), EvidenceItem("base_url", None, detail, provider, weight), "cosmetic")

    # the endpoint's behaviour
    header_fps = registry.fingerprints("header")
    models_fps = registry.fingerprints("models_body")
    error_fps = registry.fingerprints("error_body")
    for ex in exchanges:
        if ex.status is None:
            continue
        headers = _normalise_headers(ex.headers, rules.max_value_chars)
        if _is_html(ex, headers):
            info.append(_waf_item(ex, headers))
            continue
        for fp in header_fps:
            if _header_matches(fp, headers):
                add((fp.provider, fp.id), _fp_item(fp, "header", ex.probe, fp.description), fp.strength)
        body = ex.json_body
        if _is_catalog(ex) and 200 <= ex.status < 300:
            shape = models_shape(body)
            items = _catalog_items(body, rules.max_items)
            for fp in models_fps:
                if _models_matches(fp, shape, items, rules.max_value_chars):
                    add(
                        (fp.provider, fp.id),
                        _fp_item(fp, "models_body", ex.probe, fp.description),
                        fp.strength,
                    )
        if ex.status >= 400 and body is not None:
            for fp in error_fps:
                if (not fp.status or ex.status in fp.status) and _all_hold(
                    fp.body, body, rules.max_value_chars
                ):
                    detail = f"HTTP {ex.status} {fp.description}"
                    add((fp.provider, fp.id), _fp_item(fp, "error_body", ex.probe, detail), fp.strength)

    return _decide(registry, found, strength, info, claimed)


# --------------------------------------------------------------------------------------------------
# scoring


@dataclass(frozen=True)
class _Tally:
    provider: str
    items: tuple[EvidenceItem, ...]
    score: float  # net, floored at 0
    behaviour: float  # positive weight from the endpoint's behaviour
    real_behaviour: bool  # some of that behaviour evidence is more than cosmetic
    strong: bool  # positive strong evidence (any source but the base URL)
    specific: bool  # one of its `specific` fingerprints, positively
    significant: bool  # enough real evidence to contradict another answer
    sources: frozenset[str]  # independent sources with positive, not cosmetic evidence (no base URL)
    costly: bool  # one of its fingerprints is costly to fake (scoring.toml costly_to_fake)


def _decide(
    registry: Registry,
    found: Mapping[tuple[str, str], EvidenceItem],
    strength: Mapping[tuple[str, str], str],
    info: Sequence[EvidenceItem],
    claimed: str | None,
) -> Identification:
    rules = registry.scoring
    specific_ids = {(fp.provider, fp.id) for fp in registry.fingerprints() if fp.specific}
    tallies: dict[str, _Tally] = {}
    for pid in {k[0] for k in found}:
        keys = [k for k in found if k[0] == pid]
        items = tuple(found[k] for k in keys)
        positive = [k for k in keys if found[k].weight > 0]
        behaviour_keys = [k for k in positive if found[k].source in BEHAVIOUR_SOURCES]
        behaviour = sum(found[k].weight for k in behaviour_keys)
        strong_key_shape = any(found[k].source == "key_shape" and strength[k] == "strong" for k in positive)
        real_behaviour = any(strength[k] != "cosmetic" for k in behaviour_keys)
        tallies[pid] = _Tally(
            provider=pid,
            items=items,
            score=max(0.0, sum(i.weight for i in items)),
            behaviour=behaviour,
            real_behaviour=real_behaviour,
            strong=any(strength[k] == "strong" and found[k].source != "base_url" for k in positive),
            specific=any(k in specific_ids for k in positive),
            significant=strong_key_shape or (real_behaviour and behaviour >= rules.conflict_min_score),
            sources=frozenset(
                found[k].source for k in positive if strength[k] != "cosmetic" and found[k].source != "base_url"
            ),
            costly=any(f"{k[0]}:{k[1]}" in rules.costly_to_fake for k in positive),
        )

    vetoed: dict[str, str] = {}  # provider -> the rival with strong evidence
    eligible: list[_Tally] = []
    for t in tallies.values():
        if t.score < rules.min_score:
            continue
        if _requires_specific(registry, t.provider):
            rival = next(
                (o.provider for o in _ranked(tallies.values()) if o.provider != t.provider and o.strong), None
            )
            if not t.specific or rival is not None:
                if t.specific and rival is not None:
                    vetoed[t.provider] = rival
                continue
        eligible.append(t)
    ranked = _ranked(eligible)
    winner: _Tally | None = ranked[0] if ranked else None
    if (
        winner is not None
        and not winner.real_behaviour
        and any(
            o.provider != winner.provider and o.real_behaviour and o.significant for o in tallies.values()
        )
    ):
        winner = None  # only key / URL / cosmetic hints speak for it; the endpoint speaks for another
    if winner is None and claimed in tallies and not any(
        t.significant and t.score >= tallies[claimed].score for t in tallies.values() if t.provider != claimed
    ) and any(k[0] == claimed and found[k].source == "base_url" and found[k].weight > 0 for k in found):
        # a claim confirmed by the provider's own documented host, with nothing speaking for another provider
        # (issue 19: Nebius, SiliconFlow, Novita, Hyperbolic answers carry nothing of their own)
        winner = tallies[claimed]

    conflicts: list[str] = []
    provider = winner.provider if winner else UNKNOWN
    rivals = [t for t in _ranked(tallies.values()) if t.provider != provider and t.significant]
    if winner is not None:
        for r in rivals:
            conflicts.append(f"{_says(r)}; {_says(winner)}")
    elif len(rivals) >= 2:
        conflicts.append("; ".join(_says(r) for r in rivals) + "; nothing decisive")
    for pid, rival in sorted(vetoed.items()):
        strong_items = [
            found[k] for k in found if k[0] == rival and found[k].weight > 0 and strength[k] == "strong"
        ]
        strong_sources = _source_phrase(strong_items)
        name = registry.get(pid).display_name
        conflicts.append(
            f"{pid} ruled out: it needs {name}-specific evidence and no strong evidence for another "
            f"provider, but {strong_sources} {_verb_for(strong_items)} {rival}"
        )

    confidence = 0.0
    if winner is not None:
        confidence = 1.0 - math.exp(-winner.score / rules.confidence_scale)
        if not winner.real_behaviour:
            confidence *= rules.max_confidence_without_behaviour  # squeezed into [0, cap]
        runner_up = max((t.score for t in tallies.values() if t.provider != winner.provider), default=0.0)
        confidence *= winner.score / (winner.score + runner_up)
        if rivals or vetoed:
            confidence *= rules.conflict_penalty
        if len(winner.sources) < rules.min_independent_sources and not winner.costly:
            # one source a proxy can rewrite for free (one body field, one header) is not enough
            confidence = min(confidence, rules.max_confidence_one_source)
        confidence = round(min(max(confidence, 0.0), 1.0), 3)

    claim = _normalise_claim(registry, claimed)
    matches_claim = None if claim is None else claim == provider
    if claim is not None and not matches_claim:
        conflicts.append(f"claimed {claim}, evidence says {provider}")

    def order(item: EvidenceItem) -> tuple[int, str, float, str, str]:
        return (0 if item.provider == provider else 1, item.provider, -item.weight, item.source, item.detail)

    evidence = tuple(sorted(found.values(), key=order)) + tuple(info)
    return Identification(
        provider=provider,
        confidence=confidence,
        claimed=claim,
        matches_claim=matches_claim,
        evidence=evidence,
        conflicts=tuple(conflicts),
    )


def _ranked(tallies: Iterable[_Tally]) -> list[_Tally]:
    return sorted(tallies, key=lambda t: (-t.score, t.provider))


def _requires_specific(registry: Registry, provider: str) -> bool:
    try:
        return registry.get(provider).requires_specific
    except KeyError:
        return False


def _says(t: _Tally) -> str:
    positive = [i for i in t.items if i.weight > 0]
    return f"{_source_phrase(positive)} {_verb_for(positive)} {t.provider}"


def _verb_for(items: Sequence[EvidenceItem]) -> str:
    sources = {i.source for i in items}
    return "says" if len(sources) == 1 and "header" not in sources else "say"


def _source_phrase(items: Sequence[EvidenceItem]) -> str:
    labels = [_SOURCE_LABEL[s] for s in _SOURCE_ORDER if any(i.source == s for i in items)]
    if not labels:
        return "nothing"
    if len(labels) == 1:
        return labels[0]
    return ", ".join(labels[:-1]) + " and " + labels[-1]


def _normalise_claim(registry: Registry, claimed: str | None) -> str | None:
    if claimed is None:
        return None
    text = claimed.strip().lower()
    if not text:
        return None
    for p in registry.providers:
        if text in (p.id, p.display_name.lower()):
            return p.id
    return text


# --------------------------------------------------------------------------------------------------
# matching


def models_shape(body: object) -> str:
    """Top-level shape of a /models body (see providers.MODELS_SHAPES)."""
    if isinstance(body, list):
        return "bare-array"
    if isinstance(body, Mapping) and isinstance(body.get("data"), list):
        if "has_more" in body or "first_id" in body or "last_id" in body:
            return "anthropic-paged"
        if body.get("object") == "list":
            return "object-list"
        return "object-with-data-no-object-list"
    return "other"


def _catalog_items(body: object, limit: int) -> list[Mapping[str, Any]]:
    data: object = body
    if isinstance(body, Mapping):
        data = body.get("data")
    if not isinstance(data, list):
        return []
    return [i for i in data[:limit] if isinstance(i, Mapping)]


def _is_catalog(ex: HttpEvidence) -> bool:
    path = ex.url_path.split("?", 1)[0].rstrip("/") if isinstance(ex.url_path, str) else ""
    return ex.probe == "catalog" or path.endswith("/models")


def _models_matches(fp: Fingerprint, shape: str, items: Sequence[Mapping[str, Any]], max_chars: int) -> bool:
    if fp.shapes and shape not in fp.shapes:
        return False
    if not fp.item:
        return True
    if not items:
        return False
    hits = sum(1 for it in items if _all_hold(fp.item, it, max_chars))
    return hits / len(items) >= fp.min_fraction


def _all_hold(conditions: Sequence[Condition], obj: object, max_chars: int) -> bool:
    return all(_holds(c, obj, max_chars) for c in conditions)


def _holds(cond: Condition, obj: object, max_chars: int) -> bool:
    at = next((i for i, part in enumerate(cond.path) if part.endswith("[]")), None)
    if at is not None:  # ``details[].quotaId``: the condition holds for some item of the list
        items = _lookup(obj, (*cond.path[:at], cond.path[at][:-2]))
        rest = replace(cond, path=cond.path[at + 1 :])
        return isinstance(items, list) and any(_holds(rest, item, max_chars) for item in items[:64])
    value = _lookup(obj, cond.path)
    if cond.op == "absent":
        return value is _MISSING
    if value is _MISSING:
        return False
    if cond.op == "present":
        return True
    if cond.op == "equals":
        return _json_equal(value, cond.value)
    if cond.op == "one_of":
        return any(_json_equal(value, v) for v in cond.value)
    if cond.op == "regex":
        return (
            isinstance(value, str)
            and cond.pattern is not None
            and bool(cond.pattern.search(value[:max_chars]))
        )
    return bool(_json_type(value) == cond.value)


def _lookup(obj: object, path: Sequence[str]) -> object:
    cur = obj
    for part in path:
        if not isinstance(cur, Mapping):
            return _MISSING
        try:
            cur = cur.get(part, _MISSING)
        except TypeError:  # unhashable / odd keys in a hostile mapping
            return _MISSING
        if cur is _MISSING:
            return _MISSING
    return cur


def _json_equal(value: object, expected: object) -> bool:
    if isinstance(value, bool) or isinstance(expected, bool):
        return isinstance(value, bool) and isinstance(expected, bool) and value == expected
    if isinstance(expected, int | float):
        return isinstance(value, int | float) and value == expected
    return isinstance(value, str) and value == expected


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return "other"


def _normalise_headers(headers: object, max_chars: int) -> dict[str, str]:
    out: dict[str, str] = {}
    if not isinstance(headers, Mapping):
        return out
    for name, value in headers.items():
        if not isinstance(name, str):
            continue
        text = value if isinstance(value, str) else str(value)
        key = name.strip().lower()
        out[key] = f"{out[key]}, {text}"[:max_chars] if key in out else text[:max_chars]
    return out


def _header_matches(fp: Fingerprint, headers: Mapping[str, str]) -> bool:
    if fp.header is not None:
        candidates = [headers[fp.header]] if fp.header in headers else []
    else:
        prefix = fp.header_prefix or ""
        candidates = [v for k, v in headers.items() if k.startswith(prefix)]
    if fp.value is None:
        return bool(candidates)
    return any(fp.value.search(v) for v in candidates)


def _is_html(ex: HttpEvidence, headers: Mapping[str, str]) -> bool:
    if "html" in headers.get("content-type", "").lower():
        return True
    snippet = ex.text_snippet
    return ex.json_body is None and isinstance(snippet, str) and snippet.lstrip()[:1] == "<"


def _waf_item(ex: HttpEvidence, headers: Mapping[str, str]) -> EvidenceItem:
    haystack = " ".join(
        [
            *headers.keys(),
            headers.get("server", ""),
            ex.text_snippet if isinstance(ex.text_snippet, str) else "",
        ]
    ).lower()
    vendor = next((name for needle, name in _WAF_VENDORS if needle in haystack), None)
    by = f" ({vendor})" if vendor else ""
    detail = f"HTML page on HTTP {ex.status}: a WAF or edge block page{by}, not evidence of a provider"
    return EvidenceItem("error_body", ex.probe, detail, UNKNOWN, 0.0)


def _fp_item(fp: Fingerprint, source: EvidenceSource, probe: str, detail: str) -> EvidenceItem:
    return EvidenceItem(source, probe, detail, fp.provider, fp.weight)


def _base_url_hints(registry: Registry, base_url: str | None) -> list[tuple[str, str, str, float]]:
    if not base_url:
        return []
    try:
        parts = urlsplit(base_url.strip())
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return []
    path = parts.path.rstrip("/")
    hints: list[tuple[str, str, str, float]] = []
    rules = registry.scoring
    named_host = bool(host) and host != "localhost" and not host.endswith(".localhost") and not _is_ip(host)
    for p in registry.providers:
        if p.id == UNKNOWN:
            continue
        if named_host:
            for h in p.hostnames:
                if host == h or host.endswith("." + h):
                    hints.append(
                        (p.id, f"host:{h}", f"base URL host {host} is under {h}", rules.base_url_weight)
                    )
                    break
        for hint in p.path_hints:
            if re.search(re.escape(hint.rstrip("/")) + r"(/|$)", path):
                hints.append((p.id, f"path:{hint}", f"base URL path contains {hint}", rules.path_hint_weight))
                break
    return hints


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
