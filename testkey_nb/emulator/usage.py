"""Deterministic usage and billing data for ``GET /v1/billing/usage_summary`` (UsageSummaryV1).

Usage is a pure function of the workspace and the emulator's fixed "now": no randomness (a hash of
workspace, resource and day stands in for traffic), so the same ``now`` always yields the same figures.

Metering rules (billing docs, DESIGN.md): dedicated deployments are billed per minute at the instance
type's per-minute price while a replica is up (always-on replicas all day, scale-to-zero deployments only
while woken, builder minutes for an image build); failed boots, scaled-to-zero time and development
deployments are not billed. Credits apply first, chronologically from the start of the history, dedicated
usage before Model APIs usage; a workspace without a payment method stops (models deactivated) on the
first day after its credits ran out.

Emulator assumptions (the spec leaves these open):
- item and daily ``subtotal`` = gross cost of that item/day (``minutes x price`` for dedicated);
  top-level ``total`` = sum of the item subtotals (gross), ``credits_used`` = credits applied in the
  range, top-level ``subtotal`` = ``total - credits_used`` ("subtotal = cost after applying credits").
- Model APIs ``input_tokens`` excludes ``cached_input_tokens``; cost = input x prompt price + cached x
  cache-read price + output x completion price; Model APIs ``model_name`` is the ModelAPIV1 slug.
- Money is emitted as JSON numbers (the spec allows number or string).
- Minutes are rounded up per replica and day (``ceil`` of the seconds a replica was up that day):
  "Partial minutes are rounded up" (billing docs) does not say at which granularity.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from testkey_nb.emulator.catalog import Catalog, model_api_slug, model_family
from testkey_nb.emulator.scenarios import INSTANCE_TYPES_BY_NAME, DedicatedModel, Deployment, Workspace

EARLIEST_QUERYABLE = datetime(2026, 1, 1, tzinfo=UTC)
MAX_RANGE = timedelta(days=31)
_MICRO = Decimal("0.000001")


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts (stands in for traffic noise)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def deployment_created_at(dep: Deployment, now: datetime) -> datetime:
    if dep.created_days_ago <= 0:
        return now - timedelta(minutes=20)
    return datetime.combine(now.date() - timedelta(days=dep.created_days_ago), time(9, 30), UTC)


def model_created_at(model: DedicatedModel, now: datetime) -> datetime:
    if model.created_days_ago <= 0:
        return now - timedelta(minutes=25)
    return datetime.combine(now.date() - timedelta(days=model.created_days_ago), time(9, 0), UTC)


@dataclass(frozen=True)
class DeploymentDay:
    day: date
    model: DedicatedModel
    deployment: Deployment
    minutes: int
    requests: int
    gross: Decimal


@dataclass(frozen=True)
class ModelApiDay:
    day: date
    model: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    gross: Decimal


@dataclass(frozen=True)
class CreditDay:
    day: date
    dedicated: Decimal
    model_apis: Decimal


@dataclass(frozen=True)
class WorkspaceUsage:
    deployments: tuple[DeploymentDay, ...]
    model_apis: tuple[ModelApiDay, ...]
    credits: tuple[CreditDay, ...]

    def model_api_days(self, model: str) -> tuple[date, date] | None:
        days = [d.day for d in self.model_apis if d.model == model]
        return (min(days), max(days)) if days else None


def _up_minutes(day: date, created: datetime, now: datetime) -> int:
    """Minutes of ``day`` during which the deployment existed, up to ``now`` (rounded up)."""
    start = max(datetime.combine(day, time(0), UTC), created)
    end = min(datetime.combine(day + timedelta(days=1), time(0), UTC), now)
    return max(0, math.ceil((end - start).total_seconds() / 60))


def _deployment_day(
    ws: Workspace, model: DedicatedModel, dep: Deployment, day: date, now: datetime
) -> tuple[int, int]:
    created = deployment_created_at(dep, now)
    avail = _up_minutes(day, created, now)
    if avail <= 0 or dep.usage == "none":
        return 0, 0
    noise = _unit(ws.name, dep.id, day.isoformat())
    noise2 = _unit(ws.name, dep.id, day.isoformat(), "requests")
    scaling = dep.autoscaling
    if dep.usage in ("always_on", "until_credits"):
        low = max(1, scaling.min_replica if scaling else 1)
        spare = (scaling.max_replica - low) if scaling else 0
        minutes = low * avail + int(avail * spare * dep.burst_share * noise)
        requests = int(avail * dep.requests_per_minute * (0.5 + noise2))
        return minutes, requests
    if dep.usage == "bursty":
        weekend = day.weekday() >= 5
        awake = ((0.02 if weekend else 0.06) + (0.05 if weekend else 0.18) * noise) * dep.wake_share
        minutes = int(avail * awake)
        requests = int(minutes * dep.requests_per_minute * (0.5 + noise2)) if minutes else 0
        return minutes, requests
    if dep.usage == "build_only":
        return (min(9, avail), 0) if day == created.date() else (0, 0)
    if dep.usage == "building":
        return avail, 0
    return 0, 0


def _model_api_day(
    ws: Workspace, catalog: Catalog, model: str, base: int, day: date, now: datetime
) -> ModelApiDay | None:
    entry = catalog.entry(model)
    if entry is None:
        return None
    avail = _up_minutes(day, datetime.min.replace(tzinfo=UTC), now)
    weekend = 0.5 if day.weekday() >= 5 else 1.0
    scale = weekend * (0.6 + 0.8 * _unit(ws.name, model, day.isoformat())) * avail / 1440
    input_tokens = int(base * scale)
    if input_tokens <= 0:
        return None
    cached = int(input_tokens * 0.4 * _unit(ws.name, model, day.isoformat(), "cache"))
    output = int(input_tokens * (0.15 + 0.2 * _unit(ws.name, model, day.isoformat(), "out")))
    price = entry["pricing"]
    gross = (
        input_tokens * Decimal(price["prompt"])
        + cached * Decimal(price.get("input_cache_read", price["prompt"]))
        + output * Decimal(price["completion"])
    ).quantize(_MICRO, rounding=ROUND_HALF_UP)
    return ModelApiDay(day, model, input_tokens, output, cached, gross)


def compute_usage(ws: Workspace, catalog: Catalog, now: datetime, extra_today: Decimal = Decimal(0)) -> WorkspaceUsage:
    """The workspace's usage up to ``now``; ``extra_today`` adds Model APIs spend (USD) to today, on the
    workspace's first Model APIs model (a test or demo lowering the credits left between two checks)."""
    first = max(EARLIEST_QUERYABLE.date(), now.date() - timedelta(days=ws.history_days))
    remaining = ws.credits_granted
    dep_days: list[DeploymentDay] = []
    api_days: list[ModelApiDay] = []
    credit_days: list[CreditDay] = []
    day = first
    while day <= now.date():
        if not ws.has_payment_method and remaining <= 0 and day > first:
            break  # credits ran out with no payment method: models deactivated
        todays_deps: list[DeploymentDay] = []
        for model in ws.models:
            for dep in model.deployments:
                minutes, requests = _deployment_day(ws, model, dep, day, now)
                if minutes or requests:
                    price = INSTANCE_TYPES_BY_NAME[dep.instance_type].price_per_minute
                    todays_deps.append(DeploymentDay(day, model, dep, minutes, requests, minutes * price))
        todays_api = [
            d for use in ws.model_api_use
            if (d := _model_api_day(ws, catalog, use.model, use.daily_input_tokens, day, now)) is not None
        ]
        if extra_today and day == now.date() and todays_api:
            head = todays_api[0]
            price = Decimal((catalog.entry(head.model) or {}).get("pricing", {}).get("prompt") or "0")
            extra_tokens = int(extra_today / price) if price > 0 else 0
            todays_api[0] = replace(head, input_tokens=head.input_tokens + extra_tokens,
                                    gross=head.gross + extra_today)  # fmt: skip
        ded_gross = sum((d.gross for d in todays_deps), Decimal(0))
        api_gross = sum((d.gross for d in todays_api), Decimal(0))
        ded_credit = min(remaining, ded_gross)
        api_credit = min(remaining - ded_credit, api_gross)
        remaining -= ded_credit + api_credit
        dep_days.extend(todays_deps)
        api_days.extend(todays_api)
        credit_days.append(CreditDay(day, ded_credit, api_credit))
        day += timedelta(days=1)
    return WorkspaceUsage(tuple(dep_days), tuple(api_days), tuple(credit_days))


