"""``key_usage`` against the Baseten emulator, with expectations computed by hand from the rows declared
in ``testkey_nb/emulator/scenarios.py`` (KEY_TRAFFIC), never from the code's own output.

The full-access key, "today" 2026-12-02, a 30-day window (buckets 2026-11-02 .. 2026-12-02, 31 days):
- 1 day ago (12-01): gpt-oss-120b 12 req, 3,000 in (1,000 cached), 600 out, "0.1"; GLM-4.7 4 req, 800 in,
  200 out, "0.2"
- 2 days ago (11-30): nothing for this key (the personal key, a decoy key and a non-key credential used it)
- 3..22 days ago: each day gpt-oss-120b and GLM-4.7 1 req, 100 in, 10 out, "0.1" and "0.2"
- 25 days ago (11-07): gpt-oss-120b 5 req, 500 in (100 cached), 50 out, "0.35"
- 40 days ago: outside the window
requests 12+4+20*2+5 = 61; input 3,000+800+20*200+500 = 8,300; cached 1,000+100 = 1,100;
output 600+200+20*20+50 = 1,250; cost 0.1+0.2+20*0.1+20*0.2+0.35 = 6.65 (gpt-oss 0.1+2.0+0.35 = 2.45,
GLM 0.2+4.0 = 4.20); burn 6.65 / 31 days = 0.214516 (to the micro-dollar).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from testkey_nb.check.facts import InterpretContext
from testkey_nb.check.interpret import interpret
from testkey_nb.check.result import CheckOptions, KeyCheck
from testkey_nb.check.run import check_key_async
from testkey_nb.emulator import EmulatorConfig, Fault, run_emulator
from testkey_nb.identify.loader import load_registry
from testkey_nb.probe.observation import make_observation
from testkey_nb.probe.plan import load_plan
from testkey_nb.secrets import Secret

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


class Recording(httpx.AsyncBaseTransport):
    """Forwards to the emulator and keeps every request URL (to see what each page sent)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.urls: list[httpx.URL] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _check(emu: Any, key: str, now: datetime = NOW, transport: httpx.AsyncBaseTransport | None = None) -> KeyCheck:
    options = CheckOptions(base_url=emu.base_url, management_url=emu.management_url, timeout_s=5.0, deadline_s=10.0)
    return asyncio.run(check_key_async(Secret(key), options, transport=transport, now=now))


@pytest.fixture(scope="module")
def two_pages() -> Any:
    """The full-access key with pages cut at 16 buckets: 31 days come back in two pages per read."""
    with run_emulator(EmulatorConfig(seed=11, now=NOW, faults=(Fault("short_pages", count=16),))) as emu:
        rec = Recording()
        check = _check(emu, emu.keys["full-access"], transport=rec)
        prefix = emu.keys["full-access"].split(".")[0]
        yield emu, check, rec, prefix


def test_key_usage_totals_by_hand(two_pages: Any) -> None:
    _emu, check, _rec, _prefix = two_pages
    ku = check.to_json()["key_usage"]
    assert {k: ku[k] for k in ("from", "to", "requests", "input_tokens", "cached_input_tokens", "output_tokens",
                               "cost_usd", "burn_per_day_usd", "provenance", "probe")} == {
        "from": "2026-11-02", "to": "2026-12-02", "requests": 61, "input_tokens": 8300,
        "cached_input_tokens": 1100, "output_tokens": 1250, "cost_usd": 6.65, "burn_per_day_usd": 0.214516,
        "provenance": "observed", "probe": "model_api_usage",
    }  # fmt: skip
    assert ku["by_model"] == [
        {"model": "openai/gpt-oss-120b", "requests": 37, "input_tokens": 5500, "output_tokens": 850, "cost_usd": 2.45},
        {"model": "zai-org/GLM-4.7", "requests": 24, "input_tokens": 2800, "output_tokens": 400, "cost_usd": 4.2},
    ]
    first_page = next(o for o in check.observations if o.probe == "model_api_usage")
    assert first_page.exchange and ku["exchange"] == first_page.exchange
    exchanges = [o.exchange for o in check.observations if o.probe.startswith("model_api_")]
    assert len(exchanges) == 4 and len(set(exchanges)) == 4  # each page is its own exchange
    total = check.profile.metrics["requests_total"]
    assert total.exchange == first_page.exchange
    assert check.summary()["key_usage"] == ku


