"""The Stock integrity dashboard: drift, oversell, false sold-outs, convergence, stores.

Three producers: the rehearsal's drift checker in the load process (whole-run totals,
re-checked every few seconds), the peak-day collector (``peakops collect``, per
channel), and the reference OMS (store outboxes, stock-view lag).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db

from dashboards.panels import (
    GREEN,
    RED,
    Grid,
    annotation_queries,
    prom,
    run_matcher,
    stat_panel,
    steps,
    text_panel,
    thresholds,
    timeseries_panel,
)
from dashboards.variables import channel_variable, datasource_variable, run_variable
from slo import conventions as n
from slo.objectives import ConvergenceLagObjective, StoreReconcileObjective
from slo.plan import Plan

__all__ = ["FIRST_LOOK", "stock_dashboard"]

RATE = "[$__rate_interval]"
IN_CHANNEL = 'channel=~"$channel"'
LOWER = 'bound="lower"'

FIRST_LOOK = """\
**Look first at the red tiles of the top row**: any oversold unit or stock reading
below zero is a correctness bug, not a slowdown. Then *View drift per channel*: a
channel whose view stays outside its staleness allowance shows stale stock to shoppers.
During a store outage, watch the store's outbox drain after it reconnects.

**Colours**: tiles are **green** at zero, **amber** past 80 % of the plan's objective,
**red** past it (any oversell is red). Dashed lines are the plan's objectives.
Annotations: **red** fault windows, **blue** deploys, **purple** rollbacks, **orange**
alerts.

