"""The metering model reconciled against the usage summary, per day (issue 21, part 4).

Against the emulator's lifecycle scenario (fixed clock) with hand-computed model figures, and on hand-built
usage bodies for the rounding, unobserved-replica and model-only explanations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import httpx
import polars as pl
import pytest

from testkey_nb.billing import PriceTable, from_usage_summary
from testkey_nb.billing.reconcile import lifecycle_from_deployments, reconcile
from testkey_nb.emulator import EmulatorConfig, RunningEmulator, run_emulator

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
START = datetime(2026, 10, 21, tzinfo=UTC)


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with run_emulator(EmulatorConfig(seed=11, now=NOW)) as running:
        yield running


def mget(emu: RunningEmulator, path: str, **params: str) -> dict:
    r = httpx.get(f"{emu.management_url}{path}", params=params,
                  headers={"Authorization": f"Bearer {emu.keys['lifecycle']}"})  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def lifecycle(emu: RunningEmulator):
    deployments = [
        d for m in mget(emu, "/models")["models"] for d in mget(emu, f"/models/{m['id']}/deployments")["deployments"]
    ]
    usage = from_usage_summary(mget(emu, "/billing/usage_summary", start_date="2026-10-21T00:00:00Z",
                                    end_date="2026-11-20T15:30:00Z"))  # fmt: skip
    prices = PriceTable.from_instance_type_prices(mget(emu, "/instance_type_prices"))
    return reconcile(deployments, usage, prices, start=START, end=NOW)


def row(frame: pl.DataFrame, day: date, dep: str) -> dict:
    hit = frame.filter((pl.col("date") == day) & (pl.col("deployment_id") == dep))
    assert hit.height == 1, (day, dep)
    return hit.row(0, named=True)


def test_lifecycle_scenario_agrees_within_one_percent(lifecycle):
    totals = lifecycle.totals()
    # model, by hand: the A100 production deployment (min_replica 1, created 2026-10-16 09:30) is up all
    # 30 full days of the window plus 2026-11-20 00:00-15:30 (930 min): 30 x 1,440 + 930 = 44,130 min at
    # $0.06667; the H100 deployment BUILDING since 15:10 adds its builder's 20 min at $0.10833.
    assert totals["model_minutes"] == 44_130 + 20
    assert totals["model_usd"] == pytest.approx(44_130 * 0.06667 + 20 * 0.10833, abs=1e-6)
    assert abs(totals["diff_pct"]) < 1.0
    assert abs(totals["diff_usd_pct"]) < 1.0
    assert totals["flagged_days"] == 0
    assert lifecycle.daily.height == 31  # 2026-10-21 .. 2026-11-20


def test_a_full_day_of_the_warm_replica(lifecycle):
    a100 = row(lifecycle.by_deployment, date(2026, 11, 2), "qvmz15j")
    assert (a100["model_minutes"], a100["model_replicas"]) == (1440, 1)
    assert a100["model_usd"] == pytest.approx(96.0048, abs=1e-9)  # 1,440 x $0.06667
    # what the usage summary bills beyond it is a replica above min_replica: unobserved, never negative
    assert a100["unobserved_minutes"] == a100["observed_minutes"] - 1440 >= 0
    assert a100["model_only_minutes"] == 0


def test_builder_minutes_agree_and_a_failed_deploy_is_unobserved(lifecycle):
    build = row(lifecycle.by_deployment, date(2026, 11, 20), "b1d9n7g")
    assert (build["model_minutes"], build["observed_minutes"], build["diff_minutes"]) == (20, 20, 0)
    assert build["explanation"] == "model and usage summary agree"
    failed = row(lifecycle.by_deployment, date(2026, 11, 8), "f4x1l2d")  # created 12 days before NOW
    assert (failed["model_minutes"], failed["observed_minutes"], failed["unobserved_minutes"]) == (0, 9, 9)
    assert failed["explanation"].startswith("unobserved replicas")
    assert failed["flagged"]  # 9 of 9 minutes: 100 % of this deployment's day
    day = lifecycle.daily.filter(pl.col("date") == date(2026, 11, 8)).row(0, named=True)
    assert not day["flagged"] and "unobserved replicas" in day["explanation"]


def test_development_deployment_is_not_modelled():
    deployments = [{"id": "dev", "created_at": "2026-03-01T00:00:00Z", "status": "ACTIVE", "is_development": True,
                    "instance_type_name": "A10G", "autoscaling_settings": {"min_replica": 1}}]  # fmt: skip
    assert lifecycle_from_deployments(deployments, START, NOW).height == 0


def usage_body(daily: list[tuple[str, int, float]], dep: str = "d1") -> dict:
    return {
        "dedicated_usage": {
            "subtotal": 0, "credits_used": 0, "total": 0, "minutes": sum(m for _, m, _ in daily),
            "breakdown": [{
                "billable_resource": {"id": dep, "kind": "MODEL_DEPLOYMENT", "name": "deployment-1",
                                      "instance_type": "A10G"},
                "subtotal": sum(u for *_, u in daily), "minutes": sum(m for _, m, _ in daily),
                "daily": [{"date": d, "minutes": m, "subtotal": u, "inference_requests": 0} for d, m, u in daily],
            }],
        }
    }  # fmt: skip


ONE = [{"id": "d1", "created_at": "2026-03-09T23:59:30Z", "status": "ACTIVE", "is_development": False,
        "instance_type_name": "A10G", "autoscaling_settings": {"min_replica": 1}}]  # fmt: skip


def test_a_replica_across_midnight_is_rounding_not_unobserved():
    # up 23:59:30 .. 00:00:30 (60 s): the model bills 1 minute, begun on 9 March; a usage summary that rounds
    # each day up bills 30 s -> 1 minute on each day. The extra minute on 10 March is rounding.
    usage = from_usage_summary(usage_body([("2026-03-09", 1, 0.02012), ("2026-03-10", 1, 0.02012)]))
    rec = reconcile(ONE, usage, start=datetime(2026, 3, 9, tzinfo=UTC), end=datetime(2026, 3, 10, 0, 0, 30, tzinfo=UTC))
    first, second = rec.by_deployment.sort("date").rows(named=True)
    assert (first["model_minutes"], first["observed_minutes"], first["diff_minutes"]) == (1, 1, 0)
    assert (second["model_minutes"], second["model_replicas"], second["observed_minutes"]) == (0, 1, 1)
    assert (second["rounding_minutes"], second["unobserved_minutes"]) == (1, 0)
    assert second["explanation"].startswith("rounding:")


def test_more_than_five_percent_is_flagged_and_explained():
    # min_replica 1 all day = 1,440 min ($28.9728 at $0.02012); the summary bills 1,600 on the 10th
    # (+160 of 1,600 = 10 %: unobserved replicas) and 1,300 on the 11th (-140 of 1,300 = -10.7692 %: the
    # model counts more).
    deployments = [ONE[0] | {"created_at": "2026-03-10T00:00:00Z"}]
    usage = from_usage_summary(usage_body([("2026-03-10", 1600, 32.192), ("2026-03-11", 1300, 26.156),
                                           ("2026-03-12", 1450, 29.174)]))  # fmt: skip
    rec = reconcile(deployments, usage, start=datetime(2026, 3, 10, tzinfo=UTC), end=datetime(2026, 3, 13, tzinfo=UTC))
    days = {r["date"].day: r for r in rec.daily.iter_rows(named=True)}
    assert days[10]["model_usd"] == pytest.approx(28.9728, abs=1e-9)
    assert (days[10]["diff_minutes"], days[10]["unobserved_minutes"], days[10]["flagged"]) == (160, 160, True)
    assert days[10]["diff_pct"] == 10.0
    assert (days[11]["model_only_minutes"], days[11]["diff_pct"], days[11]["flagged"]) == (140, -10.7692, True)
    assert "the model counts minutes" in days[11]["explanation"]
    # +10 min of 1,450 = 0.69 %: within the bound; the replica runs on whole minutes, so no rounding
    assert (days[12]["diff_minutes"], days[12]["rounding_minutes"], days[12]["flagged"]) == (10, 0, False)
    assert rec.totals()["flagged_days"] == 2


def test_the_key_report_reconciles_what_the_probes_read(emu: RunningEmulator) -> None:
    """Through the probes: the lifecycle key's billing view has the reconciliation table and chart."""
    from testkey_nb.billing.key_billing import key_billing
    from testkey_nb.check.run import CheckOptions, check_key
    from testkey_nb.report.billing_charts import reconcile_chart
    from testkey_nb.report.charts import chart_spec
    from testkey_nb.report.views import reconcile_html
    from testkey_nb.secrets import Secret

    check = check_key(Secret(emu.keys["lifecycle"]), CheckOptions(base_url=emu.inference_url,
                      management_url=emu.management_url, claim="baseten", deadline_s=30))  # fmt: skip
    kb = key_billing(check.profile, now=NOW)
    rec = kb.reconciliation
    assert rec is not None and rec.prices["provenance"] == "observed"
    totals = rec.totals()
    assert abs(totals["diff_pct"]) < 1.0 and totals["flagged_days"] == 0
    html = reconcile_html(rec)
    assert "usage summary bills" in html and "Days beyond ±5 %: 0" in html
    spec = chart_spec(reconcile_chart(rec.daily))
    assert len(spec["vconcat"]) == 2
