"""One key, end to end: key ref -> secret -> targets -> identify -> provider plan -> profile -> decision.

The key goes only to hosts the user named (``base_url``, ``management_url``) or, when none is named,
to the official hosts of the claimed provider (or of the provider the key's shape names). Identifying
an endpoint as some provider never sends the key to that provider's own hosts when the user pointed elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import os
import threading
import time
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

import httpx

from testkey_nb.check.decide import Decision, decide
from testkey_nb.check.facts import InterpretContext
from testkey_nb.check.interpret import interpret
from testkey_nb.check.profile import Profile, ProviderView, build_profile
from testkey_nb.identify.registry import BEARER, AuthTemplate, ProviderSpec, Registry, load_registry
from testkey_nb.identify.score import (
    HttpEvidence,
    Identification,
    KeyShape,
    identified_by_endpoint,
    identify,
    key_pattern_matches,
)
from testkey_nb.probe.engine import ProbeEngine
from testkey_nb.probe.observation import Observation, spend_of
from testkey_nb.probe.plan import ProbeSettings, ProbeSpec, Targets, load_plan
from testkey_nb.secrets import KeyRef, KeyRefError, Secret, redact, resolve

__all__ = [
    "EMULATOR_KEYS_ENV",
    "CheckError",
    "CheckOptions",
    "KeyCheck",
    "check",
    "check_async",
    "check_key",
    "check_key_async",
    "compare",
    "resolve_targets",
    "run_sync",
]

#: Set by ``testkey-nb lab --emulator``: the comma-separated NAMES of the variables that hold the
#: emulator's demo keys. Only those keys default to the emulator's URLs (below); a real key with an
#: empty ``base_url`` goes to its claimed provider's official hosts, never to the emulator.
EMULATOR_KEYS_ENV = "TESTKEY_NB_EMULATOR_KEYS"
#: The emulator's URLs, for the demo keys named in :data:`EMULATOR_KEYS_ENV`.
BASE_URL_ENV = "TESTKEY_NB_BASE_URL"
MANAGEMENT_URL_ENV = "TESTKEY_NB_MANAGEMENT_URL"
T = TypeVar("T")


class CheckError(RuntimeError):
    """The check could not run (bad key ref, unknown provider, no target). One line, no key."""

    def _render_traceback_(self) -> list[str]:
        """IPython shows this one line instead of a traceback."""
        return [f"testkey-nb: error: {self}"]


@dataclass(frozen=True)
class CheckOptions:
    base_url: str | None = None
    management_url: str | None = None
    claim: str | None = None
    allow_billable: bool = False
    timeout_s: float = 10.0
    deadline_s: float = 60.0
    #: force ``Authorization: <scheme> KEY`` on every request (default: the provider's own scheme)
    auth_scheme: str | None = None
    concurrent: bool = True
    label: str | None = None
    max_model_checks: int = 16
    #: politeness cap: at most this many requests in flight at once (``--max-in-flight``)
    max_in_flight: int = 16
    #: allow http:// to a host that is not loopback (the key would cross the network in clear text)
    allow_http: bool = False


@dataclass(frozen=True)
class KeyCheck:
    label: str
    key_ref: str | None
    targets: Targets
    identification: Identification
    observations: tuple[Observation, ...]
    profile: Profile
    decision: Decision
    checked_at: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``probe --json`` object. Holds the label and key ref, never the key."""
        ident = self.identification
        prof = self.profile
        return {
            "label": self.label,
            "key_ref": self.key_ref,
            "checked_at": self.checked_at,
            "provider": {
                "id": ident.provider,
                "confidence": round(ident.confidence, 3),
                "claimed": ident.claimed,
                "matches_claim": ident.matches_claim,
                "evidence": [
                    {
                        "source": e.source,
                        "probe": e.probe,
                        "detail": e.detail,
                        "provider": e.provider,
                        "weight": e.weight,
                    }
                    for e in ident.evidence
                ],
                "conflicts": list(ident.conflicts),
            },
            "targets": {"inference": self.targets.inference, "management": self.targets.management},
            "metrics": prof.metric_values(),
            "provenance": {
                name: {"provenance": m.provenance, "probe": m.probe, "note": m.note} for name, m in prof.metrics.items()
            },
            "status": prof.status.code,
            "status_reason": prof.status.reason,
            "status_detail": prof.status.detail,
            "capabilities": [
                {"capability": c.name, "status": c.status, "evidence": c.evidence, "probes": list(c.probes)}
                for c in prof.capabilities
            ],
            "models": prof.model_rows(),  # plain rows: the probe command never imports polars
            "workspace": dict(prof.workspace),
            "identity": prof.identity_json(),
            "balance": prof.balance_json(),
            "limits": prof.limits_json(),
            "verdict": self.decision.verdict,
            "verdict_summary": self.decision.summary,
            "actions": [a.as_dict() for a in self.decision.actions],
            "probe_requests": prof.probe_requests,
            "spend": spend_of(self.observations),
            "probes": [o.summary() for o in self.observations],
        }

    # --- in a notebook ------------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        """The summary card Jupyter shows for a KeyCheck: verdict, provider, status, actions; details folded."""
        from testkey_nb.report.card import key_card_html

        return key_card_html(self)

    def __repr__(self) -> str:
        return (
            f"KeyCheck(label={self.label!r}, provider={self.identification.provider!r}, "
            f"status={self.profile.status.code!r}, verdict={self.decision.verdict!r})"
        )

    def models_frame(self, *, join_lists: bool = True):  # -> pl.DataFrame
        """One row per model. List columns (features, modalities) are joined with ", " so the frame
        writes to CSV as it is; ``join_lists=False`` keeps them as lists (Parquet takes both)."""
        frame = self.profile.models_frame()
        return _join_lists(frame) if join_lists else frame

    def capabilities_frame(self):  # -> pl.DataFrame
        """The ten capabilities: capability, status, evidence, probes."""
        return self.profile.capabilities_frame()

    def metrics_frame(self):  # -> pl.DataFrame
        """The sample metrics: metric, value (as text), provenance, probe, note."""
        return self.profile.metrics_frame()

    def summary(self) -> dict[str, Any]:
        """One row of the fleet index: what a stakeholder ranks keys by (no raw probe records)."""
        prof = self.profile
        allowed = [m for m in prof.models if m.allowed]
        return {
            "label": self.label,
            "provider": self.identification.provider,
            "confidence": round(self.identification.confidence, 3),
            "claimed": self.identification.claimed,
            "matches_claim": self.identification.matches_claim,
            "key_valid": prof.metrics["key_valid"].value,
            "status": prof.status.code,
            "status_reason": prof.status.reason,
            "verdict": self.decision.verdict,
            "verdict_summary": self.decision.summary,
            "actions": [a.as_dict() for a in self.decision.actions],
            "allowed_models": len(allowed),
            "priced_models": sum(1 for m in allowed if m.priced),
            "tokens_per_minute": prof.metrics["tokens_limit"].value,
            "tokens_limit": prof.metrics["tokens_limit"].value,
            "tokens_limit_day": prof.metrics["tokens_limit_day"].value,
            "token_role": prof.metrics["token_role"].value,
            "identity": prof.identity_json(),
            "balance": prof.balance_json(),
            "limits": prof.limits_json(),
            "capabilities": [
                {"capability": c.name, "status": c.status, "evidence": c.evidence} for c in prof.capabilities
            ],
            "probe_requests": prof.probe_requests,
            "spent_calls": spend_of(self.observations)["calls"],
            "spent_tokens": spend_of(self.observations)["total_tokens"],
        }


