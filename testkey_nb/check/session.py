"""Scheme trials: engine sessions for one key under one spending stop and one deadline.

A session sends the identification plan, then the identified provider's own plan. When nothing named
the provider and the key was refused, the other auth schemes the registry knows are tried on the same
host; when identification settles a scheme other than the one used, the key is read again in it. What
went in a wrong scheme is kept apart (``superseded``): it is not evidence about the key.

Every engine of the check shares one spending stop (:class:`SpendStop`): once a refused-by-design call
was answered in any scheme, no other is sent in any, no further scheme is tried, and the answered call
proves the key in the scheme that carried it (that trial's observations are the ones that count).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlsplit

import httpx

from testkey_nb.check.result import CheckOptions
from testkey_nb.identify.evidence import HttpEvidence, KeyShape
from testkey_nb.identify.schema import BEARER, AuthTemplate, ProviderSpec, Registry
from testkey_nb.identify.score import (
    Identification,
    _all_hold,
    claimed_on_own_host,
    identified_by_endpoint,
    identify,
    key_pattern_matches,
)
from testkey_nb.probe.engine import ProbeEngine
from testkey_nb.probe.observation import ExchangeIds, Observation
from testkey_nb.probe.plan import ProbeSettings, ProbeSpec, Targets, load_plan
from testkey_nb.probe.spend import SpendStop
from testkey_nb.secrets import Secret

__all__ = ["Trials", "documented_refusal", "run_trials"]


@dataclass(frozen=True)
class Trials:
    """What the sessions of one check saw: the observations that count, those sent in a scheme that
    turned out wrong, the identification, the provider's spec, and the requests sent in all."""

    counted: tuple[Observation, ...]
    superseded: tuple[Observation, ...]
    identification: Identification
    spec: ProviderSpec | None
    #: no provider was named and every scheme the registry knows was tried
    tried_all: bool
    requests_sent: int
    #: the schemes the key was sent in, in order (labels: ``Authorization: Bearer``, ``x-api-key``, ...)
    schemes_tried: tuple[str, ...] = ()
    #: when every scheme was tried: the known provider whose documented bad-key answer a refusal matched
    #: (``provider:fingerprint``), which settles the scheme; None when the refusals match none
    documented_refusal: str | None = None


