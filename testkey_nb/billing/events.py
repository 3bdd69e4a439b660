"""Replica lifecycle events: the phases, which of them Baseten bills, and loading/validating them.

An events frame has one row per phase of a replica's life:

==================  =====================================================================
column              meaning
==================  =====================================================================
deployment_id       str, the deployment (or training job) the replica belongs to
replica_id          str, the replica; a build runs as its own replica (its own id)
instance_type       str | null, instance type name (priced by `PriceTable`)
phase               str, one of `PHASES`
start, end          datetime[us, UTC], the phase's wall-clock span, ``end >= start``
development         bool, a development deployment (``truss push --watch``): never billed
price_per_minute    f64 | null, overrides the price table for this row
==================  =====================================================================

Which phases are billed (the lifecycle table of the billing docs, one rule per row):

* billed: ``build`` (the builder workload), ``build_failed`` (a build that fails inside the builder,
  billed up to the failure: the row ends at the failure), ``model_load`` (cold start: the replica is
  observed as up while the model loads), ``serving``, ``idle`` (a warm replica without traffic, e.g.
  ``min_replica >= 1`` or inside the scale-down delay), ``training`` (training and fine-tuning jobs,
  metered the same way). A replica terminated by autoscaling or killed mid-request is billed up to
  termination: its last billed row simply ends at the termination time.
* not billed: ``scheduling`` and ``image_pull`` (before the replica is observed as up), ``drain``
  (drain and cleanup after termination), ``failed_boot`` (the replica was never observed as up),
  ``scaled_to_zero`` (no replica at all).
* rows of a development deployment are never billed, whatever their phase.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from testkey_nb.billing.errors import EventsError
from testkey_nb.billing.errors import shown as show

if TYPE_CHECKING:
    import polars as pl

BILLED_PHASES: tuple[str, ...] = ("build", "build_failed", "model_load", "serving", "idle", "training")
UNBILLED_PHASES: tuple[str, ...] = ("scheduling", "image_pull", "drain", "failed_boot", "scaled_to_zero")
PHASES: tuple[str, ...] = BILLED_PHASES + UNBILLED_PHASES

REQUIRED_COLUMNS: tuple[str, ...] = ("deployment_id", "replica_id", "instance_type", "phase", "start", "end")
OPTIONAL_COLUMNS: tuple[str, ...] = ("development", "price_per_minute")

#: why each phase is (not) billed, shown next to every event
REASONS: dict[str, str] = {
    "build": "billed: the image build runs in a builder workload, metered like a replica",
    "build_failed": "billed up to the failure: the build failed inside the builder workload",
    "model_load": "billed: cold start, the replica is observed as up while the model loads",
    "serving": "billed: serving requests",
    "idle": "billed: idle warm replica (min_replica >= 1 or inside the scale-down delay)",
    "training": "billed: training workload, metered the same way as serving",
    "scheduling": "not billed: scheduling, before the replica is observed as up",
    "image_pull": "not billed: image pull onto the node, before the replica is observed as up",
    "drain": "not billed: drain and cleanup after termination",
    "failed_boot": "not billed: failed boot, the replica was never observed as up",
    "scaled_to_zero": "not billed: scaled to zero, no replica runs",
}
REASON_DEVELOPMENT = "not billed: development deployment (truss push --watch)"
REASON_DEACTIVATED = "not billed: after deactivation (credits exhausted, no payment method)"

_TRUE = ("true", "1", "yes", "y", "t")
_FALSE = ("false", "0", "no", "n", "f", "")


def events_schema() -> dict[str, pl.DataType]:
    import polars as pl

    return {
        "deployment_id": pl.String(),
        "replica_id": pl.String(),
        "instance_type": pl.String(),
        "phase": pl.String(),
        "start": pl.Datetime("us", "UTC"),
        "end": pl.Datetime("us", "UTC"),
        "development": pl.Boolean(),
        "price_per_minute": pl.Float64(),
    }


def empty_events() -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame(schema=events_schema())


def parse_utc(expr: pl.Expr) -> pl.Expr:
    """ISO 8601 strings -> datetime[us, UTC]; offsets are converted, naive times are taken as UTC.
    Unparseable values become null (the caller reports them)."""
    import polars as pl

    s = expr.str.strip_chars().str.replace(" ", "T").str.replace(r"[zZ]$", "+00:00")
    aware = s.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", time_unit="us", time_zone="UTC", strict=False)
    naive = s.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", time_unit="us", strict=False)
    naive_min = s.str.to_datetime("%Y-%m-%dT%H:%M", time_unit="us", strict=False)
    return pl.coalesce(
        aware,
        naive.dt.replace_time_zone("UTC"),
        naive_min.dt.replace_time_zone("UTC"),
    )


def load_events_csv(path: str | Path) -> pl.DataFrame:
    """Read and validate an events CSV (columns as in the module docstring; ISO 8601 times, UTC).

    Returns a normalized events frame plus a ``line`` column (the CSV line number, header = 1).
    Raises `EventsError` naming the file, line and column of the first problem.
    """
    import polars as pl

    p = Path(path)
    label = p.name
    try:
        raw = pl.read_csv(p, infer_schema=False, truncate_ragged_lines=False)
    except FileNotFoundError as exc:
        raise EventsError(f"{label}: file not found") from exc
    except pl.exceptions.NoDataError as exc:
        raise EventsError(f"{label}: no event rows (the file is empty; expected a header line)") from exc
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EventsError(f"{label}: not a readable CSV file ({first})") from exc
    raw = raw.rename({c: c.strip() for c in raw.columns})
    if raw.height == 0:
        raise EventsError(f"{label}: no event rows (expected a header and one row per phase)")
    raw = raw.with_columns(line=pl.int_range(2, raw.height + 2, dtype=pl.Int64))
    return normalize_events(raw, label=label)


def normalize_events(events: pl.DataFrame, *, label: str = "events") -> pl.DataFrame:
    """Validate and type an events frame (strings or typed columns), raising `EventsError`.

    Checks: required columns present and non-empty, phase known, start/end parse as ISO 8601 and
    ``end >= start``, ``development`` is a boolean, ``price_per_minute`` a number >= 0, and no two
    phases of one replica overlap. Adds ``development = false`` and ``price_per_minute = null`` when
    absent. Keeps a ``line`` column when present (used in messages), else adds ``line`` = row index.
    """
    import polars as pl

    missing = [c for c in REQUIRED_COLUMNS if c not in events.columns]
    if missing:
        raise EventsError(f"{label}: missing column {missing[0]!r} (required: {', '.join(REQUIRED_COLUMNS)})")
    has_line = "line" in events.columns
    df = events if has_line else events.with_row_index("line").with_columns(pl.col("line").cast(pl.Int64))
    where = "line" if has_line else "row"

    def fail(bad: pl.Series | pl.Expr, column: str, message: str, value_col: str | None = None) -> None:
        hit = df.filter(bad)
        if hit.height:
            row = hit.row(0, named=True)
            shown = row.get(value_col or column)
            raise EventsError(f"{label}: {where} {row['line']}: column {column!r}: {message}, got {show(shown)}")

    for col in ("deployment_id", "replica_id", "phase"):
        df = df.with_columns(pl.col(col).cast(pl.String).str.strip_chars())
        fail(pl.col(col).is_null() | (pl.col(col) == ""), col, "must not be empty")
    df = df.with_columns(
        pl.col("instance_type").cast(pl.String).str.strip_chars().replace("", None),
        pl.col("phase").str.to_lowercase(),
    )
    fail(~pl.col("phase").is_in(list(PHASES)), "phase", f"unknown phase (known: {', '.join(PHASES)})")

    for col in ("start", "end"):
        dtype = df.schema[col]
        if dtype == pl.String:
            df = df.with_columns(parse_utc(pl.col(col)).alias(f"_{col}"))
            fail(pl.col(f"_{col}").is_null(), col, "must be an ISO 8601 time (UTC)", value_col=col)
            df = df.with_columns(pl.col(f"_{col}").alias(col)).drop(f"_{col}")
        elif isinstance(dtype, pl.Datetime):
            fail(pl.col(col).is_null(), col, "must not be empty")
            if dtype.time_zone is None:
                df = df.with_columns(pl.col(col).dt.replace_time_zone("UTC"))
            df = df.with_columns(pl.col(col).dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
        else:
            raise EventsError(f"{label}: column {col!r} must hold ISO 8601 strings or datetimes, not {dtype}")
    fail(pl.col("end") < pl.col("start"), "end", "must not be before start")

    if "development" not in df.columns:
        df = df.with_columns(development=pl.lit(False))
    elif df.schema["development"] != pl.Boolean:
        text = pl.col("development").cast(pl.String).str.strip_chars().str.to_lowercase().fill_null("")
        fail(~text.is_in(list(_TRUE + _FALSE)), "development", "must be true or false")
        df = df.with_columns(development=text.is_in(list(_TRUE)))
    else:
        df = df.with_columns(pl.col("development").fill_null(False))

    if "price_per_minute" not in df.columns:
        df = df.with_columns(price_per_minute=pl.lit(None, dtype=pl.Float64))
    elif df.schema["price_per_minute"] == pl.String:
        text = pl.col("price_per_minute").str.strip_chars().replace("", None)
        num = text.cast(pl.Float64, strict=False)
        fail(text.is_not_null() & (num.is_null() | ~num.is_finite()), "price_per_minute", "must be a number")
        df = df.with_columns(price_per_minute=num)
    else:
        df = df.with_columns(pl.col("price_per_minute").cast(pl.Float64))
    fail(pl.col("price_per_minute") < 0, "price_per_minute", "must be >= 0 (USD per minute)")

    # two phases of one replica must not overlap (touching is fine)
    df = df.sort("deployment_id", "replica_id", "start", "end", maintain_order=True)
    prev_end = pl.col("end").shift(1).over("deployment_id", "replica_id")
    prev_line = pl.col("line").shift(1).over("deployment_id", "replica_id")
    clash = df.with_columns(_prev_end=prev_end, _prev_line=prev_line).filter(
        pl.col("start") < pl.col("_prev_end")
    )
    if clash.height:
        row = clash.row(0, named=True)
        raise EventsError(
            f"{label}: {where} {row['line']}: column 'start': phase {row['phase']!r} of replica "
            f"{row['replica_id']!r} overlaps the phase on {where} {row['_prev_line']}"
        )
    schema = events_schema()
    return df.select(*(pl.col(c).cast(t) for c, t in schema.items()), pl.col("line").cast(pl.Int64))
