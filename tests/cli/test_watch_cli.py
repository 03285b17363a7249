"""``peakops watch``: flags, exit codes and output.

Most tests answer the PromQL with a small fake Prometheus on 127.0.0.1 (the window's
events and bad share) and run one interval (``--for 0s``), so nothing waits; a local
rollback goes to a fake control endpoint of a rehearsal (``control.json``). One
integration test watches a real Prometheus scraping breaching traffic.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from typer.testing import CliRunner, Result

from cli import app
from collectors.latency import IntervalRecorder, new_histogram
from tests.rollout.promserver import PROMETHEUS, free_port, running_prometheus

PLAN = """
apiVersion: peakops/v1
target: {kind: embedded}
load: {duration: 10s, profile: constant, baseline: 600}
slos:
  objectives:
    - {id: place-p99, kind: latency, endpoint: POST /orders, percentile: 99, threshold: 250ms}
    - {id: errors, kind: error_ratio, endpoint: POST /orders, max: 0.01}
    - {id: throughput, kind: throughput, endpoint: POST /orders, minRatio: 0.9}
"""

Handler = Callable[[str, str, dict[str, Any]], tuple[int, dict[str, Any]]]


class Fake:
    """An HTTP server on 127.0.0.1 whose answers come from ``handle(method, path, data)``."""

    def __init__(self, handle: Handler) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                self._answer("GET", query)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._answer("POST", json.loads(self.rfile.read(length) or b"{}"))

            def _answer(self, method: str, data: dict[str, Any]) -> None:
                path = urlparse(self.path).path
                fake.requests.append((method, path, data))
                code, body = handle(method, path, data)
                raw = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Fake:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def prometheus(bad_share: float) -> Fake:
    """1000 events in every window, ``bad_share`` of them bad, for every SLO."""

    def handle(_method: str, _path: str, query: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        value = 1000 if query["query"].startswith("sum(increase(") else bad_share
        result = [{"metric": {}, "value": [query.get("time", 0), str(value)]}]
        return 200, {"status": "success", "data": {"resultType": "vector", "result": result}}

    return Fake(handle)


def control(rollback: tuple[int, dict[str, Any]]) -> Fake:
    """A rehearsal's control endpoint answering /rollback with ``rollback``."""

    def handle(method: str, path: str, _data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path == "/revisions":
            return 200, {"current": "2", "revisions": ["1", "2"], "kind": "local", "run_id": "r1"}
        return rollback

    return Fake(handle)


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "peak.yaml"
    path.write_text(PLAN)
    return path


def peakops(*args: str) -> Result:
    env = {"PEAKOPS_ALLOWED_NAMESPACES": "shop", "PEAKOPS_ALLOWED_HOSTS": "", "COLUMNS": "200"}
    return CliRunner().invoke(app, ["watch", *args], env=env)


def once(plan: Path, url: str, *args: str) -> Result:
    """One interval (``--for 0s``), a breach certain at the first failing one."""
    return peakops("--plan", str(plan), "--prometheus-url", url, "--for", "0s",
                   "--failures", "1", *args)  # fmt: skip


def test_help_names_every_flag() -> None:
    result = peakops("--help")
    assert result.exit_code == 0
    for flag in ("--plan", "--prometheus-url", "--for", "--interval", "--window", "--failures",
                 "--successes", "--min-samples", "--on-no-data", "--platform", "--run-dir",
                 "--namespace", "--deployment", "--dry-run", "--output"):  # fmt: skip
        assert flag in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--for", "soon", "--dry-run"], "--for: "),
        (["--interval", "0s", "--dry-run"], "--interval: must be positive, got '0s'"),
        (["--window", "1s", "--dry-run"], "--window: must be at least --interval (2s), got '1s'"),
        (["--failures", "0", "--dry-run"], "Invalid value for '--failures'"),
        (["--on-no-data", "skip", "--dry-run"], "'skip' is not one of 'hold', 'fail'"),
        (["--prometheus-url", "http://prom.example:9090", "--dry-run"],
         "--prometheus-url: host 'prom.example' is not allowed by the operator"),
        ([], "nothing to roll back: give --platform local --run-dir RUN"),
        (["--platform", "local"], "--platform local takes --run-dir RUN"),
        (["--platform", "kubernetes", "--deployment", "oms"], "--platform kubernetes takes -n"),
        (["--platform", "kubernetes", "-n", "shop"], "exactly one of --deployment or --rollout"),
        (["--platform", "kubernetes", "-n", "prod", "--deployment", "oms"],
         "namespace 'prod' is not allowlisted"),
        (["--run-dir", "runs/x"], "a rollback target needs --platform local or"),
        (["--platform", "local", "--run-dir", "no/such/run"], "no/such/run: no such run directory"),
    ],
    ids=["an unreadable --for", "a zero interval", "a window shorter than the interval",
         "no failure limit", "an unknown no-data policy", "a Prometheus host nobody allowed",
         "no target without --dry-run", "local without a run dir", "kubernetes without -n",
         "kubernetes without a deployment", "a namespace not allowlisted",
         "a run dir without a platform", "a run dir that does not exist"],
)  # fmt: skip
def test_a_bad_flag_exits_2_naming_it(plan: Path, args: list[str], message: str) -> None:
    url = ["--prometheus-url", "http://127.0.0.1:1"] if "--prometheus-url" not in args else []
    result = peakops("--plan", str(plan), *url, *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output


def test_a_plan_without_a_watchable_slo_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(
        PLAN.split("    - {id: place-p99")[0] + "    - {id: t, kind: throughput, minRatio: 0.9}\n"
    )
    result = once(path, "http://127.0.0.1:1", "--dry-run")
    assert result.exit_code == 2, result.output
    assert "no latency or error_ratio SLO to watch" in result.output


def test_a_prometheus_nobody_listens_on_exits_3(plan: Path) -> None:
    result = once(plan, f"http://127.0.0.1:{free_port()}", "--dry-run")
    assert result.exit_code == 3, result.output
    assert "is unreachable" in result.output


def test_a_healthy_release_watched_to_the_end_exits_0(plan: Path) -> None:
    with prometheus(0.001) as prom:
        result = once(plan, prom.url, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "not watched: throughput (throughput: no PromQL SLI)" in result.stderr
    assert "pass [place-p99 pass burn 0.10, errors pass burn 0.10]" in result.stderr
    assert "watched 1 intervals: no sustained breach (exit 0)" in result.stderr


def test_a_breach_with_dry_run_exits_1_naming_the_slo_and_rolls_nothing_back(plan: Path) -> None:
    with prometheus(0.05) as prom:
        result = once(plan, prom.url, "--dry-run", "--output", "json")
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["type"] for line in lines] == ["decision", "result"]
    assert lines[0]["action"] == "rollback"
    assert [j["burn_rate"] for j in lines[0]["judgements"]] == [pytest.approx(5)] * 2
    assert lines[1]["ending"] == "breach" and lines[1]["rollback"] is None
    assert "dry run: would roll back the release: SLO breach certain: place-p99: p99" in (
        " ".join(result.stderr.split()))  # fmt: skip


def _run_dir(tmp_path: Path, url: str) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "control.json").write_text(json.dumps({"url": url, "token": "t", "run_id": "r1"}))
    return run


