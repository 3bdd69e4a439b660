"""Fleet-scale metering of an events CSV: read, normalise and meter columnar end to end.

`meter_csv` is what ``testkey-nb billing --events FILE`` runs. It applies exactly the rules of
`testkey_nb.billing.metering` (up-intervals of touching billable rows, rounding once per up-interval,
the minute grid) but never builds per-row Python objects nor the per-event frames a notebook needs:

* the CSV is read in pieces of ``_BLOCK`` bytes cut at line ends, each scanned lazily
  (``polars.scan_csv``, the needed columns as strings) straight into a narrow frame, so the peak memory
  holds one piece's strings, never the file's. Times are parsed with the one format the file's first
  row uses (``...T..:..:..Z`` or with an offset) and the text columns are read by their exact spelling
  (``true``/``false``, a number, an instance type as the price table writes it); a piece with any
  other shape or spelling is read again with the general rules of `normalize_events`
  (`testkey_nb.billing.events.parse_utc`, stripping, lower-casing);
* everything after that is integer arithmetic on the narrow frame: epoch microseconds, a 64-bit hash
  of (deployment_id, replica_id) as the replica key (a second, independently seeded hash proves that no
  two replicas share a key), an 8-bit phase code and the price per minute; rows are put in replica and
  time order by the cheapest sort the file allows (`_replica_order`);
* billed minutes are ``ceil(up-interval microseconds / 60e6)``; per-phase minutes and dollars are sums
  of integer microseconds (the last billed phase of an up-interval takes the rounding), divided once.

It does not raise for bad input: whatever it cannot vouch for (a malformed value, overlapping phases,
an unpriced instance type, a price change inside an up-interval, a hash collision, a workspace that is
deactivated and must be re-metered) makes it return ``None``, and the caller runs the in-process path
(`load_events_csv` + `bill`), which produces the precise error message or the deactivation re-metering.
Totals are equal to that path's, exactly (tests/billing/test_billing_columnar.py).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from testkey_nb.billing.events import _FALSE, _TRUE, BILLED_PHASES, PHASES, REQUIRED_COLUMNS, parse_utc
from testkey_nb.billing.metering import NANO_PER_USD, US_PER_MINUTE, minute_usage, phase_table
from testkey_nb.billing.prices import PriceTable

if TYPE_CHECKING:
    import polars as pl

_Z_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
_BLOCK = 8 << 20
_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:?\d\d$")


@dataclass(frozen=True)
class ColumnarMetering:
    """What `meter_csv` produced: the figures `testkey_nb.billing.summary` needs, nothing per event.

    ``by_phase``: phase, rows, wall_minutes, billed_minutes, usd (as `MeteringResult.by_phase`);
    ``by_deployment``: deployment_id, up_intervals, billed_minutes, usd (as `MeteringResult.by_deployment`);
    ``deployments``: every deployment id in the file, sorted; ``minute_usage``: the ledger's input.
    """

    prices: PriceTable
    billed_minutes: int
    total_nano: int
    period: tuple[datetime | None, datetime | None]
    by_phase: pl.DataFrame
    by_deployment: pl.DataFrame
    deployments: list[str]
    minute_usage: pl.DataFrame
    rows: int
    up_intervals: int


def _header(path: Path) -> tuple[list[str], list[str]] | None:
    """The header and the first data row (csv module, two lines only), or None when unusable."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            head = next(reader, None)
            first = next(reader, None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not head or not first:
        return None
    return head, first


def _time_format(sample: str) -> str | None:
    if _Z_SECONDS.match(sample):
        return "%Y-%m-%dT%H:%M:%SZ"
    if _OFFSET.match(sample):
        return "%Y-%m-%dT%H:%M:%S%.f%z"
    return None


def _parse_time(col: str, fmt: str | None) -> pl.Expr:
    import polars as pl

    if fmt is None:
        return parse_utc(pl.col(col))
    # cache=False: timestamps are nearly all distinct, a cache of parsed values only costs time
    if fmt.endswith("Z"):
        return pl.col(col).str.to_datetime(fmt, time_unit="us", strict=False, cache=False).dt.replace_time_zone("UTC")
    return pl.col(col).str.to_datetime(fmt, time_unit="us", time_zone="UTC", strict=False, cache=False)


def _narrow(source: bytes, head: list[str], cols: list[str], exprs: dict[str, pl.Expr]) -> pl.DataFrame:
    """One lazy scan of CSV text (a piece without its header) -> the narrow frame of `_narrow_exprs`.

    The piece is given as ``bytes``: polars reads them in place (a ``BytesIO`` would be copied first, which
    cost a third of the parsing time)."""
    import polars as pl

    return (
        pl.scan_csv(source, has_header=False, new_columns=head, infer_schema=False, truncate_ragged_lines=False)
        .select(cols)
        .select(**exprs)
        .collect()
    )


def _narrow_exprs(cols: list[str], fmt: str | None, lookup: dict[str, float], *, fast: bool) -> dict[str, pl.Expr]:
    """The expressions from CSV text to the narrow integer frame, with the rules of `normalize_events`
    (built once per file and reused for every piece: building them costs more than a small piece).

    Columns: k, k2 (two independently seeded hashes of deployment_id and replica_id), s, e (epoch µs,
    null when a time does not parse with ``fmt``), ph (phase code), bill (billed phase of a
    non-development deployment), price (USD per minute: the row's override, else the price table by the
    stripped, case-insensitive instance type), dep (deployment_id), bad (a value `normalize_events`
    would strip, lower-case or refuse: the in-process path must take over), slow (``fast`` only: a value
    the exact-spelling fast path does not read, e.g. ``TRUE`` or `` 0.5``: the piece is read again with
    ``fast=False``, which strips and lower-cases like `normalize_events`).
    """
    import polars as pl

    ids = ("deployment_id", "replica_id")
    # empty, or changed by the strip `normalize_events` applies (cheaper than a whitespace regex)
    padded = [pl.col(c).str.strip_chars().str.len_bytes() != pl.col(c).str.len_bytes() for c in ids]
    bad = pl.any_horizontal(
        *(pl.col(c).is_null() | (pl.col(c) == "") for c in ids), *padded, pl.col("phase").is_null()
    )
    slow = pl.lit(False)
    dev = pl.lit(False)
    if "development" in cols:
        raw = pl.col("development")
        if fast:
            slow = slow | ~(raw.is_null() | raw.is_in(["true", "false"]))
            dev = (raw == "true").fill_null(False)
        else:
            text = raw.str.strip_chars().str.to_lowercase().fill_null("")
            bad = bad | ~text.is_in(list(_TRUE + _FALSE))
            dev = text.is_in(list(_TRUE))
    ppm = pl.lit(None, dtype=pl.Float64)
    if "price_per_minute" in cols:
        ptext = pl.col("price_per_minute") if fast else pl.col("price_per_minute").str.strip_chars().replace("", None)
        ppm = ptext.cast(pl.Float64, strict=False)
        odd = ptext.is_not_null() & (ppm.is_null() | ~ppm.is_finite() | (ppm < 0))
        slow, bad = (slow | odd, bad) if fast else (slow, bad | odd)
    kind = pl.col("instance_type")
    if fast:  # exact names (as written in the table, or lower-case): anything else is read the slow way
        table_price = kind.replace_strict(lookup, default=None, return_dtype=pl.Float64)
    else:
        table_price = kind.str.strip_chars().str.to_lowercase().replace_strict(
            {k.lower(): v for k, v in lookup.items()}, default=None, return_dtype=pl.Float64
        )
    billed = pl.col("phase").is_in(list(BILLED_PHASES)) & ~dev
    price = pl.coalesce(ppm, table_price)
    if fast:
        slow = slow | (billed & price.is_null())
    h = pl.col("deployment_id").hash(seed=0) ^ pl.col("replica_id").hash(seed=1)
    h2 = pl.col("deployment_id").hash(seed=2) ^ pl.col("replica_id").hash(seed=3)
    return {
        "k": h,
        "k2": (h2 & 0xFFFFFFFF).cast(pl.UInt32),
        "s": _parse_time("start", fmt).dt.epoch("us"),
        "e": _parse_time("end", fmt).dt.epoch("us"),
        "ph": pl.col("phase").cast(pl.Enum(list(PHASES))).to_physical().cast(pl.UInt8),
        "bill": billed,
        "price": price,
        "dep": pl.col("deployment_id"),
        "bad": bad,
        "slow": slow,
    }


def _exact_lookup(table: PriceTable) -> dict[str, float]:
    """Instance type spellings read without stripping: the table's names and aliases as written and in
    lower case (what `PriceTable.lookup_map` matches after lower-casing)."""
    out = dict(table.lookup_map())
    for name, price in table.prices.items():
        out.setdefault(name, float(price))
    for alias, name in table.aliases.items():
        out.setdefault(alias, float(table.prices[name]))
    return out


def _blocks(path: Path) -> Iterator[bytes]:
    """The data lines (no header) in pieces of about ``_BLOCK`` bytes, each ending at a line end.

    Reading piece by piece keeps the peak memory to one piece's strings plus the narrow frame; a file
    with a quote character (a field that may hold a line break) is not cut: `ValueError`."""
    with path.open("rb") as fh:
        if b'"' in fh.readline():
            raise ValueError("quoted fields")
        while True:
            chunk = fh.read(_BLOCK)
            if not chunk:
                return
            cut = chunk.rfind(b"\n")
            if cut < 0:  # a line longer than a piece: read on to its end
                chunk += fh.readline()
            elif cut + 1 < len(chunk):  # give back the cut line's start: one copy, no carried tail
                fh.seek(cut + 1 - len(chunk), 1)
                chunk = chunk[: cut + 1]
            if b'"' in chunk:
                raise ValueError("quoted fields")
            if not chunk.isspace():  # not strip(): that copies the piece
                yield chunk


def _read(
    path: Path, head: list[str], cols: list[str], fmt: str | None, lookup: dict[str, float]
) -> pl.DataFrame | None:
    import polars as pl

    parts = []
    fast, general = _narrow_exprs(cols, fmt, lookup, fast=True), _narrow_exprs(cols, None, lookup, fast=False)
    try:
        for block in _blocks(path):
            part = _narrow(block, head, cols, fast)
            odd_time = fmt is not None and (part["s"].null_count() or part["e"].null_count())
            if odd_time or part["slow"].any():
                # a row in another ISO 8601 shape or spelling: this piece again with the general rules
                part = _narrow(block, head, cols, general)
            parts.append(part.drop("slow"))
    except (pl.exceptions.PolarsError, OSError, ValueError):
        return None
    if not parts:
        return None
    n = pl.concat(parts, how="vertical", rechunk=False)
    parts.clear()
    if n.height == 0 or n["s"].null_count() or n["e"].null_count():
        return None
    return n


def meter_csv(path: str | Path, prices: PriceTable | None = None) -> ColumnarMetering | None:
    """Meter an events CSV columnar; ``None`` when the in-process path must take over (see module doc)."""
    import polars as pl

    table = prices or PriceTable.default()
    p = Path(path)
    found = _header(p)
    if found is None:
        return None
    head, first = found
    if len(set(head)) != len(head) or any(c != c.strip() for c in head):
        return None
    if any(c not in head for c in REQUIRED_COLUMNS):
        return None
    fmt = _time_format(first[head.index("start")].strip())
    cols = [*REQUIRED_COLUMNS] + [c for c in ("development", "price_per_minute") if c in head]
    n = _read(p, head, cols, fmt, _exact_lookup(table))
    if n is None:
        return None
    if n.select(pl.col("bad").any() | (pl.col("e") < pl.col("s")).any()).item():
        return None
    deps = n["dep"]
    n = n.drop("dep", "bad")
    if n.filter(pl.col("bill") & pl.col("price").is_null()).height:
        return None

    cols_by_name = {c: n.get_column(c) for c in n.columns}
    del n
    _replica_order(cols_by_name)
    n = pl.DataFrame(cols_by_name)
    del cols_by_name
    same = pl.col("k") == pl.col("k").shift(1)
    bad = n.select(
        collision=(same & (pl.col("k2") != pl.col("k2").shift(1))).any(),
        overlap=(same & (pl.col("s") < pl.col("e").shift(1))).any(),
    ).row(0)
    if any(bad):
        return None

    # --- up-intervals -------------------------------------------------------------------------------
    b = n.filter(pl.col("bill")).select("k", "s", "e", "ph", "price", "i")
    b = b.with_columns(
        new=((pl.col("k") != pl.col("k").shift(1)) | (pl.col("s") != pl.col("e").shift(1))).fill_null(True)
    )
    if b.select((~pl.col("new") & (pl.col("price") != pl.col("price").shift(1))).any()).item():
        return None
    b = b.with_columns(iv=pl.col("new").cum_sum(), last=pl.col("new").shift(-1).fill_null(True))
    firsts = b.filter(pl.col("new")).select("iv", "s", "price", "i")
    lasts = b.filter(pl.col("last")).select(e="e")
    iv = pl.concat([firsts, lasts], how="horizontal").with_columns(
        us=pl.col("e") - pl.col("s"), pn=(pl.col("price") * NANO_PER_USD).round(0).cast(pl.Int64)
    )
    iv = iv.with_columns(minutes=(pl.col("us") + US_PER_MINUTE - 1) // US_PER_MINUTE).with_columns(
        rem=pl.col("minutes") * US_PER_MINUTE - pl.col("us")
    )
    # the rounding goes to the last phase of the up-interval with a positive duration
    pos = b.filter(pl.col("e") > pl.col("s")).select("iv", "ph", "price")
    last_pos = pos.filter(pl.col("iv") != pl.col("iv").shift(-1).fill_null(-1)).join(
        iv.select("iv", "rem"), on="iv", how="left"
    )

    by_phase = _by_phase(n, b, last_pos)
    iv = iv.with_columns(deployment_id=deps.gather(iv["i"]))
    by_dep = (
        iv.group_by("deployment_id")
        .agg(
            up_intervals=pl.len(),
            billed_minutes=pl.col("minutes").sum(),
            usd_nano=(pl.col("minutes") * pl.col("pn")).sum(),
        )
        .with_columns(usd=(pl.col("usd_nano") / NANO_PER_USD).round(9))
        .drop("usd_nano")
        .sort("deployment_id")
    )
    dt = pl.Datetime("us", "UTC")
    usage = minute_usage(
        iv.select(
            start=pl.col("s").cast(dt),
            billed_minutes=pl.col("minutes"),
            price_per_minute=pl.col("price"),
        )
    )
    stats = n.select(lo=pl.col("s").min().cast(dt), hi=pl.col("e").max().cast(dt)).row(0)
    total = iv.select(m=pl.col("minutes").sum(), nano=(pl.col("minutes") * pl.col("pn")).sum()).row(0)
    return ColumnarMetering(
        prices=table,
        billed_minutes=int(total[0] or 0),
        total_nano=int(total[1] or 0),
        period=(stats[0], stats[1]),
        by_phase=by_phase,
        by_deployment=by_dep,
        deployments=deps.unique().sort().to_list(),
        minute_usage=usage,
        rows=n.height,
        up_intervals=iv.height,
    )


def _replica_order(cols: dict[str, pl.Series]) -> None:
    """Order the columns (in place) by replica, then start, then end; add ``i`` = the row in the file.

    A file written replica by replica (every replica's rows together, as an export would list them)
    keeps its order: nothing moves when its rows are already in time order within each replica, else
    an arg-sort by (run, start, end). Any other file is arg-sorted stably by the replica hash, which is
    enough when each replica's rows come in time order; else by a 128-bit key (replica hash, start), and
    by (replica, start, end) when two phases of a replica start together. Columns are then gathered
    one at a time, each old column released before the next is gathered (peak memory)."""
    import polars as pl

    for name in list(cols):  # one contiguous buffer per column: a gather from many chunks is slow
        cols[name] = cols.pop(name).rechunk()
    key = pl.DataFrame({"k": cols["k"], "s": cols["s"], "e": cols["e"]})
    key = key.with_columns(r=pl.col("k").rle_id())
    perm: pl.Series | None = None
    done: dict[str, pl.Series] = {}
    if key.select(pl.col("r").max() + 1 == pl.col("k").n_unique()).item():
        same = pl.col("r") == pl.col("r").shift(1)
        prev_s = pl.col("s").shift(1)
        disorder = same & ((pl.col("s") < prev_s) | ((pl.col("s") == prev_s) & (pl.col("e") < pl.col("e").shift(1))))
        if key.select(disorder.any()).item():
            perm = key.select(pl.arg_sort_by("r", "s", "e")).to_series()
    else:
        # a stable sort by replica keeps the file's order within each replica: enough when that order is
        # already by time (a file written in time order, or phase by phase); else the 128-bit key
        perm = key.select(pl.arg_sort_by("k", maintain_order=True)).to_series()
        ordered = key.select("k", "s", "e").gather(perm)
        prev_s = pl.col("s").shift(1)
        late = (pl.col("s") < prev_s) | ((pl.col("s") == prev_s) & (pl.col("e") < pl.col("e").shift(1)))
        if ordered.select(((pl.col("k") == pl.col("k").shift(1)) & late).any()).item():
            del ordered
            s_min = int(cols["s"].min())  # type: ignore[arg-type]
            wide = pl.col("k").cast(pl.Int128) * (1 << 64) + (pl.col("s") - s_min).cast(pl.Int128)
            perm = key.select(wide.arg_sort()).to_series()
            ordered = key.select("k", "s", "e").gather(perm)
            same_start = (pl.col("k") == pl.col("k").shift(1)) & (pl.col("s") == pl.col("s").shift(1))
            if ordered.select(same_start.any()).item():
                del ordered
                perm = key.select(pl.arg_sort_by("k", "s", "e")).to_series()
                ordered = key.select("k", "s", "e").gather(perm)
        done = {c: ordered.get_column(c) for c in ("k", "s", "e")}  # already gathered with this order
        del ordered
    del key
    if perm is None:
        cols["i"] = pl.int_range(0, len(cols["k"]), dtype=pl.UInt32, eager=True)
        return
    for name in list(cols):
        old = cols.pop(name)
        cols[name] = done[name] if name in done else old.gather(perm)
        del old
    cols["i"] = perm.cast(pl.UInt32)


def _by_phase(n: pl.DataFrame, b: pl.DataFrame, last_pos: pl.DataFrame) -> pl.DataFrame:
    """phase, rows, wall_minutes, billed_minutes, usd from integer microseconds (exact, one division)."""
    import polars as pl

    wall = n.group_by("ph").agg(rows=pl.len(), wall_us=(pl.col("e") - pl.col("s")).sum())
    billed = (
        pl.concat(
            [
                b.select("ph", "price", us=pl.col("e") - pl.col("s")),
                last_pos.select("ph", "price", us=pl.col("rem")),
            ]
        )
        .group_by("ph", "price")
        .agg(pl.col("us").sum())
    )
    return phase_table(
        {PHASES[r["ph"]]: (int(r["rows"]), int(r["wall_us"])) for r in wall.iter_rows(named=True)},
        [(PHASES[r["ph"]], r["price"], int(r["us"])) for r in billed.iter_rows(named=True)],
    )
