"""The emulator plays each provider as its documented answers say (tests/providers/<id>/answers.yaml).

One emulator per provider (module-scoped, started on first use). Per answer: the request goes to the
emulator with the mode's key in the scheme the answer names; status, headers and body must equal the
documented ones (values that vary per request are checked against the answer's regex patterns).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from testkey_nb.emulator import EmulatorConfig, RunningEmulator, run_emulator
from testkey_nb.emulator.providers import PROVIDER_IDS, load_host
from testkey_nb.emulator.providers.host import ACCEPTED_MODES, mask_openai

REPO = Path(__file__).resolve().parents[2]
ANSWERS_DIR = REPO / "tests" / "providers"
PROVIDERS_DIR = REPO / "testkey_nb" / "providers"
DOCS: dict[str, dict[str, Any]] = {
    p: yaml.safe_load((ANSWERS_DIR / p / "answers.yaml").read_text(encoding="utf-8")) for p in PROVIDER_IDS
}
#: a mode the documented answers hold but the host does not play (its answer is undocumented: Novita's, Hyperbolic's and
#: Nebius's out-of-money chat answers, said so in their host.yaml) has no emulator key: its answers are not served
CASES = [(p, a) for p in PROVIDER_IDS for a in DOCS[p]["answers"] if a["mode"] in (*load_host(p).modes, "none")]
#: a bad key's status where it is not 401, by hand from answers.yaml: xAI models-bad-key (issue-400: 400, a JSON string)
BAD_KEY_STATUS = {"xai": 400}
#: documented answers the emulator's host does not play yet: strict xfail, so the case turns red the moment it does
NOT_PLAYED_YET: dict[tuple[str, str], str] = {}
_MISSING = object()
HTTP = httpx.Client(timeout=10.0)  # one client: a new one per request costs an SSL context each


class _Emulators(dict[str, RunningEmulator]):
    """Starts a provider's emulator on first use (a run of one provider's tests starts one server)."""

    def __missing__(self, provider: str) -> RunningEmulator:
        emu = RunningEmulator(EmulatorConfig(provider=provider, seed=7)).start()
        self[provider] = emu
        return emu


@pytest.fixture(scope="module")
def emus() -> Iterator[_Emulators]:
    started = _Emulators()
    try:
        yield started
    finally:
        HTTP.close()  # no keep-alive connection left for the servers to wait on
        for emu in started.values():
            emu.stop()


_SCHEME_HEADER = {"x-api-key": "x-api-key", "api-key": "api-key", "x-goog-api-key": "x-goog-api-key"}


def _headers(emu: RunningEmulator, auth: str, key: str | None, path: str = "") -> dict[str, str]:
    """The key as ``auth`` says: ``key`` in the path's own scheme (answers.yaml ``route_auth``, else ``auth``),
    ``wrong-scheme`` in another one (Bearer for a header scheme, x-api-key for Bearer), ``none`` without it."""
    host = load_host(emu.provider)
    route, _ = host.route_for("GET", path)
    if route is None:
        route, _ = host.route_for("POST", path)
    own = host.auth_for(route)
    extra = {host.version_header[0]: host.version_header[1]} if host.version_header else {}
    if auth == "none" or key is None:
        return extra
    if auth == "key-without-version":
        return {"x-api-key": key}
    if auth == "wrong-scheme":
        own = "x-api-key" if own == "bearer" else "bearer"
    if own in _SCHEME_HEADER:
        return {**extra, _SCHEME_HEADER[own]: key}
    return {**extra, "Authorization": f"Bearer {key}"}


def send(emu: RunningEmulator, mode: str, auth: str, request: dict[str, Any],
         host: str | None = None) -> httpx.Response:  # fmt: skip
    key = None if mode == "none" else emu.keys[mode]
    url = emu.origin + (f"/_route/{host}" if host else "") + request["path"]  # ``host: china``: that route's host
    params = dict(request.get("params") or {})
    if auth == "key-in-query" and key is not None:  # Gemini's native API: ?key= instead of the header
        params, auth = {**params, "key": key}, "none"
    return HTTP.request(request["method"], url, headers=_headers(emu, auth, key, request["path"]),
                        params=params or None, json=request.get("json"))  # fmt: skip


def _documented(provider: str, mode: str, auth: str, method: str, path: str) -> int | None:
    """The status answers.yaml documents for (mode, auth) on ``method path``, if it does."""
    return next((a["status"] for a in DOCS[provider]["answers"] if a["mode"] == mode and a["auth"] == auth
                 and a["request"]["method"] == method and a["request"]["path"] == path
                 and not a["request"].get("params") and not a.get("host")), None)  # fmt: skip


def _get(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return _MISSING
    return data


def _without(data: Any, dotted: str) -> Any:
    head, _, rest = dotted.partition(".")
    if isinstance(data, dict):
        return {k: (_without(v, rest) if rest else "<pattern>") if k == head else v for k, v in data.items()}
    if isinstance(data, list) and head.isdigit():
        return [(_without(v, rest) if rest else "<pattern>") if str(i) == head else v for i, v in enumerate(data)]
    return data


@pytest.mark.parametrize(("provider", "answer"), [
    pytest.param(p, a, id=f"{p}:{a['id']}", marks=[pytest.mark.xfail(strict=True, reason=NOT_PLAYED_YET[(p, a["id"])])]
                 if (p, a["id"]) in NOT_PLAYED_YET else [])
    for p, a in CASES
])  # fmt: skip
def test_emulator_gives_the_documented_answer(emus: dict[str, RunningEmulator], provider: str,
                                               answer: dict[str, Any]) -> None:  # fmt: skip
    emu = emus[provider]
    r = send(emu, answer["mode"], answer["auth"], answer["request"], answer.get("host"))
    assert r.status_code == answer["status"], r.text
    for name, value in (answer.get("headers") or {}).items():
        assert r.headers.get(name) == str(value), name
    for name, pattern in (answer.get("header_patterns") or {}).items():
        assert re.search(pattern, r.headers.get(name, "")), (name, r.headers.get(name))
    documented_type = str((answer.get("headers") or {}).get("content-type", "application/json"))
    if "json" not in documented_type:  # a text page (Perplexity's HTML 401), byte for byte
        assert r.text == answer["body"]
        return
    got, want = r.json(), answer["body"]
    for path, pattern in (answer.get("patterns") or {}).items():
        if path == ".":  # the whole body is a string that varies (xAI's 400 echoes the key's first and last two)
            assert isinstance(got, str) and re.search(pattern, got), got
            got = want = "<pattern>"
            continue
        value = _get(got, path)
        assert isinstance(value, str) and re.search(pattern, value), (path, value)
        got, want = _without(got, path), _without(want, path)
    assert got == want
    assert "application/json" in r.headers["content-type"]


@pytest.mark.parametrize("provider", PROVIDER_IDS)
def test_documented_answers_cite_a_source(provider: str) -> None:
    doc = DOCS[provider]
    assert doc["provider"] == provider
    for answer in doc["answers"]:
        assert answer["source"] in doc["sources"], answer["id"]
        assert isinstance(answer.get("assumption", ""), str) and answer.get("assumption") != "", answer["id"]
    modes_with_answers = {a["mode"] for a in doc["answers"]}
    assert set(doc["modes"]) <= modes_with_answers, "every mode has at least one documented answer"


@pytest.mark.parametrize("provider", PROVIDER_IDS)
def test_keys_per_mode_in_the_providers_shape(emus: dict[str, RunningEmulator], provider: str) -> None:
    emu = emus[provider]
    assert list(emu.keys) == [m for m in DOCS[provider]["modes"] if m in load_host(provider).modes]
    assert set(emu.keys) >= set(DOCS[provider]["modes"]) - {"no-balance"}, "only an undocumented mode is left out"
    assert len(set(emu.keys.values())) == len(emu.keys)
    patterns = tomllib.loads((PROVIDERS_DIR / provider / "provider.toml").read_text()).get("key_patterns")
    if not patterns:  # DashScope, Nebius: no documented key shape (the host.yaml says what it assumes)
        return
    strongest = max(patterns, key=lambda p: p["weight"])
    for mode, key in emu.keys.items():
        assert re.search(strongest["regex"], key), (mode, strongest["name"])


@pytest.mark.parametrize("provider", PROVIDER_IDS)
def test_left_out_modes_are_the_undocumented_ones(provider: str) -> None:
    """A host leaves a mode out only where every documented answer of that mode says it is not documented."""
    host = load_host(provider)
    for mode in host.left_out:
        rows = [a for a in DOCS[provider]["answers"] if a["mode"] == mode]
        assert rows and all(a.get("assumption", "").startswith("not documented") for a in rows), (mode, rows)


def _key_route(host: Any) -> Any:
    """The route that judges a key in the host's own scheme: an authenticated GET read, else the model call."""
    reads = [r for r in host.routes if r.kind == "read" and not r.public and r.method == "GET" and r.auth is None
             and not r.query_required and host.answer(r.name).status == 200]  # fmt: skip
    return reads[0] if reads else next(r for r in host.routes if r.kind in ("chat", "messages"))


