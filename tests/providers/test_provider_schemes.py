"""Issue 19's probe items, read from the documented answers (tests/providers/<id>/answers.yaml):

- #14 a second auth scheme per host, carried as data (a probe's own ``auth`` and ``params`` in
  providers/<id>/probes.toml, a base's scheme in provider.toml ``[[auth.bases]]``): Gemini's native ``x-goog-api-key``
  beside its compatible base's Bearer, Azure's classic ``?api-version=`` beside its v1 base;
- #15 a read-only POST allow-listed by the provider's own data (Cohere's check-api-key);
- #20 DeepInfra's balance with the API key;
- #13 a claim on the provider's own documented host names it; a shared refusal with no claim names nobody.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

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
    # the native list ({models: [{name}]}, [[catalog.bases]]): its models, with their token limits
    rows = {m["model"]: m for m in data["models"]}
    assert list(rows) == ["models/gemini-2.5-flash", "models/gemini-2.5-pro"]
    assert rows["models/gemini-2.5-flash"]["context_length"] == 1048576
    bad, _ = run("gemini", "bad-key", base_url=NATIVE)
    assert (bad.to_json()["status"], bad.to_json()["metrics"]["key_valid"]) == ("invalid", False)
    refused = next(o for o in bad.observations if o.probe == "catalog")
    assert (refused.status, refused.json_body["error"]["details"][0]["reason"]) == (400, "API_KEY_INVALID")


def test_gemini_schemes_per_base_are_data() -> None:
    auth = load_registry().get("gemini").auth
    assert [t.label for t in auth.templates("https://generativelanguage.googleapis.com/v1beta/openai")] == [
        "Authorization: Bearer"]  # fmt: skip
    assert [t.label for t in auth.templates(NATIVE)] == ["x-goog-api-key"]
    assert [t.label for t in auth.templates("https://generativelanguage.googleapis.com/v1alpha")] == ["x-goog-api-key"]
    # a plain /v1 base is every OpenAI-compatible gateway's: a Gemini claim there starts in Bearer
    assert [t.label for t in auth.templates("https://llm-gateway.example.com/v1")] == ["Authorization: Bearer"]
    assert [t.label for t in auth.templates()] == ["Authorization: Bearer"]
    catalog = load_registry().get("gemini").catalog
    assert (catalog.for_base(NATIVE).items, catalog.for_base(NATIVE).id) == ("models", "name")
    assert catalog.for_base(NATIVE + "/openai").items == "data"


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


# -- issue 19 #15: a read-only POST allow-listed by the provider's own data ---------------------------------------
def test_cohere_check_api_key_is_allow_listed_by_its_provider_data() -> None:
    from testkey_nb.probe.guard import ReadOnlyPost

    spec = {s.name: s for s in load_plan("cohere/probes.toml")}["check_api_key"]
    assert (spec.method, spec.cost, spec.path, spec.body) == ("POST", "read", "/check-api-key", None)
    assert spec.read_only is not None and spec.read_only.path == "/v1/check-api-key"
    assert spec.read_only.source.startswith("https://docs.cohere.com/reference/check-api-key")
    # the permit matches the path's end segment-aligned and the exact body, nothing else
    permit = ReadOnlyPost("/v1/check-api-key")
    assert permit.permits(spec)
    assert not permit.permits(replace(spec, path="/api-key"))
    assert not permit.permits(replace(spec, body={"model": "x"}))


def test_a_post_read_without_its_providers_allow_list_never_leaves(tmp_path: Path) -> None:
    from testkey_nb.probe.guard import LoadedPlan, WriteRefused, check_allowed

    folder = tmp_path / "acme"
    folder.mkdir()
    (folder / "provider.toml").write_text('id = "acme"\n', encoding="utf-8")
    (folder / "probes.toml").write_text(
        '[[probe]]\nname = "check"\nrole = "inference"\nmethod = "POST"\npath = "/check-api-key"\ncost = "read"\n'
        'proves = "x"\n', encoding="utf-8")  # fmt: skip
    with pytest.raises(WriteRefused, match="read-only POST"):
        load_plan(folder / "probes.toml")
    # allow-listed with no body: a body the provider did not document is refused at load too
    (folder / "provider.toml").write_text(
        'id = "acme"\n[[read_only_posts]]\npath = "/v1/check-api-key"\nsource = "https://example.test/doc"\n',
        encoding="utf-8")  # fmt: skip
    assert load_plan(folder / "probes.toml")[0].read_only is not None
    (folder / "probes.toml").write_text(
        '[[probe]]\nname = "check"\nrole = "inference"\nmethod = "POST"\npath = "/check-api-key"\ncost = "read"\n'
        'proves = "x"\nbody = { delete = true }\n', encoding="utf-8")  # fmt: skip
    with pytest.raises(WriteRefused):
        load_plan(folder / "probes.toml")
    # a spec built without the provider's permit is refused by both lines of defence
    forged = ProbeSpec("check", "inference", "POST", "/check-api-key", "read", "x")
    with pytest.raises(WriteRefused):
        check_allowed(forged, allow_billable=True)
    loaded = LoadedPlan(Targets("https://api.acme.test/v1"), allow_billable=False)
    loaded.add([forged])
    with pytest.raises(WriteRefused):
        loaded.check("POST", "https://api.acme.test/v1/check-api-key", "read", "check")


def test_cohere_check_api_key_feeds_identity_and_is_sent_without_a_body() -> None:
    sent: list[httpx.Request] = []
    doc_check, doc = run("cohere", "valid")
    data = doc_check.to_json()
    assert data["identity"]["organization"] == "3f0c7a52-9d1e-4b8a-a6c2-5e7f1d2b9c40"
    assert data["identity"]["exchanges"] == [p["exchange"] for p in data["probes"] if p["probe"] == "check_api_key"]
    assert ("POST", "/v1/check-api-key", "key", "valid") in doc.log

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(503, json={"message": "down"})

    asyncio.run(_check("cohere", handler))
    posts = [r for r in sent if r.url.path == "/v1/check-api-key"]
    # a read: retried on 503 like any GET (1 + 2 bounded retries), never with a body
    assert len(posts) == 3 and all(r.content == b"" for r in posts)


def test_cohere_valid_false_reads_invalid() -> None:
    """check-api-key's 200 ``valid: false`` is Cohere refusing the key (a status rule): never proof of it, even
    when nothing else answered (the catalog and the chat down)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/check-api-key":
            return httpx.Response(200, json={"valid": False})
        return httpx.Response(503, json={"message": "down"})

    check = asyncio.run(_check("cohere", handler))
    data = check.to_json()
    assert (data["status"], data["metrics"]["key_valid"]) == ("invalid", False), data["status_detail"]
    assert data["identity"]["organization"] is None


