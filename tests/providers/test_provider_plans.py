"""Every provider, from its documented answers (tests/providers/<id>/answers.yaml) served by a MockTransport,
against the golden result written by hand from the same docs (tests/providers/<id>/golden.json)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from documented import PROVIDERS, Documented, key_for

from testkey_nb.check.evidence import uncited_figures
from testkey_nb.check.result import CheckOptions, KeyCheck
from testkey_nb.check.run import check_key_async
from testkey_nb.secrets import Secret

HERE = Path(__file__).parent
CASES = [(p, m) for p in PROVIDERS for m in Documented.load(p).modes]


def _golden(provider: str, mode: str) -> dict[str, Any]:
    return dict(json.loads((HERE / provider / "golden.json").read_text(encoding="utf-8"))[mode])


def _marked(cases: list[tuple[str, str]]) -> list[Any]:
    """A golden that names behaviour the code does not have yet carries ``xfail``: the reason names it (issue 19:
    the new status_reason values, HTTP-200 error envelopes, money unit scales; see providers/NOTES-19.md)."""
    return [pytest.param(p, m, marks=pytest.mark.xfail(strict=True, reason=_golden(p, m)["xfail"]))
            if "xfail" in _golden(p, m) else (p, m) for p, m in cases]  # fmt: skip


def run(provider: str, mode: str, **opts: Any) -> tuple[KeyCheck, Documented]:
    doc = Documented.load(provider)
    if doc.data.get("no_default_host"):  # Azure: every resource has its own host, named by the user
        opts.setdefault("base_url", doc.base_url)
    options = CheckOptions(timeout_s=3.0, deadline_s=5.0, **({"claim": provider} | opts))
    check = asyncio.run(check_key_async(Secret(key_for(provider, mode)), options, transport=doc.transport()))
    return check, doc


@pytest.fixture(scope="module")
def checks() -> dict[tuple[str, str], KeyCheck]:
    return {(p, m): run(p, m)[0] for p, m in CASES}


@pytest.mark.parametrize(("provider", "mode"), _marked(CASES))
def test_documented_answers_read_as_the_golden_says(checks: dict[tuple[str, str], KeyCheck], provider: str,
                                                    mode: str) -> None:  # fmt: skip
    golden = _golden(provider, mode)
    check = checks[(provider, mode)]
    data = check.to_json()
    assert data["provider"]["id"] == golden.get("provider", provider)
    assert data["status"] == golden["status"], data["status_detail"]
    if "status_reason" in golden:
        assert data["status_reason"] == golden["status_reason"], data["status_detail"]
    assert data["metrics"]["key_valid"] is golden["key_valid"]
    if "key_valid_probe" in golden:
        assert data["provenance"]["key_valid"]["probe"] == golden["key_valid_probe"]
    if "models" in golden:
        assert [m["model"] for m in data["models"]] == golden["models"]
    for name, want in (golden.get("identity") or {}).items():
        assert data["identity"][name] == want, name
    # exchange ids follow the order answers came back in: the goldens leave them out, and each is checked to
    # be an answered exchange of the probe the figure names
    probe_of = {p["exchange"]: p["probe"] for p in data["probes"] if p["exchange"] and p["status"] is not None}
    if "balance" in golden:
        assert _no_exchange(data["balance"]) == golden["balance"]
    if "balances" in golden:
        assert [_no_exchange(b) for b in data["balances"]] == golden["balances"]
    for bal in data["balances"]:
        assert probe_of[bal["exchange"]] == bal["probe"], bal
    if "limits" in golden:
        assert [_no_exchange(lim) for lim in data["limits"]] == golden["limits"]
    for lim in data["limits"]:
        assert lim["provenance"] == "documented" or lim["exchange"] in probe_of, lim
    if "tokens_limit" in golden:
        assert data["metrics"]["tokens_limit"] == golden["tokens_limit"]
    if "token_role" in golden:
        assert data["metrics"]["token_role"] == golden["token_role"]
    caps = {c["capability"]: c["status"] for c in data["capabilities"]}
    for name, want in (golden.get("capabilities") or {}).items():
        assert caps[name] == want, (name, [c for c in data["capabilities"] if c["capability"] == name])
    rows = {m["model"]: m for m in data["models"]}
    for model, ctx in (golden.get("context") or {}).items():
        assert rows[model]["context_length"] == ctx
    for model, price in (golden.get("price_in") or {}).items():
        assert rows[model]["price_in_per_mtok"] == price
    # the same JSON shapes reach the fleet index row
    summary = check.summary()
    assert (summary["identity"], summary["balance"], summary["limits"]) == (data["identity"], data["balance"],
                                                                            data["limits"])  # fmt: skip


ROUTE_CASES = [(p, r) for p in PROVIDERS for r in Documented.load(p).data.get("hosts") or {}
               if f"valid@{r}" in json.loads((HERE / p / "golden.json").read_text(encoding="utf-8"))]  # fmt: skip


@pytest.mark.parametrize(("provider", "route"), _marked([(p, f"valid@{r}") for p, r in ROUTE_CASES]))
def test_each_route_host_reads_as_the_golden_says(provider: str, route: str) -> None:
    """A regional provider's valid key read on each route's host (issue 19: provider.route, the currency by region)."""
    doc = Documented.load(provider)
    check, doc = run(provider, "valid", base_url=doc.data["hosts"][route.split("@", 1)[1]])
    golden = _golden(provider, route)
    data = check.to_json()
    assert data["provider"]["id"] == provider
    assert data["status"] == golden["status"] and data["metrics"]["key_valid"] is golden["key_valid"]
    if "models" in golden:
        assert [m["model"] for m in data["models"]] == golden["models"]
    if "balance" in golden:
        assert _no_exchange(data["balance"]) == golden["balance"]
    assert data["provider"].get("route") == golden["route"]
    assert {urlsplit(doc.data["hosts"][route.split("@", 1)[1]]).hostname} == doc.hosts


@pytest.mark.parametrize(("provider", "mode"), CASES)
def test_every_figure_cites_a_request_that_was_sent(checks: dict[tuple[str, str], KeyCheck], provider: str,
                                                    mode: str) -> None:  # fmt: skip
    assert uncited_figures(checks[(provider, mode)]) == []


def test_no_balance_endpoint_is_unsupported_never_unknown(checks: dict[tuple[str, str], KeyCheck]) -> None:
    from testkey_nb.identify.loader import load_registry

    # providers whose plan reads a balance (provider.toml [[endpoints]] reads "balance"): a refused key is
    # "denied" there, not "unsupported"
    registry = load_registry()
    with_balance = {p.id for p in registry.providers if any("balance" in e.reads for e in p.endpoints)}
    assert {"openrouter", "deepseek", "moonshot", "novita", "hyperbolic", "siliconflow", "deepinfra"} <= with_balance
    for check in checks.values():
        balance = next(c for c in check.profile.capabilities if c.name == "balance")
        pid = check.identification.provider
        if check.profile.balance is None and pid not in with_balance | {"unknown"}:
            assert balance.status == "unsupported", (pid, balance)
            if registry.get(pid).capability("balance").status == "partial":
                # a partial balance (shown in part, or where this plan does not read) is never worded as if no
                # endpoint existed (issue 19 #20)
                assert "no read-only balance endpoint" not in balance.evidence, (pid, balance)
                assert "not read by this plan" in balance.evidence, (pid, balance)
            else:
                assert "no read-only balance endpoint" in balance.evidence, (pid, balance)


@pytest.mark.parametrize(("provider", "other"), [("anthropic", "openai"), ("openai", "anthropic"),
                                                 ("groq", "anthropic")])  # fmt: skip
def test_a_valid_key_in_the_wrong_scheme_is_never_called_invalid(provider: str, other: str) -> None:
    """On a host that names no provider, the first stage may go in another provider's scheme: identification
    settles the scheme, the key is read again in the right one, and only that reading judges it."""
    base = "https://llm-gateway.example.com" + _base_path(Documented.load(provider))
    check, doc = run(provider, "valid", claim=other, base_url=base)
    assert check.identification.provider == provider
    assert check.profile.status.code == "valid"
    assert check.profile.metric_values()["key_valid"] is True
    auths = {a for _, _, a, _ in doc.log}
    assert "wrong-scheme" in auths and "key" in auths
    first = [o for o in check.observations if o.probe == "catalog"]
    assert len(first) == 2 and first[0].auth != first[1].auth
    # the key went only to the host the user named
    assert doc.hosts == {"llm-gateway.example.com"}


def test_a_bare_url_of_an_unknown_provider_does_not_call_a_refused_key_invalid() -> None:
    check, _ = run("anthropic", "bad-key", claim=None, base_url="https://llm-gateway.example.com/v1",
                   auth_scheme=None)  # fmt: skip
    # the typed error envelope names Anthropic: the scheme is settled and the bad key is invalid
    assert check.identification.provider == "anthropic"
    assert check.profile.status.code == "invalid"


def _no_exchange(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else {k: v for k, v in value.items() if k != "exchange"}


def _base_path(doc: Documented) -> str:
    from urllib.parse import urlsplit

    return urlsplit(doc.base_url).path
