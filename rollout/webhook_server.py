"""``peakops rollback serve``: an Alertmanager webhook receiver on 127.0.0.1 that rolls back.

Requests must carry ``Authorization: Bearer <secret>`` (Alertmanager's
``http_config.authorization``), compared in constant time; anything else is 401 and
changes nothing. A body that is not an Alertmanager notification is 400 and changes
nothing. The decisions are :mod:`rollout.webhook`'s; rollbacks run on one worker
thread, in order, so the answer never waits for a rollout (Alertmanager retries a
notification that times out): 202 when a rollback was queued, 200 when none was, 503
when the running revision could not be read (Alertmanager retries later).

Every decision and every rollback outcome is one JSON line on stdout and, with a run
directory, an event in its ``events.jsonl``. See docs/rollback.md.
"""

from __future__ import annotations

import hmac
import json
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any
from urllib.parse import urlsplit

from rollout.rollback_action import RollbackAction, RollbackDone
from rollout.rollback_audit import RunAudit, iso_utc
from rollout.webhook import (
    MAX_BODY_BYTES,
    Decision,
    Job,
    Ledger,
    Notification,
    PayloadError,
    job_for,
    parse_payload,
    screen,
    settle,
)
from slo.errors import InfraError, PeakopsError, UsageError
from slo.hosts import is_loopback

__all__ = [
    "PATHS",
    "EventSink",
    "Receiver",
    "Reply",
    "WebhookServer",
    "serve_until",
]

PATHS = ("/alerts", "/")
WEBHOOK_DECISION = "webhook_decision"
WEBHOOK_ROLLBACK = "webhook_rollback"
WEBHOOK_REJECTED = "webhook_rejected"

Sink = Callable[[str, dict[str, Any]], None]


class EventSink:
    """Writes each event as a JSON line on ``out`` and, with a run, into ``events.jsonl``."""

    def __init__(self, out: IO[str] | None = None, audit: RunAudit | None = None) -> None:
        self._out = out if out is not None else sys.stdout
        self._audit = audit
        self._lock = threading.Lock()

    def __call__(self, event: str, fields: dict[str, Any]) -> None:
        line = json.dumps({"event": event, "at": iso_utc(time.time()), **fields}, sort_keys=True)
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()
            if self._audit is not None:
                self._audit.emit(event, **fields)


@dataclass(frozen=True)
class Reply:
    """The HTTP answer to one notification, and the rollbacks it queued."""

    status: int
    body: dict[str, Any]
    jobs: tuple[Job, ...] = field(default=())


class Receiver:
    """Decides on notifications (any HTTP thread) and runs rollbacks (the worker thread)."""

    def __init__(self, action: RollbackAction, ledger: Ledger, sink: Sink) -> None:
        self.action, self._ledger, self._sink = action, ledger, sink
        self._lock = threading.Lock()  # guards the ledger: decisions race on HTTP threads

    def handle(self, body: bytes) -> Reply:
        try:
            note = parse_payload(body)
        except PayloadError as err:
            self._sink(WEBHOOK_REJECTED, {"http_status": 400, "error": str(err)})
            return Reply(400, {"error": str(err)})
        with self._lock:
            decisions = self._decide(note)
        context = {"receiver": note.receiver, "group_key": note.group_key}
        for decision in decisions:
            self._sink(WEBHOOK_DECISION, decision.to_dict() | context)
        jobs = tuple(
            job_for(alert, d) for alert, d in zip(note.alerts, decisions, strict=True)
            if d.verdict == "rollback"
        )  # fmt: skip
        status = 202 if jobs else 503 if any(d.verdict == "unavailable" for d in decisions) else 200
        body_out = {"target": self.action.target, "decisions": [d.to_dict() for d in decisions]}
        return Reply(status, body_out, jobs)

    def _decide(self, note: Notification) -> list[Decision]:
        target = self.action.target
        running: list[tuple[str | None, str | None]] = []  # read at most once per notification
        decisions = []
        for alert in note.alerts:
            early = screen(alert, matches=self.action.matches(alert.labels), target=target)
            if early is not None:
                decisions.append(early)
                continue
            if self._ledger.seen.pending:  # a rollback runs: ask the target nothing now
                decisions.append(settle(alert, None, self._ledger.seen, target=target))
                continue
            if not running:
                running.append(self._running())
            revision, error = running[0]
            if error is not None:
                decisions.append(Decision(alert.fingerprint, alert.name, alert.status,
                                          "unavailable", error))  # fmt: skip
                continue
            decisions.append(settle(alert, revision, self._ledger.seen, target=target))
        return decisions

    def _running(self) -> tuple[str | None, str | None]:
        try:
            return self.action.current_revision(), None
        except PeakopsError as err:
            return None, f"cannot read the revision {self.action.target} runs: {err}"

    def execute(self, job: Job) -> None:
        """Run one queued rollback (the worker thread); its outcome is one event."""
        try:
            outcome = self._execute(job)
        except Exception as err:
            outcome = {"outcome": "failed", "error": f"{type(err).__name__}: {err}"}
        finally:
            with self._lock:
                self._ledger.seen.pending -= 1
        self._sink(WEBHOOK_ROLLBACK, _job_fields(job) | outcome)

    def drop(self, job: Job) -> None:
        """A queued rollback not run because the receiver stops: forget the claim."""
        with self._lock:
            self._ledger.seen.pending -= 1
            self._ledger.seen.claims.discard((job.fingerprint, job.revision))
        self._sink(WEBHOOK_ROLLBACK, _job_fields(job) | {
            "outcome": "dropped", "message": "the receiver stopped before it started"})  # fmt: skip

    def _execute(self, job: Job) -> dict[str, Any]:
        now, error = self._running()
        if error is not None:
            self._release(job)
            return {"outcome": "failed", "error": error, "exit_code": 3}
        if now != job.revision:
            return {"outcome": "skipped", "message": f"{self.action.target} runs revision "
                    f"{now} now, not {job.revision}: nothing to do"}  # fmt: skip
        with self._lock:
            self._ledger.claimed(job.fingerprint, job.revision)
        try:
            done = self.action.rollback(job.reason, source="webhook")
        except InfraError as err:  # nothing changed: the next notification may try again
            self._release(job)
            return {"outcome": "failed", "error": str(err), "exit_code": int(err.exit_code)}
        except PeakopsError as err:
            return {"outcome": "failed", "error": str(err), "exit_code": int(err.exit_code)}
        self._remember(done)
        return {"outcome": done.action} | done.to_dict()

    def _release(self, job: Job) -> None:
        with self._lock:
            self._ledger.released(job.fingerprint, job.revision)

    def _remember(self, done: RollbackDone) -> None:
        """Mark what the rollback restored, as named by the result and as read after it."""
        if done.action != "rolled_back":
            return
        restored = {done.to_revision}
        now, _ = self._running()  # a platform may renumber what it restored (Kubernetes)
        restored.add(now)
        with self._lock:
            for revision in sorted(r for r in restored if r is not None):
                self._ledger.restored(revision)


