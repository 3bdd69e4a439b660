"""Per-key Model APIs usage and cost: ``GET /v1/model_apis/usage`` and ``GET /v1/billing/model_apis``.

The data is `scenarios.KEY_TRAFFIC` (explicit rows, so tests compute their expectations by hand). Both
endpoints answer every bucket of the window (empty ones too), grouped by the requested dimensions and
filtered by key prefix and model, one page at a time with an opaque cursor that carries the query.

Sources: https://docs.baseten.co/reference/management-api/model-apis/gets-model-apis-token-usage (kept
92 days; 1d buckets 7 per page by default, 31 at most) and the open-source baseten-cli
(https://github.com/basetenlabs/baseten-cli ``internal/cmd/command.model_api_usage.go``,
``command.model_api_costs.go``: a cost window of at most 90 days, no costs before 2026-08-05 UTC, the end
date exclusive, the cursor sent alone on later cost pages).
Emulator assumptions: a ``limit`` above the maximum is clamped; a cursor carries the whole query (other
parameters beside it are ignored); only 1-day usage buckets are served; a subtotal is the sum of the
grouped rows' decimal strings; results are ordered by key prefix, then model.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from testkey_nb.emulator.scenarios import KEY_TRAFFIC, SCENARIOS, WORKSPACES, KeyTraffic

USAGE_RETENTION = timedelta(days=92)
COSTS_MAX_DAYS = 90
COSTS_NOT_BEFORE = date(2026, 8, 5)
MAX_PAGE = 31
DEFAULT_USAGE_PAGE = 7
USAGE_DIMS = ("api_key", "model", "user", "service_tier")
COST_DIMS = ("api_key_prefix", "model", "user", "service_tier")
SERVICE_TIER = "standard"  # Assumption: the emulator's traffic is all on the standard tier


class TrafficQueryError(ValueError):
    """A query the real endpoint answers 400."""


@dataclass(frozen=True)
class Row:
    """One key-day-model of traffic, resolved to the key's prefix and user."""

    day: date
    prefix: str
    user_id: str | None
    traffic: KeyTraffic


def workspace_rows(workspace: str, prefixes: Mapping[str, str], decoys: Mapping[tuple[str, str], str],
                   today: date) -> list[Row]:  # fmt: skip
    """Every row of the workspace's keys; ``prefixes`` maps a scenario label to its key's prefix."""
    ws = WORKSPACES[workspace]
    out: list[Row] = []
    for owner, rows in KEY_TRAFFIC.items():
        if isinstance(owner, tuple):
            if owner[0] != workspace:
                continue
            prefix = "" if owner[1] == "" else decoys.get(owner, "")
            user = None
        else:
            sc = SCENARIOS[owner]
            if sc.workspace != workspace or owner not in prefixes:
                continue
            prefix = prefixes[owner]
            found = ws.user(sc.user_email)
            user = found.user_id if found else None
        out.extend(Row(today - timedelta(days=t.days_ago), prefix, user, t) for t in rows)
    return out


def _encode(state: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, sort_keys=True).encode()).decode().rstrip("=")


