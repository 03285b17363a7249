"""Running one shopper journey over HTTP, measured and recorded.

Runs in the load process, sending with Locust's ``FastHttpSession`` (tests pass a
fake): an order operation through its ``request`` with ``catch_response``; a request
judged by its status alone through the session's own send, reported to Locust's stats
here (the ``request`` wrapper cost ~8 µs a request, docs/benchmarks.md). Requests are
built and read through the target adapter (``collectors.adapter``), named
``METHOD /route`` as in ``slo.conventions``, tagged with the run id, traced (W3C
``traceparent``) when a tracer is given, and recorded into the interval recorder.
Every order operation also goes into the ledger: invoke, then ok / fail / info.
Orders are placed for the plan's test customer (``target.testCustomer``), which the
adapter maps into the OMS's own customer field. Whether an order operation succeeded
is the adapter's reading of the answer (``collectors.mismatch.answered_ok``: applied,
or refused in business such as sold out), not a list of status codes; each order
operation's answer also goes to ``on_answer`` (the load session's API-mismatch
detector). A request carries the adapter's own headers (``HttpCall.headers``) under
peakops's run-id tag and trace context.
In the open model the journey's first request is timed from the arrival's
*intended* start, so a stalled target or a late scheduler shows in the latency.

A request never raises out of a journey: an exception while building, sending or
reading it (a bad URL, an adapter that chokes on an answer) is recorded as a failed
request of its endpoint under the exception's type, as a transport error or an
unexpected status is under its own (``ConnectionRefusedError``, ``HTTP 503``), and the
ledger gets ``fail`` when nothing was sent, ``info`` (unknown) when it may have been.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from collectors.adapter import HttpCall, OmsAdapter, Outcome
from collectors.latency import IntervalRecorder
from collectors.ledger import Ledger
from collectors.loadmeter import LoadMeter
from collectors.mismatch import answered_ok
from scenarios.errors import ErrorTally, failure_kind
from scenarios.funnel import ORDER_UNITS, JourneyPlan, UrlVisit
from scenarios.locust_session import Direct, RequestFailed, body_length, tag_session
from slo.conventions import (
    ENDPOINT_CANCEL_ORDER,
    ENDPOINT_GET_STOCK,
    ENDPOINT_PLACE_ORDER,
    RUN_ID_HEADER,
)
from slo.target import DEFAULT_TEST_CUSTOMER

if TYPE_CHECKING:  # importing Locust patches the process: only the load process may
    from locust.contrib.fasthttp import FastHttpSession

__all__ = ["AnswerHook", "JourneyRunner", "RequestFailed", "Span", "Tracer", "planned_endpoints"]

_OK_STOCK = range(200, 300)  # a stock check is not read by the adapter: any 2xx is an answer
_OK_URL = range(200, 400)

Read = Callable[[int, "dict[str, Any] | None"], Outcome]
AnswerHook = Callable[[str, int, Outcome], None]
"""Gets (endpoint, HTTP status, the adapter's outcome) of every order operation answered."""


class Span(Protocol):
    trace_id_hex: str | None

    def end(self, status_code: int | None, error: str | None = None) -> None: ...


class Tracer(Protocol):
    @property
    def baggage_header(self) -> str: ...

    def start(
        self, endpoint: str, method: str, url: str, headers: dict[str, str], baggage: bool = True
    ) -> Span: ...


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
        errors: ErrorTally | None = None,
        customer: str = DEFAULT_TEST_CUSTOMER,
        on_answer: AnswerHook | None = None,
    ) -> None:
        """``on_answer``: called with each order operation's answer (status 0: none); what
        it raises is not caught here (a recorder failure fails the run loudly)."""
        self.client = client
        self.on_answer = on_answer
        self.customer = customer
        self.adapter = adapter
        self.recorder = recorder
        self.meter = meter
        self.ledger = ledger
        self.tracer = tracer
        self.errors = errors if errors is not None else ErrorTally()
        # Requests go out as absolute URLs joined here: Locust's own join (base + path)
        # made ``http://oms//stock/...`` of a base URL with a trailing slash.
        self.base_url = (client.base_url or "").rstrip("/")
        # The run's tag (run id, W3C baggage) is the same on every request: it goes into
        # the session's default headers once, not through the HTTP client's pure-Python
        # header handling on each request; ``headers`` is what each request adds to it.
        tag = {RUN_ID_HEADER: run_id}
        baggage = tracer.baggage_header if tracer is not None else _baggage(run_id)
        if baggage:
            tag["baggage"] = baggage
        self._tag_names = frozenset(name.lower() for name in tag)
        self._direct = Direct.of(client)
        defaults = tag if self._direct is None else {**tag, **self._direct.defaults}
        self.headers = {} if tag_session(client, defaults) else tag
        self.key_prefix = key_prefix
        self.serial = 0
        # Built once, not per request: this is the load generator's hot path.
        self._routes: dict[str, str] = {}
        self._visits: dict[str, tuple[HttpCall, str]] = {}  # url path: (call, absolute URL)

    def run(self, plan: JourneyPlan | UrlVisit, intended: float | None = None) -> None:
        """Run ``plan``; ``intended`` (``time.perf_counter`` scale) times its first request."""
        if isinstance(plan, UrlVisit):
            visit = self._visits.get(plan.path)
            if visit is None:  # joined once, not per request
                url = self._url(plan.path)
                visit = self._visits[plan.path] = (HttpCall("GET", url), url)
            self._send(visit[0], visit[1], plan.endpoint, intended, _OK_URL, None)
            return
        for sku in plan.browse:
            make = partial(self.adapter.stock_check_call, sku, plan.channel)
            self._call(make, ENDPOINT_GET_STOCK, intended, ok=_OK_STOCK)
            intended = None
        if plan.order_sku is not None:
            self._order(plan, plan.order_sku, intended)

    def _order(self, plan: JourneyPlan, sku: str, intended: float | None) -> None:
        self.serial += 1
        key = f"{self.key_prefix}-{self.serial}"
        qty = ORDER_UNITS
        fields = {"key": key, "sku": sku, "qty": qty, "location": None, "channel": plan.channel}
        op = self.ledger.invoke("place", order_id=None, **fields)
        make = partial(self.adapter.place_call, key, plan.channel, sku, qty, None, self.customer)
        placed = self._call(make, ENDPOINT_PLACE_ORDER, intended, read=self.adapter.place_outcome)
        assert placed is not None  # a call that is read returns its outcome
        self.ledger.complete(op, placed.phase, order_id=placed.order_id,
                             location=placed.location, reason=placed.reason)  # fmt: skip
        if placed.phase != "ok" or placed.order_id is None:
            return
        self.meter.confirmed()
        if not plan.cancel:
            return
        fields.update(location=placed.location)
        op = self.ledger.invoke("cancel", order_id=placed.order_id, **fields)
        make = partial(self.adapter.cancel_call, placed.order_id, plan.channel, placed.location)
        cancelled = self._call(make, ENDPOINT_CANCEL_ORDER, None, read=self.adapter.cancel_outcome)
        assert cancelled is not None
        self.ledger.complete(op, cancelled.phase, reason=cancelled.reason)

    def _url(self, path: str) -> str:
        """The absolute URL of ``path``: exactly one slash between base URL and path."""
        if path.startswith(("http://", "https://")):
            return path
        if path.startswith("/") and not path.startswith("//"):
            return self.base_url + path
        return f"{self.base_url}/{path.lstrip('/')}"

    def _call(
        self,
        make: Callable[[], HttpCall],
        endpoint: str,
        intended: float | None,
        *,
        ok: range = _OK_STOCK,
        read: Read | None = None,
    ) -> Outcome | None:
        """Build the request with ``make``, send it, record it; ``read`` its answer.

        Without ``read`` a status in ``ok`` is a success; with it, the adapter's outcome
        decides (``answered_ok``), and the answer goes to ``on_answer``. Returns ``read``'s
        outcome (None without ``read``). Never raises for the request: an exception is a
        failed request (see the module docstring) and, when read, an outcome of ``fail``
        (nothing was sent) or ``info`` (it may have been).
        """
        try:
            call = make()
            url = self._url(call.path)
        except Exception as err:  # nothing was sent
            return self._raised(err, endpoint, intended, None, read, sent=False)
        return self._send(call, url, endpoint, intended, ok, read)

    def _send(
        self,
        call: HttpCall,
        url: str,
        endpoint: str,
        intended: float | None,
        ok: range,
        read: Read | None,
    ) -> Outcome | None:
        """Send ``call`` to ``url`` and record it (``_call``, once the call is built)."""
        span: Span | None = None
        try:
            headers = self._headers(call.headers) if call.headers else self.headers.copy()
            if self.tracer is not None:
                span = self.tracer.start(endpoint, call.method, url, headers, False)
            route = self._routes.get(endpoint)
            if route is None:
                route = self._routes[endpoint] = endpoint.split(" ", 1)[1]
        except Exception as err:  # nothing was sent
            return self._raised(err, endpoint, intended, span, read, sent=False)
        started = time.perf_counter()
        outcome: Outcome | None = None
        unread: Exception | None = None
        kind = ""
        try:
            if read is None:
                # An answer judged by its status alone. Through Locust's session it is sent
                # by the session's own HTTP client and reported to Locust's stats here
                # (``Direct``); other clients get ``request`` without ``catch_response``.
                direct = self._direct if call.json is None else None
                if direct is not None:
                    start_time = time.time()
                    resp = direct.send(call.method, url, payload=None, headers=headers)
                    length = body_length(resp)
                else:
                    resp = self.client.request(
                        call.method, url, name=route, headers=headers, json=call.json
                    )
                ended = time.perf_counter()
                status = resp.status_code or 0
                good = status in ok
                if not good:
                    kind = failure_kind(getattr(resp, "error", None), status)
                if direct is not None:
                    direct.report(call.method, route, url, resp, start_time, ended - started,
                                  length, kind)  # fmt: skip
            else:
                with self.client.request(
                    call.method, url, name=route, headers=headers, json=call.json,
                    catch_response=True,
                ) as resp:  # fmt: skip
                    ended = time.perf_counter()
                    status = resp.status_code or 0
                    # reading is part of the request: an adapter may choke
                    outcome, unread = _read(read, status, call.method, resp)
                    good = outcome is not None and answered_ok(status, outcome)
                    if good:
                        resp.success()
                    else:
                        kind = failure_kind(getattr(resp, "error", None), status)
                        resp.failure(kind if unread is None else type(unread).__name__)
        except Exception as err:  # it may have been sent (and applied)
            since = intended if intended is not None else started
            return self._raised(err, endpoint, since, span, read, sent=True)
        if unread is not None:
            since = intended if intended is not None else started
            outcome = self._raised(unread, endpoint, since, span, read, sent=True)
            assert outcome is not None
            self._answered(endpoint, status, outcome)
            return outcome
        latency = ended - (intended if intended is not None else started)
        if good:
            if span is None:
                self.recorder.record(endpoint, latency, True)
            else:
                self.recorder.record(endpoint, latency, True, span.trace_id_hex)
                span.end(status or None)
        else:
            self._failed(endpoint, latency, span, status, kind, resp)
        if outcome is not None:
            self._answered(endpoint, status, outcome)
        return outcome

    def _headers(self, own: Mapping[str, str]) -> dict[str, str]:
        """An adapter's own headers for one request, under the run's tag: a header that
        would override the tag (whatever its case) is dropped, so no adapter can make
        synthetic traffic look real."""
        names = self._tag_names
        headers = {name: value for name, value in own.items() if name.lower() not in names}
        headers.update(self.headers)
        return headers

    def _failed(
        self, endpoint: str, latency: float, span: Span | None, status: int, kind: str, resp: Any
    ) -> None:
        """Record a request that was answered (or not: status 0) as failed with ``kind``."""
        trace_id = span.trace_id_hex if span is not None else None
        self.recorder.record(endpoint, latency, False, trace_id, kind)
        transport = getattr(resp, "error", None) if status == 0 else None
        self.errors.count(kind, endpoint, transport, raised=False)
        if span is not None:
            span.end(status or None, kind)

    def _answered(self, endpoint: str, status: int, outcome: Outcome) -> None:
        if self.on_answer is not None:
            self.on_answer(endpoint, status, outcome)

    def _raised(
        self,
        err: Exception,
        endpoint: str,
        since: float | None,
        span: Span | None,
        read: Read | None,
        *,
        sent: bool,
    ) -> Outcome | None:
        """Record a request that raised ``err`` as failed (timed ``since``, if given); its
        outcome if it is read."""
        kind = type(err).__name__
        trace_id = span.trace_id_hex if span is not None else None
        latency = time.perf_counter() - since if since is not None else 0.0
        self.recorder.record(endpoint, latency, False, trace_id, kind)
        self.errors.count(kind, endpoint, err)
        if span is not None:
            span.end(None, kind)
        if read is None:
            return None
        reason = f"{kind}: {err}"
        return Outcome("info", reason=reason) if sent else Outcome("fail", reason=reason)


def _baggage(run_id: str) -> str:
    """The W3C ``baggage`` of the run's requests when no tracer encodes it."""
    return f"peakops.run_id={run_id},peakops.synthetic=true"


def _read(
    read: Read, status: int, method: str, resp: Any
) -> tuple[Outcome | None, Exception | None]:
    """The adapter's outcome of an answer, or what reading it raised (never raises)."""
    try:
        outcome = read(status, None if method == "GET" else _json(resp))
        if not isinstance(outcome, Outcome):
            raise TypeError(f"the adapter read an answer as {outcome!r}, not an Outcome")
    except Exception as err:
        return None, err
    return outcome, None


def _json(resp: Any) -> dict[str, Any] | None:
    try:
        data = resp.json()
    except (ValueError, TypeError, AttributeError):
        return None
    return data if isinstance(data, dict) else None
