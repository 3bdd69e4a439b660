"""The fleet-scale path of ``testkey-nb billing --events`` (`testkey_nb.billing.columnar`) gives the
in-process meter's summary exactly, whatever the row order, and hands over to it for anything odd."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import polars as pl
import pytest

from testkey_nb.billing import LedgerConfig, PriceTable, bill, billing_summary, load_events_csv
from testkey_nb.billing.columnar import meter_csv
from testkey_nb.cli.billing import run_billing

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "billing_bench.py"


def _bench():
    spec = importlib.util.spec_from_file_location("billing_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("billing_bench", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def mid_size(tmp_path_factory) -> dict[str, Path]:
    """One month of 40 deployments (the benchmark's generator): ~36,000 rows in three row orders."""
    bench = _bench()
    folder = tmp_path_factory.mktemp("fleet")
    events = bench.synthetic_events(40)
    paths = {
        "generated": folder / "generated.csv",
        "by_replica": folder / "by_replica.csv",
        "shuffled": folder / "shuffled.csv",
    }
    bench.write_events_csv(events, paths["generated"])
    bench.write_events_csv(events.sort("deployment_id", "replica_id", "start", "end"), paths["by_replica"])
    bench.write_events_csv(events.sample(fraction=1.0, shuffle=True, seed=3), paths["shuffled"])
    return paths


def in_process(path: Path, config: LedgerConfig | None = None) -> dict:
    run = bill(load_events_csv(path), PriceTable.default(), config or LedgerConfig(), label=path.name)
    return billing_summary(run, source={"kind": "events", "file": path.name})


@pytest.mark.parametrize("order", ["generated", "by_replica", "shuffled"])
def test_mid_size_file_equals_the_in_process_meter(mid_size, order):
    path = mid_size[order]
    fast = meter_csv(path)
    assert fast is not None  # the columnar path ran, it did not hand over
    assert fast.rows == pl.read_csv(path).height
    assert run_billing(events=path) == in_process(path)


def test_totals_are_hand_countable(mid_size):
    # 40 deployments: 8 always on (every 5th), 32 scale to zero with 186 wakes each.
    fast = meter_csv(mid_size["generated"])
    assert fast is not None
    assert fast.deployments == sorted(f"dep-{i}" for i in range(40))
    assert fast.up_intervals == 40 + 8 + 32 * 186  # builds, warm replicas, one per wake
    assert fast.total_nano == fast.billed_minutes * 20_120_000  # every row is A10G at $0.02012/min


CSV_ODD = (
    "deployment_id,replica_id,instance_type,phase,start,end,development,price_per_minute\n"
    "d1,b1,A10G,build,2026-03-10T00:00:00+00:00,2026-03-10T00:05:10+00:00,false,\n"
    "d1,r1,a10gx4x16,model_load,2026-03-10T01:06:00.5+01:00,2026-03-10T00:08:00+00:00,no,\n"
    "d1,r1,A10Gx4x16,serving,2026-03-10T00:08:00Z,2026-03-10T00:08:00Z,0,\n"
    "d1,r1,A10Gx4x16,serving,2026-03-10T00:08:00Z,2026-03-10T00:30:30Z,0,\n"
    "d1,r1,A10Gx4x16,drain,2026-03-10T00:30:30Z,2026-03-10T00:31:00Z,,\n"
    "d2,r1,H100,serving,2026-03-11 10:00:00,2026-03-11T10:00:59Z,TRUE,\n"
    "d3,r9,custom,idle,2026-03-12T00:00:00Z,2026-03-12T02:00:00.000001Z,,0.5\n"
)
# d1's build: 5 min 10 s -> 6 minutes; replica r1 of d1 up 00:06:00.5 .. 00:30:30 -> 1,470 s -> 25 min
# (both A10G, $0.02012); d2 is a development deployment (not billed); d3 at the given $0.5 a minute,
# 2 h + 1 µs -> 121 min. A zero-length serving row starts with the next one (a tie on start).


def _interleaved(text: str) -> str:
    """The same rows, replica r1 of d1 split up and out of time order (the sort must put them back)."""
    head, *rows = text.splitlines(keepends=True)
    b1, load, zero, serving, drain, d2, d3 = rows
    return head + "".join([drain, d2, serving, b1, zero, d3, load])


@pytest.mark.parametrize("shape", ["as written", "interleaved"])
def test_mixed_time_formats_spellings_and_overrides(tmp_path, shape):
    path = tmp_path / "odd.csv"
    path.write_text(CSV_ODD if shape == "as written" else _interleaved(CSV_ODD))
    fast = meter_csv(path)
    assert fast is not None
    assert fast.billed_minutes == 6 + 25 + 121
    assert fast.total_nano == (6 + 25) * 20_120_000 + 121 * 500_000_000
    assert run_billing(events=path) == in_process(path)


def test_deactivation_hands_over_to_the_in_process_path(mid_size):
    path = mid_size["generated"]
    cfg = LedgerConfig(credits_usd=30.0, payment_method=False)
    out = run_billing(events=path, payment_method=False)
    assert out["deactivated_at"] is not None
    assert out == in_process(path, cfg)


@pytest.mark.parametrize(
    "row",
    [
        "d1,r1,A10Gx4x16,serving,2026-03-10T00:10:00Z,2026-03-10T00:20:00Z\n",  # overlaps the first
        "d1,r2,A10Gx4x16,Serving ,2026-03-10T00:10:00Z,2026-03-10T00:20:00Z\n",  # spelling: normalised
        "d1,r2,Unknown,serving,2026-03-10T00:10:00Z,2026-03-10T00:20:00Z\n",  # no price
        "d1 ,r2,A10Gx4x16,serving,2026-03-10T00:10:00Z,2026-03-10T00:20:00Z\n",  # padded id
        "d1,r1,H100,serving,2026-03-10T00:15:00Z,2026-03-10T00:20:00Z\n",  # price changes in an interval
    ],
)
def test_anything_odd_is_left_to_the_in_process_path(tmp_path, row):
    path = tmp_path / "events.csv"
    path.write_text(
        "deployment_id,replica_id,instance_type,phase,start,end\n"
        "d1,r1,A10Gx4x16,serving,2026-03-10T00:00:00Z,2026-03-10T00:15:00Z\n" + row
    )
    assert meter_csv(path) is None


@pytest.mark.parametrize("block", [5, 16, 31, 1 << 20])
def test_pieces_cut_at_line_ends_give_back_the_file_whole(tmp_path, monkeypatch, block):
    """Pieces smaller than a line, cut mid-line, or the whole file: every data line once, in order,
    each piece ending at a line end; a tail of blank lines gives no piece."""
    from testkey_nb.billing import columnar

    lines = [b"deployment_id,replica_id\n", b"dep-1,r-1\n", b"dep-22,replica-two-long-name\n", b"d,r\n"]
    path = tmp_path / "e.csv"
    path.write_bytes(b"".join(lines) + b"\n\n")
    monkeypatch.setattr(columnar, "_BLOCK", block)
    pieces = list(columnar._blocks(path))
    assert b"".join(pieces).rstrip(b"\n") + b"\n" == b"".join(lines[1:])
    assert all(p.endswith(b"\n") for p in pieces)
    assert not any(p.isspace() for p in pieces)
