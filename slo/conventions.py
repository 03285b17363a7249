"""Names shared by collectors, scenarios, alerts and dashboards: endpoints, metrics, files."""

from __future__ import annotations

__all__ = [
    "ALERT_BURN_PREFIX",
    "ALERT_NO_DATA",
    "ALERT_WINDOWS",
    "CHANNELS",
    "CLIENT_LATENCY_BUCKETS_S",
    "COLLECT_BOUNDS",
    "COLLECT_CALLS",
    "COLLECT_ERROR_KINDS",
    "COLLECT_LAG_BUCKETS_S",
    "COLLECT_METRICS",
    "DEFAULT_ALERT_WINDOWS",
    "ENDPOINT_CANCEL_ORDER",
    "ENDPOINT_GET_ORDER",
    "ENDPOINT_GET_STOCK",
    "ENDPOINT_PLACE_ORDER",
    "EXPERIMENTS",
    "EXPERIMENTS_KUBERNETES_ONLY",
    "EXPERIMENTS_LOCAL_ONLY",
    "EXPERIMENTS_TIMED",
    "LABEL_BOUND",
    "LABEL_CALL",
    "LABEL_CHANNEL",
    "LABEL_ENDPOINT",
    "LABEL_KIND",
    "LABEL_OP",
    "LABEL_OUTCOME",
    "LABEL_QUANTILE",
    "LABEL_RUN",
    "LABEL_SEVERITY",
    "LABEL_SLO",
    "LABEL_SOURCE",
    "METRIC_ARRIVALS_DROPPED",
    "METRIC_ARRIVALS_PLANNED",
    "METRIC_ARRIVALS_SENT",
    "METRIC_CLIENT_LATENCY",
    "METRIC_CLIENT_REQUESTS",
    "METRIC_COLLECT_CANARY_DURATION",
    "METRIC_COLLECT_CANARY_OPEN",
    "METRIC_COLLECT_CANARY_OPS",
    "METRIC_COLLECT_LAG",
    "METRIC_COLLECT_LAG_PENDING",
    "METRIC_COLLECT_LAG_UNTIMED",
    "METRIC_COLLECT_LAST_PROBE",
    "METRIC_COLLECT_NEGATIVE",
    "METRIC_COLLECT_PROBE_DURATION",
    "METRIC_COLLECT_PROBE_ERRORS",
    "METRIC_COLLECT_PROBE_FAILED",
    "METRIC_COLLECT_VIEW_DRIFT",
    "METRIC_COLLECT_VIEW_OBSERVATIONS",
    "METRIC_COLLECT_VIEW_OUTSIDE",
    "METRIC_COLLECT_VIEW_UNJUDGED",
    "METRIC_DRIFT_LAG",
    "METRIC_DRIFT_OUTSIDE",
    "METRIC_DRIFT_OVERSELL",
    "METRIC_DRIFT_UNDERSELL",
    "METRIC_JOURNEYS_ACTIVE",
    "METRIC_LOAD_CPU",
    "METRIC_OMS_HTTP_LATENCY",
    "METRIC_OMS_MARKETPLACE_VIEW_SEQ",
    "METRIC_OMS_ORDERS",
    "METRIC_OMS_STOCK_VIEW_LAG",
    "METRIC_OMS_STOCK_VIEW_SEQ",
    "METRIC_OMS_STORE_FORWARDED",
    "METRIC_OMS_STORE_FORWARD_DELAY",
    "METRIC_OMS_STORE_ONLINE",
    "METRIC_OMS_STORE_OUTBOX_OPS",
    "METRIC_OMS_STORE_OUTBOX_UNITS",
    "METRIC_ORDERS_CONFIRMED",
    "OMS_METRICS",
    "PROFILES",
    "RULE_BUDGET_REMAINING",
    "RULE_CURRENT_BURN",
    "RULE_ERROR_BUDGET",
    "RULE_ERROR_BUDGET_COUNT",
    "RULE_OBJECTIVE",
    "RULE_PERIOD_BURN",
    "RULE_SLI_BAD",
    "RULE_SLI_ERROR",
    "RULE_SLI_EVENTS",
    "RULE_SLO_INFO",
    "RUN_FORMAT_VERSION",
    "RUN_ID_HEADER",
    "SEVERITIES",
    "SEVERITY_PAGE",
    "SEVERITY_TICKET",
    "STORE_OFFLINE",
    "bucket_label",
    "burn_alert_name",
    "window_rule",
]