def _job_fields(job: Job) -> dict[str, Any]:
    return {"fingerprint": job.fingerprint, "alertname": job.alertname,
            "revision": job.revision, "reason": job.reason}  # fmt: skip


class RollbackWorker:
    """One thread that runs queued rollbacks in order; ``stop`` finishes the one running."""

    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="peakops-rollback", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job) -> None:
        self._queue.put(job)

    def wait_idle(self) -> None:
        """Return once every submitted rollback has ended (tests, and a clean stop)."""
        self._queue.join()

    def stop(self) -> None:
        self._stopping.set()
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                if self._stopping.is_set():
                    self._receiver.drop(job)
                else:
                    self._receiver.execute(job)
            finally:
                self._queue.task_done()


class _Handler(BaseHTTPRequestHandler):
    """POST a notification to ``/alerts`` (or ``/``); every other method is 405."""

    server: WebhookServer
    server_version = "peakops-webhook"

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path not in PATHS:
            self._reply(404, {"error": f"no such path {path!r}: POST notifications to /alerts"})
        elif not self._authorised():
            self.server.receiver_event(WEBHOOK_REJECTED, {
                "http_status": 401, "error": "missing or wrong bearer token",
                "client": self.client_address[0]})  # fmt: skip
            self._reply(401, {"error": "missing or wrong bearer token"},
                        {"WWW-Authenticate": 'Bearer realm="peakops"'})  # fmt: skip
        else:
            body, error = self._body()
            if error is not None:
                self.server.receiver_event(WEBHOOK_REJECTED, {"http_status": 400, "error": error})
                self._reply(400, {"error": error})
                return
            reply = self.server.receiver.handle(body)
            for job in reply.jobs:
                self.server.worker.submit(job)
            self._reply(reply.status, reply.body)

    def _authorised(self) -> bool:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        expected = self.server.secret.encode()
        given = token.strip().encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(given, expected)

    def _body(self) -> tuple[bytes, str | None]:
        if self.headers.get("Transfer-Encoding"):
            return b"", "a chunked body is not accepted: send Content-Length"
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            return b"", f"Content-Length: expected a number of bytes, got {length!r}"
        if int(length) > MAX_BODY_BYTES:
            self._discard(int(length))
            return b"", f"body of {length} bytes is over the {MAX_BODY_BYTES} byte limit"
        return self.rfile.read(int(length)), None

    def _discard(self, length: int) -> None:
        """Read a refused body away (a client still sending would see a reset, not the
        400), up to a few MiB; beyond that, close the connection instead."""
        self.close_connection = True
        left = length if length <= 4 * MAX_BODY_BYTES else 0
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                return
            left -= len(chunk)

    def _not_allowed(self) -> None:
        self._reply(405, {"error": f"{self.command} is not allowed: POST notifications"},
                    {"Allow": "POST"})  # fmt: skip

    do_GET = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def do_HEAD(self) -> None:
        self.send_response(405)
        self.send_header("Allow", "POST")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _reply(
        self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(body, sort_keys=True).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: every request that matters is already an event on stdout."""


class WebhookServer(ThreadingHTTPServer):
    """The receiver on a loopback address, with its rollback worker."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], receiver: Receiver, secret: str, sink: Sink):
        host, port = address
        if not is_loopback(host):
            raise UsageError(f"--listen: {host!r} is not a loopback address: refused")
        if not secret:
            raise UsageError("the webhook secret is empty: refused")
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            super().__init__((host, port), _Handler)
        except OSError as err:
            raise InfraError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
        self.receiver, self.secret, self.receiver_event = receiver, secret, sink
        self.worker = RollbackWorker(receiver)
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, name="peakops-webhook"
        )

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}{PATHS[0]}"

    def start(self) -> None:
        self.worker.start()
        self._thread.start()

    def stop(self) -> None:
        """Stop answering, finish the rollback in progress, drop the queued ones."""
        if self._thread.is_alive():
            self.shutdown()
            self._thread.join()
        self.server_close()
        self.worker.stop()


def serve_until(server: WebhookServer, stop: threading.Event) -> None:
    """Serve until ``stop`` is set (SIGTERM) or Ctrl-C, then stop cleanly."""
    server.start()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
