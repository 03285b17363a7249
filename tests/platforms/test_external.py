"""ExternalTarget: an OMS peakops reaches by URL and does not run."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from platforms.base import Endpoints, FaultTargets
from platforms.external import ExternalTarget
from platforms.processes import free_port
from slo.errors import UsageError
from slo.exitcodes import ExitCode

Serve = Callable[[int], str]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start a tiny HTTP server on 127.0.0.1 answering every GET with ``status``."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        # a short poll: shutdown() waits up to one poll interval (0.5 s by default)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "call",
    [lambda t: t.deploy("v2"), lambda t: t.rollback(), lambda t: t.rollback("41")],
    ids=["deploy is refused", "rollback is refused", "rollback to a revision is refused"],
)
def test_deploy_and_rollback_are_refused_with_a_usage_error_pointing_at_kubernetes(
    call: Callable[[ExternalTarget], object],
) -> None:
    with pytest.raises(UsageError) as caught:
        call(ExternalTarget("http://127.0.0.1:9"))
    message = str(caught.value)
    assert "peakops cannot deploy or roll back an OMS it does not run" in message
    assert "use platform kind kubernetes" in message
    assert caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("status", [200, 404, 499], ids=lambda s: f"http {s} counts as serving")
def test_any_answer_below_500_is_healthy(serve: Serve, status: int) -> None:
    url = serve(status)
    health = ExternalTarget(url).health()
    assert health.ok
    assert health.detail == f"GET {url}: http {status}"


def test_a_5xx_answer_is_not_healthy(serve: Serve) -> None:
    url = serve(503)
    health = ExternalTarget(url).health()
    assert (health.ok, health.detail) == (False, f"GET {url}: http 503")


def test_a_closed_port_is_not_healthy_and_says_why() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    health = ExternalTarget(url, timeout_s=1).health()
    assert not health.ok
    assert health.detail.startswith(f"GET {url}: ConnectError:")


def test_start_and_stop_do_nothing_and_the_rest_is_empty() -> None:
    target = ExternalTarget("http://127.0.0.1:9", "http://127.0.0.1:10")
    target.start()  # nothing listens there: start checks nothing
    target.stop()
    assert target.endpoints() == Endpoints("http://127.0.0.1:9", "http://127.0.0.1:10")
    assert (target.current_revision(), target.revisions()) == (None, [])
    assert target.fault_targets() == FaultTargets(kind="url")
    assert target.reap_faults() == []
