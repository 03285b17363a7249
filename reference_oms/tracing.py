"""OpenTelemetry tracing for the reference OMS: setup, SERVER spans, CLIENT spans to inventory.

Tracing is on only when an OTLP endpoint is configured (``OTEL_EXPORTER_OTLP_ENDPOINT``)
or a traces file is given (``--traces-file``: OTLP-JSON lines); otherwise no provider
exists, no middleware is installed and no span is ever created. Incoming W3C
``traceparent``/``tracestate``/``baggage`` headers are continued; outgoing calls to
inventory carry them on. The global tracer provider and propagators are never touched.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import (
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    set_span_in_context,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "FLUSH_TIMEOUT_MS",
    "UNTRACED_PATHS",
    "ClientCall",
    "Lifespan",
    "TracingMiddleware",
    "build_tracer_provider",
    "client_span",
    "flushing",
    "tracer_of",
    "tracing_middleware",
]

FLUSH_TIMEOUT_MS = 1500
"""How long shutdown waits for queued spans to be written (the platform allows ~5 s)."""

UNTRACED_PATHS = frozenset({"/healthz", "/metrics"})
"""Probes and scrapes: frequent, never part of an order's trace."""

_PROPAGATOR = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
_PROPAGATED = frozenset({b"traceparent", b"tracestate", b"baggage"})
_TRACER_NAME = "reference_oms"

Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


def build_tracer_provider(
    service_name: str, traces_file: str | None, resource: Mapping[str, str] | None = None
) -> TracerProvider | None:
    """A provider exporting OTLP/HTTP (endpoint set) or OTLP-JSON lines, or None: tracing off.

    ``resource`` adds resource attributes (e.g. ``service.instance.id``) to ``service.name``.
    """
    exporter = _exporter(traces_file)
    if exporter is None:
        return None
    attributes = {**(resource or {}), "service.name": service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _exporter(traces_file: str | None) -> SpanExporter | None:
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        # Imported only when used: it pulls in requests and protobuf.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # endpoint, headers, timeout: from OTEL_EXPORTER_OTLP_*
    if traces_file:
        from opentelemetry.exporter.otlp.json.file import FileSpanExporter

        Path(traces_file).parent.mkdir(parents=True, exist_ok=True)
        return FileSpanExporter(traces_file)
    return None


def tracer_of(provider: TracerProvider | None) -> Tracer | None:
    """The OMS's tracer from `provider`, or None when tracing is off."""
    return provider.get_tracer(_TRACER_NAME) if provider is not None else None


def tracing_middleware(provider: TracerProvider | None) -> list[Middleware]:
    """The SERVER-span middleware, outermost, or nothing when tracing is off."""
    tracer = tracer_of(provider)
    return [] if tracer is None else [Middleware(TracingMiddleware, tracer=tracer)]


def flushing(lifespan: Lifespan, provider: TracerProvider | None) -> Lifespan:
    """`lifespan`, then write out queued spans when it ends (SIGTERM included).

    uvicorn re-raises the signal once it has shut down, killing the process before
    any code after `serve` could run, so the end of the lifespan is the last chance.
    """
    if provider is None:
        return lifespan

    @asynccontextmanager
    async def lifespan_then_flush(app: Starlette) -> AsyncIterator[None]:
        try:
            async with lifespan(app):
                yield
        finally:
            await run_in_threadpool(provider.force_flush, FLUSH_TIMEOUT_MS)

    return lifespan_then_flush


class TracingMiddleware:
    """A SERVER span per HTTP request, continuing the caller's W3C trace context.

    The span is named ``METHOD /route/{template}`` once the router has matched (just
    ``METHOD`` for unmatched paths) and is the current span while the handler runs, so
    calls the handler makes become its children.
    """

    def __init__(self, app: ASGIApp, tracer: Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _PROPAGATED
        }
        parent = _PROPAGATOR.extract(carrier)
        method = scope["method"]
        span = self.tracer.start_span(
            method, parent, SpanKind.SERVER, _server_attributes(scope, method)
        )
        token = otel_context.attach(set_span_in_context(span, parent))
        status = 500

        async def send_and_record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record_status)
        except Exception as err:
            span.record_exception(err)
            raise
        finally:
            otel_context.detach(token)
            route = getattr(scope.get("route"), "path", None)
            if route is not None:
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
            span.end()


def _server_attributes(scope: Scope, method: str) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        "http.request.method": method,
        "url.path": scope["path"],
        "url.scheme": scope.get("scheme", "http"),
    }
    server = scope.get("server")
    if server:
        attributes["server.address"] = server[0]
        if server[1] is not None:
            attributes["server.port"] = server[1]
    return attributes


@dataclass
class ClientCall:
    """One outgoing call: send ``headers``; set ``status_code`` or ``error`` from its result."""

    headers: dict[str, str] = field(default_factory=dict)
    status_code: int | None = None
    error: str | None = None


@contextmanager
def client_span(tracer: Tracer | None, method: str, route: str, url: str) -> Iterator[ClientCall]:
    """A CLIENT span around one outgoing call, its context injected into ``call.headers``.

    Without a tracer this only yields an empty ``ClientCall``. The span is an error
    when the call got no response, answered 5xx, or raised.
    """
    call = ClientCall()
    if tracer is None:
        yield call
        return
    parts = urlsplit(url)
    attributes: dict[str, str | int] = {"http.request.method": method, "url.full": url}
    if parts.hostname:
        attributes["server.address"] = parts.hostname
    if parts.port:
        attributes["server.port"] = parts.port
    span = tracer.start_span(f"{method} {route}", kind=SpanKind.CLIENT, attributes=attributes)
    _PROPAGATOR.inject(call.headers, set_span_in_context(span))
    try:
        yield call
    except Exception as err:
        span.record_exception(err)
        call.error = call.error or repr(err)
        raise
    finally:
        _end_client_span(span, call)


def _end_client_span(span: Span, call: ClientCall) -> None:
    if call.status_code is not None:
        span.set_attribute("http.response.status_code", call.status_code)
    if call.error is not None:
        span.set_status(Status(StatusCode.ERROR, call.error))
    elif call.status_code is None:
        span.set_status(Status(StatusCode.ERROR, "no response"))
    elif call.status_code >= 500:
        span.set_status(Status(StatusCode.ERROR, f"HTTP {call.status_code}"))
    span.end()
