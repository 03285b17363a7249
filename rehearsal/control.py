"""The control API of a running rehearsal: deploy and roll back its local platform from outside.

Served on 127.0.0.1 (a free port) while the target is up; ``control.json`` in the run
directory (mode 0600, removed at the end) says where, with a random bearer token:
other peakops commands (``deploy``, ``rollback --platform local``, ``watch``,
``rollback serve``) reach it through ``platforms.local_control``, which documents the
three routes. Every change goes through the rehearsal's one ``Release`` (its lock and
its rollback policy), so a person, the analysis and a webhook never overlap.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from rehearsal.release import Release
from slo.errors import PeakopsError
from slo.exitcodes import ExitCode

__all__ = ["ControlServer"]

_MAX_BODY = 64 * 1024


class ControlServer:
    """Serves ``release`` on 127.0.0.1 and writes ``path`` (a context manager)."""

    def __init__(self, release: Release, path: Path) -> None:
        self._release = release
        self._path = path
        self._token = secrets.token_urlsafe(24)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="peakops-control", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> ControlServer:
        self._thread.start()
        document = {"url": self.url, "token": self._token, "run_id": self._release.run_id,
                    "pid": os.getpid()}  # fmt: skip
        fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(document, out)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._path.unlink(missing_ok=True)
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self._authorized() and self.path == "/revisions":
                    self._send(200, server._release.revisions())
                elif self._authorized():
                    self._send(404, {"error": f"no route {self.path}", "exit_code": 2})

            def do_POST(self) -> None:
                if not self._authorized():
                    return
                body = self._body()
                if body is None:
                    return
                self._send(*server._route(self.path, body))

            def _authorized(self) -> bool:
                given = self.headers.get("Authorization", "")
                if hmac.compare_digest(given.encode(), f"Bearer {server._token}".encode()):
                    return True
                self._send(401, {"error": "missing or wrong bearer token", "exit_code": 2})
                return False

            def _body(self) -> dict[str, Any] | None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    if length > _MAX_BODY:
                        raise ValueError(f"body over {_MAX_BODY} bytes")
                    data = json.loads(self.rfile.read(length) or b"{}")
                    if not isinstance(data, dict):
                        raise ValueError("expected a JSON object")
                except ValueError as err:
                    self._send(400, {"error": f"bad request: {err}", "exit_code": 2})
                    return None
                return data

            def _send(self, status: int, data: dict[str, Any]) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return None  # the run's events say what happened

        return Handler

    def _route(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        source = str(body.get("source") or "cli")
        reason = str(body.get("reason") or "")
        try:
            if path == "/deploy":
                return 200, self._release.deploy(str(body.get("version")), source=source,
                                                 reason=reason)  # fmt: skip
            if path == "/rollback":
                wanted = body.get("to_revision")
                return 200, self._release.rollback(
                    reason=reason or "rollback requested", source=source,
                    to_revision=None if wanted is None else str(wanted),
                )  # fmt: skip
        except PeakopsError as err:
            status = 400 if err.exit_code == ExitCode.USAGE else 500
            return status, {"error": str(err), "exit_code": int(err.exit_code)}
        return 404, {"error": f"no route {path}", "exit_code": 2}
