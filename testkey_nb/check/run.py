"""One key, end to end: key ref -> secret -> targets -> identify -> provider plan -> profile -> decision.

The key goes only to hosts the user named (``base_url``, ``management_url``) or, when none is named,
to the official hosts of the claimed provider (or of the provider the key's shape names). Identifying
an endpoint as Baseten never sends the key to Baseten's own hosts when the user pointed elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import os
import threading
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import httpx

from testkey_nb.check.decide import Decision, decide
from testkey_nb.check.profile import Profile, build_profile
from testkey_nb.identify.registry import Registry, load_registry
from testkey_nb.identify.score import HttpEvidence, Identification, identify, key_pattern_matches
from testkey_nb.probe.engine import ProbeEngine
from testkey_nb.probe.observation import Observation, spend_of
from testkey_nb.probe.plan import PROVIDERS_DIR, ProbeSettings, ProbeSpec, Targets, load_plan
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
    auth_scheme: str = "Bearer"
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
            "models": prof.models_frame().to_dicts(),
            "workspace": dict(prof.workspace),
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
            "token_role": prof.metrics["token_role"].value,
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
    return Targets(inference.rstrip("/"), _mgmt(management), reasons), claim


def _claimed_id(claim: str | None, registry: Registry) -> str | None:
    """A claim by provider id or display name, case-insensitive (``Baseten``, ``baseten``)."""
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
    return _with_v1(url) if url else None


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


def _provider_plan(provider: str) -> tuple[ProbeSpec, ...]:
    path = PROVIDERS_DIR / provider / "probes.toml"
    return load_plan(path) if provider != "unknown" and path.exists() else ()


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
    settings = ProbeSettings(
        timeout_s=options.timeout_s,
        deadline_s=options.deadline_s,
        allow_billable=options.allow_billable,
        auth_scheme=options.auth_scheme,
        concurrent=options.concurrent,
        max_model_checks=options.max_model_checks,
        max_in_flight=options.max_in_flight,
    )
    engine = ProbeEngine(secret, targets, settings, transport=transport, now=now)
    shape = key_pattern_matches(registry, secret.reveal())
    async with engine:
        # the critical path: the catalog and the pilot go at once; the provider's plan (its per-model
        # checks, the auth check the first of them) starts the moment they have answered
        identify_plan = engine.submit(load_plan("identify_probes.toml"))
        await engine.wait_for(_FIRST_ANSWERS)
        early = identify(
            registry, shape, _evidence(engine.finished(_FIRST_ANSWERS)), base_url=targets.inference, claimed=claimed
        )
        planned_for = early.provider
        early_plan = engine.submit(_provider_plan(planned_for))
        stage1 = await engine.collect(identify_plan)
        ident = identify(registry, shape, _evidence(stage1), base_url=targets.inference, claimed=claimed)
        stage2 = await engine.collect(early_plan)
        if ident.provider != planned_for:
            # the later answers speak for another provider: its own plan runs now; the first plan's
            # answers stay out of the profile (their requests are counted in probe_requests)
            stage2 = await engine.collect(engine.submit(_provider_plan(ident.provider)))
    observations = (*stage1, *stage2)
    provider_caps: dict[str, str] = {}
    tiers: list[dict[str, Any]] = []
    if ident.provider in registry.ids():
        spec = registry.get(ident.provider)
        provider_caps = {c.capability.replace("_", " "): c.status for c in spec.capabilities}
        if spec.rate_limits:
            tiers = [{"tier": t.name, "rpm": t.rpm, "tpm": t.tpm} for t in spec.rate_limits.tiers]
    label = options.label or secret.label
    profile = build_profile(
        label=label,
        identification=ident,
        observations=observations,
        requests_sent=engine.requests_sent,
        key_prefix=secret.public_prefix,
        provider_capabilities=provider_caps,
        documented_tiers=tiers,
    )
    hint = _base_url_hint(observations, targets.inference, ident.provider, claimed, registry)
    if hint:
        from dataclasses import replace

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
            from dataclasses import replace

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
