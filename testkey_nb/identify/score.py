"""Evidence -> identification: who really serves an endpoint.

Pure code. The probe engine summarises each HTTP exchange as an `HttpEvidence`; the caller turns the
secret into a `KeyShape` (pattern ids only) with `key_pattern_matches`, the one function here that
sees the key. `identify` scores the registry's fingerprints (weights are data, in each provider's
`provider.toml`; thresholds in `providers/scoring.toml`) and returns an `Identification`.

Rules (docs/identification.md):
- Every fingerprint is `specific` (only its provider emits it) or `shared` (other hosts emit it too:
  an OpenAI-compatible envelope, a CDN header, a catalog field). A provider is named only by one of
  its specific fingerprints in the endpoint's answers or by the key's shape; shared fingerprints add
  weight to a provider named otherwise, never name one alone, and never raise a conflict.
- The key's shape is the user's evidence, not the endpoint's: without a specific fingerprint from the
  endpoint the confidence stays low, and the key is not one of the independent sources.
- "Conflicting evidence" is another provider's specific markers carrying real weight (or a strongly
  sourced key pattern of another provider); it lowers the confidence. Nothing decisive -> `unknown`.
- A provider with `requires_specific` (OpenAI) needs one of its specific fingerprints and no strong
  specific evidence for any other provider: an OpenAI-compatible endpoint is not OpenAI by default.
- The base URL's hostname is a small hint, and a loopback / IP base URL says nothing.
- An HTML page (e.g. a WAF block page) is evidence of a WAF, not of a provider.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from testkey_nb.identify.evidence import HttpEvidence, KeyShape
from testkey_nb.identify.loader import provider_ids
from testkey_nb.identify.match import (
    all_hold,
    catalog_items,
    header_matches,
    is_catalog,
    is_html,
    models_matches,
    models_shape,
    normalise_headers,
)
from testkey_nb.identify.schema import Fingerprint, KeyPattern, Registry, ScoringRules

__all__ = [
    "PROVIDER_IDS",
    "UNKNOWN",
    "EvidenceItem",
    "HttpEvidence",
    "Identification",
    "KeyShape",
    "claimed_matches",
    "evidence_conflicts",
    "identified_by_endpoint",
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


#: kept for check/profile.py (its no-quota rules), which imports it from here
_all_hold = all_hold

# --------------------------------------------------------------------------------------------------
# boundary types


@dataclass(frozen=True)
class EvidenceItem:
    source: EvidenceSource
    probe: str | None
    detail: str
    provider: str
    weight: float
    specific: bool = False  # from a fingerprint only this provider emits (never the key or the URL)
    fingerprint: str = ""  # "provider:id" of the fingerprint or key pattern, "provider:host:..." for the URL


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


def evidence_conflicts(identification: Identification) -> tuple[str, ...]:
    """The conflicts the evidence itself raises: another provider's specific markers, a veto. The claim
    that the evidence contradicts (``claimed X, evidence says Y``) is left out: it is its own finding."""
    claim = _claim_conflict(identification.claimed, identification.provider)
    return tuple(c for c in identification.conflicts if c != claim)


def identified_by_endpoint(identification: Identification) -> bool:
    """Whether the endpoint itself named the provider: one of its specific fingerprints was seen in an
    answer. Only then may the provider's own plan (its management and account paths) go to the host:
    a key's shape or shared features say nothing about who serves the host."""
    return identification.provider != UNKNOWN and any(
        e.provider == identification.provider and e.specific and e.weight > 0 and e.source in BEHAVIOUR_SOURCES
        for e in identification.evidence
    )