def _with_v1(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def resolve_targets(options: CheckOptions, registry: Registry, secret: Secret) -> tuple[Targets, str | None]:
    """Where the key may go: the hosts the user named, or the claimed provider's official hosts.

    Returns the targets and the claimed provider's id (None without a claim). The key's shape never
    chooses a host: with neither ``base_url`` nor ``claim`` there is nowhere to send it.
    """
    _check_options(options)
    claim = _claimed_id(options.claim, registry)
    if options.base_url:
        _check_url(options.base_url, "--base-url", options.allow_http)
        reasons = {} if options.management_url else {"management": "no management URL"}
        if options.management_url:
            _check_url(options.management_url, "--management-url", options.allow_http)
        return Targets(options.base_url.rstrip("/"), _mgmt(options.management_url), reasons), claim
    if not claim:
        raise CheckError("no endpoint to probe: pass --base-url URL, or --claim PROVIDER to use its official hosts")
    spec = registry.get(claim)
    inference = spec.inference_base_url
    if not inference:
        raise CheckError(f"provider {claim} has no official inference URL: pass --base-url")
    management = options.management_url or spec.management_base_url
    if options.management_url:
        _check_url(options.management_url, "--management-url", options.allow_http)
    reasons = {} if management else {"management": "no management URL"}
    # a URL the user gave gets /v1 appended as documented for --management-url; the
    # provider's own management_base_url is used as its data says
    official = spec.management_base_url.rstrip("/") if spec.management_base_url else None
    return Targets(inference.rstrip("/"), _mgmt(options.management_url) if options.management_url else official,
                   reasons), claim  # fmt: skip


def _claimed_id(claim: str | None, registry: Registry) -> str | None:
    """A claim by provider id or display name, case-insensitive (the display name or the id)."""
    if not claim:
        return None
    wanted = claim.strip().lower()
    for pid in registry.ids():
        if wanted in (pid, registry.get(pid).display_name.lower()):
            return pid
    raise CheckError(f"unknown provider {claim!r}: known are {', '.join(sorted(registry.ids()))}")


def _check_options(options: CheckOptions) -> None:
    for name, value in (("timeout", options.timeout_s), ("deadline", options.deadline_s)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise CheckError(f"--{name} must be a positive number of seconds, got {value!r}")
    if options.max_model_checks < 1:
        raise CheckError("--max-model-checks must be at least 1")
    if not isinstance(options.max_in_flight, int) or options.max_in_flight < 1:
        raise CheckError(f"--max-in-flight must be a whole number of at least 1, got {options.max_in_flight!r}")


def _mgmt(url: str | None) -> str | None:
    """A management URL as given; a bare host (``https://api.example.com``) gets ``/v1``."""
    if not url:
        return None
    return _with_v1(url) if httpx.URL(url).path in ("", "/") else url.rstrip("/")


def _check_url(url: str, flag: str, allow_http: bool = False) -> None:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise CheckError(f"{flag} is not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise CheckError(f"{flag} must be an http(s) URL with a host, got {url!r}")
    if parsed.scheme == "http" and not allow_http and not _is_loopback(parsed.host):
        raise CheckError(
            f"{flag} is plain http to {parsed.host}: the key would cross the network in clear text "
            "(use https, or pass --allow-http)"
        )


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


#: the probes that identification waits for before the provider's plan starts (sent at once)
_FIRST_ANSWERS = ("catalog", "auth_pilot")


def _provider_plan(registry: Registry, provider: str, scheme: AuthTemplate | None = None) -> tuple[ProbeSpec, ...]:
    """The provider's own plan (``probes.toml`` in its folder); none when the session's scheme is not the
    provider's (its answers would judge nothing: the identification is read again in the right scheme)."""
    spec = registry.get(provider) if provider in registry.ids() and provider != "unknown" else None
    if spec is None or (scheme is not None and scheme.label not in _labels(spec)):
        return ()
    plan = spec.file("probes.toml")
    return load_plan(str(plan)) if plan is not None else ()


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
        # fingerprint): not on the key's shape or on features many hosts share
        planned_for = early.provider if identified_by_endpoint(early) else "unknown"
        early_plan = engine.submit(_provider_plan(registry, planned_for, scheme))
        stage1 = await engine.collect(submitted)
        ident = identify(registry, shape, _evidence(stage1), base_url=targets.inference, claimed=claimed)
        stage2 = await engine.collect(early_plan)
        named = ident.provider if identified_by_endpoint(ident) else "unknown"
        if named != planned_for:
            # the later answers speak for another provider: its own plan runs now; the first plan's
            # answers stay out of the profile (their requests are counted in probe_requests)
            stage2 = await engine.collect(engine.submit(_provider_plan(registry, named, scheme)))
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


def _base_url_hint(
    observations: Sequence[Observation], base_url: str, provider: str, claimed: str | None, registry: Registry
) -> str | None:
    """When ``GET {base}/models`` answered 404: the provider's documented base, and the URL to try."""
    if not any(o.probe == "catalog" and o.status == 404 for o in observations):
        return None
    from urllib.parse import urlsplit

    documented = None
    for pid in (provider, claimed):
        if pid and pid != "unknown" and pid in registry.ids() and registry.get(pid).inference_base_url:
            documented = (registry.get(pid).display_name, str(registry.get(pid).inference_base_url))
            break
    version_path = urlsplit(documented[1]).path.rstrip("/") if documented else "/v1"
    base = base_url.rstrip("/")
    suggest = base if base.endswith(version_path) else base + version_path
    where = f"{documented[0]} documents its base URL as {documented[1]}" if documented else (
        "most OpenAI-compatible providers document a base URL ending in /v1")  # fmt: skip
    return f"GET {base}/models answered 404: {where}; try --base-url {suggest}"


async def check_key_async(
    secret: Secret,
    options: CheckOptions | None = None,
    *,
    key_ref: str | None = None,
    registry: Registry | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    now: datetime | None = None,
) -> KeyCheck:
    options = options or CheckOptions()
    registry = registry or load_registry()
    targets, claimed = resolve_targets(options, registry, secret)
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

    async def session(scheme: AuthTemplate) -> tuple[list[Observation], list[Observation], Identification, bool]:
        """One engine session in ``scheme``: identification, then the identified provider's plan."""
        nonlocal requests
        left = max(1.0, options.deadline_s - (time.monotonic() - started))
        run_settings = replace(settings, auth_headers=dict(scheme.headers), auth_label=scheme.label, deadline_s=left)
        engine = ProbeEngine(secret, targets, run_settings, transport=transport, now=now)
        try:
            return (*await _session(engine, registry, identify_plan, shape, targets, claimed, scheme),
                    engine.spent_by is not None)  # fmt: skip
        finally:
            requests += engine.requests_sent

    stage1, stage2, ident, spent = await session(first)
    spec = _spec(registry, ident)
    superseded: list[Observation] = []
    tried_all = False
    if not spent and spec is None and options.auth_scheme is None and _refused(stage1):
        # nothing named the provider and the key was refused: that may be the scheme, not the key. Try the
        # other schemes the registry knows, on the same host, before the key is judged
        tried_all = True
        for other in _other_schemes(registry, first):
            trial = await session(other)
            if _refused(trial[0]):
                superseded.extend([*trial[0], *trial[1]])
                continue
            superseded = [*superseded, *stage1, *stage2]
            stage1, stage2, ident, spent = trial
            first, spec, tried_all = other, _spec(registry, trial[2]), False
            break
    if not spent and spec is not None and options.auth_scheme is None and first.label not in _labels(spec):
        # identification settled the scheme: what went in the wrong one is not evidence about the key;
        # read again in the provider's own scheme (same host, same plans)
        superseded = [*superseded, *stage1, *stage2]
        right = spec.auth.templates()[0]
        stage1, stage2, again, spent = await session(right)
        if again.provider == ident.provider:
            ident = again
    counted = (*stage1, *stage2)
    observations = (*superseded, *counted)
    context = InterpretContext(provider=spec, key_prefix=secret.public_prefix, now=now or datetime.now().astimezone())
    facts = interpret(spec, counted, context)
    tiers: list[dict[str, Any]] = []
    if spec is not None and spec.rate_limits:
        tiers = [{"tier": t.name, "rpm": t.rpm, "tpm": t.tpm} for t in spec.rate_limits.tiers]
    label = options.label or secret.label
    profile = build_profile(
        label=label,
        identification=ident,
        observations=counted,
        requests_sent=requests,
        facts=facts,
        provider=_view(spec, options, claimed or tried_all),
        documented_tiers=tiers,
    )
    hint = _base_url_hint(observations, targets.inference, ident.provider, claimed, registry)
    if hint:
        detail = f"{profile.status.detail}; {hint}" if profile.status.detail else hint
        profile = replace(profile, status=replace(profile.status, detail=detail))
    decision = decide(profile, inference_url=targets.inference)
    return KeyCheck(
        label=label,
        key_ref=key_ref,
        targets=targets,
        identification=ident,
        observations=observations,
        profile=profile,
        decision=decision,
        checked_at=(now or datetime.now().astimezone()).isoformat(timespec="seconds"),
    )


def _spec(registry: Registry, ident: Identification) -> ProviderSpec | None:
    return registry.get(ident.provider) if ident.provider in registry.ids() and ident.provider != "unknown" else None


def _refused(observations: Sequence[Observation]) -> bool:
    """The catalog was refused (401/403) and no model call passed auth."""
    catalog = [o for o in observations if o.probe == "catalog" and o.status is not None]
    return bool(catalog) and all(o.outcome in ("unauthorized", "refused") for o in catalog) and not any(
        o.accepted and o.cost == "rejected" and o.item and not o.placeholder for o in observations
    )


def _other_schemes(registry: Registry, first: AuthTemplate) -> list[AuthTemplate]:
    seen = {first.label}
    out = []
    for spec in registry.providers:
        for t in spec.auth.templates():
            if t.label not in seen:
                seen.add(t.label)
                out.append(t)
    return out


def _labels(spec: ProviderSpec) -> set[str]:
    return {t.label for t in spec.auth.templates()}


def _first_scheme(options: CheckOptions, registry: Registry, claimed: str | None, targets: Targets) -> AuthTemplate:
    """The scheme of the first stage: forced, the claimed provider's, the provider whose host the user
    named, or ``Authorization: Bearer`` (the OpenAI-compatible default) until identification settles it."""
    if options.auth_scheme:
        scheme = options.auth_scheme
        return AuthTemplate(f"Authorization: {scheme}", {"Authorization": f"{scheme} {{key}}"})
    if claimed and claimed in registry.ids():
        templates = registry.get(claimed).auth.templates()
        if templates:
            return templates[0]
    host = (httpx.URL(targets.inference).host or "").lower() if targets.inference else ""
    for spec in registry.providers:
        if any(host == h or host.endswith("." + h) for h in spec.hostnames) and spec.auth.templates():
            return spec.auth.templates()[0]
    return BEARER


def _view(spec: ProviderSpec | None, options: CheckOptions, settled: object) -> ProviderView:
    """The provider's data as the profile reads it. With no provider identified the scheme is settled
    by the user (a forced ``auth_scheme``, a claim) or by having tried every scheme the registry knows."""
    if spec is None:
        return ProviderView(scheme_settled=options.auth_scheme is not None or bool(settled))
    reads: dict[str, list[str]] = {}
    for ep in spec.endpoints:
        for kind in ep.reads:
            reads.setdefault(kind, []).append(ep.probe)
    return ProviderView(
        capabilities={c.capability.replace("_", " "): (c.status, c.note) for c in spec.capabilities},
        authenticated=spec.authenticated_probes(),
        reads={k: tuple(v) for k, v in reads.items()},
        scheme_settled=True,
        no_quota=spec.no_quota,
    )


def check_key(
    ref: str | KeyRef | Secret,
    options: CheckOptions | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    registry: Registry | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> KeyCheck:
    """Synchronous entry point: resolve ``ref`` (``env:NAME``/``file:PATH`` or a Secret) and check it."""
    if isinstance(ref, Secret):
        secret, key_ref = ref, ref.source
    else:
        secret, key_ref = resolve(ref, environ), str(ref)
    try:
        return run_sync(check_key_async(secret, options, key_ref=key_ref, registry=registry, transport=transport))
    except CheckError:
        raise
    except Exception as exc:  # an unexpected failure: keep its type, never the key
        raise CheckError(f"probe failed: {type(exc).__name__}: {redact(str(exc), [secret])}") from None


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion, also inside a running event loop (a Jupyter kernel's): there it
    runs in a worker thread with its own loop, and the caller waits for it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="testkey-nb-check", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _emulator_urls(key_ref: str | None, environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The emulator's URLs when ``key_ref`` is ``env:NAME`` of a demo key ``testkey-nb lab`` started."""
    if not key_ref or not key_ref.startswith("env:"):
        return None, None
    names = {n.strip() for n in environ.get(EMULATOR_KEYS_ENV, "").split(",") if n.strip()}
    if key_ref[4:] not in names:
        return None, None
    return environ.get(BASE_URL_ENV) or None, environ.get(MANAGEMENT_URL_ENV) or None


def _prepare(
    ref: str | KeyRef | Secret, options: CheckOptions, environ: Mapping[str, str] | None
) -> tuple[Secret, str | None, CheckOptions]:
    env = os.environ if environ is None else environ
    if isinstance(ref, Secret):
        secret, key_ref = ref, ref.source
    else:
        try:
            secret, key_ref = resolve(ref, env), str(ref)
        except KeyRefError as exc:
            raise KeyRefError(f"{exc}{_close_names(str(ref), env)}") from None
    if not options.base_url:
        base_url, management_url = _emulator_urls(key_ref, env)
        if base_url:
            options = replace(options, base_url=base_url, management_url=options.management_url or management_url)
    return secret, key_ref, options


def _close_names(ref: str, env: Mapping[str, str]) -> str:
    """``; did you mean A?`` for a misspelt ``env:NAME`` (names only), when Lab did not list its keys."""
    import difflib

    from testkey_nb.secrets import KEY_NAMES_ENV

    name = ref[4:] if ref.startswith("env:") else ""
    if not name or name in env or env.get(KEY_NAMES_ENV):
        return ""
    close = difflib.get_close_matches(name, [n for n in env if n.isidentifier()], n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else ""


async def check_async(
    ref: str | KeyRef | Secret,
    *,
    base_url: str | None = None,
    management_url: str | None = None,
    claim: str | None = None,
    allow_billable: bool = False,
    label: str | None = None,
    timeout_s: float = 10.0,
    deadline_s: float = 60.0,
    max_model_checks: int = 16,
    allow_http: bool = False,
    max_in_flight: int = 16,
    environ: Mapping[str, str] | None = None,
) -> KeyCheck:
    """The awaitable twin of :func:`check` (``await testkey_nb.check_async("env:NAME", claim=...)``)."""
    options = CheckOptions(
        base_url=base_url or None, management_url=management_url or None, claim=claim or None,
        allow_billable=allow_billable, label=label or None, timeout_s=timeout_s, deadline_s=deadline_s,
        max_model_checks=max_model_checks, allow_http=allow_http, max_in_flight=max_in_flight,
    )  # fmt: skip
    secret, key_ref, options = _prepare(ref, options, environ)
    try:
        return await check_key_async(secret, options, key_ref=key_ref)
    except CheckError:
        raise
    except Exception as exc:  # an unexpected failure: keep its type, never the key
        raise CheckError(f"probe failed: {type(exc).__name__}: {redact(str(exc), [secret])}") from None


def check(
    ref: str | KeyRef | Secret,
    *,
    base_url: str | None = None,
    management_url: str | None = None,
    claim: str | None = None,
    allow_billable: bool = False,
    label: str | None = None,
    timeout_s: float = 10.0,
    deadline_s: float = 60.0,
    max_model_checks: int = 16,
    allow_http: bool = False,
    max_in_flight: int = 16,
    environ: Mapping[str, str] | None = None,
) -> KeyCheck:
    """Check one key read-only, from a script or a notebook cell (Jupyter's running loop included).

    ``ref`` is ``env:NAME`` or ``file:PATH`` (or a :class:`Secret`), never the key. Without
    ``base_url`` the key goes to the claimed provider's official hosts; only the demo keys of
    ``testkey-nb lab --emulator`` default to the emulator.
    """
    return run_sync(
        check_async(
            ref, base_url=base_url, management_url=management_url, claim=claim, allow_billable=allow_billable,
            label=label, timeout_s=timeout_s, deadline_s=deadline_s, max_model_checks=max_model_checks,
            allow_http=allow_http, max_in_flight=max_in_flight, environ=environ,
        )
    )  # fmt: skip


def _join_lists(frame: Any) -> Any:
    import polars as pl

    lists = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.List)]
    return frame.with_columns(pl.col(c).list.join(", ") for c in lists) if lists else frame


def compare(checks: Iterable[KeyCheck]) -> Any:
    """Several keys side by side: one row per key (verdict, provider, status, models, limits, and one
    column per capability), as a polars frame (it displays itself in a notebook; ``write_csv`` works)."""
    import polars as pl

    rows: list[dict[str, Any]] = []
    for c in checks:
        if not isinstance(c, KeyCheck):
            raise TypeError(f"compare() takes KeyCheck objects (from testkey_nb.check), got {type(c).__name__}")
        s = c.summary()
        row: dict[str, Any] = {
            "label": s["label"],
            "verdict": s["verdict"],
            "provider": s["provider"],
            "claimed": s["claimed"] or "",
            "matches_claim": s["matches_claim"],
            "status": s["status"],
            "key_valid": s["key_valid"],
            "allowed_models": s["allowed_models"],
            "priced_models": s["priced_models"],
            "tokens_per_minute": s["tokens_per_minute"],
            "token_role": s["token_role"],
            "actions": ", ".join(a["action"] for a in s["actions"]),
            "probe_requests": s["probe_requests"],
        }
        row.update({cap["capability"]: cap["status"] for cap in s["capabilities"]})
        rows.append(row)
    if not rows:
        return pl.DataFrame({"label": []}, schema={"label": pl.String})
    return pl.DataFrame(rows, infer_schema_length=None)