CHANNELS = ("web", "app", "store", "marketplace")
"""Sales channels of a retail OMS, in the order plans and reports list them."""

PROFILES = ("constant", "bfcm", "flash_sale", "soak", "stress")
"""Traffic profiles a plan may name in ``load.profile``; each is a preset file shipped
in ``scenarios/presets/<name>.yaml``."""

# Endpoint names as recorded in the run directory and used in SLOs: "METHOD /route".
ENDPOINT_PLACE_ORDER = "POST /orders"
ENDPOINT_CANCEL_ORDER = "POST /orders/{id}/cancel"
ENDPOINT_GET_ORDER = "GET /orders/{id}"
ENDPOINT_GET_STOCK = "GET /stock/{sku}"

RUN_ID_HEADER = "X-Peakops-Run-Id"
"""Header that tags every synthetic request with its run id."""

RUN_FORMAT_VERSION = 1
"""Version of the run-directory format (docs/run-directory.md)."""

# Metrics the load process serves (OpenMetrics, with trace-id exemplars).
METRIC_CLIENT_LATENCY = "peakops_client_request_duration_seconds"
METRIC_CLIENT_REQUESTS = "peakops_client_requests"
METRIC_ARRIVALS_PLANNED = "peakops_arrivals_planned"
METRIC_ARRIVALS_SENT = "peakops_arrivals_sent"
METRIC_ARRIVALS_DROPPED = "peakops_arrivals_dropped"
METRIC_ORDERS_CONFIRMED = "peakops_orders_confirmed"
METRIC_JOURNEYS_ACTIVE = "peakops_journeys_active"
METRIC_LOAD_CPU = "peakops_load_cpu_percent"
"""CPU of each load process (``source``: ``load``, ``worker-N``) over its last second,
as ``load.jsonl`` records it: a saturated generator's latencies are its own."""
LABEL_ENDPOINT = "endpoint"
LABEL_OUTCOME = "outcome"
CLIENT_LATENCY_BUCKETS_S = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
"""Upper bounds (seconds) of the ``METRIC_CLIENT_LATENCY`` buckets (``+Inf`` beyond). A
latency SLO alerts from the bucket at its threshold, so a threshold must be one of these."""

# Stock-drift metrics the load process serves (re-checked every few seconds).
METRIC_DRIFT_OVERSELL = "peakops_drift_oversell_units"
METRIC_DRIFT_OUTSIDE = "peakops_drift_observations_outside_interval"
METRIC_DRIFT_UNDERSELL = "peakops_drift_false_sold_outs"
METRIC_DRIFT_LAG = "peakops_drift_convergence_lag_seconds"
LABEL_SOURCE = "source"
LABEL_QUANTILE = "quantile"

