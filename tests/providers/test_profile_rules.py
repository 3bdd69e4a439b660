"""Profile rules on hand-built observations: what proves a key, what is evidence about a model only."""

from __future__ import annotations

from typing import Any

from testkey_nb.check.profile import ProviderView, build_profile
from testkey_nb.identify.score import Identification
from testkey_nb.probe.observation import make_observation
from testkey_nb.probe.plan import ProbeSpec

IDENT = Identification(provider="acme", confidence=0.9, claimed=None, matches_claim=None, evidence=(), conflicts=())


def obs(name: str, method: str, path: str, cost: str, status: int | None, outcome: str, *, item: str | None = None,
        accepted: bool | None = None, body: Any = None) -> Any:  # fmt: skip
    spec = ProbeSpec(name, "inference", method, path, cost, "test")  # type: ignore[arg-type]
    return make_observation(spec, item, outcome=outcome, started=None, attempts=1 if status else 0, status=status,
                            accepted=accepted, json_body=body)  # type: ignore[arg-type]  # fmt: skip


def profile(observations: list[Any], authenticated: frozenset[str] = frozenset()) -> Any:
    return build_profile(label="k", identification=IDENT, observations=observations, requests_sent=len(observations),
                         provider=ProviderView(authenticated=authenticated))  # fmt: skip


CATALOG = obs("catalog", "GET", "/models", "read", 200, "ok", accepted=True, body={"data": [{"id": "m1"}]})


def test_an_authenticated_200_proves_the_key_a_public_one_does_not() -> None:
    body = {"error": {"message": "The model m1 does not exist or you do not have access to it."}}
    refused = obs("auth_check", "POST", "/chat/completions", "rejected", 404, "not_found", item="m1", accepted=False,
                  body=body)  # fmt: skip
    proven = profile([CATALOG, refused], authenticated=frozenset({"catalog"}))
    assert proven.metrics["key_valid"].value is True and proven.metrics["key_valid"].probe == "catalog"
    # the 404 after auth is about the model: refused for this key, not a bad key
    assert proven.status.code == "valid_not_scoped"
    assert proven.models[0].allowed is False and "404 after auth" in proven.models[0].allowed_evidence
    public = profile([CATALOG, refused])
    assert public.metrics["key_valid"].value is None and public.models[0].allowed is None


def test_a_call_that_names_no_model_is_no_evidence_of_access() -> None:
    pilot = obs("auth_pilot", "POST", "/chat/completions", "rejected", 401, "unauthorized", accepted=True,
                body={"error": "bad key"})  # fmt: skip
    p = profile([CATALOG, pilot])
    assert p.status.code != "valid"
    assert p.metrics["key_valid"].value is not True
