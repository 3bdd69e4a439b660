"""The public Python API: :func:`check`, :func:`check_async` and :func:`compare`.

``check`` is the blocking twin of ``check_async``: one signature (``check_async``'s), one body; the
twin runs it to completion, inside a running loop (a Jupyter kernel's) too.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import replace
from typing import Any, ParamSpec, TypeVar

from testkey_nb.check.result import CheckError, CheckOptions, KeyCheck
from testkey_nb.check.run import check_key_async, run_sync
from testkey_nb.check.targets import emulator_urls
from testkey_nb.secrets import KeyRef, KeyRefError, Secret, redact, resolve

__all__ = ["check", "check_async", "compare"]

P = ParamSpec("P")
T = TypeVar("T")


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
        base_url, management_url = emulator_urls(key_ref, env)
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
    route: str | None = None,
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
        route=route or None, allow_billable=allow_billable, label=label or None, timeout_s=timeout_s,
        deadline_s=deadline_s, max_model_checks=max_model_checks, allow_http=allow_http, max_in_flight=max_in_flight,
    )  # fmt: skip
    secret, key_ref, options = _prepare(ref, options, environ)
    try:
        return await check_key_async(secret, options, key_ref=key_ref)
    except CheckError:
        raise
    except Exception as exc:  # an unexpected failure: keep its type, never the key
        raise CheckError(f"probe failed: {type(exc).__name__}: {redact(str(exc), [secret])}") from None


def _blocking(twin: Callable[P, Coroutine[Any, Any, T]], name: str, doc: str) -> Callable[P, T]:
    """``twin`` run to completion: the same parameters (typed by ``P``), the result instead of a coroutine."""

    @functools.wraps(twin)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        return run_sync(twin(*args, **kwargs))

    call.__name__ = call.__qualname__ = name
    call.__doc__ = doc
    return call


check = _blocking(
    check_async,
    "check",
    """Check one key read-only, from a script or a notebook cell (Jupyter's running loop included).

    ``ref`` is ``env:NAME`` or ``file:PATH`` (or a :class:`Secret`), never the key. Without
    ``base_url`` the key goes to the claimed provider's official hosts; only the demo keys of
    ``testkey-nb lab --emulator`` default to the emulator.
    """,
)


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
