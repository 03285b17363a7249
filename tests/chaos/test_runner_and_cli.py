"""The runner's exit codes, the lease renewer, the `peakops chaos` commands, fault windows."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from typer.testing import CliRunner

from chaos import actions, probes
from chaos.leases import Leases, Renewer
from chaos.runner import (
    FaultWindows,
    exit_code,
    expires_ts,
    parse_vars,
    runner_command,
    unmeasured_probe_lines,
)
from chaos.settings import parse_settings
from chaos.stop_condition import stop_on_burn
from cli import app
from cli.common import load_with_overrides
from collectors.timeline import read_timeline
from platforms.faultproxy.client import FaultProxyClient
from platforms.local import LocalPlatform
from rehearsal.chaos import error_budget
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
        pytest.param(
            {
                "status": "failed",
                "deviated": True,
                "steady_states": {
                    "after": {
                        "probes": [
                            {"tolerance_met": True, "output": True},
                            {"tolerance_met": False, "output": {"data": "missing", "value": None}},
                        ]
                    }
                },
            },
            [],
            4,
            id="the hypothesis after the fault had no data to check: 4, not a deviation",
        ),
        pytest.param(
            {
                "status": "failed",
                "deviated": True,
                "steady_states": {
                    "after": {
                        "probes": [
                            {"tolerance_met": False, "output": {"data": "measured", "value": 0.2}},
                        ]
                    }
                },
            },
            [],
            1,
            id="the hypothesis after the fault measured a deviation: 1",
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
    first, second = load_with_overrides(ROOT / "peak.yaml").chaos[:2]
    between = f"{(first.offset_s + second.offset_s) / 2:g}s"
    plan = load_with_overrides(ROOT / "peak.yaml", duration=between)
    assert [s.experiment for s in plan.chaos] == [first.experiment]
    at_first = f"{first.offset_s:g}s"
    assert load_with_overrides(ROOT / "peak.yaml", duration=at_first).chaos == ()


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


def test_a_fault_the_runner_never_stopped_ends_at_its_expires_ts_for_readers(
    tmp_path: Path,
) -> None:
    """The contract with the timeline reader: a killed injector's window lapses at expiry."""
    events = tmp_path / "events.jsonl"
    windows = FaultWindows(events, experiment="network-cut")
    for output in (
        {"event": "fault_started", "fault": "kill-replica", "id": "a", "expires_ts": 1.0},
        {"event": "fault_stopped", "fault": "kill-replica"},
        {"event": "fault_started", "fault": "network-cut", "id": "b",
         "expires_ts": time.time() + 7.0},
    ):  # fmt: skip
        windows.activity_completed({}, {"status": "succeeded", "output": output})
    records = [json.loads(line) for line in events.read_text().splitlines()]
    timeline = read_timeline(records)
    cut = next(w for w in timeline.faults if w.name == "network-cut")
    assert (cut.stopped, cut.end) == (False, records[-1]["expires_ts"])
    kill = next(w for w in timeline.faults if w.name == "kill-replica")
    assert kill.stopped and kill.end == records[1]["ts"]


def test_a_started_fault_is_recorded_with_the_expiry_its_action_reports(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    windows = FaultWindows(events, experiment="network-cut")
    started = {"event": "fault_started", "fault": "network-cut", "id": "network-cut-1",
               "duration_s": 2.0, "lease_s": 5.0, "expires_ts": 1795312898.5}  # fmt: skip
    windows.activity_completed({}, {"status": "succeeded", "output": started})
    windows.activity_completed({}, {"status": "succeeded", "output": {
        "event": "fault_started", "fault": "other", "id": "other-1", "duration_s": 3,
        "lease_s": 2}})  # fmt: skip
    windows.activity_completed({}, {"status": "succeeded", "output": {
        "event": "fault_stopped", "fault": "network-cut"}})  # fmt: skip
    records = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(r["type"], r["fault"]) for r in records] == [
        ("fault_started", "network-cut"), ("fault_started", "other"),
        ("fault_stopped", "network-cut"),
    ]  # fmt: skip
    assert records[0]["expires_ts"] == 1795312898.5
    assert records[1]["expires_ts"] == pytest.approx(records[1]["ts"] + 5, abs=0.5)
    assert "expires_ts" not in records[2]


def test_a_start_action_reports_when_its_fault_lapses_at_the_latest() -> None:
    settings = parse_settings({"peakops_lease_s": 4})
    now = time.time()
    output = actions._started(settings, "network-cut", duration_s=10.0, link=LINK)
    assert output["event"] == "fault_started" and output["link"] == LINK
    assert (output["duration_s"], output["lease_s"]) == (10.0, 4.0)
    assert now + 14 <= output["expires_ts"] <= time.time() + 14.001
    assert expires_ts({"duration_s": 0, "lease_s": 0}) == pytest.approx(time.time() + 60, abs=1)


def test_the_runner_prints_the_hypothesis_probes_that_had_no_data() -> None:
    journal = {"steady_states": {"before": {"probes": [
        {"activity": {"name": "targets-ready"}, "output": True},
        {"activity": {"name": "flood-error-ratio"},
         "output": {"data": "unconfigured", "no_data": "peakops_metrics_url is not set"}},
    ]}, "after": {"probes": [
        {"activity": {"name": "flood-error-ratio"},
         "output": {"data": "missing", "no_data": "no requests in the last 2 s"}},
    ]}}}  # fmt: skip
    assert unmeasured_probe_lines(journal) == [
        "hypothesis probe flood-error-ratio (before): no data, not judged: "
        "peakops_metrics_url is not set",
        "hypothesis probe flood-error-ratio (after): no data, not met: no requests in the last 2 s",
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
        assert probes.error_ratio(window_s=0.05, configuration=conf)["value"] == 0.1
        assert probes.order_p99_ms(window_s=0.05, configuration=conf)["value"] == 500.0
    finally:
        server.shutdown()
        thread.join(5)
    alone = probes.error_ratio(configuration={})  # no flood: says so, never a measured 0
    assert (alone["data"], alone["value"]) == ("unconfigured", None)
    with pytest.raises(UsageError, match="127"):
        probes.error_ratio(configuration={"peakops_metrics_url": "http://10.0.0.1/metrics"})


def test_the_stop_condition_watches_nothing_without_a_flood_and_refuses_bad_settings() -> None:
    halts: list[bool] = []
    result = stop_on_burn(30, configuration={}, halt=lambda: halts.append(True))
    assert result["watched"] is False and result["halted"] is False and halts == []
    assert result["worst_error_burn"] is None and result["windows"] == 0
    with pytest.raises(UsageError, match="peakops_error_budget"):
        parse_settings({"peakops_error_budget": 0})
    with pytest.raises(UsageError, match="peakops_stop_burn_rate"):
        parse_settings({"peakops_stop_burn_rate": "-1"})


def test_the_rehearsal_passes_the_plans_error_budget_to_the_stop_condition() -> None:
    plan = load_with_overrides(ROOT / "peak.yaml")
    assert error_budget(plan) == 0.01  # peak.yaml: steady-state error-ratio max 0.01
    assert {step.stop_burn_rate for step in plan.chaos} == {14.4}
