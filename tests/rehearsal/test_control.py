"""The control API of a running rehearsal, served for real on 127.0.0.1 and driven through
the real client (``platforms.local_control.LocalControl``), over a fake local platform."""

from __future__ import annotations

import contextlib
import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from collectors.rundir import EventLog, RunDir
from platforms.local_control import LocalControl
from rehearsal.control import ControlServer
from rehearsal.release import Release
from slo.errors import RevertError, UsageError
from slo.plan import plan_snapshot
from slo.runfiles import CONTROL_FILE
from tests.rehearsal.test_release import FakePlatform, plan


@dataclass
class Served:
    run: RunDir
    platform: FakePlatform
    server: ControlServer
    control: LocalControl


@contextlib.contextmanager
def serve(tmp_path: Path, platform: FakePlatform) -> Iterator[Served]:
    the_plan = plan()
    run = RunDir.create(tmp_path, "run-1", plan=plan_snapshot(the_plan), git_sha=None)
    events = EventLog(run, source="rehearsal")
    release = Release(the_plan, platform, events, run.run_id)
    try:
        with ControlServer(release, run.file(CONTROL_FILE)) as server:
            control = LocalControl.from_run_dir(run.path, timeout_s=10)
            yield Served(run, platform, server, control)
    finally:
        events.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve(tmp_path, FakePlatform("v1")) as running:
        yield running


def test_revisions_are_read_through_the_control_api(served: Served) -> None:
    revisions = served.control.revisions()
    assert (revisions.current, revisions.revisions, revisions.kind) == ("v1", ("v1",), "local")
    assert served.control.run_id == "run-1"


def test_a_deploy_then_a_rollback_through_the_api_change_what_runs(served: Served) -> None:
    deployed = served.control.deploy("v2", reason="ship it")
    assert (deployed["from_revision"], deployed["to_revision"]) == ("v1", "v2")
    assert served.control.revisions().current == "v2"
    answer = served.control.rollback(reason="it is slow")
    assert answer["action"] == "rolled_back"
    assert (answer["from_revision"], answer["to_revision"]) == ("v2", "v1")
    assert served.platform.calls == [("deploy", "v2"), ("rollback", "v1")]
    events = [e for e in served.run.events() if e["type"].startswith(("deploy_", "rollback_"))]
    assert [(e["type"], e["source"]) for e in events] == [
        ("deploy_requested", "cli"), ("rollback_started", "cli"), ("rollback_finished", "cli"),
    ]  # fmt: skip


def test_a_refused_rollback_is_answered_not_raised(served: Served) -> None:
    answer = served.control.rollback(reason="nothing earlier", source="analysis")
    assert answer["action"] == "refused"
    assert "no earlier revision to roll back to" in answer["message"]
    assert served.platform.calls == []


def test_a_usage_error_comes_back_as_usage_error_on_the_client(served: Served) -> None:
    with pytest.raises(UsageError, match="unknown version of the embedded OMS 'v9'"):
        served.control.deploy("v9")
    assert served.platform.calls == []


def test_a_failed_rollout_comes_back_as_revert_error_on_the_client(tmp_path: Path) -> None:
    platform = FakePlatform("v1", "v2", fail_rollback=True)
    with (
        serve(tmp_path, platform) as served,
        pytest.raises(RevertError, match="orders-2 never became healthy"),
    ):
        served.control.rollback(reason="breach")


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Authorization": "Bearer not-the-token"}, id="a wrong bearer token"),
        pytest.param({}, id="no token at all"),
    ],
)
def test_a_request_without_the_right_token_is_refused_with_401(
    served: Served, headers: dict[str, str]
) -> None:
    with httpx.Client(trust_env=False, timeout=10) as client:
        listing = client.get(f"{served.server.url}/revisions", headers=headers)
        deploy = client.post(f"{served.server.url}/deploy", json={"version": "v2"},
                             headers=headers)  # fmt: skip
    assert (listing.status_code, deploy.status_code) == (401, 401)
    assert deploy.json()["error"] == "missing or wrong bearer token"
    assert served.platform.calls == []


def test_a_body_that_is_not_a_json_object_is_a_bad_request(served: Served) -> None:
    token = json.loads(served.run.file(CONTROL_FILE).read_text())["token"]
    with httpx.Client(trust_env=False, timeout=10) as client:
        response = client.post(f"{served.server.url}/rollback", content=b"[1, 2]",
                               headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 400 and "expected a JSON object" in response.json()["error"]


def test_control_json_is_private_and_says_where_the_api_is(served: Served) -> None:
    path = served.run.file(CONTROL_FILE)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    assert document["url"] == served.server.url and document["url"].startswith("http://127.0.0.1:")
    assert document["run_id"] == "run-1" and len(document["token"]) >= 20


def test_control_json_is_removed_when_the_rehearsal_ends_and_the_client_says_so(
    tmp_path: Path,
) -> None:
    with serve(tmp_path, FakePlatform("v1")) as served:
        run_dir = served.run.path
        assert (run_dir / CONTROL_FILE).exists()
    assert not (run_dir / CONTROL_FILE).exists()
    with pytest.raises(UsageError, match="not running on the local platform"):
        LocalControl.from_run_dir(run_dir)
