"""Issue 19's provider data beyond identification (identify/outcomes.py): hosts per route, status rules,
HTTP-200 error envelopes and money units are parsed, validated and exposed on the spec."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pytest

from testkey_nb.identify.loader import RegistryError, load_registry
from testkey_nb.identify.outcomes import ROUTES, STATUS_REASONS
from testkey_nb.identify.schema import Registry

REGIONAL = ("dashscope", "moonshot", "zhipu", "siliconflow", "minimax", "ark")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


def test_regional_providers_have_a_global_and_a_china_host(registry: Registry) -> None:
    for pid in REGIONAL:
        routes = {h.route for h in registry.get(pid).outcomes.hosts}
        assert routes == set(ROUTES), pid
    moonshot = registry.get("moonshot").outcomes
    assert moonshot.route_for("https://api.moonshot.cn/v1") == "china"
    assert moonshot.route_for("https://API.MOONSHOT.AI/v1/users/me/balance") == "global"
    assert moonshot.route_for("https://example.com/v1") is None
    assert {h.route: h.currency for h in moonshot.hosts} == {"global": "USD", "china": "CNY"}
    assert registry.get("zhipu").outcomes.route_for("https://open.bigmodel.cn/api/paas/v4") == "china"
    assert registry.get("ark").outcomes.route_for("https://ark.cn-beijing.volces.com/api/v3") == "china"


def test_status_rules_name_the_four_new_reasons(registry: Registry) -> None:
    reasons = {(p.id, r.reason) for p in registry.providers for r in p.outcomes.status_rules}
    for want in [("zhipu", "no_balance"), ("zhipu", "no_plan"), ("minimax", "no_balance"), ("ark", "no_balance"),
                 ("openrouter", "geo_blocked"), ("openrouter", "no_plan"), ("gemini", "geo_blocked"),
                 ("perplexity", "invalid"), ("xai", "invalid")]:  # fmt: skip
        assert want in reasons, want
    assert all(r in STATUS_REASONS for _, r in reasons)
    assert {q.reason for p in registry.providers for q in p.no_quota} <= {"no_balance", "no_plan"}
    (arrears,) = registry.get("zhipu").outcomes.rules_for("no_balance")
    assert arrears.status == (429,) and arrears.body[0].value == "1113"
    (html,) = registry.get("perplexity").outcomes.rules_for("invalid")
    assert html.text is not None and html.text.search("<title>401 Authorization Required</title>")


def test_envelopes_and_money_units(registry: Registry) -> None:
    env = registry.get("minimax").outcomes.error_envelope
    assert env is not None and env.path == ("base_resp", "status_code") and env.ok == (0,)
    assert env.message == ("base_resp", "status_msg") and env.probes == ()
    zhipu = registry.get("zhipu").outcomes.error_envelope
    assert zhipu is not None and zhipu.ok == (True,) and zhipu.probes == ("plan_quota",)
    novita = registry.get("novita").outcomes.money
    assert (novita.currency, novita.balance_scale, novita.price_scale) == ("USD", 10000.0, 10000.0)
    assert registry.get("hyperbolic").outcomes.money.balance_scale == 100.0
    assert registry.get("groq").outcomes.money.balance_scale == 1.0  # the default: major units


def _with(tmp_path: Path, extra: str) -> Path:
    root = tmp_path / "providers"
    shutil.copytree(Path(str(resources.files("testkey_nb.providers"))), root,
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    toml = root / "groq" / "provider.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + "\n" + extra, encoding="utf-8")
    return root


@pytest.mark.parametrize(("extra", "message"), [
    ('[[hosts]]\nurl = "https://api.groq.com/openai/v1"\nroute = "mars"\n', "route must be one of"),
    ('[[hosts]]\nroute = "global"\n', "needs a url"),
    ('[[hosts]]\nurl = "https://a.example/v1"\nroute = "global"\nzone = "x"\n', "unknown keys"),
    ('[[status_rules]]\nreason = "broke"\nbody = [{ path = "x" }]\n', "reason must be one of"),
    ('[[status_rules]]\nreason = "waf"\nstatus = [403]\n', "body conditions or a text pattern"),
    ('[error_envelope]\npath = "code"\nok = []\n', "non-empty ok list"),
    ('[money]\nbalance_scale = 0\n', "positive numbers"),
    ('[money]\nunit = "cents"\n', "unknown keys"),
    ('[[no_quota]]\nreason = "no_money"\nstatus = [402]\n', "reason must be one of"),
])  # fmt: skip
def test_malformed_outcome_data_is_refused_at_load(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        load_registry(_with(tmp_path, extra))


# -- issue 19 #8: identification reads a provider's HTTP-200 error envelope -------------------------------------------
def _ev(probe: str, status: int, body: object) -> object:
    from testkey_nb.identify.evidence import HttpEvidence

    return HttpEvidence(probe=probe, url_path="/v1/chat/completions", status=status,
                        headers={"content-type": "application/json"}, json_body=body, text_snippet=None)  # fmt: skip


def test_minimax_base_resp_names_it_on_an_http_200_answer(registry: Registry) -> None:
    from testkey_nb.identify.evidence import KeyShape
    from testkey_nb.identify.score import identify

    body = {"id": "", "choices": None, "base_resp": {"status_code": 1004, "status_msg": "login fail"}}
    result = identify(registry, KeyShape(), [_ev("auth_check", 200, body)], base_url="http://127.0.0.1:9/v1")
    assert result.provider == "minimax"
    marks = [(e.fingerprint, e.source, e.detail.split(" ", 2)[:2]) for e in result.evidence if e.specific]
    assert marks == [("minimax:base-resp", "error_body", ["HTTP", "200"])]


def test_an_error_mark_is_not_read_on_a_200_of_a_provider_without_an_envelope(registry: Registry) -> None:
    """DeepInfra's legacy {"detail": {"error": "Not authenticated"}} is specific on a refusal: the same body on a 200
    (a gateway's echo, a model's answer) names nobody, since DeepInfra answers no errors as HTTP 200."""
    from testkey_nb.identify.evidence import KeyShape
    from testkey_nb.identify.score import identify

    body = {"detail": {"error": "Not authenticated"}}
    on_200 = identify(registry, KeyShape(), [_ev("auth_check", 200, body)], base_url="http://127.0.0.1:9/v1")
    on_403 = identify(registry, KeyShape(), [_ev("auth_check", 403, body)], base_url="http://127.0.0.1:9/v1")
    assert on_200.provider == "unknown" and not [e for e in on_200.evidence if e.weight > 0]
    assert "deepinfra:detail-not-authenticated" in {e.fingerprint for e in on_403.evidence}


def test_a_minimax_bad_key_behind_a_gateway_is_named_from_its_200_answer() -> None:
    """Through the documented answers (HTTP 200, base_resp 1004) on a host no provider declares, no claim."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "providers"))
    from test_provider_plans import run

    check, _ = run("minimax", "bad-key", claim=None, base_url="https://llm-gateway.example.com/v1")
    assert check.identification.provider == "minimax"
    assert check.profile.status.code == "invalid"
