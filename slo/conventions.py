"""Names shared by collectors, scenarios, alerts and dashboards: endpoints, metrics, files."""

from __future__ import annotations

__all__ = [
    "CHANNELS",
    "ENDPOINT_CANCEL_ORDER",
    "ENDPOINT_GET_ORDER",
    "ENDPOINT_GET_STOCK",
    "ENDPOINT_PLACE_ORDER",
    "RUN_FORMAT_VERSION",
    "RUN_ID_HEADER",
]

CHANNELS = ("web", "app", "store", "marketplace")
"""Sales channels of a retail OMS, in the order plans and reports list them."""

# Endpoint names as recorded in the run directory and used in SLOs: "METHOD /route".
ENDPOINT_PLACE_ORDER = "POST /orders"
ENDPOINT_CANCEL_ORDER = "POST /orders/{id}/cancel"
ENDPOINT_GET_ORDER = "GET /orders/{id}"
ENDPOINT_GET_STOCK = "GET /stock/{sku}"

RUN_ID_HEADER = "X-Peakops-Run-Id"
"""Header that tags every synthetic request with its run id."""

RUN_FORMAT_VERSION = 1
"""Version of the run-directory format (docs/run-directory.md)."""
