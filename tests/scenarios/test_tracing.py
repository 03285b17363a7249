"""Client spans of the load generator: W3C propagation, sampling, and where spans go."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from scenarios.tracing import ClientTracer, SpanHandle, build_tracer_provider

TRACEPARENT = re.compile(
    r"^00-(?P<trace>[0-9a-f]{32})-(?P<span>[0-9a-f]{16})-(?P<flags>[0-9a-f]{2})$"
)
URL = "http://127.0.0.1:8080/orders"


@pytest.fixture(autouse=True)
def no_otlp_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose the exporter themselves, whatever the developer's shell exports."""
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)


@dataclass
class Recorded:
    provider: TracerProvider
    spans: InMemorySpanExporter

    def tracer(self, **options: Any) -> ClientTracer:
        return ClientTracer(self.provider.get_tracer("test"), **options)

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())


def recorded(sample_ratio: float = 1.0) -> Recorded:
    provider = build_tracer_provider(
        service_name="peakops-load", traces_file=None, sample_ratio=sample_ratio
    )
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Recorded(provider, exporter)


def one_request(
    tracer: ClientTracer, status: int | None = 201, error: str | None = None
) -> tuple[SpanHandle, dict[str, str]]:
    headers: dict[str, str] = {}
    handle = tracer.start("POST /orders", "POST", URL, headers)
    handle.end(status, error)
    return handle, headers


def test_the_traceparent_header_is_w3c_and_names_the_client_span() -> None:
    rec = recorded()
    handle, headers = one_request(rec.tracer())
    match = TRACEPARENT.match(headers["traceparent"])
    assert match, headers["traceparent"]
    [span] = rec.finished()
    assert match["trace"] == f"{span.context.trace_id:032x}" == handle.trace_id_hex
    assert match["span"] == f"{span.context.span_id:016x}"
    assert int(match["flags"], 16) & 0x01  # sampled
    assert span.kind is SpanKind.CLIENT
    assert span.parent is None


def test_the_client_span_carries_http_attributes_and_the_run_id() -> None:
    rec = recorded()
    one_request(rec.tracer(run_id="run-7"))
    [span] = rec.finished()
    assert span.name == "POST /orders"
    assert dict(span.attributes or {}) == {
        "http.request.method": "POST",
        "url.full": URL,
        "server.address": "127.0.0.1",
        "server.port": 8080,
        "peakops.run_id": "run-7",
        "http.response.status_code": 201,
    }
    assert span.status.status_code is StatusCode.UNSET


def test_an_unsampled_request_still_propagates_its_trace_context() -> None:
    rec = recorded(sample_ratio=0.0)
    handle, headers = one_request(rec.tracer())
    match = TRACEPARENT.match(headers["traceparent"])
    assert match, headers["traceparent"]
    assert not int(match["flags"], 16) & 0x01
    assert match["trace"] != "0" * 32
    assert handle.trace_id_hex is None
    assert rec.finished() == []


def test_each_unsampled_request_gets_its_own_trace_and_span_ids() -> None:
    rec = recorded(sample_ratio=0.0)
    tracer = rec.tracer()
    seen = set()
    for _ in range(200):
        _, headers = one_request(tracer)
        match = TRACEPARENT.match(headers["traceparent"])
        assert match, headers["traceparent"]
        seen.add((match["trace"], match["span"]))
    assert len(seen) == 200
    assert len({trace for trace, _ in seen}) == 200


def test_the_baggage_header_carries_the_run_id_and_extra_entries() -> None:
    rec = recorded()
    _, headers = one_request(rec.tracer(run_id="run-7", baggage={"peakops.synthetic": "true"}))
    entries = set(headers["baggage"].split(","))
    assert entries == {"peakops.synthetic=true", "peakops.run_id=run-7"}


def test_no_baggage_header_without_a_run_id_or_entries() -> None:
    _, headers = one_request(recorded().tracer())
    assert "baggage" not in headers


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (201, None, StatusCode.UNSET),
        (409, None, StatusCode.UNSET),
        (503, "HTTP 503", StatusCode.ERROR),
        (None, "timed out", StatusCode.ERROR),
    ],
    ids=[
        "a created order leaves the status unset",
        "an out-of-stock rejection is a business outcome, not an error",
        "a failure the caller reports marks the span as an error",
        "no response at all is an error without a status code",
    ],
)
def test_ending_a_span_records_what_the_request_got(
    status: int | None, error: str | None, expected: StatusCode
) -> None:
    rec = recorded()
    one_request(rec.tracer(), status, error)
    [span] = rec.finished()
    assert span.status.status_code is expected
    assert span.status.description == error
    attributes = dict(span.attributes or {})
    assert attributes.get("http.response.status_code") == status
    if error is not None:
        assert attributes["error.type"] == (str(status) if status else "_OTHER")


def test_a_relative_url_is_completed_from_the_base_url() -> None:
    rec = recorded()
    headers: dict[str, str] = {}
    tracer = rec.tracer(base_url="http://127.0.0.1:9000/")
    tracer.start("GET /stock/{sku}", "GET", "/stock/SKU-00001?channel=web", headers).end(200)
    [span] = rec.finished()
    attributes = dict(span.attributes or {})
    assert attributes["url.full"] == "http://127.0.0.1:9000/stock/SKU-00001?channel=web"
    assert (attributes["server.address"], attributes["server.port"]) == ("127.0.0.1", 9000)
    assert span.name == "GET /stock/{sku}"


def test_an_endpoint_without_its_method_gets_it_as_a_prefix() -> None:
    rec = recorded()
    rec.tracer().start("/orders/{id}/cancel", "POST", URL, {}).end(200)
    assert [s.name for s in rec.finished()] == ["POST /orders/{id}/cancel"]