class UsageRangeError(ValueError):
    """A usage_summary range the real API refuses (400)."""


def parse_instant(text: str | None, field: str) -> datetime:
    if not text:
        raise UsageRangeError(f"{field} is required")
    text = text.strip()
    if "T" in text:
        text = text.replace(" ", "+")  # an unencoded "+00:00" arrives as " 00:00"
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UsageRangeError(f"{field} must be an ISO 8601 date-time") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def validate_range(start_text: str | None, end_text: str | None) -> tuple[datetime, datetime]:
    start = parse_instant(start_text, "start_date")
    end = parse_instant(end_text, "end_date")
    if start < EARLIEST_QUERYABLE:
        raise UsageRangeError("start_date must not be earlier than 2026-01-01")
    if end <= start:
        raise UsageRangeError("end_date must be after start_date")
    if end - start > MAX_RANGE:
        raise UsageRangeError("Date range cannot exceed 31 days")
    return start, end


def _in_range(day: date, start: datetime, end: datetime) -> bool:
    day_start = datetime.combine(day, time(0), UTC)
    return day_start < end and day_start + timedelta(days=1) > start


def _money(value: Decimal) -> float:
    return float(value)


def usage_summary(ws: Workspace, usage: WorkspaceUsage, start: datetime, end: datetime) -> dict[str, Any]:
    """UsageSummaryV1 restricted to the days overlapping [start, end)."""
    credits = [c for c in usage.credits if _in_range(c.day, start, end)]
    dedicated: dict[str, Any] | None = None
    if ws.models:
        days = [d for d in usage.deployments if _in_range(d.day, start, end)]
        breakdown = []
        for model in ws.models:
            for dep in model.deployments:
                mine = [d for d in days if d.deployment.id == dep.id]
                if not mine:
                    continue
                breakdown.append(
                    {
                        "billable_resource": {
                            "id": dep.id,
                            "kind": "MODEL_DEPLOYMENT",
                            "name": dep.name,
                            "model_name": model.name,
                            "is_deleted": False,
                            "instance_type": dep.instance_type,
                            "environment_name": dep.environment,
                            "chain_metadata": None,
                        },
                        "subtotal": _money(sum((d.gross for d in mine), Decimal(0))),
                        "minutes": sum(d.minutes for d in mine),
                        "inference_requests": sum(d.requests for d in mine),
                        "daily": [
                            {"date": d.day.isoformat(), "subtotal": _money(d.gross), "minutes": d.minutes,
                             "inference_requests": d.requests}
                            for d in mine
                        ],
                    }
                )
        total = sum((d.gross for d in days), Decimal(0))
        credit = sum((c.dedicated for c in credits), Decimal(0))
        dedicated = {
            "subtotal": _money(total - credit),
            "credits_used": _money(credit),
            "total": _money(total),
            "minutes": sum(d.minutes for d in days),
            "breakdown": breakdown,
        }
    model_apis: dict[str, Any] | None = None
    if ws.model_api_use:
        days_api = [d for d in usage.model_apis if _in_range(d.day, start, end)]
        items = []
        for use in ws.model_api_use:
            mine_api = [d for d in days_api if d.model == use.model]
            if not mine_api:
                continue
            items.append(
                {
                    "model_name": model_api_slug(use.model),
                    "model_family": model_family(use.model),
                    "subtotal": _money(sum((d.gross for d in mine_api), Decimal(0))),
                    "input_tokens": sum(d.input_tokens for d in mine_api),
                    "output_tokens": sum(d.output_tokens for d in mine_api),
                    "cached_input_tokens": sum(d.cached_input_tokens for d in mine_api),
                    "daily": [
                        {"date": d.day.isoformat(), "subtotal": _money(d.gross), "input_tokens": d.input_tokens,
                         "output_tokens": d.output_tokens, "cached_input_tokens": d.cached_input_tokens}
                        for d in mine_api
                    ],
                }
            )
        total_api = sum((d.gross for d in days_api), Decimal(0))
        credit_api = sum((c.model_apis for c in credits), Decimal(0))
        model_apis = {
            "subtotal": _money(total_api - credit_api),
            "credits_used": _money(credit_api),
            "total": _money(total_api),
            "breakdown": items,
        }
    return {"dedicated_usage": dedicated, "training_usage": None, "model_apis_usage": model_apis}
