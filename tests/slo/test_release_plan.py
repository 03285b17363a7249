"""The release half of a plan: a deploy under load and its rollback policy, as loaded from YAML.

Every bad release plan is a ``PlanError`` whose message names file, line, field and
value, like any other plan problem.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from slo.errors import PlanError
from slo.loader import load_plan, load_plan_text
from slo.plan import Plan, plan_from_snapshot, plan_snapshot

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
apiVersion: peakops/v1
target:
  kind: embedded
platform:
  kind: local
load:
  duration: 30s
  baseline: 60
slos:
  objectives:
    - {id: p99, kind: latency, endpoint: POST /orders, percentile: 99, threshold: 250ms}
"""
URL_TARGET = "  kind: url\n  baseUrl: http://127.0.0.1:8080\n"
KUBERNETES = "  kind: kubernetes\n  namespace: shop\n  deployment: oms\n"


def plan_text(tail: str = "", *, target: str = "", platform: str = "") -> str:
    text = BASE + tail
    if target:
        text = text.replace("  kind: embedded\n", target)
    if platform:
        text = text.replace("  kind: local\n", platform)
    return text


def load(text: str) -> Plan:
    return load_plan_text(text, "peak.yaml")


def problems(text: str) -> list[str]:
    with pytest.raises(PlanError) as caught:
        load(text)
    return [str(issue) for issue in caught.value.issues]


def test_a_deploy_on_the_embedded_oms_loads_with_its_version_and_offset() -> None:
    plan = load(plan_text("deploy: {version: v2, offset: 10s}\n"))
    assert plan.deploy is not None
    assert (plan.deploy.version, plan.deploy.offset_s) == ("v2", 10.0)


def test_a_plan_without_a_release_half_deploys_nothing_and_never_rolls_back() -> None:
    plan = load(plan_text())
    assert plan.deploy is None
    assert plan.rollback.on == "never" and not plan.rollback.active


BAD_RELEASES = [
    pytest.param(
        plan_text("deploy: {version: v2, offset: 10s}\n", target=URL_TARGET),
        "peak.yaml:13: deploy: a deploy under load needs target.kind: embedded on "
        "platform.kind: local",
        id="a deploy against a url target is refused: peakops runs no url oms",
    ),
    pytest.param(
        plan_text("deploy: {version: v2, offset: 10s}\n", platform=KUBERNETES),
        "peak.yaml:14: deploy: a deploy under load needs target.kind: embedded on "
        "platform.kind: local",
        id="a deploy on kubernetes is refused: only the local platform is deployed",
    ),
    pytest.param(
        plan_text("deploy:\n  version: v3\n  offset: 10s\n"),
        "peak.yaml:13: deploy.version: unknown version of the embedded OMS 'v3' (known: v1, v2)",
        id="an unknown version names the field, the value and the known versions",
    ),
    pytest.param(
        plan_text("deploy:\n  version: v2\n  offset: 30s\n"),
        "peak.yaml:14: deploy.offset: must be within the load (30 s): the deploy lands under load",
        id="a deploy at the very end of the load is refused",
    ),
    pytest.param(
        plan_text("deploy:\n  version: v2\n  offset: 2m\n"),
        "peak.yaml:14: deploy.offset: must be within the load (30 s): the deploy lands under load",
        id="a deploy after the load is refused",
    ),
    pytest.param(
        plan_text("rollback:\n  on: sometimes\n"),
        "peak.yaml:13: rollback.on: expected 'fail' or 'never', got 'sometimes'",
        id="rollback.on is fail or never",
    ),
    pytest.param(
        plan_text("rollback:\n  on: fail\n", target=URL_TARGET),
        "peak.yaml:14: rollback.on: a url target cannot be rolled back by peakops: use "
        "platform.kind: kubernetes",
        id="a url target on the local platform cannot be rolled back",
    ),
    pytest.param(
        plan_text("rollback:\n  on: fail\n  analysis: {interval: 0s}\n"),
        "peak.yaml:14: rollback.analysis.interval: expected a number > 0, got 0",
        id="an analysis interval of zero is refused with its line",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_RELEASES)
def test_a_bad_release_half_is_a_plan_error_naming_file_line_and_field(
    text: str, message: str
) -> None:
    assert problems(text) == [message]


def test_every_problem_of_a_deploy_is_reported_at_once() -> None:
    found = problems(plan_text("deploy:\n  version: v9\n  offset: 40s\n"))
    assert found == [
        "peak.yaml:13: deploy.version: unknown version of the embedded OMS 'v9' (known: v1, v2)",
        "peak.yaml:14: deploy.offset: must be within the load (30 s): the deploy lands under load",
    ]


def test_on_fail_is_read_as_a_key_not_as_the_yaml_1_1_boolean_on() -> None:
    plan = load(plan_text("rollback:\n  on: fail\n  cooldown: 30s\n  maxPerRevision: 2\n"))
    assert plan.rollback.on == "fail" and plan.rollback.active
    assert (plan.rollback.cooldown_s, plan.rollback.max_per_revision) == (30.0, 2)


@pytest.mark.parametrize(
    "rollback",
    [
        pytest.param("{enabled: true}", id="enabled: true (the older form) means on: fail"),
        pytest.param("{enabled: yes}", id="enabled: yes means on: fail too"),
        pytest.param("{enabled: True}", id="enabled: True means on: fail too"),
    ],
)
def test_the_older_enabled_form_means_a_breach_rolls_back(rollback: str) -> None:
    plan = load(plan_text(f"rollback: {rollback}\n"))
    assert plan.rollback.enabled
    assert plan.rollback.on == "fail" and plan.rollback.active


def test_an_explicit_on_wins_over_enabled() -> None:
    plan = load(plan_text("rollback: {enabled: true, on: never}\n"))
    assert not plan.rollback.active


@pytest.mark.parametrize(
    ("outputs", "junit", "summary"),
    [
        pytest.param("{junit: yes, summary: no}", True, False, id="yes and no still read"),
        pytest.param("{junit: on, summary: off}", True, False, id="on and off still read"),
        pytest.param("{junit: false, summary: true}", False, True, id="true and false"),
    ],
)
def test_yaml_1_1_booleans_still_set_boolean_fields(
    outputs: str, junit: bool, summary: bool
) -> None:
    plan = load(plan_text(f"outputs: {outputs}\n"))
    assert (plan.outputs.junit, plan.outputs.summary) == (junit, summary)


def test_the_analysis_settings_read_their_camel_case_keys_and_durations() -> None:
    tail = (
        "rollback:\n  on: fail\n  recoverWithin: 20s\n"
        "  analysis: {interval: 1s, window: 6s, failures: 3, successes: 1, minSamples: 50}\n"
    )
    rollback = load(plan_text(tail)).rollback
    analysis = rollback.analysis
    assert rollback.recover_within_s == 20.0
    assert (analysis.interval_s, analysis.window_s) == (1.0, 6.0)
    assert (analysis.failures, analysis.successes, analysis.min_samples) == (3, 1, 50)


def test_the_demo_plan_loads_and_its_snapshot_rebuilds_the_same_release() -> None:
    plan = load_plan(ROOT / "docs" / "plans" / "bad-release.yaml")
    assert plan.deploy is not None and plan.deploy.version == "v2"
    assert plan.deploy.offset_s < plan.load.duration_s
    assert plan.rollback.active
    rebuilt = plan_from_snapshot(plan_snapshot(plan), "run.json")
    assert (rebuilt.deploy, rebuilt.rollback) == (plan.deploy, plan.rollback)
