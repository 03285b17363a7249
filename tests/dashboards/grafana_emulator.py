"""An HTTP emulation of exactly the Grafana endpoints grafana-client calls for peakops.

No Grafana server can run here, so the tests run a small real HTTP server on
127.0.0.1 that answers ``GET /api/folders/{uid}``, ``POST /api/folders``,
``GET /api/dashboards/uid/{uid}``, ``POST /api/dashboards/db`` and
``POST /api/annotations`` as Grafana documents them, records every request (method,
path, Authorization header, JSON body), and can be told to answer a request with an
error status instead (401, 404, 412, 5xx ...).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    auth: str | None
    body: Any


@dataclass
class Grafana:
    """The emulator's state: what it holds, what it was asked, what it must refuse."""

    url: str = ""
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    errors: dict[tuple[str, str], tuple[int, dict[str, Any]]] = field(default_factory=dict)
    """``(method, path)`` -> ``(status, body)`` answered instead."""

    def fail(self, method: str, path: str, status: int, message: str) -> None:
        self.errors[(method, path)] = (status, {"message": message})

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if (method, path) in self.errors:
            return self.errors[(method, path)]
        if method == "GET" and path.startswith("/api/folders/"):
            uid = path.rsplit("/", 1)[1]
            if uid in self.folders:
                return 200, self.folders[uid]
            return 404, {"message": "folder not found"}
        if method == "POST" and path == "/api/folders":
            self.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"]}
            return 200, self.folders[body["uid"]]
        if method == "GET" and path.startswith("/api/dashboards/uid/"):
            uid = path.rsplit("/", 1)[1]
            if uid in self.dashboards:
                return 200, {"dashboard": self.dashboards[uid], "meta": {}}
            return 404, {"message": "Dashboard not found"}
        if method == "POST" and path == "/api/dashboards/db":
            doc = dict(body["dashboard"])
            uid = doc["uid"]
            version = int(self.dashboards.get(uid, {}).get("version", 0)) + 1
            self.dashboards[uid] = {**doc, "id": 7, "version": version}
            return 200, {"id": 7, "uid": uid, "status": "success", "version": version,
                         "url": f"/d/{uid}/x"}  # fmt: skip
        if method == "POST" and path == "/api/annotations":
            return 200, {"id": len(self.requests), "message": "Annotation added"}
        return 404, {"message": "Not found"}


def _handler(state: Grafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            state.requests.append(
                Request(self.command, self.path, self.headers.get("Authorization"), body)
            )
            status, answer = state.answer(self.command, self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _serve
        do_POST = _serve

        def log_message(self, *_: Any) -> None:
            pass

    return Handler


@contextmanager
def running_grafana() -> Iterator[Grafana]:
    state = Grafana()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
