"""What the kernel hands the history (facts_from_check) for emulator keys, and the summary shapes of
the providers-core work (identity, balance, limits) read defensively."""

from __future__ import annotations

import json
from typing import Any

import pytest

from testkey_nb.check.result import CheckOptions, KeyCheck
from testkey_nb.check.run import check_key
from testkey_nb.history.snapshot import build_snapshot, facts_from_check


def _check(emu: Any, scenario: str) -> KeyCheck:
    return check_key("env:K", CheckOptions(base_url=emu.inference_url, management_url=emu.management_url),
                     environ={"K": emu.keys[scenario]})  # fmt: skip


def test_baseten_facts(emu: Any) -> None:
    check = _check(emu, "basic-unverified")
    facts = facts_from_check(check)
    assert json.loads(json.dumps(facts)) == facts  # plain data
    assert emu.keys["basic-unverified"] not in json.dumps(facts)
    ids = [m["id"] for m in facts["models"]]
    assert "openai/gpt-oss-120b" in ids and all(set(m) == {"id", "allowed", "price_in", "price_out"}
                                                for m in facts["models"])  # fmt: skip
    limits = {item["scope"]: item for item in facts["limits"]}
    assert limits["tokens_per_minute"]["value"] == 100_000 and limits["requests_per_minute"]["value"] == 15
    summary_limits = check.summary().get("limits")
    if isinstance(summary_limits, list):  # the summary's own limits, as the providers report them
        assert facts["limits"] == summary_limits
    else:  # no limits in the summary: the profile's figures, the per-day one derived
        assert limits["tokens_per_day"]["provenance"] == "derived"
    # Baseten exposes no balance: the documented $30 free grant is not one, so nothing is assumed
    assert facts["balance"] is None and facts["balances"] == []
    assert facts["usage_daily"] and sum(d["usd"] for d in facts["usage_daily"]) > 0
    snap = build_snapshot({**check.summary(), "rendered_at": check.checked_at}, facts)
    assert snap.runway is None and snap.balance_remaining is None and snap.balances == ()


def test_a_balance_the_user_gives_is_the_headline_with_its_payment_method(emu: Any) -> None:
    check = check_key("env:K", CheckOptions(base_url=emu.inference_url, management_url=emu.management_url,
                                            credits_remaining=12.5, payment_method="none"),
                      environ={"K": emu.keys["basic-unverified"]})  # fmt: skip
    facts = facts_from_check(check)
    assert facts["balance"] == {"scope": "workspace", "currency": "USD", "remaining": 12.5, "limit": None,
                                "used": None, "granted": None, "provenance": "given", "probe": None,
                                "exchange": None, "payment_method": "none"}  # fmt: skip
    snap = build_snapshot({**check.summary(), "rendered_at": check.checked_at}, facts)
    assert snap.balance_remaining == 12.5 and snap.balance is not None and snap.balance["payment_method"] == "none"


def test_a_key_that_reads_nothing(emu: Any) -> None:
    facts = facts_from_check(_check(emu, "revoked"))
    assert facts["models"] is None and facts["balance"] is None and facts["usage_daily"] is None


def test_summary_shapes_from_the_providers(emu: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    check = _check(emu, "basic-unverified")
    plain = check.summary()
    extra = {
        "identity": {"user": "sam@example.com", "workspace": "solo-dev", "organization": None, "evidence": "x"},
        "balance": {"currency": "USD", "remaining": None, "granted": None, "used": 0.5, "limit": None,
                    "provenance": "observed", "probe": "usage"},
        "limits": [{"scope": "tokens_per_minute", "value": 100000, "provenance": "observed", "source": "model_apis"},
                   {"scope": "bogus", "value": "n/a"}, "not a dict"],
    }  # fmt: skip
    monkeypatch.setattr(KeyCheck, "summary", lambda self: {**plain, **extra})
    facts = facts_from_check(check)
    snap = build_snapshot({**plain, "rendered_at": check.checked_at}, facts)
    assert snap.identity == {"user": "sam@example.com", "workspace": "solo-dev"}
    assert list(snap.limits) == ["tokens_per_minute"]  # the unusable entries are skipped
    # the provider's figures as read: nothing remaining is invented from a grant
    assert snap.balance is not None and snap.balance["provenance"] == "observed"
    assert snap.balance["remaining"] is None and snap.balance["used"] == 0.5
    monkeypatch.setattr(KeyCheck, "summary", lambda self: {**plain, "identity": "?", "balance": 3, "limits": None})
    odd = build_snapshot({**plain}, facts_from_check(check))
    assert odd.identity is None and odd.balance is None  # an odd shape is no balance, and none is assumed


def test_a_balance_an_earlier_version_assumed_from_the_grant_is_dropped() -> None:
    # what earlier versions stored for Baseten: the documented $30 less the credits used, marked derived
    assumed = {"currency": "USD", "remaining": 29.7, "granted": 30.0, "used": 0.3, "limit": None,
               "provenance": "derived", "probe": "usage",
               "note": "documented free credits (docs) minus the credits used in the usage window; ..."}  # fmt: skip
    snap = build_snapshot({"label": "k", "status": "valid"}, {"balance": assumed})
    assert snap.balance is None and snap.balance_remaining is None
    read = {**assumed, "note": "read", "exchange": "x3"}
    assert build_snapshot({"label": "k", "status": "valid"}, {"balance": read}).balance_remaining == 29.7
