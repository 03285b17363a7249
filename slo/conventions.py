"""Names shared by collectors, scenarios, alerts and dashboards: endpoints, metrics, files."""

from __future__ import annotations

__all__ = [
    "CHANNELS",
    "ENDPOINT_CANCEL_ORDER",
    "ENDPOINT_GET_ORDER",
    "ENDPOINT_GET_STOCK",
    "ENDPOINT_PLACE_ORDER",
    "EXPERIMENTS",
    "EXPERIMENTS_KUBERNETES_ONLY",
    "EXPERIMENTS_LOCAL_ONLY",
    "EXPERIMENTS_TIMED",
    "LABEL_ENDPOINT",
    "LABEL_OUTCOME",
    "LABEL_QUANTILE",
    "LABEL_SOURCE",
    "METRIC_ARRIVALS_DROPPED",
    "METRIC_ARRIVALS_PLANNED",
    "METRIC_ARRIVALS_SENT",
    "METRIC_CLIENT_LATENCY",
    "METRIC_CLIENT_REQUESTS",
    "METRIC_DRIFT_LAG",
    "METRIC_DRIFT_OUTSIDE",
    "METRIC_DRIFT_OVERSELL",
    "METRIC_DRIFT_UNDERSELL",
    "METRIC_JOURNEYS_ACTIVE",
    "METRIC_ORDERS_CONFIRMED",
    "PROFILES",
    "RUN_FORMAT_VERSION",
    "RUN_ID_HEADER",
    "STORE_OFFLINE",
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
LABEL_ENDPOINT = "endpoint"
LABEL_OUTCOME = "outcome"

# Stock-drift metrics the load process serves (re-checked every few seconds).
METRIC_DRIFT_OVERSELL = "peakops_drift_oversell_units"
METRIC_DRIFT_OUTSIDE = "peakops_drift_observations_outside_interval"
METRIC_DRIFT_UNDERSELL = "peakops_drift_false_sold_outs"
METRIC_DRIFT_LAG = "peakops_drift_convergence_lag_seconds"
LABEL_SOURCE = "source"
LABEL_QUANTILE = "quantile"

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
