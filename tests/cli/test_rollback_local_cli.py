"""``peakops rollback --platform local`` and ``peakops rollback serve``, by exit code.

``FakeControl`` stands in for the rehearsal's control API (``rehearsal/control.py``,
written separately): a small HTTP server on 127.0.0.1 that answers ``GET /revisions``,
``POST /rollback`` and ``POST /deploy`` the way ``platforms/local_control.py``
documents, and records every request. A real run directory holds the ``control.json``
pointing at it. Exit codes: 0 rolled back or nothing to do, 2 bad flag or refused,
3 the rehearsal does not answer, 5 the rollout failed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from cli import app
from collectors.rundir import RunDir
from slo.runfiles import CONTROL_FILE
from tests.platforms.helpers import wait_until
from tests.rollout.test_webhook import alert, payload

RUN_ID = "20261127-000000-abcd"
TOKEN = "control-t0ken"
ENV = {"COLUMNS": "200", "PEAKOPS_WEBHOOK_SECRET": "hook-s3cret"}


class FakeControl:
    """The rehearsal's control API, in miniature (see the module docstring)."""

    def __init__(self, run: RunDir) -> None:
        self.run = run
        self.current, self.revisions = "v2", ["v1", "v2"]
        self.requests: list[tuple[str, str, dict[str, Any] | None]] = []
        self.failure: tuple[int, dict[str, Any]] | None = None
        self.refuse = False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.write_control(self.url)

    def write_control(self, url: str) -> None:
        data = {"url": url, "token": TOKEN, "run_id": self.run.run_id}
        self.run.file(CONTROL_FILE).write_text(json.dumps(data))

    def answer(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        if self.failure is not None and method == "POST":
            return self.failure
        if (method, path) == ("GET", "/revisions"):
            return 200, {"current": self.current, "revisions": self.revisions, "kind": "local",
                         "run_id": self.run.run_id}  # fmt: skip
        assert body is not None
        if (method, path) == ("POST", "/rollback"):
            return self._rollback(body.get("to_revision"))
        if (method, path) == ("POST", "/deploy"):
            before, self.current = self.current, body["version"]
            self.revisions.append(self.current)
            return 200, {"from_revision": before, "to_revision": self.current, "source": "cli"}
        return 404, {"error": f"no {method} {path}", "exit_code": 2}

    def _rollback(self, to: str | None) -> tuple[int, Any]:
        if self.refuse:
            return 200, {"action": "refused", "from_revision": self.current, "to_revision": None,
                         "message": "v2 was already rolled back once"}  # fmt: skip
        before, self.current = self.current, to or "v1"
        return 200, {"action": "rolled_back", "from_revision": before, "to_revision": self.current,
                     "message": f"rolled back from {before} to {self.current}"}  # fmt: skip

    def posts(self, path: str) -> list[dict[str, Any] | None]:
        return [body for method, p, body in self.requests if (method, p) == ("POST", path)]

    def __enter__(self) -> FakeControl:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(control: FakeControl) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve(None)

        def do_POST(self) -> None:
            self._serve(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))

        def _serve(self, body: dict[str, Any] | None) -> None:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                status, data = 401, {"error": "bad token", "exit_code": 2}
            else:
                status, data = control.answer(self.command, self.path, body)
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    return RunDir.create(tmp_path, RUN_ID, plan={}, git_sha=None)


@pytest.fixture
def control(run: RunDir) -> Iterator[FakeControl]:
    with FakeControl(run) as fake:
        yield fake


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"  # closed again: refused


def peakops(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(app, ["rollback", *args], env=ENV | (env or {}))


def local(run: RunDir, *args: str) -> Result:
    return peakops("--platform", "local", "--run-dir", str(run.path), *args)


# -- peakops rollback --platform local ----------------------------------------------


def test_a_local_rollback_goes_through_the_control_api(control: FakeControl) -> None:
    result = local(control.run, "--reason", "p99 breach")
    assert result.exit_code == 0, result.output
    assert "rolled back from v2 to v1" in result.output
    assert control.posts("/rollback") == [
        {"to_revision": None, "reason": "p99 breach", "source": "cli"}]  # fmt: skip


def test_a_local_rollback_to_a_revision_reports_json(control: FakeControl) -> None:
    control.revisions = ["v1", "v2", "v3"]
    control.current = "v3"
    result = local(control.run, "--to-revision", "v1", "-o", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["action"], report["from_revision"], report["to_revision"]) == (
        "rolled_back", "v3", "v1")  # fmt: skip
    assert report["run_id"] == RUN_ID
    assert control.posts("/rollback")[0]["to_revision"] == "v1"  # type: ignore[index]


def test_a_refused_local_rollback_exits_2(control: FakeControl) -> None:
    control.refuse = True
    result = local(control.run)
    assert result.exit_code == 2, result.output
    assert "refused: v2 was already rolled back once" in result.output


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [(409, 2, "a deploy is in progress"), (500, 5, "replica 2 of v1 never became healthy"),
     (502, 3, "control endpoint of run")],
    ids=["a refusal is exit 2", "a failed rollout is exit 5", "any other error is exit 3"],
)  # fmt: skip
def test_control_api_errors_map_to_exit_codes(
    control: FakeControl, status: int, code: int, message: str
) -> None:
    error = {"error": message, "exit_code": code} if code != 3 else {"error": "boom"}
    control.failure = (status, error)
    result = local(control.run)
    assert result.exit_code == code, result.output
    assert message in result.output


