"""One case per provider (Baseten from the real recordings, the rest from the facts-file table), each
identified from behaviour alone (bare loopback base URL, no key shape), compared with goldens.

Regenerate the goldens with `UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/identify`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from identify_evidence_fixtures import (
    LOOPBACK,
    PROVIDER_CASES,
    RECORDINGS,
    baseten_exchanges,
    exchanges_from_recording,
)

from testkey_nb.identify.registry import Registry, load_registry
from testkey_nb.identify.score import PROVIDER_IDS, HttpEvidence, Identification, KeyShape, identify

GOLDEN = Path(__file__).resolve().parent / "golden"
SHARED_RECORDINGS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "recordings" / "baseten"
KEY_EVIDENCE_MIN_WEIGHT = 1.0


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


def _cases() -> dict[str, list[HttpEvidence]]:
    cases = {"baseten": baseten_exchanges()}
    cases.update({pid: make() for pid, make in PROVIDER_CASES.items()})
    return cases


def _golden_view(result: Identification) -> dict[str, object]:
    key_evidence = [
        {"source": e.source, "probe": e.probe, "detail": e.detail, "weight": e.weight}
        for e in result.evidence
        if e.provider == result.provider and e.weight >= KEY_EVIDENCE_MIN_WEIGHT
    ]
    return {
        "provider": result.provider,
        "confidence": round(result.confidence, 2),
        "key_evidence": key_evidence,
        "conflicts": list(result.conflicts),
    }


def test_every_real_provider_has_a_case() -> None:
    assert set(_cases()) == set(PROVIDER_IDS) - {"unknown"}


@pytest.mark.parametrize("provider", sorted(set(PROVIDER_IDS) - {"unknown"}))
def test_provider_identified_from_behaviour(registry: Registry, provider: str) -> None:
    exchanges = _cases()[provider]
    result = identify(registry, KeyShape(), exchanges, base_url=LOOPBACK)
    assert result.provider == provider
    assert result.confidence >= 0.5
    assert result.conflicts == ()
    assert not [e for e in result.evidence if e.source == "base_url"]  # loopback says nothing
    view = _golden_view(result)
    path = GOLDEN / f"{provider}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(view, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert view["provider"] == expected["provider"]
    assert view["key_evidence"] == expected["key_evidence"]
    assert view["conflicts"] == expected["conflicts"]
    assert abs(float(view["confidence"]) - float(expected["confidence"])) <= 0.011  # type: ignore[arg-type]


def test_each_baseten_recording_alone_points_to_baseten(registry: Registry) -> None:
    for name in sorted(p.name for p in RECORDINGS.glob("*.yaml")):
        result = identify(
            registry, KeyShape(), exchanges_from_recording(RECORDINGS / name), base_url=LOOPBACK
        )
        assert result.provider == "baseten", name
        assert result.confidence >= 0.6, name


def test_baseten_key_and_behaviour_together_are_near_certain(registry: Registry) -> None:
    result = identify(
        registry, KeyShape(("baseten:new",)), baseten_exchanges(), "https://inference.baseten.co/v1"
    )
    assert result.provider == "baseten" and result.confidence >= 0.95
    sources = {e.source for e in result.evidence if e.provider == "baseten"}
    assert sources == {"key_shape", "header", "models_body", "error_body", "base_url"}


@pytest.mark.skipif(not SHARED_RECORDINGS.is_dir(), reason="shared/ reference folder not beside the repo")
def test_vendored_recordings_equal_the_shared_reference() -> None:
    for path in SHARED_RECORDINGS.glob("*.yaml"):
        assert (RECORDINGS / path.name).read_bytes() == path.read_bytes(), path.name