def test_every_day_is_a_row_and_a_day_without_usage_is_zero(two_pages: Any) -> None:
    _emu, check, _rec, _prefix = two_pages
    days = check.to_json()["key_usage"]["by_day"]
    assert len(days) == 31 and days[0]["date"] == "2026-11-02" and days[-1]["date"] == "2026-12-02"
    by = {d["date"]: d for d in days}
    # two days ago three other credentials used the workspace; this key did not
    assert by["2026-11-30"] == {"date": "2026-11-30", "requests": 0, "input_tokens": 0, "output_tokens": 0,
                                "cost_usd": 0.0}  # fmt: skip
    assert by["2026-12-01"] == {"date": "2026-12-01", "requests": 16, "input_tokens": 3800, "output_tokens": 800,
                                "cost_usd": 0.3}  # fmt: skip
    assert by["2026-11-07"]["cost_usd"] == 0.35 and by["2026-11-07"]["requests"] == 5
    assert by["2026-11-10"] == {"date": "2026-11-10", "requests": 2, "input_tokens": 200, "output_tokens": 20,
                                "cost_usd": 0.3}  # fmt: skip


def test_decimal_sum_where_a_float_sum_drifts(two_pages: Any) -> None:
    _emu, check, _rec, _prefix = two_pages
    subtotals = ["0.1", "0.2"] + ["0.1"] * 20 + ["0.2"] * 20 + ["0.35"]
    drifted = 0.0
    for s in subtotals:
        drifted += float(s)
    assert drifted != 6.65  # the trap is real: a float sum of these subtotals is not 6.65
    assert check.to_json()["key_usage"]["cost_usd"] == 6.65


def test_two_pages_each_its_own_request_and_observation(two_pages: Any) -> None:
    _emu, check, rec, prefix = two_pages
    pages = {p: [o for o in check.observations if o.probe == p] for p in ("model_api_usage", "model_api_costs")}
    assert [(o.status, o.outcome) for o in pages["model_api_usage"]] == [(200, "ok"), (200, "ok")]
    assert [(o.status, o.outcome) for o in pages["model_api_costs"]] == [(200, "ok"), (200, "ok")]
    assert [len(o.json_body["items"]) for o in pages["model_api_usage"]] == [16, 15]
    assert [len(o.json_body["items"]) for o in pages["model_api_costs"]] == [16, 15]
    usage = [u for u in rec.urls if u.path == "/v1/model_apis/usage"]
    costs = [u for u in rec.urls if u.path == "/v1/billing/model_apis"]
    assert len(usage) == 2 and len(costs) == 2
    first = usage[0].params
    assert first.get_list("group_by") == ["api_key", "model"] and first["api_keys"] == prefix
    assert (first["bucket_width"], first["limit"]) == ("1d", "31")
    assert first["start_time"] == "2026-11-02T12:00:00Z" and first["end_time"] == "2026-12-02T12:00:00Z"
    assert usage[1].params["api_keys"] == prefix and usage[1].params["cursor"]
    c0 = costs[0].params
    assert (c0["start_date"], c0["end_date"], c0["api_key_prefixes"]) == ("2026-11-02", "2026-12-03", prefix)
    assert c0.get_list("group_by") == ["api_key_prefix", "model"]
    assert list(costs[1].params.keys()) == ["cursor"]  # the cost cursor goes alone, as the CLI sends it
    assert "." not in prefix and all(prefix + "." not in str(u) for u in rec.urls)


def test_requests_total_is_this_keys_count_and_models_used_are_evidence(two_pages: Any) -> None:
    _emu, check, _rec, _prefix = two_pages
    metrics = check.profile.metrics
    assert metrics["requests_total"].value == 61
    assert (metrics["requests_total"].provenance, metrics["requests_total"].probe) == ("observed", "model_api_usage")
    allowed = metrics["runtime_model_allowed"]
    assert metrics["runtime_model"].value == "openai/gpt-oss-120b"
    assert (allowed.value, allowed.provenance, allowed.probe) == (True, "observed", "model_api_usage")
    assert "37 requests" in allowed.note


