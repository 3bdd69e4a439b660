"""Autoscaling schedules and the scale-down rate: the per-minute autoscaling settings of a what-if.

Baseten's newer controls (sources below):

* **Autoscaling schedules**: "a recurring window on a model environment, carrying its own autoscaling
  settings. While the window is active, the environment runs the schedule's settings. Outside every
  window, it runs the environment's default configuration" (docs.baseten.co/deployment/autoscaling/
  schedules). A schedule is recurring (weekdays + start/end hour:minute, in the environment's time
  zone) or ``ONE_TIME`` (``start_at``/``end_at``); it must set ``min_replica`` and ``max_replica`` and
  may override ``autoscaling_window``, ``scale_down_delay``, ``concurrency_target``,
  ``target_utilization_percentage`` and ``max_scale_down_rate``; a field left null inherits the
  environment's value (basetenlabs/baseten-cli ``command.model_environment_autoscaling_schedule.go``,
  https://docs.baseten.co/deployment/autoscaling). In a scenario file an omitted field is that null.
* **max_scale_down_rate**: "the largest percentage of active replicas the autoscaler removes in a single
  scale-down step" (docs.baseten.co/deployment/manage/scaling); 1-50, default 50 (baseten.co changelog
  "Configure scale-down rate"); "Maximum percentage of replicas that can be removed per autoscaling
  window (1-50)" (Baseten management API, AutoscalingSettingsV1:
  https://docs.baseten.co/reference/management-api/overview).

Interpretation where the sources are silent (the simulator's assumptions, stated in its output):

* Overlapping windows: a one-time schedule wins over a recurring one; among the same kind, the first
  listed wins.
* A scale-down step happens at most once per autoscaling window and removes
  ``ceil(active x rate / 100)`` replicas (at least one), never going below the target; scale-up is
  immediate. A scenario without ``max_scale_down_rate`` keeps the simulator's earlier simplification
  (straight down to the target) unless a schedule sets a rate.
* Times of recurring windows are read in ``[autoscaling].timezone`` (default UTC); a window whose end is
  not after its start runs past midnight.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from testkey_nb.billing.errors import ScenarioError, shown

if TYPE_CHECKING:
    import polars as pl

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OVERRIDABLE: tuple[str, ...] = (
    "autoscaling_window",
    "scale_down_delay",
    "concurrency_target",
    "target_utilization_percentage",
    "max_scale_down_rate",
)
_RANGES: dict[str, tuple[int, int | None]] = {
    "autoscaling_window": (10, 3600),
    "scale_down_delay": (0, 3600),
    "concurrency_target": (1, None),
    "target_utilization_percentage": (1, 100),
    "max_scale_down_rate": (1, 50),
}
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class AutoscalingSchedule:
    """One schedule: a recurring weekday window or a one-time window, with its overrides (None = inherit)."""

    name: str
    min_replica: int
    max_replica: int
    weekdays: tuple[int, ...] = ()  # 0 = Monday
    start_minute: int | None = None  # minute of the day, recurring
    end_minute: int | None = None
    start_at: datetime | None = None  # one-time
    end_at: datetime | None = None
    autoscaling_window: int | None = None
    scale_down_delay: int | None = None
    concurrency_target: int | None = None
    target_utilization_percentage: int | None = None
    max_scale_down_rate: int | None = None

    @property
    def one_time(self) -> bool:
        return self.start_at is not None

    def describe(self) -> str:
        if self.one_time:
            assert self.start_at is not None and self.end_at is not None
            return f"{self.name}: {self.start_at:%Y-%m-%d %H:%M} to {self.end_at:%Y-%m-%d %H:%M}"
        days = ",".join(WEEKDAYS[d] for d in self.weekdays)
        assert self.start_minute is not None and self.end_minute is not None
        return (
            f"{self.name}: {days} {self.start_minute // 60:02d}:{self.start_minute % 60:02d}"
            f"-{self.end_minute // 60:02d}:{self.end_minute % 60:02d}"
        )


def parse_schedules(label: str, raw: Any) -> tuple[AutoscalingSchedule, ...]:
    """``[[autoscaling.schedules]]`` tables -> schedules; `ScenarioError` names the table and field."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ScenarioError(f"{label}: [[autoscaling.schedules]] must be an array of tables, got {shown(raw)}")
    out = []
    known = ("name", "weekdays", "start", "end", "start_at", "end_at", "min_replica", "max_replica", *OVERRIDABLE)
    for i, item in enumerate(raw, start=1):
        where = f"{label}: [autoscaling.schedules.{i}]"
        if not isinstance(item, dict):
            raise ScenarioError(f"{where} must be a table, got {shown(item)}")
        for key in item:
            if key not in known:
                raise ScenarioError(f"{where}.{key} is not a known field (known: {', '.join(known)})")

        min_r = _integer(where, item, "min_replica", 0, None, required=True)
        max_r = _integer(where, item, "max_replica", 1, 1000, required=True)
        assert min_r is not None and max_r is not None
        if max_r < min_r:
            raise ScenarioError(f"{where}.max_replica must be >= min_replica ({min_r}), got {max_r}")
        overrides: dict[str, Any] = {k: _integer(where, item, k, *_RANGES[k]) for k in OVERRIDABLE}
        name = item.get("name", f"schedule {i}")
        if not isinstance(name, str) or not name.strip():
            raise ScenarioError(f"{where}.name must be a non-empty string, got {shown(name)}")
        if "start_at" in item or "end_at" in item:
            start_at = _instant(where, "start_at", item.get("start_at"))
            end_at = _instant(where, "end_at", item.get("end_at"))
            if end_at <= start_at:
                raise ScenarioError(f"{where}.end_at must be after start_at, got {shown(item.get('end_at'))}")
            if any(k in item for k in ("weekdays", "start", "end")):
                raise ScenarioError(f"{where}: a one-time schedule (start_at/end_at) takes no weekdays, start or end")
            out.append(AutoscalingSchedule(name.strip(), min_r, max_r, start_at=start_at, end_at=end_at, **overrides))
            continue
        days = item.get("weekdays", list(WEEKDAYS))
        valid = isinstance(days, list) and days and all(isinstance(d, str) and d.lower()[:3] in WEEKDAYS for d in days)
        if not valid:
            raise ScenarioError(f"{where}.weekdays must be a list of days like ['mon', 'fri'], got {shown(days)}")
        out.append(
            AutoscalingSchedule(
                name.strip(), min_r, max_r,
                weekdays=tuple(sorted({WEEKDAYS.index(d.lower()[:3]) for d in days})),
                start_minute=_hhmm(where, "start", item.get("start")),
                end_minute=_hhmm(where, "end", item.get("end")),
                **overrides,
            )
        )  # fmt: skip
    return tuple(out)


