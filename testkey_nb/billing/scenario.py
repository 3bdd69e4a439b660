"""What-if scenario files (TOML): autoscaling settings, traffic, cold-start timings, billing settings.

Format (every table but ``[scenario]``, ``[deployment]``, ``[cold_start]`` and ``[traffic]`` is
optional; defaults are Baseten's documented autoscaling defaults)::

    [scenario]
    name = "bursty chatbot"          # optional, default: the file name
    month = "2026-03"                # UTC calendar month to simulate
    days = 31                        # optional: only the first N days (default: whole month)

    [deployment]
    id = "chatbot"                   # optional, default "deployment"
    instance_type = "A10Gx4x16"      # priced by the documented table ...
    price_per_minute = 0.02012       # ... unless overridden here (USD per minute)
    development = false              # development deployments are never billed

    [autoscaling]                    # AutoscalingSettingsV1, Baseten defaults shown
    min_replica = 0
    max_replica = 1
    concurrency_target = 1
    target_utilization_percentage = 70
    autoscaling_window = 60          # seconds, 10..3600
    scale_down_delay = 900           # seconds, 0..3600
    max_scale_down_rate = 50         # optional, percent 1..50 (Baseten's default 50); omitted: straight down
    timezone = "UTC"                 # optional: the environment's time zone, for schedule windows

    [[autoscaling.schedules]]        # optional, any number (testkey_nb.billing.schedules)
    name = "business hours"
    weekdays = ["mon", "tue", "wed", "thu", "fri"]
    start = "08:00"                  # hour:minute, in [autoscaling].timezone
    end = "18:00"
    min_replica = 1                  # required
    max_replica = 3                  # required
    scale_down_delay = 300           # optional overrides; omitted (null) = inherit
    [[autoscaling.schedules]]        # a one-time override
    name = "launch"
    start_at = "2026-03-10T14:00:00Z"
    end_at = "2026-03-10T20:00:00Z"
    min_replica = 2
    max_replica = 4

    [cold_start]
    image_pull_seconds = 30          # not billed
    model_load_seconds = 90          # billed
    scheduling_seconds = 0           # optional, not billed
    drain_seconds = 0                # optional, not billed

    [build]                          # optional: an image build at the scenario start
    seconds = 300
    failed = false                   # a failed build is billed up to the failure, nothing deploys

    [traffic]
    request_duration_seconds = 2.0
    rpm = 0                          # optional constant requests per minute, all the time
    hourly_rpm = [0, 0, ...]         # optional: 24 values, requests per minute per UTC hour, every day
    [[traffic.segments]]             # optional, any number; added on top of the above
    start_minute = 540               # minutes from the scenario start
    duration_minutes = 30
    rpm = 20
    every_minutes = 1440             # optional: repeat with this period

    [billing]
    credits_usd = 30                 # default $30 (older billing docs page)
    payment_method = true
    invoice_threshold_usd = 50
    monthly_after_payments = 3       # the docs do not give this number
    prior_successful_payments = 0

    [compare]
    min_replica = [0, 1]             # the cold-start trade-off to report (default [0, 1])

    [sweep]                          # optional: monthly cost against cold starts (testkey_nb.billing.sweep)
    min_replica = [0, 1, 2]
    scale_down_delay = [60, 300, 900]
    max_cold_starts = 30             # the bound: cheapest setting with at most this many a month

Problems raise `ScenarioError` with a message naming the file, table and field, e.g.
``scenario.toml: [autoscaling].min_replica must be an integer >= 0, got 'x'``.
"""

from __future__ import annotations

import calendar
import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from testkey_nb.billing.errors import ScenarioError, shown
from testkey_nb.billing.ledger import (
    DEFAULT_CREDITS_USD,
    DEFAULT_MONTHLY_AFTER_PAYMENTS,
    DEFAULT_THRESHOLD_USD,
    LedgerConfig,
)
from testkey_nb.billing.schedules import AutoscalingSchedule, SweepSpec, parse_schedules, parse_sweep


@dataclass(frozen=True)
class AutoscalingSettings:
    """AutoscalingSettingsV1 fields the simulator uses, with Baseten's current defaults."""

    min_replica: int = 0
    max_replica: int = 1
    concurrency_target: int = 1
    target_utilization_percentage: int = 70
    autoscaling_window: int = 60
    scale_down_delay: int = 900
    #: percent of active replicas removed per scale-down step (1-50); None: straight down to the target
    max_scale_down_rate: int | None = None


