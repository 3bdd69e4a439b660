"""The eight sample metrics, each with its provenance and the probe it came from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from testkey_nb._labels import plural
from testkey_nb.check.facts import (
    Fact,
    Provenance,
    ProviderFacts,
    readability,
)
from testkey_nb.check.profile.models import ModelRow, _workspace_limit
from testkey_nb.check.profile.observed import ProviderView, _reads, _sent, chats_probes
from testkey_nb.check.profile.status import KeyStatus
from testkey_nb.probe.observation import Observation

METRIC_NAMES = (
    "key_valid",
    "requests_total",
    "runtime_model",
    "runtime_model_allowed",
    "tokens_limit",
    "tokens_limit_day",
    "token_role",
    "token_scopes",
)


_MINUTES_PER_DAY = 1440


@dataclass(frozen=True)
class Metric:
    name: str
    value: Any
    provenance: Provenance
    probe: str | None
    note: str = ""
    #: the exchange the figure rests on (None where it is unknown or documented)
    exchange: str | None = None


def _metric(name: str, fact: Fact) -> Metric:
    return Metric(name, fact.value, fact.provenance, fact.probe, fact.note, fact.exchange)


def _metrics(
    by: Mapping[str, list[Observation]],
    observations: Sequence[Observation],
    status: KeyStatus,
    proof: Observation | None,
    models: Sequence[ModelRow],
    chats: Mapping[str, Observation],
    facts: ProviderFacts,
    view: ProviderView,
    documented_tiers: Sequence[Mapping[str, Any]],
) -> dict[str, Metric]:
    m: dict[str, Metric] = {}
    # key_valid: proof from an authenticated 200, else the model call that passed (or failed) auth
    if status.code == "unknown":  # key_valid follows the status: it never says yes beside "could not tell"
        seen = (f"; {proof.method} {proof.path} answered 200 elsewhere, but the inference host gave no usable answer"
                if proof is not None else "")  # fmt: skip
        m["key_valid"] = Metric("key_valid", None, "unknown", None, f"{status.reason}: {status.detail}{seen}")
    elif proof is not None:  # whatever else failed, the provider authenticated the key
        m["key_valid"] = Metric("key_valid", True, "observed", proof.probe,
                                f"{proof.method} {proof.path} answered 200; the provider authenticates it",
                                proof.exchange)  # fmt: skip
    elif status.code == "rate_limited":
        m["key_valid"] = Metric("key_valid", None, "unknown", status.probe,
                                "every call got 429, which a gateway may send before checking the key")  # fmt: skip
    elif status.code in ("valid", "valid_no_quota", "valid_not_scoped"):
        m["key_valid"] = Metric("key_valid", True, "observed", status.probe, status.detail, status.exchange)
    elif status.code in ("invalid", "revoked"):
        m["key_valid"] = Metric("key_valid", False, "observed", status.probe, status.detail, status.exchange)
    else:
        m["key_valid"] = Metric("key_valid", None, "unknown", None, f"{status.reason}: {status.detail}")

    # requests_total
    usage_probes = _reads(view, "usage")
    if facts.requests_total is not None:
        m["requests_total"] = _metric("requests_total", facts.requests_total)
    else:
        support, note = view.capabilities.get("usage and billing", ("unknown", ""))
        seen = readability([o for p in usage_probes for o in by.get(p, [])]) if usage_probes else "not probed"
        if seen == "readable":
            seen = f"the usage read ({', '.join(usage_probes)}) counts money, not requests"
        why = f"the provider exposes no usage endpoint for this key ({note})" if support == "unsupported" else seen
        m["requests_total"] = Metric("requests_total", None, "unknown", None, why)

    # runtime_model: the model that answered a billable call, else one a refused-by-design call reached,
    # else the model this key used most (its own usage); the models it really used are evidence too
    ku = facts.key_usage
    ku_probe = ku.probe if ku is not None else None
    ku_exchange = ku.exchange if ku is not None else None
    used = [r for r in (ku.by_model if ku is not None and ku.requests is not None else ()) if r.get("requests")]
    runtime = next((o for o in by.get("runtime_call", []) if o.outcome == "ok"), None)
    accepted_rows = [r for r in models if r.allowed and r.allowed_probe in chats_probes(chats)]
    if runtime is not None and isinstance(runtime.json_body, dict) and runtime.json_body.get("model"):
        m["runtime_model"] = Metric(
            "runtime_model", str(runtime.json_body["model"]), "observed", runtime.probe,
            f"a 1-token completion for {runtime.item} answered as this model", runtime.exchange,
        )  # fmt: skip
    elif accepted_rows:
        row = accepted_rows[0]
        routed = facts.routed_to.get(row.model)
        m["runtime_model"] = Metric(
            "runtime_model", row.model, "derived", row.allowed_probe,
            "a refused-by-design request for this model passed auth"
            + (f" and was routed to {routed}" if routed else "")
            + "; a billable call (allow_billable) would observe the answering model", row.allowed_exchange,
        )  # fmt: skip
    elif used:
        top = max(used, key=lambda r: (r["requests"] or 0, r["model"]))
        m["runtime_model"] = Metric(
            "runtime_model", top["model"], "observed", ku_probe,
            f"this key made {top['requests']:,} requests to it in its usage window (the most of {len(used)} model(s))",
            ku_exchange,
        )  # fmt: skip
    else:
        m["runtime_model"] = Metric("runtime_model", None, "unknown", None, "no model call passed auth")
    used_by_model = {r["model"]: r for r in used}
    if m["runtime_model"].value in used_by_model and m["runtime_model"].probe != ku_probe:
        r = used_by_model[m["runtime_model"].value]
        mm = m["runtime_model"]
        note = f"{mm.note}; this key really used it ({r['requests']:,} requests, {ku_probe})"
        m["runtime_model"] = Metric(mm.name, mm.value, mm.provenance, mm.probe, note, mm.exchange)

    # runtime_model_allowed
    rm = m["runtime_model"].value
    if rm is None:
        m["runtime_model_allowed"] = Metric("runtime_model_allowed", None, "unknown", None, "no runtime model")
    elif rm in used_by_model:
        n = used_by_model[rm]["requests"]
        m["runtime_model_allowed"] = Metric(
            "runtime_model_allowed", True, "observed", ku_probe,
            f"this key made {n:,} requests to it in its usage window: the provider let it call the model", ku_exchange,
        )  # fmt: skip
    else:
        answered = next((r for r in models if r.model == rm), None)
        ok = bool(answered and answered.listed and answered.allowed)
        cited, cited_ex = m["runtime_model"].probe, m["runtime_model"].exchange
        if answered is not None and answered.allowed_probe:
            cited, cited_ex = answered.allowed_probe, answered.allowed_exchange
        m["runtime_model_allowed"] = Metric(
            "runtime_model_allowed", ok, "derived", cited,
            "listed in the catalog and callable with this key" if ok else "not both listed and callable", cited_ex,
        )  # fmt: skip

    # tokens_limit / tokens_limit_day, from the limits
    tpm = _workspace_limit(facts, "tokens_per_minute")
    tpd = _workspace_limit(facts, "tokens_per_day")
    if tpm is not None:
        m["tokens_limit"] = Metric("tokens_limit", int(tpm.value), tpm.provenance, tpm.probe,
                                   tpm.note or "tokens per minute", tpm.exchange)  # fmt: skip
    else:
        tiers = ", ".join(f"{t.get('tier')}: {t.get('tpm')}" for t in documented_tiers if t.get("tpm"))
        note = "no tokens-per-minute limit readable with this key" + (
            f"; documented tiers (TPM) {tiers}" if tiers else ""
        )
        m["tokens_limit"] = Metric("tokens_limit", None, "unknown", None, note)
    if tpd is not None:
        m["tokens_limit_day"] = Metric("tokens_limit_day", int(tpd.value), tpd.provenance, tpd.probe,
                                       tpd.note or "tokens per day", tpd.exchange)  # fmt: skip
    elif tpm is not None:
        m["tokens_limit_day"] = Metric(
            "tokens_limit_day", int(tpm.value) * _MINUTES_PER_DAY,
            "derived" if tpm.provenance != "documented" else "documented", tpm.probe,
            "per-minute limit x 1440; the provider exposes no enforced daily token budget in these answers",
            tpm.exchange,
        )  # fmt: skip
    else:
        m["tokens_limit_day"] = Metric("tokens_limit_day", None, "unknown", None, m["tokens_limit"].note)

    # token_role / token_scopes
    if facts.role is not None:
        m["token_role"] = _metric("token_role", facts.role)
    else:
        no_url = any(o.role == "management" and o.detail == "no management URL" for o in observations)
        support, _ = view.capabilities.get("key identity", ("unknown", ""))
        why = (
            "no management URL"
            if no_url
            else "the provider exposes no key type"
            if support == "unsupported"
            else "key type not readable"
        )
        m["token_role"] = Metric("token_role", None, "unknown", None, why)
    if facts.scopes is not None:
        m["token_scopes"] = _metric("token_scopes", facts.scopes)
    else:
        sent_chats = [o for o in chats.values()]
        accepted = [o for o in sent_chats if o.accepted]
        if accepted and status.code == "valid":
            names = [r.model for r in models if r.allowed and r.allowed_probe in chats_probes(chats)]
            m["token_scopes"] = Metric(
                "token_scopes", names, "derived", accepted[0].probe,
                f"the models whose refused-by-design calls passed auth ({len(names)} of {len(sent_chats)} called)",
                accepted[0].exchange,
            )  # fmt: skip
        elif status.code == "valid_not_scoped":
            catalog = [o for o in _sent(by.get("catalog", [])) if o.outcome in ("refused", "unauthorized")]
            if sent_chats:
                note = f"none of the {plural(len(sent_chats), 'model')} called accepted the key"
                m["token_scopes"] = Metric("token_scopes", [], "derived", sent_chats[0].probe, note,
                                           sent_chats[0].exchange)  # fmt: skip
            elif catalog:
                m["token_scopes"] = Metric("token_scopes", [], "derived", catalog[0].probe,
                                           "the catalog refused the key: no model can be listed or called",
                                           catalog[0].exchange)  # fmt: skip
            else:
                m["token_scopes"] = Metric("token_scopes", None, "unknown", None, "no model was called")
        else:
            m["token_scopes"] = Metric("token_scopes", None, "unknown", None, "scope not determinable")
    return {name: m[name] for name in METRIC_NAMES}
