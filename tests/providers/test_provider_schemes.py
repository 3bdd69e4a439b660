"""Issue 19 #14: a second auth scheme per host, carried as data (a probe's own ``auth`` and ``params`` in
providers/<id>/probes.toml, a base's scheme in provider.toml ``[[auth.bases]]``), read from the documented answers
(tests/providers/<id>/answers.yaml): Gemini's native ``x-goog-api-key`` beside its compatible base's Bearer, Azure's
classic ``?api-version=`` beside its v1 base."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from test_provider_plans import run

from testkey_nb.check.evidence import uncited_figures
from testkey_nb.identify.loader import load_registry
from testkey_nb.probe.engine import ProbeEngine
from testkey_nb.probe.plan import ProbeAuth, ProbeSpec, Targets, load_plan
from testkey_nb.secrets import Secret

NATIVE = "https://generativelanguage.googleapis.com/v1beta"


def _probe(check: object, name: str) -> list[dict[str, object]]:
    return [p for p in check.to_json()["probes"] if p["probe"] == name]  # type: ignore[attr-defined]


def test_gemini_key_is_read_natively_beside_the_compatible_base() -> None:
    check, doc = run("gemini", "valid")
    data = check.to_json()
    assert (data["provider"]["id"], data["status"], data["metrics"]["key_valid"]) == ("gemini", "valid", True)
    assert [m["model"] for m in data["models"]] == ["models/gemini-2.5-flash", "models/gemini-2.5-pro"]
    native = _probe(check, "native_models")
    assert [(p["status"], p["outcome"], p["auth"]) for p in native] == [(200, "ok", "x-goog-api-key")]
    # the host saw the key in its own scheme on each base: Bearer on /v1beta/openai, x-goog-api-key natively
    assert ("GET", "/v1beta/models", "key", "valid") in doc.log
    assert all(auth == "key" for _, _, auth, _ in doc.log)
    assert ("GET", "/v1beta/models", "pageSize=1000") in doc.queries
    # one exchange numbering for the check: every exchange id is distinct and every figure cites one
    ids = [p["exchange"] for p in data["probes"] if p["exchange"] and p["status"] is not None]
    assert len(ids) == len(set(ids))
    assert uncited_figures(check) == []


def test_gemini_bad_key_reads_invalid_with_api_key_invalid() -> None:
    check, _ = run("gemini", "bad-key")
    data = check.to_json()
    assert (data["status"], data["metrics"]["key_valid"]) == ("invalid", False)
    native = next(o for o in check.observations if o.probe == "native_models")
    assert (native.status, native.auth, native.outcome) == (400, "x-goog-api-key", "unauthorized")
    assert native.json_body["error"]["details"][0]["reason"] == "API_KEY_INVALID"


def test_a_native_gemini_base_takes_the_key_in_x_goog_api_key() -> None:
    """On the native base a Bearer value is an OAuth token and refused (401 UNAUTHENTICATED): the base's own scheme
    ([[auth.bases]]) goes first, so a good key is never judged in the wrong one."""
    check, doc = run("gemini", "valid", base_url=NATIVE)
    data = check.to_json()
    assert (data["provider"]["id"], data["status"], data["metrics"]["key_valid"]) == ("gemini", "valid", True)
    assert {o.auth for o in check.observations if o.status is not None} == {"x-goog-api-key"}
    assert ("GET", "/v1beta/models", "key", "valid") in doc.log
    assert not any(auth == "wrong-scheme" for _, path, auth, _ in doc.log if path.startswith("/v1beta/models"))
    bad, _ = run("gemini", "bad-key", base_url=NATIVE)
    assert (bad.to_json()["status"], bad.to_json()["metrics"]["key_valid"]) == ("invalid", False)
    refused = next(o for o in bad.observations if o.probe == "catalog")
    assert (refused.status, refused.json_body["error"]["details"][0]["reason"]) == (400, "API_KEY_INVALID")


def test_gemini_schemes_per_base_are_data() -> None:
    auth = load_registry().get("gemini").auth
    assert [t.label for t in auth.templates("https://generativelanguage.googleapis.com/v1beta/openai")] == [
        "Authorization: Bearer"]  # fmt: skip
    assert [t.label for t in auth.templates(NATIVE)] == ["x-goog-api-key"]
    assert [t.label for t in auth.templates("https://generativelanguage.googleapis.com/v1")] == ["x-goog-api-key"]
    assert [t.label for t in auth.templates()] == ["Authorization: Bearer"]


def test_azure_classic_path_carries_api_version_and_the_v1_base_none() -> None:
    check, doc = run("azure", "valid")
    lifecycle = _probe(check, "models_lifecycle")
    assert [(p["status"], p["auth"]) for p in lifecycle] == [(200, "api-key")]
    assert ("GET", "/openai/models", "api-version=2024-10-21") in doc.queries
    v1 = [(m, path, q) for m, path, q in doc.queries if path.startswith("/openai/v1/")]
    assert v1 and all(q == "" for _, _, q in v1)
    # the classic path sits beside the v1 base the user named, not under it
    assert not any(path.startswith("/openai/openai") for _, path, _ in doc.queries)


def test_a_probe_with_its_own_scheme_sends_only_that_header() -> None:
    seen: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, json={"models": []})

    spec = ProbeSpec("native", "inference", "GET", "/models", "read", "test",
                     auth=ProbeAuth("x-goog-api-key"))  # fmt: skip
    plain = ProbeSpec("compat", "inference", "GET", "/openai/models", "read", "test")
    engine = ProbeEngine(Secret("tk-scheme-test-0123456789"), Targets("https://h.test/v1beta"),
                         transport=httpx.MockTransport(handler))  # fmt: skip
    obs = asyncio.run(engine.run([spec, plain]))
    by_path = {h.get("x-goog-api-key") is not None: h for h in seen}
    assert by_path[True].get("authorization") is None and by_path[True]["x-goog-api-key"] == "tk-scheme-test-0123456789"
    assert by_path[False]["authorization"] == "Bearer tk-scheme-test-0123456789"
    assert {o.probe: o.auth for o in obs} == {"native": "x-goog-api-key", "compat": "Authorization: Bearer"}
    assert (ProbeAuth("Authorization", "Bearer").label, ProbeAuth("api-key").headers()) == (
        "Authorization: Bearer", {"api-key": "{key}"})  # fmt: skip


def test_probe_auth_and_base_path_load_from_the_plan() -> None:
    gemini = {s.name: s for s in load_plan("gemini/probes.toml")}
    assert gemini["native_models"].auth == ProbeAuth("x-goog-api-key", "raw")
    azure = {s.name: s for s in load_plan("azure/probes.toml")}
    assert (azure["models_lifecycle"].base_path, azure["models_lifecycle"].auth) == ("/openai/v1", None)
