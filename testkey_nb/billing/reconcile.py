"""The metering model reconciled against Baseten's usage summary, per day, for dedicated deployments.

Two figures for every UTC day and deployment:

* **model**: what the billing model (`testkey_nb.billing.metering`) bills for the replicas the
  deployments' own records show (``GET /v1/models/{id}/deployments``, DeploymentV1): a deployment
  that is ``BUILDING`` has its builder up since ``created_at``; a deployment whose status keeps
  replicas (ACTIVE, UPDATING, UNHEALTHY, WAKING_UP, LOADING_MODEL, DEPLOYING) has ``min_replica`` warm
  replicas up since ``created_at``; a development deployment is never billed; nothing else is assumed.
  Minutes are rounded once per up-interval and charged on the UTC minute grid, priced with the
  instance price table (observed ``GET /v1/instance_type_prices`` when readable, else documented).
* **observed**: ``GET /v1/billing/usage_summary`` ``dedicated_usage.breakdown[].daily[]`` minutes and
  subtotal (provenance ``observed``).

The difference per day is split into its explanations, in minutes (``observed - model``):

* ``rounding_minutes``: up to one minute, in either direction, per replica the model sees that day
  whose up-interval does not start on a whole minute or ends inside the day off a whole minute (the
  billing docs: "Partial minutes are rounded up"; the usage summary may round each replica's day, the
  model rounds each up-interval, so a minute cut by midnight can land on either side);
* ``unobserved_minutes``: minutes Baseten billed that no record shows: replicas autoscaled above
  ``min_replica``, wakes of a scale-to-zero deployment, the build of a deployment that failed, a
  deployment inactive now that ran earlier (positive part beyond rounding);
* ``model_only_minutes``: minutes the model counts that Baseten did not bill (negative part beyond
  rounding): a replica the settings promise was not up (deactivated, credits ran out, created later).

A day is **flagged** when the minutes or the dollars differ by more than ``tolerance_pct`` (5 %) of
the observed figure (a day with model minutes and no observed usage differs by 100 %).
Sources: Baseten's billing docs (https://docs.baseten.co/organization/billing: "For every minute a replica is
observed as up on a node, the per-minute price for its instance type applies"; "Usage is tracked per
deployment and updated hourly"), the management API spec (https://docs.baseten.co/reference/management-api/overview:
DeploymentV1, DeploymentStatusV1, UsageSummaryV1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from testkey_nb.billing.events import events_schema
from testkey_nb.billing.metering import meter
from testkey_nb.billing.prices import PriceTable

if TYPE_CHECKING:
    import polars as pl

    from testkey_nb.billing.observed import UsageFrames

#: DeploymentStatusV1 values in which ``min_replica`` replicas are kept up
WARM_STATUSES: tuple[str, ...] = ("ACTIVE", "UPDATING", "UNHEALTHY", "WAKING_UP", "LOADING_MODEL", "DEPLOYING")
DEFAULT_TOLERANCE_PCT = 5.0
_FIGURES = (
    "model_minutes", "observed_minutes", "diff_minutes", "model_usd", "observed_usd", "diff_usd",
    "rounding_minutes", "unobserved_minutes", "model_only_minutes",
)  # fmt: skip

_EXPLAIN = {
    "agree": "model and usage summary agree",
    "rounding": "rounding: partial minutes rounded up per replica and day (usage) or per up-interval (model)",
    "unobserved": "unobserved replicas: billed minutes no deployment record shows (replicas above "
    "min_replica, scale-to-zero wakes, builds of failed deployments, deployments inactive now)",
    "model_only": "the model counts minutes the usage summary does not (a replica the settings promise "
    "was not up: deactivated, credits ran out, created later)",
}


@dataclass(frozen=True)
class Reconciliation:
    """Model against observed, per day (``daily``) and per day and deployment (``by_deployment``).

    ``daily``: date, model_minutes, observed_minutes, diff_minutes, model_usd, observed_usd, diff_usd,
    diff_pct (minutes, of observed), diff_usd_pct, rounding_minutes, unobserved_minutes,
    model_only_minutes, flagged, explanation.
    ``by_deployment``: the same per (date, deployment_id) plus deployment_name, model_replicas (the
    replicas the model sees that day), rounding_allowance (how many of them rounding can move a minute).
    """

    daily: pl.DataFrame
    by_deployment: pl.DataFrame
    tolerance_pct: float
    window: tuple[datetime, datetime]
    prices: dict[str, str | None]
    notes: tuple[str, ...] = ()

    def totals(self) -> dict[str, float]:
        d = self.daily
        model_m = float(d["model_minutes"].sum() or 0)
        obs_m = float(d["observed_minutes"].sum() or 0)
        model_usd = float(d["model_usd"].sum() or 0.0)
        obs_usd = float(d["observed_usd"].sum() or 0.0)
        return {
            "model_minutes": model_m,
            "observed_minutes": obs_m,
            "model_usd": round(model_usd, 6),
            "observed_usd": round(obs_usd, 6),
            "diff_pct": _pct(obs_m - model_m, obs_m),
            "diff_usd_pct": _pct(obs_usd - model_usd, obs_usd),
            "flagged_days": int(d["flagged"].sum() or 0),
        }


def _pct(diff: float, observed: float) -> float:
    if observed == 0:
        return 0.0 if diff == 0 else 100.0
    return round(100.0 * diff / observed, 4)


def _ts(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        out = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return out.replace(tzinfo=UTC) if out.tzinfo is None else out.astimezone(UTC)


def lifecycle_from_deployments(deployments: list[dict[str, Any]], start: datetime, end: datetime) -> pl.DataFrame:
    """The replica lifecycle the deployments' records show, as an events frame (see module docstring).

    ``start``/``end`` bound the window (UTC). Deployments without ``created_at`` are skipped: their
    replicas cannot be placed in time (their usage then shows as unobserved)."""
    import polars as pl

    rows: list[dict[str, Any]] = []
    for d in deployments:
        dep_id, created = d.get("id"), _ts(d.get("created_at"))
        if not isinstance(dep_id, str) or created is None or bool(d.get("is_development")):
            continue
        s = max(created, start)
        if s >= end:
            continue
        status = d.get("status")
        settings = d.get("autoscaling_settings")
        base = {"deployment_id": dep_id, "instance_type": d.get("instance_type_name"), "start": s, "end": end}
        if status == "BUILDING":
            rows.append(base | {"replica_id": f"{dep_id}-build", "phase": "build"})
        elif status in WARM_STATUSES and isinstance(settings, dict):
            warm = settings.get("min_replica")
            for r in range(warm if isinstance(warm, int) and warm > 0 else 0):
                rows.append(base | {"replica_id": f"{dep_id}-warm-{r + 1}", "phase": "idle"})
    schema = events_schema()
    if not rows:
        return pl.DataFrame(schema=schema)
    return (
        pl.DataFrame(rows)
        .with_columns(development=pl.lit(False), price_per_minute=pl.lit(None, dtype=pl.Float64))
        .select(*schema)
        .cast(pl.Schema(schema))
    )


def model_daily(events: pl.DataFrame, prices: PriceTable) -> pl.DataFrame:
    """Billed minutes and dollars per UTC day and deployment (date, deployment_id, minutes, usd,
    replicas, rounding) from an events frame, via `meter` and its hourly buckets (the minute grid).
    ``rounding``: the up-intervals whose rounded minute a day boundary can cut (see `reconcile`)."""
    import polars as pl

    schema = {"date": pl.Date, "deployment_id": pl.String, "minutes": pl.Int64, "usd": pl.Float64,
              "replicas": pl.Int64, "rounding": pl.Int64}  # fmt: skip
    if events.height == 0:
        return pl.DataFrame(schema=schema)
    m = meter(events, prices, label="deployments")
    hourly = m.hourly.with_columns(date=pl.col("hour").dt.date())
    # replicas up at some instant of the day (an up-interval ending at midnight does not touch the next);
    # a day boundary can cut one of its billed minutes only when the interval does not start on a whole
    # minute, or ends inside the day off a whole minute: that is the day's rounding allowance
    us_min = 60_000_000
    start_off = pl.col("start").dt.epoch("us") % us_min != 0
    end_off = pl.col("end").dt.epoch("us") % us_min != 0
    replicas = (
        m.up_intervals.filter(pl.col("end") > pl.col("start"))
        .with_columns(
            date=pl.date_ranges(
                pl.col("start").dt.date(), (pl.col("end") - pl.duration(microseconds=1)).dt.date()
            ),
            _last=(pl.col("end") - pl.duration(microseconds=1)).dt.date(),
            _start_off=start_off,
            _end_off=end_off,
        )
        .explode("date")
        .group_by("deployment_id", "date")
        .agg(
            replicas=pl.len(),
            rounding=(pl.col("_start_off") | (pl.col("_end_off") & (pl.col("date") == pl.col("_last")))).sum(),
        )
    )
    return (
        hourly.group_by("date", "deployment_id")
        .agg(pl.col("minutes").sum(), pl.col("usd").sum())
        .join(replicas, on=["deployment_id", "date"], how="full", coalesce=True)
        .with_columns(pl.col("minutes").fill_null(0), pl.col("usd").fill_null(0.0))
        .select(*schema)
        .cast(pl.Schema(schema))
        .sort("date", "deployment_id")
    )


def reconcile(
    deployments: list[dict[str, Any]],
    usage: UsageFrames,
    prices: PriceTable | None = None,
    *,
    start: datetime,
    end: datetime,
    tolerance_pct: float = DEFAULT_TOLERANCE_PCT,
) -> Reconciliation:
    """Model (from ``deployments``) against observed (``usage``) per day over ``[start, end)``.

    The model is run from the midnight of ``start``'s day (the usage summary reports whole days)."""
    import polars as pl

    table = prices or PriceTable.default()
    start = start.astimezone(UTC) if start.tzinfo else start.replace(tzinfo=UTC)
    end = end.astimezone(UTC) if end.tzinfo else end.replace(tzinfo=UTC)
    day0 = datetime.combine(start.date(), time(0), UTC)
    events = lifecycle_from_deployments(deployments, day0, end)
    notes: list[str] = []
    unpriced = sorted(
        {t for t in events["instance_type"].unique().to_list() if table.price_of(t) is None}, key=str
    )
    if unpriced:
        notes.append(
            f"no {table.provenance} price for instance type(s) {', '.join(map(str, unpriced))}: "
            "their minutes are modelled, their dollars are not (counted as $0)"
        )
        known = pl.col("instance_type").map_elements(table.price_of, return_dtype=pl.Float64)
        events = events.with_columns(price_per_minute=known.fill_null(0.0))
    model = model_daily(events, table)
    obs = usage.daily.filter(pl.col("kind") == "MODEL_DEPLOYMENT") if usage.readable else usage.daily.clear()
    if usage.readable and usage.daily.height > obs.height:
        notes.append("training jobs and chainlets are left out: the model covers dedicated deployments")
    names = {d.get("id"): d.get("name") for d in deployments if isinstance(d.get("id"), str)}
    obs = obs.filter((pl.col("date") >= day0.date()) & (pl.col("date") <= end.date()))
    joined = (
        model.join(
            obs.select("date", "deployment_id", obs_minutes="minutes", obs_usd="usd", obs_name="deployment_name"),
            on=["date", "deployment_id"],
            how="full",
            coalesce=True,
        )
        .with_columns(
            model_minutes=pl.col("minutes").fill_null(0),
            model_usd=pl.col("usd").fill_null(0.0),
            observed_minutes=pl.col("obs_minutes").fill_null(0),
            observed_usd=pl.col("obs_usd").fill_null(0.0),
            model_replicas=pl.col("replicas").fill_null(0),
            rounding_allowance=pl.col("rounding").fill_null(0),
            deployment_name=pl.coalesce(
                pl.col("obs_name"), pl.col("deployment_id").replace_strict(names, default=None, return_dtype=pl.String)
            ),
        )
        .with_columns(diff_minutes=pl.col("observed_minutes") - pl.col("model_minutes"))
    )
    allowance = pl.col("rounding_allowance")
    rounding = pl.col("diff_minutes").clip(-allowance, allowance)
    by_dep = (
        joined.with_columns(rounding_minutes=rounding)
        .with_columns(
            unobserved_minutes=(pl.col("diff_minutes") - pl.col("rounding_minutes")).clip(lower_bound=0),
            model_only_minutes=(pl.col("rounding_minutes") - pl.col("diff_minutes")).clip(lower_bound=0),
            diff_usd=pl.col("observed_usd") - pl.col("model_usd"),
        )
        .select("date", "deployment_id", "deployment_name", "model_replicas", "rounding_allowance", *_FIGURES)
        .sort("date", "deployment_id")
    )
    daily = (
        by_dep.group_by("date")
        .agg(pl.col(c).sum() for c in _FIGURES)
        .sort("date")
    )
    daily = _add_flags(daily, tolerance_pct)
    by_dep = _add_flags(by_dep, tolerance_pct)
    return Reconciliation(
        daily=daily,
        by_deployment=by_dep,
        tolerance_pct=tolerance_pct,
        window=(day0, end),
        prices=table.provenance_dict(),
        notes=tuple(notes),
    )


