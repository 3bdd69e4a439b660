"""The evidence rule: every figure points at the very request it rests on, and that request was made.

A metric, a matrix cell, a limit, a balance, the identity or a capability whose provenance is
``observed`` or ``derived`` names the **exchange** it came from (:attr:`Observation.exchange`, unique
within a check), and that exchange was sent and answered (a status came back). Naming a probe is not
enough: a sibling exchange of the same probe name (another model's check, a retry that never left) does
not stand in for it; where a figure also names its probe, the exchange must be one of that probe.
Counts count models, not calls. :func:`uncited_figures` lists every breach (empty when the check is honest).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from testkey_nb.check.result import KeyCheck

__all__ = ["uncited_figures"]

_COUNT = re.compile(r"^(\d+) model\(s\) (passed auth|reached past auth)")
_READ = ("observed", "derived")


def uncited_figures(check: KeyCheck) -> list[str]:
    # exchange id -> the probe names that observed it (a request two probes planned alike is one exchange)
    answered: dict[str, set[str]] = {}
    for o in check.observations:
        if o.exchange and o.status is not None and o.outcome not in ("skipped", "deadline"):
            answered.setdefault(o.exchange, set()).add(o.probe)
    prof = check.profile
    bad: list[str] = []

    def cite(what: str, exchange: str | None, probe: str | None = None) -> None:
        if not exchange:
            bad.append(f"{what}: names no exchange")
        elif exchange not in answered:
            bad.append(f"{what}: cites exchange {exchange}, which was not sent and answered")
        elif probe and probe not in answered[exchange]:
            bad.append(f"{what}: cites exchange {exchange} of {'/'.join(sorted(answered[exchange]))}, not of {probe}")

    def cite_all(what: str, exchanges: Iterable[str], required: bool) -> None:
        listed = list(exchanges)
        if required and not listed:
            bad.append(f"{what}: names no exchange")
        for ex in listed:
            cite(what, ex)

    for m in prof.metrics.values():
        if m.provenance in _READ:
            cite(f"metric {m.name}", m.exchange, m.probe)
    for c in prof.capabilities:
        cite_all(f"capability {c.name}", c.exchanges, c.status == "verified")
    for r in prof.models:
        if r.allowed is not None:
            cite(f"model {r.model} allowed", r.allowed_exchange, r.allowed_probe)
        if r.price_provenance in _READ:
            cite(f"model {r.model} price", r.price_exchange, r.price_probe)
        if r.limits_provenance in _READ:
            cite(f"model {r.model} limits", r.limits_exchange, r.limits_probe)
    for lim in prof.limits:
        if lim.provenance in _READ:
            cite(f"limit {lim.scope}", lim.exchange, lim.probe)
        elif lim.provenance == "documented" and not lim.source:
            bad.append(f"limit {lim.scope}: documented without a source")
    for bal in prof.balances:
        if bal.provenance in _READ:
            cite(f"balance ({bal.scope})", bal.exchange, bal.probe)
    if prof.balance is not None and prof.balance not in prof.balances:
        bad.append("balance: the headline is not one of the balances")
    if prof.identity is not None and prof.identity.seen:
        cite_all("identity", prof.identity.exchanges, True)
    # counts count models, not calls
    accepted = {
        o.item for o in check.observations
        if o.cost == "rejected" and o.accepted and o.item and not o.placeholder and o.exchange in answered
    }  # fmt: skip
    texts = [("status", prof.status.detail), *((f"capability {c.name}", c.evidence) for c in prof.capabilities)]
    for what, text in texts:
        hit = _COUNT.match(text or "")
        if hit and int(hit.group(1)) != len(accepted):
            bad.append(f"{what}: says {hit.group(1)} model(s), {len(accepted)} distinct models passed auth")
    return bad