@pytest.mark.parametrize("provider", PROVIDER_IDS)
def test_auth_scheme_is_enforced(emus: dict[str, RunningEmulator], provider: str) -> None:
    """Every accepted key reads the authenticated catalog in its own scheme; in the other scheme it is
    refused like a request without a key, and an unknown key in the right shape is refused too. A host with no
    catalog (Perplexity, MiniMax) answers its documented 404 there, and its model call is judged instead."""
    emu = emus[provider]
    host = load_host(provider)
    route = _key_route(host)
    request: dict[str, Any] = {"method": route.method, "path": route.paths[0]}
    if route.kind != "read":
        model = sorted(host.model_ids)[0] if host.model_ids else "testkey-nb-probe"
        request["json"] = {"model": model, "messages": [], "max_tokens": 1}
    if not host.model_ids:  # no catalog: the documented 404 (answers.yaml models-none)
        models = emu.base_url + "/models"
        path = models.removeprefix(emu.origin)
        assert HTTP.get(models, headers=_headers(emu, "key", emu.keys["valid"], path)).status_code == _documented(
            provider, "valid", "key", "GET", path) == 404
    method, path = request["method"], request["path"]
    for mode in emu.keys:
        r = send(emu, mode, "key", request)
        if route.kind == "read":
            default = 200 if mode in ACCEPTED_MODES else 403 if mode == "geo-blocked" else 401
        else:
            answer = f"{route.name}.unknown_model" if not host.model_ids else f"{route.name}.empty"
            default = {"valid": host.answer(answer, f"{route.name}.empty").status}.get(mode, 0)
        assert r.status_code == (_documented(provider, mode, "key", method, path) or default), (mode, r.text)
        wrong = send(emu, mode, "wrong-scheme", request)
        none_r = send(emu, "none", "none", request)
        assert wrong.status_code == none_r.status_code == (_documented(provider, "none", "none", method, path)
                                                          or host.answer("missing").status), (mode, wrong.text)
        if host.id == "anthropic":
            # two documented answers (tests/providers/anthropic/answers.yaml): models-wrong-scheme (issue-oauth,
            # a key sent as Bearer) and models-no-key (doc-errors); request_id varies per request
            assert wrong.json()["error"] == {"type": "authentication_error",
                                             "message": "OAuth authentication is currently not supported."}
            assert none_r.json()["error"] == {"type": "authentication_error", "message": "x-api-key header is required"}
        elif "json" in none_r.headers["content-type"]:  # a key in the other scheme is answered like no key
            assert wrong.json() == none_r.json(), (mode, wrong.text)
        else:
            assert wrong.text == none_r.text, (mode, wrong.text)


