"""The reference OMS continues the caller's trace: orders SERVER -> CLIENT -> inventory SERVER."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from platforms.local import LocalPlatform, OmsConfig
from reference_oms.catalog import CatalogSpec
from reference_oms.inventory_app import InventorySettings, create_inventory_app
from reference_oms.inventory_client import InventoryClient
from reference_oms.schemas import Line
from reference_oms.tracing import build_tracer_provider
from scenarios.tracing import ClientTracer
from scenarios.tracing import build_tracer_provider as build_client_provider

from .conftest import REPO_ROOT, Proc, asgi_client, free_port, wait_until

SERVER, CLIENT = 2, 3  # OTLP span kinds
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"


@pytest.fixture(autouse=True)
def no_otlp_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans must go to the traces files here, whatever the developer's shell exports."""
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)


def memory_provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


# -- in process: the middleware and the inventory client ---------------------------------


@pytest.mark.anyio
async def test_inventory_names_its_server_span_by_route_and_continues_the_trace(
    tmp_path: Path,
) -> None:
    provider, spans = memory_provider()
    settings = InventorySettings(str(tmp_path / "inv.db"), CatalogSpec(skus=3, locations=2))
    app = create_inventory_app(settings, tracer_provider=provider)
    headers = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
    async with asgi_client(app) as client:
        assert (await client.get("/stock/SKU-00001", headers=headers)).status_code == 200
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/nope")).status_code == 404
    stock, unmatched = spans.get_finished_spans()
    assert (stock.name, stock.kind) == ("GET /stock/{sku}", SpanKind.SERVER)
    assert f"{stock.context.trace_id:032x}" == TRACE_ID
    assert stock.parent is not None and f"{stock.parent.span_id:016x}" == PARENT_ID
    assert dict(stock.attributes or {}) | {"server.port": 0} == {
        "http.request.method": "GET",
        "url.path": "/stock/SKU-00001",
        "url.scheme": "http",
        "server.address": "testserver",
        "server.port": 0,
        "http.route": "/stock/{sku}",
        "http.response.status_code": 200,
    }
    assert unmatched.name == "GET"
    assert unmatched.parent is None


@pytest.mark.anyio
async def test_the_inventory_client_sends_its_client_span_in_traceparent() -> None:
    provider, spans = memory_provider()
    seen: list[httpx.Request] = []

    def inventory(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503, json={"status": "unavailable"})

    transport = httpx.MockTransport(inventory)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8100") as api:
        reply = await InventoryClient(api, provider.get_tracer("t")).release("ord-1")
    assert reply.kind == "error"
    [span] = spans.get_finished_spans()
    assert (span.name, span.kind) == ("POST /reservations/{order_id}/release", SpanKind.CLIENT)
    context = span.context
    expected = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    assert seen[0].headers["traceparent"] == expected
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["url.full"] == (
        "http://127.0.0.1:8100/reservations/ord-1/release"
    )


@pytest.mark.anyio
async def test_without_a_tracer_the_inventory_client_sends_no_trace_headers() -> None:
    seen: list[httpx.Request] = []

    def inventory(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "reserved"})

    transport = httpx.MockTransport(inventory)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8100") as api:
        await InventoryClient(api).reserve("ord-1", "loc-1", [Line(sku="SKU-1", qty=1)], True)
    assert "traceparent" not in seen[0].headers


def test_tracing_is_off_without_a_file_or_an_endpoint() -> None:
    assert build_tracer_provider("orders", None) is None


# -- real processes ---------------------------------------------------------------------


def read_spans(paths: list[Path]) -> list[dict[str, Any]]:
    """Every span in these OTLP-JSON lines files, tagged with its service name."""
    spans: list[dict[str, Any]] = []
    for path in paths:
        for line in path.read_text().splitlines():
            for resource_spans in json.loads(line)["resourceSpans"]:
                resource = {
                    a["key"]: a["value"].get("stringValue")
                    for a in resource_spans["resource"]["attributes"]
                }
                for scope_spans in resource_spans["scopeSpans"]:
                    spans.extend(
                        {**span, "service": resource["service.name"]}
                        for span in scope_spans["spans"]
                    )
    return spans


