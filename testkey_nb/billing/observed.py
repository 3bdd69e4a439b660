"""From a real key: the usage summary and deployments the probes read, as the same kind of frames.

* `from_usage_summary(body)`: ``GET /v1/billing/usage_summary`` (UsageSummaryV1) -> daily minutes and
  dollars per deployment (and training job), provenance ``observed``. ``None`` (the key could not read
  it, e.g. an inference-only ``WORKSPACE_INVOKE`` key) gives ``readable = False`` and the reason,
  never numbers.
* `project_month(deployments, prices, now)`: DeploymentV1 dicts with ``autoscaling_settings`` -> the
  floor of the month's cost for the current settings: ``min_replica`` replicas run all the remaining
  minutes of the month whatever the traffic (provenance ``derived``). Where a figure cannot be derived
  (no autoscaling settings yet, no price), it is null with a note, not guessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from testkey_nb.billing.prices import PriceTable
from testkey_nb.check.facts import number

if TYPE_CHECKING:
    import polars as pl

NOT_READABLE_DEFAULT = (
    "the usage summary was not readable with this key (management endpoints refused it, "
    "e.g. an inference-only WORKSPACE_INVOKE key); no usage figures are shown"
)


def daily_schema() -> dict[str, pl.DataType]:
    import polars as pl

    return {
        "date": pl.Date(),
        "deployment_id": pl.String(),
        "deployment_name": pl.String(),
        "model_name": pl.String(),
        "kind": pl.String(),
        "instance_type": pl.String(),
        "minutes": pl.Int64(),
        "usd": pl.Float64(),
        "inference_requests": pl.Int64(),
        "provenance": pl.String(),
    }


@dataclass(frozen=True)
class UsageFrames:
    """Observed usage, or the statement that it could not be read.

    ``daily``: date, deployment_id, deployment_name, model_name, kind (MODEL_DEPLOYMENT | TRAINING_JOB |
    CHAINLET), instance_type, minutes, usd (the API's per-day ``subtotal`` in dollars), inference_requests
    (null for training), provenance (``observed``).
    ``totals``: per category (dedicated, training, model_apis): subtotal_usd, credits_used_usd, total_usd
    as reported (the spec describes the category ``subtotal`` as the cost after credits).
    ``model_apis_daily``: date, model_name, usd, input_tokens, output_tokens, cached_input_tokens.
    """

    readable: bool
    reason: str | None
    daily: pl.DataFrame
    totals: dict[str, dict[str, float | None]]
    model_apis_daily: pl.DataFrame
    notes: tuple[str, ...] = ()

    def per_deployment(self) -> pl.DataFrame:
        """deployment_id, deployment_name, kind, instance_type, minutes, usd, days (summed over days)."""
        import polars as pl

        return (
            self.daily.group_by("deployment_id", "deployment_name", "kind", "instance_type")
            .agg(pl.col("minutes").sum(), pl.col("usd").sum(), days=pl.col("date").n_unique())
            .sort("usd", descending=True)
        )


def from_usage_summary(body: dict[str, Any] | None, *, reason: str | None = None) -> UsageFrames:
    """Parse a UsageSummaryV1 body. ``None`` (or a body that is not the documented shape) gives
    ``readable=False`` with the reason; nothing is invented."""
    import polars as pl

    empty_daily = pl.DataFrame(schema=daily_schema())
    empty_apis = pl.DataFrame(
        schema={
            "date": pl.Date,
            "model_name": pl.String,
            "usd": pl.Float64,
            "input_tokens": pl.Int64,
            "output_tokens": pl.Int64,
            "cached_input_tokens": pl.Int64,
        }
    )
    if body is None:
        return UsageFrames(False, reason or NOT_READABLE_DEFAULT, empty_daily, {}, empty_apis)
    if not isinstance(body, dict) or not any(
        k in body for k in ("dedicated_usage", "training_usage", "model_apis_usage")
    ):
        return UsageFrames(
            False,
            reason
            or "the usage summary body does not have the UsageSummaryV1 shape; no usage figures are shown",
            empty_daily,
            {},
            empty_apis,
        )

    rows: list[dict[str, Any]] = []
    totals: dict[str, dict[str, float | None]] = {}
    notes: list[str] = []
    for category, has_requests in (("dedicated_usage", True), ("training_usage", False)):
        section = body.get(category)
        if section is None:
            notes.append(f"{category} is null (nothing in the range, or not visible to this key)")
            continue
        if not isinstance(section, dict):
            notes.append(f"{category} has an unexpected shape; skipped")
            continue
        totals[category.removesuffix("_usage")] = _totals(section)
        for item in _dicts(section.get("breakdown")):
            res = item.get("billable_resource")
            res = res if isinstance(res, dict) else {}
            for day in _dicts(item.get("daily")):
                rows.append(
                    {
                        "date": day.get("date"),
                        "deployment_id": res.get("id"),
                        "deployment_name": res.get("name"),
                        "model_name": res.get("model_name"),
                        "kind": res.get("kind") or ("MODEL_DEPLOYMENT" if has_requests else "TRAINING_JOB"),
                        "instance_type": res.get("instance_type"),
                        "minutes": _int(day.get("minutes")),
                        "usd": number(day.get("subtotal")),
                        "inference_requests": _int(day.get("inference_requests")) if has_requests else None,
                        "provenance": "observed",
                    }
                )
    daily = (
        pl.DataFrame(rows, schema={**daily_schema(), "date": pl.String()})
        .with_columns(pl.col("date").str.to_date(strict=False))
        .sort("date", "deployment_id")
        if rows
        else empty_daily
    )

    api_rows: list[dict[str, Any]] = []
    apis = body.get("model_apis_usage")
    if isinstance(apis, dict):
        totals["model_apis"] = _totals(apis)
        for item in _dicts(apis.get("breakdown")):
            for day in _dicts(item.get("daily")):
                api_rows.append(
                    {
                        "date": day.get("date"),
                        "model_name": item.get("model_name"),
                        "usd": number(day.get("subtotal")),
                        "input_tokens": _int(day.get("input_tokens")),
                        "output_tokens": _int(day.get("output_tokens")),
                        "cached_input_tokens": _int(day.get("cached_input_tokens")),
                    }
                )
    elif apis is None:
        notes.append("model_apis_usage is null")
    model_apis_daily = (
        pl.DataFrame(api_rows, schema={**empty_apis.schema, "date": pl.String()}).with_columns(
            pl.col("date").str.to_date(strict=False)
        )
        if api_rows
        else empty_apis
    )
    return UsageFrames(True, None, daily, totals, model_apis_daily, tuple(notes))


def project_month(
    deployments: list[dict[str, Any]],
    prices: PriceTable,
    now: datetime,
    usage: UsageFrames | None = None,
) -> pl.DataFrame:
    """The floor of this month's cost per deployment for its current autoscaling settings.

    ``floor_usd = min_replica * minutes_remaining * price_per_minute`` (minutes from ``now`` to the end
    of the UTC calendar month, rounded up); ``ceiling_usd`` uses ``max_replica`` instead (every replica up
    all the time). With ``usage`` (readable), ``observed_mtd_usd`` adds what this month already cost and
    ``projected_floor_usd`` = observed + floor. Columns: deployment_id, name, model_id, status,
    instance_type, is_development, min_replica, max_replica, price_per_minute, price_provenance,
    minutes_remaining, floor_usd, ceiling_usd, observed_mtd_usd, projected_floor_usd, provenance
    (``derived``), note.
    """
    import polars as pl

    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC)
    next_month = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
    minutes_remaining = math.ceil((next_month - now).total_seconds() / 60)
    month_start = datetime(now.year, now.month, 1, tzinfo=UTC).date()

    observed: dict[str, float] = {}
    if usage is not None and usage.readable and usage.daily.height:
        mtd = (
            usage.daily.filter(pl.col("date") >= month_start)
            .group_by("deployment_id")
            .agg(pl.col("usd").sum())
        )
        observed = {r["deployment_id"]: float(r["usd"] or 0.0) for r in mtd.iter_rows(named=True)}

    rows = []
    for d in deployments:
        settings = d.get("autoscaling_settings")
        instance_type = d.get("instance_type_name")
        price = prices.price_of(instance_type)
        dev = bool(d.get("is_development"))
        status = d.get("status")
        min_r = settings.get("min_replica") if isinstance(settings, dict) else None
        max_r = settings.get("max_replica") if isinstance(settings, dict) else None
        note = ""
        floor: float | None
        ceiling: float | None
        if dev:
            floor, ceiling, note = 0.0, 0.0, "development deployment: not billed"
        elif status in (
            "INACTIVE",
            "DEACTIVATING",
            "BUILD_FAILED",
            "BUILD_STOPPED",
            "DEPLOY_FAILED",
            "FAILED",
        ):
            floor, ceiling, note = 0.0, 0.0, f"status {status}: no replicas run"
        elif not isinstance(settings, dict) or not isinstance(min_r, int):
            floor = ceiling = None
            note = "autoscaling_settings null: the deployment has not finished deploying"
        elif price is None:
            floor = ceiling = None
            note = f"no {prices.provenance} price for instance type {instance_type!r}"
        else:
            floor = min_r * minutes_remaining * price
            ceiling = (max_r if isinstance(max_r, int) else min_r) * minutes_remaining * price
            note = (
                "floor: min_replica replicas run all remaining minutes"
                if min_r
                else ("min_replica 0: no floor, cost follows traffic")
            )
        dep_id = d.get("id")
        readable = usage is not None and usage.readable
        obs = observed.get(str(dep_id), 0.0) if readable else None
        projected = floor + (obs or 0.0) if floor is not None else None
        rows.append(
            {
                "deployment_id": dep_id,
                "name": d.get("name"),
                "model_id": d.get("model_id"),
                "status": status,
                "instance_type": instance_type,
                "is_development": dev,
                "min_replica": min_r if isinstance(min_r, int) else None,
                "max_replica": max_r if isinstance(max_r, int) else None,
                "price_per_minute": price,
                "price_provenance": prices.provenance if price is not None else None,
                "minutes_remaining": minutes_remaining,
                "floor_usd": floor,
                "ceiling_usd": ceiling,
                "observed_mtd_usd": obs,
                "projected_floor_usd": projected,
                "provenance": "derived",
                "note": note,
            }
        )
    schema = {
        "deployment_id": pl.String,
        "name": pl.String,
        "model_id": pl.String,
        "status": pl.String,
        "instance_type": pl.String,
        "is_development": pl.Boolean,
        "min_replica": pl.Int64,
        "max_replica": pl.Int64,
        "price_per_minute": pl.Float64,
        "price_provenance": pl.String,
        "minutes_remaining": pl.Int64,
        "floor_usd": pl.Float64,
        "ceiling_usd": pl.Float64,
        "observed_mtd_usd": pl.Float64,
        "projected_floor_usd": pl.Float64,
        "provenance": pl.String,
        "note": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The dict items of a list (anything else in an unexpected body is skipped, not guessed at)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _totals(section: dict[str, Any]) -> dict[str, float | None]:
    return {
        "subtotal_usd": number(section.get("subtotal")),
        "credits_used_usd": number(section.get("credits_used")),
        "total_usd": number(section.get("total")),
        "minutes": number(section.get("minutes")),
    }
