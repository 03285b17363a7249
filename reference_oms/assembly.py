"""Putting one service's app together: its routes, plus metrics, latency and tracing."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from .http_metrics import LatencyMiddleware, metrics_endpoint, request_latency_histogram
from .tracing import Lifespan, flushing, tracing_middleware

__all__ = ["assemble_app"]


def assemble_app(
    routes: Sequence[Route],
    *,
    registry: CollectorRegistry,
    service: str,
    lifespan: Lifespan,
    tracer_provider: TracerProvider | None,
) -> Starlette:
    """``routes`` and ``GET /metrics``, timed per route, traced when a provider is given."""
    middleware = [
        *tracing_middleware(tracer_provider),
        Middleware(
            LatencyMiddleware, histogram=request_latency_histogram(registry), service=service
        ),
    ]
    app = Starlette(
        routes=[*routes, Route("/metrics", metrics_endpoint(registry), methods=["GET"])],
        middleware=middleware,
        lifespan=flushing(lifespan, tracer_provider),
    )
    app.state.registry = registry
    return app
