"""``Release``: deploys and rollbacks of a rehearsal's platform, with the rollback policy.

A fake local platform records what it was asked; the events go to a real ``EventLog``
in a temporary run directory, where the gate reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from collectors.rundir import EventLog, RunDir
from platforms.base import Endpoints, FaultTargets, Health, Platform
from rehearsal.release import PERSON, Release
from slo.errors import RevertError, UsageError
from slo.loader import load_plan_text
from slo.plan import Plan, plan_snapshot

PLAN = """\
apiVersion: peakops/v1
target: {kind: embedded}
load: {duration: 60s, profile: constant, baseline: 600}
deploy: {version: v2, offset: 10s}
rollback: {on: fail, maxPerRevision: 1, cooldown: 5m}
slos:
  objectives:
    - {id: place-p99, kind: latency, endpoint: POST /orders, percentile: 99, threshold: 250ms}
"""


class FakePlatform:
    """A local platform in memory: revisions oldest first, like ``LocalPlatform``."""

    kind = "local"

    def __init__(self, *revisions: str, fail_rollback: bool = False) -> None:
        self._revisions = list(revisions or ("v1",))
        self.calls: list[tuple[str, str | None]] = []
        self.fail_rollback = fail_rollback

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def endpoints(self) -> Endpoints:
        return Endpoints(base_url="http://127.0.0.1:9")

    def current_revision(self) -> str | None:
        return self._revisions[-1] if self._revisions else None

    def revisions(self) -> list[str]:
        return list(self._revisions)

    def deploy(self, revision: str) -> None:
        self.calls.append(("deploy", revision))
        self._revisions.append(revision)

    def rollback(self, to_revision: str | None = None) -> str:
        self.calls.append(("rollback", to_revision))
        if self.fail_rollback:
            raise RevertError(f"rollback to {to_revision} failed: orders-2 never became healthy")
        assert to_revision is not None
        self._revisions.append(to_revision)
        return to_revision

    def health(self) -> Health:
        return Health(ok=True, detail="fake")

    def fault_targets(self) -> FaultTargets:
        return FaultTargets(kind="local")

    def reap_faults(self) -> list[str]:
        return []


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def plan(rollback: str | None = None) -> Plan:
    text = PLAN
    if rollback is not None:
        text = text.replace("rollback: {on: fail, maxPerRevision: 1, cooldown: 5m}", rollback)
    return load_plan_text(text, "release.yaml")


class Rig:
    """A ``Release`` over a fake platform, its run directory and its clock."""

    def __init__(self, tmp_path: Path, platform: FakePlatform, the_plan: Plan) -> None:
        self.run = RunDir.create(tmp_path, "run-1", plan=plan_snapshot(the_plan), git_sha=None)
        self.events = EventLog(self.run, source="rehearsal")
        self.clock = Clock()
        self.platform = platform
        self.release = Release(the_plan, platform, self.events, "run-1", clock=self.clock)

    def recorded(self, *kinds: str) -> list[dict[str, Any]]:
        self.events.close()
        return [e for e in self.run.events() if e["type"] in kinds]

    def rollback(self, source: str = "analysis", **kwargs: Any) -> dict[str, Any]:
        return self.release.rollback(reason="place-p99 breached", source=source, **kwargs)


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path, FakePlatform("v1", "v2"), plan())


def test_the_fake_is_a_platform() -> None:
    assert isinstance(FakePlatform(), Platform)


def test_a_rollback_restores_the_previous_revision_and_records_it(rig: Rig) -> None:
    answer = rig.rollback()
    assert answer["action"] == "rolled_back"
    assert (answer["from_revision"], answer["to_revision"]) == ("v2", "v1")
    assert "rolled back from v2 to v1" in answer["message"]
    assert rig.platform.calls == [("rollback", "v1")]
    started, finished = rig.recorded("rollback_started", "rollback_finished")
    for recorded in (started, finished):
        assert recorded["platform"] == "local" and recorded["source"] == "analysis"
        assert recorded["from_revision"] == "v2" and recorded["to_revision"] == "v1"
        assert recorded["reason"] == "place-p99 breached"


def test_a_rollback_to_a_named_revision_restores_that_one(tmp_path: Path) -> None:
    rig = Rig(tmp_path, FakePlatform("v1", "v2", "v3"), plan())
    answer = rig.rollback(to_revision="v1")
    assert answer["to_revision"] == "v1" and rig.platform.calls == [("rollback", "v1")]


@pytest.mark.parametrize(
    ("revisions", "to_revision"),
    [
        pytest.param(("v1",), None, id="only one revision ever ran: nothing earlier"),
        pytest.param(("v1", "v2"), "v7", id="a revision that never ran"),
    ],
)
def test_a_rollback_with_nowhere_to_go_is_refused_and_recorded(
    tmp_path: Path, revisions: tuple[str, ...], to_revision: str | None
) -> None:
    rig = Rig(tmp_path, FakePlatform(*revisions), plan())
    answer = rig.rollback(to_revision=to_revision)
    assert answer["action"] == "refused" and answer["to_revision"] is None
    assert "no earlier revision to roll back to" in answer["message"]
    assert rig.platform.calls == []
    (refused,) = rig.recorded("rollback_refused", "rollback_started")
    assert refused["type"] == "rollback_refused" and refused["error"] == answer["message"]
    assert refused["platform"] == "local"


def test_a_rollback_to_what_already_runs_has_nothing_to_do(rig: Rig) -> None:
    answer = rig.rollback(to_revision="v2")
    assert answer["action"] == "nothing_to_do" and "v2 already runs" in answer["message"]
    assert rig.platform.calls == [] and rig.recorded("rollback_started") == []


def test_a_revision_is_rolled_back_from_at_most_max_per_revision_times(rig: Rig) -> None:
    rig.rollback()  # v2 -> v1
    rig.release.deploy("v2", source="cli")  # the same bad version, shipped again
    rig.clock.now += 3600  # well past the cooldown
    answer = rig.rollback(to_revision="v1")
    assert answer["action"] == "refused"
    assert (
        "v2 was already rolled back 1 time(s) (rollback.maxPerRevision: 1)" in (answer["message"])
    )
    assert rig.platform.calls == [("rollback", "v1"), ("deploy", "v2")]


def test_max_per_revision_of_two_allows_a_second_rollback_from_the_same_revision(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, FakePlatform("v1", "v2"),
              plan("rollback: {on: fail, maxPerRevision: 2, cooldown: 0s}"))  # fmt: skip
    rig.rollback()
    rig.release.deploy("v2", source="cli")
    assert rig.rollback(to_revision="v1")["action"] == "rolled_back"


def test_an_automatic_rollback_never_restores_a_revision_it_rolled_back_from(rig: Rig) -> None:
    rig.rollback()  # v2 -> v1: revisions v1, v2, v1
    rig.clock.now += 3600
    answer = rig.rollback()  # the one before v1 is v2: a loop
    assert answer["action"] == "refused"
    assert (
        "v2 was rolled back from before: restoring it would be a rollback loop"
        in (answer["message"])
    )
    assert rig.platform.calls == [("rollback", "v1")]


def test_a_second_automatic_rollback_within_the_cooldown_is_refused(tmp_path: Path) -> None:
    rig = Rig(tmp_path, FakePlatform("v1", "v2", "v3"), plan())
    rig.rollback(source="webhook")  # v3 -> v2
    rig.clock.now += 299
    answer = rig.rollback(source="analysis", to_revision="v1")
    assert answer["action"] == "refused"
    assert (
        "within the cooldown of the last automatic rollback (rollback.cooldown: 300 s)"
        in (answer["message"])
    )
    (refused,) = rig.recorded("rollback_refused")
    assert refused["source"] == "analysis"


def test_after_the_cooldown_an_automatic_rollback_goes_ahead(tmp_path: Path) -> None:
    rig = Rig(tmp_path, FakePlatform("v1", "v2", "v3"), plan())
    rig.rollback(source="webhook")  # v3 -> v2
    rig.clock.now += 301
    answer = rig.rollback(source="analysis", to_revision="v1")
    assert answer["action"] == "rolled_back" and answer["to_revision"] == "v1"


def test_a_person_s_rollback_does_not_start_the_cooldown(tmp_path: Path) -> None:
    rig = Rig(tmp_path, FakePlatform("v1", "v2", "v3"), plan())
    rig.rollback(source=PERSON)  # v3 -> v2
    answer = rig.rollback(source="analysis", to_revision="v1")
    assert answer["action"] == "rolled_back"


@pytest.mark.parametrize(
    ("setup", "cooldown"),
    [
        pytest.param("cooldown", "5m", id="a person is not held back by the cooldown"),
        pytest.param("max", "0s", id="a person may roll back from a revision again"),
        pytest.param("loop", "0s", id="a person may restore a revision rolled back from"),
    ],
)
def test_a_person_bypasses_the_automatic_rollback_policy(
    tmp_path: Path, setup: str, cooldown: str
) -> None:
    rig = Rig(tmp_path, FakePlatform("v1", "v2", "v3"),
              plan(f"rollback: {{on: fail, maxPerRevision: 1, cooldown: {cooldown}}}"))  # fmt: skip
    rig.rollback(source="analysis")  # v3 -> v2
    if setup == "max":
        rig.rollback(source="analysis", to_revision="v1")  # v2 -> v1: once from v2
        rig.release.deploy("v2", source="cli")
        assert rig.rollback(source="analysis", to_revision="v1")["action"] == "refused"
        answer = rig.rollback(source=PERSON, to_revision="v1")  # from v2 a second time
    elif setup == "loop":
        answer = rig.rollback(source=PERSON, to_revision="v3")  # back to the one it left
    else:
        answer = rig.rollback(source=PERSON, to_revision="v1")
    assert answer["action"] == "rolled_back", answer
    assert rig.platform.calls[-1] == ("rollback", answer["to_revision"])


def test_a_rollout_that_fails_raises_revert_error_and_records_rollback_failed(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, FakePlatform("v1", "v2", fail_rollback=True), plan())
    with pytest.raises(RevertError, match="orders-2 never became healthy"):
        rig.rollback()
    started, failed = rig.recorded("rollback_started", "rollback_failed", "rollback_finished")
    assert (started["type"], failed["type"]) == ("rollback_started", "rollback_failed")
    assert "orders-2 never became healthy" in failed["error"]
    assert failed["platform"] == "local" and failed["from_revision"] == "v2"


def test_a_failed_rollback_does_not_count_against_max_per_revision(tmp_path: Path) -> None:
    platform = FakePlatform("v1", "v2", fail_rollback=True)
    rig = Rig(tmp_path, platform, plan("rollback: {on: fail, cooldown: 0s}"))
    with pytest.raises(RevertError):
        rig.rollback()
    platform.fail_rollback = False
    assert rig.rollback()["action"] == "rolled_back"


def test_a_deploy_ships_the_version_and_records_who_asked(rig: Rig) -> None:
    answer = rig.release.deploy("v1", source="plan", reason="the plan's deploy step")
    assert answer == {"from_revision": "v2", "to_revision": "v1", "source": "plan"}
    assert rig.platform.calls == [("deploy", "v1")]
    (requested,) = rig.recorded("deploy_requested")
    assert (requested["version"], requested["source"]) == ("v1", "plan")
    assert requested["reason"] == "the plan's deploy step"


def test_an_unknown_version_is_a_usage_error_and_nothing_is_deployed(rig: Rig) -> None:
    with pytest.raises(UsageError, match=r"unknown version of the embedded OMS 'v9' \(known: v1"):
        rig.release.deploy("v9", source="cli")
    assert rig.platform.calls == [] and rig.recorded("deploy_requested") == []


def test_a_platform_other_than_local_is_not_deployed_by_peakops(tmp_path: Path) -> None:
    platform = FakePlatform("v1")
    platform.kind = "kubernetes"
    rig = Rig(tmp_path, platform, plan())
    with pytest.raises(UsageError, match="the kubernetes platform is not deployed by peakops"):
        rig.release.deploy("v2", source="cli")


def test_revisions_say_what_runs_and_what_ran(rig: Rig) -> None:
    assert rig.release.revisions() == {
        "current": "v2", "revisions": ["v1", "v2"], "kind": "local", "run_id": "run-1",
    }  # fmt: skip
