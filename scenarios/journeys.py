"""Running one shopper journey over HTTP, measured and recorded.

Runs in the load process only (it uses Locust's ``FastHttpSession``). Requests are
built and read through the target adapter (``collectors.adapter``), named
``METHOD /route`` as in ``slo.conventions``, tagged with the run id, traced (W3C
``traceparent``) when a tracer is given, and recorded into the interval recorder.
Every order operation also goes into the ledger: invoke, then ok / fail / info.
In the open model the journey's first request is timed from the arrival's
*intended* start, so a stalled target or a late scheduler shows in the latency.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from locust.contrib.fasthttp import FastHttpSession

from collectors.adapter import HttpCall, OmsAdapter
from collectors.latency import IntervalRecorder
from collectors.ledger import Ledger
from collectors.loadmeter import LoadMeter
from scenarios.funnel import JourneyPlan, UrlVisit
from slo.conventions import (
    ENDPOINT_CANCEL_ORDER,
    ENDPOINT_GET_STOCK,
    ENDPOINT_PLACE_ORDER,
    RUN_ID_HEADER,
)

__all__ = ["JourneyRunner", "Span", "Tracer", "planned_endpoints"]

_OK_STOCK = (200,)
_OK_PLACE = (200, 201, 409)  # 409: rejected, out of stock; a business outcome, not an error
_OK_CANCEL = (200, 409)
_OK_URL = range(200, 400)


class Span(Protocol):
    trace_id_hex: str | None

    def end(self, status_code: int | None, error: str | None = None) -> None: ...


class Tracer(Protocol):
    def start(self, endpoint: str, method: str, url: str, headers: dict[str, str]) -> Span: ...


def planned_endpoints(plan: JourneyPlan | UrlVisit) -> list[str]:
    """The paced requests of a journey (cancels depend on the outcome: not planned)."""
    if isinstance(plan, UrlVisit):
        return [plan.endpoint]
    calls = [ENDPOINT_GET_STOCK] * len(plan.browse)
    if plan.order_sku is not None:
        calls.append(ENDPOINT_PLACE_ORDER)
    return calls


class JourneyRunner:
    """Executes journey plans on one HTTP session; safe to share between greenlets."""

    def __init__(
        self,
        client: FastHttpSession,
        *,
        run_id: str,
        adapter: OmsAdapter,
        recorder: IntervalRecorder,
        meter: LoadMeter,
        ledger: Ledger,
        tracer: Tracer | None,
        key_prefix: str,
    ) -> None:
        self.client = client
        self.adapter = adapter
        self.recorder = recorder
        self.meter = meter
        self.ledger = ledger
        self.tracer = tracer
        self.base_url = client.base_url or ""
        self.headers = {RUN_ID_HEADER: run_id}
        if tracer is None:  # the tracer sends baggage (with the run id) itself
            self.headers["baggage"] = f"peakops.run_id={run_id},peakops.synthetic=true"
        self.key_prefix = key_prefix
        self.serial = 0
        # Built once, not per request: this is the load generator's hot path.
        self._routes: dict[str, str] = {}
        self._url_calls: dict[str, HttpCall] = {}

    def run(self, plan: JourneyPlan | UrlVisit, intended: float | None = None) -> None:
        """Run ``plan``; ``intended`` (``time.perf_counter`` scale) times its first request."""
        if isinstance(plan, UrlVisit):
            call = self._url_calls.get(plan.path)
            if call is None:
                call = self._url_calls[plan.path] = HttpCall("GET", plan.path)
            self._call(call, plan.endpoint, _OK_URL, intended)
            return
        for sku in plan.browse:
            call = self.adapter.stock_check_call(sku, plan.channel)
            self._call(call, ENDPOINT_GET_STOCK, _OK_STOCK, intended)
            intended = None
        if plan.order_sku is not None:
            self._order(plan, plan.order_sku, intended)

    def _order(self, plan: JourneyPlan, sku: str, intended: float | None) -> None:
        self.serial += 1
        key = f"{self.key_prefix}-{self.serial}"
        fields = {"key": key, "sku": sku, "qty": 1, "location": None, "channel": plan.channel}
        op = self.ledger.invoke("place", order_id=None, **fields)
        call = self.adapter.place_call(key, plan.channel, sku, 1, None)
        status, body = self._call(call, ENDPOINT_PLACE_ORDER, _OK_PLACE, intended)
        placed = self.adapter.place_outcome(status, body)
        self.ledger.complete(op, placed.phase, order_id=placed.order_id,
                             location=placed.location, reason=placed.reason)  # fmt: skip
        if placed.phase != "ok" or placed.order_id is None:
            return
        self.meter.confirmed()
        if not plan.cancel:
            return
        fields.update(location=placed.location)
        op = self.ledger.invoke("cancel", order_id=placed.order_id, **fields)
        status, body = self._call(
            self.adapter.cancel_call(placed.order_id, plan.channel, placed.location),
            ENDPOINT_CANCEL_ORDER,
            _OK_CANCEL,
            None,
        )
        cancelled = self.adapter.cancel_outcome(status, body)
        self.ledger.complete(op, cancelled.phase, reason=cancelled.reason)

    def _url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def _call(
        self, call: HttpCall, endpoint: str, ok: tuple[int, ...] | range, intended: float | None
    ) -> tuple[int, dict[str, Any] | None]:
        """Send ``call``; record it; return (status, JSON body or None). Status 0: no answer."""
        headers = dict(self.headers)
        span = (
            self.tracer.start(endpoint, call.method, self._url(call.path), headers)
            if self.tracer
            else None
        )
        route = self._routes.get(endpoint)
        if route is None:
            route = self._routes[endpoint] = endpoint.split(" ", 1)[1]
        started = time.perf_counter()
        with self.client.request(
            call.method, call.path, name=route, headers=headers, json=call.json,
            catch_response=True,
        ) as resp:  # fmt: skip
            ended = time.perf_counter()
            status = resp.status_code or 0
            good = status in ok
            if good:
                resp.success()
            else:
                resp.failure(f"HTTP {status}")
        latency = ended - (intended if intended is not None else started)
        trace_id = span.trace_id_hex if span is not None else None
        self.recorder.record(endpoint, latency, good, trace_id)
        if span is not None:
            span.end(status or None, None if good else f"HTTP {status}")
        if call.method == "GET":
            return status, None
        return status, _json(resp)


def _json(resp: Any) -> dict[str, Any] | None:
    try:
        data = resp.json()
    except (ValueError, TypeError, AttributeError):
        return None
    return data if isinstance(data, dict) else None
