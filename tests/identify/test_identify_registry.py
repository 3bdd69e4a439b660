"""The provider registry: data folders, loader, key patterns, capabilities, Baseten permissions."""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path

import pytest
from identify_evidence_fixtures import LOOPBACK, SAMPLE_KEYS, ev

from testkey_nb.identify.evidence import KeyShape
from testkey_nb.identify.loader import RegistryError, load_registry
from testkey_nb.identify.schema import CAPABILITIES, KeyLabel, KeyPattern, ProviderSpec, Registry
from testkey_nb.identify.score import PROVIDER_IDS, identify, key_pattern_matches

PACKAGE_DIR = Path(str(resources.files("testkey_nb.providers")))


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


def test_registry_holds_exactly_the_contract_ids(registry: Registry) -> None:
    assert set(registry.ids()) == set(PROVIDER_IDS)
    assert len(registry.ids()) == len(PROVIDER_IDS)
    assert isinstance(registry.get("baseten"), ProviderSpec)
    with pytest.raises(KeyError):
        registry.get("nope")


def test_every_provider_is_a_folder_of_package_data() -> None:
    root = resources.files("testkey_nb.providers")
    for pid in PROVIDER_IDS:
        assert root.joinpath(pid, "provider.toml").is_file(), pid
    assert root.joinpath("baseten", "permissions.toml").is_file()
    assert root.joinpath("scoring.toml").is_file()


def test_every_provider_declares_all_ten_capabilities(registry: Registry) -> None:
    assert len(CAPABILITIES) == 10
    for spec in registry.providers:
        assert tuple(c.capability for c in spec.capabilities) == CAPABILITIES, spec.id
        assert all(c.status in ("supported", "partial", "unsupported", "unknown") for c in spec.capabilities)
    baseten = registry.get("baseten")
    assert baseten.capability("usage_and_billing").status == "supported"
    assert baseten.capability("balance").status == "partial"


def test_baseten_identity_auth_and_rate_limit_tiers(registry: Registry) -> None:
    b = registry.get("baseten")
    assert b.inference_base_url == "https://inference.baseten.co/v1"
    assert b.management_base_url == "https://api.baseten.co/v1"
    assert b.auth.header == "Authorization"
    assert set(b.auth.schemes) == {"Bearer", "Api-Key"}
    assert b.rate_limits is not None
    assert b.rate_limits.source.startswith("https://docs.baseten.co/")
    assert b.rate_limits.as_of
    tiers = {t.name: (t.rpm, t.tpm) for t in b.rate_limits.tiers}
    assert tiers == {
        "Basic (unverified)": (15, 100_000),
        "Basic (verified)": (120, 500_000),
        "Pro": (120, 1_000_000),
        "Enterprise": (None, None),
    }


def test_baseten_permissions(registry: Registry) -> None:
    perms = registry.get("baseten").permissions
    assert perms is not None
    assert {kt.key_type: kt.role for kt in perms.key_types} == {
        "PERSONAL": "personal",
        "WORKSPACE_MANAGE_ALL": "full-access",
        "WORKSPACE_EXPORT_METRICS": "metrics-only",
        "WORKSPACE_INVOKE": "inference-only",
    }
    invoke = perms.for_type("WORKSPACE_INVOKE")
    assert invoke is not None
    assert invoke.inference and not invoke.read_management and not invoke.write_management
    assert not invoke.read_billing and invoke.model_scoped
    metrics = perms.for_type("WORKSPACE_EXPORT_METRICS")
    assert metrics is not None and metrics.export_metrics and not metrics.inference
    full = perms.for_type("WORKSPACE_MANAGE_ALL")
    assert full is not None and full.inference and full.write_management and full.read_billing
    assert all(kt.source for kt in perms.key_types) and perms.sources
    assert perms.role_for("NOPE") is None


@pytest.mark.parametrize("pattern_id", sorted(SAMPLE_KEYS))
def test_sample_keys_match_their_pattern(registry: Registry, pattern_id: str) -> None:
    shape = key_pattern_matches(registry, SAMPLE_KEYS[pattern_id])
    assert pattern_id in shape.matches


def test_key_shape_holds_no_secret(registry: Registry) -> None:
    key = SAMPLE_KEYS["baseten:new"]
    shape = key_pattern_matches(registry, key)
    assert shape == KeyShape(matches=("baseten:new",))
    assert key not in repr(shape) and key[4:12] not in repr(shape)
    assert tuple(KeyShape.__dataclass_fields__) == ("matches",)
    # a Baseten new-format key is not mistaken for anything else; an OpenAI project key neither
    assert key_pattern_matches(registry, SAMPLE_KEYS["openai:project"]).matches == ("openai:project",)
    assert "openai:generic" not in key_pattern_matches(registry, SAMPLE_KEYS["openrouter:v1"]).matches
    assert "openai:generic" not in key_pattern_matches(registry, SAMPLE_KEYS["anthropic:api"]).matches
    # issue 19: an OpenAI admin key is an admin key (not a project key); a Gemini key is nothing else; a Z.ai key
    # (32 hex, a dot, 16 alphanumerics) is not Baseten's old 8.32 shape
    assert key_pattern_matches(registry, SAMPLE_KEYS["openai:admin"]).matches == ("openai:admin",)
    assert key_pattern_matches(registry, SAMPLE_KEYS["gemini:aiza"]).matches == ("gemini:aiza",)
    assert key_pattern_matches(registry, SAMPLE_KEYS["zhipu:hex32-dot-16"]).matches == ("zhipu:hex32-dot-16",)
    assert "openai:generic" not in key_pattern_matches(registry, SAMPLE_KEYS["novita:sk-underscore"]).matches
    assert key_pattern_matches(registry, "not a key").matches == ()