def _decode(cursor: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        state = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TrafficQueryError("invalid cursor") from exc
    if not isinstance(state, dict):
        raise TrafficQueryError("invalid cursor")
    return state


def _time(value: str | None, name: str) -> datetime:
    if not value:
        raise TrafficQueryError(f"{name} is required")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TrafficQueryError(f"{name} must be an ISO 8601 date-time") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _day(value: str | None, name: str) -> date:
    if not value:
        raise TrafficQueryError(f"{name} is required")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise TrafficQueryError(f"{name} must be a date (YYYY-MM-DD)") from exc


def _limit(value: Any, default: int, page_cap: int | None) -> int:
    try:
        limit = int(value) if value not in (None, "") else default
    except (TypeError, ValueError) as exc:
        raise TrafficQueryError("limit must be an integer") from exc
    if limit < 1:
        raise TrafficQueryError("limit must be at least 1")
    return min(limit, MAX_PAGE, page_cap or MAX_PAGE)


def _dims(values: Sequence[str], allowed: tuple[str, ...], default: str) -> list[str]:
    bad = [v for v in values if v not in allowed]
    if bad:
        raise TrafficQueryError(f"invalid group_by {bad[0]!r}; must be one of: {', '.join(allowed)}")
    return list(dict.fromkeys(values)) or [default]


def _select(rows: Iterable[Row], keys: Sequence[str], models: Sequence[str]) -> list[Row]:
    return [r for r in rows if (not keys or r.prefix in keys) and (not models or r.traffic.model in models)]


def model_api_usage(rows: Sequence[Row], query: Mapping[str, Any], now: datetime,
                    page_cap: int | None = None) -> dict[str, Any]:  # fmt: skip
    """The ``/v1/model_apis/usage`` page for ``query`` (``get_list`` values as lists)."""
    cursor = query.get("cursor")
    if cursor:
        state = _decode(cursor)
    else:
        if (query.get("bucket_width") or "1d") != "1d":
            raise TrafficQueryError("the emulator serves 1d buckets only")
        start = _time(query.get("start_time"), "start_time")
        end = _time(query.get("end_time") or now.isoformat(), "end_time")
        if start >= end:
            raise TrafficQueryError("start_time must be before end_time")
        if start < now - USAGE_RETENTION:
            raise TrafficQueryError("start_time is beyond the 92 days of retained usage")
        state = {
            "first": start.date().isoformat(),
            "end": end.isoformat(),
            "dims": _dims(query.get("group_by") or [], USAGE_DIMS, "model"),
            "keys": list(query.get("api_keys") or []),
            "models": list(query.get("models") or []),
            "limit": _limit(query.get("limit"), DEFAULT_USAGE_PAGE, None),
            "offset": 0,
        }
    first, end = date.fromisoformat(state["first"]), datetime.fromisoformat(state["end"])
    days = []
    d = first
    while datetime(d.year, d.month, d.day, tzinfo=UTC) < end:
        days.append(d)
        d += timedelta(days=1)
    offset, page, selected = _page_of_days(days, rows, state, page_cap)
    items = []
    for day in page:
        groups: dict[tuple[Any, ...], dict[str, Any]] = {}
        for r in (r for r in selected if r.day == day):
            key = _group_key(r, state["dims"], "api_key")
            g = groups.setdefault(key, {"request_count": 0, "input_tokens": 0, "cached_input_tokens": 0,
                                        "uncached_input_tokens": 0, "output_tokens": 0,
                                        **_labels(r, state["dims"], "api_key", "api_key_prefix")})  # fmt: skip
            t = r.traffic
            g["request_count"] += t.requests
            g["input_tokens"] += t.input_tokens
            g["cached_input_tokens"] += t.cached_input_tokens
            g["uncached_input_tokens"] += t.input_tokens - t.cached_input_tokens
            g["output_tokens"] += t.output_tokens
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        items.append({
            "start_time": start.isoformat().replace("+00:00", "Z"),
            "end_time": (start + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
            "results": [groups[k] for k in sorted(groups)],
        })  # fmt: skip
    return _paged(items, state, offset + len(page), len(days))


def _page_of_days(
    days: list[date], rows: Sequence[Row], state: Mapping[str, Any], page_cap: int | None
) -> tuple[int, list[date], list[Row]]:
    """The page's first day's index, its days (``limit`` per page, at most ``page_cap``) and the rows the
    query's key and model filters select."""
    limit = min(int(state["limit"]), page_cap or MAX_PAGE)
    offset = int(state["offset"])
    return offset, days[offset : offset + limit], _select(rows, state["keys"], state["models"])


def model_api_costs(rows: Sequence[Row], query: Mapping[str, Any], page_cap: int | None = None) -> dict[str, Any]:
    """The ``/v1/billing/model_apis`` page for ``query`` (``get_list`` values as lists)."""
    cursor = query.get("cursor")
    if cursor:
        state = _decode(cursor)
    else:
        start, end = _day(query.get("start_date"), "start_date"), _day(query.get("end_date"), "end_date")
        if start >= end:
            raise TrafficQueryError("start_date must be before end_date")
        if (end - start).days > COSTS_MAX_DAYS:
            raise TrafficQueryError(f"the cost window must be at most {COSTS_MAX_DAYS} days")
        if start < COSTS_NOT_BEFORE:
            raise TrafficQueryError(f"costs are not available before {COSTS_NOT_BEFORE.isoformat()}")
        state = {
            "first": start.isoformat(),
            "end": end.isoformat(),
            "dims": _dims(query.get("group_by") or [], COST_DIMS, "model"),
            "keys": list(query.get("api_key_prefixes") or []),
            "models": list(query.get("models") or []),
            "limit": _limit(query.get("limit"), MAX_PAGE, None),
            "offset": 0,
        }
    first, end_day = date.fromisoformat(state["first"]), date.fromisoformat(state["end"])
    days = [first + timedelta(days=i) for i in range((end_day - first).days)]
    offset, page, selected = _page_of_days(days, rows, state, page_cap)
    items = []
    for day in page:
        groups: dict[tuple[Any, ...], dict[str, Any]] = {}
        for r in (r for r in selected if r.day == day):
            key = _group_key(r, state["dims"], "api_key_prefix")
            g = groups.setdefault(key, {"subtotal": Decimal(0), "api_key_prefixes": [], "user_id": None,
                                        "model": None, "service_tier": None})  # fmt: skip
            g["subtotal"] += Decimal(r.traffic.cost)
            if "api_key_prefix" in state["dims"] and r.prefix and r.prefix not in g["api_key_prefixes"]:
                g["api_key_prefixes"].append(r.prefix)
            for dim, value in (("user", r.user_id), ("model", r.traffic.model), ("service_tier", SERVICE_TIER)):
                if dim in state["dims"]:
                    g["user_id" if dim == "user" else dim] = value
        results = [{**groups[k], "subtotal": str(groups[k]["subtotal"])} for k in sorted(groups)]
        items.append({"date": day.isoformat(), "results": results})
    return _paged(items, state, offset + len(page), len(days))


def _group_key(r: Row, dims: Sequence[str], key_dim: str) -> tuple[Any, ...]:
    values = {key_dim: r.prefix, "model": r.traffic.model, "user": r.user_id or "", "service_tier": SERVICE_TIER}
    return tuple(values[d] for d in dims)


def _labels(r: Row, dims: Sequence[str], key_dim: str, key_field: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if key_dim in dims:
        out[key_field] = r.prefix
    if "model" in dims:
        out["model"] = r.traffic.model
    if "user" in dims:
        out["user_id"] = r.user_id
    if "service_tier" in dims:
        out["service_tier"] = SERVICE_TIER
    return out


def _paged(items: list[dict[str, Any]], state: Mapping[str, Any], next_offset: int, total: int) -> dict[str, Any]:
    more = next_offset < total
    cursor = _encode({**state, "offset": next_offset}) if more else None
    return {"items": items, "pagination": {"has_more": more, "cursor": cursor}}
