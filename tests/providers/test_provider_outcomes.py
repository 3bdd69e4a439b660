"""Issue 19: the route, what a key cannot pay for, money units, each read from the providers' documented answers
(tests/providers/<id>/answers.yaml, or the answer a provider.toml rule cites), never from a provider's name in code."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from documented import key_for
from test_provider_plans import run

from testkey_nb.check.result import CheckError, CheckOptions, KeyCheck
from testkey_nb.check.run import check_key_async
from testkey_nb.check.targets import resolve_targets
from testkey_nb.identify.loader import load_registry
from testkey_nb.secrets import Secret


def _served(provider: str, status: int, body: Any, content_type: str = "application/json", **opts: Any) -> KeyCheck:
    """Every request answered the same way (the answer a provider.toml rule cites)."""
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    transport = httpx.MockTransport(lambda r: httpx.Response(status, headers={"content-type": content_type},
                                                             content=raw))  # fmt: skip
    options = CheckOptions(timeout_s=3.0, deadline_s=5.0, **({"claim": provider} | opts))
    return asyncio.run(check_key_async(Secret(key_for(provider, "valid")), options, transport=transport))


def _said(check: KeyCheck) -> str:
    return " ".join([check.decision.summary, *(a.reason for a in check.decision.actions)]).lower()


# -- geo_blocked ------------------------------------------------------------------------------------------------
def test_openrouter_security_policy_403_is_geo_blocked_not_invalid() -> None:
    # open-assistant#80: {"success": false, "error": "Access denied by security policy."} from a blocked region
    check = _served("openrouter", 403, {"success": False, "error": "Access denied by security policy."})
    data = check.to_json()
    assert (data["status"], data["status_reason"]) == ("unknown", "geo_blocked")
    assert data["metrics"]["key_valid"] is None
    said = _said(check)
    assert "route or region" in said and "not an invalid key" in said and "refused" not in data["status"]


def test_gemini_location_not_supported_is_geo_blocked() -> None:
    # ai.google.dev troubleshooting: 400 FAILED_PRECONDITION "User location is not supported for the API use."
    body = {"error": {"code": 400, "message": "User location is not supported for the API use.",
                      "status": "FAILED_PRECONDITION"}}  # fmt: skip
    data = _served("gemini", 400, body).to_json()
    assert (data["status"], data["status_reason"]) == ("unknown", "geo_blocked")


# -- waf ----------------------------------------------------------------------------------------------------------
def test_a_firewall_page_is_waf_and_judges_nothing() -> None:
    page = "<html><head><title>Attention Required! | Cloudflare</title></head><body>blocked</body></html>"
    check = _served("openrouter", 403, page, "text/html; charset=UTF-8")
    data = check.to_json()
    assert (data["status"], data["status_reason"]) == ("unknown", "waf")
    assert data["metrics"]["key_valid"] is None
    assert "firewall" in _said(check) and "invalid" not in _said(check)


def test_perplexity_own_html_401_is_its_refusal_not_waf() -> None:
    # maruel/genai perplexity errors/bad_apiKey: openresty's HTML 401 page is Perplexity refusing the key
    page = ("<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n<center><h1>401 "
            "Authorization Required</h1></center>\r\n<hr><center>openresty/1.27.4</center>\r\n</body>\r\n</html>\r\n")
    data = _served("perplexity", 401, page, "text/html").to_json()
    assert (data["status"], data["metrics"]["key_valid"]) == ("invalid", False)


# -- no_balance / no_plan: the verdict's words ------------------------------------------------------------------
@pytest.mark.parametrize(("provider", "mode", "reason", "words"), [
    ("zhipu", "no-balance", "no_balance", "top up"),
    ("ark", "no-balance", "no_balance", "top up"),
    ("zhipu", "no-plan", "no_plan", "window resets"),
    ("cohere", "no-plan", "no_plan", "window resets"),
])  # fmt: skip
def test_money_says_top_up_and_a_plan_window_says_it_resets(provider: str, mode: str, reason: str, words: str) -> None:
    check, _ = run(provider, mode)
    assert (check.profile.status.code, check.profile.status.reason) == ("valid_no_quota", reason)
    said = _said(check)
    assert words in said and "not an invalid key" in said
    assert check.decision.verdict != "reject"


def test_a_rate_limit_is_not_a_plan_window() -> None:
    """Gemini's per-minute 429 (no -FreeTier quotaId) and SambaNova's 429 with requests left today stay rate
    limits: the no_plan rules hold only on a list item (details[].violations[].quotaId) or a header."""
    for provider in ("gemini", "sambanova"):
        check, _ = run(provider, "rate-limited")
        assert check.profile.status.code == "rate_limited", provider


def test_minimax_http_200_envelopes_are_errors_never_spent() -> None:
    valid, bad, broke = (run("minimax", m)[0] for m in ("valid", "bad-key", "no-balance"))
    assert (valid.profile.status.code, valid.profile.status.reason) == ("valid", "after_auth")
    assert valid.to_json()["spend"]["calls"] == 0 and not any(p["spent"] for p in valid.to_json()["probes"])
    assert (broke.profile.status.code, broke.profile.status.reason) == ("valid_no_quota", "no_balance")
    assert bad.profile.status.code != "valid"


# -- the route ----------------------------------------------------------------------------------------------------
def test_route_flag_picks_the_official_hosts_of_that_route() -> None:
    registry, secret = load_registry(), Secret("tk-route-test-0123456789")
    china, _ = resolve_targets(CheckOptions(claim="moonshot", route="china"), registry, secret)
    glob, _ = resolve_targets(CheckOptions(claim="moonshot", route="global"), registry, secret)
    zhipu, _ = resolve_targets(CheckOptions(claim="zhipu", route="china"), registry, secret)
    assert (china.inference, glob.inference) == ("https://api.moonshot.cn/v1", "https://api.moonshot.ai/v1")
    assert zhipu.inference == "https://open.bigmodel.cn/api/paas/v4"
    with pytest.raises(CheckError, match="no official china host"):
        resolve_targets(CheckOptions(claim="openai", route="china"), registry, secret)
    with pytest.raises(CheckError, match="china-route host"):
        resolve_targets(CheckOptions(base_url="https://api.moonshot.cn/v1", route="global"), registry, secret)
    with pytest.raises(CheckError, match="--route must be one of"):
        resolve_targets(CheckOptions(claim="moonshot", route="mainland"), registry, secret)
    with pytest.raises(CheckError, match="pass base_url=URL"):  # Azure: every resource has its own host
        resolve_targets(CheckOptions(claim="azure"), registry, secret)


def test_route_reaches_the_summary_and_the_index_row() -> None:
    from testkey_nb.batch.fleet import index_row

    check, _ = run("moonshot", "valid", base_url="https://api.moonshot.cn/v1")
    assert check.to_json()["provider"]["route"] == "china" and check.summary()["route"] == "china"
    assert index_row(check.label, summary=check.summary())["route"] == "china"
    openai, _ = run("openai", "valid")
    assert openai.summary()["route"] == "global"


def test_a_key_refused_on_one_regions_host_gets_the_other_host_as_a_hint() -> None:
    check, _ = run("moonshot", "bad-key")
    status = check.profile.status
    assert status.code == "invalid" and "https://api.moonshot.cn/v1 (--route china)" in status.detail
    assert check.decision.verdict == "needs_work" and "other region" in _said(check)
    # a provider with one route: simply invalid
    single, _ = run("openai", "bad-key")
    assert single.decision.verdict == "reject" and "--route" not in single.profile.status.detail


# -- money units --------------------------------------------------------------------------------------------------
def test_novita_catalog_prices_are_read_in_usd_per_million() -> None:
    check, _ = run("novita", "valid")
    row = check.to_json()["models"][0]
    assert (row["price_in_per_mtok"], row["price_out_per_mtok"], row["unpriced"]) == (0.27, 1.1, False)


def test_an_unpriced_model_is_null_never_zero() -> None:
    check, _ = run("groq", "valid")  # Groq's /models carries a price for gpt-oss-120b only
    rows = {r["model"]: r for r in check.to_json()["models"]}
    assert (rows["openai/gpt-oss-120b"]["price_in_per_mtok"], rows["openai/gpt-oss-120b"]["unpriced"]) == (0.15, False)
    for model in ("groq/compound-mini", "whisper-large-v3"):
        assert (rows[model]["price_in_per_mtok"], rows[model]["price_out_per_mtok"], rows[model]["unpriced"]) == (
            None, None, True)


# -- the emulator's no-plan mode ------------------------------------------------------------------------------------
def test_the_emulated_zhipu_host_plays_money_and_plan_windows_apart() -> None:
    from testkey_nb.emulator import run_emulator

    with run_emulator(provider="zhipu") as emu:
        reasons = {}
        for mode in ("no-balance", "no-plan", "rate-limited"):
            options = CheckOptions(base_url=emu.base_url, timeout_s=5.0, deadline_s=8.0)
            check = asyncio.run(check_key_async(Secret(emu.keys[mode]), options))
            reasons[mode] = (check.identification.provider, check.profile.status.code, check.profile.status.reason)
    assert reasons == {"no-balance": ("zhipu", "valid_no_quota", "no_balance"),
                       "no-plan": ("zhipu", "valid_no_quota", "no_plan"),
                       "rate-limited": ("zhipu", "rate_limited", "429")}  # fmt: skip


def test_the_demo_fleet_holds_a_china_route_key_and_the_new_reasons() -> None:
    from testkey_nb.cli.demo import demo_keys

    with demo_keys() as keys:
        named = ("demo-behind-waf", "demo-openrouter-geo-blocked")
        jobs = {k.label: k for k in keys if k.job.claim in ("moonshot", "zhipu") or k.label in named}
        seen = {}
        for label, k in jobs.items():
            options = CheckOptions(base_url=k.job.base_url, claim=k.job.claim, route=k.job.route, timeout_s=5.0,
                                   deadline_s=8.0)  # fmt: skip
            check = asyncio.run(check_key_async(k.secret, options))
            balance = check.profile.balance
            seen[label] = (check.route, check.profile.status.code, check.profile.status.reason,
                           balance.currency if balance else None)  # fmt: skip
    assert seen == {
        "demo-moonshot-valid": ("china", "valid", "accepted", "CNY"),
        "demo-moonshot-no-balance": ("global", "valid_no_quota", "no_balance", None),  # loopback, no --route
        "demo-zhipu-valid": ("global", "valid", "accepted", None),
        "demo-zhipu-no-balance": ("global", "valid_no_quota", "no_balance", None),
        "demo-zhipu-no-plan": ("china", "valid_no_quota", "no_plan", None),
        "demo-behind-waf": ("global", "unknown", "waf", None),
        "demo-openrouter-geo-blocked": ("global", "unknown", "geo_blocked", None),
    }