Rehearsal tiles come from the load process's drift checker (whole-run totals); the
per-channel graphs from the peak-day collector (`peakops collect`).
"""


def _run(*extra: str) -> str:
    return "{" + ", ".join((run_matcher(), *extra)) + "}"


def _rehearsal(grid: Grid, plan: Plan) -> None:
    grid.row("Rehearsal: drift checker (load process)")
    lag = next((o for o in plan.slos.objectives if isinstance(o, ConvergenceLagObjective)), None)
    lag_limits = thresholds(0.8 * lag.threshold_ms / 1000, lag.threshold_ms / 1000) if lag else None
    zero = thresholds(red=1)
    grid.line(
        (6, stat_panel("Oversold units", "Units confirmed beyond stock, so far this run.",
                       [prom(f"max({n.METRIC_DRIFT_OVERSELL}{_run()})", "units")],
                       limits=zero)),
        (6, stat_panel("Observations outside the expected interval",
                       "Stock readings (truth, channel views) outside what the order ledger "
                       "allows, so far.",
                       [prom(f"max by (source) ({n.METRIC_DRIFT_OUTSIDE}{_run()})",
                             "{{source}}")], limits=zero)),
        (6, stat_panel("False sold-outs", "\"Sold out\" answers while stock remained, so far.",
                       [prom(f"max({n.METRIC_DRIFT_UNDERSELL}{_run()})", "false sold-outs")],
                       limits=zero)),
        (6, timeseries_panel(
            "Convergence lag (ack -> every view)", "Order acknowledged -> every channel view "
            "shows it, by quantile; the dashed line is the plan's objective.",
            [prom(f"max by (quantile) ({n.METRIC_DRIFT_LAG}{_run()})", "q{{quantile}}")],
            unit="s", limits=lag_limits)),
        height=6,
    )  # fmt: skip


def _collector(grid: Grid, plan: Plan) -> None:
    grid.row("Peak day: per channel (collector)")
    lag = next((o for o in plan.slos.objectives if isinstance(o, ConvergenceLagObjective)), None)
    lag_limits = thresholds(0.8 * lag.threshold_ms / 1000, lag.threshold_ms / 1000) if lag else None
    grid.line(
        (8, timeseries_panel(
            "View drift per channel", "Units each channel view lies outside what the truth "
            "held within its staleness allowance (0: inside).",
            [prom(f"max by (channel) ({n.METRIC_COLLECT_VIEW_DRIFT}{_run(IN_CHANNEL)})",
                  "{{channel}}")], limits=thresholds(red=1))),
        (8, timeseries_panel(
            "Observations outside the allowance", "Share of judged view observations "
            "outside the staleness allowance, per channel.",
            [prom(f"sum by (channel) (rate({n.METRIC_COLLECT_VIEW_OUTSIDE}{_run(IN_CHANNEL)}"
                  f"{RATE})) / sum by (channel) (rate({n.METRIC_COLLECT_VIEW_OBSERVATIONS}"
                  f"{_run(IN_CHANNEL)}{RATE}))", "{{channel}}")], unit="percentunit")),
        (8, timeseries_panel(
            "Negative stock readings", "Readings of available stock below zero, per source "
            "(truth or a channel), per second: oversell as the collector sees it.",
            [prom(f"sum by (source) (rate({n.METRIC_COLLECT_NEGATIVE}{_run()}{RATE}))",
                  "{{source}}")], unit="ops", limits=thresholds(red=1e-9))),
    )  # fmt: skip
    grid.line(
        (12, timeseries_panel(
            "Convergence-lag bounds p99 per channel", "Each lag is a bracket: lower "
            "(proved) and upper (at most); the SLO judges the lower bound.",
            [prom(f"histogram_quantile(0.99, sum by (le, channel, bound) (rate("
                  f"{n.METRIC_COLLECT_LAG}_bucket{_run(IN_CHANNEL)}{RATE})))",
                  "{{channel}} {{bound}}")], unit="s", limits=lag_limits)),
        (12, timeseries_panel(
            "Oldest change not shown yet", "Per channel: the oldest truth change the view "
            "does not show yet (a frozen view climbs here, not in the histogram).",
            [prom(f"max by (channel) ({n.METRIC_COLLECT_LAG_PENDING}{_run(IN_CHANNEL)})",
                  "{{channel}}")], unit="s", limits=lag_limits)),
    )  # fmt: skip
    grid.line(
        (8, stat_panel("Probing stopped", "1 once an adapter call raised a bug and probing "
                       "stopped: every other graph here is then stale.",
                       [prom(f"max({n.METRIC_COLLECT_PROBE_FAILED}{_run()})", "stopped")],
                       limits=thresholds(red=1))),
        (8, stat_panel("Seconds since the last probe", "A growing number: the collector "
                       "is stuck or down.",
                       [prom(f"time() - max({n.METRIC_COLLECT_LAST_PROBE}{_run()})", "age")],
                       unit="s", limits=thresholds(10, 60))),
        (8, timeseries_panel("Probe errors", "Adapter calls that failed, per kind and call.",
                             [prom(f"sum by (kind, call) (rate({n.METRIC_COLLECT_PROBE_ERRORS}"
                                   f"{_run()}{RATE}))", "{{kind}} {{call}}")], unit="ops")),
        height=6,
    )  # fmt: skip


def _stores(grid: Grid, plan: Plan) -> None:
    grid.row("Stores and stock views (reference OMS)")
    reconcile = next(
        (o for o in plan.slos.objectives if isinstance(o, StoreReconcileObjective)), None
    )
    limit = reconcile.threshold_ms / 1000 if reconcile else None
    online = steps(RED, (1, GREEN))
    grid.line(
        (6, stat_panel("Store online", "1: the store sells through inventory; 0: cut off, "
                       "selling from local stock into its outbox.",
                       [prom(f"{n.METRIC_OMS_STORE_ONLINE}{_run()}", "{{instance}}")],
                       limits=online)),
        (9, timeseries_panel("Store outbox depth", "Sales queued for inventory: ops and "
                             "units inventory does not know about yet.",
                             [prom(f"sum({n.METRIC_OMS_STORE_OUTBOX_OPS}{_run()})", "ops"),
                              prom(f"sum({n.METRIC_OMS_STORE_OUTBOX_UNITS}{_run()})", "units")])),
        (9, timeseries_panel(
            "Time to reconcile (queued -> inventory ack)", "p50 and p99 of a store sale's "
            "wait in the outbox; the dashed line is the plan's store_reconcile objective.",
            [prom(f"histogram_quantile({q}, sum by (le) (rate("
                  f"{n.METRIC_OMS_STORE_FORWARD_DELAY}_bucket{_run()}{RATE})))", f"p{pct}")
             for q, pct in (("0.5", 50), ("0.99", 99))],
            unit="s", limits=thresholds(0.8 * limit, limit) if limit else None)),
    )  # fmt: skip
    grid.line(
        (8, timeseries_panel("Store sales forwarded", "Outbox ops inventory acknowledged, "
                             "per second (a burst after a reconnect).",
                             [prom(f"sum(rate({n.METRIC_OMS_STORE_FORWARDED}{_run()}{RATE}))",
                                   "forwarded")], unit="ops")),
        (8, timeseries_panel("Stock view apply lag p99", "Inventory change -> an orders "
                             "replica applies it to its stock view.",
                             [prom(f"histogram_quantile(0.99, sum by (le, instance) (rate("
                                   f"{n.METRIC_OMS_STOCK_VIEW_LAG}_bucket{_run()}{RATE})))",
                                   "{{instance}}")], unit="s")),
        (8, timeseries_panel("Marketplace copy behind (change-log seq)", "Changes the "
                             "marketplace's copy has not been refreshed with yet.",
                             [prom(f"max({n.METRIC_OMS_STOCK_VIEW_SEQ}{_run()}) - "
                                   f"max({n.METRIC_OMS_MARKETPLACE_VIEW_SEQ}{_run()})",
                                   "changes behind")])),
    )  # fmt: skip


def stock_dashboard(plan: Plan, uid: str) -> db.Dashboard:
    """The Stock integrity dashboard of ``plan``."""
    grid = Grid()
    grid.line((24, text_panel("Start here", FIRST_LOOK)), height=7)
    _rehearsal(grid, plan)
    _collector(grid, plan)
    _stores(grid, plan)
    dashboard = (
        db.Dashboard(f"Stock integrity: {plan.name}").uid(uid).tags(["peakops", plan.name])
        .time("now-15m", "now").refresh("10s").timezone("browser").editable()
        .with_variable(datasource_variable()).with_variable(run_variable())
        .with_variable(channel_variable(tuple(plan.load.channels)))
        .annotations(list(annotation_queries()))
    )  # fmt: skip
    return grid.add_to(dashboard)
