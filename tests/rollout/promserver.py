"""A real Prometheus (Debian's 2.42) scraping an in-process exporter, for the PromQL gate.

The exporter serves the load process's own collector (``collectors.live_metrics``,
the metric names of ``slo.conventions``) fed with interval records the test controls,
plus one request counter whose value is NaN. Prometheus listens on 127.0.0.1 with a
temp data dir and scrapes every second. Small on purpose: the rehearsal's own
launcher lives in rehearsal/monitoring.py.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, Metric

from collectors.live_metrics import LiveMetrics
from slo.conventions import LABEL_ENDPOINT, LABEL_OUTCOME, METRIC_CLIENT_REQUESTS

__all__ = ["PROMETHEUS", "NanCounter", "Prometheus", "free_port", "running_prometheus"]

PROMETHEUS = shutil.which("prometheus")
JOB = "peakops-load"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NanCounter:
    """A request counter of one endpoint whose value is NaN (a broken exporter)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            METRIC_CLIENT_REQUESTS, "NaN requests.", labels=[LABEL_ENDPOINT, LABEL_OUTCOME]
        )
        family.add_metric([self.endpoint, "ok"], float("nan"))
        yield family


@dataclass
class Prometheus:
    """A running Prometheus and the exporter it scrapes."""

    url: str
    live: LiveMetrics
    http: httpx.Client

    def last_scrape(self) -> float:
        """Unix time of the latest scrape of the exporter (0 before the first)."""
        up = f'up{{job="{JOB}"}}'  # timestamp() of a selector: the scrape's own time
        query = f"timestamp({up}) and on() ({up} == 1)"
        body = self.http.get(f"{self.url}/api/v1/query", params={"query": query}).json()
        result = body["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def scraped_after(self, t: float, timeout_s: float = 15.0) -> float:
        """Wait for a scrape later than ``t``; its time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            last = self.last_scrape()
            if last > t:
                return last
            time.sleep(0.1)
        raise TimeoutError(f"prometheus did not scrape the exporter after {t} within {timeout_s} s")


@contextlib.contextmanager
def running_prometheus(work: Path, nan_endpoint: str) -> Iterator[Prometheus]:
    """Exporter + Prometheus on free 127.0.0.1 ports; stopped on exit."""
    assert PROMETHEUS is not None
    live = LiveMetrics()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(live)
    registry.register(NanCounter(nan_endpoint))
    exporter_port, port = free_port(), free_port()
    server, thread = start_http_server(exporter_port, addr="127.0.0.1", registry=registry)
    config = work / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: {JOB}\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n"
    )
    log = (work / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={work / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    http = httpx.Client(timeout=5.0)
    try:
        prometheus = Prometheus(f"http://127.0.0.1:{port}", live, http)
        _wait_ready(prometheus, process)
        yield prometheus
    finally:
        http.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _wait_ready(prometheus: Prometheus, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if prometheus.http.get(f"{prometheus.url}/-/ready").status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError("prometheus was not ready within 20 s")
