"""The answer first: the summary a key report and a billing report open with.

:func:`key_summary` (from a :class:`~testkey_nb.check.result.KeyCheck`) and :func:`billing_summary` (from a
:class:`~testkey_nb.report.billing_view.BillingView`) build a :class:`Summary`: a verdict, one sentence
that answers the question, a handful of facts and the actions with their one-line reasons.
:func:`summary_html` renders it as ``<section id="summary">``, sized to fit the first screen
(1280x800); the notebooks display it in their first visible cell, so it is the first ``<section>``
of the exported page and the evidence follows below it.

Every string is escaped here; numbers go through :mod:`testkey_nb._format`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from testkey_nb._format import count, moment, number, seconds, usd
from testkey_nb._labels import label, plural
from testkey_nb.report.views import esc

if TYPE_CHECKING:
    from testkey_nb.check.result import KeyCheck
    from testkey_nb.report.billing_view import BillingView

__all__ = ["SUMMARY_CSS", "Fact", "Summary", "billing_summary", "key_summary", "lens_sentence", "summary_html"]

SUMMARY_CSS: Final = """
<style>
.tk-summary{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;border:1px solid #e0e0e0;
 border-radius:8px;padding:12px 18px 10px 18px;margin:0 0 14px 0;max-width:1100px;background:#fff}
.tk-summary h1{font-size:22px;margin:0 0 2px 0}
.tk-summary .tk-sub{margin:0 0 8px 0;font-size:12px}
.tk-summary .tk-answer{font-size:17px;margin:6px 0 10px 0;line-height:1.4}
.tk-summary .tk-answer .tk-badge{font-size:14px;margin-right:6px;vertical-align:1px}
.tk-summary .tk-facts{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:8px 18px;margin:0 0 8px 0}
.tk-summary .tk-fact{border-left:3px solid #e0e0e0;padding:1px 8px;min-width:0}
.tk-summary .tk-fact.tk-bad{border-left-color:#c62828}.tk-summary .tk-fact.tk-good{border-left-color:#2e7d32}
.tk-summary .tk-fact-label{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:#757575}
.tk-summary .tk-fact-value{font-size:15px;font-weight:600}
.tk-summary .tk-note{font-size:12px;color:#616161;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.tk-summary h2{font-size:14px;margin:8px 0 2px 0}
.tk-summary ul.tk-actions{list-style:none;margin:0;padding:0;font-size:13px}
.tk-summary ul.tk-actions li{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;padding:1px 0;margin:0}
.tk-summary ul.tk-actions b{display:inline-block;min-width:180px}
</style>
"""


@dataclass(frozen=True)
class Fact:
    """One figure of the summary: a label, its value and a short note (provenance, where it comes from)."""

    label: str
    value: str
    note: str = ""
    tone: str = ""  # "good" | "bad" | ""


@dataclass(frozen=True)
class Summary:
    title: str
    subtitle: str
    verdict: str | None  # ready / needs_work / reject, or None (a billing report)
    answer: str
    facts: tuple[Fact, ...]
    actions: tuple[tuple[str, str], ...] = ()
    actions_title: str = "Actions"
    #: the lens the summary answers (name, title, question) and the other lenses' (name, title, verdict)
    lens: tuple[str, str, str] | None = None
    other_lenses: tuple[tuple[str, str, str], ...] = ()


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a dataclass or a mapping (the summary dict grows fields other helpers add)."""
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _sentence(text: str) -> str:
    text = " ".join(str(text).split()).rstrip(" .;")
    return text + "." if text else ""


def _plural(n: Any, word: str) -> str:
    return plural(n, word)


def _amount(value: Any, currency: str | None) -> str:
    if currency in (None, "", "USD", "usd"):
        return usd(value)
    return f"{number(value)} {currency}"


_PAYMENT: Final = {"card": "pays by card", "none": "no payment method"}


def balance_fact(summary: Mapping[str, Any]) -> Fact | None:
    """The balance: the headline ``balance`` (the most binding one read, or the one the user gave) with the
    other balances read in its note, each in its own currency and scope; where none was read, what the
    capability says and how the account pays, as the user said ("not exposed; pays by card")."""
    bal = summary.get("balance")
    said = _PAYMENT.get(str(summary.get("payment_method")), "")
    if isinstance(bal, Mapping) and any(bal.get(k) is not None for k in ("remaining", "granted", "used", "limit")):
        cur = bal.get("currency")
        parts = []
        for key, word in (("granted", "granted"), ("used", "used"), ("limit", "limit")):
            if bal.get(key) is not None:
                parts.append(f"{_amount(bal[key], cur)} {word}")
        note = ", ".join(parts)
        cited = f"({bal['probe']}, {bal['exchange']})" if bal.get("probe") and bal.get("exchange") else (
            f"({bal['probe']})" if bal.get("probe") else "")  # fmt: skip
        scope = f"{bal['scope']}:" if bal.get("scope") else ""
        prov = " ".join(str(x) for x in (scope, bal.get("provenance"), cited) if x)
        note = f"{note}; {prov}" if note and prov else note or prov
        others = [b for b in summary.get("balances") or [] if isinstance(b, Mapping) and b != bal]
        for other in others:
            if other.get("remaining") is not None:
                note += (f"; {other.get('scope') or 'also'}: {_amount(other['remaining'], other.get('currency'))} "
                         "remaining")  # fmt: skip
        note += f"; {said}" if said else ""
        if bal.get("remaining") is not None:
            low = isinstance(bal["remaining"], (int, float)) and bal["remaining"] <= 0
            return Fact("Balance", f"{_amount(bal['remaining'], cur)} remaining", note, "bad" if low else "")
        return Fact("Balance", parts[0] if parts else "unknown", note)
    cap = next((c for c in summary.get("capabilities") or [] if _get(c, "capability") == "balance"), None)
    if cap is None and not said:
        return None
    status = str(_get(cap, "status") or "unknown") if cap is not None else "unknown"
    evidence = str(_get(cap, "evidence") or "") if cap is not None else ""
    value = {"unsupported": "not exposed", "verified": "read", "denied": "not readable with this key"}.get(
        status, "unknown"
    )
    return Fact("Balance", f"{value}; {said}" if said else value, evidence)


def _limits_fact(summary: Mapping[str, Any], tpm_provenance: str | None) -> Fact:
    limits = [x for x in summary.get("limits") or [] if isinstance(x, Mapping)]
    by_scope = {str(x.get("scope")): x for x in limits}
    tpm = by_scope.get("tokens_per_minute")
    rpm = by_scope.get("requests_per_minute")
    if tpm is not None and tpm.get("value") is not None:
        value, prov = tpm.get("value"), tpm.get("provenance")
    else:
        value, prov = summary.get("tokens_per_minute"), tpm_provenance
    note_parts = []
    if rpm is not None and rpm.get("value") is not None:
        note_parts.append(f"{count(rpm['value'])} requests / min")
    if prov and not (value is None and prov == "unknown"):
        note_parts.append(str(prov))
    if value is None:
        return Fact("Tokens per minute", "unknown", "; ".join(note_parts) or "not readable with this key")
    return Fact("Tokens per minute", count(value), "; ".join(note_parts))


def key_summary(check: KeyCheck | Mapping[str, Any]) -> Summary:
    """The summary of a key report, from a KeyCheck (or its :meth:`~KeyCheck.summary` dict)."""
    if isinstance(check, Mapping):
        s: Mapping[str, Any] = check
        tpm_prov = None
        listed = None
        detail = ""
        subtitle = ""
    else:
        s = _with_balance_and_limits(check)
        metric = check.profile.metrics.get("tokens_limit")
        tpm_prov = metric.provenance if metric is not None else None
        listed = sum(1 for m in check.profile.models if m.listed)
        detail = check.profile.status.detail
        where = ", ".join(f"{role} {url}" for role, url in
                          (("inference", check.targets.inference), ("management", check.targets.management))
                          if url)  # fmt: skip
        subtitle = (f"Checked {moment(check.checked_at)} against {where or 'no host'}. Read-only probes; "
                    "the key itself appears nowhere in this report.")  # fmt: skip
    verdict = str(s.get("verdict") or "")
    provider = str(s.get("provider") or "unknown")
    claimed = s.get("claimed")
    confidence = s.get("confidence")
    conf = f"confidence {number(confidence)}" if isinstance(confidence, (int, float)) else ""
    if s.get("route"):
        conf = f"{conf}; {s['route']} route".strip("; ")
    if claimed:
        matches = s.get("matches_claim")
        claim_note = f"claimed {claimed}: " + ("matches" if matches else "does NOT match")
        provider_fact = Fact("Real provider vs claim", provider, f"{claim_note}; {conf}".strip("; "),
                             "bad" if matches is False else "good")  # fmt: skip
    else:
        provider_fact = Fact("Real provider vs claim", provider, f"no claim given; {conf}".strip("; "))
    status = str(s.get("status") or "unknown")
    reason = label("status_reason", s.get("status_reason")) if s.get("status_reason") else ""
    status_fact = Fact("Key status", label("status", status), f"{reason}{': ' + detail if detail else ''}",
                       "good" if status == "valid" else "bad")  # fmt: skip
    allowed, priced = s.get("allowed_models"), s.get("priced_models")
    models_note = f"of {count(listed)} listed" if listed is not None else ""
    models_fact = Fact("Models allowed / priced", f"{count(allowed)} / {count(priced)}", models_note,
                       "good" if allowed and allowed == priced else "")  # fmt: skip
    facts = [provider_fact, status_fact, models_fact, _limits_fact(s, tpm_prov)]
    bal = balance_fact(s)
    if bal is not None:
        facts.append(bal)
    if s.get("token_role"):
        facts.append(Fact("Key role", label("role", s["token_role"]), "from the provider's key listing"))
    used = key_usage_fact(s.get("key_usage"))
    if used is not None:
        facts.append(used)
    lens_name = str(s.get("lens") or "inventory-fit")
    raw_lenses = s.get("lenses")
    lenses: Mapping[str, Any] = raw_lenses if isinstance(raw_lenses, Mapping) else {}
    raw_chosen = lenses.get(lens_name)
    chosen: Mapping[str, Any] | None = raw_chosen if isinstance(raw_chosen, Mapping) else None
    answer = answer_sentence(s)
    action_items = s.get("actions") or []
    if chosen is not None and lens_name != "inventory-fit":
        verdict = str(chosen.get("verdict") or "")
        answer = lens_sentence(chosen)
        action_items = chosen.get("actions") or []
    actions = tuple((str(_get(a, "action")), str(_get(a, "reason") or "")) for a in action_items)
    lens = None
    if chosen is not None:
        lens = (lens_name, str(chosen.get("title") or lens_name), str(chosen.get("question") or ""))
    others = tuple((name, str(v.get("title") or name), str(v.get("verdict") or ""))
                   for name, v in lenses.items() if name != lens_name and isinstance(v, Mapping))  # fmt: skip
    return Summary(
        title=f"Key {s.get('label') or ''}".strip(),
        subtitle=subtitle,
        verdict=verdict or None,
        answer=answer,
        facts=tuple(facts),
        actions=actions,
        lens=lens,
        other_lenses=others,
    )


def lens_sentence(lens: Mapping[str, Any]) -> str:
    """The answer of an onboarding-readiness or commercial-launch lens, as one sentence."""
    title = str(lens.get("title") or "")
    word = {"ready": "ready", "needs_work": "not yet", "reject": "no"}.get(str(lens.get("verdict")), "no verdict")
    return _sentence(f"{title} \u2014 {word}: {lens.get('summary') or ''}")
def key_usage_fact(ku: Any) -> Fact | None:
    """"What this key used" (``key_usage``, issue 21): requests and cost over its window, with the burn."""
    if not isinstance(ku, Mapping):
        return None
    parts = []
    if ku.get("requests") is not None:
        parts.append(f"{count(ku['requests'])} requests")
    if ku.get("cost_usd") is not None:
        parts.append(usd(ku["cost_usd"]))
    if not parts:
        return None
    burn = f"; burn {usd(ku['burn_per_day_usd'])} per day" if ku.get("burn_per_day_usd") is not None else ""
    note = f"{ku.get('from')} to {ku.get('to')}{burn} ({ku.get('provenance')}, {ku.get('probe')})"
    return Fact("What this key used", " · ".join(parts), note)


def _plain(value: Any) -> Any:
    """A dataclass (or a list of them) as plain dicts; anything else unchanged."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _with_balance_and_limits(check: KeyCheck) -> dict[str, Any]:
    """``check.summary()``, with ``balance`` and ``limits`` (issue 10) taken from wherever the check holds
    them: the summary, the ``probe --json`` object, or the profile."""
    s = dict(check.summary())
    missing = [name for name in ("balance", "limits") if s.get(name) is None]
    if missing:
        full = check.to_json()
        for name in missing:
            found = full.get(name)
            if found is None:
                found = getattr(check.profile, name, None)
            s[name] = _plain(found)
    return s


def answer_sentence(s: Mapping[str, Any]) -> str:
    """One sentence that answers "can this key go into inventory?"."""
    verdict = s.get("verdict")
    priced = s.get("priced_models") or 0
    summary = str(s.get("verdict_summary") or "")
    if verdict == "ready":
        limits = "limits observed" if "limits observed" in summary or not summary else summary.split(";")[-1]
        return _sentence(f"Ready for inventory: {_plural(priced, 'model')} allowed and priced, {limits.strip()}")
    if verdict == "reject":
        return _sentence(f"Do not onboard: {_first_gaps(summary) or 'the key was refused'}")
    if verdict == "needs_work":
        return _sentence(f"Not ready for inventory yet: {_first_gaps(summary) or 'see the actions'}")
    return _sentence(f"No verdict: {summary or s.get('error') or 'the check did not finish'}")


def _first_gaps(summary: str, keep: int = 2) -> str:
    """The first ``keep`` clauses of a verdict summary ("a; b; c; d" -> "a; b, and 2 more (see the actions)")."""
    gaps = [g.strip() for g in summary.split("; ") if g.strip()]
    if len(gaps) <= keep:
        return "; ".join(gaps)
    return "; ".join(gaps[:keep]) + f", and {len(gaps) - keep} more (see the actions)"


def billing_summary(view: BillingView) -> Summary:
    """The summary of a billing report: cost per month of each setting, the saving, the cold-start penalty."""
    if view.source == "scenario" and view.tradeoff is not None and view.tradeoff.height:
        return _scenario_summary(view)
    return _key_billing_summary(view)


def _scenario_summary(view: BillingView) -> Summary:
    assert view.tradeoff is not None
    rows = view.tradeoff.sort("min_replica").to_dicts()
    sim_days = float(getattr(view, "period_days", None) or 0) or None
    month_days = float(getattr(view, "month_days", None) or 0) or None
    scale = (month_days / sim_days) if sim_days and month_days else 1.0
    per = "a month" if scale == 1.0 else f"a month (scaled from {number(sim_days)} simulated days)"
    facts = []
    for row in rows:
        starts = row.get("cold_starts") or 0
        facts.append(Fact(f"min_replica {row['min_replica']}", f"{usd((row.get('total_usd') or 0) * scale)} / month",
                          f"{count((row.get('billed_minutes') or 0) * scale)} billed minutes, "
                          f"{_plural(starts * scale, 'cold start')}"))  # fmt: skip
    answer = "Only one setting was simulated."
    if len(rows) >= 2:
        lo, hi = rows[0], rows[-1]
        saved = ((hi.get("total_usd") or 0) - (lo.get("total_usd") or 0)) * scale
        latency = lo.get("first_request_added_latency_s") or 0
        starts = (lo.get("cold_starts") or 0) - (hi.get("cold_starts") or 0)
        facts.append(Fact("Saving", f"{usd(saved)} / month", f"min_replica {lo['min_replica']} instead of "
                          f"{hi['min_replica']}", "good" if saved > 0 else ""))  # fmt: skip
        facts.append(Fact("Cold-start penalty", f"+{seconds(latency)}",
                          f"on the first request after a quiet stretch, {_plural(starts * scale, 'time')} "
                          f"{'a month' if scale == 1.0 else 'a month (scaled)'}",
                          "bad" if latency else ""))  # fmt: skip
        answer = _sentence(
            f"min_replica {lo['min_replica']} costs {usd((lo.get('total_usd') or 0) * scale)} {per} against "
            f"{usd((hi.get('total_usd') or 0) * scale)} for min_replica {hi['min_replica']}: it saves "
            f"{usd(saved)} a month and adds {seconds(latency)} to the first request after a quiet stretch "
            f"({_plural(starts * scale, 'cold start')} a month)"
        )
    s = view.summary or {}
    if s:
        credits = f"{usd(s.get('credits_used_usd'))} of credits used, {usd(s.get('net_usd'))} net"
        deact = s.get("deactivated_at")
        facts.append(Fact("This scenario as configured", usd(s.get("total_usd")),
                          credits + (f"; models deactivated {moment(deact)}" if deact else ""),
                          "bad" if deact else ""))  # fmt: skip
    return Summary(
        title=f"Billing: {view.title}",
        subtitle="Simulated from the scenario file with Baseten's per-minute metering rules; usage before credits.",
        verdict=None,
        answer=answer,
        facts=tuple(facts),
    )


def _key_billing_summary(view: BillingView) -> Summary:
    kb = view.key_billing
    facts: list[Fact] = []
    answer = "No billing figures for this key."
    if kb is not None and not kb.deployment_billing:
        reason = (view.unavailable or {}).get("summary") or "the provider declares no per-minute deployment billing"
        return Summary(title=f"Billing: {view.title}", subtitle="", verdict=None, answer=_sentence(reason), facts=())
    if kb is not None:
        if kb.usage.readable:
            per = kb.usage.per_deployment()
            spent = float(per["usd"].sum()) if per.height and "usd" in per.columns else 0.0
            facts.append(Fact("Last 30 days", usd(spent), f"{_plural(per.height, 'billable resource')}, observed"))
            answer = f"This workspace spent {usd(spent)} in the last 30 days (observed)"
        else:
            facts.append(Fact("Usage", "not readable", str(kb.usage.reason or ""), "bad"))
            answer = f"No usage figures: {kb.usage.reason}"
        proj = kb.projection
        if proj is not None and proj.height and "projected_floor_usd" in proj.columns:
            floor = float(proj["projected_floor_usd"].fill_null(0).sum())
            ceiling = float(proj["ceiling_usd"].fill_null(0).sum()) if "ceiling_usd" in proj.columns else None
            facts.append(Fact("This month, at least", usd(floor), "projected floor at the current autoscaling "
                              "settings (derived)"))  # fmt: skip
            if ceiling is not None:
                facts.append(Fact("This month, at most", usd(ceiling), "every deployment at max_replica (derived)"))
            answer += f"; at the current autoscaling settings this month costs at least {usd(floor)} (derived)"
        else:
            facts.append(Fact("Deployments", "not readable", f"deployments {kb.deployments_readable}"))
        answer = _sentence(answer)
    facts.append(Fact("Cold-start trade-off", "needs a scenario", "Baseten's API exposes no replica events"))
    return Summary(
        title=f"Billing: {view.title}",
        subtitle="What this key's read-only probes could read of the workspace's billing.",
        verdict=None,
        answer=answer,
        facts=tuple(facts),
    )


def _badge(verdict: str) -> str:
    cls = re.sub(r"[^a-z_]", "", verdict)
    return f'<span class="tk-badge tk-{cls}">{esc(label("verdict", verdict))}</span>'


def summary_html(summary: Summary, *, max_actions: int = 8, index_href: str = "") -> str:
    """``<section id="summary">``: title, the answer (with the verdict badge), the facts, the actions.

    ``index_href``: the fleet index this report belongs to (a relative link), shown above the title.
    Notes and reasons are whole in the markup (the screen may cut them with "…" and show them on hover;
    print and PDF wrap them in full).
    """
    badge = _badge(summary.verdict) + " " if summary.verdict else ""
    facts = "".join(
        f'<div class="tk-fact{f" tk-{esc(f.tone)}" if f.tone else ""}">'
        f'<div class="tk-fact-label">{esc(f.label)}</div><div class="tk-fact-value">{esc(f.value)}</div>'
        + (f'<div class="tk-note" title="{esc(f.note)}">{esc(f.note)}</div>' if f.note else "")
        + "</div>"
        for f in summary.facts
    )
    actions = ""
    if summary.actions:
        items = "".join(
            f'<li title="{esc(reason)}"><b>{esc(action)}</b> {esc(reason)}</li>'
            for action, reason in _one_per_action(summary.actions)[:max_actions]
        )
        actions = f'<h2 class="tk-actions-title">{esc(summary.actions_title)}</h2><ul class="tk-actions">{items}</ul>'
    sub = f'<p class="tk-muted tk-sub">{esc(summary.subtitle)}</p>' if summary.subtitle else ""
    verdict_attr = f' data-verdict="{esc(summary.verdict)}"' if summary.verdict else ""
    lens = ""
    if summary.lens is not None:
        name, title, question = summary.lens
        verdict_attr += f' data-lens="{esc(name)}"'
        lens = (f'<p class="tk-lens tk-sub">Lens: <b>{esc(title)}</b>'
                + (f" &mdash; {esc(question)}" if question else "") + "</p>")  # fmt: skip
    others = ""
    if summary.other_lenses:
        items = "".join(f'<span class="tk-other-lens" data-lens="{esc(name)}" data-verdict="{esc(v)}">{esc(title)}: '
                        f"{_badge(v) if v else 'no verdict'}</span> "
                        for name, title, v in summary.other_lenses)  # fmt: skip
        others = f'<p class="tk-other-lenses tk-sub">Other lenses: {items}</p>'
    return (
        f'{SUMMARY_CSS}<section id="summary" class="tk-summary" aria-label="Summary"{verdict_attr}>'
        + (f'<a class="tk-back" href="{esc(index_href)}">&larr; Fleet index</a>' if index_href else "")
        + f"<h1>{esc(summary.title)}</h1>{sub}{lens}"
        f'<p class="tk-answer">{badge}<b>{esc(summary.answer)}</b></p>'
        f'<div class="tk-facts">{facts}</div>{actions}{others}</section>'
    )


def _one_per_action(actions: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Actions in order, repeated ones merged (``fill pricing`` twice -> one line, reasons joined)."""
    merged: dict[str, list[str]] = {}
    for action, reason in actions:
        merged.setdefault(action, []).append(reason)
    return [(a, "; ".join(r for r in reasons if r)) for a, reasons in merged.items()]
