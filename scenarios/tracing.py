"""OpenTelemetry client spans for the load generator's requests, with W3C context injected.

Plain OTel SDK, no Locust: ``build_tracer_provider`` picks the exporter (OTLP/HTTP when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, else OTLP-JSON lines into a file) and returns a
provider the caller owns (``force_flush``/``shutdown``); the global provider is never
touched. ``ClientTracer`` is the per-request hot path: start a CLIENT span, inject
``traceparent``/``tracestate`` (and a precomputed ``baggage``) into the request headers,
end it with the response status. See docs/tracing.md.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.baggage import set_baggage
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "OTLP_ENDPOINT_ENV",
    "RUN_ID_ATTRIBUTE",
    "TRACER_NAME",
    "ClientTracer",
    "SpanHandle",
    "build_tracer_provider",
    "otlp_endpoint_configured",
]

OTLP_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
_OTLP_TRACES_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
RUN_ID_ATTRIBUTE = "peakops.run_id"
TRACER_NAME = "peakops.scenarios"

_EMPTY: Mapping[str, str] = {}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def otlp_endpoint_configured() -> bool:
    """True when the environment names an OTLP endpoint (generic or traces-only)."""
    return bool(os.environ.get(OTLP_ENDPOINT_ENV) or os.environ.get(_OTLP_TRACES_ENDPOINT_ENV))


def _exporter(traces_file: Path | None) -> SpanExporter | None:
    if otlp_endpoint_configured():
        # Imported here: it pulls in requests and protobuf, needed only when exporting OTLP.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # endpoint, headers, timeout: from OTEL_EXPORTER_OTLP_*
    if traces_file is not None:
        from opentelemetry.exporter.otlp.json.file import FileSpanExporter

        traces_file.parent.mkdir(parents=True, exist_ok=True)
        return FileSpanExporter(traces_file)
    return None


def build_tracer_provider(
    *,
    service_name: str,
    traces_file: Path | None,
    resource: Mapping[str, str] = _EMPTY,
    sample_ratio: float = 1.0,
) -> TracerProvider:
    """A fresh provider exporting OTLP/HTTP, or OTLP-JSON lines to ``traces_file``, or nowhere.

    OTLP wins when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) is set;
    else spans are appended to ``traces_file`` (one OTLP export request per line); with
    neither, spans are still created and propagated but not exported. Root spans are
    sampled at ``sample_ratio``; child spans follow their parent. The caller owns the
    provider: call ``force_flush()``/``shutdown()`` before reading the file.
    """
    if not 0.0 <= sample_ratio <= 1.0:
        raise ValueError(f"sample ratio must be within [0, 1], got {sample_ratio!r}")
    provider = TracerProvider(
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
        resource=Resource.create({**resource, "service.name": service_name}),
    )
    exporter = _exporter(traces_file)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


class SpanHandle:
    """One request's client span; ``end`` it exactly once with what the request got.

    ``trace_id_hex`` is the trace id as 32 lowercase hex digits when the span is sampled
    (for Prometheus exemplars), else None.
    """

    __slots__ = ("_span", "trace_id_hex")

    def __init__(self, span: Span, trace_id_hex: str | None) -> None:
        self._span = span
        self.trace_id_hex = trace_id_hex

    def end(self, status_code: int | None, error: str | None = None) -> None:
        """Record the response status (None: no response) and end the span.

        ``error`` marks the span failed with that description; the caller decides what
        a failure is (a 409 out-of-stock is a business outcome, not an error).
        """
        span = self._span
        if self.trace_id_hex is not None:  # unsampled spans record nothing: skip the work
            if status_code is not None:
                span.set_attribute("http.response.status_code", status_code)
            if error is not None:
                span.set_attribute(
                    "error.type", str(status_code) if status_code is not None else "_OTHER"
                )
                span.set_status(Status(StatusCode.ERROR, error))
        span.end()


class _Unsampled:
    """The handle of a request that is not traced: propagates context, records nothing."""

    __slots__ = ()
    trace_id_hex = None

    def end(self, status_code: int | None, error: str | None = None) -> None:
        return None


_UNSAMPLED = _Unsampled()


class ClientTracer:
    """Starts CLIENT spans for outgoing requests and injects their W3C context into headers.

    Uses its own propagator instances, never the global ones. Spans are roots (the
    load generator has no incoming context). ``base_url`` completes relative request
    URLs for ``url.full``. ``baggage`` entries (plus ``peakops.run_id`` when ``run_id``
    is given) are encoded once and sent as the ``baggage`` header on every request.

    Sampling is decided here, before the SDK is touched: ``sample_ratio`` of requests
    (and at most ``max_per_second`` of them, when given) get a real span; the others
    only get a fresh ``traceparent`` (random trace and span ids) with the sampled flag
    off, which costs ~0.3 µs instead of a full unsampled SDK span. Build the provider with
    ``sample_ratio=1.0`` so the SDK keeps every span this tracer chooses to start.
    """

    def __init__(
        self,
        tracer: Tracer,
        *,
        run_id: str | None = None,
        base_url: str = "",
        baggage: Mapping[str, str] = _EMPTY,
        sample_ratio: float = 1.0,
        max_per_second: float | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0.0 <= sample_ratio <= 1.0:
            raise ValueError(f"sample ratio must be within [0, 1], got {sample_ratio!r}")
        rng = rng or random.Random()
        self._random = rng.random
        self._bits = rng.getrandbits
        self._ratio = sample_ratio
        self._budget = _TokenBucket(max_per_second, clock) if max_per_second else None
        self._tracer = tracer
        self._base_url = base_url.rstrip("/")
        self._propagator = TraceContextTextMapPropagator()
        self._run_attrs: dict[str, Any] = {RUN_ID_ATTRIBUTE: run_id} if run_id else {}
        self._root = Context()
        self._baggage_header = _encode_baggage(
            {**baggage, RUN_ID_ATTRIBUTE: run_id} if run_id else baggage
        )
        # (endpoint, method, scheme://host:port) -> span name and the attributes it shares
        self._static: dict[tuple[str, str, str], tuple[str, dict[str, Any]]] = {}

    @property
    def baggage_header(self) -> str:
        """The ``baggage`` header every request carries (empty: none), encoded once."""
        return self._baggage_header

    def start(
        self, endpoint: str, method: str, url: str, headers: dict[str, str], baggage: bool = True
    ) -> SpanHandle:
        """Start a CLIENT span named ``endpoint`` (e.g. ``POST /orders``) and fill ``headers``.

        ``endpoint`` is the route-template name of ``slo.conventions``; it is used as the
        span name, prefixed by ``method`` if it does not already start with it.
        ``headers`` gains ``traceparent`` (``tracestate`` when there is one) and, unless
        ``baggage`` is false (the caller sends ``baggage_header`` itself, e.g. as a
        session default), ``baggage``; unsampled requests propagate too (sampled flag off).
        """
        if self._random() >= self._ratio or (self._budget and not self._budget.take()):
            # Trace and span id from one draw, hex-encoded as bytes: formatting two big
            # ints with ``:032x`` cost 2.5x as much, on every unsampled request.
            ids = self._bits(192).to_bytes(24).hex()
            headers["traceparent"] = f"00-{ids[:32]}-{ids[32:]}-00"
            if baggage and self._baggage_header:
                headers["baggage"] = self._baggage_header
            return _UNSAMPLED  # type: ignore[return-value]
        if url[:1] == "/":
            url = self._base_url + url
        origin = _origin(url)
        cached = self._static.get((endpoint, method, origin))
        if cached is None:
            cached = self._static[(endpoint, method, origin)] = self._shared(
                endpoint, method, origin
            )
        name, attributes = cached
        attributes = attributes.copy()
        attributes["url.full"] = url
        span = self._tracer.start_span(name, self._root, SpanKind.CLIENT, attributes)
        self._propagator.inject(headers, set_span_in_context(span, self._root))
        if baggage and self._baggage_header:
            headers["baggage"] = self._baggage_header
        context = span.get_span_context()
        return SpanHandle(span, f"{context.trace_id:032x}" if context.trace_flags & 1 else None)

    def _shared(self, endpoint: str, method: str, origin: str) -> tuple[str, dict[str, Any]]:
        name = endpoint if endpoint.startswith(method + " ") else f"{method} {endpoint}"
        attributes: dict[str, Any] = {"http.request.method": method, **self._run_attrs}
        parts = urlsplit(origin)
        if parts.hostname:
            attributes["server.address"] = parts.hostname
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
            if port:
                attributes["server.port"] = port
        return name, attributes


class _TokenBucket:
    """At most ``rate`` takes per second on average, bursts up to one second's worth."""

    def __init__(self, rate: float, clock: Callable[[], float]) -> None:
        self._rate = rate
        self._clock = clock
        self._tokens = rate
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._rate, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


def _origin(url: str) -> str:
    """``scheme://host:port`` of an absolute URL, by string search (this is the hot path)."""
    slashes = url.find("//")
    if slashes < 0:
        return ""
    end = url.find("/", slashes + 2)
    return url if end < 0 else url[:end]


def _encode_baggage(entries: Mapping[str, str]) -> str:
    """The W3C ``baggage`` header for ``entries`` (empty string when there are none)."""
    context = Context()
    for key, value in entries.items():
        context = set_baggage(key, value, context)
    carrier: dict[str, str] = {}
    W3CBaggagePropagator().inject(carrier, context)
    return carrier.get("baggage", "")