async def _check(provider: str, handler: object) -> object:
    from testkey_nb.check.result import CheckOptions
    from testkey_nb.check.run import check_key_async

    options = CheckOptions(claim=provider, timeout_s=3.0, deadline_s=5.0)
    return await check_key_async(Secret(f"tk-{provider}-valid-0123456789abcdef"), options,
                                 transport=httpx.MockTransport(handler))  # type: ignore[arg-type]  # fmt: skip


# -- issue 19 #20: DeepInfra's balance with the API key -------------------------------------------------------------
def test_deepinfra_balance_is_read_from_payment_checklist_with_the_api_key() -> None:
    check, doc = run("deepinfra", "valid")
    assert ("GET", "/payment/checklist", "compute_owed=true") in doc.queries
    assert ("GET", "/payment/checklist", "key", "valid") in doc.log
    bal = check.profile.balance
    assert bal is not None and (bal.currency, bal.remaining, bal.used, bal.limit, bal.provenance, bal.probe) == (
        "USD", 12.5, 1.75, 100.0, "observed", "balance")  # fmt: skip
    assert "third-party client" in bal.note
    sent = next(o for o in check.observations if o.probe == "balance")
    assert sent.assumption is not None and "third-party client" in sent.assumption


def test_deepinfra_key_without_billing_access_is_valid_and_its_balance_denied() -> None:
    from documented import Documented, key_for

    from testkey_nb.check.result import CheckOptions
    from testkey_nb.check.run import check_key_async

    doc = Documented.load("deepinfra")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/payment/checklist":  # 403 = the key lacks billing access
            return httpx.Response(403, json={"detail": "Forbidden"})
        return doc.handler(request)

    options = CheckOptions(claim="deepinfra", timeout_s=3.0, deadline_s=5.0)
    check = asyncio.run(check_key_async(Secret(key_for("deepinfra", "valid")), options,
                                        transport=httpx.MockTransport(handler)))  # fmt: skip
    balance = next(c for c in check.profile.capabilities if c.name == "balance")
    assert (check.profile.status.code, check.profile.balance, balance.status) == ("valid", None, "denied")


# -- issue 19 #13 (the coordinator's decision): a claim on the provider's own documented host names it; a shared
# refusal body with no claim names no provider ------------------------------------------------------------------
SHARED_REFUSALS = [("deepinfra", "https://api.deepinfra.com/v1/openai"), ("mistral", "https://api.mistral.ai/v1")]


@pytest.mark.parametrize(("provider", "own_host"), SHARED_REFUSALS)
def test_a_claim_on_its_own_documented_host_names_the_provider_of_a_shared_refusal(provider: str,
                                                                                   own_host: str) -> None:  # fmt: skip
    check, doc = run(provider, "bad-key")
    assert {urlsplit(own_host).hostname} == doc.hosts
    assert (check.identification.provider, check.profile.status.code) == (provider, "invalid")
    # nothing specific in the answers: the provider is named by the claim and its host alone
    assert not [e for e in check.identification.evidence if e.specific and e.weight > 0]


@pytest.mark.parametrize(("provider", "own_host"), SHARED_REFUSALS)
@pytest.mark.parametrize("where", ["own host", "gateway"])
def test_a_shared_refusal_with_no_claim_names_no_provider(provider: str, own_host: str, where: str) -> None:
    base = own_host if where == "own host" else "https://llm-gateway.example.com" + urlsplit(own_host).path
    check, _ = run(provider, "bad-key", claim=None, base_url=base)
    assert check.identification.provider == "unknown"
    assert check.profile.status.code != "invalid"  # no provider named: the refusal is not judged against the key
