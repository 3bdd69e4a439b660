"""Scenario files: bad ones give one clear message naming the field; the shipped examples run."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkey_nb._files import SCENARIOS_DIR
from testkey_nb.billing import ScenarioError, load_scenario, run_scenario

EXAMPLES = SCENARIOS_DIR

GOOD = """
[scenario]
month = "2026-03"
days = 1
[deployment]
instance_type = "A10Gx4x16"
[autoscaling]
min_replica = 0
[cold_start]
image_pull_seconds = 30
model_load_seconds = 90
[traffic]
request_duration_seconds = 2.0
rpm = 1
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    return path


def test_good_scenario_loads_with_defaults(tmp_path):
    sc = load_scenario(write(tmp_path, GOOD))
    assert sc.name == "scenario"
    assert sc.minutes == 1440
    assert sc.autoscaling.scale_down_delay == 900
    assert sc.billing.credits_usd == 30.0
    assert sc.billing.payment_method is True
    assert sc.compare_min_replica == (0, 1)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "min_replica = 0",
            "min_replica = 'x'",
            "scenario.toml: [autoscaling].min_replica must be an integer >= 0, got 'x'",
        ),
        (
            "min_replica = 0",
            "min_replica = -1",
            "scenario.toml: [autoscaling].min_replica must be an integer >= 0, got -1",
        ),
        (
            "min_replica = 0",
            "min_replicas = 1",
            "scenario.toml: [autoscaling].min_replicas is not a known field (known: min_replica, ",
        ),
        (
            "min_replica = 0",
            "min_replica = 3",
            "scenario.toml: [autoscaling].max_replica must be >= min_replica (3), got 1",
        ),
        (
            "min_replica = 0",
            "scale_down_delay = 7200",
            "scenario.toml: [autoscaling].scale_down_delay must be an integer between 0 and 3600, got 7200",
        ),
        (
            'month = "2026-03"',
            'month = "2026-13"',
            "scenario.toml: [scenario].month must be a month like '2026-03', got '2026-13'",
        ),
        (
            "days = 1",
            "days = 40",
            "scenario.toml: [scenario].days must be an integer between 1 and 31, got 40",
        ),
        (
            "image_pull_seconds = 30\n",
            "",
            "scenario.toml: [cold_start].image_pull_seconds is required (e.g. image_pull_seconds = 30)",
        ),
        (
            "model_load_seconds = 90",
            "model_load_seconds = true",
            "scenario.toml: [cold_start].model_load_seconds must be a number >= 0, got True",
        ),
        (
            "request_duration_seconds = 2.0",
            "request_duration_seconds = 0",
            "scenario.toml: [traffic].request_duration_seconds must be a number > 0, got 0",
        ),
        (
            "rpm = 1",
            "hourly_rpm = [1, 2]",
            "scenario.toml: [traffic].hourly_rpm must be a list of 24 numbers >= 0 (one per UTC hour), "
            "got [1, 2]",
        ),
        (
            "rpm = 1",
            "[[traffic.segments]]\nstart_minute = 0\nduration_minutes = 5\nrpm = -5",
            "scenario.toml: [traffic.segments.1].rpm must be a number >= 0, got -5",
        ),
        (
            'instance_type = "A10Gx4x16"',
            "instance_type = 5",
            "scenario.toml: [deployment].instance_type must be a non-empty string, got 5",
        ),
        (
            "[autoscaling]",
            "[autoscalin]",
            "scenario.toml: [autoscalin] is not a known table (known: scenario,",
        ),
        ("[traffic]\n", "[trafic]\n", "scenario.toml: [trafic] is not a known table"),
        ("days = 1", "days = ", "scenario.toml: not valid TOML: "),
    ],
)
def test_bad_scenarios_name_the_field(tmp_path, old, new, message):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_missing_table_and_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match=r"^scenario.toml: the \[traffic\] table is missing$"):
        load_scenario(write(tmp_path, GOOD.split("[traffic]")[0]))
    with pytest.raises(ScenarioError, match=r"nope\.toml: file not found"):
        load_scenario(tmp_path / "nope.toml")


def test_unpriced_instance_type_in_a_scenario_is_a_scenario_error(tmp_path):
    sc = load_scenario(write(tmp_path, GOOD.replace('"A10Gx4x16"', '"Z9000"')))
    with pytest.raises(ScenarioError, match=r"\[deployment\].instance_type 'Z9000' has no documented price"):
        run_scenario(sc)


def test_example_bursty_chatbot():
    sc = load_scenario(EXAMPLES / "bursty_chatbot.toml")
    run = run_scenario(sc)
    rows = {r["min_replica"]: r for r in run.tradeoff.iter_rows(named=True)}
    # three bursts a day, each after > 15 min of quiet -> 3 cold starts a day x 31 days
    assert rows[0]["cold_starts"] == 93
    assert rows[0]["first_request_added_latency_s"] == 45 + 150
    assert rows[1]["cold_starts"] == 0
    # min_replica 0, per day (cold start: pull 45 s free, then billed from +45 s; delay 15 min):
    #   09:00 burst 12 rpm x 3 s = 0.6 in flight -> 1 replica, wanted 09:00..09:35 -> up 34.25 -> 35 min
    #   13:00 burst 8 rpm -> 0.4 -> 1 replica, wanted 13:00..13:30 -> up 29.25 -> 30 min
    #   18:00 burst 20 rpm -> 1.0 / 0.7 -> 2 replicas, wanted 18:00..18:25 -> 2 x 25 = 50 min
    #   115 min/day x 31 = 3,565 min x $0.02012 = $71.7278
    assert rows[0]["billed_minutes"] == 3565
    assert rows[0]["total_usd"] == pytest.approx(71.7278)
    # min_replica 1: the warm replica all month (44,640 min) + the evening's second replica 31 x 25
    #   = 45,415 min x $0.02012 = $913.7498 -> min_replica 0 saves $842.022
    assert rows[1]["billed_minutes"] == 45_415
    assert rows[1]["total_usd"] == pytest.approx(913.7498)
    assert rows[0]["usd_saved_vs_max"] == pytest.approx(842.022)
    assert run.billing.ledger.deactivated_at is None


def test_example_free_credits_without_card():
    sc = load_scenario(EXAMPLES / "free_credits_no_card.toml")
    run = run_scenario(sc)
    # build 10 min [00:00, 00:10); the warm replica boots at 00:10 (pull 60 s free, load from 00:11).
    # $30 / $0.02012 = 1491.05: the 1492nd billed minute crosses $30. 10 are the build's, so it is the
    # replica's 1482nd minute, beginning 00:11 + 1481 min = 2 Mar 00:52.
    assert str(run.billing.ledger.deactivated_at) == "2026-03-02 00:52:00+00:00"
    assert run.billing.metering.billed_minutes == 1492
    assert run.billing.ledger.credits_used_usd == 30.0