def test_match_key_shape_returns_patterns(registry: Registry) -> None:
    pats = registry.match_key_shape(KeyShape(matches=("baseten:new", "no:such")))
    assert [p.id for p in pats] == ["baseten:new"]
    assert isinstance(pats[0], KeyPattern) and pats[0].confidence == "strong"
    assert [p.id for p in registry.match_key_shape(["groq:gsk"])] == ["groq:gsk"]


def test_weakly_sourced_patterns_are_marked(registry: Registry) -> None:
    weak = {kp.id for kp in registry.key_patterns() if kp.confidence == "weak"}
    for pid in ("baseten:old", "mistral:alnum32", "deepinfra:alnum32", "together:hex64", "openai:generic"):
        assert pid in weak
    assert "baseten:new" not in weak


def test_fingerprints_are_well_formed(registry: Registry) -> None:
    for fp in registry.fingerprints():
        assert fp.description and fp.strength in ("strong", "medium", "cosmetic")
        if fp.specific:
            assert fp.weight > 0, fp.id
    assert registry.get("openai").requires_specific
    assert not registry.get("unknown").fingerprints and not registry.get("unknown").key_patterns


def _copy_providers(tmp_path: Path) -> Path:
    dst = tmp_path / "providers"
    shutil.copytree(PACKAGE_DIR, dst, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dst


ACME = """
id = "acme"
display_name = "Acme Inference"
inference_base_url = "https://api.acme.test/v1"
[identification]
hostnames = ["acme.test"]
[[key_patterns]]
name = "ak"
regex = '^ak_[a-z0-9]{16}$'
weight = 3.0
[[fingerprints.headers]]
id = "x-acme-trace"
header = "x-acme-trace"
weight = 3.0
strength = "strong"
specific = true
[capabilities]
""" + "\n".join(f'{c} = {{ status = "unknown" }}' for c in CAPABILITIES)


def test_adding_a_provider_is_adding_a_folder(tmp_path: Path) -> None:
    root = _copy_providers(tmp_path)
    (root / "acme").mkdir()
    (root / "acme" / "provider.toml").write_text(ACME, encoding="utf-8")
    reg = load_registry(root)
    assert "acme" in reg.ids()
    shape = key_pattern_matches(reg, "ak_0123456789abcdef")
    assert shape.matches == ("acme:ak",)
    result = identify(
        reg, shape, [ev("catalog", "/v1/models", 200, {"x-acme-trace": "1"}, {"data": []})], LOOPBACK
    )
    assert result.provider == "acme"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.replace('id = "acme"', 'id = "other"'), "folder name"),
        (lambda t: t.replace("'^ak_[a-z0-9]{16}$'", "'^ak_[a-z'"), "bad regex"),
        (lambda t: t.replace('routing = { status = "unknown" }', ""), "routing"),
        (lambda t: t.replace('strength = "strong"', 'strength = "mighty"'), "strength"),
        (lambda t: t.replace("weight = 3.0\nstrength", "strength"), "weight"),
        (lambda t: t + "\n[[oops", "acme"),
    ],
)
def test_malformed_provider_data_is_rejected(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    root = _copy_providers(tmp_path)
    (root / "acme").mkdir()
    (root / "acme" / "provider.toml").write_text(mutate(ACME), encoding="utf-8")
    with pytest.raises(RegistryError, match=re.escape(message)):
        load_registry(root)


def test_scoring_rules_are_data(registry: Registry) -> None:
    s = registry.scoring
    assert 0 < s.max_confidence_without_behaviour < 0.5
    assert s.base_url_weight < s.min_score


def test_pattern_lookup(registry: Registry) -> None:
    assert registry.pattern_confidence("baseten:new") == "strong"
    assert registry.pattern_confidence("baseten:old") == "weak"
    assert registry.pattern_confidence("nope:x") is None
    kp = registry.pattern("groq:gsk")
    assert kp is not None and kp.provider == "groq"


def test_key_label_and_public_part_are_provider_data(tmp_path: Path) -> None:
    """A new provider's folder names its keys' labels and their public part; nothing in code changes."""
    root = _copy_providers(tmp_path)
    (root / "acme").mkdir()
    acme = ACME.replace("'^ak_[a-z0-9]{16}$'", "'^(?P<prefix>ak_[a-z0-9]{4})[a-z0-9]{12}$'").replace(
        "[[key_patterns]]", '[key_label]\nprefixes = ["ak_"]\npatterns = ["ak"]\n[[key_patterns]]', 1
    )
    (root / "acme" / "provider.toml").write_text(acme, encoding="utf-8")
    reg = load_registry(root)
    assert reg.get("acme").key_label == KeyLabel(prefixes=("ak_",), patterns=("ak",))
    assert reg.label_provider("ak_whatever") == "acme"
    assert reg.label_provider("b10_x") == "baseten"
    assert reg.label_provider("AbCd1234." + "k" * 32) == "baseten"  # baseten's "old" pattern names labels
    assert reg.label_provider("sk-unknown") is None
    found = reg.public_part("ak_0123456789abcdef")
    assert found is not None and (found[0].id, found[1]) == ("acme:ak", "ak_0123")
    assert reg.public_part("ak_0123") is None
    bad = acme.replace('patterns = ["ak"]', 'patterns = ["nope"]')
    (root / "acme" / "provider.toml").write_text(bad, encoding="utf-8")
    with pytest.raises(RegistryError, match=re.escape("[key_label] names unknown key patterns ['nope']")):
        load_registry(root)
