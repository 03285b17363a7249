"""Running one shopper journey over HTTP, measured: latency, outcome, trace, exemplar.

Runs in the load process only (it uses Locust's ``FastHttpSession``). Every request
is named ``METHOD /route`` as in ``slo.conventions``, tagged with the run id, traced
(W3C ``traceparent``) when a tracer is given, and recorded into the interval
recorder. In the open model the journey's first request is timed from the arrival's
*intended* start, so a stalled target or a late scheduler shows in the latency.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from locust.contrib.fasthttp import FastHttpSession

from collectors.latency import IntervalRecorder
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
        recorder: IntervalRecorder,
        meter: LoadMeter,
        tracer: Tracer | None,
        key_prefix: str,
    ) -> None:
        self.client = client
        self.recorder = recorder
        self.meter = meter
        self.tracer = tracer
        self.base_url = client.base_url or ""
        self.headers = {RUN_ID_HEADER: run_id}
        if tracer is None:  # the tracer sends baggage (with the run id) itself
            self.headers["baggage"] = f"peakops.run_id={run_id},peakops.synthetic=true"
        self.key_prefix = key_prefix
        self.serial = 0

    def run(self, plan: JourneyPlan | UrlVisit, intended: float | None = None) -> None:
        """Run ``plan``; ``intended`` (``time.perf_counter`` scale) times its first request."""
        if isinstance(plan, UrlVisit):
            self._call("GET", plan.path, plan.endpoint, _OK_URL, intended)
            return
        for sku in plan.browse:
            path = f"/stock/{sku}?channel={plan.channel}"
            self._call("GET", path, ENDPOINT_GET_STOCK, _OK_STOCK, intended)
            intended = None
        if plan.order_sku is None:
            return
        self.serial += 1
        body = {
            "idempotency_key": f"{self.key_prefix}-{self.serial}",
            "channel": plan.channel,
            "location": None,
            "lines": [{"sku": plan.order_sku, "qty": 1}],
        }
        data = self._call("POST", "/orders", ENDPOINT_PLACE_ORDER, _OK_PLACE, intended, json=body)
        if data is None or data.get("status") != "confirmed":
            return
        self.meter.confirmed()
        if plan.cancel:
            path = f"/orders/{data['order_id']}/cancel"
            self._call("POST", path, ENDPOINT_CANCEL_ORDER, _OK_CANCEL, None)

    def _call(
        self,
        method: str,
        path: str,
        endpoint: str,
        ok: tuple[int, ...] | range,
        intended: float | None,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        headers = dict(self.headers)
        span = (
            self.tracer.start(endpoint, method, self.base_url + path, headers)
            if self.tracer
            else None
        )
        route = endpoint.split(" ", 1)[1]
        started = time.perf_counter()
        with self.client.request(
            method, path, name=route, headers=headers, catch_response=True, **kwargs
        ) as resp:
            ended = time.perf_counter()
            status = resp.status_code
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
        if not good or method == "GET":
            return None
        try:
            data = resp.json()
        except ValueError:
            return None
        return data if isinstance(data, dict) else None