def _add_flags(frame: pl.DataFrame, tolerance_pct: float) -> pl.DataFrame:
    import polars as pl

    def pct(diff: str, observed: str) -> pl.Expr:
        return (
            pl.when(pl.col(observed) != 0)
            .then(100.0 * pl.col(diff) / pl.col(observed))
            .when(pl.col(diff) == 0)
            .then(0.0)
            .otherwise(pl.lit(100.0) * pl.col(diff).sign())
            .round(4)
        )

    parts = [
        pl.when(pl.col("rounding_minutes") != 0).then(
            pl.format("{} ({} min)", pl.lit(_EXPLAIN["rounding"]), pl.col("rounding_minutes"))
        ),
        pl.when(pl.col("unobserved_minutes") > 0).then(
            pl.format("{} (+{} min)", pl.lit(_EXPLAIN["unobserved"]), pl.col("unobserved_minutes"))
        ),
        pl.when(pl.col("model_only_minutes") > 0).then(
            pl.format("{} (-{} min)", pl.lit(_EXPLAIN["model_only"]), pl.col("model_only_minutes"))
        ),
    ]
    return (
        frame.with_columns(
            diff_pct=pct("diff_minutes", "observed_minutes"), diff_usd_pct=pct("diff_usd", "observed_usd")
        )
        .with_columns(
            flagged=(pl.col("diff_pct").abs() > tolerance_pct) | (pl.col("diff_usd_pct").abs() > tolerance_pct),
            explanation=pl.when(pl.col("diff_minutes") == 0)
            .then(pl.lit(_EXPLAIN["agree"]))
            .otherwise(pl.concat_str(parts, separator="; ", ignore_nulls=True)),
        )
    )


def window_days(start: datetime, end: datetime) -> list[date]:
    """The UTC days from ``start``'s to ``end``'s, inclusive."""
    first, last = start.date(), end.date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
