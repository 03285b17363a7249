"""A release under load, judged from its events: the ``rollback`` and ``rollback-recovery``
evaluations, on plain data and through the gate on a synthetic run directory.

The synthetic run: one interval per second of ``POST /orders`` from T0, healthy (10 ms,
no errors) except the seconds a test makes slow (400 ms, over the 250 ms objective).
v2 is deployed at +10 s (rolled out by +12 s); the analysis finds the breach certain at
+16 s and rolls back to v1, done at +20 s.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from collectors.latency import IntervalRecorder
from collectors.rundir import RunDir
from rollout.gate import gate_run
from slo.evaluation import Evaluation, Status
from slo.loader import load_plan_text
from slo.plan import Plan, plan_snapshot
from slo.release import ReleaseRecord, judge_release, release_record
from slo.runfiles import EVENTS_FILE, LATENCY_FILE, LOAD_FILE
from slo.stats import EndpointStats, LatencyDistribution, RunStats
from slo.timeline import Second, Timeline
from tests.slo.fakes import SortedLatencies

ORDERS = "POST /orders"
T0 = 1000.0

RELEASE_PLAN = """\
apiVersion: peakops/v1
target: {kind: embedded}
load: {duration: 60s, profile: constant, baseline: 1800}
deploy: {version: v2, offset: 10s}
rollback: {on: fail, recoverWithin: 10s}
slos:
  minSamples: 20
  objectives:
    - {id: place-p99, kind: latency, endpoint: POST /orders, percentile: 99, threshold: 250ms}
    - {id: errors, kind: error_ratio, max: 0.05}
