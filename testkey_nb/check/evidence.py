"""The evidence rule: every figure points at a request that was made.

A metric, a matrix cell, a limit, a balance or a count whose provenance is ``observed`` or ``derived``
names the probe it came from, and that probe is among the exchanges sent (not skipped); counts count
models, not calls. :func:`uncited_figures` lists every breach (empty when the check is honest).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from testkey_nb.check.result import KeyCheck

__all__ = ["uncited_figures"]

_COUNT = re.compile(r"^(\d+) model\(s\) (passed auth|reached past auth)")


def uncited_figures(check: KeyCheck) -> list[str]:
    sent = {o.probe for o in check.observations if o.status is not None and o.outcome not in ("skipped", "deadline")}
    prof = check.profile
    bad: list[str] = []

    def cite(what: str, probe: str | None) -> None:
        if not probe:
            bad.append(f"{what}: names no probe")
        elif probe not in sent:
            bad.append(f"{what}: cites {probe}, which was not sent")

    for m in prof.metrics.values():
        if m.provenance in ("observed", "derived"):
            cite(f"metric {m.name}", m.probe)
    for c in prof.capabilities:
        if c.status == "verified" and not c.probes:
            bad.append(f"capability {c.name}: verified on no probe")
        for p in c.probes:
            cite(f"capability {c.name}", p)
    for r in prof.models:
        if r.allowed is not None:
            cite(f"model {r.model} allowed", r.allowed_probe)
        if r.price_provenance in ("observed", "derived"):
            cite(f"model {r.model} price", r.price_probe)
        if r.limits_provenance in ("observed", "derived"):
            cite(f"model {r.model} limits", r.limits_probe)
    for lim in prof.limits:
        if lim.provenance in ("observed", "derived"):
            cite(f"limit {lim.scope}", lim.source)
        elif lim.provenance == "documented" and not lim.source:
            bad.append(f"limit {lim.scope}: documented without a source")
    if prof.balance is not None and prof.balance.provenance in ("observed", "derived"):
        cite("balance", prof.balance.probe)
    if prof.identity is not None and prof.identity.seen:
        if not prof.identity.probes:
            bad.append("identity: names no probe")
        for p in prof.identity.probes:
            cite("identity", p)
    # counts count models, not calls
    accepted = {
        o.item for o in check.observations
        if o.cost == "rejected" and o.accepted and o.item and not o.placeholder and o.probe in sent
    }  # fmt: skip
    texts = [("status", prof.status.detail), *((f"capability {c.name}", c.evidence) for c in prof.capabilities)]
    for what, text in texts:
        hit = _COUNT.match(text or "")
        if hit and int(hit.group(1)) != len(accepted):
            bad.append(f"{what}: says {hit.group(1)} model(s), {len(accepted)} distinct models passed auth")
    return bad