#: each provider's documented answer to a model call from a key whose account cannot pay, written by hand
#: from its tests/providers/<id>/answers.yaml row (the row's id and source named)
NO_BALANCE_STATUS = {
    "anthropic": 400,  # messages-no-balance, issue-credit: 400 "Your credit balance is too low"
    "cerebras": 402,  # chat-no-balance, doc-errors
    "deepseek": 402,  # chat-no-balance, issue-402 (402 Insufficient Balance)
    "fireworks": 412,  # chat-no-balance, doc-errors: 412 account suspended (billing)
    "huggingface": 402,  # chat-no-balance, issue-402: monthly included credits exceeded
    "moonshot": 429,  # chat-no-balance, docs (platform.moonshot.ai/docs/api/errors): 429 exceeded_current_quota_error
    "openai": 429,  # chat-no-balance, page-quota: 429 insufficient_quota
    "openrouter": 402,  # chat-no-balance, doc-errors: 402 insufficient credits
    "zhipu": 429,  # chat-no-balance, doc-codes: 1113 arrears on HTTP 429
    "xai": 403,  # chat-no-balance, issue-403: "Your newly created team doesn't have any credits yet"
    "dashscope": 400,  # chat-no-balance, issue-arrearage: 400 Arrearage
    "siliconflow": 403,  # chat-no-balance, doc-errors: 403 code 30001 balance insufficient
    "ark": 403,  # chat-no-balance, doc-errors: 403 AccountOverdueError
}
#: a plan window used up (mode no-plan), likewise by hand from answers.yaml
NO_PLAN_STATUS = {"zhipu": 429,  # chat-no-plan, doc-codes: 1308 (5-hour window) on HTTP 429
                  "sambanova": 429}  # chat-no-plan, doc-limits: the Free tier's 20 requests a day used up


