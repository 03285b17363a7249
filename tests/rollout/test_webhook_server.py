"""The webhook receiver over real HTTP on 127.0.0.1 (port 0), with a fake rollback target.

Posts what Alertmanager posts (tests/rollout/test_webhook.py builds the payloads) with
httpx and checks the status, the body and, above all, how many rollbacks the fake
target saw. Waiting is on events (the worker's queue, the fake's ``started``), never on
the clock.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from collectors.rundir import RunDir
from rollout.rollback_audit import RunAudit
from rollout.webhook import Ledger, parse_listen, read_secret
from rollout.webhook_server import EventSink, Receiver, WebhookServer, serve_until
from slo.errors import UsageError
from tests.rollout.test_webhook import RUN_ID, Events, FakeAction, alert, body, payload

SECRET = "s3cret-token"
AUTH = {"Authorization": f"Bearer {SECRET}"}


@contextmanager
def served(action: FakeAction, events: Events | None = None) -> Iterator[WebhookServer]:
    sink = events if events is not None else Events()
    server = WebhookServer(("127.0.0.1", 0), Receiver(action, Ledger(), sink), SECRET, sink)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def post(server: WebhookServer, data: object, headers: dict[str, str] = AUTH) -> httpx.Response:
    raw = data if isinstance(data, bytes) else body(data)
    response = httpx.post(server.url, content=raw, headers=headers, timeout=10, trust_env=False)
    server.worker.wait_idle()
    return response


@pytest.fixture
def action() -> FakeAction:
    return FakeAction()


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {SECRET}"},
     {"Authorization": SECRET}, {"Authorization": f"Bearer {SECRET}x"}],
    ids=["no Authorization header", "a wrong secret", "the secret with the Basic scheme",
         "the secret without a scheme", "the secret with one character more"],
)  # fmt: skip
def test_a_request_without_the_secret_is_401_and_changes_nothing(
    action: FakeAction, headers: dict[str, str]
) -> None:
    events = Events()
    with served(action, events) as server:
        response = post(server, payload(), headers)
    assert response.status_code == 401
    assert response.json() == {"error": "missing or wrong bearer token"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert action.calls == [] and events.of("webhook_decision") == []
    assert SECRET not in json.dumps(list(events))


@pytest.mark.parametrize(
    "raw",
    [b"{not json", body({"version": "4", "alerts": "none"}),
     body(payload(alert() | {"labels": {}})), body({"alerts": [alert()]}),
     b"x" * (1 << 20) + b"x"],
    ids=["not JSON", "alerts not a list", "an alert without labels", "no version",
         "a body over 1 MiB"],
)  # fmt: skip
def test_a_malformed_payload_is_400_and_changes_nothing(action: FakeAction, raw: bytes) -> None:
    events = Events()
    with served(action, events) as server:
        response = post(server, raw)
    assert response.status_code == 400
    assert response.json()["error"]
    assert action.calls == [] and events.of("webhook_decision") == []
    assert events.of("webhook_rejected")[0]["http_status"] == 400


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
def test_methods_other_than_post_are_405(action: FakeAction, method: str) -> None:
    with served(action) as server:
        response = httpx.request(method, server.url, headers=AUTH, trust_env=False)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_another_path_is_404_and_the_root_path_is_accepted(action: FakeAction) -> None:
    with served(action) as server:
        root = server.url.removesuffix("alerts")
        other = httpx.post(root + "api/v2/alerts", content=body(payload()), headers=AUTH)
        assert other.status_code == 404
        assert post_to(root, payload()).status_code == 202
        server.worker.wait_idle()
    assert len(action.calls) == 1


def post_to(url: str, data: object) -> httpx.Response:
    return httpx.post(url, content=body(data), headers=AUTH, trust_env=False)


def test_the_same_firing_page_posted_three_times_rolls_back_exactly_once(
    action: FakeAction,
) -> None:
    with served(action) as server:
        responses = [post(server, payload()) for _ in range(3)]
    assert [r.status_code for r in responses] == [202, 200, 200]
    assert len(action.calls) == 1
    first = responses[0].json()
    assert first["target"] == f"local platform of run {RUN_ID}"
    assert [d["decision"] for d in first["decisions"]] == ["rollback"]
    assert [d["decision"] for d in responses[1].json()["decisions"]] == ["ignored"]


def test_posts_during_a_long_rollback_are_answered_and_do_not_queue_another() -> None:
    gate = threading.Event()
    action = FakeAction(gate=gate)
    with served(action) as server:
        first = post_to(server.url, payload())  # answered while the rollback is held
        assert action.started.wait(10)
        again = [post_to(server.url, payload()) for _ in range(2)]
        gate.set()
        server.worker.wait_idle()
    assert first.status_code == 202
    assert [r.status_code for r in again] == [200, 200]
    assert {r.json()["decisions"][0]["decision"] for r in again} == {"duplicate"}
    assert len(action.calls) == 1


def test_a_refused_rollback_is_not_retried_for_the_same_alert() -> None:
    action = FakeAction(refuse=True)
    with served(action) as server:
        statuses = [post(server, payload()).status_code for _ in range(3)]
    assert statuses == [202, 200, 200]
    assert len(action.calls) == 1


@pytest.mark.parametrize(
    "the_alert",
    [alert(run_id="20261127-999999-ffff"), alert(severity="ticket"), alert(status="resolved"),
     alert() | {"labels": {"alertname": "PeakopsSLOBurnPageQuick", "run_id": RUN_ID}}],
    ids=["a page for another run", "a ticket for the target", "a resolved page for the target",
         "an alert without severity"],
)  # fmt: skip
def test_alerts_that_are_not_firing_pages_for_the_target_roll_nothing_back(
    action: FakeAction, the_alert: dict[str, object]
) -> None:
    with served(action) as server:
        response = post(server, payload(the_alert))
    assert response.status_code == 200
    assert response.json()["decisions"][0]["decision"] in ("ignored", "recorded")
    assert action.calls == []


def test_an_unreadable_revision_is_503_so_alertmanager_retries(action: FakeAction) -> None:
    action.down = True
    with served(action) as server:
        response = post(server, payload())
    assert response.status_code == 503
    assert response.json()["decisions"][0]["decision"] == "unavailable"
    assert action.calls == []


def test_stop_finishes_the_rollback_in_progress() -> None:
    gate = threading.Event()
    action, events = FakeAction(gate=gate), Events()
    server = WebhookServer(("127.0.0.1", 0), Receiver(action, Ledger(), events), SECRET, events)
    server.start()
    assert post_to(server.url, payload()).status_code == 202
    assert action.started.wait(10)
    stopping = threading.Thread(target=server.stop)
    stopping.start()
    stopping.join(0.3)
    assert stopping.is_alive()  # held by the rollback, not abandoning it
    gate.set()
    stopping.join(10)
    assert not stopping.is_alive()
    assert events.of("webhook_rollback")[0]["outcome"] == "rolled_back"


def test_serve_until_stops_when_told(action: FakeAction) -> None:
    stop = threading.Event()
    sink = Events()
    server = WebhookServer(("127.0.0.1", 0), Receiver(action, Ledger(), sink), SECRET, sink)
    runner = threading.Thread(target=serve_until, args=(server, stop))
    runner.start()
    try:
        assert post_to(server.url, payload(alert(severity="ticket"))).status_code == 200
    finally:
        stop.set()
        runner.join(10)
    assert not runner.is_alive()
    with pytest.raises(httpx.ConnectError):
        post_to(server.url, payload())


def test_decisions_and_outcomes_are_json_lines_and_run_events(
    action: FakeAction, tmp_path: Path
) -> None:
    run = RunDir.create(tmp_path, RUN_ID, plan={}, git_sha=None)
    audit, out = RunAudit.open(run.path), io.StringIO()
    sink = EventSink(out, audit)
    server = WebhookServer(("127.0.0.1", 0), Receiver(action, Ledger(), sink), SECRET, sink)
    server.start()
    try:
        post(server, payload())
    finally:
        server.stop()
        audit.close()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["webhook_decision", "webhook_rollback"]
    assert lines[1]["outcome"] == "rolled_back" and lines[1]["fingerprint"] == "a1b2c3d4"
    recorded = [(e["type"], e["run_id"]) for e in run.events()]
    assert recorded == [("webhook_decision", RUN_ID), ("webhook_rollback", RUN_ID)]


@pytest.mark.parametrize(
    ("text", "address"),
    [("127.0.0.1:9094", ("127.0.0.1", 9094)), ("127.0.0.1:0", ("127.0.0.1", 0)),
     ("localhost:9094", ("127.0.0.1", 9094)), ("[::1]:9094", ("::1", 9094))],
    ids=["IPv4 loopback", "port 0 picks a free port", "localhost", "IPv6 loopback"],
)  # fmt: skip
def test_loopback_listen_addresses(text: str, address: tuple[str, int]) -> None:
    assert parse_listen(text) == address


@pytest.mark.parametrize(
    ("text", "message"),
    [("0.0.0.0:9094", "'0.0.0.0' is not a loopback address"),
     ("10.0.0.7:9094", "'10.0.0.7' is not a loopback address"),
     ("alertmanager.shop:9094", "is not a loopback address"),
     ("9094", "expected HOST:PORT"), ("127.0.0.1:http", "expected HOST:PORT"),
     ("127.0.0.1:70000", "expected HOST:PORT")],
    ids=["the wildcard", "a private address", "a host name", "no host", "a named port",
         "a port out of range"],
)  # fmt: skip
def test_other_listen_addresses_are_refused(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_listen(text)
    assert message in str(caught.value) and "--listen" in str(caught.value)


@pytest.mark.parametrize("environ", [{}, {"PEAKOPS_WEBHOOK_SECRET": ""},
                                     {"PEAKOPS_WEBHOOK_SECRET": "  \n"}],
                         ids=["unset", "empty", "blank"])  # fmt: skip
def test_no_secret_refuses_to_serve(environ: dict[str, str]) -> None:
    with pytest.raises(UsageError) as caught:
        read_secret("PEAKOPS_WEBHOOK_SECRET", environ)
    assert "$PEAKOPS_WEBHOOK_SECRET is unset or empty" in str(caught.value)


def test_the_secret_is_read_trimmed_as_alertmanager_sends_it() -> None:
    assert read_secret("HOOK", {"HOOK": "s3cret\n"}) == "s3cret"
