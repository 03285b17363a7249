"""A small HTTP server in the rehearsal: the load process's metrics, and Alertmanager's webhook.

Prometheus applies a change of its targets only on a 5 s tick after it starts, so a
target that appears later (the load process picks its metrics port when it starts)
would be scraped 5-10 s late, a large part of a rehearsal. The relay has a port from
the start: ``GET /load/metrics`` forwards to the load process's metrics URL, read from
its ``load_started`` event, with the scraper's ``Accept`` header (exemplars need
OpenMetrics); 503 before the load starts or after it ends. ``POST /alertmanager`` is
the run's Alertmanager receiver: each notified alert becomes an ``alert_notified``
event. Served on 127.0.0.1 by daemon threads.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from rehearsal.monitoring_config import LOAD_METRICS_PATH, WEBHOOK_PATH
from rehearsal.schedule import EventTail
from slo.hosts import is_loopback
from slo.runfiles import ALERT_NOTIFIED

__all__ = ["MetricsRelay", "notified_events"]

Emit = Callable[..., None]
"""``EventLog.emit``: (type, **fields)."""

_MAX_BODY = 1 << 20
_UPSTREAM_TIMEOUT_S = 0.9  # within Prometheus' 1 s scrape timeout


def notified_events(payload: Any) -> list[dict[str, Any]]:
    """The ``alert_notified`` fields of each alert in an Alertmanager webhook payload."""
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        return []
    out = []
    for alert in payload["alerts"]:
        if not isinstance(alert, dict):
            continue
        found = alert.get("labels")
        labels: dict[str, Any] = found if isinstance(found, dict) else {}
        out.append(
            {
                "alert": str(labels.get("alertname", "")),
                "slo": str(labels.get("slo", "")),
                "severity": str(labels.get("severity", "")),
                "status": str(alert.get("status", "")),
                "receiver": str(payload.get("receiver", "")),
                "starts_at": str(alert.get("startsAt", "")),
            }
        )
    return out


class MetricsRelay:
    """The relay and webhook server (a context manager); ``port`` once entered."""

    def __init__(self, events_file: Path, emit: Emit) -> None:
        self._tail = EventTail(events_file)
        self._emit = emit
        self._lock = threading.Lock()
        self._upstream: str | None = None
        self._client = httpx.Client(trust_env=False, timeout=_UPSTREAM_TIMEOUT_S)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            # A short poll: shutdown() waits for it, at the end of every rehearsal.
            target=self._server.serve_forever, args=(0.05,), name="peakops-metrics-relay",
            daemon=True,
        )  # fmt: skip

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> MetricsRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._client.close()

    def upstream(self) -> str | None:
        """The load process's metrics URL, once its ``load_started`` event is written."""
        with self._lock:
            for event in self._tail.new():
                url = event.get("metrics_url")
                # Our own child writes it; still, the relay reaches loopback only.
                if event.get("type") == "load_started" and isinstance(url, str) and url:
                    self._upstream = url if is_loopback(urlsplit(url).hostname or "") else None
            return self._upstream

    def fetch(self, accept: str) -> tuple[int, str, bytes]:
        """(status, content type, body) of the load's metrics; 503 when there are none."""
        url = self.upstream()
        if url is None:
            return 503, "text/plain", b"the load process has not started\n"
        with self._lock:  # one scrape at a time: an httpx client is not for many threads
            try:
                answer = self._client.get(url, headers={"Accept": accept})
            except httpx.HTTPError as err:
                return 503, "text/plain", f"load process: {type(err).__name__}\n".encode()
        kind = answer.headers.get("content-type", "text/plain")
        return answer.status_code, kind, answer.content

    def notified(self, body: bytes) -> None:
        """Record an Alertmanager notification; a malformed one is recorded as such."""
        try:
            payload = json.loads(body)
        except ValueError:
            self._emit("alert_notified_unreadable", size=len(body))
            return
        for fields in notified_events(payload):
            self._emit(ALERT_NOTIFIED, **fields)


def _handler(relay: MetricsRelay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != LOAD_METRICS_PATH:
                self._answer(404, "text/plain", b"not found\n")
                return
            self._answer(*relay.fetch(self.headers.get("Accept", "")))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if self.path != WEBHOOK_PATH or not 0 <= length <= _MAX_BODY:
                self._answer(404 if self.path != WEBHOOK_PATH else 413, "text/plain", b"no\n")
                return
            relay.notified(self.rfile.read(length))
            self._answer(200, "text/plain", b"ok\n")

        def _answer(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # one line per scrape would flood the terminal

    return Handler
