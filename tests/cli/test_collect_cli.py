"""``peakops collect`` as an operator meets it: refusals exit 2 before anything is sent,
an unreachable target exits 3, and a signal stops it cleanly with 128 + the signal."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]

PLAN = """\
apiVersion: peakops/v1
name: collect-cli
target:
  kind: url
  baseUrl: {url}
  truthUrl: {url}
  probes: {{rate: 20, hotSkus: 1, viewStaleness: 1s}}
load: {{profile: constant, duration: 10s, baseline: 60}}
slos:
  objectives:
    - {{id: no-oversell, kind: oversell, max: 0}}
"""


def plan_file(tmp_path: Path, url: str = "http://127.0.0.1:9", extra: str = "") -> Path:
    path = tmp_path / "peak.yaml"
    path.write_text(PLAN.format(url=url) + extra)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "extra", "message"),
    [
        (["--listen", "0.0.0.0:9464"], "", "not loopback"),
        (["--listen", "192.168.1.5:9464"], "", "not loopback"),
        (["--listen", "127.0.0.1"], "", "expected host:port"),
        (["--for", "0s"], "", "--for: must be positive"),
        (["--for", "soon"], "", "--for:"),
        ([], "collect: {listen: '0.0.0.0:9464'}\n", "collect.listen"),
        ([], "collect: {canary: {every: 100ms, sku: SKU-X}}\n", "collect.canary.every"),
        ([], "collect: {canary: {every: 30s}}\n", "collect.canary.sku"),
    ],
    ids=[
        "a wildcard listen address is refused",
        "a listen address on another interface is refused",
        "a listen address without a port is refused",
        "a zero --for is refused",
        "a --for that is no duration is refused",
        "a plan listening beyond loopback is refused with its line",
        "a canary more often than once a second is refused",
        "a canary without its test SKU is refused",
    ],
)
def test_a_bad_flag_or_plan_exits_2_before_anything_is_sent(
    tmp_path: Path, args: list[str], extra: str, message: str
) -> None:
    result = runner.invoke(app, ["collect", "--plan", str(plan_file(tmp_path, extra=extra)), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_an_embedded_target_is_refused(tmp_path: Path) -> None:
    plan = tmp_path / "embedded.yaml"
    plan.write_text((ROOT / "peak.yaml").read_text())
    result = runner.invoke(app, ["collect", "--plan", str(plan)])
    assert result.exit_code == 2
    assert "target.kind: url" in result.output


def test_a_host_the_operator_did_not_allow_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PEAKOPS_ALLOWED_HOSTS", raising=False)
    extra = "  allowHosts: [oms.example.com]\n"
    text = PLAN.format(url="http://oms.example.com").replace("  probes:", extra + "  probes:")
    plan = tmp_path / "prod.yaml"
    plan.write_text(text)
    result = runner.invoke(app, ["collect", "--plan", str(plan)])
    assert result.exit_code == 2
    assert "not by the operator" in result.output


def test_an_unreachable_target_exits_3(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = runner.invoke(app, ["collect", "--plan", str(plan_file(tmp_path, url))])
    assert result.exit_code == 3, result.output
    assert "list_skus()" in result.output and "did not answer" in result.output


class StubOms(BaseHTTPRequestHandler):
    """Just enough of the reference OMS's API to be probed: one SKU, stock 5 everywhere."""

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/skus":
            body: dict[str, object] = {"skus": ["SKU-1"], "locations": ["loc-1"]}
        elif path == "/stock/SKU-1":
            body = {"sku": "SKU-1", "locations": {"loc-1": {"available": 5} if "channel" not in
                                                 self.path else 5}}  # fmt: skip
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub_oms() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubOms)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_listen_port_already_taken_exits_2(stub_oms: str, tmp_path: Path) -> None:
    port = stub_oms.rsplit(":", 1)[1]  # the stub OMS itself holds it
    plan = plan_file(tmp_path, stub_oms)
    result = runner.invoke(app, ["collect", "--plan", str(plan), "--listen", f"127.0.0.1:{port}"])
    assert result.exit_code == 2
    assert "cannot serve on 127.0.0.1" in result.output and "Traceback" not in result.output


def start_collect(plan: Path, *args: str, stderr: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "collect", "--plan", str(plan),
         "--listen", f"127.0.0.1:{port}", *args],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr.open("wb"),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/metrics"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"collect did not serve metrics: {stderr.read_text()[-2000:]}")
        time.sleep(0.1)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
    ids=["SIGTERM exits 143", "SIGINT exits 130"],
)
def test_a_signal_stops_it_cleanly(
    stub_oms: str, tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    err = tmp_path / "stderr.txt"
    proc, url = start_collect(plan_file(tmp_path, stub_oms), stderr=err)
    try:
        deadline = time.monotonic() + 10
        while 'peakops_collect_view_observations_total{channel="web"} 0.0' in (
            text := httpx.get(url).text
        ):
            assert time.monotonic() < deadline, text
            time.sleep(0.1)
        proc.send_signal(signum)
        assert proc.wait(timeout=15) == code
    finally:
        proc.kill()
    stderr = err.read_text()
    assert "Traceback" not in stderr
    assert f"stopped: {signal.Signals(signum).name} received" in stderr
    with pytest.raises(httpx.HTTPError):  # the metrics server is down with it
        httpx.get(url, timeout=1)


@pytest.mark.integration
def test_for_stops_it_with_exit_0_and_out_keeps_what_it_saw(stub_oms: str, tmp_path: Path) -> None:
    out = tmp_path / "seen"
    done = subprocess.run(
        [sys.executable, "-m", "cli", "collect", "--plan", str(plan_file(tmp_path, stub_oms)),
         "--listen", "127.0.0.1:0", "--for", "1500ms", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "metrics on http://127.0.0.1:" in done.stderr  # port 0: the one it got
    records = [json.loads(line) for line in (out / "collect.jsonl").read_text().splitlines()]
    kinds = {(r["kind"], r["channel"]) for r in records}
    assert ("truth", None) in kinds and ("view", "marketplace") in kinds
    assert all(r["available"] == 5 and r["source"] == "collect" for r in records)
