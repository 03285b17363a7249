"""`peakops chaos reap --run-dir`: what a killed run left behind, found from its directory.

The local platform's fault proxies come from the run's handle (chaos-platform.json): a
live one is reset, a dead one holds nothing (exit 0, not 5). A run on Kubernetes has its
plan's namespace reaped. Exit 5 only when a fault is known to remain.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaos.handle import write_handle
from cli import app
from platforms.faultproxy import LOOPBACK, FaultProxy, ProxyThread
from platforms.faultproxy.client import FaultProxyClient
from platforms.kubernetes_leases import EXPIRES_AT, format_expiry
from platforms.processes import free_port
from slo.runfiles import CHAOS_HANDLE_FILE, HEADER_FILE
from tests.platforms.test_kubernetes_harness import POLICIES, KmockCluster

LOCAL_PLAN = {"apiVersion": "peakops/v1", "platform": {"kind": "local"}}
KUBE_PLAN = {
    "apiVersion": "peakops/v1",
    "platform": {"kind": "kubernetes", "namespace": "shop", "deployment": "orders"},
}


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    # The upstream is never dialled: only the control API is used.
    running = FaultProxy(listen=(LOOPBACK, 0), upstream=(LOOPBACK, 9), control=(LOOPBACK, 0))
    with ProxyThread(running):
        yield running


def run_dir(tmp_path: Path, *, plan: dict[str, object], proxies: dict[str, str] | None) -> Path:
    """A run directory as a killed rehearsal leaves it: a header, maybe a handle."""
    path = tmp_path / "run"
    path.mkdir()
    (path / HEADER_FILE).write_text(json.dumps({"format_version": 1, "plan": plan}))
    if proxies is not None:
        write_handle(path / CHAOS_HANDLE_FILE, base_url="http://127.0.0.1:9",
                     fault_proxies=proxies, replicas=[])  # fmt: skip
    return path


def reap(*args: str) -> tuple[int, str]:
    done = CliRunner().invoke(app, ["chaos", "reap", *args])
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    return done.exit_code, done.output


def test_a_toxic_left_on_a_live_fault_proxy_is_removed(proxy: FaultProxy, tmp_path: Path) -> None:
    with FaultProxyClient(proxy.control_url) as client:
        client.add("network-cut", "timeout", {"timeout_ms": 0}, lease_s=60)
        path = run_dir(tmp_path, plan=LOCAL_PLAN, proxies={"orders-inventory": proxy.control_url})
        code, output = reap("--run-dir", str(path))
        assert code == 0, output
        assert f"removed {proxy.control_url}: network-cut" in output
        assert "reaped 1 fault(s)" in output
        assert client.state()["toxics"] == []


def test_a_dead_fault_proxy_holds_nothing_so_nothing_is_left(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    path = run_dir(tmp_path, plan=LOCAL_PLAN, proxies={"orders-inventory": dead})
    code, output = reap("--run-dir", str(path))
    assert code == 0, output
    assert f"{dead}: no fault proxy is running there: nothing left" in output
    assert "reaped 0 fault(s): nothing left" in output


def test_a_dead_control_url_given_alone_is_not_a_failure_either() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    code, output = reap("--control-url", dead)
    assert code == 0 and "nothing left" in output, output


def test_a_run_without_a_handle_has_nothing_to_reap(tmp_path: Path) -> None:
    path = run_dir(tmp_path, plan=LOCAL_PLAN, proxies=None)
    code, output = reap("--run-dir", str(path))
    assert code == 0, output
    assert "nothing to reap: the run's chaos-platform.json is missing" in output


class _Broken(BaseHTTPRequestHandler):
    """A fault proxy that answers but cannot reset: its toxics may still be in place."""

    def do_POST(self) -> None:
        self.send_response(500)
        self.end_headers()
        self.wfile.write(b"disk full")

    def log_message(self, *args: object) -> None:
        pass


def test_a_proxy_that_answers_but_will_not_reset_is_a_fault_left_exit_5(tmp_path: Path) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Broken)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        path = run_dir(tmp_path, plan=LOCAL_PLAN, proxies={"orders-inventory": url})
        code, output = reap("--run-dir", str(path))
    finally:
        server.shutdown()
        server.server_close()
    assert code == 5, output
    assert f"could not reset fault proxy {url}" in output


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        (lambda p: None, "no such run directory"),
        (lambda p: p.mkdir(), "run.json: missing: not a peakops run directory"),
        (lambda p: (p.mkdir(), (p / HEADER_FILE).write_text("{")), "run.json: corrupt header"),
        (lambda p: (p.mkdir(), (p / HEADER_FILE).write_text('{"format_version": 1}')),
         "no plan snapshot"),
        (lambda p: (p.mkdir(), (p / CHAOS_HANDLE_FILE).write_text("{")),
         "chaos-platform.json: unreadable local platform handle"),
    ],
    ids=["no directory", "no header", "a header that is not JSON", "a header without its plan",
         "a handle that is not JSON"],
)  # fmt: skip
def test_a_run_directory_that_cannot_be_read_is_exit_2(
    tmp_path: Path, setup: object, words: str
) -> None:
    path = tmp_path / "run"
    setup(path)  # type: ignore[operator]
    code, output = reap("--run-dir", str(path))
    assert code == 2 and words in output, output


def test_a_run_on_kubernetes_has_its_plans_namespace_reaped(tmp_path: Path) -> None:
    with KmockCluster() as cluster:
        cluster.add(POLICIES, "shop", {
            "metadata": {"name": "peakops-cut",
                         "labels": {"app.kubernetes.io/managed-by": "peakops"},
                         "annotations": {EXPIRES_AT: format_expiry(time.time() - 60)}},
            "spec": {"podSelector": {"matchLabels": {"app": "orders"}}},
        })  # fmt: skip
        path = run_dir(tmp_path, plan=KUBE_PLAN, proxies=None)
        code, output = reap("--run-dir", str(path), "--kube-host", cluster.url)
        assert code == 0, output
        assert "removed shop/peakops-cut" in output
        assert cluster.get(POLICIES, "shop", "peakops-cut") is None