# The peak-day collector (``peakops collect``, docs/collect.md): the stock-drift SLIs that
# alert rules and dashboards read. Names as queried: counters with their ``_total``.
METRIC_COLLECT_VIEW_DRIFT = "peakops_collect_view_drift_units"
"""Gauge per ``channel``: units by which the view lies outside what the truth held within
``viewStaleness`` (0 inside): the largest over SKU x location, each as last probed."""
METRIC_COLLECT_VIEW_OBSERVATIONS = "peakops_collect_view_observations_total"
"""Counter per ``channel``: view observations judged against the staleness allowance."""
METRIC_COLLECT_VIEW_OUTSIDE = "peakops_collect_view_outside_allowance_total"
"""Counter per ``channel``: of those, the ones outside the allowance (drift > 0)."""
METRIC_COLLECT_VIEW_UNJUDGED = "peakops_collect_view_unjudged_total"
"""Counter per ``channel``: view observations not judged (no truth read of the cell from
``viewStaleness`` before, or the truth read closing the probe went unanswered)."""
METRIC_COLLECT_LAG = "peakops_collect_convergence_lag_seconds"
"""Histogram per ``channel`` and ``bound``: observed truth change -> the view shows it,
as a bracket (``lower``: proved; ``upper``: at most), timed changes only."""
METRIC_COLLECT_LAG_PENDING = "peakops_collect_convergence_pending_seconds"
"""Gauge per ``channel``: the oldest observed truth change the view has not shown yet, at
least this long ago (0: none pending). The histogram only counts changes that arrived:
a frozen view shows here."""
METRIC_COLLECT_LAG_UNTIMED = "peakops_collect_converged_untimed_total"
"""Counter per ``channel``: changes the view caught up with, bracketed too widely to time."""
METRIC_COLLECT_NEGATIVE = "peakops_collect_negative_stock_total"
"""Counter per ``source`` (``truth`` or a channel): observations of available stock
below zero."""
METRIC_COLLECT_PROBE_ERRORS = "peakops_collect_probe_errors_total"
"""Counter per ``kind`` (``COLLECT_ERROR_KINDS``) and ``call`` (``COLLECT_CALLS``)."""
METRIC_COLLECT_PROBE_FAILED = "peakops_collect_probe_failed"
"""Gauge: 1 once an adapter call raised a bug and probing stopped, else 0."""
METRIC_COLLECT_PROBE_DURATION = "peakops_collect_probe_duration_seconds"
"""Histogram per ``call`` (``truth``/``view``): every adapter read, answered or not."""
METRIC_COLLECT_LAST_PROBE = "peakops_collect_last_probe_timestamp_seconds"
"""Gauge: Unix time the last probe (one SKU: truth, views, truth) finished."""
METRIC_COLLECT_CANARY_DURATION = "peakops_collect_canary_duration_seconds"
"""Histogram per ``op`` (``place``/``cancel``): black-box latency of the canary's orders."""
METRIC_COLLECT_CANARY_OPS = "peakops_collect_canary_operations_total"
"""Counter per ``op`` and ``outcome`` (``ok``, ``fail``: refused, ``info``: unknown)."""
METRIC_COLLECT_CANARY_OPEN = "peakops_collect_canary_open_orders"
"""Gauge: canary orders placed (or perhaps placed) and not yet known cancelled."""
LABEL_CHANNEL = "channel"
"""The sales channel a view belongs to (``CHANNELS``)."""
LABEL_BOUND = "bound"
"""Which end of a convergence-lag bracket (``COLLECT_BOUNDS``)."""
LABEL_KIND = "kind"
"""What kind of probe error (``COLLECT_ERROR_KINDS``)."""
LABEL_CALL = "call"
"""Which adapter call (``COLLECT_CALLS``)."""
LABEL_OP = "op"
"""Which canary operation: ``place`` or ``cancel``."""

COLLECT_LAG_BUCKETS_S = (
    0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)  # fmt: skip
"""Upper bounds (seconds) of the ``METRIC_COLLECT_LAG`` buckets: a ``convergence_lag``
SLO alerts from the bucket at its threshold. Mirrors ``LAG_BUCKETS_S`` of
collectors/collect.py (tests/alerts/test_conventions.py fails if the two differ)."""
COLLECT_BOUNDS = ("lower", "upper")
"""Values of ``bound``: a convergence lag is known only as a bracket; alert on ``lower``."""
COLLECT_ERROR_KINDS = ("unanswered", "adapter_bug")
"""Values of ``kind`` on probe errors: the OMS could not answer; the adapter raised a bug."""
COLLECT_CALLS = ("truth", "view", "canary")
"""Values of ``call`` on probe errors (``truth`` and ``view`` on probe durations)."""

COLLECT_METRICS = (
    METRIC_COLLECT_VIEW_DRIFT,
    METRIC_COLLECT_VIEW_OBSERVATIONS,
    METRIC_COLLECT_VIEW_OUTSIDE,
    METRIC_COLLECT_VIEW_UNJUDGED,
    METRIC_COLLECT_LAG,
    METRIC_COLLECT_LAG_PENDING,
    METRIC_COLLECT_LAG_UNTIMED,
    METRIC_COLLECT_NEGATIVE,
    METRIC_COLLECT_PROBE_ERRORS,
    METRIC_COLLECT_PROBE_FAILED,
    METRIC_COLLECT_PROBE_DURATION,
    METRIC_COLLECT_LAST_PROBE,
    METRIC_COLLECT_CANARY_DURATION,
    METRIC_COLLECT_CANARY_OPS,
    METRIC_COLLECT_CANARY_OPEN,
)
"""Every metric the peak-day collector serves."""

