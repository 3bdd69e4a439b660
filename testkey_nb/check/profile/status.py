"""The key's status (valid, invalid, revoked, valid_no_quota, ...) from the observations, and what each code means."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from testkey_nb._labels import plural
from testkey_nb.check.profile.observed import ProviderView, _after_auth, _chats, _statuses, said_text
from testkey_nb.probe.observation import Observation, spend_of, spend_text

STATUS_MEANINGS = {
    "valid": "the provider accepted the key: an endpoint it authenticates answered 200, a model call passed auth, or "
    "a model call got an error the provider gives only after auth (reason after_auth)",
    "invalid": "the provider refused the key in its own auth scheme (many answer revoked and unknown keys alike)",
    "revoked": "the provider said the key was revoked",
    "valid_no_quota": "the key authenticates but cannot be used now: no money (reason no_balance: credits exhausted, "
    "no card, arrears; top up) or no plan window (reason no_plan: a plan or subscription window used up or absent; "
    "it recovers by itself)",
    "valid_not_scoped": "the key authenticates but may call none of the models probed",
    "rate_limited": "the key authenticates but every model call was refused with 429",
    "unknown": "the probe could not tell; the reason says why (network, waf: a firewall's HTML page where JSON was "
    "expected, geo_blocked: the provider refuses this route or region, 5xx, unexpected_status, scheme_not_settled)",
}


#: the words that start the regional hint in a refused key's detail (the verdict looks for them)
REGION_HINT = "keys are regional at this provider:"


@dataclass(frozen=True)
class KeyStatus:
    code: str
    reason: str
    detail: str = ""
    #: the probe whose answer settled the status (None when nothing did)
    probe: str | None = None
    #: the exchange whose answer settled it
    exchange: str | None = None


def _status(
    by: Mapping[str, list[Observation]],
    observations: Sequence[Observation],
    proof: Observation | None,
    view: ProviderView,
) -> KeyStatus:
    """The key's status from what the probes saw.

    Only evidence about real models counts for access: a placeholder model (sent when the catalog could
    not be read) may be refused exactly like a bad key, so its refusal proves nothing. A 200 from an
    endpoint the provider authenticates proves the key; a public endpoint's 200 proves nothing; a 404
    for a model after auth is evidence about that model, not the key.
    """
    chats = _chats(observations)
    # evidence about access needs a real model: not a placeholder, not a call that named none
    real = [o for o in chats if not o.placeholder and o.item]
    catalog = [o for o in by.get("catalog", []) if o.outcome != "skipped"]
    inference = [o for o in observations if o.role == "inference" and o.outcome != "skipped"]
    sent = [o for o in inference if o.outcome not in ("skipped", "deadline")]
    if not sent and proof is None:
        return KeyStatus("unknown", "network", "no inference probe could be sent before the deadline")
    spent = [o for group in by.values() for o in group if o.spent and o.cost == "rejected" and o.outcome == "ok"]
    if spent:
        # a call built to be refused was answered: the key works (and the call cost money); spending stopped
        return KeyStatus(
            "valid",
            "spent",
            f"{spent[0].probe} ({spent[0].item or 'its placeholder model'}) was accepted and answered"
            f"{f' in {spent[0].auth}' if spent[0].auth else ''}, so the key works in that scheme; "
            f"it was not refused as built: {spend_text(spend_of(spent))}; no further model call was sent",
            spent[0].probe, spent[0].exchange,
        )
    accepted = [o for o in real if o.accepted]
    if accepted:
        n = len({o.item for o in accepted})
        rests_on = next((o.assumption for o in accepted if o.assumption), None)
        note = f" ({rests_on})" if rests_on else ""
        return KeyStatus(
            "valid",
            "accepted",
            f"{plural(n, 'model')} passed auth: a refused-by-design call was refused after auth{note}",
            accepted[0].probe, accepted[0].exchange,
        )
    after_auth = _after_auth(chats, view.post_auth)
    if after_auth is not None:
        # an error the provider gives only once the key has passed auth (a bad key is refused before): it
        # proves the key even for a placeholder model (Hugging Face: 400 model_not_found, a bad token 401)
        o, source = after_auth
        return KeyStatus(
            "valid", "after_auth",
            f"{o.probe} ({o.item or 'its placeholder model'}) answered HTTP {o.status}{said_text(o.json_body)}: "
            "an error "
            f"the provider gives only after auth{f' ({source})' if source else ''}",
            o.probe, o.exchange,
        )  # fmt: skip
    unpaid = next((o for o in chats if o.outcome == "payment_required"), None)
    if unpaid is not None:
        reason = unpaid.reason if unpaid.reason in ("no_balance", "no_plan") else "no_balance"
        said = unpaid.detail if unpaid.reason and unpaid.detail else "402 on a model call: billing or credits"
        return KeyStatus("valid_no_quota", reason, f"{unpaid.probe}: {said}", unpaid.probe, unpaid.exchange)
    geo = next((o for o in observations if o.reason == "geo_blocked"), None)
    if geo is not None:
        said = f"{geo.probe}: {geo.detail or geo.status}"
        if proof is not None:
            return KeyStatus("valid", "geo_blocked", f"the key authenticates ({proof.probe} answered 200) but the "
                             f"provider refuses this route or region ({said})", proof.probe,
                             proof.exchange)  # fmt: skip
        return KeyStatus("unknown", "geo_blocked", f"the provider refuses calls from this route or region ({said}): "
                         "the key itself was not judged", geo.probe, geo.exchange)  # fmt: skip
    if any(o.outcome == "waf_html" and o.reason != "invalid" for o in inference):
        return KeyStatus("unknown", "waf", "an HTML page (a firewall or proxy in front) answered where JSON was "
                         "expected: the key itself was not judged")  # fmt: skip
    # the per-model checks go in one wave: one of them timing out says nothing against the 429s of the rest
    answered = [o for o in (real or chats) if o.status is not None and o.outcome != "not_found"]
    if answered and all(o.outcome == "rate_limited" for o in answered):
        return KeyStatus(
            "rate_limited",
            "429",
            "every model call was refused with 429 after bounded retries",
            proof.probe if proof else answered[0].probe,
            proof.exchange if proof else answered[0].exchange,
        )
    refusals = ("refused", "unauthorized")
    real_refused = bool(real) and all(o.outcome in refusals for o in real)
    real_denied = bool(real) and all(o.outcome in (*refusals, "not_found") for o in real)
    catalog_refused = bool(catalog) and all(o.outcome in refusals for o in catalog)
    # an answer the provider's data documents as its refusal of the key, on any probe (Cohere's check-api-key
    # answering 200 with valid: false): the provider said so, whatever the other probes could not say
    ruled = [o for o in sent if o.reason == "invalid" and o.outcome in refusals]
    # the inference host gave nothing usable (5xx, no answer, unreadable bodies): the status says so even when
    # an authenticated read elsewhere proved the key (key_valid keeps that proof)
    unusable = ("server_error", "network", "timeout", "deadline", "bad_json", "too_large")

    def usable(o: Observation) -> bool:  # a model call that names no real model says nothing either
        return o.outcome not in unusable and not (o.cost != "read" and (not o.item or o.placeholder))

    inference_down = bool(sent) and not any(usable(o) for o in sent)
    if proof is not None and not inference_down:
        proved = f"{proof.probe}: {proof.method} {proof.path} answered 200, an endpoint the provider authenticates"
        if real_denied or catalog_refused:
            return KeyStatus("valid_not_scoped", "no_model_allowed",
                             f"the key authenticates ({proved}); no probed model accepted it", proof.probe,
                             proof.exchange)  # fmt: skip
        return KeyStatus("valid", "authenticated", proved, proof.probe, proof.exchange)
    if real_refused or catalog_refused or ruled:
        where = real[0] if real_refused else catalog[0] if catalog_refused else ruled[0]
        said = f"{where.probe}: HTTP {where.status}{said_text(where.json_body)}"
        if not view.scheme_settled:
            if len(view.schemes_tried) > 1:
                return KeyStatus(
                    "unknown", "scheme_not_settled",
                    f"refused in every scheme tried ({', '.join(view.schemes_tried)}; {said}), and no refusal is a "
                    "known provider's documented bad-key answer: the host may want a scheme the registry lacks "
                    "(e.g. an api-key header), so the refusals are not evidence against the key; name the "
                    "provider with --claim, or its Authorization scheme with --auth-scheme",
                )  # fmt: skip
            return KeyStatus(
                "unknown", "scheme_not_settled",
                f"refused in {where.auth or 'the default scheme'} ({said}), but no known provider was identified, "
                "so that scheme may be the wrong one: the refusal is not evidence against the key",
            )  # fmt: skip
        hint = ""
        if any(o.role == "management" and o.outcome == "skipped" and o.detail == "no management URL"
               for o in observations):  # fmt: skip
            hint = "; with a management URL a key without inference rights is told apart from an invalid one"
        return KeyStatus("invalid", "refused", f"the provider refused the key ({said}){hint}{_other_route(view)}",
                         where.probe, where.exchange)  # fmt: skip
    if all(o.outcome in ("network", "timeout", "deadline") for o in sent):
        return KeyStatus("unknown", "network", sent[0].detail or sent[0].outcome)
    if any(o.outcome == "server_error" for o in sent):
        return KeyStatus("unknown", "5xx", f"the provider answered {_statuses(sent)} after bounded retries")
    return KeyStatus("unknown", "unexpected_status", f"answers did not match any known pattern: {_statuses(sent)}")


def _other_route(view: ProviderView) -> str:
    """The hint a key refused on one region's host gets (never simply invalid): keys are regional where the
    provider's data declares hosts on more than one route; names the other route's hosts (``[[hosts]]``)."""
    host = view.outcomes.host_for(view.base_url) if view.base_url else None
    others = [h for h in view.outcomes.hosts if host is not None and h.route != host.route]
    if host is None or not others:
        return ""
    note = f" ({host.note})" if host.note else ""
    tries = " or ".join(f"{h.url} (--route {h.route})" for h in others[:2])
    return (f"; {REGION_HINT} this is its {host.route}-route host{note}: a key of the other region is refused "
            f"here, try {tries}")