def test_other_keys_rows_in_the_same_buckets_never_count() -> None:
    """Read unfiltered (no api_keys), the emulator answers every key's rows; only this key's count."""
    with run_emulator(EmulatorConfig(seed=5, now=NOW)) as emu:
        key = emu.keys["full-access"]
        prefix = key.split(".")[0]
        head = {"Authorization": f"Bearer {key}"}
        start, end = "2026-11-02T12:00:00Z", "2026-12-02T12:00:00Z"
        u = httpx.get(f"{emu.management_url}/model_apis/usage", headers=head, params={
            "start_time": start, "end_time": end, "bucket_width": "1d", "group_by": ["api_key", "model"],
            "limit": "31"})  # fmt: skip
        c = httpx.get(f"{emu.management_url}/billing/model_apis", headers=head, params={
            "start_date": "2026-11-02", "end_date": "2026-12-03", "group_by": ["api_key_prefix", "model"],
            "limit": "31"})  # fmt: skip
    assert u.status_code == c.status_code == 200
    nov30 = next(i for i in u.json()["items"] if i["start_time"] == "2026-11-30T00:00:00Z")
    assert sorted(r["request_count"] for r in nov30["results"]) == [3, 50, 1000]  # personal x2, ci-deploy
    assert prefix not in {r["api_key_prefix"] for r in nov30["results"]}
    dec1 = next(i for i in c.json()["items"] if i["date"] == "2026-12-01")
    assert sorted(r["subtotal"] for r in dec1["results"]) == ["0.002", "0.1", "0.2", "0.7"]
    plan = {s.name: s for s in load_plan("baseten/probes.toml")}
    obs = [
        make_observation(plan["model_api_usage"], None, outcome="ok", started=None, attempts=1, status=200,
                         accepted=True, json_body=u.json()),
        make_observation(plan["model_api_costs"], None, outcome="ok", started=None, attempts=1, status=200,
                         accepted=True, json_body=c.json()),
    ]  # fmt: skip
    spec = load_registry().get("baseten")
    facts = interpret(spec, obs, InterpretContext(provider=spec, key_prefix=prefix, now=NOW))
    ku = facts.key_usage.as_json()
    assert (ku["requests"], ku["input_tokens"], ku["output_tokens"], ku["cost_usd"]) == (61, 8300, 1250, 6.65)


def test_a_key_that_may_not_read_them_is_refused_and_that_is_evidence() -> None:
    with run_emulator(EmulatorConfig(seed=3, now=NOW)) as emu:
        check = _check(emu, emu.keys["inference-scoped"])
    got = {o.probe: (o.status, o.outcome) for o in check.observations if o.probe.startswith("model_api_")}
    assert got == {"model_api_usage": (403, "refused"), "model_api_costs": (403, "refused")}
    assert check.profile.key_usage is None and check.to_json()["key_usage"] is None
    assert check.profile.status.code == "valid"
    assert check.profile.metrics["token_role"].value == "inference-only"
    assert check.profile.metrics["requests_total"].value is None


def test_costs_window_starts_no_earlier_than_2026_08_05() -> None:
    """Sixteen days after costs begin, the cost read starts on 2026-08-05 (else the endpoint says 400)."""
    now = datetime(2026, 8, 20, 9, 0, tzinfo=UTC)
    with run_emulator(EmulatorConfig(seed=3, now=now)) as emu:
        rec = Recording()
        check = _check(emu, emu.keys["full-access"], now=now, transport=rec)
    costs = [u for u in rec.urls if u.path == "/v1/billing/model_apis"]
    assert [u.params["start_date"] for u in costs] == ["2026-08-05"]
    assert [o.status for o in check.observations if o.probe == "model_api_costs"] == [200]
    ku = check.profile.key_usage
    assert ku is not None and ku.start == date(2026, 7, 21)  # usage reaches back the full 30 days
    # the day before costs begin: usage is counted, and no cost could be read for it
    assert next(d for d in ku.by_day if d["date"] == "2026-08-04")["cost_usd"] == 0


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/model_apis/usage", {"start_time": "2026-08-31T11:00:00Z", "end_time": "2026-12-02T12:00:00Z"},
         "92 days"),
        ("/billing/model_apis", {"start_date": "2026-08-04", "end_date": "2026-09-01"}, "2026-08-05"),
        ("/billing/model_apis", {"start_date": "2026-08-31", "end_date": "2026-11-30"}, "90 days"),
        ("/model_apis/usage", {"cursor": "not-a-cursor!"}, "cursor"),
    ],
)  # fmt: skip
def test_the_emulator_answers_the_documented_limits_with_400(path: str, params: dict[str, str], message: str) -> None:
    with run_emulator(EmulatorConfig(seed=3, now=NOW)) as emu:
        head = {"Authorization": f"Bearer {emu.keys['full-access']}"}
        r = httpx.get(f"{emu.management_url}{path}", headers=head, params=params)
        ok = httpx.get(f"{emu.management_url}/billing/model_apis", headers=head,
                       params={"start_date": "2026-09-03", "end_date": "2026-12-02"})  # fmt: skip
    assert r.status_code == 400 and message in r.json()["error"]
    assert ok.status_code == 200 and len(ok.json()["items"]) == 31  # 90 days is allowed; 31 dates a page