async def run_trials(
    secret: Secret,
    options: CheckOptions,
    registry: Registry,
    targets: Targets,
    claimed: str | None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    now: datetime | None = None,
) -> Trials:
    """Identify the key and run its provider's plan, trying schemes until one is settled."""
    first = _first_scheme(options, registry, claimed, targets)
    settings = ProbeSettings(
        timeout_s=options.timeout_s,
        deadline_s=options.deadline_s,
        allow_billable=options.allow_billable,
        auth_headers=dict(first.headers),
        auth_label=first.label,
        concurrent=options.concurrent,
        max_model_checks=options.max_model_checks,
        max_in_flight=options.max_in_flight,
    )
    identify_file = registry.file("identify_probes.toml")
    identify_plan = load_plan(str(identify_file) if identify_file is not None else "identify_probes.toml")
    shape = key_pattern_matches(registry, secret.reveal())
    started = time.monotonic()
    requests = 0
    # one spending stop for the whole check, shared by every scheme trial; a 2xx that is a provider's error
    # envelope (MiniMax's base_resp) is a refusal, not a spend
    envelopes = [p.outcomes.error_envelope for p in registry.providers if p.outcomes.error_envelope]
    stop = SpendStop(refused=lambda probe, body: any(e.says_error(probe, body) for e in envelopes))
    exchanges = ExchangeIds()  # one numbering for every scheme trial of the check

    async def session(scheme: AuthTemplate) -> tuple[list[Observation], list[Observation], Identification, bool]:
        """One engine session in ``scheme``: identification, then the identified provider's plan."""
        nonlocal requests
        left = max(1.0, options.deadline_s - (time.monotonic() - started))
        run_settings = replace(settings, auth_headers=dict(scheme.headers), auth_label=scheme.label, deadline_s=left)
        engine = ProbeEngine(
            secret, targets, run_settings, transport=transport, now=now, spend=stop, exchanges=exchanges
        )
        try:
            return (*await _session(engine, registry, identify_plan, shape, targets, claimed, scheme),
                    engine.spent_here)  # fmt: skip
        finally:
            requests += engine.requests_sent

    tried: list[str] = [first.label]
    stage1, stage2, ident, spent = await session(first)
    spec = _spec(registry, ident)
    superseded: list[Observation] = []
    tried_all = False
    if not spent and spec is None and options.auth_scheme is None and _refused(stage1):
        # nothing named the provider and the key was refused: that may be the scheme, not the key. Try the
        # other schemes the registry knows, on the same host, before the key is judged
        tried_all = True
        for other in _other_schemes(registry, first):
            if stop.spent_by is not None:
                break  # spending stopped: no scheme is tried with a model call that could be answered
            tried.append(other.label)
            trial = await session(other)
            if not trial[3] and _refused(trial[0]):
                superseded.extend([*trial[0], *trial[1]])
                continue
            superseded = [*superseded, *stage1, *stage2]
            stage1, stage2, ident, spent = trial
            first, spec, tried_all = other, _spec(registry, trial[2]), False
            break
    base = targets.inference
    if not spent and spec is not None and options.auth_scheme is None and first.label not in _labels(spec, base):
        # identification settled the scheme: what went in the wrong one is not evidence about the key;
        # read again in the provider's own scheme (same host, same plans)
        superseded = [*superseded, *stage1, *stage2]
        right = spec.auth.templates(base)[0]
        tried.append(right.label)
        stage1, stage2, again, spent = await session(right)
        if again.provider == ident.provider:
            ident = again
    return Trials(
        counted=(*stage1, *stage2),
        superseded=tuple(superseded),
        identification=ident,
        spec=spec,
        tried_all=tried_all,
        requests_sent=requests,
        schemes_tried=tuple(dict.fromkeys(tried)),
        documented_refusal=(documented_refusal(registry, [*superseded, *stage1, *stage2], base) if tried_all else None),
    )


#: the probes that identification waits for before the provider's plan starts (sent at once)
_FIRST_ANSWERS = ("catalog", "auth_pilot")


def _provider_plan(registry: Registry, provider: str, scheme: AuthTemplate | None = None,
                   base: str | None = None) -> tuple[ProbeSpec, ...]:  # fmt: skip
    """The provider's own plan (``probes.toml`` in its folder); none when the session's scheme is not the
    provider's on that base (its answers would judge nothing: the identification is read again in the right
    scheme)."""
    spec = registry.get(provider) if provider in registry.ids() and provider != "unknown" else None
    if spec is None or (scheme is not None and scheme.label not in _labels(spec, base)):
        return ()
    plan = spec.file("probes.toml")
    if plan is None:
        return ()
    base_path = urlsplit(spec.inference_base_url or "").path
    return tuple(replace(p, base_path=base_path) if p.from_root and not p.base_path else p
                 for p in load_plan(str(plan)))  # fmt: skip


async def _session(
    engine: ProbeEngine,
    registry: Registry,
    identify_plan: tuple[ProbeSpec, ...],
    shape: KeyShape,
    targets: Targets,
    claimed: str | None,
    scheme: AuthTemplate,
) -> tuple[list[Observation], list[Observation], Identification]:
    async with engine:
        # the critical path: the catalog and the pilot go at once; the provider's plan (its per-model
        # checks, the auth check the first of them) starts the moment they have answered
        submitted = engine.submit(identify_plan)
        await engine.wait_for(_FIRST_ANSWERS)
        early = identify(
            registry, shape, _evidence(engine.finished(_FIRST_ANSWERS)), base_url=targets.inference, claimed=claimed
        )
        # a provider's own plan goes to the host only once the host's answers named it (a specific
        # fingerprint): not on the key's shape or on features many hosts share (docs/identification.md)
        planned_for = early.provider if identified_by_endpoint(early) or claimed_on_own_host(early) else "unknown"
        early_plan = engine.submit(_provider_plan(registry, planned_for, scheme, targets.inference))
        stage1 = await engine.collect(submitted)
        ident = identify(registry, shape, _evidence(stage1), base_url=targets.inference, claimed=claimed)
        stage2 = await engine.collect(early_plan)
        named = ident.provider if identified_by_endpoint(ident) or claimed_on_own_host(ident) else "unknown"
        if named != planned_for:
            # the later answers speak for another provider: its own plan runs now; the first plan's
            # answers stay out of the profile (their requests are counted in probe_requests)
            stage2 = await engine.collect(engine.submit(_provider_plan(registry, named, scheme, targets.inference)))
    return list(stage1), list(stage2), ident