@pytest.mark.parametrize("provider", PROVIDER_IDS)
def test_chat_route_answers_per_mode(emus: dict[str, RunningEmulator], provider: str) -> None:
    emu = emus[provider]
    host = load_host(provider)
    chat = next(r for r in host.routes if r.kind in ("chat", "messages"))
    # a catalog model (an unknown one gets the model-not-found answer); with no catalog, the placeholder the probes
    # name (answers.yaml chat-refused-valid)
    model = sorted(host.model_ids)[0] if host.model_ids else "testkey-nb-probe"
    empty = {"method": "POST", "path": chat.paths[0], "json": {"model": model, "messages": [], "max_tokens": 1}}
    expected = {"valid": host.answer(f"{chat.name}.unknown_model" if not host.model_ids and
                                     f"{chat.name}.unknown_model" in host.answers else f"{chat.name}.empty").status,
                "bad-key": BAD_KEY_STATUS.get(provider, 401), "no-balance": None, "rate-limited": 429,
                "geo-blocked": 403}  # fmt: skip
    for mode in emu.keys:
        r = send(emu, mode, "key", empty)
        want = {"no-balance": NO_BALANCE_STATUS.get(provider), "no-plan": NO_PLAN_STATUS.get(provider)}.get(
            mode, expected.get(mode))
        want = _documented(provider, mode, "key", "POST", chat.paths[0]) or want  # HTTP-200 envelopes (MiniMax)
        assert r.status_code == want, (mode, r.text)
    said = {**empty, "json": {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}}
    if host.model_ids or f"{chat.name}.unknown_model" not in host.answers:  # else no model is ever served
        done = send(emu, "valid", "key", said)
        assert done.status_code == 200
        assert ("content" if chat.kind == "messages" else "choices") in done.json()
        entry = emu.request_log()[-1]
        assert (entry.status, entry.cost) == (200, "billable")
    if f"{chat.name}.unknown_model" in host.answers:  # evidence about the model, after auth
        other = {**empty, "json": {"model": "nope/not-a-model", "messages": [], "max_tokens": 1}}
        assert send(emu, "valid", "key", other).status_code == host.answer(f"{chat.name}.unknown_model").status
        assert send(emu, "bad-key", "key", other).status_code == BAD_KEY_STATUS.get(provider, 401)