@dataclass(frozen=True)
class ColdStart:
    image_pull_seconds: float
    model_load_seconds: float
    scheduling_seconds: float = 0.0
    drain_seconds: float = 0.0

    @property
    def boot_seconds(self) -> float:
        """What the first request after a quiet stretch waits: scheduling + image pull + model load."""
        return self.scheduling_seconds + self.image_pull_seconds + self.model_load_seconds


@dataclass(frozen=True)
class Build:
    seconds: float
    failed: bool = False


@dataclass(frozen=True)
class TrafficSegment:
    start_minute: int
    duration_minutes: int
    rpm: float
    every_minutes: int | None = None


@dataclass(frozen=True)
class Traffic:
    request_duration_seconds: float
    rpm: float = 0.0
    hourly_rpm: tuple[float, ...] | None = None
    segments: tuple[TrafficSegment, ...] = ()


@dataclass(frozen=True)
class DeploymentSpec:
    instance_type: str
    id: str = "deployment"
    price_per_minute: float | None = None
    development: bool = False


@dataclass(frozen=True)
class Scenario:
    name: str
    month: str
    deployment: DeploymentSpec
    cold_start: ColdStart
    traffic: Traffic
    autoscaling: AutoscalingSettings = field(default_factory=AutoscalingSettings)
    build: Build | None = None
    billing: LedgerConfig = field(default_factory=LedgerConfig)
    days: int | None = None
    compare_min_replica: tuple[int, ...] = (0, 1)
    schedules: tuple[AutoscalingSchedule, ...] = ()
    timezone: str = "UTC"
    sweep: SweepSpec | None = None

    @property
    def start(self) -> datetime:
        year, month = (int(x) for x in self.month.split("-"))
        return datetime(year, month, 1, tzinfo=UTC)

    @property
    def minutes(self) -> int:
        year, month = (int(x) for x in self.month.split("-"))
        days = self.days or calendar.monthrange(year, month)[1]
        return days * 1440

    def with_autoscaling(self, **changes: int) -> Scenario:
        return replace(self, autoscaling=replace(self.autoscaling, **changes))


# --- loading ------------------------------------------------------------------------------------------

