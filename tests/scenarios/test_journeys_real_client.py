"""A journey through Locust's real HTTP client (in a child process: Locust patches).

A closed port and a base URL with a trailing slash, the two ways a hostile user broke
the load generator: each request must be recorded, failures under their type with
their latency kept out of the percentiles.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from collectors.latency import merge

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def journey(base_url: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.scenarios.journey_child", base_url],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    result["log"] = done.stderr
    return result


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed on leaving: nothing listens there


def test_a_request_to_a_closed_port_is_a_failure_counted_by_type_with_its_own_latency() -> None:
    result = journey(f"http://127.0.0.1:{closed_port()}")
    merged = merge(result["latency"])
    assert set(merged) == {"GET /stock/{sku}", "POST /orders"}
    for endpoint, figures in merged.items():
        assert (figures.ok, figures.fail) == (0, 1), endpoint
        assert figures.errors == {"ConnectionRefusedError": 1}
        assert figures.latency.total_count == 0  # not in the latency percentiles ...
        assert figures.failed is not None and figures.failed.total_count == 1  # ... but here
    assert result["errors"] == {"ConnectionRefusedError": 2}
    place = [r["phase"] for r in result["ledger"] if r["type"] == "place"]
    assert place == ["invoke", "info"]  # the adapter's word on a transport failure
    assert result["log"].count("ConnectionRefusedError") == 1  # logged once, no traceback
    assert "Traceback" not in result["log"]


class Oms(BaseHTTPRequestHandler):
    """Answers a stock check and confirms any order; notes every path it was asked, and
    the run's tag each request carried."""

    paths: ClassVar[list[str]] = []
    tags: ClassVar[list[tuple[list[str], list[str]]]] = []

    def _note_tag(self) -> None:
        self.tags.append((self.headers.get_all("X-Peakops-Run-Id") or [],
                          self.headers.get_all("baggage") or []))  # fmt: skip

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self._note_tag()
        self._answer(200, {"sku": "SKU-1", "available": 5})

    def do_POST(self) -> None:
        self.paths.append(self.path)
        self._note_tag()
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(201, {"status": "confirmed", "order_id": "o-1", "location": "dc-1"})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def oms() -> Iterator[str]:
    Oms.paths = []
    Oms.tags = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Oms)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_base_url_with_a_trailing_slash_sends_every_request_to_the_right_path(
    oms: str,
) -> None:
    result = journey(oms + "/")
    merged = merge(result["latency"])
    assert {e: (m.ok, m.fail) for e, m in merged.items()} == {
        "GET /stock/{sku}": (1, 0),
        "POST /orders": (1, 0),
    }
    assert Oms.paths == ["/stock/SKU-1?channel=web", "/orders"]
    # The tag travels as the HTTP client's default headers: every request carries it once.
    assert Oms.tags == [(["run-1"], ["peakops.run_id=run-1,peakops.synthetic=true"])] * 2
    assert [r["phase"] for r in result["ledger"] if r["type"] == "place"] == ["invoke", "ok"]
