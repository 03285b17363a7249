"""Plan models: defaults, snapshots that round-trip, and command-line overrides."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from slo.errors import PlanError
from slo.loader import load_plan, load_plan_text
from slo.plan import (
    DEFAULT_CHANNEL_MIX,
    ErrorRatioObjective,
    LatencyObjective,
    Load,
    Plan,
    ThroughputObjective,
    plan_from_snapshot,
    plan_snapshot,
    with_overrides,
)
from slo.stats import ALL_ENDPOINTS

FULL_PLAN = """\
apiVersion: peakops/v1
name: black-friday-2025
target:
  kind: url
  omsVersion: v2
  replicas: 3
  baseUrl: http://127.0.0.1:8080
  allowHosts: [127.0.0.1]
  catalog: {skus: 500, locations: 4, seed: 7, minStock: 0, maxStock: 50}
platform:
  kind: kubernetes
  namespace: shop
  deployment: oms
load:
  profile: flash_sale
  mode: closed
  duration: 1h30m
  baseline: 120.5
  peak: 600
  peakMultiplier: 2
  compression: 1.5
  arrivals: uniform
  maxConcurrency: 512
  users: 64
  targetOrdersPerMinute: 450
  channels: {web: 0.5, app: 0.25, store: 0.25}
  cancelRatio: 0.05
  zipf: 1.3
  seed: 9
slos:
  onInconclusive: pass
  breachExitCode: 99
  minSamples: 500
  objectives:
    - id: p99-place-order
      kind: latency
      endpoint: POST /orders
      percentile: 99.9
      threshold: 1.5s
      minSamples: 1000
      description: checkout must stay fast
    - {id: errors, kind: error_ratio, max: 0.001}
    - {id: throughput, kind: throughput, minRatio: 0.95}
chaos:
  - {experiment: network-cut, offset: 5m, duration: 30s}
  - {experiment: kill-replica, offset: 250ms}
rollback: {enabled: true, toRevision: 41}
outputs: {runDir: artefacts/runs, junit: false, summary: true}
"""

MINIMAL_PLAN = """\
apiVersion: peakops/v1
target: {}
load: {duration: 60s, baseline: 10}
slos:
  objectives:
    - {id: p99, kind: latency, percentile: 99, threshold: 250ms}
