"""The Peak overview dashboard: orders against the plan, requests, errors, latency, load.

Everything here is served by the load process (the client's view, latency from each
request's intended start) and the reference OMS (the server's view).
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog.builder import Builder

from dashboards.panels import (
    Grid,
    annotation_queries,
    heatmap_panel,
    prom,
    run_matcher,
    stat_panel,
    text_panel,
    thresholds,
    timeseries_panel,
)
from dashboards.variables import (
    channel_variable,
    datasource_variable,
    endpoint_variable,
    run_variable,
)
from slo import conventions as n
from slo.objectives import ErrorRatioObjective, LatencyObjective
from slo.plan import Plan
from slo.stats import ALL_ENDPOINTS

__all__ = ["FIRST_LOOK", "overview_dashboard"]

RATE = "[$__rate_interval]"
FAIL = 'outcome="fail"'
CONFIRMED_IN_CHANNEL = 'outcome="confirmed", channel=~"$channel"'
IN_CHANNEL = 'channel=~"$channel"'

FIRST_LOOK = """\
**Look first at the top line**: confirmed orders per minute against the planned
arrivals, and the latency SLO tiles. If confirmed orders fall away from the plan, read
*Errors per endpoint* and *Arrivals dropped* next: dropped arrivals mean the load
generator, not the OMS, ran out of room.

**Colours**: tiles are **green** within the plan's objective, **amber** past 80 % of it,
**red** past it. Dashed lines on graphs are the objectives. Annotations: **red** fault
windows (chaos), **blue** deploys, **purple** rollbacks, **orange** alerts.

