"""Adding a provider is adding a folder: a fixture registry root with one more provider is identified,
probed with its own plan and scheme, and interpreted by its own interpret.py, with no code change."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import httpx

import testkey_nb
from testkey_nb.check.facts import parse_reset_seconds
from testkey_nb.check.result import CheckOptions
from testkey_nb.check.run import check_key_async
from testkey_nb.identify.loader import load_registry
from testkey_nb.identify.schema import CAPABILITIES
from testkey_nb.secrets import Secret

PACKAGE = Path(testkey_nb.__file__).parent
KEY = "acme_0123456789abcdefghij"

PROVIDER = """id = "acme"
display_name = "Acme Inference"
inference_base_url = "https://api.acme.example/v1"

[auth]
header = "X-Acme-Key"
schemes = ["raw"]
extra_headers = { "acme-version" = "7" }

[[key_patterns]]
name = "acme"
regex = '^acme_[a-z0-9]{20}$'
weight = 3.0

[[fingerprints.headers]]
id = "x-acme-trace"
header = "x-acme-trace"
weight = 4.0
strength = "strong"
specific = true

[[endpoints]]
probe = "catalog"
path = "/v1/models"
authenticated = true
reads = ["models"]

[[endpoints]]
probe = "account"
path = "/v1/account"
authenticated = true
reads = ["identity", "balance"]

[[limit_headers]]
header = "x-acme-tpm"
scope = "tokens_per_minute"

[capabilities]
""" + "\n".join(f'{c} = {{ status = "supported" }}' for c in CAPABILITIES)

PLAN = """[[probe]]
name = "account"
role = "inference"
method = "GET"
path = "/account"
cost = "read"
proves = "who the key belongs to and what is left on it"
"""

INTERPRET = '''
from dataclasses import replace
from testkey_nb.check.facts import Balance, Identity, first_ok, header_facts

def interpret(observations, context):
    facts = header_facts(observations, context)
    obs = first_ok(observations, "account")
    if obs is None:
        return facts
    body = obs.json_body
    return replace(facts, identity=Identity(user=body["owner"], evidence="GET /account", probes=("account",)),
                   balance=Balance("EUR", float(body["left"]), None, None, None, "observed", "account"))
'''


def handler(request: httpx.Request) -> httpx.Response:
    ok = request.headers.get("x-acme-key") == KEY and request.headers.get("acme-version") == "7"
    if not ok:
        return httpx.Response(401, json={"error": "who are you"}, headers={"x-acme-trace": "t1"})
    headers = {"x-acme-trace": "t1", "x-acme-tpm": "90000"}
    if request.url.path == "/v1/models":
        return httpx.Response(200, json={"data": [{"id": "acme-1"}]}, headers=headers)
    if request.url.path == "/v1/account":
        return httpx.Response(200, json={"owner": "wile", "left": "12.50"}, headers=headers)
    return httpx.Response(400, json={"error": "messages must not be empty"}, headers=headers)


def test_a_new_provider_folder_is_identified_probed_and_interpreted(tmp_path: Path) -> None:
    root = tmp_path / "providers"
    shutil.copytree(PACKAGE / "providers", root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "acme").mkdir()
    (root / "acme" / "provider.toml").write_text(PROVIDER, encoding="utf-8")
    (root / "acme" / "probes.toml").write_text(PLAN, encoding="utf-8")
    (root / "acme" / "interpret.py").write_text(INTERPRET, encoding="utf-8")
    registry = load_registry(root)
    options = CheckOptions(base_url="https://api.acme.example/v1", timeout_s=3.0, deadline_s=5.0)
    check = asyncio.run(check_key_async(Secret(KEY), options, registry=registry,
                                        transport=httpx.MockTransport(handler)))  # fmt: skip
    data = check.to_json()
    assert data["provider"]["id"] == "acme"
    assert data["metrics"]["key_valid"] is True
    assert data["identity"]["user"] == "wile"
    # a balance set through the provider-neutral facts names the exchange it was read from (filled in by
    # check/facts.py) and the account scope by default
    (account,) = [p["exchange"] for p in data["probes"] if p["probe"] == "account" and p["status"] == 200]
    assert data["balance"] == {"scope": "account", "currency": "EUR", "remaining": 12.5, "granted": None,
                               "used": None, "limit": None, "provenance": "observed", "probe": "account",
                               "exchange": account}  # fmt: skip
    assert data["balances"] == [data["balance"]]
    answered = {p["exchange"]: p["probe"] for p in data["probes"] if p["status"] is not None}
    assert data["limits"] == [{"scope": "tokens_per_minute", "value": 90000, "provenance": "observed",
                               "source": data["limits"][0]["source"], "exchange": data["limits"][0]["exchange"]}]
    assert answered[data["limits"][0]["exchange"]] == data["limits"][0]["source"]
    judged = [o for o in check.observations if o.probe == "account"]
    assert judged and judged[0].auth == "X-Acme-Key" and judged[0].status == 200


def test_check_names_no_provider() -> None:
    """The check pipeline combines facts; everything provider-specific lives in providers/<id>/."""
    for path in sorted((PACKAGE / "check").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        names = r"baseten|anthropic|openrouter|deepseek|groq|cerebras|mistral|fireworks|deepinfra|hugging ?face"
        assert not re.search(names, text, re.I), path.name


def test_reset_dialects() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_reset_seconds("6m0s") == 360.0
    assert parse_reset_seconds("2m59.56s") == 179.56
    assert parse_reset_seconds("12ms") == 0.012
    assert parse_reset_seconds("1h2m3s") == 3723.0
    assert parse_reset_seconds("33011.382867") == 33011.382867
    assert parse_reset_seconds("2026-12-01T12:00:30Z", now) == 30.0
    assert parse_reset_seconds(str(int(now.timestamp() * 1000) + 5000), now) == 5.0
    assert parse_reset_seconds("soon") is None