def _evidence(observations: Sequence[Observation]) -> list[HttpEvidence]:
    return [
        HttpEvidence(
            probe=o.probe,
            url_path=o.path,
            status=o.status,
            headers=dict(o.headers),
            json_body=o.json_body,
            text_snippet=o.text_snippet,
        )
        for o in observations
        if o.outcome not in ("skipped", "deadline") and (o.status is not None)
    ]


def _spec(registry: Registry, ident: Identification) -> ProviderSpec | None:
    return registry.get(ident.provider) if ident.provider in registry.ids() and ident.provider != "unknown" else None


def _refused(observations: Sequence[Observation]) -> bool:
    """The catalog was refused (401/403) and no model call passed auth."""
    catalog = [o for o in observations if o.probe == "catalog" and o.status is not None]
    return (
        bool(catalog)
        and all(o.outcome in ("unauthorized", "refused") for o in catalog)
        and not any(o.accepted and o.cost == "rejected" and o.item and not o.placeholder for o in observations)
    )


def documented_refusal(registry: Registry, observations: Sequence[Observation], base: str | None = None) -> str | None:
    """The known provider's documented bad-key answer one of the refusals is (``provider:fingerprint``).

    A refusal (401/403) settles the scheme only when it is a known provider's own answer to a bad key
    in that provider's own scheme: it matches one of the provider's ``specific`` error fingerprints (one
    only this provider emits, of that status or of any) and the key went in one of the provider's
    schemes. A bare 401 from a host that wants a scheme the registry lacks matches none."""
    refusals = [o for o in observations if o.status in (401, 403) and o.outcome in ("unauthorized", "refused")]
    for spec in registry.providers:
        labels = _labels(spec, base)
        for fp in spec.fingerprints:
            if fp.kind != "error_body" or not fp.specific or not fp.body:
                continue
            for o in refusals:
                fits = o.auth in labels and (not fp.status or o.status in fp.status)
                if fits and _all_hold(fp.body, o.json_body, 4096):
                    return f"{spec.id}:{fp.id}"
    return None


def _other_schemes(registry: Registry, first: AuthTemplate) -> list[AuthTemplate]:
    seen = {first.label}
    out = []
    for spec in registry.providers:
        for t in spec.auth.templates():
            if t.label not in seen:
                seen.add(t.label)
                out.append(t)
    return out


def _labels(spec: ProviderSpec, base: str | None = None) -> set[str]:
    """The provider's schemes on ``base`` (its ``[[auth.bases]]`` entry for that path, else its ``[auth]``)."""
    return {t.label for t in spec.auth.templates(base)}


def _first_scheme(options: CheckOptions, registry: Registry, claimed: str | None, targets: Targets) -> AuthTemplate:
    """The scheme of the first stage: forced, the claimed provider's, the provider whose host the user
    named, or ``Authorization: Bearer`` (the OpenAI-compatible default) until identification settles it."""
    if options.auth_scheme:
        scheme = options.auth_scheme
        return AuthTemplate(f"Authorization: {scheme}", {"Authorization": f"{scheme} {{key}}"})
    if claimed and claimed in registry.ids():
        templates = registry.get(claimed).auth.templates(targets.inference)
        if templates:
            return templates[0]
    host = (httpx.URL(targets.inference).host or "").lower() if targets.inference else ""
    for spec in registry.providers:
        if any(host == h or host.endswith("." + h) for h in spec.hostnames) and spec.auth.templates():
            return spec.auth.templates(targets.inference)[0]
    return BEARER
