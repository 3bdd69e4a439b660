"""Billing errors: one prefix (``testkey-nb: error:``) and dates in ISO 8601, never datetime reprs."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from testkey_nb._files import SCENARIOS_DIR
from testkey_nb.cli.main import app

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str):
    return CliRunner().invoke(app, ["billing", *args])


def test_end_before_start_shows_iso_times(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "deployment_id,replica_id,instance_type,phase,start,end\n"
        "d1,r1,A10Gx4x16,serving,2026-03-02T10:00:00Z,2026-03-02T09:00:00Z\n"
    )
    result = _run("--events", str(bad))
    assert result.exit_code == 2
    assert result.stderr.startswith("testkey-nb: error: bad.csv: line 2: column 'end': must not be before start")
    assert "'2026-03-02T09:00:00+00:00'" in result.stderr and "datetime.datetime" not in result.stderr


def test_a_toml_date_in_a_number_field_shows_iso(tmp_path: Path) -> None:
    text = (SCENARIOS_DIR / "bursty_chatbot.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("\nmin_replica = 0\n", "\nmin_replica = 2026-03-01\n"))
    result = _run("--scenario", str(bad))
    assert result.exit_code == 2
    assert result.stderr.startswith("testkey-nb: error: bad.toml: [autoscaling].min_replica")
    assert "got '2026-03-01'" in result.stderr and "datetime.date" not in result.stderr