def test_a_breach_rolls_the_local_platform_back_and_exits_1(plan: Path, tmp_path: Path) -> None:
    done = {"action": "rolled_back", "from_revision": "2", "to_revision": "1",
            "message": "rolled back from revision 2 to 1"}  # fmt: skip
    with prometheus(0.05) as prom, control((200, done)) as ctl:
        result = once(plan, prom.url, "--platform", "local", "--run-dir",
                      str(_run_dir(tmp_path, ctl.url)))  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "rollback target: local platform of run r1 (revision 2)" in result.stderr
    assert "rolled back from revision 2 to 1; SLO breach certain" in result.stderr
    [(_, _, body)] = [r for r in ctl.requests if r[1] == "/rollback"]
    assert body["source"] == "watch" and "errors" in body["reason"]


@pytest.mark.parametrize(
    ("answer", "code", "message"),
    [((500, {"error": "replica 2 did not become healthy", "exit_code": 5}), 5,
      "rollback of local platform of run r1 failed: replica 2 did not become healthy"),
     ((409, {"error": "v2 was already rolled back once", "exit_code": 2}), 2,
      "failed: v2 was already rolled back once")],
    ids=["a rollback that fails exits 5", "a rollback the platform refuses exits 2"],
)  # fmt: skip
def test_a_rollback_that_does_not_happen_says_why(
    plan: Path, tmp_path: Path, answer: tuple[int, dict[str, Any]], code: int, message: str
) -> None:
    with prometheus(0.05) as prom, control(answer) as ctl:
        result = once(plan, prom.url, "--platform", "local", "--run-dir",
                      str(_run_dir(tmp_path, ctl.url)))  # fmt: skip
    assert result.exit_code == code, result.output
    assert message in result.stderr


@pytest.mark.integration
@pytest.mark.parallel
@pytest.mark.skipif(PROMETHEUS is None, reason="needs the prometheus binary (make setup)")
def test_watch_against_a_real_prometheus_names_the_breach(plan: Path, tmp_path: Path) -> None:
    """400 orders, one in five failed, scraped by a real Prometheus: the second interval
    (1 s apart) rolls back, in a dry run; a 30 s window keeps the burst in view."""
    with running_prometheus(tmp_path, "GET /nan") as prom:
        empty = new_histogram().encode().decode()
        prom.live.observe_latency({"endpoint": "POST /orders", "ok": 0, "fail": 0, "hist": empty})
        prom.scraped_after(time.time())  # a zero sample inside the window
        now = [time.time()]
        recorder = IntervalRecorder(prom.live.observe_latency, clock=lambda: now[0])
        for n in range(400):
            now[0] += 0.001
            recorder.record("POST /orders", 0.030, n % 5 != 0)
        recorder.flush(final=True)
        prom.scraped_after(time.time())
        result = peakops("--plan", str(plan), "--prometheus-url", prom.url, "--dry-run",
                         "--for", "10s", "--interval", "1s", "--window", "30s")  # fmt: skip
    assert result.exit_code == 1, result.output
    text = " ".join(result.stderr.split())
    assert "dry run: would roll back the release: SLO breach certain: errors" in text
    assert re.search(r"20% of [\d.]+ requests failed \(1% allowed\): burn rate 20\b", text)
    assert "place-p99 pass burn 0.00" in text
