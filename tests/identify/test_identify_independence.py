"""Evidence weights (scoring.toml, "Independence"): no single body field or header that a proxy can rewrite
reaches the confidence `ready` needs (0.6), for any provider; two independent sources can."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testkey_nb.check.decide import MIN_CONFIDENCE
from testkey_nb.identify.evidence import HttpEvidence, KeyShape
from testkey_nb.identify.loader import load_registry
from testkey_nb.identify.schema import Condition
from testkey_nb.identify.score import identify

REGISTRY = load_registry()
LOOPBACK = "http://127.0.0.1:8931/v1"
MODELS_FPS = REGISTRY.fingerprints("models_body")
HEADER_FPS = [fp for fp in REGISTRY.fingerprints("header") if fp.header is not None]


def _value_for(cond: Condition) -> st.SearchStrategy[Any]:
    """Values that satisfy ``cond`` (so the one field really matches a provider's fingerprint), or others."""
    if cond.op == "equals":
        return st.just(cond.value)
    if cond.op == "one_of":
        return st.sampled_from(list(cond.value))
    if cond.op == "regex" and cond.pattern is not None:
        return st.from_regex(cond.pattern, fullmatch=False).map(lambda s: s[:200])
    if cond.op == "type":
        return {
            "string": st.text(max_size=20), "array": st.lists(st.text(max_size=8), max_size=3),
            "integer": st.integers(0, 10**6), "number": st.floats(0, 1e6, allow_nan=False),
            "object": st.just({"prompt": "0.1"}), "bool": st.booleans(), "null": st.none(),
        }.get(cond.value, st.none())  # fmt: skip
    return st.text(max_size=20)


def _nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(path):
        out = {part: out}
    return out


@st.composite
def one_field_catalog(draw: st.DrawFn) -> Any:
    """A /models body whose items each carry ONE field, taken from a provider's fingerprint."""
    fp = draw(st.sampled_from(MODELS_FPS))
    conds = [c for c in fp.item if c.op != "absent"] or [Condition(("owned_by",), "equals", "baseten")]
    cond = draw(st.sampled_from(conds))
    value = draw(_value_for(cond))
    items = [_nest(cond.path, value) for _ in range(draw(st.integers(1, 4)))]
    shape = draw(st.sampled_from(["data", "object-list", "bare"]))
    if shape == "bare":
        return items
    return {"data": items} if shape == "data" else {"object": "list", "data": items}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(one_field_catalog())
def test_no_single_field_catalog_reaches_ready_confidence(body: Any) -> None:
    catalog = HttpEvidence("catalog", "/v1/models", 200, {"content-type": "application/json"}, body)
    result = identify(REGISTRY, KeyShape(), [catalog], base_url=LOOPBACK)
    assert result.confidence < MIN_CONFIDENCE, (body, result)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_no_single_header_reaches_ready_confidence(data: st.DataObject) -> None:
    fp = data.draw(st.sampled_from(HEADER_FPS))
    value = data.draw(st.from_regex(fp.value, fullmatch=False) if fp.value is not None else st.just("x"))
    headers = {str(fp.header): value[:500], "content-type": "application/json"}
    catalog = HttpEvidence("catalog", "/v1/models", 200, headers, {"data": []})
    result = identify(REGISTRY, KeyShape(), [catalog], base_url=LOOPBACK)
    assert result.confidence < MIN_CONFIDENCE, (headers, result)


def test_owned_by_baseten_alone_is_not_enough_for_ready() -> None:
    """The issue's case: a catalog saying only owned_by "baseten" was identified with 0.71."""
    body = {"data": [{"id": "m", "owned_by": "baseten"}]}
    result = identify(REGISTRY, KeyShape(), [HttpEvidence("catalog", "/v1/models", 200, {}, body)], LOOPBACK)
    assert result.provider == "baseten" and result.confidence == 0.5


def test_two_independent_sources_are_confident() -> None:
    """The same field plus Baseten's recorded 403 body (an error body: another source) passes 0.6."""
    body = {"data": [{"id": "m", "owned_by": "baseten"}]}
    refused = {"error": "please check the api-key you provided"}
    exchanges = [
        HttpEvidence("catalog", "/v1/models", 200, {}, body),
        HttpEvidence("auth_pilot", "/v1/chat/completions", 403, {}, refused),
    ]
    result = identify(REGISTRY, KeyShape(), exchanges, LOOPBACK)
    assert result.provider == "baseten" and result.confidence >= MIN_CONFIDENCE