@dataclass(frozen=True)
class SweepSpec:
    """``[sweep]`` of a scenario: the settings to try (each min replica x scale-down delay, with and
    without the scenario's schedules) and the bound on cold starts per month (None: no bound)."""

    min_replica: tuple[int, ...] = (0, 1, 2)
    scale_down_delay: tuple[int, ...] = (60, 300, 900)
    max_cold_starts: int | None = None


def parse_sweep(label: str, data: Any) -> SweepSpec:
    """``[sweep]`` -> `SweepSpec`; `ScenarioError` names the field."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{label}: [sweep] must be a table, got {shown(data)}")
    known = ("min_replica", "scale_down_delay", "max_cold_starts")
    for key in data:
        if key not in known:
            raise ScenarioError(f"{label}: [sweep].{key} is not a known field (known: {', '.join(known)})")
    d = SweepSpec()

    def ints(key: str, default: tuple[int, ...], lo: int, hi: int) -> tuple[int, ...]:
        values = data.get(key, list(default))
        ok = isinstance(values, list) and values and all(
            isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi for v in values
        )
        if not ok:
            raise ScenarioError(
                f"{label}: [sweep].{key} must be a list of integers between {lo} and {hi}, got {shown(values)}"
            )
        return tuple(dict.fromkeys(values))

    bound = _integer(f"{label}: [sweep]", data, "max_cold_starts", 0, None)
    mins = ints("min_replica", d.min_replica, 0, 1000)
    return SweepSpec(mins, ints("scale_down_delay", d.scale_down_delay, 0, 3600), bound)


def _integer(
    where: str, item: dict[str, Any], key: str, lo: int, hi: int | None, *, required: bool = False
) -> int | None:
    value = item.get(key)
    if value is None:
        if required:
            raise ScenarioError(f"{where}.{key} is required (Baseten requires min and max replicas)")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        what = f"an integer between {lo} and {hi}" if hi is not None else f"an integer >= {lo}"
        raise ScenarioError(f"{where}.{key} must be {what} (or omitted: inherit), got {shown(value)}")
    return value


def _hhmm(where: str, key: str, value: Any) -> int:
    m = _HHMM.match(value) if isinstance(value, str) else None
    if not m:
        raise ScenarioError(f"{where}.{key} must be a time of day like '08:30', got {shown(value)}")
    return int(m.group(1)) * 60 + int(m.group(2))


def _instant(where: str, key: str, value: Any) -> datetime:
    if isinstance(value, datetime):
        out = value
    elif isinstance(value, str):
        try:
            out = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            out = None
    else:
        out = None
    if out is None:
        raise ScenarioError(f"{where}.{key} must be a date-time like '2026-03-10T14:00:00Z', got {shown(value)}")
    return out.replace(tzinfo=UTC) if out.tzinfo is None else out.astimezone(UTC)


def minute_settings(
    start: datetime,
    minutes: int,
    *,
    min_replica: int,
    max_replica: int,
    concurrency_target: int,
    target_utilization_percentage: int,
    autoscaling_window: int,
    scale_down_delay: int,
    max_scale_down_rate: int | None,
    schedules: tuple[AutoscalingSchedule, ...] = (),
    timezone: str = "UTC",
) -> pl.DataFrame:
    """The settings in force each simulated minute: minute, schedule (name or null), min_r, max_r,
    capacity (concurrency x utilization), window (minutes), delay (minutes), rate (percent or null)."""
    import polars as pl

    grid = pl.DataFrame({"minute": pl.int_range(0, minutes, dtype=pl.Int64, eager=True)}).with_columns(
        ts=pl.lit(start) + pl.duration(minutes=pl.col("minute"))
    )
    local = pl.col("ts").dt.convert_time_zone(timezone)
    grid = grid.with_columns(
        _wd=local.dt.weekday().cast(pl.Int64) - 1, _mod=local.dt.hour().cast(pl.Int64) * 60 + local.dt.minute()
    )
    # one-time schedules first, then recurring, each in file order: the first match wins
    ordered = [s for s in schedules if s.one_time] + [s for s in schedules if not s.one_time]
    index = pl.lit(None, dtype=pl.Int64)
    for i, s in reversed(list(enumerate(ordered))):
        index = pl.when(_active(s)).then(pl.lit(i, dtype=pl.Int64)).otherwise(index)
    grid = grid.with_columns(_sched=index)

    def pick(field: str, base: int | None) -> pl.Expr:
        expr = pl.lit(base, dtype=pl.Int64)
        for i, s in enumerate(ordered):
            value = getattr(s, field)
            if value is not None:
                expr = pl.when(pl.col("_sched") == i).then(pl.lit(value, dtype=pl.Int64)).otherwise(expr)
        return expr

    names = {i: s.name for i, s in enumerate(ordered)}
    return grid.select(
        "minute",
        schedule=pl.col("_sched").replace_strict(names, default=None, return_dtype=pl.String),
        min_r=pick("min_replica", min_replica),
        max_r=pick("max_replica", max_replica),
        capacity=pick("concurrency_target", concurrency_target)
        * pick("target_utilization_percentage", target_utilization_percentage)
        / 100,
        window=pl.max_horizontal(
            (pick("autoscaling_window", autoscaling_window) + 59) // 60, pl.lit(1, dtype=pl.Int64)
        ),
        delay=(pick("scale_down_delay", scale_down_delay) + 59) // 60,
        rate=pick("max_scale_down_rate", max_scale_down_rate),
    )


def _active(s: AutoscalingSchedule) -> pl.Expr:
    import polars as pl

    if s.one_time:
        return (pl.col("ts") >= pl.lit(s.start_at)) & (pl.col("ts") < pl.lit(s.end_at))
    assert s.start_minute is not None and s.end_minute is not None
    on_day = pl.col("_wd").is_in(list(s.weekdays))
    if s.end_minute > s.start_minute:
        return on_day & (pl.col("_mod") >= s.start_minute) & (pl.col("_mod") < s.end_minute)
    # past midnight: the evening part on a listed day, the morning part on the day after a listed day
    after = pl.col("_wd").is_in([(d + 1) % 7 for d in s.weekdays])
    return (on_day & (pl.col("_mod") >= s.start_minute)) | (after & (pl.col("_mod") < s.end_minute))


def rate_limited(
    target: list[int], cap: list[int], window: list[int], rate: list[int | None], start: int
) -> list[int]:
    """Replicas per minute when scale-down is limited to ``ceil(active x rate / 100)`` replicas per step
    and one step per autoscaling window; scale-up is immediate; a lower ``cap`` (max_replica, e.g. at
    the end of a schedule) applies at once; ``rate`` None: straight to the target.
    A plain loop over minutes: each minute depends on the one before (one month = 44,640 steps)."""
    out = [0] * len(target)
    current, last_step = start, -(10**9)
    for t, want in enumerate(target):
        current = min(current, cap[t])
        if want >= current:
            current = want
        else:
            r = rate[t]
            if r is None:
                current = want
            elif t - last_step >= window[t]:
                current = max(want, current - max(1, math.ceil(current * r / 100)))
                last_step = t
        out[t] = current
    return out