def test_http_200_error_envelopes_and_read_only_posts_are_never_billable(emus: dict[str, RunningEmulator]) -> None:
    """MiniMax answers its refusals with HTTP 200 (base_resp 1004/1008/1002/2013): logged as rejected, not billable;
    Cohere's POST /v1/check-api-key is a read."""
    mm = emus["minimax"]
    mm.clear_log()
    for mode in mm.keys:
        send(mm, mode, "key", {"method": "POST", "path": "/v1/chat/completions",
                               "json": {"model": "MiniMax-M2", "messages": []}})  # fmt: skip
    assert [(e.status, e.cost) for e in mm.request_log()] == [(200, "rejected")] * len(mm.keys)
    co = emus["cohere"]
    co.clear_log()
    assert send(co, "valid", "key", {"method": "POST", "path": "/v1/check-api-key"}).json()["valid"] is True
    assert [(e.method, e.status, e.cost) for e in co.request_log()] == [("POST", 200, "read")]


def test_second_auth_schemes_and_required_query(emus: dict[str, RunningEmulator]) -> None:
    """Gemini's native list takes x-goog-api-key or ?key= (a Bearer key there is an OAuth refusal) while its
    OpenAI-compatible base takes Bearer; Azure's classic /openai/models needs ?api-version=, its v1 base does not."""
    gm = emus["gemini"]
    key = gm.keys["valid"]
    native = gm.origin + "/v1beta/models"
    assert HTTP.get(native, headers={"x-goog-api-key": key}).status_code == 200
    assert HTTP.get(native, params={"key": key}).status_code == 200
    assert HTTP.get(native, headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert HTTP.get(gm.base_url + "/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert HTTP.get(gm.base_url + "/models", headers={"x-api-key": key}).status_code == 403
    az = emus["azure"]
    auth = {"api-key": az.keys["valid"]}
    assert HTTP.get(az.origin + "/openai/models", headers=auth, params={"api-version": "2024-10-21"}).status_code == 200
    assert HTTP.get(az.origin + "/openai/models", headers=auth).json() == {
        "error": {"code": "404", "message": "Resource not found"}}  # fmt: skip
    assert HTTP.get(az.base_url + "/models", headers=auth).status_code == 200
    assert HTTP.get(az.base_url + "/models", headers={"Authorization": f"Bearer {az.keys['valid']}"}).status_code == 401


def test_public_endpoints_answer_without_a_key(emus: dict[str, RunningEmulator]) -> None:
    public = {p: [r for r in load_host(p).routes if r.public] for p in PROVIDER_IDS}
    assert {p for p, routes in public.items() if routes} == {"openrouter", "huggingface", "sambanova"}
    r = HTTP.get(emus["openrouter"].base_url + "/models")
    assert r.status_code == 200 and r.json()["data"]
    bad = HTTP.get(emus["openrouter"].base_url + "/models",
                    headers={"Authorization": f"Bearer {emus['openrouter'].keys['bad-key']}"})  # fmt: skip
    assert bad.status_code == 200, "OpenRouter's public catalog does not look at the key"
    hf = emus["huggingface"]
    assert HTTP.get(hf.base_url + "/models").status_code == 200
    bad_hf = HTTP.get(hf.base_url + "/models", headers={"Authorization": f"Bearer {hf.keys['bad-key']}"})
    assert bad_hf.status_code == 401, "the router still refuses an unknown token on its public list"


def test_base_urls_are_the_providers_own_paths(emus: dict[str, RunningEmulator]) -> None:
    suffix = {p: DOCS[p]["base_url"].split("://", 1)[1].partition("/")[2] for p in PROVIDER_IDS}
    for provider in PROVIDER_IDS:
        emu = emus[provider]
        path = emu.base_url.removeprefix(emu.origin)
        assert path == ("/" + suffix[provider] if suffix[provider] else ""), provider
    assert emus["groq"].base_url.endswith("/openai/v1")
    assert emus["fireworks"].base_url.endswith("/inference/v1")
    assert emus["deepinfra"].base_url.endswith("/v1/openai")
    assert emus["openrouter"].base_url.endswith("/api/v1")
    assert emus["huggingface"].management_url == emus["huggingface"].origin + "/api"
    ds = emus["deepseek"]
    ds_auth = {"Authorization": f"Bearer {ds.keys['valid']}"}
    assert HTTP.get(ds.origin + "/user/balance", headers=ds_auth).status_code == 200
    assert HTTP.get(ds.origin + "/v1/user/balance", headers=ds_auth).status_code == 404  # no /v1 on the balance


def test_unknown_path_and_method(emus: dict[str, RunningEmulator]) -> None:
    emu = emus["groq"]
    auth = {"Authorization": f"Bearer {emu.keys['valid']}"}
    assert HTTP.get(emu.origin + "/v1/models", headers=auth).status_code == 404  # Groq serves /openai/v1 only
    assert HTTP.delete(emu.base_url + "/models", headers=auth).status_code == 405
    assert HTTP.get(emus["anthropic"].origin + "/v1/chat/completions").status_code == 404


def test_request_log_never_holds_a_key(emus: dict[str, RunningEmulator]) -> None:
    for provider in ("anthropic", "openai", "deepseek"):
        emu = emus[provider]
        emu.clear_log()
        host = load_host(provider)
        paths = [(r.method, r.paths[0]) for r in host.routes]
        for mode in emu.keys:
            for method, path in paths:
                send(emu, mode, "key", {"method": method, "path": path, "json": {"messages": []}})
                send(emu, mode, "wrong-scheme", {"method": method, "path": path, "json": {"messages": []}})
        log = emu.request_log()
        assert len(log) == 2 * len(emu.keys) * len(paths)
        text = repr(log)
        for key in emu.keys.values():
            assert key not in text and key[-12:] not in text
        assert {e.key_label for e in log} == {m for m in emu.keys if m in ACCEPTED_MODES} | {"unknown", None}
        assert {e.auth_scheme for e in log} == {"Bearer", "x-api-key"}
        assert {e.host_role for e in log} == {provider}
        assert {e.cost for e in log} <= {"read", "rejected"}


def test_a_canary_key_added_to_a_mode(emus: dict[str, RunningEmulator]) -> None:
    emu = emus["together"]
    canary = "tgp_v1_CaNaRyCaNaRyCaNaRyCaNaRyCaNaRyCaNaRy42"
    emu.add_key(canary, "rate-limited")
    chat = {"model": "m", "messages": [], "max_tokens": 1}
    r = HTTP.post(emu.base_url + "/chat/completions", headers={"Authorization": f"Bearer {canary}"}, json=chat)
    assert r.status_code == 429
    assert canary not in repr(emu.request_log())
    with pytest.raises(ValueError, match="unknown mode"):
        emu.add_key(canary, "no-balance")  # Together has no documented balance refusal


def test_masked_key_echo_never_shows_the_key() -> None:
    key = "sk-proj-" + "A" * 40 + "wxyz"
    assert mask_openai(key) == "sk-proj-" + "*" * 40 + "wxyz"
    assert mask_openai("short-key") == "********"


def test_openai_bodies_are_pretty_printed_like_the_recording(emus: dict[str, RunningEmulator]) -> None:
    emu = emus["openai"]
    r = HTTP.get(emu.base_url + "/models", headers={"Authorization": f"Bearer {emu.keys['bad-key']}"})
    assert r.text.startswith('{\n  "error": {\n    "message": "Incorrect API key provided: sk-proj-')
    assert emu.keys["bad-key"] not in r.text


def test_provider_config_and_errors() -> None:
    assert EmulatorConfig().provider == "baseten"
    with pytest.raises(ValueError, match="unknown provider 'nope'"):
        RunningEmulator(EmulatorConfig(provider="nope"))
    with run_emulator(provider="mistral") as emu:
        assert emu.provider == "mistral" and list(emu.ports) == ["mistral"]
        assert emu.host is not None and emu.host.auth == "bearer" and emu.host.modes == tuple(emu.keys)
        with pytest.raises(ValueError, match="no impostor_openai host"):
            _ = emu.impostor_openai_url
        with pytest.raises(ValueError, match="Baseten emulator only"):
            emu.fault_url("inference", "http_5xx")
        assert "key" not in repr(emu).lower() or all(k not in repr(emu) for k in emu.keys.values())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cli_provider_mode_writes_keys_and_prints_no_key(tmp_path: Path) -> None:
    import os
    import stat
    import subprocess
    import sys
    import time

    keys_file = tmp_path / "groq.env"
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "testkey_nb.emulator", "--provider", "groq", "--port", str(port),
         "--keys-out", str(keys_file)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        written = lambda: keys_file.exists() and keys_file.stat().st_size > 0  # noqa: E731
        while proc.poll() is None and not written() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        assert stat.S_IMODE(os.stat(keys_file).st_mode) == 0o600
        lines = keys_file.read_text().splitlines()  # export DEMO_VALID='key'
        env = {k.removeprefix("export DEMO_"): v.strip("'") for k, v in (line.split("=", 1) for line in lines)}
        assert set(env) == {"VALID", "BAD_KEY", "RATE_LIMITED"}
        assert all(re.fullmatch(r"gsk_[A-Za-z0-9]{52}", k) for k in env.values())
        r = None
        while r is None and time.monotonic() < deadline:
            try:
                r = HTTP.get(f"http://127.0.0.1:{port}/openai/v1/models",
                             headers={"Authorization": f"Bearer {env['VALID']}"})  # fmt: skip
            except httpx.ConnectError:
                time.sleep(0.05)
        assert r is not None and r.status_code == 200
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}/openai/v1" in out and "RATE_LIMITED" in out and "rate-limited" in out
    for key in env.values():
        assert key not in out + err


def test_cli_unknown_provider_is_a_clear_error() -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "testkey_nb.emulator", "--provider", "nope"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2
    assert "unknown provider 'nope'" in proc.stdout + proc.stderr


def test_demo_fleet_mixes_baseten_and_five_other_providers() -> None:
    from testkey_nb.cli.demo import DEMO_FLEET, demo_keys

    with demo_keys() as keys:
        claims = {k.job.claim for k in keys}
        assert "baseten" in claims and len(claims - {"baseten"}) >= 5
        assert len({k.label for k in keys}) == len(keys)
        fleet = [k for k in keys if k.job.claim in DEMO_FLEET and k.label.startswith(f"demo-{k.job.claim}-")]
        assert len(fleet) == sum(len(modes) for modes in DEMO_FLEET.values())
        for k in fleet:
            provider = str(k.job.claim)
            mode = k.label.removeprefix(f"demo-{provider}-")
            host = load_host(provider)
            assert k.job.base_url is not None and k.job.base_url.endswith(host.base_path)
            route = next(r for r in host.routes if r.kind == "read" and not r.public)
            origin = k.job.base_url.removesuffix(host.base_path)
            extra = {host.version_header[0]: host.version_header[1]} if host.version_header else {}
            auth = {"x-api-key": k.secret.reveal()} if host.auth == "x-api-key" else {
                "Authorization": f"Bearer {k.secret.reveal()}"}  # fmt: skip
            r = HTTP.get(origin + route.paths[0], headers={**auth, **extra})
            assert r.status_code == (200 if mode in ACCEPTED_MODES else 403 if mode == "geo-blocked" else 401), (
                k.label, r.text)


#: identification code lacks: Nebius's provider.toml holds no key pattern and no fingerprint (a loopback host's answers
#: name nothing): see providers/NOTES-19.md #19
UNNAMED = {"nebius": "nothing in Nebius's answers or key shape names it on a host without its hostname"}


@pytest.mark.parametrize("provider", [pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=UNNAMED[p]))
                                      if p in UNNAMED else p for p in PROVIDER_IDS])  # fmt: skip
