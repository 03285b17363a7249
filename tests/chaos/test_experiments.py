"""The shipped experiments: valid for Chaos Toolkit itself, and safe by construction."""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from chaoslib.exceptions import InvalidActivity
from chaoslib.experiment import ensure_experiment_is_valid
from chaoslib.hypothesis import within_tolerance

from chaos import probes
from chaos.catalog import experiment_path, list_experiments
from slo.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
CHAOS = Path(sys.executable).parent / "chaos"
NAMES = [
    "kill-replica",
    "network-cut",
    "network-flaky",
    "network-slow",
    "store-offline",
    "zone-loss",
]
CONFIG_KEYS = {
    "peakops_platform", "peakops_state_file", "peakops_control_urls", "peakops_namespace",
    "peakops_selector", "peakops_allowed_namespaces", "peakops_max_targets",
    "peakops_max_percent", "peakops_lease_s", "peakops_kubeconfig", "peakops_kube_host",
    "peakops_metrics_url", "peakops_duration_s", "peakops_dry_run", "peakops_error_budget",
    "peakops_stop_burn_rate", "peakops_latency_threshold_ms", "peakops_latency_percentile",
    "peakops_latency_endpoint",
}  # fmt: skip
TIMED = ["network-cut", "network-flaky", "network-slow", "store-offline"]


def load(name: str) -> dict[str, Any]:
    return dict(json.loads(experiment_path(name).read_text()))


def activities(experiment: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        *experiment["steady-state-hypothesis"]["probes"],
        *experiment["method"],
        *experiment["rollbacks"],
    ]


def test_the_catalog_lists_every_shipped_experiment() -> None:
    assert [e.name for e in list_experiments()] == NAMES


def test_an_unknown_experiment_name_lists_the_known_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown experiment 'nope'.*kill-replica"):
        experiment_path("nope")


@pytest.mark.integration  # runs the `chaos` command
@pytest.mark.parametrize("name", NAMES)
def test_chaos_validate_accepts_the_experiment_from_the_project_root(name: str) -> None:
    done = subprocess.run(
        [str(CHAOS), "--no-log-file", "validate", f"chaos/experiments/{name}.json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "looks valid" in done.stdout + done.stderr


@pytest.mark.parametrize("name", NAMES)
def test_the_experiment_has_a_method_rollbacks_probes_and_every_setting(name: str) -> None:
    experiment = load(name)
    assert experiment["method"], "an empty method injects nothing"
    assert experiment["rollbacks"], "every fault needs a rollback"
    assert experiment["steady-state-hypothesis"]["probes"]
    assert set(experiment["configuration"]) >= CONFIG_KEYS
    for key in CONFIG_KEYS:
        assert experiment["configuration"][key]["type"] == "env"  # overridable
    faults = [a for a in experiment["method"] if not a.get("background")]
    assert faults[0]["type"] == "action"


@pytest.mark.parametrize("name", NAMES)
def test_every_provider_is_ours_and_its_argument_names_match_its_signature(name: str) -> None:
    for activity in activities(load(name)):
        provider = activity["provider"]
        assert provider["type"] == "python"
        assert provider["module"] in ("chaos.actions", "chaos.probes", "chaos.stop_condition")
        func = getattr(importlib.import_module(provider["module"]), provider["func"])
        inspect.signature(func).bind(**provider.get("arguments", {}), configuration=None)
        tolerance = activity.get("tolerance")
        if isinstance(tolerance, dict) and tolerance.get("type") == "probe":
            check = tolerance["provider"]
            assert (check["module"], check["func"]) == ("chaos.probes", "measured_within")
            inspect.signature(probes.measured_within).bind(**check["arguments"], value=None)


@pytest.mark.parametrize("name", NAMES)
def test_every_metric_probe_is_judged_by_a_tolerance_that_rejects_missing_data(name: str) -> None:
    for probe in load(name)["steady-state-hypothesis"]["probes"]:
        if probe["provider"]["func"] in ("error_ratio", "order_p99_ms"):
            missing = {"data": "missing", "value": None, "no_data": "no requests"}
            assert not within_tolerance(copy.deepcopy(probe["tolerance"]), missing)


@pytest.mark.parametrize("name", NAMES)
def test_every_rollback_heals_what_the_method_started(name: str) -> None:
    experiment = load(name)
    healed = {a["provider"]["arguments"]["name"] for a in experiment["rollbacks"]}
    started = {
        a["provider"]["arguments"]["name"]
        for a in experiment["method"]
        if a["provider"]["func"] in ("start_network_fault", "kill_replicas", "zone_loss")
    }
    assert started and started <= healed


@pytest.mark.parametrize("name", TIMED)
def test_a_fault_with_a_duration_is_watched_by_the_stop_condition_for_as_long(name: str) -> None:
    guard = load(name)["method"][0]
    assert guard["background"] is True and guard["provider"]["func"] == "stop_on_burn"
    assert guard["provider"]["arguments"]["name"] == name
    assert guard["provider"]["arguments"]["duration_s"] == "${peakops_duration_s}"


def test_chaoslib_refuses_an_argument_name_our_provider_does_not_take() -> None:
    experiment = copy.deepcopy(load("network-cut"))
    experiment["method"][1]["provider"]["arguments"]["lease"] = 5
    with pytest.raises(InvalidActivity, match="lease"):
        ensure_experiment_is_valid(experiment)
