"""The summary card a :class:`~testkey_nb.api.KeyCheck` shows in a notebook (``_repr_html_``).

Verdict, provider, status and actions up front; metrics, capabilities (each with its evidence grade,
the grades counted in the fold's title), models and probes folded in ``<details>``. Every
provider-controlled string goes through :func:`~testkey_nb.report.views.esc`.
The card holds the label and key reference, never the key.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from testkey_nb._format import moment
from testkey_nb._labels import label, plural
from testkey_nb.check.profile.capabilities import GRADES
from testkey_nb.report.frames import models_frame
from testkey_nb.report.views import CSS, esc, frame_table, metrics_html, probes_html, table

if TYPE_CHECKING:
    from testkey_nb.check.result import KeyCheck

__all__ = ["key_card_html"]

_CARD_CSS = """
<style>
.tk-card{border:1px solid #e0e0e0;border-radius:6px;padding:8px 14px;margin:6px 0;max-width:100%;
 overflow-wrap:normal;word-break:normal;hyphens:manual}
.tk-card h3{margin:4px 0 6px 0;font-size:15px}
.tk-card details{margin:4px 0}.tk-card summary{cursor:pointer;font-weight:600}
</style>
"""


def key_card_html(check: KeyCheck) -> str:
    """One key's card: verdict badge and summary, provider and claim, status, actions; details folded."""
    ident, prof, dec = check.identification, check.profile, check.decision
    claim = ""
    if ident.claimed:
        claim = f"; claimed {esc(ident.claimed)} ({'matches' if ident.matches_claim else 'does NOT match'})"
    badge = f'<span class="tk-badge tk-{esc(dec.verdict)}">{esc(label("verdict", dec.verdict))}</span>'
    status = f"<b>{esc(label('status', prof.status.code))}</b> ({esc(label('status_reason', prof.status.reason))})"
    if prof.status.detail:
        status += f": {esc(prof.status.detail)}"
    actions = table([(a.action, a.reason) for a in dec.actions], ["action", "reason"]) if dec.actions else ""
    ref = f" &middot; <code>{esc(check.key_ref)}</code>" if check.key_ref else ""
    where = esc(check.targets.inference)
    caps = table([(c.name, label("capability_status", c.status), label("grade", c.grade), c.evidence)
                  for c in prof.capabilities], ["capability", "status", "evidence grade", "evidence"])  # fmt: skip
    graded = Counter(c.grade for c in prof.capabilities)
    grades = ", ".join(f"{graded[g]} {label('grade', g)}" for g in GRADES if graded[g])
    probes = [o.summary() for o in check.observations]
    sent = plural(prof.probe_requests, "HTTP request")
    models = models_frame(prof)
    model_cols = ["model", "allowed", "price_in_per_mtok", "price_out_per_mtok", "context_length", "rpm", "tpm"]
    return (
        CSS
        + _CARD_CSS
        + '<div class="tk-card">'
        + f"<h3>{badge} {esc(check.label)}{ref}</h3>"
        + f"<p>{esc(dec.summary)}</p>"
        + f"<p>Provider <b>{esc(ident.provider)}</b> (confidence {ident.confidence:.2f}){claim} "
        + f'&middot; status {status}</p><p class="tk-muted">{where} &middot; checked {esc(moment(check.checked_at))} '
        + f"&middot; {plural(len(probes), 'probe')}, {sent} sent</p>"
        + actions
        + f"<details><summary>Sample metrics ({len(prof.metrics)})</summary>{metrics_html(prof)}</details>"
        + f"<details><summary>Ten capabilities ({esc(grades)})</summary>{caps}</details>"
        + f"<details><summary>Models ({plural(models.height, 'model')})</summary>"
        + frame_table(models, model_cols, limit=100)
        + "</details>"
        + f"<details><summary>Probes ({plural(len(probes), 'probe')}, {sent} sent)</summary>"
        + probes_html(probes)
        + "</details></div>"
    )
