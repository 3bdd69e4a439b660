"""``testkey-nb billing``: the JSON object, the flags, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from testkey_nb._files import SCENARIOS_DIR
from testkey_nb.cli.billing import billing

EXAMPLES = SCENARIOS_DIR


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    # the lead registers the same function in testkey_nb/cli.py; a local app keeps this test independent
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def main() -> None:
        """test app"""

    app.command("billing")(billing)
    return app


def run(app: typer.Typer, *args: str):
    return CliRunner().invoke(app, ["billing", *args])


CSV = (
    "deployment_id,replica_id,instance_type,phase,start,end,price_per_minute\n"
    "d1,b1,A10Gx4x16,build,2026-03-10T00:00:00Z,2026-03-10T00:05:00Z,1\n"
    "d1,r1,A10Gx4x16,image_pull,2026-03-10T00:05:00Z,2026-03-10T00:06:00Z,1\n"
    "d1,r1,A10Gx4x16,model_load,2026-03-10T00:06:00Z,2026-03-10T00:08:00Z,1\n"
    "d1,r1,A10Gx4x16,serving,2026-03-10T00:08:00Z,2026-03-10T01:00:30Z,1\n"
    "d1,r1,A10Gx4x16,drain,2026-03-10T01:00:30Z,2026-03-10T01:01:00Z,1\n"
)
# Hand count at $1/min: build 5 min; replica up 00:06:00..01:00:30 = 54.5 min -> 55; total 60 = $60.
# $30 credits first. Usage exceeds $50 with the 51st billed minute: 5 build minutes, then replica
# minute 46, which begins 00:06 + 45 min = 00:51 -> threshold invoice at 00:51 for $51 - $30 = $21.
# The remaining 9 minutes ($9) go to the month-end invoice on 1 Apr.


def test_events_json(app, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(CSV)
    result = run(app, "--events", str(path), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    for key in (
        "billed_minutes",
        "total_usd",
        "credits_used_usd",
        "net_usd",
        "by_phase",
        "by_deployment",
        "invoices",
        "deactivated_at",
    ):
        assert key in out
    assert out["billed_minutes"] == 60
    assert out["total_usd"] == 60.0
    assert out["credits_used_usd"] == 30.0
    assert out["net_usd"] == 30.0
    assert out["by_phase"]["build"] == {"minutes": 5.0, "usd": 5.0, "wall_minutes": 5.0, "billed": True}
    assert out["by_phase"]["model_load"]["minutes"] == 2.0
    assert out["by_phase"]["serving"]["minutes"] == 53.0  # 52.5 min + the 0.5 rounding remainder
    assert out["by_phase"]["image_pull"]["minutes"] == 0.0
    assert out["by_phase"]["drain"]["billed"] is False
    assert out["by_deployment"] == {"d1": {"billed_minutes": 60, "usd": 60.0, "up_intervals": 2}}
    assert [(i["issued_at"], i["amount_usd"], i["reason"]) for i in out["invoices"]] == [
        ("2026-03-10T00:51:00Z", 21.0, "threshold"),
        ("2026-04-01T00:00:00Z", 9.0, "month_end"),
    ]
    assert out["deactivated_at"] is None
    assert out["prices"]["provenance"] == "documented"


def test_events_without_payment_method_deactivates(app, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(CSV)
    # $10 credits, no card: the 11th billed minute crosses $10: 5 build minutes + replica minute 6,
    # which begins 00:06 + 5 min = 00:11.
    result = run(app, "--events", str(path), "--credits", "10", "--no-payment-method", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["deactivated_at"] == "2026-03-10T00:11:00Z"
    assert out["billed_minutes"] == 11
    assert out["net_usd"] == 1.0
    assert out["payment_method"] is False


def test_scenario_json_reports_the_trade_off(app):
    result = run(app, "--scenario", str(EXAMPLES / "bursty_chatbot.toml"), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    trade = out["tradeoff"]
    assert trade["compared"] == [0, 1]
    assert trade["usd_saved"] > 0
    assert trade["first_request_added_latency_s"] == 195.0
    assert "saves $" in trade["statement"]


def test_scenario_flags_override_the_file(app):
    path = str(EXAMPLES / "free_credits_no_card.toml")
    out = json.loads(run(app, "--scenario", path, "--json").stdout)
    assert out["deactivated_at"] == "2026-03-02T00:52:00Z"
    out = json.loads(run(app, "--scenario", path, "--payment-method", "--json").stdout)
    assert out["deactivated_at"] is None


@pytest.mark.parametrize("name", ["bursty_chatbot", "bursty_chatbot.toml"])
def test_a_bundled_scenario_by_name(app, name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # outside the checkout: the name finds the copy inside the package
    by_name = run(app, "--scenario", name, "--json")
    assert by_name.exit_code == 0, by_name.output
    by_path = run(app, "--scenario", str(EXAMPLES / "bursty_chatbot.toml"), "--json")
    assert json.loads(by_name.stdout) == json.loads(by_path.stdout)
    missing = run(app, "--scenario", "no_such_scenario")
    assert missing.exit_code == 2 and "no_such_scenario: file not found" in missing.output


def test_a_file_in_the_current_folder_wins_over_a_bundled_name(app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bursty_chatbot.toml").write_text((EXAMPLES / "free_credits_no_card.toml").read_text())
    out = json.loads(run(app, "--scenario", "bursty_chatbot.toml", "--json").stdout)
    assert out["deactivated_at"] == "2026-03-02T00:52:00Z"  # the local file (free credits, no card), not the bundled


def test_tables_without_json(app):
    result = run(app, "--scenario", str(EXAMPLES / "free_credits_no_card.toml"))
    assert result.exit_code == 0, result.output
    assert "By phase" in result.stdout
    assert "Invoices" in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ((), "give exactly one of --events"),
        (("--events", "a.csv", "--scenario", "b.toml"), "give exactly one of --events"),
        (("--events", "missing.csv"), "missing.csv: file not found"),
        (("--scenario", "missing.toml"), "missing.toml: file not found"),
    ],
)
def test_usage_errors_are_one_line_exit_2(app, args, needle):
    result = run(app, *args)
    assert result.exit_code == 2
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_bad_scenario_is_one_line_exit_2(app, tmp_path):
    bad = tmp_path / "bad.toml"
    text = (EXAMPLES / "bursty_chatbot.toml").read_text()
    assert "\nmin_replica = 0\n" in text
    bad.write_text(text.replace("\nmin_replica = 0\n", "\nmin_replica = 'x'\n"))
    result = run(app, "--scenario", str(bad))
    assert result.exit_code == 2
    assert (
        result.stderr.strip()
        == "testkey-nb: error: bad.toml: [autoscaling].min_replica must be an integer >= 0, got 'x'"
    )
    assert "Traceback" not in result.output


def test_bad_events_file_is_one_line_exit_2(app, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV.replace("image_pull", "pulling"))
    result = run(app, "--events", str(bad))
    assert result.exit_code == 2
    assert result.stderr.startswith("testkey-nb: error: bad.csv: line 3: column 'phase': unknown phase")
