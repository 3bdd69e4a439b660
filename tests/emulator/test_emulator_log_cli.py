"""The request log records what happened and never a key; the CLI writes a 0600 dotenv, prints no key."""

from __future__ import annotations

import logging
import os
import random
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from testkey_nb.cli.emulator import write_keys_file
from testkey_nb.emulator import EmulatorConfig, Fault, RequestLogEntry, run_emulator

REPO = Path(__file__).resolve().parents[2]
CHAT = {"model": "openai/gpt-oss-120b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
UNKNOWN = "b10_Unknown9.ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"


def test_log_records_requests_and_cost_classes() -> None:
    with run_emulator(EmulatorConfig(seed=2)) as emu:
        k = emu.keys
        bearer = {"Authorization": f"Bearer {k['full-access']}"}
        httpx.get(f"{emu.inference_url}/models", headers={"Authorization": f"Api-Key {k['personal']}"})
        httpx.post(f"{emu.inference_url}/chat/completions", headers=bearer,
                   json={"model": "openai/gpt-oss-120b", "messages": []})
        httpx.post(f"{emu.inference_url}/chat/completions", headers=bearer, json=CHAT)
        httpx.post(f"{emu.inference_url}/chat/completions", json=CHAT)
        httpx.post(f"{emu.inference_url}/chat/completions", headers={"Authorization": f"Bearer {UNKNOWN}"}, json=CHAT)
        httpx.get(f"{emu.management_url}/users/me", headers={"Authorization": f"Bearer {k['revoked']}"})
        httpx.post(f"{emu.management_url}/api_keys", headers=bearer, json={"type": "PERSONAL"})
        httpx.delete(f"{emu.management_url}/api_keys/b10_AbCd1234", headers=bearer)
        httpx.get(f"{emu.fault_url('impostor_openai', 'http_502')}/models", headers=bearer)
        log = emu.request_log()
        assert all(isinstance(e, RequestLogEntry) for e in log)
        rows = [(e.method, e.host_role, e.path, e.status, e.auth_scheme, e.key_label, e.fault, e.cost) for e in log]
        assert rows == [
            ("GET", "inference", "/v1/models", 200, "Api-Key", "personal", None, "read"),
            ("POST", "inference", "/v1/chat/completions", 400, "Bearer", "full-access", None, "rejected"),
            ("POST", "inference", "/v1/chat/completions", 200, "Bearer", "full-access", None, "billable"),
            ("POST", "inference", "/v1/chat/completions", 403, None, None, None, "rejected"),
            ("POST", "inference", "/v1/chat/completions", 403, "Bearer", "unknown", None, "rejected"),
            ("GET", "management", "/v1/users/me", 401, "Bearer", "revoked", None, "read"),
            ("POST", "management", "/v1/api_keys", 405, "Bearer", "full-access", None, "write"),
            ("DELETE", "management", "/v1/api_keys/b10_AbCd1234", 405, "Bearer", "full-access", None, "write"),
            ("GET", "impostor_openai", "/v1/models", 502, "Bearer", "full-access", "http_502", "read"),
        ]
        with pytest.raises(AttributeError):
            log[0].status = 1  # type: ignore[misc]
        emu.clear_log()
        assert emu.request_log() == []


def test_no_key_anywhere_in_log_or_output(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    canary = "b10_Canary77.SECRETSECRETSECRETSECRETSECRET12"
    with run_emulator(EmulatorConfig(seed=9)) as emu:
        emu.add_key(canary, "pro")
        keys = [*emu.keys.values(), canary, UNKNOWN]
        urls = [emu.inference_url, emu.management_url, emu.impostor_openai_url, emu.impostor_openai_headers_url,
                emu.fault_url("inference", "http_500"), emu.fault_url("management", "truncated_json")]
        with httpx.Client() as client:
            for key in keys:
                for scheme in ("Bearer", "Api-Key"):
                    headers = {"Authorization": f"{scheme} {key}"}
                    for base in urls[:2] if scheme == "Api-Key" else urls:
                        client.get(f"{base}/models", headers=headers)
                        client.get(f"{base}/users/me", headers=headers)
                        client.post(f"{base}/chat/completions", headers=headers, json=CHAT)
                    client.post(f"{emu.inference_url}/chat/completions", headers=headers, content=b"{not json")
        emu.set_faults(Fault("waf_html"))
        httpx.get(f"{emu.inference_url}/models", headers={"Authorization": f"Bearer {canary}"})
        dump = repr(emu.request_log()) + repr(emu) + str(emu.request_log())
        assert len(emu.request_log()) > 100
    out, err = capfd.readouterr()
    for key in keys:
        secret = key.split(".")[1]
        for haystack in (dump, caplog.text, out, err):
            assert key not in haystack
            assert secret not in haystack


def _free_base_port() -> int:
    for _ in range(50):
        base = random.randint(20000, 60000)
        socks = []
        try:
            for offset in range(4):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")


def _written(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0


def test_cli_writes_private_dotenv_and_prints_no_key(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.env"
    for _attempt in range(3):
        base = _free_base_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "testkey_nb.emulator", "--port", str(base), "--keys-out", str(keys_file)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 20
        while proc.poll() is None and not _written(keys_file) and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is None:
            break
        proc.communicate()
    else:
        pytest.fail("the emulator CLI did not start")
    try:
        assert keys_file.exists()
        assert stat.S_IMODE(os.stat(keys_file).st_mode) == 0o600
        sourced = subprocess.run(["bash", "-c", f"source {keys_file} && env"], capture_output=True, text=True,
                                 check=True).stdout  # fmt: skip
        env = {k: v for k, _, v in (line.partition("=") for line in sourced.splitlines()) if k.startswith("DEMO_")}
        assert "DEMO_FULL_ACCESS" in env and "DEMO_OLD_FORMAT" in env and "DEMO_RATE_LIMITED" in env
        assert re.fullmatch(r"b10_[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}", env["DEMO_FULL_ACCESS"])
        assert re.fullmatch(r"[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}", env["DEMO_OLD_FORMAT"])
        env["FULL_ACCESS"] = env["DEMO_FULL_ACCESS"]
        r = None
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"http://127.0.0.1:{base}/v1/models",
                              headers={"Authorization": f"Bearer {env['FULL_ACCESS']}"})
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        assert r is not None and r.status_code == 200
        mgmt = httpx.get(f"http://127.0.0.1:{base + 1}/v1/users/me",
                         headers={"Authorization": f"Bearer {env['FULL_ACCESS']}"})
        assert mgmt.status_code == 200
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{base}/v1" in out and f"http://127.0.0.1:{base + 1}/v1" in out
    assert "DEMO_FULL_ACCESS" in out and "full-access" in out and "WORKSPACE_MANAGE_ALL" in out
    assert f"source {keys_file}" in out and f"testkey-nb lab --keys-env {keys_file}" in out and "b10_" not in out
    assert "testkey-nb probe env:DEMO_FULL_ACCESS --base-url http://127.0.0.1:" in out
    for key in env.values():
        assert key not in out and key not in err
        assert key.split(".")[1] not in out + err


def test_keys_file_refuses_loose_existing_file(tmp_path: Path) -> None:
    loose = tmp_path / "loose.env"
    loose.write_text("OLD=1\n")
    loose.chmod(0o644)
    with pytest.raises(PermissionError):
        write_keys_file(loose, {"full-access": "b10_x.y"})
    assert loose.read_text() == "OLD=1\n"
    tight = tmp_path / "tight.env"
    tight.write_text("OLD=1\n")
    tight.chmod(0o600)
    write_keys_file(tight, {"full-access": "b10_x.y", "no-credits": "b10_z.w"})
    assert tight.read_text() == "export DEMO_FULL_ACCESS='b10_x.y'\nexport DEMO_NO_CREDITS='b10_z.w'\n"
    assert stat.S_IMODE(os.stat(tight).st_mode) == 0o600
    link = tmp_path / "link.env"
    link.symlink_to(tight)
    with pytest.raises(PermissionError):
        write_keys_file(link, {"full-access": "b10_x.y"})
