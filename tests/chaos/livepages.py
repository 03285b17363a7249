"""A stand-in for the load process's live metrics: Prometheus text on 127.0.0.1.

Each scrape ``n`` serves counters ``n`` times one window's growth, so two scrapes in a
row always see exactly one window's requests. Latencies are counted into the real
buckets of :mod:`collectors.live_metrics`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from collectors.live_metrics import BUCKETS_S
from slo.conventions import (
    ENDPOINT_PLACE_ORDER,
    LABEL_ENDPOINT,
    LABEL_OUTCOME,
    METRIC_CLIENT_LATENCY,
    METRIC_CLIENT_REQUESTS,
)

__all__ = ["Growth", "page", "serve", "serve_pages"]


@dataclass(frozen=True)
class Growth:
    """One window's requests: ``ok``/``fail`` counts and latencies (s -> count)."""

    ok: int = 0
    fail: int = 0
    latencies: Mapping[float, int] = field(default_factory=dict)
    endpoint: str = ENDPOINT_PLACE_ORDER


def page(growth: Growth, times: int) -> str:
    """The Prometheus text after ``times`` windows of ``growth``."""
    label = f'{LABEL_ENDPOINT}="{growth.endpoint}"'
    lines = [
        f"# TYPE {METRIC_CLIENT_REQUESTS} counter",
        f'{METRIC_CLIENT_REQUESTS}_total{{{label},{LABEL_OUTCOME}="ok"}} {growth.ok * times}',
        f'{METRIC_CLIENT_REQUESTS}_total{{{label},{LABEL_OUTCOME}="fail"}} {growth.fail * times}',
        f"# TYPE {METRIC_CLIENT_LATENCY} histogram",
    ]
    total = sum(growth.latencies.values())
    for le in BUCKETS_S:
        below = sum(n for s, n in growth.latencies.items() if s <= le)
        lines.append(f'{METRIC_CLIENT_LATENCY}_bucket{{{label},le="{le!r}"}} {below * times}')
    lines.append(f'{METRIC_CLIENT_LATENCY}_bucket{{{label},le="+Inf"}} {total * times}')
    lines.append(f"{METRIC_CLIENT_LATENCY}_count{{{label}}} {total * times}")
    sum_s = sum(s * n for s, n in growth.latencies.items())
    lines.append(f"{METRIC_CLIENT_LATENCY}_sum{{{label}}} {sum_s * times}")
    return "\n".join(lines) + "\n"


@contextmanager
def serve(growth: Growth) -> Iterator[str]:
    """Serve ``growth`` window after window; yields the metrics URL."""
    with _serve(lambda n: page(growth, n)) as url:
        yield url


@contextmanager
def serve_pages(pages: Sequence[str]) -> Iterator[str]:
    """Serve ``pages`` one per scrape, the last one again and again; yields the URL."""
    with _serve(lambda n: pages[min(n, len(pages) - 1)]) as url:
        yield url


@contextmanager
def _serve(text: Callable[[int], str]) -> Iterator[str]:
    scrapes = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                n = scrapes[0]
                scrapes[0] += 1
            body = text(n).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