def claimed_on_own_host(identification: Identification) -> bool:
    """Whether the key was claimed for the provider it names and checked on that provider's own documented
    host (issue 19 #13): the host is the provider's, not a gateway's, so its own plan's paths are its."""
    named = identification.provider
    return (
        named != UNKNOWN
        and identification.claimed == named
        and any(
            e.provider == named and e.source == "base_url" and e.weight > 0
            and e.fingerprint.startswith(f"{named}:host:")
            for e in identification.evidence
        )
    )


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
            EvidenceItem("key_shape", None, detail, kp.provider, kp.weight, fingerprint=kp.id),
            kp.strength,
        )

    # base URL: a hint only
    for provider, fid, detail, weight in _base_url_hints(registry, base_url):
        add((provider, fid), EvidenceItem("base_url", None, detail, provider, weight, fingerprint=f"{provider}:{fid}"),
            "cosmetic")  # fmt: skip

    # the endpoint's behaviour
    header_fps = registry.fingerprints("header")
    models_fps = registry.fingerprints("models_body")
    error_fps = registry.fingerprints("error_body")
    for ex in exchanges:
        if ex.status is None:
            continue
        headers = normalise_headers(ex.headers, rules.max_value_chars)
        if is_html(ex, headers):
            info.append(_waf_item(ex, headers))
            continue
        for fp in header_fps:
            if header_matches(fp, headers):
                add((fp.provider, fp.id), _fp_item(fp, "header", ex.probe, fp.description), fp.strength)
        body = ex.json_body
        if is_catalog(ex) and 200 <= ex.status < 300:
            shape = models_shape(body)
            items = catalog_items(body, rules.max_items)
            for fp in models_fps:
                if models_matches(fp, shape, items, rules.max_value_chars):
                    add(
                        (fp.provider, fp.id),
                        _fp_item(fp, "models_body", ex.probe, fp.description),
                        fp.strength,
                    )
        if body is not None and (ex.status >= 400 or 200 <= ex.status < 300):
            for fp in error_fps:
                if ex.status < 400 and not _in_envelope(registry, fp.provider, ex):
                    continue  # a 2xx body is read for error marks only where its provider answers errors so
                if (not fp.status or ex.status in fp.status) and all_hold(
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
    marked: float  # positive weight of its specific fingerprints in the endpoint's answers
    key: bool  # the key's shape matches one of its patterns (the user's evidence)
    strong: bool  # a strong specific fingerprint, or a strongly sourced key pattern
    significant: bool  # enough specific evidence to contradict another answer (a conflict)
    sources: frozenset[str]  # the endpoint's independent sources with positive, not cosmetic evidence
    costly: bool  # one of its fingerprints is costly to fake (scoring.toml costly_to_fake)

    @property
    def named(self) -> bool:
        """Something only this provider emits, or the key's shape, speaks for it (shared features never do)."""
        return self.marked > 0 or self.key


def _tally(pid: str, found: Mapping[tuple[str, str], EvidenceItem], strength: Mapping[tuple[str, str], str],
           rules: ScoringRules) -> _Tally:  # fmt: skip
    keys = [k for k in found if k[0] == pid]
    positive = [k for k in keys if found[k].weight > 0]
    behaviour = [k for k in positive if found[k].source in BEHAVIOUR_SOURCES]
    marked = sum(found[k].weight for k in behaviour if found[k].specific)
    shape = [k for k in positive if found[k].source == "key_shape"]
    strong_key = any(strength[k] == "strong" for k in shape)
    return _Tally(
        provider=pid,
        items=tuple(found[k] for k in keys),
        score=max(0.0, sum(found[k].weight for k in keys)),
        marked=marked,
        key=bool(shape),
        strong=strong_key or any(strength[k] == "strong" and found[k].specific for k in behaviour),
        significant=strong_key or marked >= rules.conflict_min_score,
        sources=frozenset(found[k].source for k in behaviour if strength[k] != "cosmetic"),
        costly=any(f"{k[0]}:{k[1]}" in rules.costly_to_fake for k in positive),
    )


def _decide(
    registry: Registry,
    found: Mapping[tuple[str, str], EvidenceItem],
    strength: Mapping[tuple[str, str], str],
    info: Sequence[EvidenceItem],
    claimed: str | None,
) -> Identification:
    rules = registry.scoring
    tallies = {pid: _tally(pid, found, strength, rules) for pid in {k[0] for k in found}}

    vetoed: dict[str, str] = {}  # provider -> the rival with strong specific evidence
    eligible: list[_Tally] = []
    for t in tallies.values():
        if t.score < rules.min_score or not t.named:
            continue  # shared features alone never name a provider
        if _requires_specific(registry, t.provider):
            rival = next(
                (o.provider for o in _ranked(tallies.values()) if o.provider != t.provider and o.strong), None
            )
            if t.marked <= 0 or rival is not None:
                if t.marked > 0 and rival is not None:
                    vetoed[t.provider] = rival
                continue
        eligible.append(t)
    ranked = _ranked(eligible)
    winner: _Tally | None = ranked[0] if ranked else None
    if (
        winner is not None
        and winner.marked <= 0
        and any(o.provider != winner.provider and o.marked >= rules.conflict_min_score for o in tallies.values())
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
            conflicts.append(f"{_says(r, markers_only=True)}; {_says(winner)}")
    elif len(rivals) >= 2:
        conflicts.append("; ".join(_says(r, markers_only=True) for r in rivals) + "; nothing decisive")
    for pid, rival in sorted(vetoed.items()):
        strong_items = [
            found[k]
            for k in found
            if k[0] == rival and found[k].weight > 0 and strength[k] == "strong"
            and (found[k].specific or found[k].source == "key_shape")
        ]  # fmt: skip
        name = registry.get(pid).display_name
        conflicts.append(
            f"{pid} ruled out: it needs {name}-specific evidence and no strong evidence for another "
            f"provider, but {_source_phrase(strong_items)} {_verb_for(strong_items)} {rival}"
        )

    confidence = 0.0
    if winner is not None:
        confidence = 1.0 - math.exp(-winner.score / rules.confidence_scale)
        if winner.marked <= 0:
            confidence *= rules.max_confidence_without_behaviour  # the endpoint said nothing only it says
        runner_up = max(
            (t.score for t in tallies.values() if t.provider != winner.provider and t.named), default=0.0
        )
        confidence *= winner.score / (winner.score + runner_up)
        if rivals or vetoed:
            confidence *= rules.conflict_penalty
        if len(winner.sources) < rules.min_independent_sources and not winner.costly:
            # one source a proxy can rewrite for free (one body field, one header) is not enough, and the
            # key's shape is the user's evidence, not the endpoint's
            confidence = min(confidence, rules.max_confidence_one_source)
        confidence = round(min(max(confidence, 0.0), 1.0), 3)

    claim = _normalise_claim(registry, claimed)
    matches_claim = None if claim is None else claim == provider
    if claim is not None and not matches_claim:
        conflicts.append(_claim_conflict(claim, provider))

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


def _claim_conflict(claim: str | None, provider: str) -> str:
    return f"claimed {claim}, evidence says {provider}"


def _ranked(tallies: Iterable[_Tally]) -> list[_Tally]:
    return sorted(tallies, key=lambda t: (-t.score, t.provider))


def _requires_specific(registry: Registry, provider: str) -> bool:
    try:
        return registry.get(provider).requires_specific
    except KeyError:
        return False


def _says(t: _Tally, markers_only: bool = False) -> str:
    """What speaks for a provider; for a rival only its markers (specific fingerprints, the key's shape)."""
    positive = [i for i in t.items if i.weight > 0 and (not markers_only or i.specific or i.source == "key_shape")]
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


def _in_envelope(registry: Registry, provider: str, ex: HttpEvidence) -> bool:
    """Whether a 2xx answer carries ``provider``'s HTTP-200 error envelope (its ``[error_envelope]`` path, on the
    probes it names or any): MiniMax answers every call HTTP 200 with ``base_resp``, errors included (issue 19 #8),
    so its error marks are read there too; a provider without an envelope is never read on a 2xx."""
    try:
        envelope = registry.get(provider).outcomes.error_envelope
    except KeyError:
        return False
    if envelope is None or (envelope.probes and ex.probe not in envelope.probes):
        return False
    cur: object = ex.json_body
    for part in envelope.path:
        if not isinstance(cur, Mapping) or part not in cur:
            return False
        cur = cur[part]
    return True


def _fp_item(fp: Fingerprint, source: EvidenceSource, probe: str, detail: str) -> EvidenceItem:
    return EvidenceItem(source, probe, detail, fp.provider, fp.weight, fp.specific, f"{fp.provider}:{fp.id}")


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
