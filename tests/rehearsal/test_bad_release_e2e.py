"""The bad-release demo, end to end with the real seams: the reference OMS on the local
platform, a real Locust flood, v2 deployed under load, the in-flood analysis rolling it
back, and the gate judging it all.

The plan is docs/plans/bad-release.yaml made shorter (the deploy earlier, the load
shorter, still leaving the recovery time to show); no Prometheus. v2's regression is
large (p99 ~450 ms against a 250 ms objective), so the story holds on a busy machine;
nothing here asserts how long any of it took.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collectors.rundir import RunDir
from rehearsal.monitoring import NoMonitor, Notice
from rehearsal.run import rehearse
from slo.plan import Plan, validate_plan
from slo.yamldoc import parse_yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "docs" / "plans" / "bad-release.yaml"


def shorter_demo() -> Plan:
    """The demo plan, 34 s of load with v2 deployed 8 s in (validated like the file)."""
    source = str(DEMO)
    document = parse_yaml(DEMO.read_text(), source)  # YAML 1.2: ``on:`` stays a key
    data = document.data
    assert isinstance(data, dict)
    data["load"]["duration"] = "34s"
    data["deploy"]["offset"] = "8s"
    return validate_plan(data, source=source, line_of=document.line_of)


def no_monitor(_plan: Plan, _run: RunDir, _notice: Notice, _hosts: frozenset[str]) -> NoMonitor:
    return NoMonitor()


def index_of(events: list[dict[str, Any]], wanted: dict[str, Any]) -> int:
    """The position of the first event with every field of ``wanted``."""
    for i, event in enumerate(events):
        if all(event.get(k) == v for k, v in wanted.items()):
            return i
    raise AssertionError(f"no event {wanted} in {[e['type'] for e in events]}")


def test_a_bad_release_under_load_is_rolled_back_and_still_fails_its_gate(
    tmp_path: Path,
) -> None:
    plan = shorter_demo()
    assert plan.deploy is not None and plan.deploy.offset_s == 8.0 and plan.rollback.active

    result = rehearse(plan, tmp_path / "runs", monitor=no_monitor, notice=lambda _: None)

    (run_path,) = (tmp_path / "runs").iterdir()
    events = RunDir.open(run_path).events()
    story = [(e["type"], e.get("to_version") or e.get("to_revision")) for e in events
             if e["type"].startswith(("deploy_", "rollback_", "breach_"))]  # fmt: skip
    verdict = json.loads((run_path / "verdict.json").read_text())
    judged = {e["slo_id"]: e for e in verdict["evaluations"]}

    # The release breached its latency SLO while it ran: rolled back or not, it fails.
    assert result.verdict.exit_code == 1, (story, verdict["reasons"])
    assert judged["place-order-latency"]["status"] == "fail"

    rollback = judged["rollback"]
    assert rollback["status"] == "pass", (rollback, story)
    assert "v2 deployed at" in rollback["reason"]
    assert "breach certain at" in rollback["reason"]
    assert "rolled back to v1 by analysis" in rollback["reason"]
    assert rollback["observed"] > 0
    recovery = judged["rollback-recovery"]
    assert recovery["status"] == "pass", (recovery, story)

    deploy = index_of(events, {"type": "deploy_started", "from_version": "v1",
                               "to_version": "v2", "rollback": False})  # fmt: skip
    breach = index_of(events, {"type": "breach_detected", "source": "analysis"})
    rolled_back = index_of(events, {"type": "rollback_finished", "platform": "local",
                                    "source": "analysis", "to_revision": "v1"})  # fmt: skip
    assert deploy < breach < rolled_back, story
    assert not [e for e in events if e["type"] in ("rollback_failed", "rollback_refused")]

    # What runs at the end is v1 again: the last rollout was the rollback's, to v1.
    last = [e for e in events if e["type"] == "deploy_finished"][-1]
    assert (last["to_version"], last["rollback"]) == ("v1", True), story
