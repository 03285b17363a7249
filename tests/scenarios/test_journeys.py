"""JourneyRunner with a fake HTTP session and a fake adapter (no Locust, no network).

Whatever goes wrong while a request is built, sent or read, the journey does not
raise: the request is recorded as failed under the exception's type, and the ledger
gets ``fail`` (nothing was sent) or ``info`` (it may have been).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from collectors.adapter import HttpCall, Outcome
from collectors.latency import IntervalRecorder, merge
from collectors.ledger import Ledger
from collectors.loadmeter import LoadMeter
from scenarios.errors import ErrorTally
from scenarios.funnel import JourneyPlan, UrlVisit
from scenarios.journeys import JourneyRunner
from slo.conventions import ENDPOINT_CANCEL_ORDER as CANCEL

STOCK = "GET /stock/{sku}"
ORDERS = "POST /orders"


@dataclass
class Answer:
    status: int = 200
    body: dict[str, Any] | None = None
    error: Exception | None = None


class FakeResponse:
    def __init__(self, answer: Answer) -> None:
        self.status_code = answer.status
        self.error = answer.error
        self._body = answer.body
        self.result: str | None = None

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def success(self) -> None:
        self.result = "success"

    def failure(self, why: str) -> None:
        self.result = why

    def json(self) -> Any:
        if self._body is None:
            raise ValueError("not json")
        return self._body


@dataclass
class FakeSession:
    """Answers by method; ``raises``: what ``request`` raises instead (per method)."""

    base_url: str = "http://oms.test"
    answers: dict[str, Answer] = field(default_factory=dict)
    raises: dict[str, Exception] = field(default_factory=dict)
    sent: list[tuple[str, str]] = field(default_factory=list)
    bodies: list[dict[str, Any] | None] = field(default_factory=list)

    def request(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
        if method in self.raises:
            raise self.raises[method]
        self.sent.append((method, url))
        self.bodies.append(kwargs.get("json"))
        return FakeResponse(self.answers.get(method, Answer()))


CONFIRMED = Answer(201, {"status": "confirmed", "order_id": "o-1", "location": "dc-1"})


class FakeAdapter:
    """The reference adapter's shape; ``broken`` names a method that raises ``error``."""

    def __init__(self, broken: str = "", error: Exception | None = None) -> None:
        self.broken = broken
        self.error = error or RuntimeError("adapter bug")

    def _check(self, name: str) -> None:
        if name == self.broken:
            raise self.error

    def stock_check_call(self, sku: str, channel: str) -> HttpCall:
        self._check("stock_check_call")
        return HttpCall("GET", f"/stock/{sku}?channel={channel}")

    def place_call(
        self, key: str, channel: str, sku: str, qty: int, loc: str | None, customer: str
    ) -> HttpCall:
        self._check("place_call")
        return HttpCall("POST", "/orders", {"idempotency_key": key, "sku": sku, "buyer": customer})

    def place_outcome(self, status: int, body: dict[str, Any] | None) -> Outcome:
        self._check("place_outcome")
        if self.broken == "place_outcome_none":
            return None  # type: ignore[return-value]
        if status == 201 and body:
            return Outcome("ok", body["order_id"], body["location"])
        return Outcome("info", reason="transport" if status == 0 else f"http {status}")

    def cancel_call(self, order_id: str, channel: str, location: str | None) -> HttpCall:
        self._check("cancel_call")
        return HttpCall("POST", f"/orders/{order_id}/cancel")

    def cancel_outcome(self, status: int, body: dict[str, Any] | None) -> Outcome:
        return Outcome("ok" if status == 200 else "info")


@dataclass
class Harness:
    runner: JourneyRunner
    session: FakeSession
    latency: list[dict[str, Any]]
    ledger: list[dict[str, Any]]
    errors: ErrorTally

    def merged(self) -> dict[str, Any]:
        self.runner.recorder.flush(final=True)
        return merge(self.latency)

    def phases(self, type_: str) -> list[str]:
        return [r["phase"] for r in self.ledger if r["type"] == type_]


