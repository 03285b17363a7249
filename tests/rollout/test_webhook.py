"""Alertmanager notifications: parsing, validation, decisions and idempotency, no HTTP.

The payloads are Alertmanager's webhook format (``version: "4"``) with the labels our
generated rules carry (``severity: page``, ``slo``) and the ``run_id`` the rehearsal's
Prometheus adds. ``FakeAction`` stands in for a real rollback target; the HTTP side is
tests/rollout/test_webhook_server.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from rollout.rollback_action import RollbackDone
from rollout.webhook import (
    MAX_BODY_BYTES,
    Alert,
    Ledger,
    PayloadError,
    Seen,
    parse_payload,
    screen,
    settle,
)
from rollout.webhook_server import Receiver
from slo.errors import InfraError, UsageError

RUN_ID = "20261127-000000-abcd"


def alert(
    *, status: str = "firing", severity: str = "page", run_id: str = RUN_ID, fp: str = "a1b2c3d4"
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": "PeakopsSLOBurnPageQuick",
            "severity": severity,
            "slo": "checkout-latency",
            "run_id": run_id,
        },
        "annotations": {"summary": "checkout-latency burns its error budget 14.4x too fast"},
        "startsAt": "2026-11-27T20:15:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-27T20:30:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=...",
        "fingerprint": fp,
    }


def payload(*alerts: object, **fields: Any) -> dict[str, Any]:
    return {
        "version": "4", "groupKey": '{}/{severity="page"}:{alertname="PeakopsSLOBurnPageQuick"}',
        "truncatedAlerts": 0, "status": "firing", "receiver": "peakops-page",
        "groupLabels": {"alertname": "PeakopsSLOBurnPageQuick"}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093",
        "alerts": list(alerts) if alerts else [alert()],
    } | fields  # fmt: skip


def body(data: object) -> bytes:
    return json.dumps(data).encode()


class FakeAction:
    """A rollback target that runs ``v2`` and rolls back to ``v1`` (or refuses).

    ``gate``, when given, holds a rollback until it is set; ``started`` is set when
    one begins, so tests can act while a rollback is in progress without sleeping.
    """

    target = f"local platform of run {RUN_ID}"

    def __init__(self, *, refuse: bool = False, gate: threading.Event | None = None) -> None:
        self.current: str | None = "v2"
        self.calls: list[tuple[str, str]] = []
        self.refuse, self.gate, self.down = refuse, gate, False
        self.started = threading.Event()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return labels.get("run_id") == RUN_ID

    def current_revision(self) -> str | None:
        if self.down:
            raise InfraError(f"the rehearsal of run {RUN_ID} does not answer")
        return self.current

    def rollback(self, reason: str, *, source: str) -> RollbackDone:
        self.calls.append((reason, source))
        self.started.set()
        if self.gate is not None:
            self.gate.wait()
        if self.refuse:
            return RollbackDone("refused", self.current, None, "refused: a rollback loop")
        before, self.current = self.current, "v1"
        return RollbackDone("rolled_back", before, "v1", "rolled back from v2 to v1")


class Events(list[tuple[str, dict[str, Any]]]):
    """An event sink that keeps what it is given."""

    def __call__(self, event: str, fields: dict[str, Any]) -> None:
        self.append((event, fields))

    def of(self, event: str) -> list[dict[str, Any]]:
        return [fields for name, fields in self if name == event]


# -- parse and validate -----------------------------------------------------------


def test_a_notification_is_parsed_into_typed_alerts() -> None:
    note = parse_payload(body(payload(alert(), alert(status="resolved", fp="ffff"))))
    assert (note.receiver, note.status) == ("peakops-page", "firing")
    assert note.group_key.startswith("{}/{severity=")
    first, second = note.alerts
    assert (first.status, first.fingerprint, first.name) == (
        "firing", "a1b2c3d4", "PeakopsSLOBurnPageQuick")  # fmt: skip
    assert first.labels["run_id"] == RUN_ID
    assert first.annotations["summary"].startswith("checkout-latency burns")
    assert (second.status, second.ends_at) == ("resolved", "2026-11-27T20:30:00Z")


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


MALFORMED = [
    (b"{not json", "body is not JSON"),
    (b"\xff\xfe", "body is not JSON"),
    (body([payload()]), "expected a JSON object, got list"),
    (body(_without(payload(), "version")), "version: expected '4'"),
    (body(payload(version="3")), "version: expected '4' (Alertmanager webhook), got '3'"),
    (body(payload(version=4)), "got 4"),
    (body(payload(alerts={"0": alert()})), "alerts: expected a list, got dict"),
    (body(_without(payload(), "alerts")), "alerts: expected a list, got NoneType"),
    (body(payload("oops")), "alerts[0]: expected an object, got str"),
    (body(payload(_without(alert(), "labels"))), "alerts[0].labels: expected a non-empty object"),
    (body(payload(alert() | {"labels": {}})), "alerts[0].labels: expected a non-empty object"),
    (body(payload(alert() | {"labels": {"severity": 1}})), "alerts[0].labels.severity"),
    (body(payload(_without(alert(), "fingerprint"))), "alerts[0].fingerprint: expected"),
    (body(payload(alert(), alert(fp=""))), "alerts[1].fingerprint: expected a non-empty"),
    (body(payload(alert(status="pending"))), "alerts[0].status: expected 'firing' or"),
    (body(payload(alert() | {"annotations": ["x"]})), "alerts[0].annotations"),
    (body(payload(receiver=7)), "body.receiver: expected a string"),
    (b" " * (MAX_BODY_BYTES + 1), "over the 1048576 byte limit"),
]


@pytest.mark.parametrize(
    ("raw", "message"),
    MALFORMED,
    ids=["not JSON", "not UTF-8", "a list, not an object", "no version", "version 3",
         "version as a number", "alerts as an object", "no alerts", "an alert that is a string",
         "an alert without labels", "an alert with empty labels", "a label that is a number",
         "an alert without fingerprint", "an empty fingerprint in the second alert",
         "an alert neither firing nor resolved", "annotations as a list",
         "a receiver that is a number", "a body over 1 MiB"],
)  # fmt: skip
def test_a_malformed_notification_is_refused_with_the_reason(raw: bytes, message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_payload(raw)
    assert message in str(caught.value)


def test_a_body_of_exactly_1_mib_is_still_read() -> None:
    raw = body(payload())
    raw += b" " * (MAX_BODY_BYTES - len(raw))
    assert len(parse_payload(raw).alerts) == 1


# -- decide -------------------------------------------------------------------------


def one(**kwargs: Any) -> Alert:
    return parse_payload(body(payload(alert(**kwargs)))).alerts[0]


@pytest.mark.parametrize(
    ("kwargs", "matches", "verdict", "reason"),
    [
        ({"status": "resolved"}, True, "recorded", "resolved: recorded, never acted on"),
        ({"severity": "ticket"}, True, "ignored", "severity is 'ticket', not 'page'"),
        ({"run_id": "other"}, False, "ignored", "its labels do not name target-x"),
    ],
    ids=["a resolved alert is recorded, never acted on", "a ticket is not a page",
         "a page for another target"],
)  # fmt: skip
def test_alerts_that_never_roll_back(
    kwargs: dict[str, Any], matches: bool, verdict: str, reason: str
) -> None:
    decision = screen(one(**kwargs), matches=matches, target="target-x")
    assert decision is not None
    assert (decision.verdict, decision.reason) == (verdict, reason)


def test_a_firing_page_for_the_target_goes_on_to_the_revision_check() -> None:
    assert screen(one(), matches=True, target="target-x") is None


def test_a_firing_page_is_acted_on_once_per_fingerprint_and_revision() -> None:
    seen = Seen()
    first = settle(one(), "v2", seen, target="t")
    assert (first.verdict, first.revision) == ("rollback", "v2")
    assert seen.claims == {("a1b2c3d4", "v2")} and seen.pending == 1
    assert settle(one(), "v2", seen, target="t").verdict == "duplicate"  # queued
    seen.pending = 0
    again = settle(one(), "v2", seen, target="t")
    assert (again.verdict, again.reason) == ("duplicate", "this alert already acted on revision v2")
    assert settle(one(), "v3", seen, target="t").verdict == "rollback"  # a new bad release


def test_while_a_rollback_is_queued_other_alerts_wait_for_it() -> None:
    seen = Seen(pending=1)
    decision = settle(one(fp="other"), "v2", seen, target="t")
    assert (decision.verdict, decision.reason) == ("duplicate", "a rollback of t is already "
                                                   "queued or running")  # fmt: skip
    assert seen.claims == set()


def test_a_revision_this_receiver_restored_is_never_rolled_back() -> None:
    seen = Seen(restored={"v1"})
    decision = settle(one(fp="late-alert"), "v1", seen, target="t")
    assert decision.verdict == "ignored"
    assert "restored by a rollback of this receiver" in decision.reason
    assert seen.claims == set() and seen.pending == 0


# -- the receiver: decisions, rollbacks, state across a restart ---------------------


def post_and_run(receiver: Receiver, raw: bytes) -> int:
    """What the server does: decide, then run the queued rollbacks (here, at once)."""
    reply = receiver.handle(raw)
    for job in reply.jobs:
        receiver.execute(job)
    return reply.status


def test_the_same_alert_after_the_rollback_does_not_roll_back_again() -> None:
    action, events = FakeAction(), Events()
    receiver = Receiver(action, Ledger(), events)
    assert post_and_run(receiver, body(payload())) == 202
    assert post_and_run(receiver, body(payload())) == 200  # still firing: v1 is restored
    assert post_and_run(receiver, body(payload(alert(fp="second-slo")))) == 200
    assert len(action.calls) == 1
    reason, source = action.calls[0]
    assert source == "webhook"
    assert reason == ("alert PeakopsSLOBurnPageQuick firing: checkout-latency burns its error "
                      "budget 14.4x too fast")  # fmt: skip
    (outcome,) = events.of("webhook_rollback")
    assert (outcome["outcome"], outcome["from_revision"], outcome["to_revision"]) == (
        "rolled_back", "v2", "v1")  # fmt: skip
    assert [d["decision"] for d in events.of("webhook_decision")] == [
        "rollback", "ignored", "ignored"]  # fmt: skip


def test_a_refused_rollback_is_not_asked_again_for_the_same_alert() -> None:
    action = FakeAction(refuse=True)
    receiver = Receiver(action, Ledger(), Events())
    statuses = [post_and_run(receiver, body(payload())) for _ in range(3)]
    assert statuses == [202, 200, 200]
    assert len(action.calls) == 1


def test_an_unreachable_target_is_503_and_claims_nothing() -> None:
    action, events = FakeAction(), Events()
    action.down = True
    receiver = Receiver(action, Ledger(), events)
    assert post_and_run(receiver, body(payload())) == 503
    assert "does not answer" in events.of("webhook_decision")[0]["reason"]
    action.down = False
    assert post_and_run(receiver, body(payload())) == 202  # Alertmanager's retry acts
    assert len(action.calls) == 1


def test_a_rollback_skips_when_the_target_moved_since_the_alert() -> None:
    action, events = FakeAction(), Events()
    receiver = Receiver(action, Ledger(), events)
    reply = receiver.handle(body(payload()))
    action.current = "v3"  # someone deployed before the worker got to it
    receiver.execute(reply.jobs[0])
    assert action.calls == []
    assert events.of("webhook_rollback")[0]["outcome"] == "skipped"


def test_the_state_file_remembers_across_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "webhook-state.jsonl"
    action = FakeAction(refuse=True)  # refused: v2 keeps running, only the claim guards
    ledger = Ledger(state)
    assert post_and_run(Receiver(action, ledger, Events()), body(payload())) == 202
    ledger.close()
    restarted = Ledger(state)
    assert restarted.seen.claims == {("a1b2c3d4", "v2")}
    events = Events()
    assert post_and_run(Receiver(action, restarted, events), body(payload())) == 200
    assert events.of("webhook_decision")[0]["decision"] == "duplicate"
    assert len(action.calls) == 1


def test_the_state_file_remembers_restored_revisions(tmp_path: Path) -> None:
    state = tmp_path / "state.jsonl"
    action = FakeAction()
    ledger = Ledger(state)
    post_and_run(Receiver(action, ledger, Events()), body(payload()))
    ledger.close()
    restarted = Ledger(state)
    assert restarted.seen.restored == {"v1"}
    assert post_and_run(Receiver(action, restarted, Events()), body(payload(alert(fp="x")))) == 200
    assert len(action.calls) == 1
    kinds = [json.loads(line)["type"] for line in state.read_text().splitlines()]
    assert kinds == ["claimed", "restored"]


def test_a_released_claim_is_forgotten_on_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.jsonl"
    ledger = Ledger(state)
    ledger.claimed("fp", "v2")
    ledger.released("fp", "v2")
    ledger.close()
    assert Ledger(state).seen.claims == set()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"type":"claimed","fingerprint":"a","revision":"v2"}\nnot json\n{}\n', "state.jsonl:2"),
        ('{"type":"shredded"}\n', "state.jsonl:1: not a record of this receiver"),
        ('{"type":"restored","revision":2}\n', "revision: expected a string, got 2"),
    ],
    ids=["a corrupt line", "a record of something else", "a revision that is a number"],
)  # fmt: skip
def test_a_bad_state_file_is_refused_naming_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    state = tmp_path / "state.jsonl"
    state.write_text(text)
    with pytest.raises(UsageError) as caught:
        Ledger(state)
    assert "--state" in str(caught.value) and message in str(caught.value)


def test_a_torn_last_line_of_the_state_file_is_skipped(tmp_path: Path) -> None:
    state = tmp_path / "state.jsonl"
    state.write_text('{"type":"claimed","fingerprint":"a","revision":"v2"}\n{"type":"cla')
    assert Ledger(state).seen.claims == {("a", "v2")}