def test_a_local_dry_run_says_what_would_be_restored_and_changes_nothing(
    control: FakeControl,
) -> None:
    result = local(control.run, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"would roll the local platform of run {RUN_ID} back from v2 to v1" in result.output
    assert [method for method, _, _ in control.requests] == ["GET"]


@pytest.mark.parametrize(
    ("revisions", "args", "code", "message"),
    [(["v2"], [], 0, "runs v2, its only revision"),
     (["v1", "v2"], ["--to-revision", "v2"], 0, "already runs v2"),
     (["v1", "v2"], ["--to-revision", "v9"], 2, "has no revision 'v9' (it has: v1, v2)")],
    ids=["nothing to roll back to", "already at the revision asked for", "an unknown revision"],
)  # fmt: skip
def test_local_dry_run_edge_cases(
    control: FakeControl, revisions: list[str], args: list[str], code: int, message: str
) -> None:
    control.revisions = revisions
    result = local(control.run, "--dry-run", *args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert control.posts("/rollback") == []


def test_local_needs_a_run_dir() -> None:
    result = peakops("--platform", "local")
    assert result.exit_code == 2, result.output
    assert "--platform local needs --run-dir" in result.output


def test_kubernetes_flags_are_refused_with_local(run: RunDir) -> None:
    result = local(run, "--deployment", "oms")
    assert result.exit_code == 2, result.output
    assert "--deployment: only for --platform kubernetes" in result.output


def test_a_missing_run_dir_exits_2(tmp_path: Path) -> None:
    result = peakops("--platform", "local", "--run-dir", str(tmp_path / "nope"))
    assert result.exit_code == 2, result.output
    assert "no such run directory" in result.output


def test_a_run_without_control_json_exits_2_naming_the_file(run: RunDir) -> None:
    result = local(run)
    assert result.exit_code == 2, result.output
    assert f"{run.path / CONTROL_FILE}: not found" in result.output.replace("\n", "")


def test_a_rehearsal_that_does_not_answer_exits_3(control: FakeControl) -> None:
    control.write_control(closed_port_url())
    result = local(control.run)
    assert result.exit_code == 3, result.output
    assert f"the rehearsal of run {RUN_ID} does not answer" in result.output


# -- peakops rollback serve -----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [(["--listen", "127.0.0.1:0", "--platform", "local"], {"PEAKOPS_WEBHOOK_SECRET": None},
      "$PEAKOPS_WEBHOOK_SECRET is unset or empty"),
     (["--listen", "127.0.0.1:0", "--secret-env", "HOOK"], {"HOOK": ""}, "$HOOK is unset"),
     (["--listen", "0.0.0.0:9094", "--platform", "local"], {}, "is not a loopback address"),
     (["--listen", "127.0.0.1:0", "--platform", "local"], {}, "--platform local needs --run-dir"),
     (["--listen", "127.0.0.1:0", "-n", "shop", "--deployment", "oms"],
      {"PEAKOPS_ALLOWED_NAMESPACES": "cart"}, "namespace 'shop' is not allowlisted"),
     (["--listen", "127.0.0.1:0", "-n", "shop"], {}, "give exactly one of --deployment"),
     (["--platform", "local"], {}, "Missing option '--listen'")],
    ids=["no secret", "an empty secret in --secret-env", "a non-loopback address",
         "local without a run dir", "a namespace not allowlisted", "no kubernetes target",
         "no --listen"],
)  # fmt: skip
def test_serve_refuses_to_start(args: list[str], env: dict[str, str | None], message: str) -> None:
    result = peakops("serve", *args, env=env)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_serve_rolls_a_running_rehearsal_back_once_and_stops_on_sigterm(
    control: FakeControl, tmp_path: Path
) -> None:
    """The whole path: a real ``peakops rollback serve`` process, Alertmanager's POSTs
    (three of the same notification), the fake rehearsal's control API, SIGTERM."""
    state = tmp_path / "webhook-state.jsonl"
    command = [str(Path(sys.executable).parent / "peakops"), "rollback", "serve",
               "--listen", "127.0.0.1:0", "--platform", "local",
               "--run-dir", str(control.run.path), "--state", str(state)]  # fmt: skip
    with subprocess.Popen(command, env=os.environ | ENV, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:  # fmt: skip
        try:
            ready = proc.stderr.readline() if proc.stderr else ""
            found = re.search(r"peakops: listening on (http://127\.0\.0\.1:\d+/alerts) for "
                              rf"local platform of run {RUN_ID}", ready)  # fmt: skip
            assert found, ready
            headers = {"Authorization": f"Bearer {ENV['PEAKOPS_WEBHOOK_SECRET']}"}
            note = json.dumps(payload(alert(run_id=RUN_ID)))
            statuses = []
            for _ in range(3):
                response = httpx.post(found[1], content=note, headers=headers, trust_env=False)
                statuses.append(response.status_code)
                wait_until(lambda: control.current == "v1")
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 0, err
    assert statuses == [202, 200, 200]
    assert len(control.posts("/rollback")) == 1
    assert control.posts("/rollback")[0]["source"] == "webhook"  # type: ignore[index]
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["outcome"] for line in lines if line["event"] == "webhook_rollback"] == [
        "rolled_back"]  # fmt: skip
    assert "webhook_rollback" in [e["type"] for e in control.run.events()]
    remembered = [json.loads(line) for line in state.read_text().splitlines()]
    assert [(r["type"], r["revision"]) for r in remembered] == [
        ("claimed", "v2"),
        ("restored", "v1"),
    ]
