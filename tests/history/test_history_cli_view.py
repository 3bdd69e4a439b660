"""``testkey-nb history`` on a hand-made database, and the report section's escaping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from history_helpers import models, snap
from typer.testing import CliRunner

from testkey_nb.cli.history import parse_every
from testkey_nb.cli.main import app
from testkey_nb.history.store import HistoryStore, default_history_path
from testkey_nb.report.history_view import parse_context, since_last_check, timeline_chart, timeline_frame

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def out(tmp_path: Path) -> Path:
    with HistoryStore(default_history_path(tmp_path)) as store:
        for s in (snap(0), snap(2, remaining=80), snap(4, remaining=60, model_ids=("a/one",)), snap(1, label="k2")):
            store.append(s)
    return tmp_path


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, ["history", *args])


def test_history_json_and_since(out: Path) -> None:
    result = _run("--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [k["label"] for k in data] == ["k1", "k2"]
    assert [c["field"] for c in data[0]["changes"]] == ["balance.remaining", "models.removed", "balance.remaining"]
    assert data[1]["changes"] == []
    since = json.loads(_run("k1", "--history", str(default_history_path(out)), "--since", "2026-11-03",
                            "--json").output)  # fmt: skip
    # from Nov 3 on: the snapshots of days 2 and 4 and the changes between them only
    assert [s["rendered_at"] for s in since[0]["snapshots"]] == ["2026-11-03T12:00:00Z", "2026-11-05T12:00:00Z"]
    assert [(c["field"], c["before"], c["after"]) for c in since[0]["changes"]] == [
        ("models.removed", "b/two", None), ("balance.remaining", 80.0, 60.0)]


def test_history_table_and_errors(out: Path, tmp_path: Path) -> None:
    table = _run("--out", str(out))
    assert table.exit_code == 0 and "k1: 3 snapshots" in table.output and "models.removed" in table.output
    assert _run("nobody", "--out", str(out)).exit_code == 2
    missing = _run("--out", str(tmp_path / "none"))
    assert missing.exit_code == 2 and "no history at" in missing.output
    assert _run("--out", str(out), "--since", "yesterday").exit_code == 2
    assert _run("--out", str(out), "--history", "x.duckdb").exit_code == 2


def test_parse_every() -> None:
    assert [parse_every(t) for t in ("90s", "30m", "1h", "2d", "15", "0.5s")] == [90, 1800, 3600, 172800, 15, 0.5]
    for bad in ("", "1w", "-1h", "0", "h"):
        with pytest.raises(ValueError):
            parse_every(bad)


class _Check:
    """What the section reads of a KeyCheck: its summary and when it ran."""

    checked_at = "2026-11-06T12:00:00+00:00"

    def summary(self) -> dict[str, Any]:
        return {"label": "k1", "provider": "openrouter", "status": "valid", "verdict": "ready", "allowed_models": 1,
                "tokens_per_minute": 1000, "key_valid": True}  # fmt: skip


def test_since_last_check_escapes_and_compares() -> None:
    earlier = [snap(0, model_ids=("a/one", HOSTILE)), snap(1, model_ids=("a/one", HOSTILE), remaining=90)]
    context = json.dumps({"label": "k1", "snapshots": [s.to_json() for s in earlier]})
    assert [s.balance_remaining for s in parse_context(context)] == [100.0, 90.0]
    facts = {"models": models("a/one"), "balance": {"currency": "USD", "remaining": 80.0},
             "limits": [{"scope": "tokens_per_minute", "value": 1000, "provenance": "observed"}]}  # fmt: skip
    section = since_last_check(_Check(), facts, context)  # type: ignore[arg-type]
    assert HOSTILE not in section.html and "&lt;script&gt;" in section.html
    assert "2 changes" in section.html and "balance.remaining" in section.html
    assert "Burn 4.00 USD per day, runway 20.0 days" in section.html  # (100 - 80) / 5 days (Nov 1 to 6); 80 / 4
    assert section.chart is not None
    first = since_last_check(_Check(), facts, "")  # type: ignore[arg-type]
    assert first.chart is None and "No earlier check" in first.html
    assert parse_context("not json") == [] and parse_context('{"snapshots": 3}') == []


def test_timeline_chart_panels() -> None:
    spec = timeline_chart(timeline_frame([snap(0), snap(1, remaining=None)])).to_dict()
    assert [p["title"] for p in spec["vconcat"]] == ["Status", "Allowed models", "Balance remaining"]
    spec = timeline_chart(timeline_frame([snap(0, remaining=None)])).to_dict()
    assert len(spec["vconcat"]) == 2  # no balance known: no balance panel


def test_history_prune_keeps_the_window(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from history_helpers import T0

    now = datetime.now(UTC).replace(microsecond=0)
    path = default_history_path(tmp_path)
    with HistoryStore(path) as store:
        for age_days, remaining in ((100, 100.0), (50, 90.0), (1, 80.0)):
            store.append(snap((now - timedelta(days=age_days) - T0).total_seconds() / 86400, remaining=remaining))
    result = _run("prune", "--keep", "90d", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("history: pruned 1 snapshot taken before ")
    assert result.output.rstrip().endswith(f"from {path}; 2 kept")
    assert _run("prune", "--keep", "12h", "--history", str(path)).output.rstrip().endswith("; 0 kept")
    for bad in (["prune"], ["prune", "--keep", "90"], ["prune", "--keep", "0d"], ["prune", "k1", "--keep", "1d"],
                ["--keep", "1d"]):  # fmt: skip
        outcome = _run(*bad, "--history", str(path))
        assert outcome.exit_code == 2, (bad, outcome.output)
    assert _run("prune", "--keep", "1d", "--out", str(tmp_path / "none")).exit_code == 2
