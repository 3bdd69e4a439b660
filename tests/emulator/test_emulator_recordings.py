"""The emulator answers like the real recordings: catalog bytes, headers, 403 bodies, chat shape, impostors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from testkey_nb.emulator import EmulatorConfig, RunningEmulator, run_emulator

REPO = Path(__file__).resolve().parents[2]
#: the real recordings, vendored in the repo (a fresh clone runs every fidelity test; nothing skips)
RECORDINGS = REPO / "tests" / "providers" / "baseten" / "recordings"
FIXTURE = REPO / "testkey_nb" / "emulator" / "fixtures" / "models_catalog.json"
NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
CHAT = {"model": "openai/gpt-oss-120b", "messages": [{"role": "user", "content": "Say hello. Use only one word."}]}


def recorded(name: str) -> dict[str, Any]:
    path = RECORDINGS / name
    assert path.is_file(), f"recording {path} is missing"
    return yaml.safe_load(path.read_text())["interactions"][0]["response"]


def header_list(resp: dict[str, Any], name: str) -> list[str]:
    return resp["headers"].get(name, [])


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with run_emulator(EmulatorConfig(seed=11, now=NOW)) as running:
        yield running


def auth(emu: RunningEmulator, label: str, scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {emu.keys[label]}"}


def test_fixture_is_the_recorded_body() -> None:
    assert FIXTURE.read_bytes() == recorded("Warmup.yaml")["body"].encode("utf-8")


def test_models_catalog_equals_recording(emu: RunningEmulator) -> None:
    rec = recorded("Warmup.yaml")
    r = httpx.get(f"{emu.inference_url}/models", headers=auth(emu, "full-access"))
    assert r.status_code == 200
    assert r.content == rec["body"].encode("utf-8")
    assert r.json() == json.loads(rec["body"])
    assert "object" not in r.json()
    for name in ("Server", "Via", "Content-Security-Policy", "X-Frame-Options", "Vary", "Alt-Svc",
                 "Referrer-Policy", "Cross-Origin-Opener-Policy", "X-Content-Type-Options", "Content-Type"):
        assert r.headers.get_list(name) == header_list(rec, name), name
    assert r.headers["server"] == "gunicorn"
    assert "https://inference.baseten.co" in r.headers["content-security-policy"]
    assert not any(k.lower().startswith(("x-ratelimit", "x-baseten")) for k in r.headers)


def test_catalog_carries_private_use_characters(emu: RunningEmulator) -> None:
    r = httpx.get(f"{emu.inference_url}/models", headers=auth(emu, "personal"))
    kimi = next(m for m in r.json()["data"] if m["id"] == "moonshotai/Kimi-K2.7-Code")
    assert kimi["description"].endswith("\ue056\ue03b\ue0fb\ue0f9\ue11d")


@pytest.mark.parametrize("label", ["invalid", "revoked", "metrics-only", None, "garbage-scheme"])
@pytest.mark.parametrize("stream", [False, True])
def test_bad_key_is_the_recorded_403(emu: RunningEmulator, label: str | None, stream: bool) -> None:
    rec = recorded("errors_bad_apiKey_GenStream.yaml" if stream else "errors_bad_apiKey_GenSync.yaml")
    if label is None:
        headers: dict[str, str] = {}
    elif label == "garbage-scheme":
        headers = {"Authorization": f"Basic {emu.keys['full-access']}"}
    else:
        headers = auth(emu, label)
    body = {"model": "deepseek-ai/DeepSeek-V3.1", "messages": [{"role": "user", "content": "Tell a short joke."}]}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    r = httpx.post(f"{emu.inference_url}/chat/completions", headers=headers, json=body)
    assert r.status_code == rec["code"] == 403
    assert r.content == rec["body"].encode()
    for name in ("Content-Type", "Vary", "Via", "Alt-Svc", "Content-Length"):
        assert r.headers.get_list(name) == header_list(rec, name), name
    assert not any(k.lower().startswith(("x-baseten", "x-ratelimit")) for k in r.headers)
    models = httpx.get(f"{emu.inference_url}/models", headers=headers)
    assert models.status_code == 403 and models.content == rec["body"].encode()


def test_bad_model_is_the_recorded_403(emu: RunningEmulator) -> None:
    rec = recorded("errors_bad_model_GenSync.yaml")
    body = {"model": "bad model", "messages": [{"role": "user", "content": "Tell a short joke."}]}
    r = httpx.post(f"{emu.inference_url}/chat/completions", headers=auth(emu, "full-access"), json=body)
    assert r.status_code == 403
    assert r.content == rec["body"].encode()
    assert not any(k.lower().startswith("x-baseten") for k in r.headers)


@pytest.mark.parametrize("scheme", ["Bearer", "Api-Key", "bearer"])
def test_both_auth_schemes(emu: RunningEmulator, scheme: str) -> None:
    headers = auth(emu, "full-access", scheme)
    assert httpx.get(f"{emu.inference_url}/models", headers=headers).status_code == 200
    assert httpx.post(f"{emu.inference_url}/chat/completions", headers=headers, json=CHAT).status_code == 200
    assert httpx.get(f"{emu.management_url}/users/me", headers=headers).status_code == 200


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return None


def test_chat_completion_shape_and_headers(emu: RunningEmulator) -> None:
    rec = recorded("chat_gpt-oss-120b_GenSync-Text.yaml")
    r = httpx.post(f"{emu.inference_url}/chat/completions", headers=auth(emu, "full-access"), json=CHAT)
    assert r.status_code == 200
    body = r.json()
    assert _shape(body) == _shape(json.loads(rec["body"]))
    assert list(body) == list(json.loads(rec["body"]))
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{32}", body["id"])
    assert body["model"] == CHAT["model"] and body["object"] == "chat.completion"
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    h = r.headers
    assert re.fullmatch(r"[a-z0-9]{8}", h["x-baseten-model-id"])
    assert re.fullmatch(r"[a-z0-9]{7}", h["x-baseten-model-version-id"])
    assert re.fullmatch(r"[0-9a-f]{37}", h["x-baseten-request-id"])
    assert h["x-baseten-session-id"] == h["x-baseten-request-id"]
    assert h["x-baseten-model-prediction-attempts"] == "1"
    assert int(h["x-baseten-accepted-at"]) > 1_700_000_000_000
    for name in ("Via", "Strict-Transport-Security", "Alt-Svc", "Vary", "Content-Type"):
        assert h.get_list(name) == header_list(rec, name), name
    assert not any(k.lower().startswith("x-ratelimit") for k in h)
    assert "server" not in h


@pytest.mark.parametrize("max_tokens", [1, 2, 5, 100])
@pytest.mark.parametrize("model", ["openai/gpt-oss-120b", "zai-org/GLM-4.7"])
def test_max_tokens_bounds_completion(emu: RunningEmulator, max_tokens: int, model: str) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens}
    r = httpx.post(f"{emu.inference_url}/chat/completions", headers=auth(emu, "personal"), json=body)
    assert r.status_code == 200
    assert 1 <= r.json()["usage"]["completion_tokens"] <= max_tokens
    assert r.json()["model"] == model


@pytest.mark.parametrize("body", [
    {"model": "openai/gpt-oss-120b", "messages": []},
    {"model": "openai/gpt-oss-120b"},
    {"model": "openai/gpt-oss-120b", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0},
])
def test_validation_error_is_engine_shaped(emu: RunningEmulator, body: dict[str, Any]) -> None:
    r = httpx.post(f"{emu.inference_url}/chat/completions", headers=auth(emu, "full-access"), json=body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == 400 and error["type"] == "Bad Request"
    assert error["message"].startswith("Validation: ")
    assert "\t" in r.text  # the engine answers tab-indented JSON
    assert re.fullmatch(r"[0-9a-f]{37}", r.headers["x-baseten-request-id"])
    assert r.headers["via"] == "1.1 google"
    assert "strict-transport-security" in r.headers


def test_stream_returns_sse_chunks(emu: RunningEmulator) -> None:
    body = {**CHAT, "model": "zai-org/GLM-4.7", "stream": True}
    with httpx.stream("POST", f"{emu.inference_url}/chat/completions", headers=auth(emu, "full-access"),
                      json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert "x-baseten-request-id" in r.headers
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "zai-org/GLM-4.7" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)


def test_impostor_openai(emu: RunningEmulator) -> None:
    r = httpx.get(f"{emu.impostor_openai_url}/models", headers=auth(emu, "full-access"))
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"data"}
    assert {m["owned_by"] for m in body["data"]} == {"openai"}
    assert all("pricing" in m and "context_length" in m and "supported_features" in m for m in body["data"])
    assert not any(k.lower().startswith(("x-baseten", "x-ratelimit")) for k in r.headers)
    chat = httpx.post(f"{emu.impostor_openai_url}/chat/completions", headers=auth(emu, "full-access"), json=CHAT)
    assert chat.status_code == 200 and chat.json()["model"] == CHAT["model"]
    assert not any(k.lower().startswith("x-baseten") for k in chat.headers)
    bad = httpx.get(f"{emu.impostor_openai_url}/models", headers=auth(emu, "invalid"))
    assert bad.status_code == 403 and bad.json() == {"error": "please check the api-key you provided"}


def test_impostor_openai_headers(emu: RunningEmulator) -> None:
    r = httpx.get(f"{emu.impostor_openai_headers_url}/models", headers=auth(emu, "full-access"))
    assert r.status_code == 200
    h = r.headers
    assert h["openai-version"] == "2020-10-01"
    assert int(h["openai-processing-ms"]) >= 0
    assert "x-ratelimit-limit-requests" in h and "x-ratelimit-remaining-tokens" in h
    assert h["server"] == "cloudflare" and re.fullmatch(r"[0-9a-f]{16}-[A-Z]{3}", h["cf-ray"])
    body = r.json()
    assert body["object"] == "list"
    ids = {m["id"] for m in body["data"]}
    assert "openai/gpt-oss-120b" in ids
    assert {m["owned_by"] for m in body["data"]} == {"baseten"}
    assert not any(k.lower().startswith("x-baseten") for k in h)
    bad = httpx.post(f"{emu.impostor_openai_headers_url}/chat/completions", headers=auth(emu, "revoked"), json=CHAT)
    assert bad.status_code == 403 and bad.content == b'{"error":"please check the api-key you provided"}\n'
    assert bad.headers["openai-version"] == "2020-10-01"
    wrong_model = httpx.post(f"{emu.impostor_openai_headers_url}/chat/completions",
                             headers=auth(emu, "full-access"), json={**CHAT, "model": "gpt-4o"})
    assert wrong_model.status_code == 403 and "please check the api-key" in wrong_model.text


def test_no_ratelimit_headers_on_baseten_roles(emu: RunningEmulator) -> None:
    responses = [
        httpx.get(f"{emu.inference_url}/models", headers=auth(emu, "pro")),
        httpx.post(f"{emu.inference_url}/chat/completions", headers=auth(emu, "pro"), json=CHAT),
        httpx.post(f"{emu.inference_url}/chat/completions", headers=auth(emu, "rate-limited"), json=CHAT),
        httpx.post(f"{emu.inference_url}/chat/completions", headers=auth(emu, "invalid"), json=CHAT),
        httpx.get(f"{emu.management_url}/model_apis", headers=auth(emu, "pro")),
        httpx.get(f"{emu.management_url}/users/me", headers=auth(emu, "invalid")),
    ]
    for r in responses:
        assert not any(k.lower().startswith("x-ratelimit") for k in r.headers), r.url
