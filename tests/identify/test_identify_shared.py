"""Shared fingerprints (docs/identification.md): features many hosts emit never name a provider alone and
never raise a conflict; the key's shape is the user's evidence, not the endpoint's; a provider's own
plan goes out only once the endpoint named it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from identify_evidence_fixtures import LOOPBACK, PROVIDER_CASES, baseten_exchanges
from identify_evidence_more import BEHAVIOUR_SILENT

from testkey_nb.check.run import CheckOptions, check_key_async
from testkey_nb.identify.loader import load_registry
from testkey_nb.identify.schema import Condition, Fingerprint
from testkey_nb.identify.score import HttpEvidence, KeyShape, identified_by_endpoint, identify
from testkey_nb.secrets import Secret

REGISTRY = load_registry()
SHARED = [fp for fp in REGISTRY.fingerprints() if not fp.specific]
#: every provider's case that names it (a BEHAVIOUR_SILENT case names nobody from behaviour alone, by design)
CASES = {"baseten": baseten_exchanges, **{p: c for p, c in PROVIDER_CASES.items() if p not in BEHAVIOUR_SILENT}}
#: values drawn for "is a string" / "present": digits only, so they never spell a provider's own text
PLAIN = st.text(alphabet="0123456789", min_size=1, max_size=8)


def _value(cond: Condition) -> st.SearchStrategy[Any]:
    if cond.op == "equals":
        return st.just(cond.value)
    if cond.op == "one_of":
        return st.sampled_from(list(cond.value))
    if cond.op == "regex" and cond.pattern is not None:
        return st.from_regex(cond.pattern, fullmatch=True).map(lambda s: s[:60])
    if cond.op == "type":
        return {
            "string": PLAIN, "array": st.lists(PLAIN, max_size=3), "integer": st.integers(0, 10**6),
            "number": st.floats(0, 1e6, allow_nan=False), "object": st.just({"a": "1"}), "bool": st.booleans(),
            "null": st.none(),
        }.get(cond.value, PLAIN)  # fmt: skip
    return PLAIN  # present


def _put(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        nxt = obj.get(part)
        if not isinstance(nxt, dict):
            nxt = obj[part] = {}
        obj = nxt
    obj[path[-1]] = value


def _fill(draw: st.DrawFn, conditions: tuple[Condition, ...], into: dict[str, Any]) -> None:
    for cond in conditions:
        if cond.op != "absent":
            _put(into, cond.path, draw(_value(cond)))


@st.composite
def shared_answers(draw: st.DrawFn) -> list[HttpEvidence]:
    """A catalog and a refusal made only of shared fingerprints (of any providers)."""
    fps: list[Fingerprint] = draw(
        st.lists(st.sampled_from(SHARED), min_size=1, max_size=10, unique_by=lambda f: (f.provider, f.id))
    )
    headers: dict[str, str] = {"content-type": "application/json"}
    item: dict[str, Any] = {"id": "m1"}
    error: dict[str, Any] = {}
    shape = "object-list"
    status = 401
    for fp in fps:
        if fp.kind == "header":
            name = fp.header or f"{fp.header_prefix}x"
            headers[name] = draw(st.from_regex(fp.value, fullmatch=True)) if fp.value is not None else "1"
        elif fp.kind == "models_body":
            shape = fp.shapes[0] if fp.shapes else shape
            _fill(draw, fp.item, item)
        else:
            status = fp.status[0] if fp.status else status
            _fill(draw, fp.body, error)
    items = [item, dict(item)]
    body: Any = {
        "object-list": {"object": "list", "data": items}, "bare-array": items,
        "anthropic-paged": {"data": items, "has_more": False, "first_id": "m1", "last_id": "m1"},
    }.get(shape, {"data": items})  # fmt: skip
    return [
        HttpEvidence("catalog", "/v1/models", 200, headers, body),
        HttpEvidence("auth_pilot", "/v1/chat/completions", status, headers, error or {"error": "1"}),
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shared_answers())
def test_shared_fingerprints_alone_name_no_provider(answers: list[HttpEvidence]) -> None:
    result = identify(REGISTRY, KeyShape(), answers, base_url=LOOPBACK)
    # two shared fingerprints written into one body can spell a specific one (OpenAI's error.type and
    # DeepSeek's error.code make DeepSeek's envelope): such answers are not shared-only
    assume(not [e for e in result.evidence if e.specific])
    assert result.provider == "unknown" and result.confidence == 0.0, result
    assert result.conflicts == ()
    assert not identified_by_endpoint(result)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(provider=st.sampled_from(sorted(CASES)), extra=shared_answers())
def test_shared_fingerprints_of_others_raise_no_conflict(provider: str, extra: list[HttpEvidence]) -> None:
    assume(not [e for e in identify(REGISTRY, KeyShape(), extra, base_url=LOOPBACK).evidence if e.specific])
    clean = identify(REGISTRY, KeyShape(), CASES[provider](), base_url=LOOPBACK)
    mixed = identify(REGISTRY, KeyShape(), [*CASES[provider](), *extra], base_url=LOOPBACK)
    assert mixed.provider == clean.provider == provider
    assert mixed.conflicts == ()


def test_gemini_bad_key_envelope_is_not_openrouter() -> None:
    """Google's error envelope {error: {code: 400, ...}} named OpenRouter (0.28) before. Its generic part
    (google.rpc.Status) is shared and names nobody; Gemini's own bad-key message names Gemini (issue 19),
    and OpenRouter's numeric-error-code never matches it (the envelope carries error.status)."""
    generic = {"error": {"code": 400, "message": "Request contains an invalid argument.", "status": "INVALID_ARGUMENT"}}
    json = {"content-type": "application/json"}
    answers = [
        HttpEvidence("catalog", "/v1/models", 400, json, generic),
        HttpEvidence("auth_pilot", "/v1/chat/completions", 400, json, generic),
    ]
    result = identify(REGISTRY, KeyShape(), answers, base_url=LOOPBACK)
    assert result.provider == "unknown" and result.confidence == 0.0
    assert [(e.fingerprint, e.specific) for e in result.evidence] == [("gemini:google-rpc-status", False)]
    gemini = {"error": {**generic["error"], "message": "API key not valid. Please pass a valid API key."}}
    answers = [
        HttpEvidence("catalog", "/v1beta/openai/models", 400, json, gemini),
        HttpEvidence("auth_pilot", "/v1beta/openai/chat/completions", 400, json, gemini),
    ]
    result = identify(REGISTRY, KeyShape(), answers, base_url=LOOPBACK)
    assert result.provider == "gemini" and result.conflicts == ()
    assert sorted((e.fingerprint, e.specific) for e in result.evidence) == [
        ("gemini:api-key-not-valid", True), ("gemini:google-rpc-status", False)]  # fmt: skip


