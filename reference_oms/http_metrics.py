"""Per-app Prometheus plumbing: request latency middleware keyed by route template, /metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "LATENCY_BUCKETS",
    "LatencyMiddleware",
    "metrics_endpoint",
    "request_latency_histogram",
]

LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    10.0,
)
UNMATCHED_ROUTE = "unmatched"


def request_latency_histogram(registry: CollectorRegistry) -> Histogram:
    """Create `oms_http_request_duration_seconds` in `registry`."""
    return Histogram(
        "oms_http_request_duration_seconds",
        "HTTP request latency by route template.",
        ["service", "route", "method", "status"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )


class LatencyMiddleware:
    """Observe every HTTP request's duration under its route template, not its raw path.

    The router stores the matched route in `scope["route"]`; unmatched paths share one
    label value so a scan of random URLs cannot blow up label cardinality.
    """

    def __init__(self, app: ASGIApp, histogram: Histogram, service: str) -> None:
        self.app = app
        self.histogram = histogram
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record_status)
        finally:
            route = getattr(scope.get("route"), "path", UNMATCHED_ROUTE)
            self.histogram.labels(self.service, route, scope["method"], str(status)).observe(
                time.perf_counter() - start
            )


def metrics_endpoint(registry: CollectorRegistry) -> Callable[[Request], Awaitable[Response]]:
    """Return a Starlette endpoint that renders `registry` in the Prometheus text format."""

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