"""


def plan(text: str = RELEASE_PLAN, *, rollback: str | None = None, deploy: bool = True) -> Plan:
    if rollback is not None:
        text = text.replace("rollback: {on: fail, recoverWithin: 10s}", f"rollback: {rollback}")
    if not deploy:
        text = text.replace("deploy: {version: v2, offset: 10s}\n", "")
    return load_plan_text(text, "release.yaml")


def event(at: float, kind: str, **fields: Any) -> dict[str, Any]:
    return {"ts": T0 + at, "type": kind, "source": "rehearsal", **fields}


def deployed(*, finished: bool = True) -> list[dict[str, Any]]:
    fields = {"from_version": "v1", "to_version": "v2", "rollback": False, "source": "platform"}
    done = [event(12, "deploy_finished", **fields)] if finished else []
    return [event(0, "load_started"), event(10, "deploy_started", **fields), *done]


BREACH = event(16, "breach_detected", source="analysis", reason="place-p99 failed 2 intervals")
LOCAL = {"platform": "local", "source": "analysis", "reason": "breach", "from_revision": "v2"}


def rolled_back() -> list[dict[str, Any]]:
    """The whole story: the bad release, the breach, the rollback, v1 running again."""
    back = {"from_version": "v2", "to_version": "v1", "rollback": True, "source": "platform"}
    return [
        *deployed(),
        BREACH,
        event(16.1, "rollback_started", **LOCAL, to_revision="v1"),
        event(16.2, "deploy_started", **back),
        event(19.9, "deploy_finished", **back),
        event(20, "rollback_finished", **LOCAL, to_revision="v1", elapsed_s=3.9),
        event(60, "load_finished"),
    ]


def merge(parts: Sequence[LatencyDistribution]) -> LatencyDistribution:
    values: list[float] = []
    for part in parts:
        assert isinstance(part, SortedLatencies)
        values += part.values
    return SortedLatencies.of(values)


def stats(seconds: int = 60, *, slow: range = range(12, 20), per_second: int = 30) -> RunStats:
    """``per_second`` orders a second from T0; ``slow`` seconds at 400 ms, the rest 10 ms."""
    timeline = [
        Second(T0 + i, 1.0, per_second, 0,
               SortedLatencies.of([400.0 if i in slow else 10.0] * per_second))
        for i in range(seconds)
    ]  # fmt: skip
    whole = EndpointStats(ORDERS, per_second * seconds, 0, merge([s.latency for s in timeline]))
    return RunStats(
        endpoints={ORDERS: whole, "*": whole},
        elapsed_s=seconds,
        load_start=T0,
        load_end=T0 + seconds,
        timeline=Timeline({ORDERS: tuple(timeline)}, merge),
    )


def judged(events: list[dict[str, Any]], run: RunStats | None = None,
           the_plan: Plan | None = None) -> dict[str, Evaluation]:  # fmt: skip
    found = judge_release(the_plan or plan(), release_record(events), run or stats())
    return {e.slo_id: e for e in found}


# -- release_record ----------------------------------------------------------------------


def test_the_record_of_a_rolled_back_release_tells_the_whole_story() -> None:
    record = release_record(rolled_back())
    assert record.deployed_version == "v2"
    # The rollback's own rollout (rollback: true) is not the release.
    assert (record.deploy_started, record.deploy_finished) == (T0 + 10, T0 + 12)
    assert (record.breach_at, record.breach_reason) == (T0 + 16, "place-p99 failed 2 intervals")
    (rollback,) = record.rollbacks
    assert (rollback.source, rollback.from_revision, rollback.to_revision) == (
        "analysis", "v2", "v1",
    )  # fmt: skip
    assert (rollback.started, rollback.finished) == (T0 + 16.1, T0 + 20)
    assert rollback.error is None and rollback.refused is None
    assert record.rolled_back == rollback


def test_a_failed_rollback_is_recorded_with_its_error_and_no_end() -> None:
    record = release_record([
        *deployed(), BREACH, event(16.1, "rollback_started", **LOCAL, to_revision="v1"),
        event(18, "rollback_failed", **LOCAL, error="replica orders-2 never became healthy"),
    ])  # fmt: skip
    (rollback,) = record.rollbacks
    assert rollback.error == "replica orders-2 never became healthy"
    assert rollback.finished is None and record.rolled_back is None


def test_a_refused_rollback_is_recorded_with_the_policy_s_reason() -> None:
    record = release_record([
        *deployed(), BREACH,
        event(16.1, "rollback_refused", **LOCAL, error="within the cooldown"),
    ])  # fmt: skip
    (rollback,) = record.rollbacks
    assert rollback.refused == "within the cooldown" and record.rolled_back is None


def test_rollbacks_of_another_platform_are_not_the_rehearsal_s() -> None:
    kubernetes = {**LOCAL, "platform": "kubernetes"}
    record = release_record([
        event(0, "load_started"),
        event(5, "rollback_started", **kubernetes, to_revision="3"),
        event(9, "rollback_finished", **kubernetes, to_revision="3"),
    ])  # fmt: skip
    assert record == ReleaseRecord()


def test_unknown_events_and_fields_are_tolerated() -> None:
    noise = [event(1, "replica_restarted", replica="orders-1"), {"type": "deploy_started"}]
    assert release_record(noise + rolled_back()) == release_record(rolled_back())


# -- the rollback evaluation ---------------------------------------------------------------


def test_a_finished_rollback_passes_with_the_seconds_from_the_release_to_the_rollback_done() -> (
    None
):
    rollback = judged(rolled_back())["rollback"]
    assert rollback.status is Status.PASS
    assert rollback.observed == pytest.approx(8.0)  # rolled out at +12 s, back on v1 at +20 s
    assert rollback.exit_code is None
    for words in ("v2 deployed at +10 s, rolled out in 2 s",
                  "breach certain at +16 s (place-p99 failed 2 intervals)",
                  "rolled back to v1 by analysis at +20 s",
                  "8 s from the release to the rollback done"):  # fmt: skip
        assert words in rollback.reason, rollback.reason


def test_a_failed_rollback_fails_with_exit_code_5() -> None:
    events = [
        *deployed(), BREACH, event(16.1, "rollback_started", **LOCAL, to_revision="v1"),
        event(18, "rollback_failed", **LOCAL, error="replica orders-2 never became healthy"),
    ]  # fmt: skip
    found = judged(events)
    rollback = found["rollback"]
    assert rollback.status is Status.FAIL and rollback.exit_code == 5
    assert "the rollback (analysis) failed: replica orders-2 never became healthy" in (
        rollback.reason
    )
    assert found["rollback-recovery"].status is Status.NA


def test_a_refused_rollback_is_not_applicable_and_says_why() -> None:
    refused = event(16.1, "rollback_refused", **LOCAL, error="v2 was already rolled back")
    events = [*deployed(), BREACH, refused]
    rollback = judged(events)["rollback"]
    assert rollback.status is Status.NA
    assert "the rollback (analysis) was refused: v2 was already rolled back" in rollback.reason


def test_a_planned_deploy_that_never_ran_is_inconclusive() -> None:
    found = judged([event(0, "load_started"), event(60, "load_finished")])
    assert found["rollback"].status is Status.INCONCLUSIVE
    assert "the planned deploy never ran" in found["rollback"].reason
    assert found["rollback-recovery"].status is Status.NA


def test_a_release_that_never_breached_rolls_nothing_back_and_is_not_applicable() -> None:
    found = judged([*deployed(), event(60, "load_finished")], stats(slow=range(0)))
    assert found["rollback"].status is Status.NA
    assert "no breach was certain during the flood: nothing rolled back" in (
        found["rollback"].reason
    )
    assert found["rollback-recovery"].status is Status.NA
    assert "no rollback finished" in found["rollback-recovery"].reason


def test_a_breach_with_rollback_on_never_is_not_applicable_and_says_so() -> None:
    found = judged([*deployed(), BREACH], the_plan=plan(rollback="{on: never}"))
    assert found["rollback"].status is Status.NA
    assert "no rollback: rollback.on is never" in found["rollback"].reason


def test_a_deploy_that_failed_fails_the_rollback_evaluation() -> None:
    fields = {"from_version": "v1", "to_version": "v2", "rollback": False}
    events = [event(0, "load_started"), event(10, "deploy_started", **fields),
              event(15, "deploy_failed", **fields, error="orders-2 did not start")]  # fmt: skip
    rollback = judged(events)["rollback"]
    assert rollback.status is Status.FAIL
    assert "the deploy failed: orders-2 did not start" in rollback.reason


def test_a_rollback_that_started_and_never_finished_fails() -> None:
    events = [*deployed(), BREACH, event(16.1, "rollback_started", **LOCAL, to_revision="v1")]
    rollback = judged(events)["rollback"]
    assert rollback.status is Status.FAIL
    assert "a rollback started and never finished" in rollback.reason


def test_a_plain_plan_without_a_release_gets_no_release_evaluation() -> None:
    plain = plan(rollback="{on: never}", deploy=False)
    assert judge_release(plain, release_record([event(0, "load_started")]), stats()) == ()


def test_a_person_s_rollback_in_a_plain_plan_is_still_judged() -> None:
    plain = plan(rollback="{on: never}", deploy=False)
    person = {**LOCAL, "source": "cli", "from_revision": "v1"}
    events = [event(0, "load_started"), event(16.1, "rollback_started", **person),
              event(20, "rollback_finished", **person, to_revision="v1")]  # fmt: skip
    found = judged(events, the_plan=plain)
    assert found["rollback"].status is Status.PASS
    assert found["rollback"].observed == pytest.approx(3.9)  # no release: from its start
    assert "rolled back to v1 by cli" in found["rollback"].reason
    assert "deployed" not in found["rollback"].reason


# -- the rollback-recovery evaluation ------------------------------------------------------


@pytest.mark.parametrize(
    ("slow", "seconds", "status", "observed_ms"),
    [
        pytest.param(range(12, 20), 60, Status.PASS, 0.0,
                     id="healthy as soon as v1 runs again: recovered in 0 s"),
        pytest.param(range(12, 25), 60, Status.PASS, 5000.0,
                     id="slow 5 s past the rollback: recovered in 5 s, under 10 s"),
        pytest.param(range(12, 35), 60, Status.FAIL, 15000.0,
                     id="slow 15 s past the rollback: recovery too slow"),
        pytest.param(range(12, 20), 23, Status.INCONCLUSIVE, None,
                     id="the load ended 3 s after the rollback: too little time to tell"),
    ],
)  # fmt: skip
def test_recovery_after_the_rollback_is_timed_against_recover_within(
    slow: range, seconds: int, status: Status, observed_ms: float | None
) -> None:
    recovery = judged(rolled_back(), stats(seconds, slow=slow))["rollback-recovery"]
    assert recovery.status is status, recovery.reason
    assert recovery.observed == observed_ms
    assert recovery.reason.startswith("after the rollback: release v2")
    assert recovery.threshold == 10_000.0


def test_recovery_that_never_comes_fails() -> None:
    recovery = judged(rolled_back(), stats(slow=range(12, 60)))["rollback-recovery"]
    assert recovery.status is Status.FAIL
    assert "not recovered" in recovery.reason


# -- through the gate ---------------------------------------------------------------------


class Clock:
    now = T0

    def __call__(self) -> float:
        return self.now


def write_release_run(root: Path, events: list[dict[str, Any]], slow: range) -> RunDir:
    """30 s of recorded load, 30 orders a second, slow (400 ms) in ``slow`` seconds."""
    the_plan = plan(RELEASE_PLAN.replace("duration: 60s", "duration: 30s"))
    run = RunDir.create(root, "run-1", plan=plan_snapshot(the_plan), git_sha=None)
    clock = Clock()
    with run.appender(LATENCY_FILE) as out, run.appender(LOAD_FILE) as load:
        recorder = IntervalRecorder(out.append, clock=clock)
        for second in range(30):
            for i in range(30):
                clock.now = T0 + second + i / 30
                recorder.record(ORDERS, 0.400 if second in slow else 0.010, ok=True)
            load.append({
                "t": T0 + second, "interval_s": 1.0, "source": "load",
                "arrivals_planned": 30, "arrivals_sent": 30, "arrivals_dropped": 0,
                "orders_confirmed": 30, "active_max": 1, "cpu_percent": 20.0,
                "planned": {ORDERS: 30},
            })  # fmt: skip
        recorder.flush(final=True)
    with run.appender(EVENTS_FILE) as out:
        for record in events:
            out.append(record)
    run.finish("completed")
    return run


def test_a_rolled_back_release_is_in_verdict_json_and_still_fails_its_gate(
    tmp_path: Path,
) -> None:
    events = [e for e in rolled_back() if e["type"] != "load_finished"]
    run = write_release_run(tmp_path, [*events, event(30, "load_finished")], range(12, 20))
    result = gate_run(run, plan(RELEASE_PLAN.replace("duration: 60s", "duration: 30s")))
    verdict = json.loads(run.file("verdict.json").read_text())
    statuses = {e["slo_id"]: e for e in verdict["evaluations"]}
    assert statuses["rollback"]["status"] == "pass", statuses["rollback"]
    assert "rolled back to v1 by analysis" in statuses["rollback"]["reason"]
    assert statuses["rollback-recovery"]["status"] == "pass", statuses["rollback-recovery"]
    # The rollback worked, but the release breached its latency SLO while it ran.
    assert statuses["place-p99"]["status"] == "fail"
    assert verdict["exit_code"] == 1 and result.verdict.exit_code == 1


def test_a_failed_rollback_makes_the_gate_exit_5(tmp_path: Path) -> None:
    events = [
        *deployed(), BREACH, event(16.1, "rollback_started", **LOCAL, to_revision="v1"),
        event(18, "rollback_failed", **LOCAL, error="replica orders-2 never became healthy"),
        event(30, "load_finished"),
    ]  # fmt: skip
    run = write_release_run(tmp_path, events, range(12, 30))
    result = gate_run(run, plan(RELEASE_PLAN.replace("duration: 60s", "duration: 30s")))
    statuses = {e.slo_id: e.status for e in result.verdict.evaluations}
    assert statuses["rollback"] is Status.FAIL
    assert result.verdict.exit_code == 5