# The embedded reference OMS's own series (reference_oms/, which imports nothing of the
# suite, so it spells them itself; tests/dashboards/test_catalog.py fails if the two
# differ). Names as queried: counters with their ``_total``.
METRIC_OMS_HTTP_LATENCY = "oms_http_request_duration_seconds"
"""Histogram per ``service``, ``route`` (the template), ``method`` and ``status``."""
METRIC_OMS_ORDERS = "oms_orders_total"
"""Counter per ``channel`` and ``outcome`` (``confirmed``, ``rejected``, ``error``,
``cancelled``): order operations of every order-taking node."""
METRIC_OMS_STORE_ONLINE = "oms_store_online"
"""Gauge: 1 while the store sells through inventory, 0 while it is cut off."""
METRIC_OMS_STORE_OUTBOX_OPS = "oms_store_outbox_ops"
"""Gauge: the store's sales queued for inventory (store-and-forward)."""
METRIC_OMS_STORE_OUTBOX_UNITS = "oms_store_outbox_units"
"""Gauge: units the store sold that inventory does not know about yet."""
METRIC_OMS_STORE_FORWARDED = "oms_store_forwarded_total"
"""Counter: outbox ops inventory acknowledged."""
METRIC_OMS_STORE_FORWARD_DELAY = "oms_store_forward_delay_seconds"
"""Histogram: queueing a store sale -> inventory acknowledging it (time to reconcile)."""
METRIC_OMS_STOCK_VIEW_LAG = "oms_stock_view_lag_seconds"
"""Histogram: an inventory change -> an orders replica applying it to its stock view."""
METRIC_OMS_STOCK_VIEW_SEQ = "oms_stock_view_seq"
"""Gauge: the change-log seq a replica's live stock view has applied."""
METRIC_OMS_MARKETPLACE_VIEW_SEQ = "oms_marketplace_view_seq"
"""Gauge: the change-log seq the marketplace copy was refreshed at."""
OMS_METRICS = (
    METRIC_OMS_HTTP_LATENCY,
    METRIC_OMS_ORDERS,
    METRIC_OMS_STORE_ONLINE,
    METRIC_OMS_STORE_OUTBOX_OPS,
    METRIC_OMS_STORE_OUTBOX_UNITS,
    METRIC_OMS_STORE_FORWARDED,
    METRIC_OMS_STORE_FORWARD_DELAY,
    METRIC_OMS_STOCK_VIEW_LAG,
    METRIC_OMS_STOCK_VIEW_SEQ,
    METRIC_OMS_MARKETPLACE_VIEW_SEQ,
)
"""Every series family the reference OMS serves."""

LABEL_RUN = "peakops_run"
"""The run id a rehearsal's Prometheus attaches to everything it sends on (its external
label, rehearsal/monitoring_config.py): absent in that Prometheus' own queries, present
where runs are federated or remote-written into one server."""

STORE_OFFLINE = "store-offline"
"""The chaos experiment that cuts a store off from inventory (store-and-forward)."""

# The chaos catalog: the stems of chaos/experiments/*.json. slo may not import chaos/,
# so the names live here; tests/slo/test_chaos_steps.py fails if the two differ.
EXPERIMENTS = (
    "kill-replica",
    "zone-loss",
    "network-cut",
    "network-slow",
    "network-flaky",
    STORE_OFFLINE,
)
"""Experiments a plan's ``chaos[].experiment`` may name."""

EXPERIMENTS_TIMED = ("network-cut", "network-slow", "network-flaky", STORE_OFFLINE)
"""Experiments that hold a fault for ``peakops_duration_s`` (a plan step's ``duration``).
The others act once (a kill, a zone's pods deleted) and the platform heals them."""

