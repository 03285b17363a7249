"""Chaos steps: known experiments only, on a platform that has them, inside the load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slo.conventions import (
    EXPERIMENTS,
    EXPERIMENTS_KUBERNETES_ONLY,
    EXPERIMENTS_LOCAL_ONLY,
    EXPERIMENTS_TIMED,
)
from slo.errors import PlanError
from slo.loader import load_plan_text
from slo.plan import plan_from_snapshot, plan_snapshot, with_overrides
from tests.slo.test_loader import BASE, edit

CATALOG = Path(__file__).resolve().parents[2] / "chaos" / "experiments"
KUBERNETES = "platform: {kind: kubernetes, namespace: shop, deployment: oms}\ntarget:\n"
KNOWN = "kill-replica, zone-loss, network-cut, network-slow, network-flaky, store-offline"


def shipped() -> dict[str, dict[str, object]]:
    return {path.stem: json.loads(path.read_text()) for path in CATALOG.glob("*.json")}


def test_the_experiment_names_are_the_files_in_chaos_experiments() -> None:
    assert sorted(EXPERIMENTS) == sorted(shipped())
    assert len(set(EXPERIMENTS)) == len(EXPERIMENTS)


def test_the_timed_experiments_are_those_that_take_peakops_duration_s() -> None:
    timed = {name for name, doc in shipped().items() if "${peakops_duration_s}" in json.dumps(doc)}
    assert set(EXPERIMENTS_TIMED) == timed


def test_the_platform_bound_experiments_say_so_in_their_description() -> None:
    def says(text: str) -> set[str]:
        return {name for name, doc in shipped().items() if text in str(doc["description"])}

    assert set(EXPERIMENTS_KUBERNETES_ONLY) == says("kubernetes only")
    assert set(EXPERIMENTS_LOCAL_ONLY) == says("local platform only")


def chaos(step: str, *, head: str = BASE) -> str:
    return head + "chaos:\n" + step


BAD_STEPS = [
    pytest.param(
        chaos("  - experiment: network-cut\n    offset: 50s\n    duration: 20s\n"),
        "peak.yaml:18: chaos[0].duration: offset 50s + duration 20s ends after the load (1m): "
        "shorten the fault, start it earlier, or lengthen the load",
        id="a fault that would outlive the load is refused at its duration",
    ),
    pytest.param(
        chaos("  - experiment: kill-replica\n    offset: 2m\n"),
        "peak.yaml:17: chaos[0].offset: offset 2m is not before the end of the load (1m)",
        id="a step that would start after the load is refused at its offset",
    ),
    pytest.param(
        chaos("  - experiment: slow-db\n    offset: 10s\n"),
        f"peak.yaml:16: chaos[0].experiment: unknown experiment 'slow-db' (known: {KNOWN})",
        id="an unknown experiment lists the known ones",
    ),
    pytest.param(
        chaos("  - experiment: network-slow\n    offset: 10s\n"),
        "peak.yaml:16: chaos[0].duration: missing required field "
        "(network-slow holds its fault for a duration, e.g. duration: 10s)",
        id="a timed experiment without a duration is refused, not given 10 s silently",
    ),
    pytest.param(
        chaos("  - experiment: kill-replica\n    offset: 10s\n    duration: 5s\n"),
        "peak.yaml:18: chaos[0].duration: kill-replica takes no duration: "
        "it acts once and the platform heals it",
        id="a duration on a one-shot experiment is refused rather than ignored",
    ),
    pytest.param(
        chaos("  - experiment: zone-loss\n    offset: 10s\n"),
        "peak.yaml:16: chaos[0].experiment: 'zone-loss' needs platform.kind: kubernetes "
        "(it deletes the pods of a zone; local processes have no zones)",
        id="a zone loss on the local platform is refused",
    ),
    pytest.param(
        chaos(
            "  - {experiment: network-flaky, offset: 10s, duration: 5s}\n",
            head=edit(("target:\n", KUBERNETES)),
        ),
        "peak.yaml:17: chaos[0].experiment: 'network-flaky' needs platform.kind: local "
        "(it works through the local fault proxy; a NetworkPolicy can only cut a link: "
        "use network-cut)",
        id="a flaky network on kubernetes is refused",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_STEPS)
def test_a_bad_chaos_step_is_refused_at_its_line(text: str, expected: str) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan_text(text, "peak.yaml")
    assert str(caught.value) == expected


@pytest.mark.parametrize(
    "step",
    [
        pytest.param("{experiment: network-cut, offset: 50s, duration: 10s}", id="ends at the end"),
        pytest.param("{experiment: kill-replica, offset: 59s}", id="a kill just before the end"),
        pytest.param("{experiment: store-offline, offset: 0s, duration: 1m}", id="the whole load"),
    ],
)
def test_a_step_inside_the_load_is_accepted(step: str) -> None:
    text = edit(("  kind: embedded\n", "  kind: embedded\n  stores: 1\n"))
    plan = load_plan_text(chaos(f"  - {step}\n", head=text), "peak.yaml")
    assert len(plan.chaos) == 1


def test_zone_loss_is_accepted_on_kubernetes() -> None:
    text = chaos("  - {experiment: zone-loss, offset: 10s}\n", head=edit(("target:\n", KUBERNETES)))
    assert load_plan_text(text, "peak.yaml").chaos[0].experiment == "zone-loss"


def test_shortening_the_load_under_a_running_fault_is_refused() -> None:
    plan = load_plan_text(chaos("  - {experiment: network-cut, offset: 30s, duration: 20s}\n"), "p")
    with pytest.raises(PlanError) as caught:
        with_overrides(plan, duration_s=40)
    assert str(caught.value) == (
        "overrides: chaos[0].duration: offset 30s + duration 20s ends after the load (40s): "
        "shorten the fault, start it earlier, or lengthen the load"
    )


def test_an_older_snapshot_is_read_as_its_chaos_steps_ran() -> None:
    text = chaos("  - {experiment: network-cut, offset: 5s, duration: 3s}\n")
    snapshot = plan_snapshot(load_plan_text(text, "peak.yaml"))
    kill = {"experiment": "kill-replica", "offset": "1s", "duration": "30s", "stopBurnRate": 14.4}
    snapshot["chaos"] = [{**snapshot["chaos"][0], "duration": None}, kill]
    plan = plan_from_snapshot(snapshot, "runs/old/run.json")
    assert [(step.experiment, step.duration_s) for step in plan.chaos] == [
        ("network-cut", 10.0),  # the experiment's default, which it ran with
        ("kill-replica", None),  # a duration it ignored
    ]
