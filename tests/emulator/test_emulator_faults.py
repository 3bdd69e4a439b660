"""Every fault does what it says, globally (set_faults), per role and through the /_fault/ prefix."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest

from testkey_nb.emulator import FAULT_NAMES, EmulatorConfig, Fault, RunningEmulator, run_emulator

CHAT = {"model": "openai/gpt-oss-120b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}


@pytest.fixture(scope="module")
def running() -> Iterator[RunningEmulator]:
    with run_emulator(EmulatorConfig(seed=3)) as emu:
        yield emu


@pytest.fixture
def emu(running: RunningEmulator) -> Iterator[RunningEmulator]:
    running.set_faults()
    running.clear_log()
    yield running
    running.set_faults()


def auth(emu: RunningEmulator, label: str = "full-access") -> dict[str, str]:
    return {"Authorization": f"Bearer {emu.keys[label]}"}


def models(emu: RunningEmulator, base: str | None = None, **kw: object) -> httpx.Response:
    return httpx.get(f"{base or emu.inference_url}/models", headers=auth(emu), **kw)  # type: ignore[arg-type]


def test_fault_names_are_validated(emu: RunningEmulator) -> None:
    assert set(FAULT_NAMES) == {
        "latency", "rate_limit_burst", "http_5xx", "hang", "truncated_json", "non_json", "waf_html",
        "huge_body", "redirect_other_host", "hostile_strings", "enforce_rate_limits", "short_pages",
    }
    with pytest.raises(ValueError):
        Fault("nope")
    with pytest.raises(ValueError):
        Fault("latency", roles=("nowhere",))
    with pytest.raises(ValueError):
        emu.fault_url("inference", "nope")
    r = httpx.get(f"http://127.0.0.1:{emu.ports['inference']}/_fault/nope/v1/models", headers=auth(emu))
    assert r.status_code == 404
    for name in FAULT_NAMES:
        assert emu.fault_url("management", name).endswith(f"/_fault/{name}/v1")


def test_latency(emu: RunningEmulator) -> None:
    emu.set_faults(Fault("latency", ms=50))
    assert models(emu).status_code == 200
    assert emu.request_log()[-1].fault == "latency"
    r = httpx.get(f"{emu.fault_url('management', 'latency')}/instance_types", headers=auth(emu))
    assert r.status_code == 200 and r.json()["instance_types"]
    assert (emu.request_log()[-1].path, emu.request_log()[-1].fault) == ("/v1/instance_types", "latency")


@pytest.mark.parametrize("retry_after", [None, 7])
def test_rate_limit_burst(emu: RunningEmulator, retry_after: int | None) -> None:
    emu.set_faults(Fault("rate_limit_burst", count=2, retry_after=retry_after))
    for _ in range(2):
        r = models(emu)
        assert r.status_code == 429 and r.json() == {"error": "Too many requests"}
        if retry_after is None:
            assert "retry-after" not in r.headers
        else:
            assert r.headers["retry-after"] == str(retry_after)
        assert not any(k.lower().startswith("x-ratelimit") for k in r.headers)
    assert models(emu).status_code == 200
    assert [e.status for e in emu.request_log()] == [429, 429, 200]
    assert [e.fault for e in emu.request_log()] == ["rate_limit_burst", "rate_limit_burst", None]
    prefixed = models(emu, emu.fault_url("inference", "rate_limit_burst"))
    assert prefixed.status_code == 429


@pytest.mark.parametrize(
    ("fault", "status", "message"),
    [
        (Fault("http_5xx"), 502, "Error making prediction"),
        (Fault("http_5xx", status=500), 500, None),
        (Fault("http_5xx", status=503), 503, None),
        (Fault("http_503"), 503, None),
    ],
)
def test_http_5xx(emu: RunningEmulator, fault: Fault, status: int, message: str | None) -> None:
    emu.set_faults(fault)
    r = models(emu)
    assert r.status_code == status
    assert set(r.json()) == {"error"} and isinstance(r.json()["error"], str)
    if message:
        assert r.json()["error"] == message
    chat = httpx.post(f"{emu.inference_url}/chat/completions", headers=auth(emu), json=CHAT)
    assert chat.status_code == status
    assert emu.request_log()[-1].cost == "rejected"


def test_http_500_through_fault_url(emu: RunningEmulator) -> None:
    r = httpx.get(f"{emu.fault_url('management', 'http_500')}/users/me", headers=auth(emu))
    assert r.status_code == 500 and "error" in r.json()
    entry = emu.request_log()[-1]
    assert (entry.path, entry.fault, entry.host_role) == ("/v1/users/me", "http_500", "management")
    assert httpx.get(f"{emu.management_url}/users/me", headers=auth(emu)).status_code == 200


def test_fault_restricted_to_a_role(emu: RunningEmulator) -> None:
    emu.set_faults(Fault("http_5xx", status=503, roles=("management",)))
    assert models(emu).status_code == 200
    assert httpx.get(f"{emu.management_url}/users/me", headers=auth(emu)).status_code == 503


def test_hang_is_bounded_by_client_timeout(emu: RunningEmulator) -> None:
    emu.set_faults(Fault("hang", seconds=30))
    with pytest.raises(httpx.ReadTimeout):
        models(emu, timeout=httpx.Timeout(5.0, read=0.3))
    emu.set_faults(Fault("hang", seconds=0.05))
    assert models(emu).status_code == 200
    assert emu.request_log()[-1].fault == "hang"


def test_hang_does_not_block_shutdown() -> None:
    outcome: list[object] = []
    with run_emulator(EmulatorConfig(faults=(Fault("hang", seconds=60),))) as emu:
        def call() -> None:
            try:
                outcome.append(models(emu, timeout=30).status_code)
            except httpx.HTTPError as exc:
                outcome.append(type(exc).__name__)

        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        worker.join(0.3)
        assert worker.is_alive()  # still hanging
    worker.join(15)
    assert not worker.is_alive() and outcome


def test_truncated_json(emu: RunningEmulator) -> None:
    full = models(emu).content
    emu.set_faults(Fault("truncated_json"))
    r = models(emu)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.content == full[: len(full) // 2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
    assert emu.request_log()[-1].fault == "truncated_json"


def test_non_json(emu: RunningEmulator) -> None:
    r = models(emu, emu.fault_url("inference", "non_json"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        r.json()


def test_waf_html(emu: RunningEmulator) -> None:
    emu.set_faults(Fault("waf_html"))
    r = httpx.get(f"{emu.management_url}/users/me", headers=auth(emu))
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert "<title>403 Forbidden</title>" in r.text and r.headers["server"] == "cloudflare"


def test_huge_body_streams_lazily(emu: RunningEmulator) -> None:
    url = f"{emu.fault_url('inference', 'huge_body')}/models"
    with httpx.stream("GET", url, headers=auth(emu)) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert "content-length" not in r.headers  # streamed, size unknown up front
        seen = b""
        for chunk in r.iter_bytes():
            seen += chunk
            if len(seen) >= 256 * 1024:
                break
    assert seen.startswith(b'{"data": [')
    emu.set_faults(Fault("huge_body", size_bytes=300_000))
    small = models(emu)
    assert len(small.content) == 300_000
    assert len(small.json()["data"]) > 100


def test_redirect_other_host(emu: RunningEmulator) -> None:
    port = emu.ports["inference"]
    r = httpx.get(f"{emu.fault_url('inference', 'redirect_other_host')}/models?x=1", headers=auth(emu))
    assert r.status_code == 302
    assert r.headers["location"] == f"http://localhost:{port}/v1/models?x=1"
    emu.set_faults(Fault("redirect_other_host"))
    r = models(emu)
    assert r.status_code == 302 and r.headers["location"] == f"http://localhost:{port}/v1/models"
    # the target host answers normally (without relying on how this machine resolves "localhost")
    target = httpx.get(f"{emu.inference_url}/models", headers={**auth(emu), "Host": f"localhost:{port}"})
    assert target.status_code == 200


def test_hostile_strings(emu: RunningEmulator) -> None:
    plain_ids = {m["id"] for m in models(emu).json()["data"]}
    emu.set_faults(Fault("hostile_strings"))
    data = models(emu).json()["data"]
    ids = {m["id"] for m in data}
    assert plain_ids < ids
    text = json.dumps(data, ensure_ascii=False)
    assert "<script>alert(1)</script>" in ids
    assert "</script><img src=x onerror=alert(1)>" in text and '"><svg onload=' in text
    assert all(chr(c) in text or json.dumps(chr(c))[1:-1] in text for c in [*range(0x20), 0x7F])
    assert "\u202e" in text and "\ue000" in text and "\uf8ff" in text
    assert emu.request_log()[-1].fault == "hostile_strings"
    me = httpx.get(f"{emu.management_url}/users/me", headers=auth(emu)).json()
    assert "<img" in me["name"]
    names = [m["name"] for m in httpx.get(f"{emu.management_url}/models", headers=auth(emu)).json()["models"]]
    assert any("<script>" in n or "onerror" in n for n in names)
    apis = httpx.get(f"{emu.management_url}/model_apis", headers=auth(emu)).json()["items"]
    assert any("<script>" in i["display_name"] or "onerror" in i["display_name"] for i in apis)
    emu.set_faults()
    via_prefix = models(emu, emu.fault_url("impostor_openai_headers", "hostile_strings")).json()["data"]
    assert "<script>alert(1)</script>" in {m["id"] for m in via_prefix}


def test_enforce_rate_limits(emu: RunningEmulator) -> None:
    canary = "b10_RpmTest1.0123456789abcdefghijABCDEFGHIJ01"
    emu.add_key(canary, "basic-unverified")  # 15 RPM tier, fresh window
    headers = {"Authorization": f"Bearer {canary}"}
    emu.set_faults(Fault("enforce_rate_limits"))
    statuses = [
        httpx.post(f"{emu.inference_url}/chat/completions", headers=headers, json=CHAT).status_code
        for _ in range(16)
    ]
    assert statuses == [200] * 15 + [429]
    last = httpx.post(f"{emu.inference_url}/chat/completions", headers=headers, json=CHAT)
    assert last.status_code == 429 and last.json() == {"error": "Too many requests"}
    assert 1 <= int(last.headers["retry-after"]) <= 60
    assert not any(k.lower().startswith("x-ratelimit") for k in last.headers)
    other = httpx.post(f"{emu.inference_url}/chat/completions", headers=auth(emu, "pro"), json=CHAT)
    assert other.status_code == 200  # per key
    emu.set_faults()
    assert httpx.post(f"{emu.inference_url}/chat/completions", headers=headers, json=CHAT).status_code == 200


def test_set_faults_replaces(emu: RunningEmulator) -> None:
    emu.set_faults(Fault("http_5xx"), Fault("latency", ms=1))
    assert models(emu).status_code == 502
    emu.set_faults(Fault("non_json"))
    assert models(emu).status_code == 200 and models(emu).headers["content-type"] == "application/json"
    emu.set_faults()
    assert models(emu).json()["data"]


def test_config_faults_apply_from_start() -> None:
    with run_emulator(EmulatorConfig(faults=(Fault("http_5xx", status=500),))) as emu:
        assert models(emu).status_code == 500
