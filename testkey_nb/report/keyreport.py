"""One key -> one self-contained HTML report (and its summary row for the fleet index).

The key reaches the notebook's kernel only through the kernel's one-shot key channel, under the name
``TESTKEY_NB_KEY`` (see ``report.execute``); the notebook's parameters are data: that *name*, the
label, URLs, the claim. Pass ``pool`` (a ``report.kernels.KernelPool``) to render in a warm kernel.
Per-key failures come back as a redacted reason, never as an exception with the key.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testkey_nb._files import NOTEBOOKS_DIR
from testkey_nb.report import RenderError, RenderRequest, RenderResult, render_notebook
from testkey_nb.report.keychannel import CHECK_NAME
from testkey_nb.secrets import KeyRefError, Secret, redact, resolve

if TYPE_CHECKING:
    from testkey_nb.report.kernels import KernelPool

__all__ = [
    "KEY_ENV",
    "KeyJob",
    "KeyReportResult",
    "render_key",
    "render_key_billing",
    "render_scenario",
    "report_filename",
]

KEY_ENV = "TESTKEY_NB_KEY"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class KeyJob:
    """What to render for one key. ``ref`` is a key reference (``env:NAME``/``file:PATH``)."""

    label: str | None = None
    ref: str | None = None
    claim: str | None = None
    #: with a claim and no base URL: the official hosts of this route (``global`` or ``china``)
    route: str | None = None
    base_url: str | None = None
    management_url: str | None = None
    allow_billable: bool = False
    timeout_s: float = 10.0
    deadline_s: float = 60.0
    #: politeness cap on requests in flight (``--max-in-flight``)
    max_in_flight: int = 16
    #: money left (USD) and how the account pays, as the user said (``--credits-remaining``,
    #: ``--payment-method``); None: not said
    credits_remaining: float | None = None
    payment_method: str | None = None
    #: the key's earlier snapshots as JSON (``testkey_nb.history``): data for "Since the last check", no key
    history: str = ""
    #: the lens the report's summary answers (``testkey_nb.check.lenses``; all three are computed)
    lens: str = "inventory-fit"
    #: the key's check, already made by the batch round (``keychannel.encode_check``): the kernel renders
    #: it instead of probing again, and gets no key
    check: str = field(default="", repr=False)
    #: a relative link from the report to its fleet index (a batch sets ``index.html``); "" for none
    index_href: str = ""


#: The outbox file the notebook leaves its history facts in (models, limits, balance, daily usage).
HISTORY_OUTBOX = "history_facts.json"


@dataclass(frozen=True)
class KeyReportResult:
    label: str
    html: Path | None
    summary: Mapping[str, Any] | None
    error: str | None
    seconds: float
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def report_filename(label: str) -> str:
    return (_SAFE.sub("-", label).strip("-.") or "key") + ".html"


def render_key(
    job: KeyJob,
    out_dir: Path,
    *,
    secret: Secret | None = None,
    notebook: Path | None = None,
    raw_root: Path | None = None,
    retention_s: float = 300,
    environ: Mapping[str, str] | None = None,
    pool: KernelPool | None = None,
) -> KeyReportResult:
    """Render the package's ``notebooks/key_report.ipynb`` for one key into ``out_dir/<label>.html``.

    Pass ``secret`` when the caller already holds the key (a batch with a dotenv file); otherwise
    ``job.ref`` is resolved here.
    """
    started = time.perf_counter()
    label = job.label or "key"
    try:
        if secret is None:
            if not job.ref:
                raise KeyRefError("no key reference")
            secret = resolve(job.ref, environ)
        label = job.label or secret.label
    except KeyRefError as exc:
        return KeyReportResult(label, None, None, f"key reference: {exc}", time.perf_counter() - started)
    out_html = Path(out_dir) / report_filename(label)
    request = RenderRequest(
        notebook=notebook or NOTEBOOKS_DIR / "key_report.ipynb",
        out_html=out_html,
        parameters={
            "key_env": KEY_ENV,
            "label": label,
            "base_url": job.base_url or "",
            "management_url": job.management_url or "",
            "claim": job.claim or "",
            "route": job.route or "",
            "allow_billable": bool(job.allow_billable),
            "timeout_s": float(job.timeout_s),
            "deadline_s": float(job.deadline_s),
            "max_in_flight": int(job.max_in_flight),
            "credits_remaining": None if job.credits_remaining is None else float(job.credits_remaining),
            "payment_method": job.payment_method or "",
            "history": job.history,
            "lens": job.lens,
            "index_href": job.index_href,
        },
        kernel_env={} if job.check else {KEY_ENV: secret.reveal()},
        redact=[secret.reveal()],
        label=label,
        timeout_s=max(120.0, job.deadline_s * 2 + 60),
        kernel_data={CHECK_NAME: job.check} if job.check else {},
    )
    result, failed = _render(request, label, started, raw_root, retention_s, secret, pool)
    if result is None:
        return failed
    summary = None
    raw = result.outbox.get("summary.json") if result.outbox else None
    if raw:
        try:
            summary = json.loads(raw)
        except ValueError:
            summary = None
    facts = result.outbox.get(HISTORY_OUTBOX) if result.outbox else None
    if summary is not None and facts:
        # the history facts travel with the summary to the parent, the one writer of the history
        with contextlib.suppress(ValueError):
            summary = {**summary, "history_facts": json.loads(facts)}
    return KeyReportResult(label, result.out_html, summary, None, time.perf_counter() - started)


def render_scenario(
    scenario: Path,
    out_dir: Path,
    *,
    label: str | None = None,
    raw_root: Path | None = None,
    retention_s: float = 300,
    pool: KernelPool | None = None,
) -> KeyReportResult:
    """Render ``notebooks/billing_lifecycle.ipynb`` for a scenario file into ``out_dir``."""
    started = time.perf_counter()
    name = label or f"scenario-{Path(scenario).stem}"
    if not Path(scenario).is_file():
        return KeyReportResult(name, None, None, f"scenario file not found: {scenario}", 0.0)
    request = RenderRequest(
        notebook=NOTEBOOKS_DIR / "billing_lifecycle.ipynb",
        out_html=Path(out_dir) / report_filename(name),
        parameters={"scenario": str(Path(scenario).resolve()), "label": name},
        kernel_env={},
        redact=[],
        label=name,
    )
    return _render(request, name, started, raw_root, retention_s, None, pool)[1]


def render_key_billing(
    job: KeyJob,
    out_dir: Path,
    *,
    secret: Secret,
    raw_root: Path | None = None,
    retention_s: float = 300,
    pool: KernelPool | None = None,
) -> KeyReportResult:
    """Render the billing-lifecycle notebook for a key's workspace (what its probes can read)."""
    started = time.perf_counter()
    label = f"{job.label or secret.label}-billing"
    request = RenderRequest(
        notebook=NOTEBOOKS_DIR / "billing_lifecycle.ipynb",
        out_html=Path(out_dir) / report_filename(label),
        parameters={
            "key_env": KEY_ENV,
            "label": job.label or secret.label,
            "base_url": job.base_url or "",
            "management_url": job.management_url or "",
            "claim": job.claim or "",
            "deadline_s": float(job.deadline_s),
        },
        kernel_env={KEY_ENV: secret.reveal()},
        redact=[secret.reveal()],
        label=label,
    )
    return _render(request, label, started, raw_root, retention_s, secret, pool)[1]


def _render(
    request: RenderRequest,
    label: str,
    started: float,
    raw_root: Path | None,
    retention_s: float,
    secret: Secret | None = None,
    pool: KernelPool | None = None,
) -> tuple[RenderResult | None, KeyReportResult]:
    """Run one render; a failure becomes a result with its reason (scrubbed of the key, if any)."""
    try:
        result = render_notebook(request, raw_root=raw_root, retention_s=retention_s, pool=pool)
    except RenderError as exc:
        reason = redact(exc.reason, [secret]) if secret is not None else exc.reason
        return None, KeyReportResult(label, None, None, reason, time.perf_counter() - started)
    return result, KeyReportResult(label, result.out_html, None, None, time.perf_counter() - started)
