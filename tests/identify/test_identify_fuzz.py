"""identify never raises, whatever the endpoint sends back."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testkey_nb.identify.evidence import HttpEvidence, KeyShape
from testkey_nb.identify.loader import load_registry
from testkey_nb.identify.score import PROVIDER_IDS, identify, key_pattern_matches

REGISTRY = load_registry()
PATTERN_IDS = [kp.id for kp in REGISTRY.key_patterns()]

any_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=60) | st.sampled_from(
    ["please check the api-key you provided", "owned_by", "baseten", "\x00\x1b[31m\r\n", "<html>"]
)
names = (
    st.sampled_from(
        [
            "owned_by",
            "data",
            "object",
            "error",
            "message",
            "type",
            "code",
            "detail",
            "pricing",
            "id",
            "has_more",
        ]
    )
    | any_text
)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | any_text
json_like = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(names, kids, max_size=5),
    max_leaves=30,
)
header_names = (
    st.sampled_from(
        ["server", "x-baseten-request-id", "openai-version", "content-type", "www-authenticate", "via"]
    )
    | any_text
)
exchanges = st.builds(
    HttpEvidence,
    probe=st.sampled_from(["catalog", "auth_check", "whoami"]) | any_text,
    url_path=st.sampled_from(["/v1/models", "/v1/chat/completions", ""]) | any_text,
    status=st.none() | st.integers(min_value=-1, max_value=999),
    headers=st.dictionaries(header_names, any_text, max_size=6),
    json_body=st.none() | json_like,
    text_snippet=st.none() | any_text,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ex=st.lists(exchanges, max_size=4),
    matches=st.lists(st.sampled_from(PATTERN_IDS) | any_text, max_size=3),
    base_url=st.none() | any_text | st.sampled_from(["http://[::1", "https://inference.baseten.co/v1"]),
    claimed=st.none() | any_text,
)
def test_identify_never_raises(
    ex: list[HttpEvidence], matches: list[str], base_url: str | None, claimed: str | None
) -> None:
    result = identify(REGISTRY, KeyShape(tuple(matches)), ex, base_url=base_url, claimed=claimed)
    assert result.provider in PROVIDER_IDS
    assert 0.0 <= result.confidence <= 1.0
    assert (result.matches_claim is None) == (result.claimed is None)
    if result.provider == "unknown":
        assert result.confidence == 0.0


@settings(max_examples=200, deadline=None)
@given(key=st.text(max_size=200))
def test_key_pattern_matches_never_raises(key: str) -> None:
    shape = key_pattern_matches(REGISTRY, key)
    assert set(shape.matches) <= set(PATTERN_IDS)