def test_identification_names_the_provider_each_emulator_plays(emus: dict[str, RunningEmulator], provider: str) -> None:
    """The emulated host carries its provider's evidence: identification (headers, bodies, key shape)
    names that provider, not Baseten."""
    from testkey_nb.check.run import CheckOptions, check_key
    from testkey_nb.secrets import Secret

    emu = emus[provider]
    checked = check_key(Secret(emu.keys["valid"], label=f"{provider}-valid"),
                        CheckOptions(base_url=emu.base_url, deadline_s=30.0))  # fmt: skip
    assert checked.identification.provider == provider
    assert all(emu.keys["valid"] not in repr(e) for e in emu.request_log())


def test_together_chat_refusal_is_pretty_printed_and_its_id_carries_the_ray(emus: dict[str, RunningEmulator]) -> None:
    emu = emus["together"]
    bad = {"Authorization": f"Bearer {emu.keys['bad-key']}"}
    body = {"model": "meta-llama/Llama-3.3-70B-Instruct-Turbo", "messages": []}
    chat = HTTP.post(emu.base_url + "/chat/completions", headers=bad, json=body)
    assert chat.text.startswith('{\n  "id": ')
    assert chat.json()["id"].endswith("-2kFHot-" + chat.headers["cf-ray"].split("-")[0])
    models = HTTP.get(emu.base_url + "/models", headers=bad)
    assert models.text == '{"error":{"message":"Unauthorized"}}'  # the recorded 36 bytes


