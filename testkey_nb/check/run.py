"""One key, end to end: key ref -> secret -> targets -> identify -> provider plan -> profile -> decision.

The key goes only to hosts the user named (``base_url``, ``management_url``) or, when none is named,
to the official hosts of the claimed provider (:mod:`testkey_nb.check.targets`). Identifying an endpoint
as some provider never sends the key to that provider's own hosts when the user pointed elsewhere.
The scheme trials are :mod:`testkey_nb.check.session`; the result is :mod:`testkey_nb.check.result`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

import httpx

from testkey_nb.check.decide import decide
from testkey_nb.check.facts import InterpretContext, given_balance
from testkey_nb.check.interpret import interpret
from testkey_nb.check.lenses import check_lens, evaluate_lenses
from testkey_nb.check.profile import ProviderView, build_profile
from testkey_nb.check.profile.capabilities import capability_name
from testkey_nb.check.profile.observed import _requalify
from testkey_nb.check.result import CheckError, CheckOptions, KeyCheck
from testkey_nb.check.session import run_trials
from testkey_nb.check.targets import resolve_targets, route_of
from testkey_nb.identify.loader import load_registry
from testkey_nb.identify.schema import ProviderSpec, Registry
from testkey_nb.probe.observation import Observation
from testkey_nb.secrets import KeyRef, Secret, redact, resolve

__all__ = ["check_key", "check_key_async", "run_sync"]

T = TypeVar("T")


def _base_url_hint(
    observations: Sequence[Observation], base_url: str | None, provider: str, claimed: str | None, registry: Registry
) -> str | None:
    """When ``GET {base}/models`` answered 404: the provider's documented base, and the URL to try."""
    if base_url is None:
        return None
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
    return f"GET {base}/models answered 404: {where}; try the base URL {suggest}"


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
    try:
        lens = check_lens(options.lens)
    except ValueError as exc:
        raise CheckError(str(exc)) from None
    registry = registry or load_registry()
    targets, claimed = resolve_targets(options, registry, secret)
    trials = await run_trials(secret, options, registry, targets, claimed, transport=transport, now=now)
    ident, spec, counted = trials.identification, trials.spec, trials.counted
    view = _view(spec, options, claimed or (trials.tried_all and trials.documented_refusal), trials.schemes_tried,
                 targets.inference or "")  # fmt: skip
    # read as the provider's data says (an HTTP-200 error envelope is no answer that cost money, ...): the
    # report's probes and spend say what the profile says
    counted = tuple(_requalify(o, view) for o in counted)
    observations = (*trials.superseded, *counted)
    context = InterpretContext(provider=spec, key_prefix=secret.public_prefix, now=now or datetime.now().astimezone(),
                               base_url=targets.inference, given_route=options.route)  # fmt: skip
    facts = interpret(spec, counted, context)
    if options.credits_remaining is not None:  # money the user gives: a balance, marked given
        facts = replace(facts, balances=(*facts.balances, given_balance(options.credits_remaining)))
    tiers: list[dict[str, Any]] = []
    if spec is not None and spec.rate_limits:
        tiers = [{"tier": t.name, "rpm": t.rpm, "tpm": t.tpm} for t in spec.rate_limits.tiers]
    label = options.label or secret.label
    profile = build_profile(
        label=label,
        identification=ident,
        observations=counted,
        requests_sent=trials.requests_sent,
        facts=facts,
        provider=view,
        documented_tiers=tiers,
        payment_method=options.payment_method,
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
        lens=lens,
        lenses=evaluate_lenses(profile, ident, decision),
        route=route_of(targets.inference or "", spec, registry, options.route),
    )


def _view(
    spec: ProviderSpec | None, options: CheckOptions, settled: object, schemes_tried: Sequence[str] = (),
    base_url: str = "",
) -> ProviderView:
    """The provider's data as the profile reads it. With no provider identified the scheme is settled
    by the user (a forced ``auth_scheme``, a claim) or, once every scheme the registry knows was refused,
    by a refusal that is a known provider's documented bad-key answer; never by the refusals alone."""
    if spec is None:
        return ProviderView(scheme_settled=options.auth_scheme is not None or bool(settled),
                            schemes_tried=tuple(schemes_tried), base_url=base_url)  # fmt: skip
    reads: dict[str, list[str]] = {}
    for ep in spec.endpoints:
        for kind in ep.reads:
            reads.setdefault(kind, []).append(ep.probe)
    return ProviderView(
        capabilities={capability_name(c.capability): (c.status, c.note) for c in spec.capabilities},
        authenticated=spec.authenticated_probes(),
        reads={k: tuple(v) for k, v in reads.items()},
        scheme_settled=True,
        no_quota=spec.no_quota,
        billing=spec.billing.metering if spec.billing else "",
        post_auth=spec.post_auth,
        outcomes=spec.outcomes,
        base_url=base_url,
        catalog=spec.catalog.for_base(base_url),
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
    value: T = box["value"]
    return value
