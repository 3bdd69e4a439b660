"""Impostors, conflicts, WAF pages, empty evidence, key shape alone, claims."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from identify_evidence_fixtures import (
    LOOPBACK,
    anthropic_case,
    baseten_403,
    baseten_catalog_body,
    baseten_exchanges,
    ev,
    groq_case,
    openai_case,
)

from testkey_nb.identify.evidence import HttpEvidence, KeyShape
from testkey_nb.identify.loader import load_registry
from testkey_nb.identify.schema import Registry
from testkey_nb.identify.score import claimed_matches, identify

OPENAI_HEADERS = {
    "openai-version": "2020-10-01",
    "openai-processing-ms": "187",
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-reset-requests": "6ms",
    "x-ratelimit-limit-tokens": "30000000",
    "server": "cloudflare",
    "cf-ray": "8f1c2a3b4c5d6e7f-SJC",
    "content-type": "application/json",
}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


def _baseten_403_body() -> Any:
    return baseten_403().json_body


def test_impostor_a_claims_openai_with_rewritten_owned_by(registry: Registry) -> None:
    """Claims OpenAI, rewrites owned_by to "openai", but serves Baseten-shaped items and Baseten's 403."""
    catalog = copy.deepcopy(baseten_catalog_body())
    for item in catalog["data"]:
        item["owned_by"] = "openai"
    assert "object" not in catalog
    proxy_headers = {"server": "nginx", "content-type": "application/json"}
    exchanges = [
        ev("catalog", "/v1/models", 200, proxy_headers, catalog),
        ev("auth_check", "/v1/chat/completions", 403, proxy_headers, _baseten_403_body()),
    ]
    result = identify(registry, KeyShape(("baseten:new",)), exchanges, base_url=LOOPBACK, claimed="openai")
    assert result.provider == "baseten"
    assert result.claimed == "openai"
    assert result.matches_claim is False
    assert claimed_matches(result) is False
    assert "claimed openai, evidence says baseten" in result.conflicts
    assert any("says openai" in c or "say openai" in c for c in result.conflicts)  # owned_by contradicts
    assert result.confidence >= 0.5
    openai_weight = sum(e.weight for e in result.evidence if e.provider == "openai")
    assert openai_weight <= 0  # rewritten owned_by is outweighed by OpenAI-contradicting item shapes


def test_impostor_b_has_openai_headers_but_baseten_catalog_and_errors(registry: Registry) -> None:
    """OpenAI's headers and `object:"list"`, but Baseten slugs, owned_by baseten and Baseten's 403."""
    data = [
        {"id": "openai/gpt-oss-120b", "object": "model", "created": 1754410981, "owned_by": "baseten"},
        {"id": "zai-org/GLM-4.7", "object": "model", "created": 1766509343, "owned_by": "baseten"},
        {"id": "moonshotai/Kimi-K2.6", "object": "model", "created": 1776647514, "owned_by": "baseten"},
    ]
    exchanges = [
        ev("catalog", "/v1/models", 200, OPENAI_HEADERS, {"object": "list", "data": data}),
        ev("auth_check", "/v1/chat/completions", 403, OPENAI_HEADERS, _baseten_403_body()),
    ]
    result = identify(registry, KeyShape(), exchanges, base_url=LOOPBACK, claimed="openai")
    assert result.provider == "baseten"
    assert result.matches_claim is False
    assert any(c.startswith("headers") and "openai" in c and "baseten" in c for c in result.conflicts)
    assert any(c.startswith("openai ruled out: it needs OpenAI-specific evidence") for c in result.conflicts)
    clean = identify(registry, KeyShape(), baseten_exchanges(), base_url=LOOPBACK)
    assert result.confidence < clean.confidence  # the conflict lowers confidence


def test_openai_compatible_is_not_openai_by_default(registry: Registry) -> None:
    models = {
        "object": "list",
        "data": [{"id": "gpt-4o", "object": "model", "created": 1, "owned_by": "openai"}],
    }
    err = {"error": {"message": "Invalid key", "type": "invalid_request_error", "param": None, "code": None}}
    exchanges = [
        ev(
            "catalog", "/v1/models", 200, {"server": "cloudflare", "content-type": "application/json"}, models
        ),
        ev("auth_check", "/v1/chat/completions", 401, {"content-type": "application/json"}, err),
    ]
    result = identify(registry, KeyShape(), exchanges, base_url=LOOPBACK, claimed="openai")
    assert result.provider == "unknown"
    assert result.confidence == 0.0
    assert result.matches_claim is False


def test_openai_needs_no_contradicting_key_shape(registry: Registry) -> None:
    """OpenAI's real headers, but a Baseten key: not OpenAI, and the contradiction is reported."""
    result = identify(registry, KeyShape(("baseten:new",)), openai_case(), base_url=LOOPBACK)
    assert result.provider != "openai"
    joined = " | ".join(result.conflicts)
    assert "openai" in joined and "baseten" in joined
    assert result.confidence <= 0.3


def test_generic_vllm_endpoint_is_unknown(registry: Registry) -> None:
    models = {
        "object": "list",
        "data": [
            {
                "id": "meta-llama/Llama-3.1-8B-Instruct",
                "object": "model",
                "created": 1,
                "owned_by": "vllm",
                "root": "meta-llama/Llama-3.1-8B-Instruct",
                "parent": None,
                "max_model_len": 8192,
            }
        ],
    }
    exchanges = [
        ev("catalog", "/v1/models", 200, {"server": "uvicorn", "content-type": "application/json"}, models),
        ev(
            "auth_check",
            "/v1/chat/completions",
            401,
            {"content-type": "application/json"},
            {"error": "Unauthorized"},
        ),
    ]
    result = identify(registry, KeyShape(), exchanges, base_url=LOOPBACK)
    assert result.provider == "unknown" and result.confidence == 0.0