def test_the_workspace_count_is_a_fallback_that_says_so() -> None:
    plan = {s.name: s for s in load_plan("baseten/probes.toml")}
    summary = {"dedicated_usage": {"breakdown": [{"inference_requests": 5}, {"inference_requests": 7}]}}
    obs = [
        make_observation(plan["usage"], None, outcome="ok", started=None, attempts=1, status=200, accepted=True,
                         json_body=summary),
        make_observation(plan["model_api_usage"], None, outcome="refused", started=None, attempts=1, status=403,
                         accepted=False, json_body={"error": "no"}),
    ]  # fmt: skip
    spec = load_registry().get("baseten")
    facts = interpret(spec, obs, InterpretContext(provider=spec, key_prefix="b10_AbCd1234", now=NOW))
    total = facts.requests_total
    assert (total.value, total.provenance, total.probe) == (12, "observed", "usage")
    assert total.note.startswith(
        "workspace-wide, not this key's: this key's own count was not read "
        "(model_api_usage: refused (403) for this key)"
    )
    assert facts.key_usage is None


def _paging_run(cursor_for: Any) -> list[httpx.Request]:
    """Run the usage probe alone against a far end that always says ``has_more`` with ``cursor_for(n)``."""
    from testkey_nb.probe.engine import ProbeEngine
    from testkey_nb.probe.plan import ProbeSettings, Targets

    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        body = {"items": [], "pagination": {"has_more": True, "cursor": cursor_for(len(sent))}}
        return httpx.Response(200, json=body)

    spec = next(s for s in load_plan("baseten/probes.toml") if s.name == "model_api_usage")
    engine = ProbeEngine(Secret("b10_AbCd1234." + "x" * 32), Targets("https://inference.test/v1",
                         "https://mgmt.test/v1"), ProbeSettings(deadline_s=10), transport=httpx.MockTransport(answer),
                         now=NOW)  # fmt: skip
    observations = asyncio.run(engine.run([spec]))
    assert len(observations) == len(sent) and all(o.probe == "model_api_usage" for o in observations)
    return sent


def test_paging_stops_on_a_cursor_seen_before_and_at_twelve_pages() -> None:
    same = _paging_run(lambda n: "c1")
    assert [r.url.params.get("cursor") for r in same] == [None, "c1"]  # page 2 said c1 again: stop
    endless = _paging_run(lambda n: f"c{n}")
    assert len(endless) == 12 and endless[-1].url.params["cursor"] == "c11"
    assert all(r.method == "GET" and r.url.params["api_keys"] == "b10_AbCd1234" for r in endless)


def test_windows_are_clamped_and_skipped_where_nothing_can_be_read() -> None:
    from testkey_nb.probe.plan import usage_start, window_skip

    plan = {s.name: s for s in load_plan("baseten/probes.toml")}
    usage, costs = plan["model_api_usage"], plan["model_api_costs"]
    assert usage_start(usage, 30, NOW) == datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    assert usage_start(usage, 120, NOW) == datetime(2026, 9, 1, 12, 0, tzinfo=UTC)  # 92 days at most
    assert usage_start(costs, 120, NOW) == datetime(2026, 9, 4, 12, 0, tzinfo=UTC)  # 89 days + today = 90
    assert usage_start(costs, 30, datetime(2026, 8, 20, tzinfo=UTC)) == datetime(2026, 8, 5, tzinfo=UTC)
    assert window_skip(costs, datetime(2026, 8, 1, tzinfo=UTC), has_prefix=True) == "no data before 2026-08-05"
    assert window_skip(usage, NOW, has_prefix=False) == "the key has no public prefix to filter by"
    assert window_skip(usage, NOW, has_prefix=True) is None
    assert window_skip(plan["whoami"], NOW, has_prefix=False) is None