def test_host_data_errors_are_clear() -> None:
    from testkey_nb.emulator.providers.host import parse_host

    good = yaml.safe_load((REPO / "testkey_nb/emulator/providers/groq/host.yaml").read_text(encoding="utf-8"))
    assert parse_host("groq", good).base_path == "/openai/v1"
    with pytest.raises(ValueError, match="id is 'groq'"):
        parse_host("mistral", good)
    with pytest.raises(ValueError, match=r"unknown template \{nope\}"):
        parse_host("groq", {**good, "answers": {**good["answers"], "models": {"status": 200, "body": "{nope}"}}})
    answers = {k: v for k, v in good["answers"].items() if k != "chat.rate-limited"}
    with pytest.raises(ValueError, match=r"no answer for chat\.rate-limited"):
        parse_host("groq", {**good, "answers": answers})
    with pytest.raises(ValueError, match="modes must include valid and bad-key"):
        parse_host("groq", {**good, "modes": ["valid", "admin"]})
    route = {"name": "extra", "method": "GET", "paths": ["/x"], "auth": "cookie"}
    with pytest.raises(ValueError, match="route extra auth must be one of"):
        parse_host("groq", {**good, "routes": [*good["routes"], route]})
    needs = {**route, "auth": "x-goog-api-key", "query_required": ["api-version"]}
    with pytest.raises(ValueError, match="no answer for no_query, extra"):
        parse_host("groq", {**good, "routes": [*good["routes"], needs]})
    with pytest.raises(ValueError, match="left_out 'rate-limited'"):  # a mode the host plays is not left out
        parse_host("groq", {**good, "left_out": {"rate-limited": "why"}})
    with pytest.raises(ValueError, match="left_out 'no-balance'"):  # and a left-out mode says why
        parse_host("groq", {**good, "left_out": {"no-balance": " "}})
    page = {"status": 401, "raw": "<html></html>"}
    with pytest.raises(ValueError, match="names its content-type"):
        parse_host("groq", {**good, "answers": {**good["answers"], "unauthorized": page}})


@pytest.mark.parametrize("provider", PROVIDER_IDS)
def test_cli_prints_every_host_with_its_schemes_and_modes(provider: str) -> None:
    import io

    from rich.console import Console

    from testkey_nb.cli.emulator import _print_provider

    out = io.StringIO()
    with run_emulator(provider=provider) as emu:
        _print_provider(Console(file=out, width=200), emu)
        text = out.getvalue()
        assert emu.base_url in text and all(k not in text for k in emu.keys.values())
    host = load_host(provider)
    assert all(mode in text for mode in host.modes)
    if provider == "gemini":
        assert "GET   /v1beta/models  (x-goog-api-key or ?key=)" in text
    if provider == "azure":
        assert "(api-key)" in text and "GET   /openai/models  (needs ?api-version=)" in text
