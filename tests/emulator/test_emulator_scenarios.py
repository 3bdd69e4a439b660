"""Every scenario answers as specified: key types, scopes, tiers, lifecycle, usage, billing states."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from testkey_nb.emulator import SCENARIOS, EmulatorConfig, RunningEmulator, run_emulator

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
BAD_KEY = b'{"error":"please check the api-key you provided"}\n'
NEW_KEY = re.compile(r"b10_[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}")
OLD_KEY = re.compile(r"[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}")
LLAMA = "meta-llama/Meta-Llama-3.1-8B-Instruct"
CHAT = {"model": "openai/gpt-oss-120b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
MGMT_READS = ["/users/me", "/api_keys", "/model_apis",
              "/billing/usage_summary?start_date=2026-11-01&end_date=2026-11-20", "/models",
              "/models/7wl3kx0q/deployments", "/instance_types", "/instance_type_prices"]
approx = pytest.approx


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with run_emulator(EmulatorConfig(seed=5, now=NOW)) as running:
        yield running


def auth(emu: RunningEmulator, label: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {emu.keys[label]}"}


def mget(emu: RunningEmulator, label: str, path: str) -> httpx.Response:
    return httpx.get(f"{emu.management_url}{path}", headers=auth(emu, label))


def chat(emu: RunningEmulator, label: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.post(f"{emu.inference_url}/chat/completions", headers=auth(emu, label), json=body or CHAT)


def window(days_back: int, length: int) -> str:
    start = (NOW - timedelta(days=days_back)).replace(hour=0, minute=0, second=0)
    end = start + timedelta(days=length)
    return f"?start_date={start.isoformat().replace('+00:00', 'Z')}&end_date={end.isoformat().replace('+00:00', 'Z')}"


def test_scenario_labels_and_key_shapes(emu: RunningEmulator) -> None:
    assert set(emu.keys) == set(SCENARIOS) == {
        "full-access", "personal", "inference-scoped", "metrics-only", "revoked", "invalid", "old-format",
        "basic-unverified", "pro", "lifecycle", "no-credits", "rate-limited",
    }
    for label, key in emu.keys.items():
        assert (OLD_KEY if label == "old-format" else NEW_KEY).fullmatch(key), label
    assert len(set(emu.keys.values())) == len(emu.keys)


def test_seed_makes_keys_reproducible() -> None:
    with run_emulator(EmulatorConfig(seed=5, now=NOW)) as a, run_emulator(EmulatorConfig(seed=6)) as b:
        with run_emulator(EmulatorConfig(seed=5)) as c:
            assert a.keys == c.keys
        assert a.keys != b.keys


@pytest.mark.parametrize(
    ("label", "key_type", "workspace", "email"),
    [
        ("full-access", "WORKSPACE_MANAGE_ALL", "acme-ml", "grace@example.com"),
        ("personal", "PERSONAL", "acme-ml", "ada@example.com"),
        ("old-format", "WORKSPACE_MANAGE_ALL", "acme-ml", "ada@example.com"),
        ("basic-unverified", "PERSONAL", "solo-dev", "sam@example.com"),
        ("pro", "WORKSPACE_MANAGE_ALL", "bigco-ai", "pat@bigco.example"),
        ("lifecycle", "WORKSPACE_MANAGE_ALL", "lifecycle-lab", "lin@lifecycle.example"),
        ("no-credits", "WORKSPACE_MANAGE_ALL", "broke-startup", "founder@broke.example"),
        ("rate-limited", "WORKSPACE_MANAGE_ALL", "busy-bee", "bee@busy.example"),
    ],
)
def test_identity_and_own_key_type(emu: RunningEmulator, label: str, key_type: str, workspace: str,
                                   email: str) -> None:
    me = mget(emu, label, "/users/me")
    assert me.status_code == 200
    assert me.json()["workspace_name"] == workspace and me.json()["email"] == email
    assert set(me.json()) == {"user_id", "email", "name", "workspace_name"}
    keys = mget(emu, label, "/api_keys").json()["keys"]
    prefix = emu.keys[label].split(".")[0]
    mine = [k for k in keys if k["prefix"] == prefix]
    assert len(mine) == 1 and mine[0]["type"] == key_type
    assert "model_ids" not in mine[0]
    for k in keys:
        assert set(k) <= {"prefix", "name", "type", "model_ids", "team_name"}
        assert ("model_ids" in k) == (k["type"] in ("WORKSPACE_EXPORT_METRICS", "WORKSPACE_INVOKE"))
    if label == "old-format":
        assert re.fullmatch(r"[A-Za-z0-9]{8}", prefix)
    else:
        assert re.fullmatch(r"b10_[A-Za-z0-9]{8}", prefix)


def test_scoped_keys_listed_with_model_ids(emu: RunningEmulator) -> None:
    keys = {k["prefix"]: k for k in mget(emu, "full-access", "/api_keys").json()["keys"]}
    scoped = keys[emu.keys["inference-scoped"].split(".")[0]]
    assert scoped["type"] == "WORKSPACE_INVOKE" and scoped["model_ids"] == [LLAMA]
    metrics = keys[emu.keys["metrics-only"].split(".")[0]]
    assert metrics["type"] == "WORKSPACE_EXPORT_METRICS" and metrics["model_ids"] == ["7wl3kx0q"]
    assert emu.keys["revoked"].split(".")[0] not in keys


def test_inference_scoped(emu: RunningEmulator) -> None:
    for path in MGMT_READS:
        r = mget(emu, "inference-scoped", path)
        assert r.status_code == 403, path
        assert set(r.json()) == {"error"}
    models = httpx.get(f"{emu.inference_url}/models", headers=auth(emu, "inference-scoped"))
    data = models.json()["data"]
    assert [m["id"] for m in data] == [LLAMA]
    full = httpx.get(f"{emu.inference_url}/models", headers=auth(emu, "full-access")).json()["data"]
    assert set(data[0]) == set(full[0])
    assert float(data[0]["pricing"]["prompt"]) * 1e6 == approx(0.18)
    assert float(data[0]["pricing"]["completion"]) * 1e6 == approx(0.18)
    assert data[0]["context_length"] == 128000
    ok = chat(emu, "inference-scoped", {**CHAT, "model": LLAMA})
    assert ok.status_code == 200 and ok.json()["model"] == LLAMA
    refused = chat(emu, "inference-scoped")
    assert refused.status_code == 403 and refused.content == BAD_KEY


def test_metrics_only(emu: RunningEmulator) -> None:
    assert httpx.get(f"{emu.inference_url}/models", headers=auth(emu, "metrics-only")).content == BAD_KEY
    assert chat(emu, "metrics-only").status_code == 403
    for path in ("/users/me", "/api_keys", "/model_apis", "/billing/usage_summary" + window(10, 5)):
        r = mget(emu, "metrics-only", path)
        assert r.status_code == 403 and "error" in r.json(), path
    models = mget(emu, "metrics-only", "/models").json()["models"]
    assert [m["id"] for m in models] == ["7wl3kx0q"]
    assert mget(emu, "metrics-only", "/models/7wl3kx0q/deployments").status_code == 200
    assert mget(emu, "metrics-only", "/models/31xyz8mq").status_code == 404
    assert mget(emu, "metrics-only", "/instance_types").status_code == 200
    assert mget(emu, "metrics-only", "/instance_type_prices").status_code == 200


@pytest.mark.parametrize("label", ["revoked", "invalid"])
def test_revoked_and_invalid_are_unknown_keys(emu: RunningEmulator, label: str) -> None:
    r = mget(emu, label, "/users/me")
    assert r.status_code == 401 and set(r.json()) == {"error"}
    assert chat(emu, label).content == BAD_KEY
    nokey = httpx.get(f"{emu.management_url}/users/me")
    assert nokey.status_code == 401


@pytest.mark.parametrize(
    ("label", "rpm", "tpm"),
    [("full-access", 120, 500_000), ("basic-unverified", 15, 100_000), ("pro", 120, 1_000_000),
     ("lifecycle", 120, 500_000)],
)
def test_model_apis_rate_limits_follow_tier(emu: RunningEmulator, label: str, rpm: int, tpm: int) -> None:
    body = mget(emu, label, "/model_apis").json()
    assert body["pagination"] == {"has_more": False, "cursor": None}
    catalog = httpx.get(f"{emu.inference_url}/models", headers=auth(emu, "full-access")).json()["data"]
    assert len(body["items"]) == len(catalog)
    required = {"name", "display_name", "description", "release_date", "invoke_url", "context_length",
                "cost_per_million_input_tokens", "cost_per_million_output_tokens", "rate_limits"}
    for item in body["items"]:
        assert required <= set(item)
        assert re.fullmatch(r"[a-z0-9-]+", item["name"])
        limits = {(lim["type"], lim["unit"]): lim["threshold"] for lim in item["rate_limits"]}
        assert limits == {("REQUEST", "MINUTE"): rpm, ("TOKEN", "MINUTE"): tpm}
    gpt = next(i for i in body["items"] if i["display_name"] == "OpenAI GPT 120B")
    assert gpt["cost_per_million_input_tokens"] == "0.10" and gpt["cost_per_million_output_tokens"] == "0.50"
    added = mget(emu, label, "/model_apis?added_only=true").json()["items"]
    assert all(i["org_details"] is not None for i in added)


def test_lifecycle_deployments(emu: RunningEmulator) -> None:
    models = mget(emu, "lifecycle", "/models").json()["models"]
    deployments = []
    for m in models:
        assert set(m) == {"id", "created_at", "name", "deployments_count", "production_deployment_id",
                          "development_deployment_id", "instance_type_name", "team_name"}
        deps = mget(emu, "lifecycle", f"/models/{m['id']}/deployments").json()["deployments"]
        assert len(deps) == m["deployments_count"]
        deployments += deps
    by_status: dict[str, list[dict[str, Any]]] = {}
    for d in deployments:
        by_status.setdefault(d["status"], []).append(d)
        assert d["instance_type_name"]
        if d["status"] == "BUILDING":
            assert d["autoscaling_settings"] is None
        else:
            a = d["autoscaling_settings"]
            assert (a["autoscaling_window"], a["scale_down_delay"], a["concurrency_target"],
                    a["target_utilization_percentage"]) == (60, 900, 1, 70)
    assert {"ACTIVE", "SCALED_TO_ZERO", "BUILDING", "DEPLOY_FAILED"} <= set(by_status)
    assert any(d["autoscaling_settings"]["min_replica"] == 1 for d in by_status["ACTIVE"] if not d["is_development"])
    assert all(d["autoscaling_settings"]["min_replica"] == 0 for d in by_status["SCALED_TO_ZERO"])
    assert any(d["is_development"] for d in deployments)
    prod = next(m for m in models if m["name"] == "prod-llm")
    assert mget(emu, "lifecycle", f"/models/{prod['id']}/deployments/production").json()["is_production"]
    assert mget(emu, "lifecycle", f"/models/{prod['id']}/deployments/development").json()["is_development"]


def test_lifecycle_usage_is_consistent(emu: RunningEmulator) -> None:
    prices = {p["instance_type"]["name"]: p["price"]
              for p in mget(emu, "lifecycle", "/instance_type_prices").json()["instance_types"]}
    assert prices["T4x4x16"] == 0.01052 and prices["H100"] == 0.10833 and prices["B200"] == 0.16633
    statuses = {}
    for m in mget(emu, "lifecycle", "/models").json()["models"]:
        for d in mget(emu, "lifecycle", f"/models/{m['id']}/deployments").json()["deployments"]:
            statuses[d["id"]] = d
    summary = mget(emu, "lifecycle", "/billing/usage_summary" + window(30, 31)).json()
    assert summary["training_usage"] is None
    ded = summary["dedicated_usage"]
    billed = {item["billable_resource"]["id"] for item in ded["breakdown"]}
    assert not any(statuses[i]["is_development"] for i in billed)  # development deployments are not billed
    total = 0.0
    for item in ded["breakdown"]:
        res = item["billable_resource"]
        assert res["kind"] == "MODEL_DEPLOYMENT" and res["is_deleted"] is False
        price = prices[res["instance_type"]]
        assert item["minutes"] == sum(d["minutes"] for d in item["daily"])
        assert item["inference_requests"] == sum(d["inference_requests"] for d in item["daily"])
        assert item["subtotal"] == approx(item["minutes"] * price)
        for day in item["daily"]:
            assert day["subtotal"] == approx(day["minutes"] * price)
        total += item["subtotal"]
        if statuses[res["id"]]["status"] == "ACTIVE":
            assert item["minutes"] >= 30 * 1440  # min_replica 1: up all day
    assert ded["total"] == approx(total)
    assert ded["minutes"] == sum(i["minutes"] for i in ded["breakdown"])
    assert ded["subtotal"] == approx(ded["total"] - ded["credits_used"])
    failed = [i for i in ded["breakdown"] if statuses[i["billable_resource"]["id"]]["status"] == "DEPLOY_FAILED"]
    assert all(i["minutes"] <= 10 and len(i["daily"]) == 1 for i in failed)  # builder only, boot not billed
    apis = summary["model_apis_usage"]
    assert apis["breakdown"] and apis["total"] == approx(sum(i["subtotal"] for i in apis["breakdown"]))
    for item in apis["breakdown"]:
        for field in ("input_tokens", "output_tokens", "cached_input_tokens"):
            assert item[field] == sum(d[field] for d in item["daily"])
    early = mget(emu, "lifecycle", "/billing/usage_summary" + window(40, 10)).json()
    credits = early["dedicated_usage"]["credits_used"] + early["model_apis_usage"]["credits_used"]
    assert 0 < credits <= 100


def test_usage_is_deterministic() -> None:
    path = "/billing/usage_summary" + window(20, 14)
    bodies = []
    for seed in (1, 2):
        with run_emulator(EmulatorConfig(seed=seed, now=NOW)) as e:
            bodies.append(mget(e, "lifecycle", path).json())
    assert bodies[0] == bodies[1]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?start_date=2026-11-01T00:00:00Z",
        "?start_date=2026-09-01T00:00:00Z&end_date=2026-10-15T00:00:00Z",
        "?start_date=2025-12-20T00:00:00Z&end_date=2026-01-05T00:00:00Z",
        "?start_date=2026-11-10T00:00:00Z&end_date=2026-11-01T00:00:00Z",
        "?start_date=yesterday&end_date=today",
    ],
)
def test_usage_summary_refuses_bad_ranges(emu: RunningEmulator, query: str) -> None:
    r = mget(emu, "full-access", "/billing/usage_summary" + query)
    assert r.status_code == 400 and isinstance(r.json()["error"], str)


def test_usage_summary_allows_exactly_31_days(emu: RunningEmulator) -> None:
    r = mget(emu, "full-access", "/billing/usage_summary?start_date=2026-10-01T00:00:00Z&end_date=2026-11-01T00:00:00Z")
    assert r.status_code == 200
    assert {"dedicated_usage", "training_usage", "model_apis_usage"} == set(r.json())


def test_no_credits_workspace_gets_402(emu: RunningEmulator) -> None:
    r = chat(emu, "no-credits")
    assert r.status_code == 402 and set(r.json()) == {"error"}
    empty = chat(emu, "no-credits", {"model": "openai/gpt-oss-120b", "messages": []})
    assert empty.status_code == 402
    assert httpx.get(f"{emu.inference_url}/models", headers=auth(emu, "no-credits")).status_code == 200
    deps = mget(emu, "no-credits", "/models/d3m0b0t1/deployments").json()["deployments"]
    assert deps[0]["status"] == "INACTIVE"
    summary = mget(emu, "no-credits", "/billing/usage_summary" + window(30, 31)).json()
    credits = summary["dedicated_usage"]["credits_used"] + summary["model_apis_usage"]["credits_used"]
    assert credits == approx(30.0)


def test_rate_limited_workspace_gets_429(emu: RunningEmulator) -> None:
    r = chat(emu, "rate-limited")
    assert r.status_code == 429 and set(r.json()) == {"error"}
    assert r.headers["retry-after"] == "2"
    assert not any(k.lower().startswith("x-baseten") for k in r.headers)


def test_pro_and_basic_unverified_chat_work(emu: RunningEmulator) -> None:
    for label in ("pro", "basic-unverified", "personal", "old-format", "lifecycle"):
        assert chat(emu, label).status_code == 200, label


def test_add_key_registers_a_canary(emu: RunningEmulator) -> None:
    canary = "b10_Canary01.abcdefghijklmnopqrstuvwxyz012345"
    emu.add_key(canary, "full-access")
    r = httpx.get(f"{emu.inference_url}/models", headers={"Authorization": f"Api-Key {canary}"})
    assert r.status_code == 200
    keys = httpx.get(f"{emu.management_url}/api_keys", headers={"Authorization": f"Bearer {canary}"}).json()["keys"]
    assert any(k["prefix"] == "b10_Canary01" for k in keys)
    assert emu.request_log()[-1].key_label == "full-access"
    with pytest.raises(ValueError):
        emu.add_key("x", "no-such-scenario")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api_keys"),
        ("DELETE", "/api_keys/b10_AbCd1234"),
        ("PATCH", "/models/7wl3kx0q/deployments/w3n8k2p/autoscaling_settings"),
        ("POST", "/models/7wl3kx0q/deployments/w3n8k2p/activate"),
        ("POST", "/models/7wl3kx0q/deployments/production/deactivate"),
        ("POST", "/secrets"),
        ("DELETE", "/models/7wl3kx0q"),
    ],
)
def test_write_endpoints_refused_and_logged(emu: RunningEmulator, method: str, path: str) -> None:
    before = mget(emu, "full-access", "/api_keys").json()
    emu.clear_log()
    r = httpx.request(method, f"{emu.management_url}{path}", headers=auth(emu, "full-access"), json={})
    assert r.status_code == 405 and "error" in r.json()
    entry = emu.request_log()[-1]
    assert (entry.method, entry.host_role, entry.path, entry.cost) == (method, "management", f"/v1{path}", "write")
    assert mget(emu, "full-access", "/api_keys").json() == before