@pytest.mark.parametrize(
    ("key", "message", "named"),
    [
        # an opaque key and Google's generic envelope: nothing names a provider
        ("tk-" + "0123456789abcdef" * 2, "Request contains an invalid argument.", "unknown"),
        # a Google key and Gemini's bad-key answer: Gemini (its plan has no probe of its own), never OpenRouter
        ("AIzaSy" + "A1b2C3d4E5" * 3 + "xyz", "API key not valid. Please pass a valid API key.", "gemini"),
    ],
)
def test_no_provider_plan_goes_to_a_host_that_named_no_provider(key: str, message: str, named: str) -> None:
    """Google's answers through a whole check: OpenRouter's /key and /credits are never sent there."""
    gemini = {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(400, json=gemini)

    options = CheckOptions(base_url="https://generativelanguage.googleapis.com/v1beta/openai", timeout_s=3.0,
                           deadline_s=5.0)  # fmt: skip
    check = asyncio.run(check_key_async(Secret(key), options, transport=httpx.MockTransport(handler)))
    assert check.identification.provider == named
    assert sent and not [p for p in sent if p.endswith(("/key", "/credits"))], sent
    assert {p.rsplit("/", 1)[-1] for p in sent} <= {"models", "completions", "messages"}, sent


def test_a_key_shape_names_but_does_not_send_the_plan() -> None:
    """An OpenRouter-shaped key on a host that names no provider: OpenRouter by the key (low confidence), and
    still no /key or /credits: the key's shape is the user's evidence, not the endpoint's."""
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(401, json={"error": {"message": "unauthorized", "code": 401}})

    options = CheckOptions(base_url="http://127.0.0.1:9/v1", timeout_s=3.0, deadline_s=5.0)
    key = "sk-or-v1-" + "0123456789abcdef" * 4
    check = asyncio.run(check_key_async(Secret(key), options, transport=httpx.MockTransport(handler)))
    assert check.identification.provider == "openrouter"
    assert check.identification.confidence <= REGISTRY.scoring.max_confidence_without_behaviour
    assert not identified_by_endpoint(check.identification)
    assert sent and not [p for p in sent if p.endswith(("/key", "/credits"))], sent


@pytest.mark.parametrize("base_url", [LOOPBACK, "https://inference.baseten.co/v1"])
def test_owned_by_baseten_and_a_b10_key_are_one_source(base_url: str) -> None:
    """The issue's case: a catalog whose only marker is owned_by "baseten", plus a b10_ key, scored 0.878."""
    catalog = HttpEvidence("catalog", "/v1/models", 200, {}, {"data": [{"id": "m", "owned_by": "baseten"}]})
    result = identify(REGISTRY, KeyShape(("baseten:new",)), [catalog], base_url)
    assert result.provider == "baseten"
    assert result.confidence == REGISTRY.scoring.max_confidence_one_source == 0.5


def _review(conflicts: tuple[str, ...], claimed: str | None, matches: bool | None) -> str:
    from testkey_nb.check.decide import decide
    from testkey_nb.check.profile import ProviderView, build_profile
    from testkey_nb.identify.score import Identification

    ident = Identification(provider="groq", confidence=0.9, claimed=claimed, matches_claim=matches, evidence=(),
                           conflicts=conflicts)  # fmt: skip
    profile = build_profile(label="k", identification=ident, observations=[], requests_sent=0,
                            provider=ProviderView())  # fmt: skip
    actions = decide(profile).actions
    return " | ".join(a.reason for a in actions if a.action == "send to human review")


def test_review_names_a_conflict_only_for_another_providers_markers() -> None:
    """decide.py: a contradicted claim is its own reason, not "conflicting evidence"; a rival's markers are."""
    claim = _review(("claimed baseten, evidence says groq",), "baseten", False)
    assert claim.count("evidence says groq") == 1 and "endpoint claims baseten, evidence says groq" in claim
    assert "conflicting evidence" not in claim
    rival = "headers say openai; headers and models body say groq"
    assert f"conflicting evidence: {rival}" in _review((rival,), "groq", True)
    assert "conflict" not in _review((), "groq", True)