def harness(
    adapter: FakeAdapter | None = None, session: FakeSession | None = None, **extra: Any
) -> Harness:
    latency: list[dict[str, Any]] = []
    ledger: list[dict[str, Any]] = []
    errors = ErrorTally()
    session = session or FakeSession(answers={"POST": CONFIRMED})
    runner = JourneyRunner(
        session,  # type: ignore[arg-type]
        run_id="run-1", adapter=adapter or FakeAdapter(),  # type: ignore[arg-type]
        recorder=IntervalRecorder(latency.append, clock=lambda: 1000.0),
        meter=LoadMeter(lambda _r: None, cpu_percent=lambda: 0.0),
        ledger=Ledger(ledger.append, source="load"), key_prefix="k", errors=errors,
        **{"tracer": None, **extra},
    )  # fmt: skip
    return Harness(runner, session, latency, ledger, errors)


ORDER = JourneyPlan(channel="web", browse=("SKU-1",), order_sku="SKU-1", cancel=False)


@dataclass(frozen=True)
class Case:
    make: Callable[[], Harness]
    endpoint: str
    error: str
    place_phase: str | None  # the ledger's completion of the place operation


CASES = {
    "building the order request raises: nothing was sent, the order failed": Case(
        lambda: harness(FakeAdapter("place_call", ValueError("bad sku"))),
        ORDERS, "ValueError", "fail",
    ),
    "the HTTP client raises while sending: it may have been sent, the order is unknown": Case(
        lambda: harness(session=FakeSession(raises={"POST": ValueError("invalid request URI")})),
        ORDERS, "ValueError", "info",
    ),
    "reading the answer raises: it was sent, the order is unknown": Case(
        lambda: harness(FakeAdapter("place_outcome", KeyError("status"))),
        ORDERS, "KeyError", "info",
    ),
    "the adapter reads the answer as something else than an Outcome: unknown": Case(
        lambda: harness(FakeAdapter("place_outcome_none")), ORDERS, "TypeError", "info",
    ),
    "building a stock check raises: that check fails, the order still goes": Case(
        lambda: harness(FakeAdapter("stock_check_call", ValueError("bad channel"))),
        STOCK, "ValueError", "ok",
    ),
    "a refused connection is counted by its type, as the client reported it": Case(
        lambda: harness(session=FakeSession(answers={
            "GET": Answer(0, error=ConnectionRefusedError(111, "refused")),
            "POST": Answer(0, error=ConnectionRefusedError(111, "refused")),
        })),
        ORDERS, "ConnectionRefusedError", "info",
    ),
    "an unexpected status is counted as HTTP and its status": Case(
        lambda: harness(session=FakeSession(answers={"POST": Answer(503)})),
        ORDERS, "HTTP 503", "info",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_failing_request_is_recorded_as_failed_under_its_kind_and_the_journey_goes_on(
    case: Case,
) -> None:
    h = case.make()
    h.runner.run(ORDER)  # does not raise
    merged = h.merged()
    failed = merged[case.endpoint]
    assert failed.fail == 1 and failed.errors == {case.error: 1}
    assert failed.latency.total_count == 0  # kept out of the latency percentiles
    assert failed.failed is not None and failed.failed.total_count == 1
    assert h.errors.counts[case.error] >= 1
    assert h.phases("place") == ["invoke", case.place_phase]


def test_a_request_that_raised_says_why_in_the_ledger() -> None:
    h = harness(session=FakeSession(raises={"POST": ValueError("invalid request URI")}))
    h.runner.run(ORDER)
    (done,) = [r for r in h.ledger if r["type"] == "place" and r["phase"] != "invoke"]
    assert done["reason"] == "ValueError: invalid request URI"


def test_a_cancel_whose_request_cannot_be_built_fails_and_was_not_sent() -> None:
    h = harness(FakeAdapter("cancel_call", ValueError("no such store")))
    h.runner.run(JourneyPlan(channel="web", browse=(), order_sku="SKU-1", cancel=True))
    assert h.phases("cancel") == ["invoke", "fail"]
    assert h.merged()[CANCEL].errors == {"ValueError": 1}
    assert [m for m, _ in h.session.sent] == ["POST"]  # the order only


def test_each_kind_of_failure_is_logged_once_with_its_traceback_then_only_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = harness(FakeAdapter("place_call", ValueError("bad sku")))
    with caplog.at_level(logging.WARNING, logger="peakops.load"):
        for _ in range(50):
            h.runner.run(ORDER)
    logged = [r for r in caplog.records if "ValueError" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert h.errors.counts == {"ValueError": 50}
    assert h.errors.summary() == "request failures in this process: ValueError x 50"


def test_a_transport_error_is_logged_once_without_the_clients_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    refused = Answer(0, error=ConnectionRefusedError(111, "refused"))
    h = harness(session=FakeSession(answers={"GET": refused, "POST": refused}))
    with caplog.at_level(logging.WARNING, logger="peakops.load"):
        for _ in range(5):
            h.runner.run(ORDER)
    logged = [r for r in caplog.records if "ConnectionRefusedError" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is None
    assert h.errors.counts == {"ConnectionRefusedError": 10}


def test_a_successful_journey_records_no_failure() -> None:
    h = harness()
    h.runner.run(ORDER)
    merged = h.merged()
    assert {e: (m.ok, m.fail) for e, m in merged.items()} == {STOCK: (1, 0), ORDERS: (1, 0)}
    assert merged[ORDERS].latency.total_count == 1 and merged[ORDERS].errors == {}
    assert h.phases("place") == ["invoke", "ok"]


def test_an_exception_outside_any_request_is_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors = ErrorTally()

    def journey(_intended: float, _plan: object) -> None:
        raise RuntimeError("meter bug")

    guarded = errors.guard(journey)
    with caplog.at_level(logging.WARNING, logger="peakops.load"):
        for _ in range(3):
            guarded(0.0, None)  # does not raise
    assert errors.counts == {"RuntimeError outside a request": 3}
    assert len([r for r in caplog.records if "RuntimeError" in r.getMessage()]) == 1


URLS = {
    "a base URL without a trailing slash": ("http://oms.test", "/stock/A", "http://oms.test/stock/A"),
    "a base URL with a trailing slash": ("http://oms.test/", "/stock/A", "http://oms.test/stock/A"),
    "a base URL with a path prefix and a slash": (
        "http://oms.test/api/", "/stock/A", "http://oms.test/api/stock/A",
    ),
    "a path without a leading slash": ("http://oms.test", "stock/A", "http://oms.test/stock/A"),
    "a path with two leading slashes": ("http://oms.test/", "//stock/A", "http://oms.test/stock/A"),
    "an absolute URL (a store node) is left alone": (
        "http://oms.test/", "http://store.test:8200/orders", "http://store.test:8200/orders",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("base", "path", "url"), URLS.values(), ids=URLS.keys())
def test_requests_go_to_the_base_url_and_path_joined_by_exactly_one_slash(
    base: str, path: str, url: str
) -> None:
    h = harness(session=FakeSession(base_url=base))
    h.runner.run(UrlVisit(path=path, endpoint="GET /x"))
    assert h.session.sent == [("GET", url)]


@pytest.mark.parametrize(
    ("extra", "buyer"),
    [({}, "peakops-synthetic"), ({"customer": "qa-bot-7"}, "qa-bot-7")],
    ids=["orders go to the default test customer", "orders go to the plan's test customer"],
)
def test_the_test_customer_is_passed_to_the_adapters_place_call(
    extra: dict[str, Any], buyer: str
) -> None:
    h = harness(**extra)
    h.runner.run(ORDER)
    (body,) = [b for (method, _), b in zip(h.session.sent, h.session.bodies, strict=True)
               if method == "POST"]  # fmt: skip
    assert body is not None and body["buyer"] == buyer


class ShopLikeAdapter(FakeAdapter):
    """An OMS unlike the reference: 202 accepted, 410 sold out, its own key header."""

    def place_call(
        self, key: str, channel: str, sku: str, qty: int, loc: str | None, customer: str
    ) -> HttpCall:
        headers = {"Idempotency-Token": key, "X-Peakops-Run-Id": "forged"}
        return HttpCall("POST", "/api/v2/checkout", {"item": sku}, headers=headers)

    def place_outcome(self, status: int, body: dict[str, Any] | None) -> Outcome:
        if status == 202 and body:
            return Outcome("ok", body["ref"], body["warehouse"])
        if status == 410:
            return Outcome("fail", reason="out_of_stock")
        if status in (404, 422):
            return Outcome("fail", reason=f"http {status}")
        return Outcome("info", reason=f"http {status}")


@pytest.mark.parametrize(
    ("answer", "ok", "error", "phase"),
    [
        (Answer(202, {"ref": "CK-1", "warehouse": "dc-north"}), True, None, "ok"),
        (Answer(410, {"state": "sold_out"}), True, None, "fail"),
        (Answer(422, {"error": "unknown item"}), False, "HTTP 422", "fail"),
        (Answer(201, {"state": "queued"}), False, "HTTP 201", "info"),
        (Answer(503), False, "HTTP 503", "info"),
    ],
    ids=[
        "a 202 the adapter reads as applied is a successful request",
        "a 410 the adapter reads as sold out is business, not an error",
        "a 422 the adapter reads as a plain refusal is an error",
        "a 2xx the adapter cannot read (unknown) is an error, whatever its status",
        "a 5xx is an error",
    ],
)  # fmt: skip
def test_the_adapters_reading_decides_whether_an_order_request_succeeded(
    answer: Answer, ok: bool, error: str | None, phase: str
) -> None:
    h = harness(ShopLikeAdapter(), FakeSession(answers={"POST": answer}))
    h.runner.run(ORDER)
    placed = h.merged()[ORDERS]
    assert (placed.ok, placed.fail) == ((1, 0) if ok else (0, 1))
    assert placed.errors == ({} if error is None else {error: 1})
    assert h.phases("place") == ["invoke", phase]


def test_an_adapters_headers_go_with_the_request_under_the_run_id_tag() -> None:
    seen: list[dict[str, str]] = []

    class Recording(FakeSession):
        def request(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
            seen.append(dict(kwargs.get("headers") or {}))
            return super().request(method, url, **kwargs)

    h = harness(ShopLikeAdapter(), Recording(answers={"POST": Answer(410)}))
    h.runner.run(ORDER)
    (stock, place) = seen
    assert "Idempotency-Token" not in stock
    assert place["Idempotency-Token"] == "k-1"
    assert place["X-Peakops-Run-Id"] == "run-1"  # the adapter cannot forge the run's tag


def test_every_order_operations_answer_goes_to_the_hook_and_browsing_does_not() -> None:
    class Deleting(FakeAdapter):
        def cancel_call(self, order_id: str, channel: str, location: str | None) -> HttpCall:
            return HttpCall("DELETE", f"/orders/{order_id}")

    answers: list[tuple[str, int, str]] = []
    h = harness(
        Deleting(),
        FakeSession(answers={"POST": CONFIRMED, "DELETE": Answer(200)}),
        on_answer=lambda endpoint, status, outcome: answers.append(
            (endpoint, status, outcome.phase)
        ),
    )
    h.runner.run(JourneyPlan(channel="web", browse=("SKU-1",), order_sku="SKU-1", cancel=True))
    assert answers == [(ORDERS, 201, "ok"), (CANCEL, 200, "ok")]


def test_an_answer_the_adapter_chokes_on_goes_to_the_hook_as_unknown() -> None:
    answers: list[tuple[int, str]] = []
    h = harness(
        FakeAdapter("place_outcome", KeyError("state")),
        on_answer=lambda _e, status, outcome: answers.append((status, outcome.phase)),
    )
    h.runner.run(ORDER)
    assert answers == [(201, "info")]


class LocustLike(FakeSession):
    """A session like Locust's: default headers on its HTTP client, sent with every request."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = type("UserAgent", (), {"default_headers": {"User-Agent": "ua"}})()
        self.headers: list[dict[str, str]] = []
        self.caught: list[bool] = []

    def request(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
        self.headers.append(dict(kwargs.get("headers") or {}))
        self.caught.append(bool(kwargs.get("catch_response")))
        return super().request(method, url, **kwargs)


def test_the_runs_tag_goes_into_the_sessions_default_headers_once() -> None:
    session = LocustLike(answers={"POST": Answer(410)})
    h = harness(ShopLikeAdapter(), session)
    h.runner.run(ORDER)
    assert session.client.default_headers == {
        "User-Agent": "ua", "X-Peakops-Run-Id": "run-1",
        "baggage": "peakops.run_id=run-1,peakops.synthetic=true",
    }  # fmt: skip
    (stock, place) = session.headers
    assert stock == {}  # the tag comes from the defaults: nothing to add per request
    assert place == {"Idempotency-Token": "k-1"}  # the forged tag is dropped, not sent


def test_an_adapter_cannot_override_the_default_tag_in_any_case() -> None:
    class Forging(FakeAdapter):
        def stock_check_call(self, sku: str, channel: str) -> HttpCall:
            headers = {"x-peakops-run-id": "forged", "BAGGAGE": "peakops.synthetic=false",
                       "Accept": "application/json"}  # fmt: skip
            return HttpCall("GET", f"/stock/{sku}", headers=headers)

    session = LocustLike()
    harness(Forging(), session).runner.run(ORDER)
    assert session.headers[0] == {"Accept": "application/json"}


def test_only_order_operations_ask_locust_to_let_us_judge_the_answer() -> None:
    session = LocustLike(answers={"POST": CONFIRMED})
    h = harness(session=session)
    h.runner.run(ORDER)
    h.runner.run(UrlVisit(path="/", endpoint="GET /"))
    assert [m for m, _ in session.sent] == ["GET", "POST", "GET"]
    assert session.caught == [False, True, False]  # stock check, order, url visit


URL_ANSWERS = {
    "a 2xx is a success": (Answer(200), True, None),
    "a redirect left unfollowed is an answer, a success": (Answer(302), True, None),
    "a 404 is counted as HTTP and its status": (Answer(404), False, "HTTP 404"),
    "a 503 is counted as HTTP and its status": (Answer(503), False, "HTTP 503"),
    "a refused connection is counted by its type": (
        Answer(0, error=ConnectionRefusedError(111, "refused")), False, "ConnectionRefusedError",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("answer", "ok", "error"), URL_ANSWERS.values(), ids=URL_ANSWERS.keys())
def test_a_url_visit_judged_by_its_status_is_recorded_as_before(
    answer: Answer, ok: bool, error: str | None
) -> None:
    h = harness(session=LocustLike(answers={"GET": answer}))
    h.runner.run(UrlVisit(path="/", endpoint="GET /"))
    visited = h.merged()["GET /"]
    assert (visited.ok, visited.fail) == ((1, 0) if ok else (0, 1))
    assert visited.errors == ({} if error is None else {error: 1})
    assert h.errors.counts == ({} if error is None else {error: 1})


@pytest.mark.parametrize("ratio", [0.0, 1.0], ids=["unsampled", "sampled"])
def test_a_traced_request_adds_only_its_trace_context_to_the_default_tag(ratio: float) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from scenarios.tracing import ClientTracer

    tracer = ClientTracer(TracerProvider().get_tracer("t"), run_id="run-1",
                          baggage={"peakops.synthetic": "true"}, sample_ratio=ratio)  # fmt: skip
    session = LocustLike()
    h = harness(session=session, tracer=tracer)
    h.runner.run(UrlVisit(path="/", endpoint="GET /"))
    assert session.client.default_headers["baggage"] == tracer.baggage_header
    assert session.client.default_headers["X-Peakops-Run-Id"] == "run-1"
    (sent,) = session.headers
    assert list(sent) == ["traceparent"]


class LocustSession(LocustLike):
    """Locust's ``FastHttpSession`` as ``JourneyRunner`` sees it: its own send (failures
    caught into a response with ``error``), its request event, basic auth and user."""

    def __init__(self, auth_header: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.auth_header = auth_header
        self.user = None
        self.fired: list[dict[str, Any]] = []
        self.request_event = type("Hook", (), {"fire": lambda _s, **kw: self.fired.append(kw)})()

    def _send_request_safe_mode(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
        self.headers.append(dict(kwargs.get("headers") or {}))
        self.sent.append((method, url))
        resp = FakeResponse(self.answers.get(method, Answer()))
        resp.content = b"ok"  # type: ignore[attr-defined]
        return resp


DIRECT = {
    "an answer in range is reported to Locust as a success": (Answer(200), None),
    "a 503 is reported to Locust under our kind": (Answer(503), "HTTP 503"),
    "a refused connection is reported under its type": (
        Answer(0, error=ConnectionRefusedError(111, "refused")), "ConnectionRefusedError",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("answer", "kind"), DIRECT.values(), ids=DIRECT.keys())
def test_a_status_only_request_through_locust_is_reported_once_with_our_verdict(
    answer: Answer, kind: str | None
) -> None:
    session = LocustSession(answers={"GET": answer})
    h = harness(session=session)
    h.runner.run(UrlVisit(path="/x", endpoint="GET /x"))
    (fired,) = session.fired
    assert fired["name"] == "/x" and fired["request_type"] == "GET"
    assert fired["url"] == "http://oms.test/x" and fired["response_length"] == 2
    assert (fired["exception"] is None) == (kind is None)
    if kind is not None:
        assert str(fired["exception"]) == kind
    visited = h.merged()["GET /x"]
    assert (visited.ok, visited.fail) == ((1, 0) if kind is None else (0, 1))
    assert session.caught == []  # FastHttpSession.request was not called


def test_what_locusts_request_would_add_goes_into_the_default_headers() -> None:
    session = LocustSession(auth_header="Basic dTpw", answers={"POST": CONFIRMED})
    h = harness(session=session)
    h.runner.run(ORDER)
    defaults = session.client.default_headers
    assert defaults["Accept-Encoding"] == "gzip, deflate, br"
    assert defaults["Authorization"] == "Basic dTpw"
    assert defaults["X-Peakops-Run-Id"] == "run-1"
    assert session.caught == [True]  # the order goes through request(catch_response=True)
    assert len(session.fired) == 1  # the stock check only: Locust reports the order itself


def test_the_locust_session_still_has_what_the_direct_path_uses() -> None:
    """``Direct`` calls a private method of Locust's ``FastHttpSession``; a Locust that
    renamed it would silently put every request back on the slower wrapper. Read from
    the source (importing Locust here would monkey-patch the test process)."""
    spec = importlib.util.find_spec("locust")  # a top-level lookup imports nothing
    assert spec is not None and spec.origin is not None
    source = (Path(spec.origin).parent / "contrib" / "fasthttp.py").read_text()
    for needed in ("def _send_request_safe_mode(", "self.request_event", "self.auth_header",
                   "self.user"):  # fmt: skip
        assert needed in source, f"locust.contrib.fasthttp no longer has {needed}"
