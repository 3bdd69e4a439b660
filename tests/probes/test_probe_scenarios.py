"""Every emulator scenario, probed over real HTTP: status, metrics, capabilities, verdict."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from testkey_nb.check.result import CheckOptions, KeyCheck
from testkey_nb.check.run import check_key_async
from testkey_nb.secrets import Secret

SCOPED_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct"


def run_check(emu: Any, label: str, **opts: Any) -> KeyCheck:
    options = CheckOptions(
        base_url=opts.pop("base_url", emu.inference_url),
        management_url=opts.pop("management_url", emu.management_url),
        timeout_s=opts.pop("timeout_s", 5.0),
        deadline_s=opts.pop("deadline_s", 30.0),
        **opts,
    )
    return asyncio.run(check_key_async(Secret(emu.keys[label]), options))


def caps(check: KeyCheck) -> dict[str, str]:
    return {c.name: c.status for c in check.profile.capabilities}


def actions(check: KeyCheck) -> list[str]:
    return [a.action for a in check.decision.actions]


@pytest.fixture(scope="module")
def checks(emu: Any) -> dict[str, KeyCheck]:
    labels = ["full-access", "personal", "inference-scoped", "metrics-only", "revoked", "invalid",
              "old-format", "basic-unverified", "pro", "lifecycle", "no-credits"]  # fmt: skip
    return {label: run_check(emu, label) for label in labels}


def test_full_access_key_is_ready(checks: dict[str, KeyCheck]) -> None:
    c = checks["full-access"]
    m = c.profile.metric_values()
    assert c.identification.provider == "baseten"
    assert c.identification.confidence >= 0.8
    assert c.profile.status.code == "valid"
    assert m["key_valid"] is True
    assert m["token_role"] == "full-access"
    assert m["token_scopes"] == ["*"]
    assert m["tokens_limit"] == 500_000
    assert c.profile.metrics["tokens_limit"].provenance == "observed"
    assert m["tokens_limit_day"] == 500_000 * 1440
    assert c.profile.metrics["tokens_limit_day"].provenance == "derived"
    assert isinstance(m["requests_total"], int)
    assert m["runtime_model"] in [r.model for r in c.profile.models]
    assert c.profile.metrics["runtime_model"].provenance == "derived"
    assert m["runtime_model_allowed"] is True
    # Baseten has no credit-balance endpoint (its management API lists none: provider.toml [capabilities]
    # balance: "no credit-balance endpoint"); a documented grant is not a balance
    assert caps(c)["balance"] == "unsupported"
    assert set(caps(c)) == {"balance", "key identity", "model catalog", "model permission matrix", "limit matrix",
                            "capability matrix", "usage and billing", "pricing", "routing", "operational actions"}
    for name in ("key identity", "model catalog", "model permission matrix", "limit matrix", "capability matrix",
                 "usage and billing", "pricing", "routing", "operational actions"):  # fmt: skip
        assert caps(c)[name] == "verified", name
    assert c.decision.verdict == "ready"
    for action in ("add provider config", "fill pricing", "import inventory", "set route", "add monitoring"):
        assert action in actions(c)
    assert "send to human review" not in actions(c)
    allowed = [r for r in c.profile.models if r.allowed]
    assert len(allowed) == len([r for r in c.profile.models if r.listed]) >= 10
    assert all(r.priced for r in allowed)
    route = next(a.reason for a in c.decision.actions if a.action == "set route")
    assert route == (f"route {allowed[0].model} (and the {len(allowed) - 1} other allowed models) to baseten, "
                     "500,000 TPM (observed)")  # fmt: skip


def test_personal_key(checks: dict[str, KeyCheck]) -> None:
    c = checks["personal"]
    assert c.profile.status.code == "valid"
    assert c.profile.metric_values()["token_role"] == "personal"
    assert c.profile.workspace.get("email")


def test_inference_only_scoped_key(checks: dict[str, KeyCheck]) -> None:
    c = checks["inference-scoped"]
    route = next(a.reason for a in c.decision.actions if a.action == "set route")
    assert route == "route meta-llama/Meta-Llama-3.1-8B-Instruct to baseten, limits unknown"  # one model: no "others"
    m = c.profile.metric_values()
    assert c.profile.status.code == "valid"
    assert m["token_role"] == "inference-only"
    assert m["token_scopes"] == [SCOPED_MODEL]
    assert m["runtime_model"] == SCOPED_MODEL
    assert m["runtime_model_allowed"] is True
    assert m["tokens_limit"] is None and c.profile.metrics["tokens_limit"].provenance == "unknown"
    assert caps(c)["key identity"] == "denied"
    assert caps(c)["usage and billing"] == "denied"
    assert caps(c)["model permission matrix"] == "verified"
    assert "import inventory" in actions(c)
    assert c.decision.verdict == "needs_work"  # limits are not readable with this key


def test_metrics_only_key(checks: dict[str, KeyCheck]) -> None:
    c = checks["metrics-only"]
    m = c.profile.metric_values()
    assert c.profile.status.code == "valid_not_scoped"
    assert m["key_valid"] is True
    assert m["token_role"] == "metrics-only"
    assert caps(c)["operational actions"] == "verified"
    assert c.decision.verdict == "reject"
    assert "add monitoring" in actions(c)


@pytest.mark.parametrize("label", ["revoked", "invalid"])
def test_refused_keys_are_rejected(checks: dict[str, KeyCheck], label: str) -> None:
    c = checks[label]
    assert c.identification.provider == "baseten"  # the 403 body alone identifies Baseten
    assert c.profile.status.code == "invalid"
    assert c.profile.metric_values()["key_valid"] is False
    assert c.decision.verdict == "reject"
    assert actions(c) == ["send to human review"]


def test_old_format_key(checks: dict[str, KeyCheck]) -> None:
    c = checks["old-format"]
    assert c.profile.status.code == "valid"
    assert c.profile.metric_values()["token_role"] == "full-access"


@pytest.mark.parametrize(("label", "rpm", "tpm"), [("basic-unverified", 15, 100_000), ("pro", 120, 1_000_000)])
def test_tiers(checks: dict[str, KeyCheck], label: str, rpm: int, tpm: int) -> None:
    c = checks[label]
    assert c.profile.metric_values()["tokens_limit"] == tpm
    assert {r.rpm for r in c.profile.models if r.listed} == {rpm}


def test_lifecycle_workspace_has_deployments_and_usage(checks: dict[str, KeyCheck]) -> None:
    c = checks["lifecycle"]
    statuses = {d.get("status") for d in c.profile.raw["deployments"]}
    assert {"ACTIVE", "SCALED_TO_ZERO", "BUILDING", "DEPLOY_FAILED"} <= statuses
    assert any(d.get("is_development") for d in c.profile.raw["deployments"])
    assert c.profile.raw["readable"]["usage"] == "readable"
    # requests_total is this key's own count (issue 21): the lifecycle key called no Model API itself,
    # while its workspace's dedicated deployments served requests (the usage summary, workspace-wide)
    total = c.profile.metrics["requests_total"]
    assert (total.value, total.provenance, total.probe) == (0, "observed", "model_api_usage")
    dedicated = c.profile.raw["usage"]["dedicated_usage"]["breakdown"]
    assert sum(int(b.get("inference_requests") or 0) for b in dedicated) > 0


def test_no_credits_workspace(checks: dict[str, KeyCheck]) -> None:
    c = checks["no-credits"]
    assert c.profile.status.code == "valid_no_quota"
    # the per-model checks go in one wave with the auth check: each is refused with 402
    assert {o.outcome for o in c.observations if o.probe == "permission_matrix"} == {"payment_required"}
    assert c.decision.verdict == "needs_work"
    assert "send to human review" in actions(c)


def test_checks_queued_behind_the_cap_honour_a_402(emu: Any) -> None:
    """With one request in flight, the per-model checks still queued when the auth check came back 402 are
    not sent (skip_if is checked again right before each send)."""
    c = run_check(emu, "no-credits", max_in_flight=1)
    assert c.profile.status.code == "valid_no_quota"
    matrix = [o for o in c.observations if o.probe == "permission_matrix"]
    sent = [o for o in matrix if o.outcome != "skipped"]
    skipped = [o for o in matrix if o.outcome == "skipped"]
    # at most the one that held the slot and the auth check itself (the same request as the first model)
    assert len(sent) <= 2 and len(skipped) == len(matrix) - len(sent) and len(skipped) >= 10
    assert all("payment_required" in (o.detail or "") and (o.detail or "").startswith("not sent") for o in skipped)


def test_rate_limited_key(emu: Any) -> None:
    emu.clear_log()
    c = run_check(emu, "rate-limited", deadline_s=20.0)
    assert c.profile.status.code == "rate_limited"
    assert c.decision.verdict == "needs_work"
    # bounded retries: never more than 1 + max_retries attempts per exchange
    assert max(o.attempts for o in c.observations) <= 3
    # a rate-limited workspace is not pressed further: the per-model checks went in one wave with the auth
    # check, and none of them is retried once a 429 came back
    matrix = [o for o in c.observations if o.probe == "permission_matrix"]
    assert matrix and {o.outcome for o in matrix} == {"rate_limited"}
    assert all(o.attempts <= 1 for o in matrix)
    posts = [e for e in emu.request_log() if e.method == "POST"]
    # the pilot, one call per model (the auth check is the first model's), and the auth check's two retries
    assert len(posts) <= 1 + len(matrix) + 2


def test_management_skipped_without_management_url(emu: Any) -> None:
    emu.clear_log()
    c = run_check(emu, "full-access", management_url=None)
    skipped = [o for o in c.observations if o.role == "management"]
    assert skipped and all(o.outcome == "skipped" and o.detail == "no management URL" for o in skipped)
    assert not [e for e in emu.request_log() if e.host_role == "management"]
    assert c.profile.status.code == "valid"


def test_json_shape(checks: dict[str, KeyCheck]) -> None:
    data = checks["full-access"].to_json()
    for key in ("label", "provider", "metrics", "status", "capabilities", "models", "verdict", "actions",
                "probe_requests"):  # fmt: skip
        assert key in data
    assert set(data["provider"]) >= {"id", "confidence", "claimed", "matches_claim", "evidence"}
    assert list(data["metrics"]) == ["key_valid", "requests_total", "runtime_model", "runtime_model_allowed",
                                     "tokens_limit", "tokens_limit_day", "token_role", "token_scopes"]  # fmt: skip
    assert set(data["provenance"]) == set(data["metrics"])
    assert data["probe_requests"] == sum(o["attempts"] for o in data["probes"])
    assert len(data["capabilities"]) == 10


def test_permission_matrix_is_capped(emu: Any) -> None:
    emu.clear_log()
    c = run_check(emu, "full-access", max_model_checks=3)
    checks = [o for o in c.observations if o.probe == "permission_matrix"]
    assert len(checks) == 3
    assert len([e for e in emu.request_log() if e.method == "POST"]) == 1 + 3  # auth_check + 3 checks
    unprobed = [r for r in c.profile.models if r.model not in {o.item for o in checks}]
    assert len(unprobed) >= 10
    # a full-access key is not model-scoped: the rest are allowed by its type, and say so
    assert all(r.allowed and "not model-scoped" in r.allowed_evidence for r in unprobed)
    scoped = run_check(emu, "inference-scoped", max_model_checks=3)
    assert scoped.profile.metric_values()["token_scopes"] == [SCOPED_MODEL]


def test_identification_placeholder_is_not_a_model(checks: dict[str, KeyCheck]) -> None:
    for c in checks.values():
        assert "testkey-nb-probe" not in [r.model for r in c.profile.models]


def test_profile_frames(checks: dict[str, KeyCheck]) -> None:
    from testkey_nb.report import frames

    prof = checks["inference-scoped"].profile
    metrics = frames.metrics_frame(prof)
    assert metrics.columns == ["metric", "value", "provenance", "probe", "note"]
    assert metrics["metric"].to_list() == list(prof.metrics)
    row = metrics.filter(metrics["metric"] == "token_scopes").row(0, named=True)
    assert row["value"] == SCOPED_MODEL and row["provenance"] == "derived"
    assert metrics.filter(metrics["metric"] == "tokens_limit")["value"].item() == "unknown"
    assert frames.capabilities_frame(prof).height == 10
    assert frames.models_frame(prof)["model"].to_list() == [SCOPED_MODEL]


def test_a_verdict_resting_on_the_empty_messages_400_says_so(checks: dict[str, KeyCheck]) -> None:
    """No real recording shows Baseten's answer to an empty message list: the evidence names the assumption."""
    c = checks["full-access"]
    assumption = "Assumption: no real recording shows Baseten's answer to an empty message list"
    assert c.profile.status.reason == "accepted" and assumption in c.profile.status.detail
    matrix = next(cap for cap in c.profile.capabilities if cap.name == "model permission matrix")
    assert matrix.status == "verified" and assumption in matrix.evidence
    probes = [p for p in c.to_json()["probes"] if p["probe"] == "permission_matrix"]
    assert probes and all(assumption in (p["assumption"] or "") for p in probes)
    from pathlib import Path

    import testkey_nb.emulator as emulator

    source = "\n".join(p.read_text(encoding="utf-8") for p in Path(emulator.__file__).parent.rglob("*.py"))
    assert "Assumption: no real recording shows Baseten's answer to an empty message list" in source