_TABLES = ("scenario", "deployment", "autoscaling", "cold_start", "build", "traffic", "billing", "compare", "sweep")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class _Table:
    """Typed reads from one TOML table, with messages naming the file, table and field."""

    def __init__(self, label: str, name: str, data: Any, known: tuple[str, ...]):
        self.label, self.name = label, name
        if not isinstance(data, dict):
            raise ScenarioError(f"{label}: [{name}] must be a table, got {_show(data)}")
        self.data = data
        for key in data:
            if key not in known:
                raise ScenarioError(
                    f"{label}: [{name}].{key} is not a known field (known: {', '.join(known)})"
                )

    def _fail(self, key: str, what: str, value: Any) -> ScenarioError:
        return ScenarioError(f"{self.label}: [{self.name}].{key} must be {what}, got {_show(value)}")

    def _missing(self, key: str, example: str) -> ScenarioError:
        return ScenarioError(f"{self.label}: [{self.name}].{key} is required (e.g. {key} = {example})")

    def integer(
        self, key: str, default: int | None, lo: int | None = None, hi: int | None = None, example: str = "1"
    ) -> int:
        if key not in self.data:
            if default is None:
                raise self._missing(key, example)
            return default
        value = self.data[key]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or (lo is not None and value < lo)
            or (hi is not None and value > hi)
        ):
            raise self._fail(key, _range("an integer", lo, hi), self.data[key])
        return value

    def number(
        self,
        key: str,
        default: float | None,
        lo: float | None = None,
        hi: float | None = None,
        *,
        positive: bool = False,
        example: str = "1.0",
    ) -> float:
        if key not in self.data:
            if default is None:
                raise self._missing(key, example)
            return default
        value = self.data[key]
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        ok = (
            ok and (lo is None or value >= lo) and (hi is None or value <= hi) and (not positive or value > 0)
        )
        if not ok:
            what = "a number > 0" if positive else _range("a number", lo, hi)
            raise self._fail(key, what, value)
        return float(value)

    def optional_number(self, key: str, lo: float) -> float | None:
        return self.number(key, None, lo) if key in self.data else None

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false", value)
        return value

    def string(self, key: str, default: str | None, example: str = "'x'") -> str:
        if key not in self.data:
            if default is None:
                raise self._missing(key, example)
            return default
        value = self.data[key]
        if not isinstance(value, str) or not value.strip():
            raise self._fail(key, "a non-empty string", value)
        return value.strip()


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file; raises `ScenarioError` naming the field at fault."""
    p = Path(path)
    label = p.name
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ScenarioError(f"{label}: file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{label}: cannot read the file ({exc.__class__.__name__})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{label}: not valid TOML: {exc}") from exc
    return parse_scenario(data, label=label, default_name=p.stem)


def parse_scenario(
    data: dict[str, Any], *, label: str = "scenario", default_name: str = "scenario"
) -> Scenario:
    """Validate a scenario already parsed from TOML (see the module docstring for the format)."""
    for key in data:
        if key not in _TABLES:
            raise ScenarioError(f"{label}: [{key}] is not a known table (known: {', '.join(_TABLES)})")
    for required in ("scenario", "deployment", "cold_start", "traffic"):
        if required not in data:
            raise ScenarioError(f"{label}: the [{required}] table is missing")

    sc = _Table(label, "scenario", data["scenario"], ("name", "month", "days"))
    name = sc.string("name", default_name)
    month = sc.string("month", None, example="'2026-03'")
    m = _MONTH.match(month)
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1970:
        raise ScenarioError(f"{label}: [scenario].month must be a month like '2026-03', got {_show(month)}")
    month_days = calendar.monthrange(int(m.group(1)), int(m.group(2)))[1]
    days = sc.integer("days", month_days, 1, month_days)

    dep = _Table(
        label, "deployment", data["deployment"], ("id", "instance_type", "price_per_minute", "development")
    )
    deployment = DeploymentSpec(
        id=dep.string("id", "deployment"),
        instance_type=dep.string("instance_type", None, example="'A10Gx4x16'"),
        price_per_minute=dep.optional_number("price_per_minute", 0.0),
        development=dep.boolean("development", False),
    )

    au = _Table(
        label,
        "autoscaling",
        data.get("autoscaling", {}),
        (
            "min_replica",
            "max_replica",
            "concurrency_target",
            "target_utilization_percentage",
            "autoscaling_window",
            "scale_down_delay",
            "max_scale_down_rate",
            "timezone",
            "schedules",
        ),
    )
    d = AutoscalingSettings()
    min_replica = au.integer("min_replica", d.min_replica, 0)
    max_replica = au.integer("max_replica", d.max_replica, 1, 1000)
    if max_replica < min_replica:
        raise ScenarioError(
            f"{label}: [autoscaling].max_replica must be >= min_replica ({min_replica}), got {max_replica}"
        )
    autoscaling = AutoscalingSettings(
        min_replica=min_replica,
        max_replica=max_replica,
        concurrency_target=au.integer("concurrency_target", d.concurrency_target, 1),
        target_utilization_percentage=au.integer(
            "target_utilization_percentage", d.target_utilization_percentage, 1, 100
        ),
        autoscaling_window=au.integer("autoscaling_window", d.autoscaling_window, 10, 3600),
        scale_down_delay=au.integer("scale_down_delay", d.scale_down_delay, 0, 3600),
        max_scale_down_rate=au.integer("max_scale_down_rate", 50, 1, 50) if "max_scale_down_rate" in au.data else None,
    )
    timezone = au.string("timezone", "UTC", example="'Europe/Berlin'")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScenarioError(
            f"{label}: [autoscaling].timezone must be an IANA time zone, got {_show(timezone)}"
        ) from exc
    schedules = parse_schedules(label, au.data.get("schedules"))

    cs = _Table(
        label,
        "cold_start",
        data["cold_start"],
        ("image_pull_seconds", "model_load_seconds", "scheduling_seconds", "drain_seconds"),
    )
    cold_start = ColdStart(
        image_pull_seconds=cs.number("image_pull_seconds", None, 0, example="30"),
        model_load_seconds=cs.number("model_load_seconds", None, 0, example="90"),
        scheduling_seconds=cs.number("scheduling_seconds", 0.0, 0),
        drain_seconds=cs.number("drain_seconds", 0.0, 0),
    )

    build: Build | None = None
    if "build" in data:
        bt = _Table(label, "build", data["build"], ("seconds", "failed"))
        build = Build(
            seconds=bt.number("seconds", None, positive=True, example="300"),
            failed=bt.boolean("failed", False),
        )

    tr = _Table(
        label, "traffic", data["traffic"], ("request_duration_seconds", "rpm", "hourly_rpm", "segments")
    )
    hourly: tuple[float, ...] | None = None
    if "hourly_rpm" in tr.data:
        raw = tr.data["hourly_rpm"]
        if (
            not isinstance(raw, list)
            or len(raw) != 24
            or not all(isinstance(x, int | float) and not isinstance(x, bool) and x >= 0 for x in raw)
        ):
            raise ScenarioError(
                f"{label}: [traffic].hourly_rpm must be a list of 24 numbers >= 0 (one per UTC hour), "
                f"got {_show(raw)}"
            )
        hourly = tuple(float(x) for x in raw)
    raw_segments = tr.data.get("segments", [])
    if not isinstance(raw_segments, list):
        raise ScenarioError(
            f"{label}: [[traffic.segments]] must be an array of tables, got {_show(raw_segments)}"
        )
    segments = []
    for i, seg in enumerate(raw_segments, start=1):
        st = _Table(
            label, f"traffic.segments.{i}", seg, ("start_minute", "duration_minutes", "rpm", "every_minutes")
        )
        every = st.integer("every_minutes", 0, 1) if "every_minutes" in st.data else None
        duration = st.integer("duration_minutes", None, 1, example="30")
        if every is not None and duration > every:
            raise ScenarioError(
                f"{label}: [traffic.segments.{i}].duration_minutes must be <= every_minutes ({every}), "
                f"got {duration}"
            )
        segments.append(
            TrafficSegment(
                start_minute=st.integer("start_minute", None, 0, example="540"),
                duration_minutes=duration,
                rpm=st.number("rpm", None, 0, example="20"),
                every_minutes=every,
            )
        )
    traffic = Traffic(
        request_duration_seconds=tr.number("request_duration_seconds", None, positive=True, example="2.0"),
        rpm=tr.number("rpm", 0.0, 0),
        hourly_rpm=hourly,
        segments=tuple(segments),
    )

    bi = _Table(
        label,
        "billing",
        data.get("billing", {}),
        (
            "credits_usd",
            "payment_method",
            "invoice_threshold_usd",
            "monthly_after_payments",
            "prior_successful_payments",
        ),
    )
    billing = LedgerConfig(
        credits_usd=bi.number("credits_usd", DEFAULT_CREDITS_USD, 0),
        payment_method=bi.boolean("payment_method", True),
        invoice_threshold_usd=bi.number("invoice_threshold_usd", DEFAULT_THRESHOLD_USD, positive=True),
        monthly_after_payments=bi.integer("monthly_after_payments", DEFAULT_MONTHLY_AFTER_PAYMENTS, 1),
        prior_successful_payments=bi.integer("prior_successful_payments", 0, 0),
    )

    co = _Table(label, "compare", data.get("compare", {}), ("min_replica",))
    compare = co.data.get("min_replica", [0, 1])
    if (
        not isinstance(compare, list)
        or not compare
        or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= max_replica for x in compare)
    ):
        raise ScenarioError(
            f"{label}: [compare].min_replica must be a list of integers between 0 and max_replica "
            f"({max_replica}), got {_show(compare)}"
        )

    sweep = parse_sweep(label, data["sweep"]) if "sweep" in data else None

    return Scenario(
        name=name,
        month=month,
        days=days,
        deployment=deployment,
        autoscaling=autoscaling,
        cold_start=cold_start,
        build=build,
        traffic=traffic,
        billing=billing,
        compare_min_replica=tuple(dict.fromkeys(compare)),
        schedules=schedules,
        timezone=timezone,
        sweep=sweep,
    )


def _range(kind: str, lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"{kind} between {lo:g} and {hi:g}"
    if lo is not None:
        return f"{kind} >= {lo:g}"
    if hi is not None:
        return f"{kind} <= {hi:g}"
    return kind


def _show(value: Any) -> str:
    return shown(value)