EXPERIMENTS_KUBERNETES_ONLY = ("zone-loss",)
"""Experiments that only exist on Kubernetes: local processes have no zones."""

EXPERIMENTS_LOCAL_ONLY = ("network-slow", "network-flaky")
"""Experiments that need the local fault proxy: on Kubernetes a NetworkPolicy can only
cut a link, not slow it down or reset part of its connections."""

# SLO alerting (alerts/, docs/alerts.md). Window sets are package data
# (alerts/windows/<name>.yaml); slo may not import alerts, so their names live here.
ALERT_WINDOWS = ("google-30d", "google-28d", "rehearsal")
"""Burn-rate window sets a plan's ``slos.alertWindows`` may name."""
DEFAULT_ALERT_WINDOWS = "google-30d"

# Recording rules follow Prometheus' ``level:metric:operations`` scheme: level ``peakops``
# (aggregated to one series per SLO, labelled ``slo``), metric ``slo_<what>``, operations
# the function and, for windowed SLIs, the window (``window_rule``): e.g.
# ``peakops:slo_sli_error:ratio_rate5m{slo="error-ratio"}``.
RULE_SLI_ERROR = "peakops:slo_sli_error:ratio_rate"
"""+ window: bad events / all events over the window (event-ratio SLOs)."""
RULE_SLI_BAD = "peakops:slo_sli_bad:increase"
"""+ window: bad events counted over the window (count SLOs: a budget of units)."""
RULE_SLI_EVENTS = "peakops:slo_sli_events:increase"
"""+ window: all events over a long window (the low-traffic guard, ``alertMinEvents``)."""
RULE_OBJECTIVE = "peakops:slo_objective:ratio"
"""Share of good events the SLO promises (event-ratio SLOs), e.g. 0.99."""
RULE_ERROR_BUDGET = "peakops:slo_error_budget:ratio"
"""Share of bad events the SLO allows: 1 - objective."""
RULE_ERROR_BUDGET_COUNT = "peakops:slo_error_budget:count"
"""Bad events (units) a count SLO allows per SLO period (0: none)."""
RULE_CURRENT_BURN = "peakops:slo_current_burn_rate:ratio"
"""Budget spending speed over the shortest window (1: spent exactly by the period's end)."""
RULE_PERIOD_BURN = "peakops:slo_period_burn_rate:ratio"
"""Share of the period's budget spent over the last period (from exact event counts)."""
RULE_BUDGET_REMAINING = "peakops:slo_period_error_budget_remaining:ratio"
"""1 - period burn rate: the budget left (negative once overspent)."""
RULE_SLO_INFO = "peakops:slo_info"
"""Always 1; labels describe the SLO (kind, objective, windows) for dashboards."""
LABEL_SLO = "slo"
"""The SLO id on every recording rule and alert."""
LABEL_SEVERITY = "severity"
SEVERITY_PAGE = "page"
SEVERITY_TICKET = "ticket"
SEVERITIES = (SEVERITY_PAGE, SEVERITY_TICKET)
ALERT_BURN_PREFIX = "PeakopsSLOBurn"
"""Burn-rate alerts: ``PeakopsSLOBurn<Severity><Speed>`` (``burn_alert_name``)."""
ALERT_NO_DATA = "PeakopsSLONoData"
"""The SLI's metric has been absent for the window set's ``noData`` duration."""


def window_rule(prefix: str, window: str) -> str:
    """A windowed recording rule's name: ``window_rule(RULE_SLI_ERROR, "5m")``."""
    return f"{prefix}{window}"


def burn_alert_name(severity: str, speed: str) -> str:
    """``burn_alert_name("page", "quick") == "PeakopsSLOBurnPageQuick"``."""
    return f"{ALERT_BURN_PREFIX}{severity.capitalize()}{speed.capitalize()}"


def bucket_label(upper_s: float) -> str:
    """The ``le`` label of a client latency bucket as collectors/live_metrics.py exposes it
    (Python's ``repr``: ``0.25``, ``1.0``; Prometheus 2 matches the text, not the number)."""
    return repr(float(upper_s))
