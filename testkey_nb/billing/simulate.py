"""The autoscaling what-if simulator: a scenario -> replica lifecycle events -> metering and ledger.

Model (deterministic, per UTC minute, vectorised in polars):

1. ``rpm(t)`` = constant ``rpm`` + ``hourly_rpm[hour of day]`` + every active ``[[traffic.segments]]``.
2. In-flight requests ``L(t) = rpm(t) * request_duration_seconds / 60`` (Little's law, minute average).
3. The autoscaler looks at the mean of ``L`` over the autoscaling window
   (``ceil(autoscaling_window / 60)`` minutes, at least 1) and wants
   ``desired = ceil(mean_L / (concurrency_target * target_utilization_percentage / 100))`` replicas
   (at least 1 when there is any load).
4. Scale-down waits for the full delay: the target is the max of ``desired`` over the last
   ``ceil(scale_down_delay / 60)`` minutes and the current one, clamped to
   ``[min_replica, max_replica]``. With ``max_scale_down_rate`` set (scenario or schedule), a step
   removes at most ``ceil(active x rate / 100)`` replicas, one step per autoscaling window; without it,
   replicas drop straight to the target (the earlier simplification).
4b. Every setting above is the one in force that minute: an active autoscaling schedule's override,
   else the scenario's (`testkey_nb.billing.schedules`).
5. Each maximal stretch during which replica slot ``k`` is wanted is one replica. A new replica goes
   ``scheduling`` -> ``image_pull`` (not billed) -> ``model_load`` (billed) -> ``serving``/``idle``
   (billed) until the autoscaler terminates it at the end of its stretch, then ``drain`` (not billed).
   ``serving`` means the minute's own load needs slot ``k``; otherwise the warm replica is ``idle``.
6. Replicas wanted at the scenario start because of ``min_replica`` are assumed warm (no boot) unless
   there is a ``[build]``: then the build runs first (its own replica, billed) and nothing can start
   before it ends; a failed build deploys nothing.
7. Minutes with no replica are a ``scaled_to_zero`` span (not billed). Replicas still up at the end of
   the simulated period are cut there.
8. Development deployments: at most one replica, always scale to zero, never billed.

A **cold start from zero** is a replica of slot 1 that boots because traffic arrived while no replica
was up: the first request waits ``scheduling + image_pull + model_load`` seconds. That is the cost side
of ``min_replica = 0``; `compare_min_replica` sets it against the dollars saved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from testkey_nb.billing.errors import ScenarioError
from testkey_nb.billing.events import events_schema
from testkey_nb.billing.ledger import LedgerConfig
from testkey_nb.billing.metering import meter
from testkey_nb.billing.pipeline import BillingRun, bill
from testkey_nb.billing.prices import PriceTable
from testkey_nb.billing.scenario import Scenario
from testkey_nb.billing.schedules import minute_settings, rate_limited

if TYPE_CHECKING:
    import polars as pl

_EPS = 1e-9
NO_REPLICA = "-"


@dataclass(frozen=True)
class Simulation:
    """A simulated scenario.

    * ``minutes``: minute, ts, rpm, in_flight, desired, replicas (one row per simulated minute)
    * ``replicas``: replica_id, slot, start, end, ready, warm, cold_start_from_zero
    * ``events``: the replica lifecycle events (the events-frame columns, see `testkey_nb.billing.events`)
    """

    scenario: Scenario
    minutes: pl.DataFrame
    replicas: pl.DataFrame
    events: pl.DataFrame

    @property
    def cold_starts(self) -> int:
        return int(self.replicas["cold_start_from_zero"].sum() or 0)

    @property
    def first_request_added_latency_s(self) -> float:
        """Added latency of the first request after a quiet stretch, per cold start from zero."""
        return self.scenario.cold_start.boot_seconds


def simulate(scenario: Scenario) -> pl.DataFrame:
    """The scenario's replica lifecycle events (same columns as an events CSV)."""
    return simulate_detail(scenario).events


