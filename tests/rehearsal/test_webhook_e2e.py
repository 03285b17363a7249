"""The Alertmanager webhook end to end, with the real Prometheus and Alertmanager.

The bad-release demo made shorter and with ``rollback.on: never`` (so only the webhook
rolls back), its pages also sent to ``peakops rollback serve`` (``monitoring.pageWebhook``):
v2 ships under load on the local platform, the burn-rate page fires, Alertmanager posts
it to the receiver with the bearer token the rehearsal wrote from the environment, the
receiver rolls the rehearsal back to v1 through its control endpoint, and the quick page
resolves before the load ends. Nothing here asserts how long any of it took.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from collectors.rundir import RunDir
from rehearsal.monitoring_config import find_binaries
from rehearsal.run import rehearse
from slo.conventions import burn_alert_name
from slo.plan import Plan, validate_plan
from slo.runfiles import CONTROL_FILE
from slo.yamldoc import parse_yaml

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "docs" / "plans" / "bad-release.yaml"
PEAKOPS = [sys.executable, "-m", "cli"]
SECRET_ENV = "PEAKOPS_E2E_PAGE_SECRET"
SECRET = "e2e-page-secret-4f1c"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        bool(find_binaries().missing()),
        reason="prometheus and prometheus-alertmanager are not installed",
    ),
    pytest.mark.skipif(
        "write_page_secret" not in (ROOT / "rehearsal" / "monitoring.py").read_text(),
        reason="rehearsal.monitoring does not write the page webhook's secret yet "
        "(LocalMonitor._start must call monitoring_config.write_page_secret)",
    ),
]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def webhook_demo(port: int) -> Plan:
    """The demo: 40 s of load, v2 8 s in, never rolled back by the rehearsal itself."""
    document = parse_yaml(DEMO.read_text(), str(DEMO))  # YAML 1.2: ``on:`` stays a key
    data = document.data
    assert isinstance(data, dict)
    data["load"]["duration"] = "40s"
    data["deploy"]["offset"] = "8s"
    data["rollback"]["on"] = "never"
    data["monitoring"] = {
        "pageWebhook": {"url": f"http://127.0.0.1:{port}/alerts", "credentialsEnv": SECRET_ENV}
    }
    return validate_plan(data, source=str(DEMO), line_of=document.line_of)


class Receiver:
    """Starts ``peakops rollback serve`` for the run once its control endpoint exists."""

    def __init__(self, runs: Path, port: int) -> None:
        self.runs, self.port = runs, port
        self.proc: subprocess.Popen[str] | None = None
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._start_when_running, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _start_when_running(self) -> None:
        while not self._stop.wait(0.1):
            controls = list(self.runs.glob(f"*/{CONTROL_FILE}"))
            if controls:
                env = {**os.environ, SECRET_ENV: SECRET}
                self.proc = subprocess.Popen(
                    [*PEAKOPS, "rollback", "serve", "--listen", f"127.0.0.1:{self.port}",
                     "--platform", "local", "--run-dir", str(controls[0].parent),
                     "--secret-env", SECRET_ENV],
                    cwd=ROOT, env=env, text=True,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                )  # fmt: skip
                return
        self.error = "the rehearsal never wrote control.json"

    def stop(self) -> tuple[list[dict[str, Any]], str]:
        """SIGTERM the receiver; its JSON lines and its stderr."""
        assert self.proc is not None, self.error
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=30)
        return [json.loads(line) for line in out.splitlines() if line.strip()], err


def index(events: list[dict[str, Any]], kind: str, **fields: Any) -> int:
    for i, event in enumerate(events):
        if event["type"] == kind and all(event.get(k) == v for k, v in fields.items()):
            return i
    raise AssertionError(f"no {kind} {fields} in {[e['type'] for e in events]}")


def test_a_page_reaches_the_webhook_which_rolls_the_release_back_once_and_it_resolves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv(SECRET_ENV, SECRET)  # the rehearsal writes it for Alertmanager
    runs = tmp_path / "runs"
    plan = webhook_demo(port)
    assert plan.deploy is not None and not plan.rollback.active

    with Receiver(runs, port) as receiver:
        started = time.monotonic()
        rehearse(plan, runs, notice=lambda _: None)
        took = time.monotonic() - started
    lines, stderr = receiver.stop()

    (run_path,) = runs.iterdir()
    events = RunDir.open(run_path).events()
    kinds = ("deploy_", "rollback_", "alert_")
    story = [(e["type"], e.get("alert"), e.get("source"), e.get("to_revision"))
             for e in events if e["type"].startswith(kinds)]  # fmt: skip
    assert f"listening on http://127.0.0.1:{port}/alerts" in stderr, stderr

    # A page fired, reached the receiver (the token matched) and rolled back once, to v1.
    page = index(events, "alert_firing", severity="page")
    rolled = [
        line for line in lines
        if line["event"] == "webhook_rollback" and line["outcome"] == "rolled_back"
    ]  # fmt: skip
    assert len(rolled) == 1, (lines, story)
    assert rolled[0]["to_revision"] == "v1", rolled
    assert not [line for line in lines if line["event"] == "webhook_rejected"], lines
    finished = [e for e in events if e["type"] == "rollback_finished"]
    assert [(e["source"], e["to_revision"]) for e in finished] == [("webhook", "v1")], story
    rollback = index(events, "rollback_finished", source="webhook")
    assert page < rollback

    # The quick page (10 s short window) resolved after the rollback, before the load
    # ended; the slow page's 1 m short window outlasts a run this short.
    fired = {e["alert"] for e in events if e["type"] == "alert_firing" and e["severity"] == "page"}
    resolved = [
        e["alert"] for e in events[rollback : index(events, "load_finished")]
        if e["type"] == "alert_resolved" and e["severity"] == "page"
    ]  # fmt: skip
    assert burn_alert_name("page", "quick") in resolved, (story, took)
    assert set(resolved) <= fired

    # The secret never reached a file of the run but its own 0600 one.
    secret_file = run_path / "monitoring" / "page-webhook-secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    leaked = [p for p in run_path.rglob("*") if p.is_file() and p != secret_file
              and SECRET.encode() in p.read_bytes()]  # fmt: skip
    assert leaked == []