def test_conflicting_evidence_is_reported_and_lowers_confidence(registry: Registry) -> None:
    clean = identify(registry, KeyShape(), groq_case(), base_url=LOOPBACK)
    mixed = identify(registry, KeyShape(), groq_case() + anthropic_case()[1:], base_url=LOOPBACK)
    assert clean.provider == "groq"
    assert mixed.conflicts
    assert any("anthropic" in c and "groq" in c for c in mixed.conflicts)
    # Groq's evidence (x-groq-region 4.0, its 401 body 2.0, two catalog fields 1.5 + 1.5, x-request-id 0.8 and
    # cosmetics 0.6: 10.4) outweighs Anthropic's (8.0): Groq wins, at 1 - exp(-10.4/3) = 0.969, times the
    # dominance 10.4 / 18.4 = 0.565, times the conflict penalty 0.85 = 0.465 (scoring.toml)
    assert mixed.provider == "groq"
    assert mixed.confidence == pytest.approx(0.465, abs=0.002)
    assert mixed.confidence < clean.confidence


def test_waf_html_page_is_not_provider_evidence(registry: Registry) -> None:
    html = (
        "<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head>"
        "<body>Sorry, you have been blocked</body></html>"
    )
    waf = ev(
        "catalog",
        "/v1/models",
        403,
        {
            "content-type": "text/html; charset=UTF-8",
            "server": "cloudflare",
            "cf-ray": "8f1c2a3b4c5d6e7f-AMS",
        },
        None,
        html,
    )
    alone = identify(registry, KeyShape(), [waf], base_url=LOOPBACK)
    assert alone.provider == "unknown" and alone.confidence == 0.0
    (item,) = alone.evidence
    assert (
        item.weight == 0.0
        and item.provider == "unknown"
        and "WAF" in item.detail
        and "Cloudflare" in item.detail
    )
    with_baseten = identify(registry, KeyShape(), [waf, *baseten_exchanges()], base_url=LOOPBACK)
    without = identify(registry, KeyShape(), baseten_exchanges(), base_url=LOOPBACK)
    assert with_baseten.provider == "baseten"
    assert with_baseten.confidence == without.confidence
    # an HTML body without a content type is recognised too, and its headers are not scored
    bare = ev(
        "auth_check", "/v1/chat/completions", 403, {"openai-version": "2020-10-01"}, None, "  <html>blocked"
    )
    result = identify(registry, KeyShape(), [bare], base_url=LOOPBACK)
    assert result.provider == "unknown" and all(e.weight == 0 for e in result.evidence)


def test_no_evidence_at_all_is_unknown_with_zero_confidence(registry: Registry) -> None:
    result = identify(registry, KeyShape(), [])
    assert result.provider == "unknown"
    assert result.confidence == 0.0
    assert result.evidence == () and result.conflicts == ()
    assert result.claimed is None and result.matches_claim is None
    assert claimed_matches(result) is None
    net_error = [HttpEvidence("catalog", "/v1/models", None, {}, None, None)]
    assert identify(registry, KeyShape(), net_error, base_url=LOOPBACK).provider == "unknown"


def test_key_shape_alone_gives_low_confidence(registry: Registry) -> None:
    strong = identify(registry, KeyShape(("baseten:new",)), [], base_url=LOOPBACK)
    assert strong.provider == "baseten"
    assert 0.0 < strong.confidence <= 0.3
    weak = identify(registry, KeyShape(("baseten:old",)), [], base_url=LOOPBACK)
    assert weak.provider == "baseten" and weak.confidence < strong.confidence
    generic = identify(registry, KeyShape(("mistral:alnum32", "deepinfra:alnum32")), [], base_url=LOOPBACK)
    assert generic.provider == "unknown"


def test_base_url_is_weak_evidence_and_loopback_none(registry: Registry) -> None:
    alone = identify(registry, KeyShape(), [], base_url="https://inference.baseten.co/v1")
    assert alone.provider == "unknown"  # the hostname alone decides nothing
    (hint,) = alone.evidence
    assert hint.source == "base_url" and hint.provider == "baseten" and 0 < hint.weight <= 0.5
    for url in (
        "http://127.0.0.1:8931/v1",
        "http://localhost:9000/v1",
        "http://[::1]:80/v1",
        "not a url",
        "",
    ):
        assert identify(registry, KeyShape(), [], base_url=url).evidence == ()
    # a hostname does not beat behaviour
    result = identify(registry, KeyShape(), openai_case(), base_url="https://inference.baseten.co/v1")
    assert result.provider == "openai"


def test_claimed_vs_real(registry: Registry) -> None:
    real = identify(registry, KeyShape(("baseten:new",)), baseten_exchanges(), LOOPBACK, claimed="Baseten")
    assert real.claimed == "baseten" and real.matches_claim is True
    assert claimed_matches(real) is True and claimed_matches(real, min_confidence=0.99) is False
    named = identify(registry, KeyShape(), baseten_exchanges(), LOOPBACK, claimed="Baseten Model APIs")
    assert named.matches_claim is True
    wrong = identify(registry, KeyShape(), groq_case(), LOOPBACK, claimed="baseten")
    assert wrong.provider == "groq" and wrong.matches_claim is False
    assert "claimed baseten, evidence says groq" in wrong.conflicts
    assert identify(registry, KeyShape(), groq_case(), LOOPBACK, claimed="  ").claimed is None
