"""The runner's exit codes, the lease renewer, the `peakops chaos` commands, fault windows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from typer.testing import CliRunner

from chaos import probes
from chaos.leases import Leases, Renewer
from chaos.runner import exit_code, parse_vars, runner_command
from chaos.settings import parse_settings
from chaos.stop_condition import stop_on_burn
from cli import app
from cli.common import load_with_overrides
from collectors.rundir import EventLog, RunDir
from platforms.faultproxy.client import FaultProxyClient
from platforms.local import LocalPlatform
from rehearsal.chaos import error_budget, fault_window_lines
from slo.conventions import (
    ENDPOINT_PLACE_ORDER,
    LABEL_ENDPOINT,
    LABEL_OUTCOME,
    METRIC_CLIENT_LATENCY,
    METRIC_CLIENT_REQUESTS,
)
from slo.errors import InfraError, UsageError
from tests.chaos.conftest import LINK
from tests.platforms.helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]
OK = {"status": "succeeded"}
FAILED = {"status": "failed"}


@pytest.mark.parametrize(
    ("journal", "left_open", "code"),
    [
        pytest.param({"status": "completed", "deviated": False}, [], 0, id="held: 0"),
        pytest.param({"status": "failed", "deviated": True}, [], 1, id="deviated: 1"),
        pytest.param(
            {
                "status": "completed",
                "deviated": False,
                "steady_states": {"before": {"steady_state_met": False}},
            },
            [],
            3,
            id="not in its steady state before the fault: 3",
        ),
        pytest.param(
            {"status": "completed", "run": [{**FAILED, "exception": ["UsageError: no"]}]},
            [],
            2,
            id="a guard refused the fault: 2",
        ),
        pytest.param(
            {"status": "completed", "run": [{**FAILED, "exception": ["InfraError: down"]}]},
            [],
            3,
            id="an action failed otherwise: 3",
        ),
        pytest.param({"status": "completed", "rollbacks": [OK, FAILED]}, [], 5, id="rollback: 5"),
        pytest.param({"status": "completed"}, ["network-cut"], 5, id="a fault left open: 5"),
    ],
)
def test_the_runner_exit_code_says_what_happened(
    journal: dict[str, Any], left_open: list[str], code: int
) -> None:
    assert exit_code(journal, left_open) == code


def test_vars_are_typed_and_round_trip_through_the_runner_command() -> None:
    assert parse_vars(["a=5", "b=1.5", "c=true", "d=/x/y", "e=a=b"]) == {
        "a": 5, "b": 1.5, "c": True, "d": "/x/y", "e": "a=b",
    }  # fmt: skip
    command = runner_command(Path("x.json"), journal=Path("j"), variables={"c": True, "a": 5})
    assert command[-4:] == ["--var", "c=true", "--var", "a=5"]
    with pytest.raises(UsageError):
        parse_vars(["novalue"])


def test_settings_refuse_a_long_lease_and_an_unknown_platform() -> None:
    with pytest.raises(UsageError, match="peakops_lease_s"):
        parse_settings({"peakops_lease_s": "600"})
    with pytest.raises(UsageError, match="peakops_platform"):
        parse_settings({"peakops_platform": "docker"})
    urls = parse_settings({"peakops_control_urls": "http://127.0.0.1:1,a=http://127.0.0.1:2"})
    assert urls.control_urls == {
        "orders-inventory": "http://127.0.0.1:1",
        "a": "http://127.0.0.1:2",
    }


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_renewer_renews_until_stopped_and_gives_up_when_the_fault_is_gone() -> None:
    answers = [True, InfraError("blip"), True, False]
    calls: list[int] = []

    def renew() -> bool:
        calls.append(1)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    renewer = Renewer("cut", renew, lease_s=0.03, max_s=60)
    leases = Leases()
    leases.start("k", renewer)
    wait_until(lambda: not renewer.running, timeout_s=5, poll_s=0.01)
    assert (renewer.renewals, renewer.failures, renewer.gone, len(calls)) == (2, 1, True, 4)
    assert leases.stop("k") and not leases.stop("k")


def test_a_renewer_lets_the_fault_lapse_after_max_s_even_if_nobody_heals_it() -> None:
    clock = Clock()
    closed: list[bool] = []

    def renew() -> bool:
        clock.now += 10
        return True

    renewer = Renewer(
        "cut", renew, lease_s=0.03, max_s=25, clock=clock, on_close=lambda: closed.append(True)
    ).start()
    wait_until(lambda: not renewer.running, timeout_s=5, poll_s=0.01)
    assert renewer.renewals == 3 and closed == [True]


# ---------------------------------------------------------------------------- cli


def test_chaos_list_names_every_experiment() -> None:
    done = CliRunner().invoke(app, ["chaos", "list", "--output", "json"])
    assert done.exit_code == 0
    assert [e["name"] for e in json.loads(done.output)] == [
        "kill-replica", "network-cut", "network-flaky", "network-slow", "store-offline",
        "zone-loss",
    ]  # fmt: skip


def test_chaos_run_of_an_unknown_experiment_exits_2() -> None:
    done = CliRunner().invoke(app, ["chaos", "run", "nope"])
    assert done.exit_code == 2 and "unknown experiment" in done.output


def test_chaos_reap_with_nothing_to_reap_exits_2() -> None:
    done = CliRunner().invoke(app, ["chaos", "reap"])
    assert done.exit_code == 2 and "nothing to reap" in done.output


def test_a_shorter_duration_skips_the_chaos_steps_past_its_end() -> None:
    plan = load_with_overrides(ROOT / "peak.yaml", duration="30s")
    assert [s.experiment for s in plan.chaos] == ["kill-replica"]
    assert load_with_overrides(ROOT / "peak.yaml", duration="10s").chaos == ()


@pytest.mark.integration
def test_a_dry_run_from_the_cli_prints_the_fault_and_adds_none(
    platform: LocalPlatform, handle: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    done = CliRunner().invoke(
        app,
        ["chaos", "run", "network-cut", "--dry-run", "--state-file", str(handle),
         "--journal", str(tmp_path / "j.json")],
    )  # fmt: skip
    out = capfd.readouterr().out  # the runner child writes to the real stdout
    assert done.exit_code == 0, out
    assert '"event": "would_start"' in out and "start-network-cut" in out
    with FaultProxyClient(platform.fault_proxies()[LINK]) as proxy:
        assert proxy.state()["toxics"] == []


# ------------------------------------------------------------------ fault windows


def test_fault_windows_become_verdict_lines_in_seconds_after_the_load_started(
    tmp_path: Path,
) -> None:
    run = RunDir.create(tmp_path, "r1", plan={}, git_sha=None)
    log = run.appender("events.jsonl")
    for record in (
        {"ts": 100.0, "type": "load_started"},
        {"ts": 120.0, "type": "fault_started", "fault": "kill-replica", "id": "a"},
        {"ts": 121.5, "type": "fault_stopped", "fault": "kill-replica", "id": "a"},
        {"ts": 135.0, "type": "fault_started", "fault": "network-cut", "id": "b"},
        {"ts": 150.0, "type": "chaos_finished", "experiment": "network-cut", "exit_code": 5},
        {"ts": 161.0, "type": "fault_started", "fault": "network-slow", "id": "c"},
        {"ts": 162.25, "type": "chaos_halted", "fault": "network-slow", "burn_rate": 50.0,
         "stop_burn_rate": 14.4},
        {"ts": 162.5, "type": "fault_stopped", "fault": "network-slow", "id": "c"},
    ):  # fmt: skip
        log.append(record)
    log.close()
    EventLog(run, source="test").close()
    assert fault_window_lines(run) == [
        "fault kill-replica 20.0s\N{EN DASH}21.5s",
        "fault network-cut 35.0s\N{EN DASH}(never stopped: its lease lapsed)",
        "fault network-slow 61.0s\N{EN DASH}62.5s",
        "chaos network-cut exited 5",
        "chaos network-slow halted by its stop condition at 62.2s: error-budget burn 50.0x "
        "(stop at 14.4x); rolled back",
    ]


# ------------------------------------------------------------------------ probes


class GrowingMetrics:
    """A collector whose counters grow between scrapes, as the flood's do."""

    def __init__(self) -> None:
        self.scrapes = 0

    def collect(self) -> Iterator[Metric]:
        n = self.scrapes
        self.scrapes += 1
        requests = CounterMetricFamily(
            METRIC_CLIENT_REQUESTS, "r", labels=[LABEL_ENDPOINT, LABEL_OUTCOME]
        )
        requests.add_metric([ENDPOINT_PLACE_ORDER, "ok"], 100 + 90 * n)
        requests.add_metric([ENDPOINT_PLACE_ORDER, "fail"], 10 * n)
        yield requests
        latency = HistogramMetricFamily(METRIC_CLIENT_LATENCY, "l", labels=[LABEL_ENDPOINT])
        buckets = [("0.01", 100 + 97 * n), ("0.5", 100 + 99 * n), ("+Inf", 100 + 100 * n)]
        latency.add_metric([ENDPOINT_PLACE_ORDER], buckets, sum_value=1.0)
        yield latency