@pytest.mark.parametrize("ratio", [-0.1, 1.5], ids=["below zero", "above one"])
def test_a_sample_ratio_outside_zero_to_one_is_refused(ratio: float) -> None:
    with pytest.raises(ValueError, match="sample ratio"):
        build_tracer_provider(service_name="x", traces_file=None, sample_ratio=ratio)


def read_spans(path: Path) -> list[dict[str, Any]]:
    """Every span in an OTLP-JSON lines file, with its resource's service name."""
    spans = []
    for line in path.read_text().splitlines():
        for resource_spans in json.loads(line)["resourceSpans"]:
            resource = {
                a["key"]: a["value"].get("stringValue")
                for a in resource_spans["resource"]["attributes"]
            }
            for scope_spans in resource_spans["scopeSpans"]:
                for span in scope_spans["spans"]:
                    spans.append({**span, "service": resource["service.name"]})
    return spans


def test_the_file_exporter_writes_otlp_json_lines(tmp_path: Path) -> None:
    traces = tmp_path / "run" / "traces.jsonl"
    provider = build_tracer_provider(
        service_name="peakops-load", traces_file=traces, resource={"peakops.run": "r1"}
    )
    tracer = ClientTracer(provider.get_tracer("test"), run_id="r1")
    handles = [one_request(tracer)[0] for _ in range(3)]
    assert provider.force_flush()
    spans = read_spans(traces)
    assert [s["traceId"] for s in spans] == [h.trace_id_hex for h in handles]
    first = spans[0]
    assert (first["name"], first["kind"], first["service"]) == ("POST /orders", 3, "peakops-load")
    attributes = {a["key"]: a["value"] for a in first["attributes"]}
    assert attributes["url.full"] == {"stringValue": URL}
    assert attributes["http.response.status_code"] == {"intValue": "201"}
    assert attributes["peakops.run_id"] == {"stringValue": "r1"}
    provider.shutdown()


def test_without_file_or_endpoint_spans_are_created_but_go_nowhere(tmp_path: Path) -> None:
    provider = build_tracer_provider(service_name="x", traces_file=None)
    handle, headers = one_request(ClientTracer(provider.get_tracer("t")))
    assert TRACEPARENT.match(headers["traceparent"])
    assert handle.trace_id_hex is not None
    assert provider.force_flush()
    assert list(tmp_path.iterdir()) == []


@dataclass
class Collector:
    """A tiny OTLP/HTTP receiver on 127.0.0.1 that keeps every POST."""

    port: int
    posts: list[tuple[str, str, bytes]] = field(default_factory=list)


@pytest.fixture
def collector() -> Iterator[Collector]:
    received: list[tuple[str, str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    # a short poll: shutdown() waits up to one poll interval (0.5 s by default)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Collector(server.server_address[1], received)
    finally:
        server.shutdown()
        server.server_close()


def test_an_otlp_endpoint_in_the_environment_wins_over_the_file(
    collector: Collector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{collector.port}")
    traces = tmp_path / "traces.jsonl"
    provider = build_tracer_provider(service_name="peakops-load", traces_file=traces)
    handle, _ = one_request(ClientTracer(provider.get_tracer("test"), run_id="r2"))
    assert provider.force_flush()
    provider.shutdown()
    [(path, content_type, body)] = collector.posts
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    request = ExportTraceServiceRequest.FromString(body)
    [span] = request.resource_spans[0].scope_spans[0].spans
    assert span.name == "POST /orders"
    assert span.trace_id.hex() == handle.trace_id_hex
    assert not traces.exists()


def test_traced_requests_are_capped_per_second_and_the_rest_still_propagate() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from scenarios.tracing import ClientTracer

    now = [0.0]
    tracer = ClientTracer(
        TracerProvider().get_tracer("t"), sample_ratio=1.0, max_per_second=5,
        clock=lambda: now[0],
    )  # fmt: skip
    handles = []
    for _ in range(8):
        headers: dict[str, str] = {}
        handles.append(tracer.start("GET /x", "GET", "http://127.0.0.1:1/x", headers))
        assert headers["traceparent"].startswith("00-") and len(headers["traceparent"]) == 55
    assert [h.trace_id_hex is not None for h in handles] == [True] * 5 + [False] * 3
    now[0] = 1.0  # a second later the budget is back
    assert tracer.start("GET /x", "GET", "http://127.0.0.1:1/x", {}).trace_id_hex is not None


def test_an_unsampled_request_gets_a_fresh_unsampled_traceparent() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from scenarios.tracing import ClientTracer

    tracer = ClientTracer(TracerProvider().get_tracer("t"), sample_ratio=0.0)
    first: dict[str, str] = {}
    second: dict[str, str] = {}
    tracer.start("GET /x", "GET", "http://127.0.0.1:1/x", first)
    tracer.start("GET /x", "GET", "http://127.0.0.1:1/x", second)
    assert first["traceparent"].endswith("-00") and first["traceparent"] != second["traceparent"]


@pytest.mark.parametrize("ratio", [0.0, 1.0], ids=["unsampled", "sampled"])
def test_a_caller_that_sends_the_baggage_itself_gets_only_the_trace_context(
    ratio: float,
) -> None:
    tracer = recorded(sample_ratio=1.0).tracer(
        run_id="run-7", baggage={"peakops.synthetic": "true"}, sample_ratio=ratio
    )
    headers: dict[str, str] = {}
    tracer.start("GET /x", "GET", URL, headers, baggage=False)
    assert list(headers) == ["traceparent"]
    assert set(tracer.baggage_header.split(",")) == {"peakops.synthetic=true",
                                                     "peakops.run_id=run-7"}  # fmt: skip