*Load generator CPU* near 100 % (one core) means the latencies measure the load
generator itself, not the OMS: spread the load (`--processes`).
"""


def _client(extra: str = "") -> str:
    return "{" + ", ".join(filter(None, (run_matcher(), 'endpoint=~"$endpoint"', extra))) + "}"


def _run(extra: str = "") -> str:
    return "{" + ", ".join(filter(None, (run_matcher(), extra))) + "}"


def _orders(grid: Grid, plan: Plan) -> None:
    grid.row("Orders against the plan")
    load = plan.load
    grid.line(
        (8, stat_panel(
            "Orders confirmed / min", "Orders the OMS confirmed, as the load generator saw "
            "them, per minute (now).",
            [prom(f"sum(rate({n.METRIC_ORDERS_CONFIRMED}_total{_run()}{RATE})) * 60",
                  "confirmed / min")],
        )),
        (16, timeseries_panel(
            "Orders / min: confirmed vs planned",
            f"Planned: shopper arrivals of the {load.profile} profile, "
            f"{load.baseline_per_min:g} -> {load.peak_rate_per_min:g} per minute. "
            "Confirmed per channel: the OMS's own count.",
            [prom(f"sum(rate({n.METRIC_ARRIVALS_PLANNED}_total{_run()}{RATE})) * 60", "planned"),
             prom(f"sum(rate({n.METRIC_ORDERS_CONFIRMED}_total{_run()}{RATE})) * 60",
                  "confirmed (client)"),
             prom(f"sum by (channel) (rate({n.METRIC_OMS_ORDERS}"
                  f"{_run(CONFIRMED_IN_CHANNEL)}{RATE})) * 60",
                  "confirmed {{channel}} (OMS)")],
        )),
    )  # fmt: skip
    grid.line(
        (12, timeseries_panel(
            "Arrivals planned / sent / dropped per second",
            "Dropped: no free slot in the load generator (max concurrency): the flood was "
            "not delivered, whatever the OMS did.",
            [prom(f"sum(rate({name}_total{_run()}{RATE}))", legend)
             for name, legend in ((n.METRIC_ARRIVALS_PLANNED, "planned"),
                                  (n.METRIC_ARRIVALS_SENT, "sent"),
                                  (n.METRIC_ARRIVALS_DROPPED, "dropped"))],
            unit="reqps",
        )),
        (6, timeseries_panel(
            "Active journeys", "Shopper journeys in flight (most in the last second).",
            [prom(f"sum({n.METRIC_JOURNEYS_ACTIVE}{_run()})", "journeys")],
        )),
        (6, timeseries_panel(
            "Load generator CPU", "CPU of each load process over its last second (100 %: "
            "one core, all a gevent process can use), as load.jsonl records it.",
            [prom(f"max by (source) ({n.METRIC_LOAD_CPU}{_run()})", "{{source}}")],
            unit="percent",
        )),
    )  # fmt: skip


def _requests(grid: Grid, plan: Plan) -> None:
    grid.row("Requests and errors")
    limit = min(
        (o.max_ratio for o in plan.slos.objectives if isinstance(o, ErrorRatioObjective)),
        default=None,
    )
    ratio_limits = thresholds(0.8 * limit, limit) if limit is not None else None
    requests = n.METRIC_CLIENT_REQUESTS + "_total"
    grid.line(
        (8, timeseries_panel(
            "Requests per endpoint", "Requests the load generator sent, per second.",
            [prom(f"sum by (endpoint) (rate({requests}{_client()}{RATE}))", "{{endpoint}}")],
            unit="reqps",
        )),
        (8, timeseries_panel(
            "Errors per endpoint", "Failed requests (errors, timeouts) per second.",
            [prom(f"sum by (endpoint) (rate({requests}{_client(FAIL)}{RATE}))",
                  "{{endpoint}}")],
            unit="reqps",
        )),
        (8, timeseries_panel(
            "Error ratio", "Failed / all requests; the dashed line is the plan's tightest "
            "error-ratio objective.",
            [prom(f"sum(rate({requests}{_client(FAIL)}{RATE})) / "
                  f"sum(rate({requests}{_client()}{RATE}))", "error ratio")],
            unit="percentunit", limits=ratio_limits,
        )),
    )  # fmt: skip
    grid.line(
        (12, timeseries_panel(
            "OMS responses by route and status", "The reference OMS's own count, per second.",
            [prom(f"sum by (route, status) (rate({n.METRIC_OMS_HTTP_LATENCY}_count{_run()}"
                  f"{RATE}))", "{{route}} {{status}}")],
            unit="reqps", stacked=True,
        )),
        (12, timeseries_panel(
            "OMS order outcomes per channel", "confirmed, rejected (sold out), error, "
            "cancelled: per second.",
            [prom(f"sum by (channel, outcome) (rate({n.METRIC_OMS_ORDERS}"
                  f"{_run(IN_CHANNEL)}{RATE}))", "{{channel}} {{outcome}}")],
            unit="ops", stacked=True,
        )),
    )  # fmt: skip


def _latency_tiles(plan: Plan) -> list[tuple[int, Builder[Any]]]:
    latency = [o for o in plan.slos.objectives if isinstance(o, LatencyObjective)]
    tiles = []
    for objective in latency[:4]:
        limit_s = objective.threshold_ms / 1000
        where = "" if objective.endpoint == ALL_ENDPOINTS else f'endpoint="{objective.endpoint}"'
        q = objective.percentile / 100
        expr = (f"histogram_quantile({q:g}, sum by (le) (rate({n.METRIC_CLIENT_LATENCY}_bucket"
                f"{_run(where)}{RATE})))")  # fmt: skip
        tiles.append(stat_panel(
            f"SLO {objective.id}",
            f"p{objective.percentile:g} of {objective.endpoint} now against "
            f"{objective.threshold_ms:g} ms ({objective.during}).",
            [prom(expr, f"p{objective.percentile:g}")], unit="s",
            limits=thresholds(0.8 * limit_s, limit_s),
        ))  # fmt: skip
    width = 24 // max(len(tiles), 1)
    return [(width, tile) for tile in tiles]


def _latency(grid: Grid, plan: Plan) -> None:
    grid.row("Latency")
    tiles = _latency_tiles(plan)
    if tiles:
        grid.line(*tiles, height=5)
    bucket = f"{n.METRIC_CLIENT_LATENCY}_bucket"
    grid.line(
        (12, timeseries_panel(
            "Client latency p50 / p95 / p99 by endpoint",
            "From each request's intended start, so a stalling OMS shows its true tail.",
            [prom(f"histogram_quantile({q}, sum by (le, endpoint) (rate({bucket}{_client()}"
                  f"{RATE})))", f"p{pct} {{{{endpoint}}}}")
             for q, pct in (("0.5", 50), ("0.95", 95), ("0.99", 99))],
            unit="s",
        )),
        (12, heatmap_panel(
            "Client latency heatmap (exemplars: trace ids)",
            "Requests per latency bucket; the dots are exemplars: the slowest traced request "
            "of each interval, linked to its trace id.",
            prom(f"sum by (le) (rate({bucket}{_client()}{RATE}))", "{{le}}", fmt="heatmap",
                 exemplar=True),
        )),
        height=9,
    )  # fmt: skip
    grid.line(
        (24, timeseries_panel(
            "OMS server latency p99 by route", "The OMS's own latency histogram (from the "
            "request's arrival at the server).",
            [prom(f"histogram_quantile(0.99, sum by (le, route) (rate("
                  f"{n.METRIC_OMS_HTTP_LATENCY}_bucket{_run()}{RATE})))", "p99 {{route}}")],
            unit="s",
        )),
    )  # fmt: skip


def overview_dashboard(plan: Plan, uid: str) -> db.Dashboard:
    """The Peak overview dashboard of ``plan``."""
    grid = Grid()
    grid.line((24, text_panel("Start here", FIRST_LOOK)), height=6)
    _orders(grid, plan)
    _requests(grid, plan)
    _latency(grid, plan)
    dashboard = (
        db.Dashboard(f"Peak overview: {plan.name}").uid(uid).tags(["peakops", plan.name])
        .time("now-15m", "now").refresh("10s").timezone("browser").editable()
        .with_variable(datasource_variable()).with_variable(run_variable())
        .with_variable(channel_variable(tuple(plan.load.channels)))
        .with_variable(endpoint_variable()).annotations(list(annotation_queries()))
    )  # fmt: skip
    return grid.add_to(dashboard)