def test_the_metric_probes_judge_the_requests_between_two_scrapes() -> None:
    registry = CollectorRegistry()
    registry.register(GrowingMetrics())
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        conf = {"peakops_metrics_url": f"http://127.0.0.1:{server.server_port}/metrics"}
        assert probes.error_ratio(window_s=0.05, configuration=conf) == 0.1
        assert probes.order_p99_ms(window_s=0.05, configuration=conf) == 500.0
    finally:
        server.shutdown()
        thread.join(5)
    assert probes.error_ratio(configuration={}) == 0.0  # no flood, no data: never fails
    with pytest.raises(UsageError, match="127"):
        probes.error_ratio(configuration={"peakops_metrics_url": "http://10.0.0.1/metrics"})


def test_the_stop_condition_watches_nothing_without_a_flood_and_refuses_bad_settings() -> None:
    halts: list[bool] = []
    result = stop_on_burn(30, configuration={}, halt=lambda: halts.append(True))
    assert result == {"watched": False, "halted": False} and halts == []
    with pytest.raises(UsageError, match="peakops_error_budget"):
        parse_settings({"peakops_error_budget": 0})
    with pytest.raises(UsageError, match="peakops_stop_burn_rate"):
        parse_settings({"peakops_stop_burn_rate": "-1"})


def test_the_rehearsal_passes_the_plans_error_budget_to_the_stop_condition() -> None:
    plan = load_with_overrides(ROOT / "peak.yaml")
    assert error_budget(plan) == 0.02  # peak.yaml: error-ratio max 0.02
    assert [step.stop_burn_rate for step in plan.chaos] == [14.4, 14.4, 14.4]