def only(spans: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [s for s in spans if all(s.get(k) == v for k, v in match.items())]
    assert len(found) == 1, f"expected one span matching {match}, got {found}"
    return found[0]


def place_traced_order(base_url: str, key: str) -> tuple[str, str]:
    """POST an order inside a client span; return its (trace id, span id)."""
    provider = build_client_provider(service_name="peakops-load", traces_file=None)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = ClientTracer(provider.get_tracer("test"), run_id="trace-test")
    url = f"{base_url}/orders"
    body: dict[str, Any] = {"idempotency_key": key, "channel": "web", "location": "loc-1"}
    body["lines"] = [{"sku": "SKU-00001", "qty": 1}]
    headers: dict[str, str] = {}
    handle = tracer.start("POST /orders", "POST", url, headers)
    response = httpx.post(url, json=body, headers=headers, timeout=10)
    handle.end(response.status_code)
    assert response.status_code == 201, response.text
    [span] = memory.get_finished_spans()
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"


def assert_one_trace(spans: list[dict[str, Any]], trace_id: str, client_span_id: str) -> None:
    """load client -> orders SERVER -> orders CLIENT -> inventory SERVER, one trace."""
    trace = [s for s in spans if s["traceId"] == trace_id]
    orders_server = only(trace, service="orders", kind=SERVER, name="POST /orders")
    orders_client = only(trace, service="orders", kind=CLIENT, name="POST /reservations")
    inventory_server = only(trace, service="inventory", kind=SERVER, name="POST /reservations")
    assert orders_server["parentSpanId"] == client_span_id
    assert orders_client["parentSpanId"] == orders_server["spanId"]
    assert inventory_server["parentSpanId"] == orders_client["spanId"]
    assert not [s for s in spans if s["name"] == "GET /healthz"]


def spawn(workdir: Path, role: str, args: list[str], health_url: str) -> Proc:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    log = workdir / f"{role}.log"
    with log.open("ab") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", "reference_oms", role, *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Proc(popen, log, health_url)


def healthy(proc: Proc) -> bool:
    assert proc.popen.poll() is None, proc.log.read_text()
    try:
        return httpx.get(proc.health_url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def traced_oms(tmp_path: Path) -> Iterator[tuple[str, list[Proc], Path]]:
    """Inventory and two orders replicas writing traces to tmp_path/traces."""
    traces = tmp_path / "traces"
    inv_port, public_port = free_port(), free_port()
    inventory_url = f"http://127.0.0.1:{inv_port}"
    inv_args = ["--port", str(inv_port), "--db", str(tmp_path / "inventory.db"), "--skus", "5"]
    procs = [
        spawn(
            tmp_path,
            "inventory",
            [*inv_args, "--traces-file", str(traces / "inventory.jsonl")],
            f"{inventory_url}/healthz",
        )
    ]
    try:
        assert wait_until(partial(healthy, procs[0]), timeout=15)
        for replica in (1, 2):
            admin = free_port()
            args = ["--port", str(public_port), "--admin-port", str(admin), "--version", "v1"]
            args += ["--inventory-url", inventory_url, "--db", str(tmp_path / "orders.db")]
            args += ["--replica-id", str(replica)]
            args += ["--traces-file", str(traces / f"orders-{replica}.jsonl")]
            health = f"http://127.0.0.1:{admin}/healthz"
            procs.append(spawn(tmp_path, "orders", args, health))
        for replica_proc in procs[1:]:
            assert wait_until(partial(healthy, replica_proc), timeout=15)
        yield f"http://127.0.0.1:{public_port}", procs, traces
    finally:
        for proc in reversed(procs):
            proc.stop()


@pytest.mark.integration
def test_an_order_is_one_trace_across_orders_and_inventory(
    traced_oms: tuple[str, list[Proc], Path],
) -> None:
    base_url, procs, traces = traced_oms
    trace_id, client_span_id = place_traced_order(base_url, "traced-1")
    for proc in reversed(procs):  # SIGTERM: the lifespan's end flushes the spans
        proc.stop()
        assert proc.popen.returncode == -signal.SIGTERM, proc.log.read_text()
    files = sorted(traces.glob("*.jsonl"))
    assert [f.name for f in files] == ["inventory.jsonl", "orders-1.jsonl", "orders-2.jsonl"]
    assert_one_trace(read_spans(files), trace_id, client_span_id)


@pytest.mark.integration
def test_the_local_platform_gives_each_process_its_traces_file(tmp_path: Path) -> None:
    traces = tmp_path / "traces"
    config = OmsConfig(replicas=2, skus=5, traces_dir=traces)
    with LocalPlatform(config, tmp_path / "oms") as platform:
        trace_id, client_span_id = place_traced_order(platform.base_url, "traced-2")
    files = sorted(traces.glob("*.jsonl"))
    assert [f.name for f in files] == ["inventory.jsonl", "orders-1.jsonl", "orders-2.jsonl"]
    assert_one_trace(read_spans(files), trace_id, client_span_id)