def simulate_detail(scenario: Scenario) -> Simulation:
    import polars as pl

    a = scenario.autoscaling
    dep = scenario.deployment
    cs = scenario.cold_start
    t0 = scenario.start
    total = scenario.minutes
    min_r, max_r = (0, 1) if dep.development else (a.min_replica, a.max_replica)

    minute = pl.col("minute")
    rpm = pl.lit(scenario.traffic.rpm, dtype=pl.Float64)
    if scenario.traffic.hourly_rpm is not None:
        hourly = {h: v for h, v in enumerate(scenario.traffic.hourly_rpm)}
        rpm = rpm + ((minute // 60) % 24).replace_strict(hourly, return_dtype=pl.Float64)
    for seg in scenario.traffic.segments:
        if seg.every_minutes:
            active = (minute >= seg.start_minute) & (
                (minute - seg.start_minute) % seg.every_minutes < seg.duration_minutes
            )
        else:
            active = (minute >= seg.start_minute) & (minute < seg.start_minute + seg.duration_minutes)
        rpm = rpm + pl.when(active).then(pl.lit(seg.rpm)).otherwise(0.0)

    available = 0
    if scenario.build is not None:
        available = total if scenario.build.failed else min(total, math.ceil(scenario.build.seconds / 60))
    settings = minute_settings(
        t0,
        total,
        min_replica=min_r,
        max_replica=max_r,
        concurrency_target=a.concurrency_target,
        target_utilization_percentage=a.target_utilization_percentage,
        autoscaling_window=a.autoscaling_window,
        scale_down_delay=a.scale_down_delay,
        max_scale_down_rate=a.max_scale_down_rate,
        schedules=() if dep.development else scenario.schedules,
        timezone=scenario.timezone,
    )
    if dep.development:  # at most one replica, always scales to zero, no autoscaling
        settings = settings.with_columns(min_r=pl.lit(0, dtype=pl.Int64), max_r=pl.lit(1, dtype=pl.Int64))
    min_r0 = int(settings["min_r"][0]) if total else min_r  # replicas assumed warm at the start

    def need(load: pl.Expr) -> pl.Expr:
        return (
            pl.when(load > 0)
            .then(pl.max_horizontal((load / pl.col("capacity") - _EPS).ceil(), pl.lit(1.0)))
            .otherwise(0.0)
            .cast(pl.Int64)
        )

    def per_minute(values: list[int], build: object) -> pl.Expr:
        """The expression of ``build(v)`` picked per minute by the value in force (few distinct values)."""
        out = pl.lit(None, dtype=pl.Float64)
        for v in values:
            out = pl.when(pl.col("_key") == v).then(build(v)).otherwise(out)  # type: ignore[operator]
        return out

    windows = sorted(set(settings["window"].to_list()))
    delays = sorted(set(settings["delay"].to_list()))
    grid = (
        pl.DataFrame({"minute": pl.int_range(0, total, dtype=pl.Int64, eager=True)})
        .with_columns(rpm=rpm)
        .with_columns(in_flight=pl.col("rpm") * scenario.traffic.request_duration_seconds / 60)
        .join(settings, on="minute", how="left")
        .with_columns(_key=pl.col("window"))
        .with_columns(
            _mean=per_minute(windows, lambda w: pl.col("in_flight").rolling_mean(w, min_samples=1)),
        )
        .with_columns(
            desired=pl.min_horizontal(need(pl.col("_mean")), pl.col("max_r")),
            needed_now=need(pl.col("in_flight")),
        )
        .with_columns(_key=pl.col("delay"))
        .with_columns(
            _target=pl.when(minute < available)
            .then(0)
            .otherwise(
                per_minute(delays, lambda d: pl.col("desired").rolling_max(d + 1, min_samples=1).cast(pl.Float64))
                .cast(pl.Int64)
                .clip(pl.col("min_r"), pl.col("max_r"))
            )
            .cast(pl.Int64)
        )
    )
    if grid["rate"].is_null().all():
        grid = grid.with_columns(replicas=pl.col("_target"))
    else:
        target = grid["_target"].to_list()
        cap = [0 if m < available else c for m, c in enumerate(grid["max_r"].to_list())]
        limited = rate_limited(target, cap, grid["window"].to_list(), grid["rate"].to_list(), target[0])
        grid = grid.with_columns(replicas=pl.Series(limited, dtype=pl.Int64))
    grid = grid.with_columns(ts=pl.lit(t0) + pl.duration(minutes=minute)).drop("_key", "_mean", "_target")

    # --- replicas: maximal stretches during which slot k is wanted --------------------------------
    runs = (
        grid.with_columns(run=pl.col("replicas").rle_id())
        .group_by("run")
        .agg(start=minute.min(), end=minute.max() + 1, r=pl.col("replicas").first())
        .sort("run")
    )
    slots = (
        runs.filter(pl.col("r") > 0)
        .with_columns(slot=pl.int_ranges(1, pl.col("r") + 1, dtype=pl.Int64))
        .explode("slot")
        .sort("slot", "run")
    )
    new_replica = pl.col("run") != (pl.col("run").shift(1).over("slot") + 1)
    rep = (
        slots.with_columns(seq=new_replica.fill_null(True).cum_sum())
        .group_by("seq")
        .agg(slot=pl.col("slot").first(), a=pl.col("start").min(), b=pl.col("end").max())
        .sort("a", "slot")
    )
    rpm_at = grid.select(a="minute", _rpm_a="rpm")
    boot_us = round(cs.boot_seconds * 1e6)
    rep = (
        rep.join(rpm_at, on="a", how="left")
        .sort("a", "slot")
        .with_columns(
            replica_id=pl.format(
                "{}-r{}", pl.lit(dep.id), (pl.int_range(pl.len()) + 1).cast(pl.String).str.zfill(4)
            ),
            start=pl.lit(t0) + pl.duration(minutes=pl.col("a")),
            end=pl.lit(t0) + pl.duration(minutes=pl.col("b")),
            warm=(pl.col("a") == 0) & (pl.col("slot") <= min_r0) & pl.lit(scenario.build is None),
        )
        .with_columns(
            ready=pl.when(pl.col("warm"))
            .then(pl.col("start"))
            .otherwise(pl.col("start") + pl.duration(microseconds=boot_us)),
            cold_start_from_zero=(pl.col("slot") == 1) & ~pl.col("warm") & (pl.col("_rpm_a") > 0),
        )
    )

    # --- events ------------------------------------------------------------------------------------
    def frame(df: pl.DataFrame, phase: str | pl.Expr, start: pl.Expr, end: pl.Expr) -> pl.DataFrame:
        return df.select(
            replica_id=pl.col("replica_id"),
            phase=phase if isinstance(phase, pl.Expr) else pl.lit(phase),
            start=start,
            end=pl.min_horizontal(end, pl.col("end")),
        ).filter(pl.col("end") > pl.col("start"))

    cold = rep.filter(~pl.col("warm"))
    sched_end = pl.col("start") + pl.duration(microseconds=round(cs.scheduling_seconds * 1e6))
    pull_end = sched_end + pl.duration(microseconds=round(cs.image_pull_seconds * 1e6))
    parts = [
        frame(cold, "scheduling", pl.col("start"), sched_end),
        frame(cold, "image_pull", sched_end, pull_end),
        frame(cold, "model_load", pull_end, pl.col("ready")),
    ]
    # serving / idle per replica-minute, then runs of equal status
    replica_minutes = (
        rep.select("replica_id", "slot", "a", "b", "ready", "end")
        .with_columns(minute=pl.int_ranges("a", "b", dtype=pl.Int64))
        .explode("minute")
        .join(grid.select("minute", "needed_now"), on="minute", how="left")
        .sort("replica_id", "minute")
        .with_columns(
            status=pl.when(pl.col("needed_now") >= pl.col("slot"))
            .then(pl.lit("serving"))
            .otherwise(pl.lit("idle"))
        )
    )
    status_runs = (
        replica_minutes.with_columns(run=pl.struct("replica_id", "status").rle_id())
        .group_by("run")
        .agg(
            pl.col("replica_id").first(),
            pl.col("status").first(),
            s=pl.col("minute").min(),
            e=pl.col("minute").max() + 1,
            ready=pl.col("ready").first(),
            end=pl.col("end").first(),
        )
    )
    parts.append(
        frame(
            status_runs,
            pl.col("status"),
            pl.max_horizontal(pl.lit(t0) + pl.duration(minutes=pl.col("s")), pl.col("ready")),
            pl.lit(t0) + pl.duration(minutes=pl.col("e")),
        )
    )
    if cs.drain_seconds > 0:
        ended = rep.filter(pl.col("b") < total)
        parts.append(
            ended.select(
                "replica_id",
                phase=pl.lit("drain"),
                start=pl.col("end"),
                end=pl.col("end") + pl.duration(microseconds=round(cs.drain_seconds * 1e6)),
            )
        )
    zero = runs.filter((pl.col("r") == 0) & (pl.col("end") > available)).select(
        replica_id=pl.lit(NO_REPLICA),
        phase=pl.lit("scaled_to_zero"),
        start=pl.lit(t0) + pl.duration(minutes=pl.max_horizontal(pl.col("start"), pl.lit(available))),
        end=pl.lit(t0) + pl.duration(minutes=pl.col("end")),
    )
    if not (scenario.build is not None and scenario.build.failed):
        parts.append(zero)
    if scenario.build is not None:
        from datetime import timedelta

        parts.append(
            pl.DataFrame(
                {
                    "replica_id": [f"{dep.id}-build"],
                    "phase": ["build_failed" if scenario.build.failed else "build"],
                    "start": [t0],
                    "end": [t0 + timedelta(seconds=scenario.build.seconds)],
                }
            )
        )
    schema = events_schema()
    events = (
        pl.concat([p.cast({"start": schema["start"], "end": schema["end"]}) for p in parts], how="vertical")
        .with_columns(
            deployment_id=pl.lit(dep.id),
            instance_type=pl.lit(dep.instance_type),
            development=pl.lit(dep.development),
            price_per_minute=pl.lit(dep.price_per_minute, dtype=pl.Float64),
        )
        .select(*schema)
        .cast(pl.Schema(schema))
        .sort("start", "replica_id", "end")
    )
    replicas = rep.select(
        "replica_id", "slot", "start", "end", "ready", "warm", pl.col("cold_start_from_zero").fill_null(False)
    )
    minutes = grid.select("minute", "ts", "rpm", "in_flight", "desired", "replicas")
    return Simulation(scenario=scenario, minutes=minutes, replicas=replicas, events=events)


# --- running a scenario ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioRun:
    simulation: Simulation
    billing: BillingRun
    tradeoff: pl.DataFrame


def check_priced(scenario: Scenario, prices: PriceTable) -> None:
    dep = scenario.deployment
    if dep.price_per_minute is None and prices.price_of(dep.instance_type) is None:
        known = ", ".join(sorted(prices.prices))
        raise ScenarioError(
            f"{scenario.name}: [deployment].instance_type {dep.instance_type!r} has no {prices.provenance} "
            f"price (known: {known}); set [deployment].price_per_minute"
        )


def run_scenario(
    scenario: Scenario, prices: PriceTable | None = None, config: LedgerConfig | None = None
) -> ScenarioRun:
    """Simulate, meter and run the ledger (``config`` overrides the scenario's ``[billing]``), plus the
    min_replica trade-off of ``[compare]``."""
    table = prices or PriceTable.default()
    check_priced(scenario, table)
    sim = simulate_detail(scenario)
    run = bill(sim.events, table, config or scenario.billing, label=scenario.name)
    return ScenarioRun(simulation=sim, billing=run, tradeoff=compare_min_replica(scenario, None, table))


def compare_min_replica(
    scenario: Scenario, values: tuple[int, ...] | None = None, prices: PriceTable | None = None
) -> pl.DataFrame:
    """The cold-start trade-off: the same scenario at each ``min_replica`` (default ``[compare]``).

    Columns: min_replica, billed_minutes, total_usd (usage before credits, ignoring deactivation),
    idle_billed_minutes, cold_starts (cold starts from zero), first_request_added_latency_s (each such
    cold start's first request waits this long: scheduling + image pull + model load),
    total_added_latency_s, usd_saved_vs_max (dollars saved against the highest min_replica compared).
    """
    import polars as pl

    table = prices or PriceTable.default()
    check_priced(scenario, table)
    rows: list[dict[str, Any]] = []
    for value in values or scenario.compare_min_replica:
        max_r = max(scenario.autoscaling.max_replica, value)
        sim = simulate_detail(scenario.with_autoscaling(min_replica=value, max_replica=max_r))
        m = meter(sim.events, table, label=scenario.name)
        idle = float(m.events.filter(pl.col("phase") == "idle")["billed_minutes"].sum() or 0.0)
        rows.append(
            {
                "min_replica": value,
                "billed_minutes": m.billed_minutes,
                "total_usd": m.total_usd,
                "idle_billed_minutes": idle,
                "cold_starts": sim.cold_starts,
                "first_request_added_latency_s": sim.first_request_added_latency_s
                if sim.cold_starts
                else 0.0,
                "total_added_latency_s": sim.cold_starts * sim.first_request_added_latency_s,
            }
        )
    out = pl.DataFrame(
        rows,
        schema={
            "min_replica": pl.Int64,
            "billed_minutes": pl.Int64,
            "total_usd": pl.Float64,
            "idle_billed_minutes": pl.Float64,
            "cold_starts": pl.Int64,
            "first_request_added_latency_s": pl.Float64,
            "total_added_latency_s": pl.Float64,
        },
    )
    top = out.sort("min_replica").tail(1)["total_usd"]
    return out.with_columns(usd_saved_vs_max=(top[0] if top.len() else 0.0) - pl.col("total_usd"))
