"""The public Python API: :func:`check`, :func:`check_async`, :func:`compare` and :class:`KeyCheck`.

:class:`KeyCheck` is the check's result (:class:`testkey_nb.check.result.KeyCheck`, data only) with its
notebook face: the card Jupyter shows and the polars frames, which come from ``report`` (imported when
asked for). Data flows one way: ``check`` never imports ``report``; this layer, above both, joins them.

``check`` is the blocking twin of ``check_async``: one signature (``check_async``'s), one body; the
twin runs it to completion, inside a running loop (a Jupyter kernel's) too.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from testkey_nb.check import result
from testkey_nb.check.result import CheckError, CheckOptions
from testkey_nb.check.run import check_key_async, run_sync
from testkey_nb.check.targets import emulator_urls
from testkey_nb.secrets import KeyRef, KeyRefError, Secret, redact, resolve

if TYPE_CHECKING:
    import httpx

    from testkey_nb.report.labframe import LabFrame

__all__ = ["KeyCheck", "check", "check_async", "compare"]

P = ParamSpec("P")
T = TypeVar("T")


class KeyCheck(result.KeyCheck):
    """One key's check as a notebook shows it: the result's data (label, identification, profile,
    decision, observations, ``to_json()``, ``summary()``), its card and its frames."""

    @classmethod
    def of(cls, check: result.KeyCheck) -> KeyCheck:
        """``check`` (a result from :mod:`testkey_nb.check`) with its notebook face; the same data."""
        if isinstance(check, cls):
            return check
        return cls(**{f.name: getattr(check, f.name) for f in fields(check)})

    def _repr_html_(self) -> str:
        """The summary card Jupyter shows for a KeyCheck: verdict, provider, status, actions; details folded."""
        from testkey_nb.report.card import key_card_html

        return key_card_html(self)

    def models_frame(self, *, join_lists: bool = True) -> LabFrame:
        """One row per model. List columns (features, modalities) are joined with ", " so the frame
        writes to CSV as it is; ``join_lists=False`` keeps them as lists (Parquet takes both)."""
        from testkey_nb.report import frames
        from testkey_nb.report.labframe import lab_frame

        frame = frames.models_frame(self.profile)
        return lab_frame(frames.join_lists(frame) if join_lists else frame, "model")

    def capabilities_frame(self) -> LabFrame:
        """The ten capabilities: capability, status, evidence, probes."""
        from testkey_nb.report import frames
        from testkey_nb.report.labframe import lab_frame

        return lab_frame(frames.capabilities_frame(self.profile), "capability")

    def metrics_frame(self) -> LabFrame:
        """The sample metrics: metric, value (as text), provenance, probe, note."""
        from testkey_nb.report import frames
        from testkey_nb.report.labframe import lab_frame

        return lab_frame(frames.metrics_frame(self.profile), "metric")

    def tiers_frame(self) -> LabFrame:
        """The provider's documented rate-limit tiers (tier, rpm, tpm), for comparison."""
        from testkey_nb.report import frames
        from testkey_nb.report.labframe import lab_frame

        return lab_frame(frames.tiers_frame(self.profile), "tier")


def _prepare(
    ref: str | KeyRef | Secret, options: CheckOptions, environ: Mapping[str, str] | None
) -> tuple[Secret, str | None, CheckOptions]:
    env = os.environ if environ is None else environ
    if isinstance(ref, Secret):
        secret, key_ref = ref, ref.source
    else:
        try:
            # environ None: the process's keys (a Lab kernel's keys file, else os.environ; see secrets.resolve)
            secret, key_ref = resolve(ref, environ), str(ref)
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
    lens: str = "inventory-fit",
    credits_remaining: float | None = None,
    payment_method: str | None = None,
    environ: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> KeyCheck:
    """The awaitable twin of :func:`check` (``await testkey_nb.check_async("env:NAME", claim=...)``).

    ``lens`` is the question the check answers: ``inventory-fit`` (default), ``onboarding-readiness`` or
    ``commercial-launch``; all three are computed (``KeyCheck.lenses``), the lens picks the headline.

    ``credits_remaining`` (USD) and ``payment_method`` (``"card"`` | ``"none"``): what you know of the
    account's money where the provider shows none; a runway and a deactivation date rest only on them or
    on a balance the provider answered, never on a documented grant.

    ``transport``: an httpx transport for every request (a batch round shares one, capped per host)."""
    from testkey_nb.check.lenses import LensError, check_lens

    try:
        lens = check_lens(lens)
    except LensError as exc:
        raise CheckError(f"lens={lens!r}: {exc}") from None
    options = CheckOptions(
        base_url=base_url or None, management_url=management_url or None, claim=claim or None,
        route=route or None, allow_billable=allow_billable, label=label or None, timeout_s=timeout_s,
        deadline_s=deadline_s, max_model_checks=max_model_checks, allow_http=allow_http, max_in_flight=max_in_flight,
        lens=lens, credits_remaining=credits_remaining, payment_method=payment_method or None,
    )  # fmt: skip
    secret, key_ref, options = _prepare(ref, options, environ)
    if not options.label and isinstance(key_ref, str) and key_ref.startswith("env:") and key_ref[4:].isidentifier():
        options = replace(options, label=key_ref[4:])  # in Lab a key is known by its variable's name
    try:
        return KeyCheck.of(await check_key_async(secret, options, key_ref=key_ref, transport=transport))
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


def compare(
    *items: Any, history: str | os.PathLike[str] | None = None, out: str | os.PathLike[str] | None = None
) -> Any:
    """Several keys side by side, or one key across two checks, differences first.

    ``items``: KeyCheck objects (or one iterable of them), ``probe --json`` files or objects, or labels
    from the ``history`` database (``reports/.history/history.duckdb`` by default; one label alone: its
    last two checks). Returns a :class:`~testkey_nb.report.compare.Comparison`: it shows itself as a
    table in a notebook, ``.frame()`` is one row per check (polars), ``.write_html(path)`` writes the
    offline page (``out=`` writes it at once)."""
    from pathlib import Path

    from testkey_nb.report.compare import CompareError, build_comparison, load_documents

    if len(items) == 1 and isinstance(items[0], Iterable) and not isinstance(items[0], (str, bytes, Mapping)):
        items = tuple(items[0])
    for item in items:
        if isinstance(item, str) and history is None and not item.endswith(".json") and not Path(item).is_file():
            raise TypeError(f"compare() got the string {item!r}: a label needs history=PATH (the history database); "
                            "or give KeyCheck objects or probe --json files")  # fmt: skip
        if not isinstance(item, (result.KeyCheck, Mapping, str, os.PathLike)):
            raise TypeError(
                f"compare() takes KeyCheck objects, probe --json files or labels, got {type(item).__name__}"
            )
    try:
        comparison = build_comparison(load_documents(items, history=Path(history) if history else None))
    except CompareError as exc:
        raise CheckError(str(exc)) from None
    if out is not None:
        comparison.write_html(out)
    return comparison
