"""Events CSV loading: good files parse (offsets, naive UTC, optional columns); bad ones name the line
and column."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from testkey_nb.billing import EventsError, PriceTable, load_events_csv, meter

HEADER = "deployment_id,replica_id,instance_type,phase,start,end"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(text)
    return path


def test_good_csv_with_offsets_naive_times_and_optional_columns(tmp_path):
    text = (
        HEADER + ",development,price_per_minute\n"
        "d1,r1,A10Gx4x16,image_pull,2026-03-01T10:00:00Z,2026-03-01T10:01:00Z,false,\n"
        # +02:00 offset: 12:01 local = 10:01 UTC
        "d1,r1,A10Gx4x16,model_load,2026-03-01T12:01:00+02:00,2026-03-01T10:02:30Z,,\n"
        # naive time: taken as UTC
        "d1,r1,A10Gx4x16,serving,2026-03-01 10:02:30,2026-03-01T10:03:31Z,no,\n"
        "d2,r9,SomeCPU,serving,2026-03-01T10:00:00Z,2026-03-01T10:10:00Z,true,\n"
        "d3,r1,SomeCPU,serving,2026-03-01T10:00:00Z,2026-03-01T10:10:00Z,0,0.001\n"
    )
    frame = load_events_csv(write(tmp_path, text))
    assert frame.height == 5
    r1 = frame.filter(frame["phase"] == "model_load").row(0, named=True)
    assert r1["start"] == datetime(2026, 3, 1, 10, 1, tzinfo=UTC)
    assert r1["line"] == 3
    m = meter(frame, PriceTable.default(), label="events.csv")
    # d1: 10:01 .. 10:03:31 = 151 s -> 3 min x $0.02012 = $0.06036
    # d2: development -> nothing; d3: 10 min x $0.001 override = $0.01
    by_dep = {
        r["deployment_id"]: (r["billed_minutes"], round(r["usd"], 9))
        for r in m.by_deployment().iter_rows(named=True)
    }
    assert by_dep == {"d1": (3, 0.06036), "d3": (10, 0.01)}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "events.csv: no event rows"),
        (
            "deployment_id,replica_id,instance_type,phase,start\nd1,r1,A,serving,2026-03-01T10:00:00Z\n",
            "events.csv: missing column 'end'",
        ),
        (
            HEADER + "\nd1,r1,A,serving,2026-03-01T10:00:00Z,2026-03-01T10:01:00Z\n"
            "d1,r1,A,serve,2026-03-01T10:01:00Z,2026-03-01T10:02:00Z\n",
            "events.csv: line 3: column 'phase': unknown phase (known: build,",
        ),
        (
            HEADER + "\nd1,r1,A,serving,yesterday,2026-03-01T10:01:00Z\n",
            "events.csv: line 2: column 'start': must be an ISO 8601 time (UTC), got 'yesterday'",
        ),
        (
            HEADER + "\nd1,r1,A,serving,2026-03-01T10:01:00Z,2026-03-01T10:00:00Z\n",
            "events.csv: line 2: column 'end': must not be before start",
        ),
        (
            HEADER + "\n,r1,A,serving,2026-03-01T10:00:00Z,2026-03-01T10:01:00Z\n",
            "events.csv: line 2: column 'deployment_id': must not be empty",
        ),
        (
            HEADER + ",development\nd1,r1,A,serving,2026-03-01T10:00:00Z,2026-03-01T10:01:00Z,maybe\n",
            "events.csv: line 2: column 'development': must be true or false, got 'maybe'",
        ),
        (
            HEADER + ",price_per_minute\nd1,r1,A,serving,2026-03-01T10:00:00Z,2026-03-01T10:01:00Z,-1\n",
            "events.csv: line 2: column 'price_per_minute': must be >= 0 (USD per minute)",
        ),
        (
            HEADER + ",price_per_minute\nd1,r1,A,serving,2026-03-01T10:00:00Z,2026-03-01T10:01:00Z,cheap\n",
            "events.csv: line 2: column 'price_per_minute': must be a number, got 'cheap'",
        ),
        (
            HEADER + "\nd1,r1,A,model_load,2026-03-01T10:00:00Z,2026-03-01T10:02:00Z\n"
            "d1,r1,A,serving,2026-03-01T10:01:00Z,2026-03-01T10:03:00Z\n",
            "events.csv: line 3: column 'start': phase 'serving' of replica 'r1' overlaps the phase on "
            "line 2",
        ),
    ],
)
def test_bad_csv_names_line_and_column(tmp_path, body, message):
    with pytest.raises(EventsError) as err:
        load_events_csv(write(tmp_path, body))
    assert str(err.value).startswith(message)


def test_unknown_instance_type_names_the_line(tmp_path):
    path = write(tmp_path, HEADER + "\nd1,r1,Z9000,serving,2026-03-01T10:00:00Z,2026-03-01T10:01:00Z\n")
    with pytest.raises(Exception, match=r"events\.csv: line 2: instance type 'Z9000' has no price"):
        meter(load_events_csv(path), PriceTable.default(), label="events.csv")


def test_missing_file(tmp_path):
    with pytest.raises(EventsError, match=r"none\.csv: file not found"):
        load_events_csv(tmp_path / "none.csv")