"""


@pytest.fixture
def full() -> Plan:
    return load_plan_text(FULL_PLAN, "full.yaml")


def test_a_full_plan_maps_every_yaml_key_to_its_field(full: Plan) -> None:
    assert full.target.base_url == "http://127.0.0.1:8080"
    assert full.target.catalog.max_stock == 50
    assert full.platform.deployment == "oms"
    assert full.load.duration_s == 5400.0
    assert full.load.cancel_ratio == 0.05
    assert (full.load.profile, full.load.mode, full.load.arrivals) == (
        "flash_sale",
        "closed",
        "uniform",
    )
    assert (full.load.baseline_per_min, full.load.peak_per_min) == (120.5, 600.0)
    assert (full.load.peak_multiplier, full.load.compression) == (2.0, 1.5)
    assert (full.load.max_concurrency, full.load.users) == (512, 64)
    assert full.load.target_orders_per_min == 450.0
    assert full.slos.breach_exit_code == 99
    latency, errors, throughput = full.slos.objectives
    assert isinstance(latency, LatencyObjective)
    assert (latency.threshold_ms, latency.percentile, latency.min_samples) == (1500.0, 99.9, 1000)
    assert isinstance(errors, ErrorRatioObjective)
    assert (errors.max_ratio, errors.endpoint) == (0.001, ALL_ENDPOINTS)
    assert isinstance(throughput, ThroughputObjective)
    assert (throughput.min_ratio, throughput.endpoint) == (0.95, "POST /orders")
    assert [(s.offset_s, s.duration_s) for s in full.chaos] == [(300.0, 30.0), (0.25, None)]
    assert full.rollback.to_revision == "41"
    assert full.outputs.run_dir == "artefacts/runs"


def test_a_minimal_plan_gets_the_documented_defaults() -> None:
    plan = load_plan_text(MINIMAL_PLAN, "min.yaml")
    assert plan.name == "peak-rehearsal"
    target = plan.target
    assert (target.kind, target.oms_version, target.replicas) == ("embedded", "v1", 2)
    assert target.allow_hosts == ("127.0.0.1", "localhost")
    assert plan.platform.kind == "local"
    assert plan.load.channels == dict(DEFAULT_CHANNEL_MIX)
    assert (plan.load.users, plan.load.cancel_ratio, plan.load.zipf) == (20, 0.1, 1.1)
    load = plan.load
    assert (load.profile, load.mode, load.arrivals) == ("bfcm", "open", "poisson")
    assert (load.peak_per_min, load.peak_multiplier, load.compression) == (None, 3.0, None)
    assert (load.max_concurrency, load.target_orders_per_min) == (256, None)
    assert (plan.slos.on_inconclusive, plan.slos.breach_exit_code) == ("fail", 1)
    assert plan.slos.min_samples == 100
    assert plan.chaos == ()
    assert not plan.rollback.enabled
    assert plan.outputs.junit and plan.outputs.summary


def test_a_snapshot_survives_json_and_rebuilds_an_equal_plan(full: Plan) -> None:
    snapshot = json.loads(json.dumps(plan_snapshot(full)))
    assert plan_from_snapshot(snapshot, "run.json") == full


def test_a_snapshot_uses_yaml_keys_and_duration_strings(full: Plan) -> None:
    snapshot = plan_snapshot(full)
    assert snapshot["apiVersion"] == "peakops/v1"
    assert snapshot["load"]["duration"] == "1h30m"
    assert snapshot["slos"]["objectives"][0]["threshold"] == "1.5s"
    assert snapshot["chaos"][1] == {
        "experiment": "kill-replica",
        "offset": "250ms",
        "duration": None,
        "stopBurnRate": 14.4,
    }


def test_a_bad_snapshot_is_reported_like_a_bad_file_but_without_lines(full: Plan) -> None:
    snapshot = plan_snapshot(full)
    snapshot["load"]["baseline"] = -1
    snapshot["load"]["duration"] = 60
    with pytest.raises(PlanError) as caught:
        plan_from_snapshot(snapshot, "runs/x/run.json")
    assert str(caught.value).splitlines() == [
        "runs/x/run.json: load.duration: invalid duration 60: "
        "use a number and a unit, e.g. 250ms, 30s, 5m",
        "runs/x/run.json: load.baseline: expected a number > 0, got -1",
    ]


def test_a_snapshot_of_another_version_is_refused(full: Plan) -> None:
    snapshot = {**plan_snapshot(full), "apiVersion": "peakops/v2"}
    with pytest.raises(PlanError, match="unsupported apiVersion 'peakops/v2'"):
        plan_from_snapshot(snapshot, "run.json")


def test_overrides_return_a_new_plan_and_leave_the_old_one_alone(full: Plan) -> None:
    changed = with_overrides(full, duration_s=600, oms_version="v1")
    assert (changed.load.duration_s, changed.target.oms_version) == (600.0, "v1")
    assert (full.load.duration_s, full.target.oms_version) == (5400.0, "v2")
    assert changed.slos == full.slos


def test_no_override_gives_an_equal_plan(full: Plan) -> None:
    assert with_overrides(full) == full


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            {"duration_s": -5.0},
            "overrides: load.duration: expected a number > 0, got -5",
            id="a negative duration override is refused",
        ),
        pytest.param(
            {"oms_version": "v7"},
            "overrides: target.omsVersion: expected 'v1' or 'v2', got 'v7'",
            id="an unknown oms version override is refused",
        ),
        pytest.param(
            {"duration_s": 120.0},
            "overrides: chaos[0].offset: offset 5m is not before the end of the load (2m)",
            id="a duration override is re-validated against the chaos schedule",
        ),
    ],
)
def test_a_bad_override_is_a_plan_error(
    full: Plan, overrides: dict[str, object], expected: str
) -> None:
    with pytest.raises(PlanError) as caught:
        with_overrides(full, **overrides)  # type: ignore[arg-type]
    assert str(caught.value) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({}, 2700.0, id="without a peak the peak is the baseline times three"),
        pytest.param({"peak_multiplier": 1.5}, 1350.0, id="the multiplier scales the baseline"),
        pytest.param(
            {"peak_per_min": 2000, "peak_multiplier": 5},
            2000.0,
            id="an explicit peak wins over the multiplier",
        ),
        pytest.param({"peak_per_min": 900}, 900.0, id="a peak equal to the baseline is allowed"),
    ],
)
def test_the_peak_rate_is_the_peak_or_the_baseline_times_the_multiplier(
    fields: dict[str, float], expected: float
) -> None:
    load = Load(duration_s=60, baseline_per_min=900, **fields)  # type: ignore[arg-type]
    assert load.peak_rate_per_min == expected


def test_load_overrides_are_validated_like_the_file(full: Plan) -> None:
    changed = with_overrides(full, profile="stress", baseline_per_min=200, peak_per_min=900)
    load = changed.load
    assert (load.profile, load.baseline_per_min, load.peak_rate_per_min) == ("stress", 200, 900)
    with pytest.raises(PlanError) as caught:
        with_overrides(full, baseline_per_min=1000)
    assert str(caught.value) == "overrides: load.peak: peak (600) must not be below baseline (1000)"


def test_plans_are_frozen(full: Plan) -> None:
    with pytest.raises(ValidationError):
        full.load.baseline_per_min = 1.0


def test_python_code_may_build_models_with_numbers_for_durations() -> None:
    load = Load(duration_s=60, baseline_per_min=5)
    assert (load.duration_s, load.peak_rate_per_min) == (60.0, 15.0)
    objective = LatencyObjective(id="p99", percentile=99, threshold_ms=250)
    assert objective.threshold_ms == 250.0


def test_the_documented_example_is_a_valid_plan() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "plan-file.md"
    example = re.search(r"```yaml\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert example is not None
    plan = load_plan_text(example.group(1), "docs/plan-file.md")
    assert plan.api_version == "peakops/v1"


def test_load_plan_reads_the_same_plan_as_load_plan_text(tmp_path: Path) -> None:
    path = tmp_path / "peak.yaml"
    path.write_text(FULL_PLAN, encoding="utf-8")
    assert load_plan(path) == load_plan_text(FULL_PLAN, "other-name.yaml")


def test_the_url_scenario_needs_a_url_target() -> None:
    from slo.loader import load_plan_text

    text = """
apiVersion: peakops/v1
target: {kind: embedded}
load: {duration: 10s, baseline: 600, scenario: url}
slos: {objectives: [{id: e, kind: error_ratio, max: 0.01}]}
"""
    with pytest.raises(PlanError, match=r"load\.scenario: scenario url needs target\.kind: url"):
        load_plan_text(text, "p.yaml")
